"""Render any mesh file (OBJ with its MTL/texture, PLY, GLB...) under a pose: the library behind
``python -m backend.render``. Files are read with trimesh.

Frames: OBJ and glTF files are Y-up by convention (and the project's exports are written that way,
docs/architecture.md), so ``up="y"`` (default) converts file coordinates (x, y, z) to the object frame
(x, -z, y) — the inverse of the export's (x, y, z) → (x, z, -y) — and ``up="z"`` takes them as they are.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .camera import Pose
from .renderer import render_attributes, render_silhouette, render_textured

UNTEXTURED_GREY = 0.2  # colour of meshes without a texture, in [-1, 1]
UP_AXES = ("y", "z")


@dataclass
class MeshFile:
    """A mesh read from disk, in the object frame.

    Attributes:
        vertices: (V, 3) float32; faces: (F, 3) int64 (counter-clockwise seen from outside).
        uvs: (V, 2) float32 per-vertex UVs or None (trimesh splits vertices at UV seams, so face_uvs = faces).
        texture: (3, H, W) float32 in [-1, 1] or None.
    """

    vertices: torch.Tensor
    faces: torch.Tensor
    uvs: torch.Tensor | None
    texture: torch.Tensor | None


def load_mesh_file(path: str | Path, up: str = "y") -> MeshFile:
    """Read a mesh (and its texture if any) with trimesh; raises ValueError with a one-line reason."""
    import trimesh

    if up not in UP_AXES:
        raise ValueError(f"up must be one of {UP_AXES}, got {up!r}")
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"mesh file not found: {path}")
    try:
        mesh = trimesh.load(str(path), force="mesh", process=False)
    except Exception as err:  # trimesh raises many types for malformed files
        raise ValueError(f"cannot read mesh {path}: {str(err).splitlines()[0] if str(err) else type(err).__name__}"
                         ) from None
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise ValueError(f"{path} holds no triangles")
    vertices = np.asarray(mesh.vertices, dtype=np.float32)
    if up == "y":
        vertices = np.stack([vertices[:, 0], -vertices[:, 2], vertices[:, 1]], axis=1)
    uvs = texture = None
    visual = mesh.visual
    image = getattr(getattr(visual, "material", None), "image", None)
    if getattr(visual, "uv", None) is not None and image is not None:
        uvs = torch.from_numpy(np.asarray(visual.uv, dtype=np.float32))
        rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
        texture = torch.from_numpy(rgb).permute(2, 0, 1) / 127.5 - 1.0
    return MeshFile(torch.from_numpy(vertices), torch.from_numpy(np.asarray(mesh.faces, dtype=np.int64)),
                    uvs, texture)


def render_mesh_file(mesh: MeshFile, pose: Pose, resolution: int, silhouette: bool = False,
                     impl: str = "fast") -> np.ndarray:
    """Render one mesh under one pose.

    Returns:
        silhouette=False: (H, W, 4) uint8 RGBA, colours over white, alpha = hard coverage;
        silhouette=True: (H, W) uint8, the DIB-R soft silhouette (255 = 1).
    """
    if pose.batch_size != 1:
        raise ValueError(f"render_mesh_file renders one mesh: pose must hold 1 pose, got {pose.batch_size}")
    vertices = mesh.vertices[None]
    with torch.no_grad():
        if silhouette:
            probability = render_silhouette(vertices, mesh.faces, pose, resolution, impl=impl)[0]
            return (probability * 255).round().clamp(0, 255).to(torch.uint8).numpy()
        if mesh.texture is not None:
            out = render_textured(vertices, mesh.faces, mesh.uvs, mesh.faces, mesh.texture[None], pose, resolution,
                                  background=1.0, impl=impl)
        else:
            grey = torch.full((mesh.vertices.shape[0], 3), UNTEXTURED_GREY)
            out = render_attributes(vertices, mesh.faces, grey, pose, resolution, background=1.0, impl=impl)
    rgb = (out.image[0].clamp(-1, 1) + 1) / 2
    rgba = torch.cat([rgb, out.mask[0][None].to(rgb.dtype)]).permute(1, 2, 0)
    return (rgba * 255).round().to(torch.uint8).numpy()
