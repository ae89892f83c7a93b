"""Add-on benchmark: building generated meshes into a Blender scene, and the button-to-scene round trip.

    .venv/bin/python -m benchmarks.bench_addon

Runs in a child process (its own bpy, its own BLENDER_USER_RESOURCES) with a real backend
(``python -m backend.serve --random_init small``) and the built extension zip installed by Blender's installer.

Every figure is the best of 3 runs (the machine is shared and noisy).

* build: N = 1, 10, 100 objects from pre-fetched results through the add-on's apply step
  (``applier.build_result``: foreach_set mesh, UVs, packed image, material, custom properties) — no generation.
  Baseline in the same run: the temporary-file route the add-on avoids (write OBJ + MTL + PNG, then Blender's
  OBJ importer). Reported ratio: baseline time / add-on time (higher is better).
* end to end: ``bpy.ops.gan3d.generate`` (count 10, small config, 128² textures) until the 10 objects are in
  the scene, driven by the apply function as the timer would. Baseline: the same request with the blocking
  protocol client and no Blender (pure backend time). Reported ratio: end-to-end / backend-only (the add-on's
  overhead; 1.0 would be free).
"""
from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
SIZES = (1, 10, 100)
REPEATS = 3


def main() -> dict:
    """Run the measurements in a child process and return its figures."""
    sys.path.insert(0, str(ROOT))
    import build_addon

    with tempfile.TemporaryDirectory(prefix="bench_addon_") as tmp:
        tmp_path = pathlib.Path(tmp)
        zips = build_addon.build(tmp_path / "dist", ROOT / "build" / "wheels", platforms=("linux-x64",), legacy=False)
        out = tmp_path / "result.json"
        env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "user"))
        subprocess.run([sys.executable, "-m", "benchmarks.bench_addon", "--child", str(zips[0]), str(out)],
                       cwd=ROOT, env=env, check=True, start_new_session=True)
        result = json.loads(out.read_text())
    _print_table(result)
    return result


def _print_table(result: dict) -> None:
    print(f"{'objects':>8} {'add-on build (s)':>17} {'per object (ms)':>16} {'OBJ import (s)':>15} {'speed-up':>9}")
    for row in result["build"]:
        print(f"{row['n']:>8} {row['addon_s']:>17.3f} {row['addon_ms_per_object']:>16.1f} "
              f"{row['obj_import_s']:>15.3f} {row['speedup_vs_obj_import']:>8.1f}x")
    e2e = result["end_to_end"]
    print(f"button -> {e2e['count']} cars in scene: {e2e['addon_s']:.2f} s; backend alone {e2e['backend_only_s']:.2f} s; "
          f"ratio {e2e['ratio_vs_backend']:.2f}")


# -- child process -------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _clear_generated(bpy) -> None:
    collection = bpy.data.collections.get("Generated")
    if collection is not None:
        for obj in list(collection.objects):
            bpy.data.objects.remove(obj)
    for obj in [o for o in bpy.data.objects if o.type == "MESH"]:
        bpy.data.objects.remove(obj)
    for block in (bpy.data.meshes, bpy.data.materials, bpy.data.images):
        for item in list(block):
            if item.users == 0:
                block.remove(item)


def _write_obj(folder: pathlib.Path, index: int, mesh, topology) -> pathlib.Path:
    """OBJ + MTL + PNG of one result, as a temporary-file importer would need."""
    from PIL import Image
    import numpy as np

    name = f"mesh_{index}"
    Image.fromarray(np.ascontiguousarray(mesh.texture)).save(folder / f"{name}.png")
    (folder / f"{name}.mtl").write_text(f"newmtl {name}\nKd 1 1 1\nmap_Kd {name}.png\n")
    v = mesh.vertices
    lines = [f"mtllib {name}.mtl", f"o {name}"]
    lines += [f"v {x:.6f} {z:.6f} {-y:.6f}" for x, y, z in v]  # Y-up file, Blender's importer turns it back
    lines += [f"vt {u:.6f} {w:.6f}" for u, w in topology.uvs]
    lines.append(f"usemtl {name}")
    faces, face_uvs = topology.faces + 1, topology.face_uvs + 1
    lines += ["f " + " ".join(f"{a}/{b}" for a, b in zip(f, t)) for f, t in zip(faces, face_uvs)]
    path = folder / f"{name}.obj"
    path.write_text("\n".join(lines) + "\n")
    return path


