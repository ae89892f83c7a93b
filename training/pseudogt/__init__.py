"""Pseudo-ground-truth (§1.3): partial UV textures with visibility and displacement maps, the GAN's training data.

Public API::

    from training.pseudogt import (project_to_uv, export_from_run, export_from_truth, fid_statistics, open_pseudogt,
                                   PseudoGTWriter, PseudoGTItem, PseudoGTSet, PseudoGTError, DisplacementFit,
                                   radial_remesh)

Two ways to the same folder: ``--from_run`` (``export_from_run``, ``from_run.py``) from a reconstruction run's
predicted meshes, and ``--from_truth`` (``export_from_truth``, ``from_truth.py``) from a synthetic collection's true
meshes and poses; either may add the real images' FID statistics (``fid_stats.py``). Format: ``format.py``.
CLI: ``python -m backend.train pseudogt --from_run RUN | --from_truth`` (``cli.py``; ``recon pseudogt`` is its
older name, kept as an alias).
"""
from .fid_stats import FID_STATS_NAME, fid_statistics
from .format import PseudoGTError, PseudoGTItem, PseudoGTSet, PseudoGTWriter, open_pseudogt, read_index
from .from_run import export_from_run
from .from_truth import export_from_truth
from .projection import project_to_uv, uv_surface_points, visibility
from .remesh import DisplacementFit, radial_remesh
from .summary import ExportSummary

__all__ = [
    "DisplacementFit", "ExportSummary", "FID_STATS_NAME", "PseudoGTError", "PseudoGTItem", "PseudoGTSet",
    "PseudoGTWriter", "export_from_run", "export_from_truth", "fid_statistics", "open_pseudogt", "project_to_uv",
    "radial_remesh", "read_index", "uv_surface_points", "visibility",
]
