"""Scene population benchmark: 500 cars on a 200 m × 200 m terrain with an Avoid collection of 20 buildings.

    .venv/bin/python -m benchmarks.bench_population [--count 500]

Runs in a child process (its own bpy and BLENDER_USER_RESOURCES) with a real backend serving the embedded default
model (``python -m backend.serve``) and the built extension zip installed by Blender's installer.

* from the button to all objects built: ``bpy.ops.gan3d.generate`` (Scatter on Surface, random yaw, lengths
  4.0–5.2 m, Width 0.5, spacing 1 m, Align to Surface, Avoid = 20 buildings) until the last car is in the scene,
  with the add-on's own timer callback (``applier.timer``) called the way Blender calls it (again after the
  interval it returns); reports the operator's time (reading the scene on Blender's main thread; above 100 objects
  the layout itself is planned on a thread) and the longest timer callback (target: at most 50 ms);
* zero overlaps, checked on the BUILT objects: every pair of world-space (oriented) bounding boxes of the cars and
  the buildings, by the separating axis theorem;
* baseline in the same run: the same 500 meshes from the backend with the blocking protocol client and no Blender
  (ratio end to end / backend alone: the add-on's overhead);
* Blender's undo step for the batch (pushed in the job's last callback) and an undo push with nothing changed (what
  every later operator in the scene pays), with the default *Materials* preference (a Principled BSDF in every
  material: the baseline) and again for the same batch with the shared surface group.
"""
from __future__ import annotations

import json
import math
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
COUNT = 500


def main(argv: list[str] | None = None) -> dict:
    """Run the measurement in a child process and return its figures."""
    argv = sys.argv[1:] if argv is None else argv
    count = int(argv[argv.index("--count") + 1]) if "--count" in argv else COUNT
    sys.path.insert(0, str(ROOT))
    import build_addon

    with tempfile.TemporaryDirectory(prefix="bench_population_") as tmp:
        tmp_path = pathlib.Path(tmp)
        zips = build_addon.build(tmp_path / "dist", ROOT / "build" / "wheels", platforms=("linux-x64",), legacy=False)
        out = tmp_path / "result.json"
        env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "user"))
        subprocess.run([sys.executable, "-m", "benchmarks.bench_population", "--child", str(zips[0]), str(out),
                        str(count)], cwd=ROOT, env=env, check=True, start_new_session=True)
        result = json.loads(out.read_text())
    e = result
    print(f"{e['count']} cars on 200 m x 200 m, 20 buildings to avoid ({e['model']}, {e['texture_size']} px): "
          f"button -> all built {e['end_to_end_s']:.2f} s (backend alone {e['backend_only_s']:.2f} s, "
          f"ratio {e['ratio_vs_backend']:.2f}); operator {e['operator_ms']:.0f} ms; longest timer "
          f"callback {e['longest_timer_ms']:.1f} ms (p99 {e['p99_timer_ms']:.1f} ms, {e['timer_calls']} calls; "
          f"without Blender's undo step of {e['undo_push_ms']:.0f} ms: {e['longest_timer_without_undo_ms']:.1f} ms); "
          f"undo step with nothing changed {e['steady_undo_push_ms']:.1f} ms; Materials = shared surface group: "
          f"batch undo step {e['shared_materials']['undo_push_ms']:.0f} ms, unchanged "
          f"{e['shared_materials']['steady_undo_push_ms']:.1f} ms; "
          f"overlaps: {e['overlaps']} (cars {e['car_pairs_checked']} pairs, buildings {e['building_pairs_checked']})")
    return result


# -- child process -------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _terrain(bpy, np):
    """A 200 m square grid (100 x 100 cells) with gentle hills (slopes under about 10°)."""
    bpy.ops.mesh.primitive_grid_add(x_subdivisions=101, y_subdivisions=101, size=200.0)
    terrain = bpy.context.active_object
    terrain.name = "Terrain"
    co = np.empty(len(terrain.data.vertices) * 3)
    terrain.data.vertices.foreach_get("co", co)
    co = co.reshape(-1, 3)
    co[:, 2] = 2.0 * np.sin(co[:, 0] / 25.0) * np.cos(co[:, 1] / 30.0)
    terrain.data.vertices.foreach_set("co", co.reshape(-1))
    terrain.data.update()
    return terrain


