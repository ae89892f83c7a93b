"""GAN training step time per preset (G and D steps separately), against a baseline measured in the same run.

Baseline: one training-form forward + backward of the preset's generator alone at the same batch. Data: a
synthetic in-memory pseudo-GT set of the preset's texture size (the step cost does not depend on the content).
``GAN3D_BENCH_PAPER=1`` adds the paper preset (minutes per step on a CPU).

The ``cpu`` preset's encoder-start update (``training.gan.encoder_start``) is timed at its 128² texture and at 256²
(the preset with ``texture_resolution`` 256): the ratio says whether the recipe fits its time budget at 256².

    python -m benchmarks.bench_gan
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import torch


def _pseudogt(root: Path, resolution: int, count: int):
    from tests.gan.conftest import write_tiny_pseudogt
    from training.pseudogt import open_pseudogt

    return open_pseudogt(write_tiny_pseudogt(root, count=count, resolution=resolution))


def _time_preset(name: str, repeats: int) -> dict:
    from backend.models import Generator
    from training.gan import PRESETS, GANTrainer

    config = PRESETS[name]
    with tempfile.TemporaryDirectory() as tmp:
        data = _pseudogt(Path(tmp), config.generator.texture_resolution, config.batch_size)
        trainer = GANTrainer(config, data)
        for kind in ("g", "d"):  # warm-up (oneDNN primitive caches)
            trainer.train_step(kind)
        times = {"g": [], "d": []}
        for _ in range(repeats):
            for kind in ("g", "d"):
                start = time.perf_counter()
                trainer.train_step(kind)
                times[kind].append(time.perf_counter() - start)
    generator = Generator(config.generator).to(memory_format=torch.channels_last).train()
    z = torch.randn(config.batch_size, config.generator.latent_dim)
    base = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        texture, mesh = generator(z)
        (texture.mean() + mesh.mean()).backward()
        base.append(time.perf_counter() - start)
    base = min(base[1:])
    g, d = min(times["g"]), min(times["d"])
    iteration = (g + 2 * d) / 3  # the schedule: one G step per two D steps
    return {"batch": config.batch_size, "g_step_s": round(g, 3), "d_step_s": round(d, 3),
            "mean_iteration_s": round(iteration, 3), "baseline_generator_fwd_bwd_s": round(base, 3),
            "iteration_over_baseline": round(iteration / base, 2)}


def _preset_steps(name: str) -> int:
    from training.gan import PRESETS

    return PRESETS[name].steps


def _time_encoder_start(texture_resolution: int, repeats: int) -> dict:
    """Seconds per encoder-start update of the ``cpu`` preset at ``texture_resolution`` (min over ``repeats``)."""
    from dataclasses import replace

    from training.gan import PRESETS, GANTrainer

    config = PRESETS["cpu"]
    config = replace(config, generator=replace(config.generator, texture_resolution=texture_resolution))
    with tempfile.TemporaryDirectory() as tmp:
        data = _pseudogt(Path(tmp), texture_resolution, config.batch_size)
        trainer = GANTrainer(config, data)
        trainer.train_step()  # warm-up (oneDNN primitive caches)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            result = trainer.train_step()
            times.append(time.perf_counter() - start)
        assert result.kind == "e", result.kind
    return {"batch": config.batch_size, "texture": texture_resolution, "update_s": round(min(times), 3)}


def main() -> dict:
    torch.set_num_threads(os.cpu_count() or 1)
    result = {"cpu_gan": _time_preset("cpu_gan", repeats=5)}
    encoder = {f"texture_{r}": _time_encoder_start(r, repeats=5) for r in (128, 256)}
    encoder["ratio_256_over_128"] = round(encoder["texture_256"]["update_s"] / encoder["texture_128"]["update_s"], 2)
    encoder["hours_for_preset_steps_at_256"] = round(
        encoder["texture_256"]["update_s"] * _preset_steps("cpu") / 3600, 2)
    result["cpu_encoder_start"] = encoder
    if os.environ.get("GAN3D_BENCH_PAPER"):
        result["paper"] = _time_preset("paper", repeats=1)
    result["threads"] = torch.get_num_threads()
    return result


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2))
