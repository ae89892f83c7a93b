"""Synthetic car testbed throughput: rendered images per second at 128² and 256².

Baseline (measured in the same run): the RGB pass alone. Reported: the cost of the extra ID pass (mask + part
map) relative to it, the full per-item throughput of ``synthesize`` with 2 worker processes, and the estimated
time to make the 5000-image set at 256².

    python -m benchmarks.bench_synth
"""
from __future__ import annotations

import multiprocessing
import os
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ITEMS_PER_RES = 6
SAMPLES = 16
END_TO_END_N = 10


def _time_passes(resolution: int, items: int, samples: int) -> dict:
    """Runs in a fresh Blender process: per item, time the RGB pass and the ID pass separately."""
    import numpy as np

    from training.synth import blender_scene as scene
    from training.synth.car import build_car
    from training.synth.config import SynthConfig, plan_item

    scene.reset(resolution, samples, os.cpu_count() or 1)
    config = SynthConfig(seed=123, resolution=resolution, samples=samples)
    rgb, ids = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(items + 1):  # item 0 warms up (kernel set-up, first BVH build)
            plan = plan_item(config, i)
            car = build_car(plan.car_seed, plan.body_type)
            scene.build_car_object(car, np.random.default_rng(plan.car_seed))
            rng = np.random.default_rng(plan.scene_seed)
            scene.set_background(plan.background, rng, car.params["ground_z"])
            scene.set_lighting(rng)
            scene.place_camera(car, scene.sample_camera(rng))
            start = time.perf_counter()
            scene.render_rgb(str(Path(tmp) / f"{i}_rgb.png"), samples)
            middle = time.perf_counter()
            scene.render_ids(str(Path(tmp) / f"{i}_ids.png"))
            end = time.perf_counter()
            if i:
                rgb.append(middle - start)
                ids.append(end - middle)
    return {"rgb_s": statistics.median(rgb), "id_s": statistics.median(ids)}


def _passes(resolution: int) -> dict:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(_time_passes, resolution, ITEMS_PER_RES, SAMPLES).result()


def main() -> dict:
    from training.engine.stage import Events
    from training.synth import SynthConfig, synthesize

    results: dict = {"machine": f"{os.cpu_count()} CPUs", "samples_per_pixel": SAMPLES}
    for resolution in (128, 256):
        t = _passes(resolution)
        results[f"res{resolution}"] = {
            "rgb_pass_s": round(t["rgb_s"], 3),
            "id_pass_s": round(t["id_s"], 3),
            "rgb_only_images_per_s": round(1 / t["rgb_s"], 2),
            "rgb_plus_ids_images_per_s": round(1 / (t["rgb_s"] + t["id_s"]), 2),
            "id_pass_cost_vs_rgb": round(t["id_s"] / t["rgb_s"], 3),
        }
    finished: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        synthesize(Path(tmp) / "set", END_TO_END_N, SynthConfig(seed=5, resolution=256, samples=SAMPLES), workers=2,
                   events=Events(advance=lambda *_: finished.append(time.perf_counter())))
        wall = time.perf_counter() - start
    rate = END_TO_END_N / wall
    # Steady state: items after the first two (one per worker), i.e. without Blender start-up.
    steady = (len(finished) - 2) / (finished[-1] - finished[1])
    results["synthesize_256_workers2"] = {
        "items": END_TO_END_N, "wall_s": round(wall, 2), "images_per_s": round(rate, 2),
        "steady_images_per_s": round(steady, 2),
        "estimated_5000_images_min": round(5000 / steady / 60, 1),
        "note": "wall includes process start-up; the 5000-image estimate uses the steady-state rate",
    }
    return results


if __name__ == "__main__":
    out = main()
    print(f"{'resolution':>10} {'RGB s':>8} {'ID s':>8} {'RGB img/s':>10} {'RGB+ID img/s':>13} {'ID/RGB':>7}")
    for res in (128, 256):
        r = out[f"res{res}"]
        print(f"{res:>10} {r['rgb_pass_s']:>8} {r['id_pass_s']:>8} {r['rgb_only_images_per_s']:>10} "
              f"{r['rgb_plus_ids_images_per_s']:>13} {r['id_pass_cost_vs_rgb']:>7}")
    e = out["synthesize_256_workers2"]
    print(f"synthesize 256² x{e['items']} with 2 workers: {e['wall_s']} s ({e['images_per_s']} img/s, steady "
          f"{e['steady_images_per_s']} img/s); 5000 images ≈ {e['estimated_5000_images_min']} min")