def _buildings(bpy, np, count=20):
    """``count`` boxes (8–25 m wide, 6–30 m tall, turned) in a collection "Buildings", not linked to the scene's
    root collection."""
    collection = bpy.data.collections.new("Buildings")
    bpy.context.scene.collection.children.link(collection)
    rng = np.random.default_rng(20)
    for k in range(count):
        sx, sy, sz = rng.uniform(8, 25), rng.uniform(8, 25), rng.uniform(6, 30)
        bpy.ops.mesh.primitive_cube_add(size=1.0, location=(rng.uniform(-85, 85), rng.uniform(-85, 85), sz / 2),
                                        rotation=(0.0, 0.0, rng.uniform(0, math.pi)))
        obj = bpy.context.active_object
        obj.name, obj.scale = f"Building{k:02d}", (sx, sy, sz)
        for c in list(obj.users_collection):
            c.objects.unlink(obj)
        collection.objects.link(obj)
    return collection


def world_boxes(objects, np):
    """(N, 8, 3) world-space bounding-box corners."""
    out = []
    for obj in objects:
        m = np.array(obj.matrix_world)
        out.append(np.array([tuple(c) for c in obj.bound_box]) @ m[:3, :3].T + m[:3, 3])
    return np.array(out)


def overlapping_pairs(a, b, np, same: bool):
    """Pairs of boxes (8 corners each, Blender's bound_box order) of ``a`` and ``b`` that intersect: a broad phase on
    world axis-aligned boxes, then the separating axis theorem (15 axes) on the candidates."""
    lo_a, hi_a, lo_b, hi_b = a.min(1), a.max(1), b.min(1), b.max(1)
    hits = []
    for i in range(len(a)):
        near = np.flatnonzero(np.all((lo_a[i] < hi_b) & (lo_b < hi_a[i]), axis=1))
        for j in near:
            if (same and j <= i) or not _sat(a[i], b[j], np):
                continue
            hits.append((i, int(j)))
    return hits


def _sat(p, q, np, tol=1e-5) -> bool:
    ep = [p[4] - p[0], p[3] - p[0], p[1] - p[0]]
    eq = [q[4] - q[0], q[3] - q[0], q[1] - q[0]]
    for axis in [*ep, *eq, *(np.cross(x, y) for x in ep for y in eq)]:
        n = np.linalg.norm(axis)
        if n < 1e-9:
            continue
        pp, qq = p @ (axis / n), q @ (axis / n)
        if pp.max() <= qq.min() + tol or qq.max() <= pp.min() + tol:
            return False
    return True


