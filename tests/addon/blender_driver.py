"""Runs the REAL add-on inside headless bpy against a real backend and records what it sees as JSON.

    python tests/addon/blender_driver.py ZIP WORKDIR OUT.json BACKEND_ADDRESS BACKEND_COMMAND

The add-on zip is installed with Blender's extension installer, the backend is started by the add-on's own
"Start Backend" operator (with BACKEND_COMMAND), and every scenario drives the operators and then the apply
function directly (``bpy.app.timers`` never fire headless). The backend is stopped at the end (the last scenario
checks what happens when it is gone). Each scenario records facts; test_addon_blender.py asserts on them.
BLENDER_USER_RESOURCES must point at a scratch folder (the parent test sets it).
"""
from __future__ import annotations

import json
import os
import pathlib
import sys
import time
import traceback

import bpy
import numpy as np

ZIP, WORKDIR, OUT, ADDRESS, COMMAND = sys.argv[1:6]
WORKDIR = pathlib.Path(WORKDIR)
results: dict = {}
addon = None


def _json_value(value):
    """Blender values json cannot write (ID property arrays, vectors) as lists, so one odd fact never loses the
    results file."""
    try:
        return list(value)
    except TypeError:
        return repr(value)


def scenario(fn):
    """Run ``fn`` and store its facts (or its traceback) under its name."""
    start = time.perf_counter()
    try:
        results[fn.__name__] = fn()
    except Exception:
        results[fn.__name__] = {"error": traceback.format_exc()}
    results[fn.__name__ + "_seconds"] = round(time.perf_counter() - start, 2)
    pathlib.Path(OUT).write_text(json.dumps(results, indent=1, default=_json_value))
    return fn


def generated_objects():
    collection = bpy.data.collections.get("Generated")
    return sorted(collection.objects, key=lambda o: o.name) if collection else []


def vertices_of(obj) -> np.ndarray:
    co = np.empty(len(obj.data.vertices) * 3, dtype=np.float32)
    obj.data.vertices.foreach_get("co", co)
    return co.reshape(-1, 3)


def image_of(obj):
    material = obj.material_slots[0].material
    return next(n.image for n in material.node_tree.nodes if n.type == "TEX_IMAGE")


def pixels_of(image) -> np.ndarray:
    px = np.empty(image.size[0] * image.size[1] * 4, dtype=np.float32)
    image.pixels.foreach_get(px)
    return px


def world_aabb(obj):
    corners = np.array([tuple(obj.matrix_world @ __import__("mathutils").Vector(c)) for c in obj.bound_box])
    return corners.min(0).tolist(), corners.max(0).tolist()


def outward_fraction(obj) -> float:
    """Share of faces whose normal points away from the mesh centroid (≈1 for outward normals)."""
    v = vertices_of(obj)
    centre = v.mean(0)
    normals = np.empty(len(obj.data.polygons) * 3, dtype=np.float32)
    obj.data.polygons.foreach_get("normal", normals)
    centres = np.empty(len(obj.data.polygons) * 3, dtype=np.float32)
    obj.data.polygons.foreach_get("center", centres)
    dots = ((centres.reshape(-1, 3) - centre) * normals.reshape(-1, 3)).sum(1)
    return float((dots > 0).mean())


def props_of(obj) -> dict:
    """The object's gan3d_* custom properties as JSON values (arrays as lists)."""
    return {k: (obj[k] if isinstance(obj[k], (str, int, float)) else list(obj[k]))
            for k in obj.keys() if k.startswith("gan3d_")}


def describe(obj) -> dict:
    image = image_of(obj)
    local = np.array([tuple(c) for c in obj.bound_box])
    return {
        "name": obj.name,
        "vertices": len(obj.data.vertices),
        "faces": len(obj.data.polygons),
        "uv_layers": [layer.name for layer in obj.data.uv_layers],
        "smooth": bool(all(p.use_smooth for p in obj.data.polygons)),
        "image_size": list(image.size),
        "image_packed": image.packed_file is not None,
        "props": props_of(obj),
        "aabb": world_aabb(obj),
        "local_min": local.min(0).tolist(),
        "local_max": local.max(0).tolist(),
        "outward_fraction": outward_fraction(obj),
        "collections": [c.name for c in obj.users_collection],
        "location": list(obj.location), "rotation": list(obj.rotation_euler), "scale": list(obj.scale),
    }


