"""Are the UV signals sound? The same held-out pseudo-GT scored against itself, degraded, collapsed and untrained.

``soundness_rows(held, train)`` splits the held-out part in halves A (the reference) and B, then scores:

* ``halves``: B as it is (a second draw of the same distribution: near the best a generator can score);
* ``blurred``: B blurred (a 5x5 box filter, alpha-normalised, so only detail is lost);
* ``colour-shuffled``: B with each item's RGB channels cyclically rotated (right layout, wrong colours);
* ``mean texture``: every sample the alpha-weighted mean texture and mean displacement map of the training part
  (the "mean collapse" of a generator that ignores z);
* ``untrained``: a freshly initialised generator of the run's architecture;
* and any generators passed in ``models`` (name -> generator module), e.g. a run's checkpoints.

Each row is ``{"name": ..., **uv_signals}``; ``python -m backend.train gan evaluate --mode uv_soundness`` prints them.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .uv_signals import UVReference, generate_maps, uv_signals, weighted_moments


def _blurred(texture: torch.Tensor, alpha: torch.Tensor, size: int = 5) -> torch.Tensor:
    num = F.avg_pool2d(texture * alpha, size, stride=1, padding=size // 2)
    den = F.avg_pool2d(alpha, size, stride=1, padding=size // 2).clamp_min(1e-6)
    return (num / den) * alpha


def soundness_rows(held, train, models: dict | None = None, generator_config=None, seed: int = 0) -> list[dict]:
    """held, train: ``PseudoGTSet`` parts (held-out and training). models: name -> generator (eval mode)."""
    from backend.models import Generator

    half = len(held) // 2
    a, b = held.subset(0, half), held.subset(half, 2 * half)
    reference = UVReference.from_pseudogt(a, train=train)
    tex_b, alpha_b, mesh_b = b.texture.float(), b.alpha.float(), b.mesh.float()
    rows = []

    def add(name: str, texture, mesh, fake_alpha=None) -> None:
        rows.append({"name": name, **uv_signals(texture, mesh, reference, seed=seed, fake_alpha=fake_alpha)})

    add("halves", tex_b, mesh_b, alpha_b)
    add("blurred", _blurred(tex_b, alpha_b), mesh_b, alpha_b)
    add("colour-shuffled", torch.roll(tex_b, 1, dims=1), mesh_b, alpha_b)
    mean_texture, _, _ = weighted_moments(train.texture.float(), train.alpha.float())
    n = len(a)
    add("mean texture", mean_texture.expand(n, -1, -1, -1).clone(),
        train.mesh.float().mean(0, keepdim=True).expand(n, -1, -1, -1).clone())
    config = generator_config
    if config is not None:
        torch.manual_seed(seed)
        untrained = Generator(config).eval()
        add("untrained", *generate_maps(untrained, n, config.latent_dim))
    for name, generator in (models or {}).items():
        add(name, *generate_maps(generator, n, generator.config.latent_dim if hasattr(generator, "config")
                                 else 64))
    return rows
