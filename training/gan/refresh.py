"""Make an EMA generator fit for evaluation and export: spectral-norm vectors refreshed, BN statistics re-estimated.

The EMA averages every floating-point state entry (§4.1), including the spectral-norm vectors u, v and the batch-norm
running statistics. An average of unit vectors is shorter than one, so sigma = u^T W v underestimates the largest
singular value, and running statistics averaged over generators that no longer exist are not those of the averaged
generator. A short schedule moves the weights a lot between EMA updates, so both errors grow:

* ``refresh_spectral_norm``: power iterations on each conv's ``weight_orig`` from its stored u (normalised), so
  u, v are again unit singular vectors of the EMA's own weights;
* ``reestimate_batch_norm``: the batch-norm statistics of the EMA generator measured on its own outputs for
  z ~ N(0, I) (cumulative averages over a fixed set of batches, seeded, so a refresh is reproducible).

``refreshed_copy`` does both on a deep copy (the EMA being trained is not touched) and returns it in eval mode.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from backend.models import Generator

#: Defaults: enough power iterations to converge on these layer sizes, 4 batches of 32 latents for the statistics
#: (about 2 s for the ``small`` generator on two CPU cores).
POWER_ITERATIONS = 100
BN_BATCHES = 4
BN_BATCH_SIZE = 32


@torch.no_grad()
def refresh_spectral_norm(module: nn.Module, iterations: int = POWER_ITERATIONS) -> int:
    """Power iterations on every spectral-normalised conv of ``module``; returns how many were refreshed."""
    count = 0
    for sub in module.modules():
        if not hasattr(sub, "weight_orig") or not hasattr(sub, "weight_u"):
            continue
        weight = sub.weight_orig.detach().double()
        matrix = weight.reshape(weight.shape[0], -1)
        u = sub.weight_u.detach().double()
        u = u / u.norm().clamp_min(1e-12) if u.norm() > 0 else torch.randn_like(u)
        for _ in range(iterations):
            v = F.normalize(matrix.T @ u, dim=0, eps=1e-12)
            u = F.normalize(matrix @ v, dim=0, eps=1e-12)
        sub.weight_u.copy_(u.to(sub.weight_u.dtype))
        sub.weight_v.copy_(v.to(sub.weight_v.dtype))
        count += 1
    return count


@torch.no_grad()
def reestimate_batch_norm(generator: Generator, batches: int = BN_BATCHES, batch_size: int = BN_BATCH_SIZE,
                          seed: int = 0) -> int:
    """Replace every batch norm's running mean/var by their averages over ``batches`` forward passes of
    z ~ N(0, I) (seeded), in train mode with cumulative averaging; returns the number of BN layers updated.

    The generator is left in eval mode; its spectral-norm vectors are kept as they are (only the BN layers are put
    in train mode, so the convs' spectral norm uses the stored u, v without a power iteration)."""
    norms = [m for m in generator.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m.momentum, m.training) for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    rng = torch.Generator().manual_seed(seed)
    device = next(generator.parameters()).device
    dtype = next(generator.parameters()).dtype
    cfg = generator.config
    generator.eval()
    for m in norms:
        m.train()
    for _ in range(batches):
        z = torch.randn(batch_size, cfg.latent_dim, generator=rng).to(device, dtype)
        cls = (torch.randint(0, cfg.n_classes, (batch_size,), generator=rng).to(device)
               if cfg.conditional else None)
        generator(z, cls)
    for m, (momentum, _) in zip(norms, saved):
        m.momentum = momentum
        m.eval()
    return len(norms)


def refreshed_copy(generator: Generator, seed: int = 0) -> Generator:
    """A deep copy of ``generator`` with refreshed spectral-norm vectors and re-estimated BN statistics, eval mode.

    The copy's spectral norm is evaluated in eval mode (no power iteration in the forward), so the BN statistics are
    measured under exactly the weights that inference will fold."""
    fresh = copy.deepcopy(generator).eval()
    refresh_spectral_norm(fresh)
    reestimate_batch_norm(fresh, seed=seed)
    return fresh.eval()