def wait(timeout=120.0):
    assert addon.wait_until_idle(timeout), "add-on did not become idle"


def job_report():
    return addon.runtime.STATE.last_report


@scenario
def install():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    result = bpy.ops.extensions.package_install_files(filepath=ZIP, repo="user_default", enable_on_install=True)
    global addon
    name = "bl_ext.user_default.gan3d"
    addon = sys.modules[name]
    import addon_utils
    user = pathlib.Path(os.environ["BLENDER_USER_RESOURCES"])
    bundled = sorted(str(p.relative_to(user)) for p in user.glob("extensions/.local/lib/python*/site-packages/zmq"))
    return {"result": sorted(result), "module": name, "bundled_zmq": bundled,
            "enabled": name in {a.module for a in bpy.context.preferences.addons},
            "operators": sorted(op for op in dir(bpy.ops.gan3d)),
            "panel": hasattr(bpy.types, "GAN3D_PT_generate"),
            "loaded": addon_utils.check(name)[1]}


def prefs():
    return bpy.context.preferences.addons["bl_ext.user_default.gan3d"].preferences


@scenario
def malformed_address():
    prefs().server_address = "localhost"
    try:
        bpy.ops.gan3d.connect()
        raised = ""
    except RuntimeError as exc:
        raised = str(exc)
    prefs().server_address = ADDRESS.replace("tcp://", "")  # host:port form, normalised by the preference
    return {"error": raised, "normalised": prefs().server_address}


@scenario
def start_backend():
    p = prefs()
    p.backend_command = COMMAND
    p.backend_directory = str(pathlib.Path(__file__).resolve().parents[2])
    p.timeout = 30.0
    bpy.ops.gan3d.start_backend()
    addon.wait_until_idle(125)  # polls the starting backend with info requests until it answers (up to 120 s)
    info = addon.runtime.STATE.connection.info
    return {"connected": info is not None, "error": addon.runtime.STATE.connection.error,
            "models": {m.name: {"untrained": m.untrained, "texture_size": m.texture_size, "classes": m.classes}
                       for m in info.models} if info else {},
            "devices": info.devices if info else []}


@scenario
def generate_grid():
    scene = bpy.context.scene
    bpy.ops.mesh.primitive_plane_add(size=200.0, location=(0, 0, -0.5))
    scene.cursor.location = (0.0, 0.0, 0.0)
    s = scene.gan3d
    s.model = "random-small"
    s.count, s.randomise_seed, s.seed = 10, False, 1000
    s.placement, s.random_yaw, s.snap_to_ground, s.target_length, s.spacing = "GRID", True, True, 4.5, 0.5
    s.truncation = 0.8
    bpy.ops.gan3d.generate()
    wait()
    objects = generated_objects()
    return {"objects": [describe(o) for o in objects], "report": job_report()}


@scenario
def regenerate_keeps_transforms():
    objects = generated_objects()[:2]
    extra = bpy.data.collections.new("Extra")
    bpy.context.scene.collection.children.link(extra)
    for i, obj in enumerate(objects):
        obj.location = (100.0 + 10 * i, 5.0, 1.0)
        obj.rotation_euler = (0.1, 0.2, 0.3 + i)
        obj.scale = (1.5, 1.5, 2.0)
        extra.objects.link(obj)
    before = {o.name: {"transform": [list(o.location), list(o.rotation_euler), list(o.scale)],
                       "collections": sorted(c.name for c in o.users_collection),
                       "seed": o["gan3d_seed"], "vertices": vertices_of(o).tolist(),
                       "pixels": pixels_of(image_of(o)).tolist()} for o in objects}
    bpy.ops.object.select_all(action="DESELECT")
    for obj in objects:
        obj.select_set(True)
    bpy.context.view_layer.objects.active = objects[0]
    bpy.context.scene.gan3d.regenerate_mode = "NEW_SEED"
    # Objects are renamed after their new seed: follow them through their transforms.
    handles = [(o, before[o.name]) for o in objects]
    bpy.ops.gan3d.regenerate()
    wait()
    after = [{"transform": [list(o.location), list(o.rotation_euler), list(o.scale)],
              "collections": sorted(c.name for c in o.users_collection), "seed": o["gan3d_seed"],
              # the untrained default model gives the same sphere for every seed: only textures differ
              "changed": bool(np.abs(vertices_of(o) - np.array(b["vertices"], np.float32)).max() > 1e-4
                              or np.abs(pixels_of(image_of(o)) - np.array(b["pixels"], np.float32)).max() > 1e-3),
              "vertices": len(o.data.vertices)} for o, b in handles]
    return {"before": [{k: v for k, v in b.items() if k not in ("vertices", "pixels")} for _, b in handles],
            "after": after,
            "report": job_report(), "total_generated": len(generated_objects())}


