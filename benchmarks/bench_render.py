"""Renderer benchmark: the fast (Warp) renderer against the reference (dense PyTorch) in the same run.

Cases, all on the 1920-face template sphere under random views:
* hard textured render (512² texture) forward, and forward+backward (gradients to vertices and texture);
* soft silhouette (σ⁻¹ 7000, 30 faces) forward, and forward+backward (gradients to vertices);
  at 128², 256², 512², 1024², batch 1 and 16;
* pose fitting: 40 pose hypotheses of one mesh (perspective z0 on), soft silhouette at 128², forward+backward to
  the pose parameters.
The reference (dense: pixels × faces, autograd through every pair) runs only in REFERENCE_CASES; elsewhere
(256² batch 16, 512², 1024², the pose-fitting case) it would take minutes on this machine and its column is
None ("skipped"). Its cost is a Python loop over the batch, i.e. linear in B, so the 256² batch-16 ratio is
also reported extrapolated as 16 × reference(256², B=1) / fast(256², B=16), labelled as such. Figures are medians of a few repetitions
after a warm-up; ratios are against the reference measured in this run. The PyTorch3D CPU figures of the issue
(hard 256² one mesh forward 293 ms; soft 128² batch 16 forward+backward 33 s) are quoted, not measured here.

Run: ``python -m benchmarks.bench_render`` (prints a table; ``main()`` returns the JSON-able dict).
"""
from __future__ import annotations

import platform
import statistics
import sys
import time

import numpy as np
import torch

from backend.mesh import uv_sphere
from backend.render import Pose, random_view_poses, render_silhouette, render_textured, viewpoint_quaternion

RESOLUTIONS = (128, 256, 512, 1024)
BATCHES = (1, 16)
PYTORCH3D_HARD_256_B1_MS = 293.0
PYTORCH3D_SOFT_128_B16_FWDBWD_MS = 33000.0


# (case, resolution, batch) where the dense reference is measured: each run stays under about a minute here.
REFERENCE_CASES = {
    ("hard forward", 128, 1), ("hard forward+backward", 128, 1), ("soft forward", 128, 1),
    ("soft forward+backward", 128, 1), ("hard forward", 128, 16), ("hard forward", 256, 1),
}


def _time(fn, repeats: int) -> float:
    fn()  # warm-up (JIT compile, caches)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000.0


def _repeats(resolution: int, batch: int, impl: str) -> int:
    if impl == "reference":
        return 1
    work = resolution * resolution * batch
    return 10 if work <= 256 * 256 else 5 if work <= 1024 * 1024 else 2


def _case(mode: str, impl: str, vertices, faces, uvs, face_uvs, texture, pose, resolution):
    def run():
        if mode.endswith("forward+backward"):
            v = vertices.clone().requires_grad_(True)
            tex = texture.clone().requires_grad_(True)
            if mode.startswith("hard"):
                out = render_textured(v, faces, uvs, face_uvs, tex, pose, resolution, impl=impl).image
            else:
                out = render_silhouette(v, faces, pose, resolution, impl=impl)
            out.sum().backward()
        else:
            with torch.no_grad():
                if mode.startswith("hard"):
                    render_textured(vertices, faces, uvs, face_uvs, texture, pose, resolution, impl=impl)
                else:
                    render_silhouette(vertices, faces, pose, resolution, impl=impl)
    return run


def _pose_fitting(impl: str, vertices, faces):
    """40 hypotheses (8 azimuths × 5 elevations, §5.2) of one mesh; gradients to q, s, t, z0."""
    azimuth = torch.arange(8, dtype=torch.float64).repeat(5) * 45.0
    elevation = torch.tensor([45.0, 67.5, 90.0, 112.5, 135.0], dtype=torch.float64).repeat_interleave(8)
    q0 = viewpoint_quaternion(azimuth, elevation).float()
    target = (torch.rand(1, 128, 128, generator=torch.Generator().manual_seed(0)) > 0.5).float()

    def run():
        q = q0.clone().requires_grad_(True)
        s = torch.full((40, 1), 0.8, requires_grad=True)
        t = torch.zeros(40, 2, requires_grad=True)
        z0 = torch.full((40, 1), 2.0, requires_grad=True)
        sil = render_silhouette(vertices[:1].expand(40, -1, -1), faces, Pose(q, s, t, z0), 128, impl=impl)
        ((sil - target) ** 2).mean().backward()
    return run


