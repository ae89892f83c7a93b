"""One prepared run of the CUDA paths, for a session that is lent a GPU for a few minutes.

Each section runs the project's own code on the chosen device and, where it makes sense, the same work on this
machine's CPU in the same run, so every figure comes with a ratio measured side by side:

* ``env``: torch, the device's name, memory and capability; which optional packages import (pyzmq for the
  server, warp for the fast renderer).
* ``generator``: seconds per sample of the inference form (``fold_generator``, what ``load_model`` returns) for
  the ``paper`` and ``small`` configurations at batch 1 and 8, fp32 and bf16; the CPU fp32 figure as baseline.
* ``gan``: seconds per G step and per D step of ``GANTrainer`` for the ``cpu`` preset (batch 16) and the
  ``paper`` preset (batch 32), fp32 and bf16 autocast (``--amp``); and the first losses of a ``tiny`` run on the
  device against the same run on the CPU (same seed, same data): their relative difference.
* ``render``: the hard textured render (reference implementation; the Warp one too when warp imports) at 128²,
  batch 4, forward and forward+backward, device vs CPU, and the largest pixel difference between the two.
* ``server``: ``python -m backend.serve --device DEVICE`` with the shipped default model on loopback, 16 meshes
  asked for over ZeroMQ by the project's client; seconds to the first and to the last mesh, and their largest
  difference from the same meshes generated in-process on the CPU.

The JSON is rewritten after each section, so a run stopped at its time limit keeps what it measured. A failing
section records its error and the others still run. ``--quick`` shrinks every section to the ``tiny``/``small``
configurations and one repeat (the test suite runs it on the CPU).

    python scripts/device_check.py --out DIR [--device auto|cpu|cuda|cuda:N] [--quick] [--sections env,gan]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import traceback
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402

SECTIONS = ("env", "generator", "gan", "render", "server")
DEFAULT_MODEL = REPO / "backend" / "models" / "default" / "car.safetensors"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Median wall seconds of ``repeats`` calls after one warm-up call (device work included)."""
    fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def section_env(device: torch.device, quick: bool) -> dict:
    import importlib.util

    out = {"torch": torch.__version__, "python": sys.version.split()[0], "device": str(device),
           "cpu_threads": torch.get_num_threads(),
           "packages": {name: importlib.util.find_spec(name) is not None
                        for name in ("zmq", "warp", "trimesh", "safetensors", "scipy", "tqdm")}}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        out.update(name=props.name, memory_gib=round(props.total_memory / 2**30, 1),
                   capability=f"{props.major}.{props.minor}", multiprocessors=props.multi_processor_count,
                   cuda=torch.version.cuda, bf16=torch.cuda.is_bf16_supported())
    return out


def section_generator(device: torch.device, quick: bool) -> dict:
    from backend.models import PRESETS, fold_generator
    from benchmarks.bench_generator import calibrated_generator

    cases = [("small", 2)] if quick else [("paper", 1), ("paper", 8), ("small", 1), ("small", 8)]
    repeats = 1 if quick else 5
    rows = []
    for name, batch in cases:
        config = PRESETS[name]
        plain = calibrated_generator(config)
        z = torch.randn(batch, config.latent_dim, generator=torch.Generator().manual_seed(0))
        row = {"config": name, "batch": batch}
        cpu_net = fold_generator(plain, channels_last=True)
        with torch.no_grad():
            row["cpu_fp32_s_per_sample"] = timed(lambda: cpu_net(z), torch.device("cpu"), 1) / batch
            cpu_texture, cpu_mesh = cpu_net(z)
        for label, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            net = fold_generator(plain, channels_last=True, dtype=dtype).to(device)
            zd = z.to(device)
            with torch.no_grad():
                row[f"device_{label}_s_per_sample"] = timed(lambda: net(zd), device, repeats) / batch
                texture, mesh = net(zd)
            row[f"device_{label}_max_texture_diff_vs_cpu"] = float((texture.float().cpu() - cpu_texture).abs().max())
            row[f"device_{label}_max_mesh_diff_vs_cpu"] = float((mesh.float().cpu() - cpu_mesh).abs().max())
        row["speedup_fp32"] = row["cpu_fp32_s_per_sample"] / row["device_fp32_s_per_sample"]
        rows.append(row)
    return {"rows": rows}