@scenario
def reproduce_is_exact():
    obj = generated_objects()[-1]
    original = vertices_of(obj).copy()
    original_pixels = pixels_of(image_of(obj)).copy()
    # Damage it: move vertices and paint the texture black.
    damaged = original * 0.5
    obj.data.vertices.foreach_set("co", damaged.reshape(-1))
    image = image_of(obj)
    image.pixels.foreach_set(np.zeros_like(original_pixels))
    bpy.ops.object.select_all(action="DESELECT")
    obj.select_set(True)
    bpy.ops.gan3d.reproduce()
    wait()
    return {"max_vertex_diff": float(np.abs(vertices_of(obj) - original).max()),
            "max_pixel_diff": float(np.abs(pixels_of(image_of(obj)) - original_pixels).max()),
            "report": job_report()}


@scenario
def classes():
    """A class-conditional model: the class list puts car first; regenerate with the same seed, another class."""
    s = bpy.context.scene.gan3d
    s.model = "classes3"
    default_class = s.class_name
    bpy.context.scene.cursor.location = (0.0, -300.0, 0.0)
    s.count, s.seed, s.randomise_seed, s.placement = 2, 42, False, "CURSOR"
    names_before = {o.name for o in generated_objects()}
    bpy.ops.gan3d.generate()
    wait()
    new = [o for o in generated_objects() if o.name not in names_before]
    generated = [props_of(o) for o in new]
    target = new[0]
    before = dict(generated[0])
    pixels = pixels_of(image_of(target)).copy()
    bpy.ops.object.select_all(action="DESELECT")
    target.select_set(True)
    s.class_name, s.regenerate_mode = "bird", "OTHER_CLASS"
    bpy.ops.gan3d.regenerate()
    wait()
    after = props_of(target)
    s.model, s.regenerate_mode = "random-small", "NEW_SEED"
    return {"default_class": default_class, "generated": generated, "before": before, "after": after,
            "pixels_changed": bool(np.abs(pixels_of(image_of(target)) - pixels).max() > 1e-3),
            "report": job_report()}


@scenario
def placement_modes():
    scene = bpy.context.scene
    out = {}
    # Scatter on a 60 m plane at z = 2.
    bpy.ops.mesh.primitive_plane_add(size=60.0, location=(500.0, 0.0, 2.0))
    plane = bpy.context.active_object
    s = scene.gan3d
    s.count, s.placement, s.random_yaw, s.spacing, s.seed = 4, "SCATTER", False, 1.0, 77
    s.width_ratio = 1.0   # the untrained model's blobs are as wide as long
    names_before = {o.name for o in generated_objects()}
    bpy.ops.gan3d.generate()
    wait()
    new = [o for o in generated_objects() if o.name not in names_before]
    out["scatter"] = {"locations": [list(o.location) for o in new], "plane": plane.name}
    # Along a straight 40 m poly curve along +y starting at (-500, 0, 0).
    curve_data = bpy.data.curves.new("Road", "CURVE")
    spline = curve_data.splines.new("POLY")
    spline.points.add(1)
    spline.points[0].co = (0.0, 0.0, 0.0, 1.0)
    spline.points[1].co = (0.0, 40.0, 0.0, 1.0)
    road = bpy.data.objects.new("Road", curve_data)
    road.location = (-500.0, 0.0, 0.0)
    scene.collection.objects.link(road)
    bpy.ops.object.select_all(action="DESELECT")
    road.select_set(True)
    bpy.context.view_layer.objects.active = road
    s.count, s.placement, s.snap_to_ground, s.width_ratio = 3, "CURVE", False, 0.5   # lanes of 3.5 m
    names_before = {o.name for o in generated_objects()}
    bpy.ops.gan3d.generate()
    wait()
    new = sorted((o for o in generated_objects() if o.name not in names_before), key=lambda o: o.location.y)
    out["curve"] = {"locations": [list(o.location) for o in new], "yaws": [o.rotation_euler.z for o in new],
                    "pitch": s.target_length + s.spacing}
    # Scatter that cannot fit says so and builds nothing.
    bpy.ops.object.select_all(action="DESELECT")
    plane.select_set(True)
    bpy.context.view_layer.objects.active = plane
    s.count, s.placement, s.spacing = 500, "SCATTER", 5.0
    try:
        bpy.ops.gan3d.generate()
        out["overfull_error"] = ""
    except RuntimeError as exc:
        out["overfull_error"] = str(exc)
    return out


