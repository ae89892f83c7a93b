"""Latent sampling (§4.1): truncated normal by per-component resampling."""
from __future__ import annotations

import torch
from torch import Tensor


def truncated_normal(shape: "tuple[int, ...] | torch.Size", sigma: float,
                     generator: torch.Generator) -> Tensor:
    """Standard-normal float32 tensor of ``shape`` with every component resampled until |z_i| <= sigma.

    Draws from ``generator`` only (on its device), so the result depends on the generator's seed and
    nothing else. sigma = 1.0 is the paper's value for every dataset; a large sigma (e.g. 1000) disables
    truncation. Raises ValueError for sigma <= 0 (or not finite) — no sample could ever be accepted.
    """
    sigma = float(sigma)
    if not sigma > 0:  # also rejects NaN
        raise ValueError(f"truncation sigma must be a number > 0, got {sigma}")
    z = torch.randn(shape, generator=generator, device=generator.device, dtype=torch.float32)
    reject = z.abs() > sigma
    while bool(reject.any()):
        z[reject] = torch.randn(int(reject.sum()), generator=generator, device=generator.device,
                                dtype=torch.float32)
        reject = z.abs() > sigma
    return z