def _trainer(preset: str, device: torch.device, root: Path, amp: bool = False):
    from tests.gan.conftest import write_tiny_pseudogt
    from training.engine import Distributed
    from training.gan import PRESETS, GANTrainer
    from training.pseudogt import open_pseudogt

    config = PRESETS[preset]
    folder = root / f"pg_{config.generator.texture_resolution}_{config.batch_size}"
    if not folder.exists():
        root.mkdir(parents=True, exist_ok=True)
        write_tiny_pseudogt(folder, count=config.batch_size, resolution=config.generator.texture_resolution)
    return GANTrainer(config, open_pseudogt(folder), Distributed(device=device), amp=amp)


def section_gan(device: torch.device, quick: bool, root: Path) -> dict:
    presets = ["tiny"] if quick else ["cpu_gan", "paper"]
    amp_options = [False, True] if device.type == "cuda" else [False]
    repeats = 1 if quick else 5
    rows = []
    for preset in presets:
        for amp in amp_options:
            trainer = _trainer(preset, device, root, amp=amp)
            g = timed(lambda: trainer.train_step("g"), device, repeats)
            d = timed(lambda: trainer.train_step("d"), device, repeats)
            rows.append({"preset": preset, "batch": trainer.config.batch_size, "amp_bf16": amp,
                         "g_step_s": g, "d_step_s": d, "update_s_mean": (g + 2 * d) / 3,
                         "peak_memory_gib": (torch.cuda.max_memory_allocated(device) / 2**30
                                             if device.type == "cuda" else None)})
            del trainer
            if device.type == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats(device)
    # The same tiny run on both devices: losses of a D step then a G step from identical weights and data.
    agreement = {}
    losses = {}
    for where in dict.fromkeys([torch.device("cpu"), device]):  # once when the device is the CPU
        trainer = _trainer("tiny", where, root)
        first = trainer.train_step("d").losses
        second = trainer.train_step("g").losses
        losses[where.type] = {**first, **second}
    if device.type != "cpu":
        for key, value in losses["cpu"].items():
            other = losses[device.type][key]
            agreement[key] = abs(other - value) / max(abs(value), 1e-8)
    return {"rows": rows, "tiny_losses": losses, "tiny_relative_difference_vs_cpu": agreement}


def section_render(device: torch.device, quick: bool) -> dict:
    import importlib.util

    from backend.mesh import uv_sphere
    from backend.render import random_view_poses, render_textured

    template = uv_sphere()
    faces = torch.from_numpy(np.array(template.faces))
    uvs = torch.from_numpy(np.array(template.uvs)).float()
    face_uvs = torch.from_numpy(np.array(template.face_uvs))
    base = torch.from_numpy(np.array(template.vertices)).float()
    # The reference renderer is dense (pixels x faces): on a CPU, 128² at batch 4 already takes seconds.
    batch, resolution = (2, 64) if quick else (4, 128)
    gen = torch.Generator().manual_seed(0)
    vertices = base[None] * (0.9 + 0.1 * torch.rand(batch, base.shape[0], 1, generator=gen))
    texture = torch.rand(batch, 3, 512, 512, generator=gen) * 2 - 1
    pose = random_view_poses(batch, seed=1)
    impls = ["reference"] + (["fast"] if importlib.util.find_spec("warp") is not None else [])
    repeats = 1 if quick else 5
    rows = []
    for impl in impls:
        images = {}
        for where in dict.fromkeys([torch.device("cpu"), device]):  # once when the device is the CPU
            args = [x.to(where) for x in (vertices, faces, uvs, face_uvs, texture)]
            p = pose.to(where)

            def forward(args=args, p=p):
                with torch.no_grad():
                    return render_textured(*args, p, resolution, impl=impl).image

            def backward(args=args, p=p):
                v = args[0].clone().requires_grad_(True)
                tex = args[4].clone().requires_grad_(True)
                render_textured(v, args[1], args[2], args[3], tex, p, resolution, impl=impl).image.sum().backward()

            n = repeats if where.type != "cpu" else 1  # the CPU baseline once: it is the slow side
            row = {"impl": impl, "where": where.type, "batch": batch, "resolution": resolution,
                   "forward_s": timed(forward, where, n), "forward_backward_s": timed(backward, where, n)}
            images[where.type] = forward().float().cpu()
            rows.append(row)
        if device.type != "cpu":
            rows[-1]["max_pixel_diff_vs_cpu"] = float((images[device.type] - images["cpu"]).abs().max())
            rows[-1]["forward_speedup"] = rows[-2]["forward_s"] / rows[-1]["forward_s"]
    return {"rows": rows}