def main() -> dict:
    template = uv_sphere()
    faces = torch.from_numpy(np.array(template.faces))
    uvs = torch.from_numpy(np.array(template.uvs))
    face_uvs = torch.from_numpy(np.array(template.face_uvs))
    base = torch.from_numpy(np.array(template.vertices))
    generator = torch.Generator().manual_seed(0)
    rows = []
    for batch in BATCHES:
        vertices = base[None] * (0.9 + 0.1 * torch.rand(batch, base.shape[0], 1, generator=generator))
        texture = torch.rand(batch, 3, 512, 512, generator=generator) * 2 - 1
        pose = random_view_poses(batch, seed=batch)
        for resolution in RESOLUTIONS:
            for mode in ("hard forward", "hard forward+backward", "soft forward", "soft forward+backward"):
                args = (vertices, faces, uvs, face_uvs, texture, pose, resolution)
                fast_ms = _time(_case(mode, "fast", *args), _repeats(resolution, batch, "fast"))
                ref_ms = None
                if (mode, resolution, batch) in REFERENCE_CASES:
                    ref_ms = _time(_case(mode, "reference", *args), 1)
                print(f"  {mode} {resolution}² B={batch}: fast {fast_ms:.1f} ms, reference "
                      f"{'skipped' if ref_ms is None else f'{ref_ms:.0f} ms'}", file=sys.stderr, flush=True)
                rows.append({"case": mode, "resolution": resolution, "batch": batch, "fast_ms": round(fast_ms, 2),
                             "reference_ms": None if ref_ms is None else round(ref_ms, 1),
                             "speedup": None if ref_ms is None else round(ref_ms / fast_ms, 1),
                             "cuda_ms": None})
    vertices = base[None].float()
    fit_fast = _time(_pose_fitting("fast", vertices, faces), 5)
    rows.append({"case": "pose fitting 40 hypotheses soft forward+backward", "resolution": 128, "batch": 40,
                 "fast_ms": round(fit_fast, 2), "reference_ms": None, "speedup": None, "cuda_ms": None})

    def find(case, resolution, batch):
        return next(r for r in rows if r["case"] == case and r["resolution"] == resolution and r["batch"] == batch)

    hard_256 = find("hard forward", 256, 1)["fast_ms"]
    soft_128 = find("soft forward+backward", 128, 16)["fast_ms"]
    result = {
        "machine": f"{platform.machine()} CPU, torch threads {torch.get_num_threads()}; CUDA: n/a",
        "rows": rows,
        "targets": {  # measured values next to the targets
            "hard 256 one mesh forward <= 10 ms": hard_256,
            "soft 128 batch 16 forward+backward <= 300 ms": soft_128,
            "fast >= 20x reference at 256 batch 16 (hard forward; reference extrapolated 16 x B=1)": round(
                16 * find("hard forward", 256, 1)["reference_ms"] / find("hard forward", 256, 16)["fast_ms"], 1),
            "fast vs reference at 256 batch 1 (hard forward, measured)": find("hard forward", 256, 1)["speedup"],
            "fast vs reference at 128 batch 16 (hard forward, measured)": find("hard forward", 128, 16)["speedup"],
            "hard textured 1024 one mesh < 50 ms": find("hard forward", 1024, 1)["fast_ms"],
            "vs PyTorch3D CPU hard 256 (quoted 293 ms)": round(PYTORCH3D_HARD_256_B1_MS / hard_256, 1),
            "vs PyTorch3D CPU soft 128 b16 fwd+bwd (quoted 33 s)": round(PYTORCH3D_SOFT_128_B16_FWDBWD_MS / soft_128, 1),
        },
    }
    return result


def _print_table(result: dict) -> None:
    print(result["machine"])
    print(f"{'case':<50} {'res':>5} {'B':>3} {'fast ms':>10} {'ref ms':>10} {'speedup':>8} {'CUDA':>6}")
    for r in result["rows"]:
        ref = "skipped" if r["reference_ms"] is None else f"{r['reference_ms']:.1f}"
        speedup = "-" if r["speedup"] is None else f"{r['speedup']:.1f}x"
        print(f"{r['case']:<50} {r['resolution']:>5} {r['batch']:>3} {r['fast_ms']:>10.2f} {ref:>10} {speedup:>8} "
              f"{'n/a':>6}")
    for name, value in result["targets"].items():
        print(f"  {name}: {value}")


if __name__ == "__main__":
    _print_table(main())