@scenario
def cancel_mid_batch():
    s = bpy.context.scene.gan3d
    s.count, s.placement, s.seed, s.randomise_seed = 48, "GRID", 5000, False
    bpy.context.scene.cursor.location = (0.0, 300.0, 0.0)
    names_before = {o.name for o in generated_objects()}
    bpy.ops.gan3d.generate()
    job = addon.runtime.running_jobs()[0]
    deadline = time.monotonic() + 60
    while len(job.built) < 2 and time.monotonic() < deadline:
        addon.process_events()
        time.sleep(0.01)
    built_at_cancel = len(job.built)
    bpy.ops.gan3d.cancel()
    time.sleep(1.0)
    wait(30)
    # Drain anything still arriving for the cancelled job.
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        addon.process_events()
        time.sleep(0.02)
    new = [o for o in generated_objects() if o.name not in names_before]
    # The server is still usable afterwards.
    s.count = 1
    bpy.ops.gan3d.generate()
    wait()
    return {"built_at_cancel": built_at_cancel, "status": job.status, "report": job.message,
            "new": [describe(o) for o in new], "requested": 48,
            "after_cancel_generate": len([o for o in generated_objects() if o.name not in names_before]) - len(new)}


# -- latent tools: stored latents, variations, blends, looks, bad input ----------------------------------------

def by_name(name):
    return bpy.data.objects[name]


def select_only(*objects, active=None):
    bpy.ops.object.select_all(action="DESELECT")
    for obj in objects:
        obj.select_set(True)
    bpy.context.view_layer.objects.active = active or objects[-1]


def new_objects(before):
    return [o for o in generated_objects() if o.name not in before]


def diffs(obj, reference):
    """Largest vertex and pixel difference between two objects' meshes and textures."""
    return {"vertex": float(np.abs(vertices_of(obj) - vertices_of(reference)).max()),
            "pixel": float(np.abs(pixels_of(image_of(obj)) - pixels_of(image_of(reference))).max())}


def diagnosis(obj, reference) -> dict:
    """What differs between two objects that should be the same car (reported when an exactness check fails)."""
    a, b = pixels_of(image_of(obj)).reshape(-1, 4), pixels_of(image_of(reference)).reshape(-1, 4)
    differing = np.abs(a - b).max(1) > 0
    return {"names": [obj.name, reference.name], "images": [image_of(obj).name, image_of(reference).name],
            "differing_pixels": int(differing.sum()), "pixels": len(a),
            "channel_max": np.abs(a - b).max(0).tolist(),
            "same_latent": list(obj.get("gan3d_latent", [])) == list(reference.get("gan3d_latent", [])),
            "props": [props_of(obj), props_of(reference)]}


def grid_cars():
    return [o for o in generated_objects() if o.get("gan3d_model") == "random-small" and o["gan3d_seed"] >= 0]


@scenario
def stored_latents():
    return {"objects": [{"name": o.name, "seed": o["gan3d_seed"], "truncation": o["gan3d_truncation"],
                         "latent": list(o.get("gan3d_latent", [])), "fingerprint": o.get("gan3d_model_fingerprint")}
                        for o in grid_cars()]}


