"""Mesh exporters: OBJ + MTL + PNG (the original format, fixed to a proper rotation) and GLB.

Public API::

    from backend.export import export_mesh, write_obj, write_glb, FORMATS
    paths = export_mesh(out_dir, "mesh_0", vertices, texture, template, file_format="obj", target_length=4.5)
    summary = export_samples(mesh_generator.generate(8, seed=0), out_dir, template)   # mesh_<j>.*, samples.json

Frames: vertices come in the object frame (z up, front -y); files are written Y-up, (x, y, z) -> (x, z, -y),
see :mod:`backend.export.frames`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..mesh import MeshTemplate
from .frames import ORIGINS, Origin, object_to_y_up, place_in_world, y_up_to_object
from .glb import build_trimesh, write_glb
from .obj import write_obj, write_texture_png

FORMATS = ("obj", "glb")


def export_mesh(directory: str | Path, name: str, vertices: np.ndarray, texture: np.ndarray, template: MeshTemplate,
                file_format: str = "obj", target_length: float | None = None,
                origin: Origin = "object") -> list[Path]:
    """Write one mesh as NAME.obj/.mtl/.png ("obj") or NAME.glb ("glb"); returns the written paths."""
    if file_format == "obj":
        return write_obj(directory, name, vertices, texture, template, target_length, origin)
    if file_format == "glb":
        return write_glb(directory, name, vertices, texture, template, target_length, origin)
    raise ValueError(f"unknown export format {file_format!r}; choose one of {FORMATS}")


from .samples import SampleExport, export_samples  # noqa: E402  (uses export_mesh)

__all__ = ["SampleExport", "export_samples", "FORMATS", "ORIGINS", "export_mesh", "write_obj", "write_glb", "write_texture_png", "build_trimesh",
           "object_to_y_up", "y_up_to_object", "place_in_world"]