def child(zip_path: str, out_path: str, count: int) -> None:
    import bpy
    import numpy as np

    address = f"tcp://127.0.0.1:{_free_port()}"
    backend = subprocess.Popen([sys.executable, "-m", "backend.serve", "--bind", address], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        bpy.ops.wm.read_factory_settings(use_empty=True)
        bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
        name = "bl_ext.user_default.gan3d"
        addon = sys.modules[name]
        applier = sys.modules[name + ".applier"]
        runtime = addon.runtime
        prefs = bpy.context.preferences.addons[name].preferences
        prefs.server_address, prefs.timeout = address, 120.0
        deadline = time.monotonic() + 300
        while runtime.STATE.connection.info is None and time.monotonic() < deadline:
            bpy.ops.gan3d.connect()
            addon.wait_until_idle(60)
            if runtime.STATE.connection.info is None:
                time.sleep(1.0)
        info = runtime.STATE.connection.info
        if info is None:
            raise SystemExit(f"bench_population: backend did not start: {runtime.STATE.connection.error}")
        model = info.model()
        with addon.protocol.Client(address, timeout=300) as client:
            client.generate(count=8, seed=0)                       # warm the backend up

        terrain = _terrain(bpy, np)
        buildings = _buildings(bpy, np)
        bpy.context.view_layer.objects.active = terrain
        terrain.select_set(True)
        bpy.context.view_layer.update()
        s = bpy.context.scene.gan3d
        s.placement, s.count_mode, s.count, s.randomise_seed, s.seed = "SCATTER", "COUNT", count, False, 7
        s.random_yaw, s.use_length_range, s.target_length, s.length_max = True, True, 4.0, 5.2
        s.width_ratio, s.spacing, s.align_to_surface, s.max_slope = 0.5, 1.0, True, math.radians(30)
        s.avoid_collection, s.avoid_generated = buildings, True

        def batch(style: str) -> dict:
            """One batch with the *Materials* preference ``style``: timer callbacks, Blender's undo step for the
            batch, and afterwards a push with nothing changed (what every later operator's undo step costs)."""
            prefs.material_style = style
            timer_ms: list[float] = []
            timer_cpu_ms: list[float] = []
            undo_ms: list[float] = []
            push_undo = applier._push_undo

            def timed_undo(message):      # Blender's own undo step for the batch (memfile undo)
                t0 = time.perf_counter()
                push_undo(message)
                undo_ms.append((time.perf_counter() - t0) * 1e3)

            applier._push_undo = timed_undo
            start = time.perf_counter()
            bpy.ops.gan3d.generate()
            operator_s = time.perf_counter() - start
            while runtime.running_jobs():     # the planning job, then the job that builds the objects
                t, c = time.perf_counter(), time.thread_time()
                interval = applier.timer()                     # what Blender's timer calls, as often as it asks
                timer_ms.append((time.perf_counter() - t) * 1e3)
                timer_cpu_ms.append((time.thread_time() - c) * 1e3)
                time.sleep(interval)
            end_to_end = time.perf_counter() - start
            applier._push_undo = push_undo
            job = max(runtime.STATE.jobs.values(), key=lambda j: j.finished)
            if job.status != "done":
                raise SystemExit(f"bench_population: the job ended {job.status}: {job.message}")
            steady = []
            for k in range(3):
                t0 = time.perf_counter()
                bpy.ops.ed.undo_push(message=f"bench {style} {k}")
                steady.append((time.perf_counter() - t0) * 1e3)
            timer = np.array(timer_ms)
            without_undo = timer.copy()
            without_undo[-1] -= sum(undo_ms)       # the undo step is pushed in the job's last callback
            return {"end_to_end_s": end_to_end, "operator_s": operator_s, "timer": timer,
                    "timer_cpu_ms": timer_cpu_ms, "undo_push_ms": round(sum(undo_ms), 1),
                    "steady_undo_push_ms": round(min(steady), 1), "without_undo": without_undo}

        first = batch("PRINCIPLED")
        timer, timer_cpu_ms, without_undo = first["timer"], first["timer_cpu_ms"], first["without_undo"]
        end_to_end, operator_s = first["end_to_end_s"], first["operator_s"]
        cars = list(bpy.data.collections["Generated"].objects)
        car_boxes = world_boxes(cars, np)
        building_boxes = world_boxes(list(buildings.objects), np)
        car_hits = overlapping_pairs(car_boxes, car_boxes, np, same=True)
        building_hits = overlapping_pairs(car_boxes, building_boxes, np, same=False)

        with addon.protocol.Client(address, timeout=300) as client:   # baseline: the backend alone
            t = time.perf_counter()
            client.generate(count=count, seed=1_000_000, model=model.name)
            backend_only = time.perf_counter() - t

        # the other material style: the same batch again with the shared surface group
        scene_builder = sys.modules[name + ".scene_builder"]
        for obj in cars:
            mesh = obj.data
            bpy.data.objects.remove(obj)
            scene_builder.remove_mesh_with_materials(mesh)
        bpy.ops.ed.undo_push(message="bench: cars removed")
        shared = batch("SHARED")
        result = {
            "machine": "this CPU (2 cores shared with a training run)",
            "count": count, "built": len(cars), "model": model.name, "texture_size": model.texture_size,
            "end_to_end_s": round(end_to_end, 3), "backend_only_s": round(backend_only, 3),
            "ratio_vs_backend": round(end_to_end / backend_only, 3),
            "operator_ms": round(operator_s * 1e3, 1),
            "longest_timer_ms": round(float(timer.max()), 2), "p99_timer_ms": round(float(np.percentile(timer, 99)), 2),
            "median_timer_ms": round(float(np.median(timer)), 2), "timer_calls": len(timer),
            "longest_timer_cpu_ms": round(max(timer_cpu_ms), 2),
            "undo_push_ms": first["undo_push_ms"],
            "steady_undo_push_ms": first["steady_undo_push_ms"],
            "longest_timer_without_undo_ms": round(float(without_undo.max()), 2),
            "shared_materials": {
                "undo_push_ms": shared["undo_push_ms"],
                "steady_undo_push_ms": shared["steady_undo_push_ms"],
                "longest_timer_ms": round(float(shared["timer"].max()), 2),
                "longest_timer_without_undo_ms": round(float(shared["without_undo"].max()), 2),
                "end_to_end_s": round(shared["end_to_end_s"], 3)},
            "undo_push_ratio_shared_over_principled": round(
                shared["undo_push_ms"] / max(first["undo_push_ms"], 1e-3), 3),
            "steady_undo_push_ratio_shared_over_principled": round(
                shared["steady_undo_push_ms"] / max(first["steady_undo_push_ms"], 1e-3), 3),
            "slowest_calls": [[int(i), round(float(timer[i]), 1), round(timer_cpu_ms[i], 1)]
                              for i in np.argsort(-timer)[:5]],
            "overlaps": len(car_hits) + len(building_hits), "car_overlaps": len(car_hits),
            "building_overlaps": len(building_hits),
            "car_pairs_checked": count * (count - 1) // 2, "building_pairs_checked": count * len(building_boxes),
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
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        print(json.dumps(main(), indent=2))
