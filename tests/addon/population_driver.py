"""Runs the REAL add-on in headless bpy against a real backend and records what scene population builds, as JSON.

    python tests/addon/population_driver.py ZIP OUT.json BACKEND_ADDRESS

The zip is installed with Blender's extension installer; each scenario sets the panel's settings, presses Generate
(``bpy.ops.gan3d.generate``) and applies the results as the timer would; then it records the built objects
(world-space bounding-box corners, axes, lengths, texture sizes, pixels for the body colour) for
test_addon_population.py to check. BLENDER_USER_RESOURCES must point at a scratch folder.
"""
from __future__ import annotations

import json
import math
import pathlib
import sys
import time
import traceback

import bpy
import numpy as np

ZIP, OUT, ADDRESS = sys.argv[1:4]
NAME = "bl_ext.user_default.gan3d"
results: dict = {}
addon = None


def scenario(fn):
    """Run ``fn`` and store its facts (or its traceback) under its name."""
    start = time.perf_counter()
    try:
        results[fn.__name__] = fn()
    except Exception:
        results[fn.__name__] = {"error": traceback.format_exc()}
    results[fn.__name__ + "_seconds"] = round(time.perf_counter() - start, 2)
    pathlib.Path(OUT).write_text(json.dumps(results, indent=1))
    return fn


def generated():
    collection = bpy.data.collections.get("Generated")
    return sorted(collection.objects, key=lambda o: o.name) if collection else []


def corners(obj) -> list:
    m = np.array(obj.matrix_world)
    return (np.array([tuple(c) for c in obj.bound_box]) @ m[:3, :3].T + m[:3, 3]).tolist()


def texture_of(obj) -> np.ndarray:
    """(T, T, 3) uint8 of the object's packed image, row 0 at the top (as the backend sent it)."""
    image = next(n.image for n in obj.material_slots[0].material.node_tree.nodes if n.type == "TEX_IMAGE")
    w, h = image.size
    px = np.empty(w * h * 4, dtype=np.float32)
    image.pixels.foreach_get(px)
    return np.round(px.reshape(h, w, 4)[::-1, :, :3] * 255).astype(np.uint8)


def body_colour(obj) -> list:
    """The object's body colour measured with the protocol's own definition (paint.py) on its built mesh."""
    paint = sys.modules[NAME + ".protocol.paint"]
    mesh = obj.data
    v = np.empty(len(mesh.vertices) * 3)
    mesh.vertices.foreach_get("co", v)
    faces = np.empty(len(mesh.polygons) * 3, dtype=np.int64)
    mesh.polygons.foreach_get("vertices", faces)
    uv = np.empty(len(mesh.loops) * 2)
    mesh.uv_layers.active.data.foreach_get("uv", uv)
    face_uvs = np.arange(len(mesh.loops)).reshape(-1, 3)
    return paint.body_colour(v.reshape(-1, 3), texture_of(obj), faces.reshape(-1, 3), uv.reshape(-1, 2),
                             face_uvs).tolist()


def describe(obj) -> dict:
    local = np.array([tuple(c) for c in obj.bound_box])
    scale = np.array(obj.matrix_world.to_scale())
    extent = (local.max(0) - local.min(0)) * scale
    m = np.array(obj.matrix_world)
    image = next(n.image for n in obj.material_slots[0].material.node_tree.nodes if n.type == "TEX_IMAGE")
    return {"name": obj.name, "corners": corners(obj), "location": list(obj.location),
            "axes": m[:3, :3].T.tolist(),   # rows: the object's x, y, z axes in the world
            "length": float(max(extent[0], extent[1])), "width": float(extent[0]),
            "target_length": float(obj["gan3d_target_length"]), "seed": int(obj["gan3d_seed"]),
            "texture": int(image.size[0]), "display": obj.display_type, "hide_render": obj.hide_render}


def wait():
    assert addon.wait_until_idle(300), "the add-on did not become idle"


def report():
    return addon.runtime.STATE.last_report


def select(obj):
    bpy.ops.object.select_all(action="DESELECT")
    obj.select_set(True)
    bpy.context.view_layer.objects.active = obj