def child(zip_path: str, out_path: str) -> None:
    import bpy

    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    backend = subprocess.Popen([sys.executable, "-m", "backend.serve", "--random_init", "small", "--bind", address],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        bpy.ops.wm.read_factory_settings(use_empty=True)
        bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
        name = "bl_ext.user_default.gan3d"
        addon = sys.modules[name]
        applier = sys.modules[name + ".applier"]
        runtime = addon.runtime
        prefs = bpy.context.preferences.addons[name].preferences
        prefs.server_address, prefs.timeout = address, 60.0
        deadline = time.monotonic() + 180
        while runtime.STATE.connection.info is None and time.monotonic() < deadline:
            bpy.ops.gan3d.connect()
            addon.wait_until_idle(60)
            if runtime.STATE.connection.info is None:
                time.sleep(1.0)
        info = runtime.STATE.connection.info
        if info is None:
            raise SystemExit(f"bench_addon: backend did not start: {runtime.STATE.connection.error}")
        model = info.model()

        # Pre-fetched results: 10 distinct meshes, reused cyclically (build cost does not depend on content).
        with addon.protocol.Client(address, timeout=120) as client:
            meshes = client.generate(count=10, seed=0, model=model.name)  # also warms the backend up
        Provenance = sys.modules[name + ".object_properties"].Provenance
        build_rows = []
        scratch = pathlib.Path(tempfile.mkdtemp(prefix="obj_"))
        for n in SIZES:
            slots = [runtime.Slot(Provenance(model.name, "", -1, j, 1.0, 4.5, model.texture_size, True),
                                  location=(6.0 * j, 0.0, 0.0)) for j in range(n)]
            addon_times, obj_times = [], []
            for _ in range(REPEATS):
                _clear_generated(bpy)
                job = runtime.JobState(job_id=-1, label="bench", scene_name=bpy.context.scene.name, slots=slots)
                start = time.perf_counter()
                for j in range(n):
                    applier.build_result(job, j, meshes[j % len(meshes)])
                addon_times.append(time.perf_counter() - start)
                _clear_generated(bpy)
                start = time.perf_counter()
                for j in range(n):
                    path = _write_obj(scratch, j, meshes[j % len(meshes)], info.topology)
                    bpy.ops.wm.obj_import(filepath=str(path))
                obj_times.append(time.perf_counter() - start)
            addon_s, obj_s = min(addon_times), min(obj_times)
            build_rows.append({"n": n, "addon_s": round(addon_s, 4), "addon_ms_per_object": round(1000 * addon_s / n, 2),
                               "obj_import_s": round(obj_s, 4), "speedup_vs_obj_import": round(obj_s / addon_s, 2)})
        _clear_generated(bpy)

        # Baseline (the blocking client alone) and end to end (operator + apply function), alternated (order
        # swapped every run) because the machine is shared; best of REPEATS runs, each with fresh seeds.
        settings = bpy.context.scene.gan3d
        settings.count, settings.randomise_seed, settings.placement = 10, False, "GRID"
        settings.snap_to_ground = False
        backend_times, e2e_times = [], []
        client = addon.protocol.Client(address, timeout=120)  # connected once, like the add-on's IO thread
        client.info()

        def backend_run(repeat):
            start = time.perf_counter()
            client.generate(count=10, seed=1000 + 20 * repeat, model=model.name, texture_size=model.texture_size)
            backend_times.append(time.perf_counter() - start)

        def addon_run(repeat):
            _clear_generated(bpy)
            settings.seed = 1010 + 20 * repeat
            start = time.perf_counter()
            bpy.ops.gan3d.generate()
            addon.wait_until_idle(600)
            e2e_times.append(time.perf_counter() - start)

        for repeat in range(REPEATS):
            for run in ((backend_run, addon_run) if repeat % 2 == 0 else (addon_run, backend_run)):
                run(repeat)
        client.close()
        backend_only, e2e = min(backend_times), min(e2e_times)
        built = len(bpy.data.collections["Generated"].objects)
        result = {
            "machine": "this CPU (2 cores shared with other engineers' jobs)",
            "texture_size": model.texture_size,
            "build": build_rows,
            "end_to_end": {"count": 10, "built": built, "addon_s": round(e2e, 3),
                           "backend_only_s": round(backend_only, 3), "ratio_vs_backend": round(e2e / backend_only, 3)},
        }
        runtime.shutdown()
        pathlib.Path(out_path).write_text(json.dumps(result, indent=2))
    finally:
        backend.terminate()
        try:
            backend.wait(15)
        except subprocess.TimeoutExpired:
            backend.kill()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], sys.argv[3])
    else:
        print(json.dumps(main(), indent=2))
