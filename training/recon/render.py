"""Rendering a predicted mesh for training and evaluation: one hard pass, colour and part maps sampled together,
the soft silhouette reusing the hard coverage (backend.render, DIB-R semantics of §6.3)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

from backend.mesh import MeshTemplate, uv_sphere
from backend.render import Pose, interpolate, object_to_renderer, rasterize, sample_texture, soft_silhouette


@dataclass
class Rendered:
    """Renders of B meshes under their poses at N×N.

    rgb: (B, 3, N, N) texture colour where covered, 0 elsewhere (the DIB-R background).
    parts: (B, P, N, N) part distribution where covered, 0 elsewhere; None without part maps.
    silhouette: (B, 1, N, N) soft silhouette in [0, 1] (σ⁻¹ = 7000), differentiable w.r.t. the vertices.
    mask: (B, 1, N, N) hard coverage {0, 1} (not differentiable).
    """

    rgb: Tensor
    parts: Tensor | None
    silhouette: Tensor
    mask: Tensor


@lru_cache(maxsize=8)
def _topology(rings: int, device: str) -> tuple[Tensor, Tensor, Tensor]:
    template = uv_sphere(rings)
    as_tensor = lambda a, dtype: torch.as_tensor(np.asarray(a), dtype=dtype, device=device)  # noqa: E731
    return (as_tensor(template.faces, torch.int64), as_tensor(template.uvs, torch.float32),
            as_tensor(template.face_uvs, torch.int64))


def template_tensors(template: MeshTemplate, device: torch.device | str) -> tuple[Tensor, Tensor, Tensor]:
    """(faces (F, 3) int64, uvs (U, 2) float32, face_uvs (F, 3) int64) of the template on ``device`` (cached)."""
    return _topology(template.rings, str(device))


def render_prediction(vertices: Tensor, texture: Tensor, parts: Tensor | None, pose: Pose, resolution: int,
                      template: MeshTemplate | None = None, silhouette: bool = True,
                      impl: str = "fast") -> Rendered:
    """Render predicted meshes with their texture (and part map) under their poses.

    vertices: (B, V, 3) object frame on the template's topology. texture: (B, 3, T, T) in [-1, 1].
    parts: (B, P, T, T) or None. pose: B poses in the crop's frame. resolution: N.
    silhouette: False skips the soft pass (then ``silhouette`` is the hard mask).
    """
    template = template or uv_sphere()
    faces, uvs, face_uvs = template_tensors(template, vertices.device)
    screen = object_to_renderer(vertices, pose)
    rast = rasterize(screen, faces, resolution, impl=impl)
    uv = interpolate(uvs.to(vertices.dtype), rast, attribute_faces=face_uvs)
    maps = texture if parts is None else torch.cat([texture, parts], dim=1)
    mask = rast.mask[:, None].to(vertices.dtype)
    sampled = sample_texture(maps, uv) * mask
    soft = soft_silhouette(screen, faces, resolution, rast=rast, impl=impl)[:, None] if silhouette else mask
    return Rendered(sampled[:, :3], None if parts is None else sampled[:, 3:], soft, mask)