def generate() -> tuple[list, str, str]:
    """Press Generate; (new objects described, operator error, job report)."""
    before = {o.name for o in generated()}
    bpy.context.view_layer.update()
    try:
        bpy.ops.gan3d.generate()
        error = ""
    except RuntimeError as exc:
        error = str(exc).strip()
    wait()
    return [describe(o) for o in generated() if o.name not in before], error, report()


def grid_mesh(name, size, cuts, location=(0.0, 0.0, 0.0)):
    bpy.ops.mesh.primitive_grid_add(x_subdivisions=cuts, y_subdivisions=cuts, size=size, location=location)
    obj = bpy.context.active_object
    obj.name = name
    return obj


def box(name, location, scale, yaw, collection):
    bpy.ops.mesh.primitive_cube_add(size=1.0, location=location, rotation=(0.0, 0.0, yaw))
    obj = bpy.context.active_object
    obj.name, obj.scale = name, scale
    for c in list(obj.users_collection):
        c.objects.unlink(obj)
    collection.objects.link(obj)
    return obj


def settings():
    s = bpy.context.scene.gan3d
    return s


@scenario
def install():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.extensions.package_install_files(filepath=ZIP, repo="user_default", enable_on_install=True)
    global addon
    addon = sys.modules[NAME]
    prefs = bpy.context.preferences.addons[NAME].preferences
    prefs.server_address, prefs.timeout = ADDRESS, 60.0
    bpy.ops.gan3d.connect()
    wait()
    s = settings()
    s.model, s.randomise_seed, s.seed, s.truncation = "random-small", False, 0, 1.0
    s.width_ratio = 1.0            # the untrained model makes round blobs, as wide as long
    return {"connected": addon.runtime.STATE.connection.info is not None,
            "error": addon.runtime.STATE.connection.error}


@scenario
def avoid():
    """Two scatters on a 70 m plane with 6 turned buildings in the Avoid collection: the second keeps out of the
    first's cars too."""
    ground = grid_mesh("AvoidGround", 70.0, 2)
    buildings = bpy.data.collections.new("Buildings")
    bpy.context.scene.collection.children.link(buildings)
    rng = np.random.default_rng(4)
    for k in range(6):
        box(f"Building{k}", (rng.uniform(-25, 25), rng.uniform(-25, 25), 4.0), (rng.uniform(5, 12),
                                                                              rng.uniform(5, 12), 8.0),
            rng.uniform(0, math.pi), buildings)
    select(ground)
    s = settings()
    s.placement, s.count_mode, s.count, s.spacing, s.random_yaw = "SCATTER", "COUNT", 14, 0.5, True
    s.avoid_collection, s.avoid_generated, s.seed = buildings, True, 11
    first, error1, report1 = generate()
    s.seed = 12
    second, error2, report2 = generate()
    return {"cars": first + second, "errors": [error1, error2], "reports": [report1, report2],
            "buildings": [corners(o) for o in buildings.objects], "first": len(first)}


@scenario
def density_masks():
    s = settings()
    s.avoid_collection = None
    # vertex group: weight 1 where x >= 0 on a 60 m grid plane 500 m away (cells of 6 m)
    plane = grid_mesh("Weighted", 60.0, 11, location=(500.0, 0.0, 0.0))
    group = plane.vertex_groups.new(name="lot")
    group.add([v.index for v in plane.data.vertices if v.co.x >= -1e-6], 1.0, "REPLACE")
    select(plane)
    s.placement, s.count_mode, s.density, s.spacing, s.seed = "SCATTER", "DENSITY", 0.6, 0.5, 21
    s.density_mask, s.density_group = "VERTEX_GROUP", "lot"
    weighted, error1, report1 = generate()
    # image: left half black, through the plane's UV map (u = 0 at x = -30)
    bpy.ops.mesh.primitive_plane_add(size=60.0, location=(-500.0, 0.0, 0.0))
    imaged = bpy.context.active_object
    select(imaged)
    image = bpy.data.images.new("Mask", 4, 4)
    px = np.ones((4, 4, 4), np.float32)
    px[:, :2, :3] = 0.0
    image.pixels.foreach_set(px.reshape(-1))
    s.density_mask, s.density_image, s.count_mode, s.count, s.seed = "IMAGE", image, "COUNT", 10, 22
    masked, error2, report2 = generate()
    # a missing vertex group is a one-line error that builds nothing
    s.density_mask, s.density_group = "VERTEX_GROUP", "nothing"
    select(plane)
    missing, error3, _ = generate()
    s.density_mask, s.count_mode = "NONE", "COUNT"
    return {"weighted": weighted, "masked": masked, "errors": [error1, error2, error3], "missing": len(missing),
            "reports": [report1, report2]}