@scenario
def variations():
    s = bpy.context.scene.gan3d
    original = grid_cars()[0]
    original.location, original.rotation_euler = (20.0, -40.0, 0.0), (0.0, 0.0, 0.0)
    s.randomise_seed, s.seed, s.spacing, s.snap_to_ground = False, 5, 0.5, False
    s.variation_count, s.variation_strength = 3, 0.0
    select_only(original)
    before = {o.name for o in generated_objects()}
    bpy.ops.gan3d.variations()
    wait()
    same = new_objects(before)
    facts = {"original": original.name, "original_latent": list(original["gan3d_latent"]),
             "truncation": original["gan3d_truncation"],
             "zero": [{"name": o.name, "props": props_of(o),
                       "location": list(o.location), **diffs(o, original)} for o in same],
             "original_location": list(original.location), "report_zero": job_report()}
    s.variation_count, s.variation_strength = 2, 0.5
    select_only(original)
    before = {o.name for o in generated_objects()}
    bpy.ops.gan3d.variations()
    wait()
    strong = new_objects(before)
    facts["strong"] = [{"name": o.name, "latent": list(o["gan3d_latent"]), **diffs(o, original)} for o in strong]
    # A variation has no seed: Reproduce rebuilds it from its stored latent, exactly.
    target = strong[0]
    pixels = pixels_of(image_of(target)).copy()
    image_of(target).pixels.foreach_set(np.zeros_like(pixels))
    select_only(target)
    bpy.ops.gan3d.reproduce()
    wait()
    facts["reproduced"] = {"name": target.name, "pixel": float(np.abs(pixels_of(image_of(target)) - pixels).max())}
    return facts


@scenario
def blend():
    s = bpy.context.scene.gan3d
    first, second = grid_cars()[1:3]
    first.location, second.location = (60.0, -40.0, 0.0), (90.0, -40.0, 0.0)
    s.blend_steps, s.blend_include_ends, s.spacing = 2, True, 0.5
    select_only(first, second, active=second)      # from the other one to the active one
    before = {o.name for o in generated_objects()}
    bpy.ops.gan3d.blend()
    wait()
    row = sorted(new_objects(before), key=lambda o: o.location.x)
    facts = {"first": first.name, "second": second.name, "report": job_report(),
             "latents": [list(first["gan3d_latent"]), list(second["gan3d_latent"])],
             "row": [{"name": o.name, "location": list(o.location), "latent": list(o["gan3d_latent"]),
                      "seed": o["gan3d_seed"], "to_first": diffs(o, first), "to_second": diffs(o, second)}
                     for o in row]}
    # A class-conditional pair (car, bird from the classes scenario): class vectors are blended.
    cond = sorted((o for o in generated_objects() if o.get("gan3d_model") == "classes3"), key=lambda o: o.name)
    car = next(o for o in cond if o["gan3d_class_name"] == "car")
    bird = next(o for o in cond if o["gan3d_class_name"] == "bird")
    car.location, bird.location = (60.0, -80.0, 0.0), (80.0, -80.0, 0.0)
    s.blend_steps = 1
    select_only(car, bird, active=bird)
    before = {o.name for o in generated_objects()}
    bpy.ops.gan3d.blend()
    wait()
    mixed = sorted(new_objects(before), key=lambda o: o.location.x)
    facts["classes"] = [{"name": o.name, "class_name": o["gan3d_class_name"],
                         "class_weights": list(o.get("gan3d_class_weights", [])),
                         "to_car": diffs(o, car), "to_bird": diffs(o, bird)} for o in mixed]
    if len(mixed) == 3:
        facts["classes_diagnosis"] = {"car_end": diagnosis(mixed[0], car), "bird_end": diagnosis(mixed[2], bird)}
    facts["classes_report"] = job_report()
    s.blend_include_ends = False
    return facts


@scenario
def looks():
    s = bpy.context.scene.gan3d
    facts = {}
    for key, source in (("variation", results["variations"]["strong"][1]["name"]),
                        ("class_blend", results["blend"]["classes"][1]["name"])):
        obj = by_name(source)
        path = WORKDIR / f"{key}.json"
        select_only(obj)
        bpy.ops.gan3d.save_look(filepath=str(path))
        bpy.context.scene.cursor.location = (0.0, -120.0 - 20 * len(facts), 0.0)
        before = {o.name for o in generated_objects()}
        bpy.ops.gan3d.load_look(filepath=str(path))
        wait()
        loaded = new_objects(before)
        facts[key] = {"file": json.loads(path.read_text()), "loaded": [o.name for o in loaded],
                      "report": job_report(), **(diffs(loaded[0], obj) if loaded else {}),
                      "same_latent": bool(loaded) and list(loaded[0]["gan3d_latent"]) == list(obj["gan3d_latent"]),
                      "location": list(loaded[0].location) if loaded else None}
    return facts


