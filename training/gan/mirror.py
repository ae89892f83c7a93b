"""The "virtual mirror" augmentation of §2.6 on UV-space maps."""
from __future__ import annotations

import torch
from torch import Tensor


def virtual_mirror(x: Tensor) -> Tensor:
    """(B, C, H, W) maps -> their virtual mirror: flip left-right, then roll by W/2."""
    return torch.roll(x.flip(-1), x.shape[-1] // 2, dims=-1)