@scenario
def slopes():
    """One mesh with a 20° slope and a 40° slope side by side; Max Slope 30°, Align to Surface."""
    t20, t40 = math.tan(math.radians(20)), math.tan(math.radians(40))
    verts = [(-20, -20, -20 * t20), (20, -20, 20 * t20), (20, 20, 20 * t20), (-20, 20, -20 * t20),
             (60, -20, -20 * t40), (100, -20, 20 * t40), (100, 20, 20 * t40), (60, 20, -20 * t40)]
    mesh = bpy.data.meshes.new("Slopes")
    mesh.from_pydata([(x, y + 1000.0, z) for x, y, z in verts], [], [(0, 1, 2, 3), (4, 5, 6, 7)])
    obj = bpy.data.objects.new("Slopes", mesh)
    bpy.context.scene.collection.objects.link(obj)
    select(obj)
    s = settings()
    s.placement, s.count, s.spacing, s.seed, s.random_yaw = "SCATTER", 8, 1.0, 31, True
    s.align_to_surface, s.max_slope = True, math.radians(30)
    cars, error, rep = generate()
    s.max_slope = math.radians(10)
    none, error_steep, _ = generate()
    s.align_to_surface, s.max_slope = False, math.radians(45)
    return {"cars": cars, "error": error, "report": rep, "steep_error": error_steep, "steep_built": len(none),
            "t20": t20}


@scenario
def roads():
    """A straight 120 m poly curve (along +y, at x = 2000) with 2 lanes on both sides; then a tilted one."""
    def curve(name, x, tilt):
        data = bpy.data.curves.new(name, "CURVE")
        data.dimensions = "3D"
        spline = data.splines.new("POLY")
        spline.points.add(1)
        spline.points[0].co = (0.0, 0.0, 0.0, 1.0)
        spline.points[1].co = (0.0, 120.0, 0.0, 1.0)
        for p in spline.points:
            p.tilt = tilt
        obj = bpy.data.objects.new(name, data)
        obj.location = (x, 0.0, 0.0)
        bpy.context.scene.collection.objects.link(obj)
        return obj

    s = settings()
    road = curve("Road", 2000.0, 0.0)
    select(road)
    s.placement, s.count, s.seed, s.spacing, s.snap_to_ground = "CURVE", 16, 41, 1.0, False
    s.lanes, s.lane_width, s.both_sides, s.lane_directions, s.spacing_jitter = 2, 5.0, True, "", 2.0
    two_way, error1, rep1 = generate()
    s.both_sides, s.lanes, s.lane_directions, s.count = False, 2, "<>", 6
    bank = curve("Banked", 2100.0, 0.3)
    select(bank)
    banked, error2, rep2 = generate()
    s.lane_directions = ">x"
    bad, error3, _ = generate()
    s.lanes, s.lane_directions, s.spacing_jitter = 1, "", 0.0
    return {"two_way": two_way, "banked": banked, "errors": [error1, error2, error3], "bad_built": len(bad),
            "reports": [rep1, rep2], "lane_width": 5.0, "tilt": 0.3}


@scenario
def lengths_and_yaws():
    plane = grid_mesh("Lengths", 80.0, 2, location=(0.0, 3000.0, 0.0))
    select(plane)
    s = settings()
    s.placement, s.count, s.seed, s.spacing = "SCATTER", 12, 51, 0.5
    s.use_length_range, s.target_length, s.length_max = True, 4.0, 5.2
    s.random_yaw, s.yaw_min, s.yaw_max = True, math.radians(80), math.radians(100)
    cars, error, rep = generate()
    s.use_length_range, s.target_length, s.yaw_min, s.yaw_max = False, 4.5, 0.0, 2 * math.pi
    return {"cars": cars, "error": error, "report": rep}