def material_graph(obj) -> dict:
    """What feeds the object's Material Output: node types, the links into Surface and Base Color, the group."""
    tree = obj.material_slots[0].material.node_tree
    output = next(n for n in tree.nodes if n.type == "OUTPUT_MATERIAL")
    surface = output.inputs["Surface"].links[0].from_node if output.inputs["Surface"].links else None
    base = surface.inputs["Base Color"].links[0].from_node if surface and surface.inputs["Base Color"].links else None
    group = surface.node_tree if surface is not None and surface.type == "GROUP" else None
    inner = next((n for n in group.nodes if n.type == "BSDF_PRINCIPLED"), None) if group else None
    return {"types": sorted(n.type for n in tree.nodes), "surface": surface.type if surface else None,
            "base_color_from": base.type if base else None, "group": group.name if group else None,
            "roughness": float((inner or surface).inputs["Roughness"].default_value)
            if (inner or (surface is not None and surface.type == "BSDF_PRINCIPLED")) else None}


@scenario
def material_styles():
    """PRINCIPLED (default): a BSDF per material; SHARED: every car's texture feeds one shared group; an edited
    group is kept, a group that lost its sockets is replaced by a new one."""
    s = bpy.context.scene.gan3d
    facts = {"default": [material_graph(o) for o in generated_objects()], "preference": prefs().material_style,
             "groups_before": sorted(g.name for g in bpy.data.node_groups)}
    made = []

    def generate(style):
        prefs().material_style = style
        before = {o.name for o in generated_objects()}
        s.count, s.placement, s.randomise_seed, s.seed = 1, "CURSOR", False, 4242 + len(made)
        bpy.context.scene.cursor.location = (0.0, 200.0 + 10 * len(made), 0.0)
        bpy.ops.gan3d.generate()
        wait()
        new = new_objects(before)
        made.extend(new)
        return [material_graph(o) for o in new]

    facts["shared"] = generate("SHARED")
    facts["shared_second"] = generate("SHARED")
    group = bpy.data.node_groups["gan3d Car Surface"]
    next(n for n in group.nodes if n.type == "BSDF_PRINCIPLED").inputs["Roughness"].default_value = 0.2
    facts["shared_after_edit"] = generate("SHARED")
    item = next(i for i in group.interface.items_tree if i.item_type == "SOCKET" and i.name == "Base Color")
    group.interface.remove(item)
    facts["shared_after_break"] = generate("SHARED")
    facts["groups"] = sorted(g.name for g in bpy.data.node_groups)
    for obj in made:
        bpy.data.objects.remove(obj)
    prefs().material_style = "PRINCIPLED"
    return facts


@scenario
def regenerate_latent_objects():
    """Regenerate on seedless objects: New Seed keeps a class blend; Same Seed rebuilds from the stored latent."""
    s = bpy.context.scene.gan3d
    mixed = by_name(results["blend"]["classes"][1]["name"])
    old_latent = list(mixed["gan3d_latent"])
    select_only(mixed)
    s.regenerate_mode = "NEW_SEED"
    bpy.ops.gan3d.regenerate()
    wait()
    facts = {"new_seed": {"seed": mixed["gan3d_seed"], "class_weights": list(mixed.get("gan3d_class_weights", [])),
                          "latent_changed": list(mixed["gan3d_latent"]) != old_latent, "report": job_report()}}
    variation = by_name(results["variations"]["strong"][0]["name"])
    pixels, latent = pixels_of(image_of(variation)).copy(), list(variation["gan3d_latent"])
    select_only(variation)
    s.model, s.regenerate_mode = "random-small", "OTHER_CLASS"
    bpy.ops.gan3d.regenerate()
    wait()
    facts["same_seed"] = {"name": variation.name, "seed": variation["gan3d_seed"], "report": job_report(),
                          "same_latent": list(variation["gan3d_latent"]) == latent,
                          "pixel": float(np.abs(pixels_of(image_of(variation)) - pixels).max())}
    s.regenerate_mode = "NEW_SEED"
    return facts


