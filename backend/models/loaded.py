"""A generator ready for inference plus what is known about it (``LoadedModel``), and untrained models.

The shipped default model is in ``shipped.py`` (it reads a file, so it sits above ``checkpoints.py``, which
builds on this module)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .class_names import ALL_CLASSES
from .config import GeneratorConfig, resolve_config
from .generator import Generator


@dataclass
class LoadedModel:
    """A generator in eval mode, folded for inference (same forward as :class:`Generator`).

    generator: ``forward(z (B, latent_dim) float32, class_index (B,) int64 | None)
        -> (texture (B, 3, T, T) in [-1, 1], displacement (B, 3, M, M))``.
    config: its architecture. class_names: for class-conditional models one name per class index
        (``len == config.n_classes``); for unconditional models the single category it depicts when
        known (e.g. ``["car"]``) or ``[]`` — use ``conditional`` (not ``class_names``) to decide
        whether ``class_index`` is needed.
    provenance: JSON-able facts about where the weights came from (source, created, training info).
    untrained: True for randomly initialised weights (outputs are noise textures on a plain sphere).
    source: human-readable origin (a file path, or ``random_init:<preset>``).
    """

    generator: nn.Module
    config: GeneratorConfig
    class_names: list[str] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    untrained: bool = False
    source: str = ""

    @property
    def conditional(self) -> bool:
        return self.config.n_classes > 0


def default_class_names(config: GeneratorConfig) -> list[str]:
    if config.n_classes == len(ALL_CLASSES):
        return list(ALL_CLASSES)
    return [f"class_{i}" for i in range(config.n_classes)]


def build_generator(config: GeneratorConfig, seed: int) -> Generator:
    """Training-form generator with PyTorch's default init drawn from ``seed`` (global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Generator(config)


def inference_module(generator: Generator) -> nn.Module:
    """The eval-mode, folded, channels-last fp32 module that ``LoadedModel.generator`` holds."""
    from .folding import fold_generator
    return fold_generator(generator.eval(), channels_last=True)


PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16}
"""Compute precisions of the inference form. fp32 is the default and matches the original network to ~1e-5;
bf16 is about twice as fast on CPUs with AVX512-BF16/AMX but moves texture values by up to ~0.07 (mean ~0.005)
in [-1, 1] units (``benchmarks/bench_generator.py`` measures both)."""


def set_precision(model: LoadedModel, precision: str) -> LoadedModel:
    """Switch a loaded model's compute precision in place ("fp32" or "bf16"); returns the model.

    Going to bf16 rounds the weights, so it is one way: asking a bf16 model for fp32 raises ValueError (load
    the model again instead), as does an unknown precision.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    current = model.generator.compute_dtype
    if current == PRECISIONS[precision]:
        return model
    if current == torch.bfloat16:
        raise ValueError("this model's weights were already rounded to bf16; load it again for fp32")
    model.generator.set_compute_dtype(PRECISIONS[precision])
    model.provenance = {**model.provenance, "precision": precision}
    return model


def random_init_model(preset_or_config: "str | GeneratorConfig", seed: int = 0) -> LoadedModel:
    """An untrained generator (seeded PyTorch default init; the mesh head is zero so meshes are spheres).

    For tests, benchmarks and the first run before a trained model exists. ``untrained`` is True.
    """
    config = resolve_config(preset_or_config)
    name = preset_or_config if isinstance(preset_or_config, str) else "custom"
    generator = build_generator(config, seed)
    return LoadedModel(
        generator=inference_module(generator),
        config=config,
        class_names=default_class_names(config),
        provenance={"source": "random_init", "preset": name, "seed": seed, "config": config.to_dict()},
        untrained=True,
        source=f"random_init:{name}",
    )


def weights_fingerprint(loaded) -> str:
    """16 hex digits of a SHA-256 over the inference weights (names, dtypes, shapes, bytes): equal fingerprints
    mean equal latents give equal meshes, so saved looks can tell whether a server has the model that made them."""
    digest = hashlib.sha256()
    for key, tensor in loaded.generator.state_dict().items():
        data = tensor.detach().cpu().contiguous()
        digest.update(f"{key}:{data.dtype}:{tuple(data.shape)};".encode())
        digest.update(data.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]
