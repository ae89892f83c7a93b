"""GAN training step time per preset (G and D steps separately), against a baseline measured in the same run.

Baseline: one training-form forward + backward of the preset's generator alone at the same batch. Data: a
synthetic in-memory pseudo-GT set of the preset's texture size (the step cost does not depend on the content).
``GAN3D_BENCH_PAPER=1`` adds the paper preset (minutes per step on a CPU).

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


def main() -> dict:
    torch.set_num_threads(os.cpu_count() or 1)
    result = {"cpu_gan": _time_preset("cpu_gan", repeats=5)}
    if os.environ.get("GAN3D_BENCH_PAPER"):
        result["paper"] = _time_preset("paper", repeats=1)
    result["threads"] = torch.get_num_threads()
    return result


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2))
