"""Map symmetry helpers shared by the generator and anyone handling generated maps (§2.4, §2.6).

All functions work on channel-first maps ``(B, C, H, W)`` of any float dtype and are differentiable.
"""
from __future__ import annotations

import torch
from torch import Tensor


def mirror_half_width(half: Tensor) -> Tensor:
    """Mirror the generated middle half of a map to the full width (§2.6).

    half: (B, C, H, W/2) with W/2 even, the columns u in [0.25, 0.75).
    Returns (B, C, H, W) = [reverse(left half of ``half``), ``half``, reverse(right half of ``half``)],
    i.e. mirror axes at columns W/4 and 3W/4.
    """
    if half.dim() != 4 or half.shape[-1] % 2:
        raise ValueError(f"expected (B, C, H, W/2) with an even width, got {tuple(half.shape)}")
    quarter = half.shape[-1] // 2
    return torch.cat([half[..., :quarter].flip(-1), half, half[..., quarter:].flip(-1)], dim=-1)


def average_poles(displacement: Tensor) -> Tensor:
    """Replace the first and last rows (the poles) by their row mean, so each pole gets one value.

    displacement: (B, C, H, W) -> same shape; rows 1..H-2 are unchanged.
    """
    if displacement.dim() != 4 or displacement.shape[-2] < 2:
        raise ValueError(f"expected (B, C, H, W) with H >= 2, got {tuple(displacement.shape)}")
    top = displacement[..., :1, :].mean(dim=-1, keepdim=True).expand_as(displacement[..., :1, :])
    bottom = displacement[..., -1:, :].mean(dim=-1, keepdim=True).expand_as(displacement[..., -1:, :])
    return torch.cat([top, displacement[..., 1:-1, :], bottom], dim=-2)
