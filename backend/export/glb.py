"""Binary glTF (GLB) writer via trimesh, texture embedded.

glTF stores one UV per vertex, so the mesh is written seam-split: one vertex per template UV (1054 vertices for
the 962-vertex sphere: seam and pole vertices are duplicated), faces indexing those. Coordinates are in the
Y-up glTF frame (object (x, y, z) -> (x, z, -y), a proper rotation), so the object's front faces +Z, glTF's
forward axis; Blender's glTF importer brings it back z-up with the front along -y.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from ..mesh import MeshTemplate
from .frames import Origin, object_to_y_up, place_in_world
from .obj import check_mesh_arrays

if TYPE_CHECKING:
    import trimesh


def build_trimesh(vertices: np.ndarray, texture: np.ndarray, template: MeshTemplate,
                  target_length: float | None = None, origin: Origin = "object") -> "trimesh.Trimesh":
    """A seam-split, textured ``trimesh.Trimesh`` in the Y-up file frame (arguments as in :func:`write_glb`)."""
    import trimesh  # imported on first use: importing trimesh takes ~0.5 s and only GLB export needs it
    from trimesh.visual import TextureVisuals
    from trimesh.visual.material import PBRMaterial

    check_mesh_arrays(vertices, texture, template)
    positions = object_to_y_up(place_in_world(vertices, target_length, origin))
    material = PBRMaterial(baseColorTexture=Image.fromarray(np.ascontiguousarray(texture), mode="RGB"),
                           metallicFactor=0.0, roughnessFactor=1.0)
    return trimesh.Trimesh(
        vertices=positions[template.uv_vertex_index].astype(np.float32),
        faces=template.face_uvs,
        visual=TextureVisuals(uv=template.uvs.astype(np.float64), material=material),
        process=False,
    )


def write_glb(directory: str | Path, name: str, vertices: np.ndarray, texture: np.ndarray,
              template: MeshTemplate, target_length: float | None = None, origin: Origin = "object") -> list[Path]:
    """Write NAME.glb (texture embedded as PNG) into ``directory`` (created if missing); returns [glb path].

    vertices: (V, 3) float, object frame; texture: (T, T, 3) uint8, row 0 = top (v = 1); template: the topology.
    target_length, origin: see :func:`backend.export.frames.place_in_world`.
    """
    mesh = build_trimesh(vertices, texture, template, target_length, origin)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.glb"
    import trimesh

    scene = trimesh.Scene()
    scene.add_geometry(mesh, node_name=name, geom_name=name)
    path.write_bytes(scene.export(file_type="glb"))
    return [path]
