"""Texture lookup with the original UV conventions (§2.5), shared by both implementations.

Horizontally the standard pixel-centre convention with wrap-around (u = 0 and u = 1 meet between the last and
first columns: column position u·W - 0.5); vertically ``align_corners=True`` (row position (1 - v)(H - 1), so
v = 1 is the centre of row 0 and v = 0 the centre of the last row). Implemented as the original does it: pad
one column circularly on each side and remap u before a bilinear ``grid_sample``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def sample_texture(texture: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """Bilinear texture lookup.

    Args:
        texture: (B, C, Th, Tw) float, any range (project textures are in [-1, 1]).
        uv: (B, H, W, 2) float texture coordinates (u, v), u in [0, 1] wraps, v in [0, 1] (v = 1 top row).
    Returns:
        (B, C, H, W) in texture's dtype, differentiable w.r.t. texture and uv.
    """
    width = texture.shape[-1]
    padded = torch.cat([texture[..., -1:], texture, texture[..., :1]], dim=-1)  # (B, C, Th, Tw + 2)
    # Padded column position u·W + 0.5 over Tw + 2 columns with align_corners=True.
    gx = 2 * (uv[..., 0] * width + 0.5) / (width + 1) - 1
    gy = 1 - 2 * uv[..., 1]
    grid = torch.stack([gx, gy], dim=-1).to(texture.dtype)
    return F.grid_sample(padded, grid, mode="bilinear", padding_mode="border", align_corners=True)
