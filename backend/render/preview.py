"""Preview grids of generated meshes (§1.5): each sample rendered under a pose, anti-aliased by supersampling,
on white, tiled ``per_row`` to a row into one RGBA PNG without padding.

The original renders at 1024² (hard mask), sets the background to white, converts to [0, 1] RGBA and 4×4
average-pools to 256² tiles, 8 per row; ``tile=256, supersample=4, per_row=8`` reproduce that. As in the
original, z0 is ignored (scaled orthographic).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .camera import Pose, random_view_poses
from .checks import check_tensor
from .renderer import render_textured

WHITE = 1.0  # in the texture range [-1, 1]


def render_preview_tiles(vertices: torch.Tensor, textures: torch.Tensor, template, poses: Pose | None = None,
                         seed: int = 0, tile: int = 256, supersample: int = 4, batch_size: int = 4,
                         impl: str = "fast") -> torch.Tensor:
    """Anti-aliased RGBA tiles.

    Args:
        vertices: (N, V, 3) float, object frame; textures: (N, 3, T, T) float in [-1, 1].
        template: anything with ``faces`` (F, 3), ``uvs`` (U, 2), ``face_uvs`` (F, 3) (a backend.mesh.MeshTemplate).
        poses: N poses, or None for seeded random views (``random_view_poses(N, seed)``).
    Returns:
        (N, 4, tile, tile) float32 in [0, 1]: RGB composited on white, alpha = coverage.
    """
    count = vertices.shape[0] if isinstance(vertices, torch.Tensor) and vertices.dim() == 3 else None
    check_tensor("vertices", vertices, (count, None, 3), floating=True)
    check_tensor("textures", textures, (count, 3, None, None), floating=True)
    if tile < 1 or supersample < 1:
        raise ValueError(f"tile and supersample must be >= 1, got {tile} and {supersample}")
    poses = random_view_poses(count, seed=seed) if poses is None else poses
    if poses.batch_size != count:
        raise ValueError(f"poses must hold {count} poses (one per mesh), got {poses.batch_size}")
    device = vertices.device
    faces = torch.as_tensor(np.array(template.faces), dtype=torch.int64, device=device)
    uvs = torch.as_tensor(np.array(template.uvs), dtype=torch.float32, device=device)
    face_uvs = torch.as_tensor(np.array(template.face_uvs), dtype=torch.int64, device=device)
    poses = poses.without_perspective().to(device, torch.float32)
    tiles = []
    with torch.no_grad():
        for start in range(0, count, batch_size):
            part = slice(start, min(start + batch_size, count))
            out = render_textured(vertices[part].to(torch.float32), faces, uvs, face_uvs,
                                  textures[part].to(torch.float32), poses.index(part), tile * supersample,
                                  background=WHITE, impl=impl)
            rgba = torch.cat([(out.image.clamp(-1, 1) + 1) / 2, out.mask[:, None]], dim=1)
            tiles.append(F.avg_pool2d(rgba, supersample) if supersample > 1 else rgba)
    if not tiles:
        return torch.zeros((0, 4, tile, tile))
    return torch.cat(tiles).cpu()


def tile_grid(tiles: torch.Tensor, per_row: int = 8) -> np.ndarray:
    """(N, 4, t, t) [0, 1] tiles → (rows·t, min(N, per_row)·t, 4) uint8 grid; empty cells transparent white."""
    count, channels, size, _ = tiles.shape
    columns = max(1, min(count, per_row))
    rows = max(1, math.ceil(count / per_row))
    grid = torch.ones((rows * size, columns * size, channels))
    grid[..., 3] = 0.0
    for n in range(count):
        r, c = divmod(n, per_row)
        grid[r * size:(r + 1) * size, c * size:(c + 1) * size] = tiles[n].permute(1, 2, 0)
    return (grid * 255).round().clamp(0, 255).to(torch.uint8).numpy()


def save_preview_grid(path: str | Path, vertices: torch.Tensor, textures: torch.Tensor, template,
                      poses: Pose | None = None, seed: int = 0, tile: int = 256, supersample: int = 4,
                      per_row: int = 8, impl: str = "fast") -> Path:
    """Render N meshes and write the preview grid PNG (RGBA); returns the path.

    Args:
        path: output .png (parent folders are created).
        vertices: (N, V, 3) float, object frame; textures: (N, 3, T, T) float in [-1, 1].
        template: the meshes' topology (``faces``, ``uvs``, ``face_uvs``), e.g. ``backend.mesh.uv_sphere()``.
        poses: N poses (e.g. from a dataset) or None for views drawn from ``seed``.
        tile, supersample, per_row: tile size in the PNG, supersampling factor, tiles per row.
    """
    tiles = render_preview_tiles(vertices, textures, template, poses, seed, tile, supersample, impl=impl)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(tile_grid(tiles, per_row), mode="RGBA").save(path, format="PNG")
    return path


def save_generated_preview(path: str | Path, meshes: Sequence, template, seed: int = 0, **kwargs) -> Path:
    """``save_preview_grid`` for ``backend.sampling.GeneratedMesh`` items (vertices (V, 3) float32,
    texture (T, T, 3) uint8)."""
    if not meshes:
        raise ValueError("no meshes to preview")
    vertices = torch.from_numpy(np.stack([np.asarray(m.vertices, dtype=np.float32) for m in meshes]))
    images = np.stack([np.asarray(m.texture) for m in meshes])  # (N, T, T, 3) uint8
    textures = torch.from_numpy(images).permute(0, 3, 1, 2).to(torch.float32) / 127.5 - 1.0
    return save_preview_grid(path, vertices, textures, template, seed=seed, **kwargs)
