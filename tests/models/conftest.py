"""Shared fixtures for backend.models tests: tiny generators with realistic, non-trivial state."""
from __future__ import annotations

import pytest
import torch

from backend.models import Generator, GeneratorConfig

TINY = GeneratorConfig(texture_resolution=128, width=0.0625)
TINY_CONDITIONAL = GeneratorConfig(texture_resolution=128, width=0.0625, n_classes=5)


def meta_generator(config: GeneratorConfig) -> Generator:
    """Structure only (no memory, no init cost): for parameter counts and state-dict layout."""
    with torch.device("meta"):
        return Generator(config)


def trained_like(config: GeneratorConfig, seed: int = 0) -> Generator:
    """A generator whose state looks like a released EMA checkpoint's, so folding/loading tests can fail.

    BN running statistics come from real train-mode batches (so activations stay sane), spectral-norm
    u/v are moved off their power-iteration values and off unit length (like EMA-averaged vectors),
    and the zero-initialised mesh head gets random weights so displacements are not all zero.
    """
    torch.manual_seed(seed)
    generator = Generator(config)
    with torch.no_grad():
        generator.conv_mesh.weight.normal_(0, 0.05)
        generator.conv_mesh.bias.normal_(0, 0.05)
        for module in generator.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.momentum = None  # cumulative average over the warm-up batches
        generator.train()
        for _ in range(2):
            classes = torch.randint(0, config.n_classes, (6,)) if config.conditional else None
            generator(torch.randn(6, config.latent_dim), classes)
        for name, buffer in generator.named_buffers():
            if name.endswith(("weight_u", "weight_v")):
                buffer.mul_(0.9).add_(0.02 * torch.randn_like(buffer))
    return generator.eval()


@pytest.fixture(scope="module")
def tiny_generator() -> Generator:
    return trained_like(TINY, seed=1)


@pytest.fixture(scope="module")
def tiny_conditional_generator() -> Generator:
    return trained_like(TINY_CONDITIONAL, seed=2)