@scenario
def bad_input():
    s = bpy.context.scene.gan3d
    car = grid_cars()[3]
    facts = {}

    def attempt(name, op, **kwargs):
        before = len(bpy.data.objects)
        try:
            op(**kwargs)
            message = ""
        except RuntimeError as exc:
            message = str(exc)
        wait()
        facts[name] = {"message": message, "objects_added": len(bpy.data.objects) - before}

    def foreign(**props):
        obj = car.copy()                 # same mesh, same gan3d_* properties, outside the Generated collection
        bpy.context.scene.collection.objects.link(obj)
        for key, value in props.items():
            if value is None:
                del obj[key]
            else:
                obj[key] = value
        return obj

    made = []
    for name, props in (("other_model", {"gan3d_model": "elsewhere"}),
                        ("other_weights", {"gan3d_model_fingerprint": "0123456789abcdef"}),
                        ("no_latent", {"gan3d_latent": None}),
                        ("wrong_size", {"gan3d_latent": [0.1] * 5}),
                        ("nan_latent", {"gan3d_latent": [float("nan")] * 64})):
        obj = foreign(**props)
        made.append(obj)
        select_only(obj)
        attempt(name, bpy.ops.gan3d.variations)
    cond = next(o for o in generated_objects() if o.get("gan3d_model") == "classes3")
    select_only(car, cond)
    attempt("blend_two_models", bpy.ops.gan3d.blend)
    select_only(made[2])
    attempt("save_without_latent", bpy.ops.gan3d.save_look, filepath=str(WORKDIR / "nothing.json"))
    facts["save_without_latent"]["file_written"] = (WORKDIR / "nothing.json").exists()
    good = json.loads((WORKDIR / "variation.json").read_text())
    files = {"look_wrong_size": json.dumps({**good, "latent": good["latent"][:5], "latent_dim": 5}),
             "look_nan": json.dumps({**good, "latent": [float("nan")] + good["latent"][1:]}),
             "look_infinite": json.dumps(good).replace(repr(good["latent"][0]), "1e999", 1),
             "look_not_json": "this is not a look",
             "look_other_model": json.dumps({**good, "model": "elsewhere"})}
    for name, text in files.items():
        path = WORKDIR / f"{name}.json"
        path.write_text(text)
        attempt(name, bpy.ops.gan3d.load_look, filepath=str(path))
    for obj in made:
        bpy.data.objects.remove(obj)
    return facts


@scenario
def save_and_reopen():
    objects = generated_objects()
    expected = {o.name: float(pixels_of(image_of(o)).sum()) for o in objects}
    latents = {o.name: list(o.get("gan3d_latent", [])) for o in objects}
    path = WORKDIR / "scene.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    bpy.ops.wm.open_mainfile(filepath=str(path))
    reopened = {o.name: o for o in generated_objects()}
    return {"saved": len(expected), "reopened": len(reopened),
            "all_packed": all(image_of(o).packed_file is not None for o in reopened.values()),
            "pixels_equal": all(abs(float(pixels_of(image_of(reopened[n])).sum()) - v) < 1e-3
                                for n, v in expected.items() if n in reopened),
            "latents_equal": all(list(reopened[n].get("gan3d_latent", [])) == v for n, v in latents.items()
                                 if n in reopened),
            "with_latent": sum(bool(v) for v in latents.values())}


@scenario
def backend_down():
    objects_before = len(generated_objects())
    addon.runtime.stop_backend()
    s = bpy.context.scene.gan3d
    s.count, s.placement = 3, "CURSOR"
    bpy.ops.gan3d.generate()  # the panel still shows the last info: the failure comes from the network
    wait(60)
    report = job_report()
    bpy.ops.gan3d.connect()
    wait(60)
    return {"report": report, "objects_before": objects_before, "objects_after": len(generated_objects()),
            "connect_error": addon.runtime.STATE.connection.error}


addon.runtime.shutdown() if addon is not None else None
pathlib.Path(OUT).write_text(json.dumps(results, indent=1, default=_json_value))
