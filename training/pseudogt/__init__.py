"""Pseudo-ground-truth (§1.3): partial UV textures with visibility and displacement maps, the GAN's training data.

Public API::

    from training.pseudogt import (project_to_uv, export_from_truth, open_pseudogt, PseudoGTWriter, PseudoGTItem,
                                   PseudoGTSet, PseudoGTError, DisplacementFit, radial_remesh)

The reconstruction stage (``training.recon``) writes the same folder from its predicted meshes; ``--from_truth``
(``export_from_truth``) writes it from a synthetic collection's true meshes and poses. Format: ``format.py``.
"""
from .format import PseudoGTError, PseudoGTItem, PseudoGTSet, PseudoGTWriter, open_pseudogt, read_index
from .from_truth import ExportSummary, export_from_truth
from .projection import project_to_uv, uv_surface_points, visibility
from .remesh import DisplacementFit, radial_remesh

__all__ = [
    "DisplacementFit", "ExportSummary", "PseudoGTError", "PseudoGTItem", "PseudoGTSet", "PseudoGTWriter",
    "export_from_truth", "open_pseudogt", "project_to_uv", "radial_remesh", "read_index", "uv_surface_points",
    "visibility",
]
