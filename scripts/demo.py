"""`make demo`: a backend, the real add-on in headless Blender, a populated scene and its Cycles render.

    .venv/bin/python scripts/demo.py [--out output/demo] [--count 20] [--samples 32]

1. builds the add-on zip for this platform (build_addon.py) and starts ``python -m backend.serve`` on a free
   loopback port with the embedded default model;
2. imports ``bpy``, installs the zip with Blender's extension installer and drives the add-on's own operators:
   half of the cars on a road (Along Curve: 2 lanes on both sides, the left side against the curve), half
   scattered on a parking lot, keeping out of the buildings on it (an Avoid collection);
3. writes ``<out>/scene.blend`` (textures packed) and ``<out>/scene.png`` (Cycles, camera + sun + ground);
4. stops the backend, also when something fails.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import build_addon  # noqa: E402

ADDON_MODULE = "bl_ext.user_default.gan3d"


class DemoError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_backend(port: int, log_path: pathlib.Path) -> subprocess.Popen:
    log = open(log_path, "wb")
    process = subprocess.Popen([sys.executable, "-m", "backend.serve", "--bind", f"tcp://127.0.0.1:{port}"],
                               cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()
    return process


def stop_backend(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _tail(path: pathlib.Path) -> str:
    lines = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
    return lines[-1] if lines else "no output"


def install_addon(bpy, zip_path: pathlib.Path):
    result = bpy.ops.extensions.package_install_files(filepath=str(zip_path), repo="user_default",
                                                      enable_on_install=True)
    if result != {"FINISHED"} or ADDON_MODULE not in sys.modules:
        raise DemoError(f"Blender did not install {zip_path.name} ({result})")
    return sys.modules[ADDON_MODULE]


def connect(bpy, addon, address: str, backend: subprocess.Popen, log_path: pathlib.Path, timeout: float = 300.0):
    """Point the add-on at the backend and wait (polling ``info``) until the backend has loaded its model."""
    prefs = bpy.context.preferences.addons[ADDON_MODULE].preferences
    prefs.server_address = address
    prefs.timeout = 60.0
    deadline = time.monotonic() + timeout
    state = addon.runtime.STATE
    while time.monotonic() < deadline:
        if backend.poll() is not None:
            raise DemoError(f"the backend exited with code {backend.returncode}: {_tail(log_path)}")
        bpy.ops.gan3d.connect()
        addon.wait_until_idle(60)
        if state.connection.info is not None:
            return state.connection.info
        time.sleep(1.0)
    raise DemoError(f"the backend did not answer within {timeout:.0f} s: {state.connection.error}")


def build_set(bpy):
    """Ground, a road (a curve drawn as asphalt), a darker parking lot with buildings on it, sun, sky, a camera."""
    scene = bpy.context.scene
    bpy.ops.mesh.primitive_plane_add(size=400.0, location=(0.0, 0.0, 0.0))
    ground = bpy.context.active_object
    ground.name = "Ground"
    ground.data.materials.append(_flat_material(bpy, "Ground", (0.30, 0.32, 0.28, 1.0), 0.9))
    bpy.ops.mesh.primitive_plane_add(size=1.0, location=(16.0, 4.0, 0.02))
    lot = bpy.context.active_object
    lot.name = "ParkingLot"
    lot.scale = (24.0, 30.0, 1.0)
    bpy.ops.object.transform_apply(scale=True)
    lot.data.materials.append(_flat_material(bpy, "Asphalt", (0.06, 0.06, 0.07, 1.0), 0.7))
    road = _road(bpy)
    buildings = bpy.data.collections.new("Buildings")
    scene.collection.children.link(buildings)
    concrete = _flat_material(bpy, "Concrete", (0.55, 0.53, 0.5, 1.0), 0.8)
    for k, (x, y, sx, sy, sz, yaw) in enumerate(((10.0, 12.0, 7.0, 9.0, 7.0, 0.3), (22.0, -4.0, 6.0, 6.0, 10.0, -0.2),
                                                 (12.0, -8.0, 5.0, 4.0, 4.0, 0.8))):
        bpy.ops.mesh.primitive_cube_add(size=1.0, location=(x, y, sz / 2), rotation=(0.0, 0.0, yaw))
        building = bpy.context.active_object
        building.name, building.scale = f"Building{k}", (sx, sy, sz)
        building.data.materials.append(concrete)
        for collection in list(building.users_collection):
            collection.objects.unlink(building)
        buildings.objects.link(building)

    bpy.ops.object.light_add(type="SUN", location=(0.0, 0.0, 30.0), rotation=(0.75, 0.2, 0.9))
    bpy.context.active_object.data.energy = 3.5
    world = bpy.data.worlds.new("Sky")
    scene.world = world
    world.use_nodes = True
    background = world.node_tree.nodes["Background"]
    background.inputs["Color"].default_value = (0.55, 0.65, 0.8, 1.0)
    background.inputs["Strength"].default_value = 0.8

    bpy.ops.object.camera_add(location=(3.0, -40.0, 27.0), rotation=(0.97, 0.0, 0.0))
    camera = bpy.context.active_object
    camera.data.lens = 28
    scene.camera = camera
    return road, lot, buildings


def _road(bpy):
    """A gently bending road along +y left of the lot: the curve the add-on reads, drawn 15 m wide by a bevel."""
    profile = bpy.data.curves.new("RoadProfile", "CURVE")
    line = profile.splines.new("POLY")
    line.points.add(1)
    line.points[0].co, line.points[1].co = (-7.5, 0.0, 0.0, 1.0), (7.5, 0.0, 0.0, 1.0)
    data = bpy.data.curves.new("Road", "CURVE")
    data.dimensions, data.bevel_mode = "3D", "OBJECT"
    data.bevel_object = bpy.data.objects.new("RoadProfile", profile)
    spline = data.splines.new("BEZIER")
    spline.bezier_points.add(2)
    for point, co in zip(spline.bezier_points, ((-14.0, -30.0, 0.03), (-18.0, 4.0, 0.03), (-13.0, 40.0, 0.03))):
        point.co = co
        point.handle_left_type = point.handle_right_type = "AUTO"
    road = bpy.data.objects.new("Road", data)
    bpy.context.scene.collection.objects.link(road)
    data.materials.append(_flat_material(bpy, "RoadAsphalt", (0.04, 0.04, 0.045, 1.0), 0.6))
    return road


def _flat_material(bpy, name, colour, roughness):
    material = bpy.data.materials.new(name)
    material.use_nodes = True
    principled = material.node_tree.nodes["Principled BSDF"]
    principled.inputs["Base Color"].default_value = colour
    principled.inputs["Roughness"].default_value = roughness
    return material


def populate(bpy, addon, road, lot, buildings, count: int, seed: int) -> list[str]:
    """Half the cars on the road (2 lanes on both sides), the rest scattered on the lot around its buildings."""
    scene = bpy.context.scene
    settings = scene.gan3d
    road_count = count // 2
    settings.randomise_seed, settings.truncation, settings.target_length = False, 1.0, 4.5
    settings.snap_to_ground, settings.spacing, settings.width_ratio = False, 1.5, 0.5

    _activate(bpy, road)
    settings.count, settings.seed, settings.placement, settings.random_yaw = road_count, seed, "CURVE", False
    settings.lanes, settings.lane_width, settings.both_sides, settings.spacing_jitter = 2, 3.5, True, 10.0
    settings.spacing = 10.0       # light traffic: 10-20 m between cars in a lane
    bpy.ops.gan3d.generate()
    _wait_job(addon)
    settings.spacing = 1.5

    _activate(bpy, lot)
    settings.count, settings.seed, settings.placement, settings.random_yaw = count - road_count, seed + 100, \
        "SCATTER", True
    settings.avoid_collection, settings.avoid_generated = buildings, True
    bpy.ops.gan3d.generate()
    _wait_job(addon)
    return [o.name for o in bpy.data.collections["Generated"].objects]


def _activate(bpy, obj) -> None:
    bpy.ops.object.select_all(action="DESELECT")
    obj.select_set(True)
    bpy.context.view_layer.objects.active = obj


def _wait_job(addon) -> None:
    if not addon.wait_until_idle(600):
        raise DemoError("the add-on did not finish the batch within 10 minutes")
    job = max(addon.runtime.STATE.jobs.values(), key=lambda j: j.job_id)
    if job.status != "done":
        raise DemoError(job.message)
    print(f"  {job.message}", flush=True)


def render(bpy, path: pathlib.Path, samples: int, note: str) -> None:
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = samples
    scene.cycles.use_denoising = True
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 1280, 720, 75
    scene.render.use_stamp = True
    for flag in ("date", "time", "render_time", "frame", "camera", "lens", "scene", "filename", "memory",
                 "marker", "frame_range", "hostname", "sequencer_strip"):
        if hasattr(scene.render, f"use_stamp_{flag}"):
            setattr(scene.render, f"use_stamp_{flag}", False)
    scene.render.use_stamp_note = True
    scene.render.stamp_note_text = note
    scene.render.image_settings.file_format = "PNG"
    scene.render.filepath = str(path)
    try:
        bpy.ops.render.render(write_still=True)
    except RuntimeError:
        scene.cycles.use_denoising = False  # a build without OpenImageDenoise
        bpy.ops.render.render(write_still=True)


def run(out: pathlib.Path, count: int, samples: int, seed: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    build_dir = ROOT / "build"
    print("[1/5] building the add-on zip", flush=True)
    platform = {"linux": "linux-x64", "win32": "windows-x64", "darwin": "macos-arm64"}.get(sys.platform, "linux-x64")
    zips = build_addon.build(build_dir / "demo_dist", build_dir / "wheels", platforms=(platform,), legacy=False)
    port = free_port()
    log_path = out / "backend.log"
    print(f"[2/5] starting `python -m backend.serve` on 127.0.0.1:{port} (log: {log_path})", flush=True)
    backend = start_backend(port, log_path)
    user_folder = tempfile.TemporaryDirectory(prefix="demo_user_", dir=build_dir, ignore_cleanup_errors=True)
    try:
        os.environ["BLENDER_USER_RESOURCES"] = user_folder.name
        import bpy  # after BLENDER_USER_RESOURCES: the extension installs into a scratch folder

        bpy.ops.wm.read_factory_settings(use_empty=True)
        addon = install_addon(bpy, zips[0])
        print("[3/5] waiting for the backend to load its model", flush=True)
        info = connect(bpy, addon, f"127.0.0.1:{port}", backend, log_path)
        model = info.model()
        trained = "UNTRAINED (random weights: expect textured blobs, not cars)" if model.untrained else "trained"
        print(f"      model {model.name!r} on {', '.join(info.devices)}: {trained}", flush=True)
        if model.untrained:
            print("      NOTE: no trained checkpoint ships yet; the embedded default is an untrained small generator",
                  flush=True)
        print(f"[4/5] populating the scene with {count} cars through the add-on", flush=True)
        road, lot, buildings = build_set(bpy)
        names = populate(bpy, addon, road, lot, buildings, count, seed)
        blend = out / "scene.blend"
        bpy.ops.wm.save_as_mainfile(filepath=str(blend))
        print(f"      {len(names)} objects; wrote {blend}", flush=True)
        png = out / "scene.png"
        print(f"[5/5] Cycles render ({samples} samples) -> {png}", flush=True)
        note = f"gan3d demo - model {model.name}" + (" (UNTRAINED default generator)" if model.untrained else "")
        render(bpy, png, samples, note)
        addon.runtime.shutdown()
    finally:
        stop_backend(backend)
        user_folder.cleanup()
        print("backend stopped", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Populate a Blender scene with generated cars and render it.")
    parser.add_argument("--out", type=pathlib.Path, default=ROOT / "output" / "demo")
    parser.add_argument("--count", type=int, default=20, help="cars in the scene (default %(default)s)")
    parser.add_argument("--samples", type=int, default=32, help="Cycles samples (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first car (default %(default)s)")
    args = parser.parse_args(argv)
    if args.count < 2:
        parser.error("--count must be at least 2 (half on the road, half on the lot)")
    try:
        run(args.out, args.count, args.samples, args.seed)
    except (DemoError, build_addon.BuildError) as exc:
        print(f"demo: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("demo: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
