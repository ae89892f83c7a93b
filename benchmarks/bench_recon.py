"""Reconstruction stage: one training iteration of the cpu preset at batch 16, and pseudo-GT export throughput.

Data: a synthetic collection rendered with backend.render (tests/recon/fixtures.py) — the cost of an iteration
and of an export does not depend on the image content. Wall time and process CPU time are reported, with one
torch thread and with one per core (on a shared machine a second thread mostly spins); the export figure is
extrapolated to 1,000 images. ``GAN3D_BENCH_PAPER=1`` adds the
paper preset's iteration at batch 32.

    python -m benchmarks.bench_recon
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def _iteration(collection: Path, preset_name: str, batch: int, repeats: int) -> dict:
    from backend.mesh import uv_sphere
    from dataformat import load_collection
    from training.recon.config import PRESETS
    from training.recon.data import part_channels, prefetch
    from training.recon.network import ReconstructionNetwork
    from training.recon.poses import resolve_poses
    from training.recon.steps import compute_losses, predict
    from training.recon.templates import load_templates

    preset = PRESETS[preset_name]
    coll = load_collection(collection, check="header")
    config = dataclasses.replace(preset.network, n_parts=part_channels(coll))
    data = prefetch(coll.records, resolve_poses("truth", coll), config.image_resolution, with_parts=True)
    template = uv_sphere(31)
    templates = torch.from_numpy(load_templates("car", template))
    network = ReconstructionNetwork(config).train()
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-4)
    walls, cpus = [], []
    for i in range(repeats + 1):  # the first is a warm-up (oneDNN primitives, Warp kernels)
        index = np.arange(i * batch, (i + 1) * batch) % len(data)
        wall, cpu = time.perf_counter(), time.process_time()
        b = data.batch(index)
        terms = compute_losses(predict(network, b, template, preset.train.render_resolution), b, templates,
                               template, preset.train, i)
        optimizer.zero_grad()
        terms.total.backward()
        optimizer.step()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return {"batch": batch, "iteration_wall_s_min": round(min(walls[1:]), 3),
            "iteration_wall_s_median": round(float(np.median(walls[1:])), 3),
            "iteration_cpu_s_median": round(float(np.median(cpus[1:])), 3)}


def _export(collection: Path, count: int, texture: int) -> dict:
    from training.recon.config import PRESETS
    from training.recon.network import ReconstructionNetwork
    from training.pseudogt import export_from_run

    net = ReconstructionNetwork(dataclasses.replace(PRESETS["cpu"].network, n_parts=3))
    with tempfile.TemporaryDirectory() as tmp:
        pth = Path(tmp) / "checkpoint_latest.pth"
        torch.save({"generator": {f"module.{k}": v for k, v in net.state_dict().items()}}, pth)
        wall, cpu = time.perf_counter(), time.process_time()
        result = export_from_run(pth, Path(tmp) / "pgt", collection=str(collection), poses="truth",
                                 texture_resolution=texture, fid_stats=False)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"images": result.count, "texture": texture, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "per_1000_images_wall_min": round(wall / result.count * 1000 / 60, 2),
            "per_1000_images_cpu_min": round(cpu / result.count * 1000 / 60, 2)}


def main() -> dict:
    from tests.recon.fixtures import make_collection

    result: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        collection = make_collection(Path(tmp) / "c", n=64, resolution=256, seed=0)
        for threads in sorted({1, os.cpu_count() or 1}):
            torch.set_num_threads(threads)
            result[f"cpu_threads{threads}"] = _iteration(collection, "cpu", 16, repeats=5)
            if os.environ.get("GAN3D_BENCH_PAPER"):
                result[f"paper_threads{threads}"] = _iteration(collection, "paper", 32, repeats=2)
            result[f"pseudogt_export_threads{threads}"] = _export(collection, 64, 128)
    return result


if __name__ == "__main__":
    import json

    argparse.ArgumentParser(description=__doc__.split("\n")[0]).parse_args()
    print(json.dumps(main(), indent=2))