def section_server(device: torch.device, quick: bool, root: Path) -> dict:
    from backend.models import load_model
    from backend.protocol.connection import Client
    from backend.sampling import MeshGenerator
    from tests.server.conftest import start_server

    count = 4 if quick else 16
    server = start_server(root, "--checkpoint", str(DEFAULT_MODEL), "--bind", "tcp://127.0.0.1:0",
                          "--device", str(device), timeout=180)
    try:
        with Client(server.address, timeout=120) as client:
            info = client.info()
            start = time.perf_counter()
            first = None
            meshes = []
            for mesh in client.generate_stream(count, seed=0):
                first = first or time.perf_counter() - start
                meshes.append(mesh)
            total = time.perf_counter() - start
    finally:
        server.stop()
    result = {"address": server.address, "count": len(meshes), "first_mesh_s": first, "all_meshes_s": total,
              "s_per_mesh": total / max(len(meshes), 1), "server_info": str(info)[:400]}
    # The same model in-process on the CPU: what the server sent must be the same meshes.
    reference = list(MeshGenerator(load_model(DEFAULT_MODEL), device="cpu").generate(count, seed=0))
    result["max_vertex_diff_vs_cpu"] = max(float(np.abs(a.vertices - b.vertices).max())
                                           for a, b in zip(meshes, reference))
    result["max_texture_level_diff_vs_cpu"] = max(int(np.abs(a.texture.astype(int) - b.texture).max())
                                                  for a, b in zip(meshes, reference))
    return result


def run(device: torch.device, sections: list[str], quick: bool, out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    work = out / "work"  # scratch files of the gan and server sections (made by them)
    report: dict = {"device": str(device), "quick": quick, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    path = out / "device_check.json"
    for name in sections:
        start = time.perf_counter()
        print(f"== {name}", flush=True)
        try:
            if name == "env":
                result = section_env(device, quick)
            elif name == "generator":
                result = section_generator(device, quick)
            elif name == "gan":
                result = section_gan(device, quick, work)
            elif name == "render":
                result = section_render(device, quick)
            else:
                result = section_server(device, quick, work)
        except Exception as exc:  # one section's failure must not lose the others
            result = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-3000:]}
        result["section_s"] = round(time.perf_counter() - start, 2)
        report[name] = result
        print(json.dumps(result, indent=1, default=str)[:4000], flush=True)
        partial = path.with_suffix(".json.partial")
        partial.write_text(json.dumps(report, indent=2, default=str))
        os.replace(partial, path)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder for device_check.json (and scratch files)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N")
    parser.add_argument("--quick", action="store_true", help="smallest configurations, one repeat")
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma list of {', '.join(SECTIONS)}")
    args = parser.parse_args(argv)
    sections = [s for s in args.sections.split(",") if s]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown sections {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    want = "cuda" if args.device == "auto" and torch.cuda.is_available() else args.device
    want = "cpu" if want == "auto" else want
    device = torch.device(want)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("error: CUDA was requested but no GPU is available; use --device cpu", file=sys.stderr)
        return 1
    report = run(device, sections, args.quick, Path(args.out))
    failed = [name for name in sections if "error" in report[name]]
    print(f"wrote {Path(args.out) / 'device_check.json'}; sections failed: {', '.join(failed) or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