@scenario
def paint():
    s = settings()
    bpy.context.scene.cursor.location = (0.0, -3000.0, 0.0)
    s.placement, s.count, s.seed, s.random_yaw = "GRID", 3, 61, False
    s.use_paint, s.paint_color, s.paint_tolerance = True, (0.87, 0.1, 0.0), 25.0
    cars, error, rep = generate()
    for car in cars:
        car["body_colour"] = body_colour(bpy.data.objects[car["name"]])
    s.paint_color, s.paint_tolerance = (1.0, 0.0, 1.0), 0.5
    none, error2, rep2 = generate()
    s.use_paint = False
    return {"cars": cars, "error": error, "report": rep, "wanted": [0.87, 0.1, 0.0], "tolerance": 25.0,
            "unreachable_built": len(none), "unreachable_report": rep2, "unreachable_error": error2}


@scenario
def bounds_display():
    prefs = bpy.context.preferences.addons[NAME].preferences
    before = len(generated())
    prefs.bounds_threshold = before + 2            # this batch of 3 takes the scene above it
    bpy.context.scene.cursor.location = (0.0, -3100.0, 0.0)
    s = settings()
    s.placement, s.count, s.seed = "GRID", 3, 71
    cars, error, rep = generate()
    prefs.bounds_threshold = 200
    return {"cars": cars, "error": error, "earlier": sorted({o.display_type for o in generated()
                                                              if o.name not in {c["name"] for c in cars}})}


@scenario
def camera_view():
    plane = grid_mesh("CameraGround", 300.0, 4, location=(0.0, 6000.0, 0.0))
    bpy.ops.object.camera_add(location=(0.0, 6000.0 - 70.0, 25.0), rotation=(math.radians(70), 0.0, 0.0))
    camera = bpy.context.active_object
    camera.data.lens = 35.0
    camera.data.clip_end = 400.0
    scene = bpy.context.scene
    scene.camera = camera
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 1920, 1080, 100
    select(plane)
    s = settings()
    s.placement, s.count, s.seed, s.spacing, s.random_yaw = "CAMERA", 14, 81, 1.0, True
    s.camera_near_texture, s.camera_far_texture = 128, 32
    cars, error, rep = generate()
    bpy.context.view_layer.update()
    frame = [list(camera.matrix_world @ c) for c in camera.data.view_frame(scene=scene)]
    return {"cars": cars, "error": error, "report": rep, "apex": list(camera.matrix_world.translation),
            "frame": frame, "clip": [camera.data.clip_start, camera.data.clip_end]}


@scenario
def background_planning():
    """Above 100 objects the layout is planned on a thread: the operator returns at once, the timer sends the
    request when the layout is ready; a layout that cannot be made ends the job with its message."""
    plane = grid_mesh("Big", 160.0, 2, location=(0.0, -6000.0, 0.0))
    select(plane)
    s = settings()
    s.placement, s.count_mode, s.count, s.seed, s.spacing, s.random_yaw = "SCATTER", "COUNT", 150, 91, 0.5, True
    s.camera_near_texture, s.camera_far_texture = 512, 128
    cars, error, rep = generate()
    # 110 footprints of 5 m x 5 m need 2750 m²: room enough for the quick check on a 48 m plane (2304 m², with
    # overhang), far too little for dart throwing, which fills about half of a surface
    s.count, s.width_ratio, s.spacing = 110, 1.0, 0.5
    small = grid_mesh("Small", 48.0, 2, location=(0.0, -6500.0, 0.0))
    select(small)
    none, error2, rep2 = generate()
    failed = [j.status for j in addon.runtime.STATE.jobs.values() if j.message == rep2]
    return {"cars": cars, "error": error, "report": rep, "small_built": len(none), "small_error": error2,
            "small_report": rep2, "small_status": failed}


if addon is not None:
    addon.runtime.shutdown()
pathlib.Path(OUT).write_text(json.dumps(results, indent=1))
