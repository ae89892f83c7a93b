"""Mesh sampling and export speed on this machine (ENG-MESH).

1. ``displacement_to_vertices`` (explicit 4-tap gather) against the original formulation as the baseline:
   circular pad + remapped grid + ``grid_sample(align_corners=True)`` + tangent frames + mirror scatter,
   forward and forward+backward (training differentiates through it), batch 1 and 32.
2. Export cost per 512² mesh (OBJ+MTL+PNG, GLB) against the baseline of generating that mesh with the paper's
   generator (folded, fp32, batch 8) in the same run: is export a bottleneck of ``python -m backend.generate``?

Run: ``python -m benchmarks.bench_mesh`` (table) or via ``make bench`` (JSON).
"""
from __future__ import annotations

import tempfile
import time
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from backend.export import export_mesh
from backend.sampling import MeshGenerator
from backend.mesh import displacement_to_vertices, tangent_frames, uv_sphere
from backend.models import random_init_model


def original_sampling(template):
    """The original's grid_sample formulation (§2.4), precomputed constants included."""
    pos = torch.as_tensor(template.positive_indices.copy())
    grid = torch.as_tensor(template.vertex_grid.copy())[pos]
    delta, e = 1 / 64, 33 / 32
    sample_grid = torch.stack([(grid[:, 0] + 1 + 2 * delta - e) / e, grid[:, 1]], -1)[None, None]
    frames = torch.as_tensor(tangent_frames(template.vertices[template.positive_indices].astype(np.float64)),
                             dtype=torch.float32)
    rest = torch.as_tensor(template.vertices.copy())
    negative = torch.as_tensor(np.flatnonzero(template.vertices[:, 0] < -1e-6))
    partner = torch.as_tensor(template.mirror_index.copy())[negative]
    slot = torch.full((len(rest),), -1, dtype=torch.int64)
    slot[pos] = torch.arange(len(pos))
    plane = torch.as_tensor(template.plane_indices.copy())

    def run(disp):
        padded = torch.cat([disp[..., -1:], disp, disp[..., :1]], dim=-1)
        samples = F.grid_sample(padded, sample_grid.expand(len(disp), -1, -1, -1), align_corners=True)[:, :, 0]
        offsets = torch.einsum("bcs,scx->bsx", samples, frames)
        full = torch.zeros(len(disp), len(rest), 3)
        full = full.index_copy(1, pos, offsets)
        mirrored = offsets[:, slot[partner]] * torch.tensor([-1.0, 1.0, 1.0])
        full = full.index_copy(1, negative, mirrored)
        full[:, plane, 0] = 0
        return rest + full
    return run


def best_time(fn: Callable[[], object], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_sampling() -> dict:
    template = uv_sphere(31)
    baseline = original_sampling(template)
    result = {}
    for batch in (1, 32):
        disp = torch.randn(batch, 3, 32, 32, requires_grad=True)
        torch.testing.assert_close(baseline(disp), displacement_to_vertices(template, disp), atol=1e-4, rtol=0)
        for mode in ("forward", "forward_backward"):
            def ours():
                out = displacement_to_vertices(template, disp)
                if mode == "forward_backward":
                    out.square().sum().backward()

            def theirs():
                out = baseline(disp)
                if mode == "forward_backward":
                    out.square().sum().backward()
            t_ours, t_base = best_time(ours, 50), best_time(theirs, 50)
            result[f"b{batch}_{mode}"] = {"ours_ms": round(t_ours * 1e3, 3), "grid_sample_ms": round(t_base * 1e3, 3),
                                          "speedup": round(t_base / t_ours, 2)}
    return result


def bench_export() -> dict:
    generator = MeshGenerator(random_init_model("paper", seed=0), device="cpu")
    list(generator.generate(1, seed=0, batch_size=1))                                    # warm-up
    start = time.perf_counter()
    meshes = list(generator.generate(8, seed=0, batch_size=8))
    generate_s = (time.perf_counter() - start) / 8
    result = {"generate_paper_b8_s_per_mesh": round(generate_s, 4)}
    with tempfile.TemporaryDirectory() as tmp:
        for file_format in ("obj", "glb"):
            start = time.perf_counter()
            for j, mesh in enumerate(meshes):
                export_mesh(tmp, f"mesh_{j}", mesh.vertices, mesh.texture, generator.template, file_format)
            per_mesh = (time.perf_counter() - start) / len(meshes)
            result[f"export_{file_format}_s_per_mesh"] = round(per_mesh, 4)
            result[f"export_{file_format}_vs_generate"] = round(per_mesh / generate_s, 3)
    return result


def main() -> dict:
    torch.manual_seed(0)
    return {"threads": torch.get_num_threads(), "sampling": bench_sampling(), "export": bench_export()}


if __name__ == "__main__":
    out = main()
    print(f"threads: {out['threads']}")
    print(f"{'displacement_to_vertices':28s} {'ours ms':>9s} {'grid_sample ms':>15s} {'speedup':>8s}")
    for case, row in out["sampling"].items():
        print(f"{case:28s} {row['ours_ms']:9.3f} {row['grid_sample_ms']:15.3f} {row['speedup']:8.2f}")
    e = out["export"]
    print(f"generate (paper, batch 8):   {e['generate_paper_b8_s_per_mesh']:.3f} s/mesh")
    for fmt in ("obj", "glb"):
        print(f"export {fmt}:                  {e[f'export_{fmt}_s_per_mesh']:.3f} s/mesh "
              f"({e[f'export_{fmt}_vs_generate']:.2f} x generation)")
