"""Pictures of the add-on's scene population options for docs/addon.md, made by the real add-on.

    .venv/bin/python scripts/population_images.py [--out docs/images]

Starts ``python -m backend.serve`` (the embedded default model) on a free loopback port, installs the extension zip
into a scratch Blender user folder, and for each picture builds a small scene, presses the add-on's Generate with
the options shown, and renders it with Workbench (textures shown as they are). Writes ``population_*.png``.
"""
from __future__ import annotations

import argparse
import math
import pathlib
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import demo  # noqa: E402  (free_port, start_backend, install_addon, connect, stop_backend)


def _reset(bpy):
    for obj in list(bpy.data.objects):
        bpy.data.objects.remove(obj)
    for coll in list(bpy.data.collections):
        bpy.data.collections.remove(coll)
    for block in (bpy.data.meshes, bpy.data.materials, bpy.data.images, bpy.data.curves, bpy.data.cameras):
        for item in list(block):
            if item.users == 0:
                block.remove(item)


def _material(bpy, name, colour, image=None):
    material = bpy.data.materials.new(name)
    material.diffuse_color = (*colour, 1.0)
    if image is not None:
        if bpy.app.version < (5, 0, 0):
            material.use_nodes = True
        tree = material.node_tree
        node = tree.nodes.new("ShaderNodeTexImage")
        node.image = image
        tree.links.new(node.outputs["Color"], tree.nodes["Principled BSDF"].inputs["Base Color"])
    return material


def _plane(bpy, name, size, location=(0, 0, 0), colour=(0.35, 0.37, 0.33), cuts=1, image=None):
    bpy.ops.mesh.primitive_grid_add(x_subdivisions=cuts + 1, y_subdivisions=cuts + 1, size=1.0, location=location)
    obj = bpy.context.active_object
    obj.name = name
    obj.scale = (size[0], size[1], 1.0)
    bpy.ops.object.transform_apply(scale=True)
    obj.data.materials.append(_material(bpy, name, colour, image))
    return obj


def _buildings(bpy, rng, count, spread, collection_name="Buildings"):
    collection = bpy.data.collections.new(collection_name)
    bpy.context.scene.collection.children.link(collection)
    grey = _material(bpy, "Concrete", (0.75, 0.74, 0.72))
    for k in range(count):
        sx, sy, sz = rng.uniform(6, 16), rng.uniform(6, 16), rng.uniform(5, 20)
        bpy.ops.mesh.primitive_cube_add(size=1.0, location=(rng.uniform(-spread[0], spread[0]),
                                                            rng.uniform(-spread[1], spread[1]), sz / 2),
                                        rotation=(0, 0, rng.uniform(0, math.pi)))
        obj = bpy.context.active_object
        obj.scale = (sx, sy, sz)
        obj.data.materials.append(grey)
        for c in list(obj.users_collection):
            c.objects.unlink(obj)
        collection.objects.link(obj)
    return collection


def _camera(bpy, location, rotation, ortho=None, lens=35.0):
    """A scene camera (the active object stays active: it is what the add-on places on)."""
    active = bpy.context.view_layer.objects.active
    bpy.ops.object.camera_add(location=location, rotation=rotation)
    camera = bpy.context.active_object
    if active is not None:
        _select(bpy, active)
    if ortho:
        camera.data.type, camera.data.ortho_scale = "ORTHO", ortho
    camera.data.lens, camera.data.clip_end = lens, 2000.0
    bpy.context.scene.camera = camera
    return camera


def _select(bpy, obj):
    bpy.ops.object.select_all(action="DESELECT")
    obj.select_set(True)
    bpy.context.view_layer.objects.active = obj


def _generate(bpy, addon, **settings):
    s = bpy.context.scene.gan3d
    for key, value in settings.items():
        setattr(s, key, value)
    bpy.context.view_layer.update()
    bpy.ops.gan3d.generate()
    if not addon.wait_until_idle(600):
        raise demo.DemoError("the add-on did not finish within 10 minutes")
    job = max(addon.runtime.STATE.jobs.values(), key=lambda j: j.job_id)
    if job.status != "done":
        raise demo.DemoError(job.message)
    print(f"  {job.message}", flush=True)


def _render(bpy, path, size=(960, 540)):
    scene = bpy.context.scene
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.display.shading.light = "STUDIO"
    scene.display.shading.color_type = "TEXTURE"
    scene.display.shading.show_shadows = True
    scene.display.shading.show_cavity = False
    scene.render.resolution_x, scene.render.resolution_y = size
    scene.render.resolution_percentage = 100
    scene.render.film_transparent = False
    if scene.world is None:
        scene.world = bpy.data.worlds.new("Sky")
    scene.world.color = (0.8, 0.82, 0.85)
    scene.render.image_settings.file_format = "PNG"
    scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)
    _shrink(path)
    print(f"wrote {path}", flush=True)


def _shrink(path):
    """Store a picture with a 256-colour palette (a quarter of the bytes, no visible change for these scenes)."""
    from PIL import Image
    Image.open(path).convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def _side_by_side(paths, out):
    from PIL import Image
    images = [Image.open(p) for p in paths]
    width = sum(i.width for i in images) + 8 * (len(images) - 1)
    canvas = Image.new("RGB", (width, max(i.height for i in images)), (255, 255, 255))
    x = 0
    for image in images:
        canvas.paste(image, (x, 0))
        x += image.width + 8
    canvas.save(out)
    _shrink(out)
    for p in paths:
        pathlib.Path(p).unlink()
    print(f"wrote {out}", flush=True)


def picture_avoid(bpy, addon, np, out):
    """Scatter with an Avoid collection of buildings, random yaw, a length range."""
    ground = _plane(bpy, "Ground", (120, 70))
    buildings = _buildings(bpy, np.random.default_rng(3), 9, (50, 28))
    _select(bpy, ground)
    _camera(bpy, (0, 0, 150), (0, 0, 0), ortho=122)
    _generate(bpy, addon, placement="SCATTER", count_mode="COUNT", count=90, seed=1, randomise_seed=False,
              random_yaw=True, yaw_min=0.0, yaw_max=2 * math.pi, use_length_range=True, target_length=4.0,
              length_max=5.2, width_ratio=0.5, spacing=1.0, avoid_collection=buildings, avoid_generated=True)
    _render(bpy, out / "population_avoid.png")


def _weight(x, y):
    """A mask for the density picture: a soft blob (1 in the middle) cut by a dark road across."""
    blob = np.clip(1.2 - np.hypot(x / 25.0, y / 18.0), 0.0, 1.0)
    return np.where(np.abs(y - 0.35 * x) < 4.0, 0.0, blob)


def picture_density(bpy, addon, np_, out):
    """Density per 100 m² with an image mask (left) and a vertex-group mask (right)."""
    global np
    np = np_
    size = 64
    u = (np.arange(size) + 0.5) / size
    x, y = np.meshgrid((u - 0.5) * 60, (u - 0.5) * 60)       # row 0 = bottom (v = 0), as Blender stores pixels
    image = bpy.data.images.new("DensityMask", size, size)
    px = np.ones((size, size, 4), np.float32)
    px[..., :3] = _weight(x, y)[..., None]
    image.pixels.foreach_set(px.reshape(-1))
    left = _plane(bpy, "ImageMasked", (60, 60), (-32, 0, 0), image=image)
    right = _plane(bpy, "WeightPainted", (60, 60), (32, 0, 0), cuts=40, image=image)
    group = right.vertex_groups.new(name="density")
    for v in right.data.vertices:
        group.add([v.index], float(_weight(v.co.x, v.co.y)), "REPLACE")
    _camera(bpy, (0, 0, 150), (0, 0, 0), ortho=128)
    _select(bpy, left)
    _generate(bpy, addon, placement="SCATTER", count_mode="DENSITY", density=6.0, density_mask="IMAGE",
              density_image=image, seed=2, random_yaw=True, use_length_range=False, target_length=4.5,
              avoid_collection=None)
    _select(bpy, right)
    _generate(bpy, addon, density_mask="VERTEX_GROUP", density_group="density", seed=3)
    bpy.context.scene.gan3d.density_mask = "NONE"
    _render(bpy, out / "population_density.png")


def picture_slopes(bpy, addon, np, out):
    """Align to Surface on hills, nothing where the slope is above Max Slope."""
    ground = _plane(bpy, "Hills", (120, 80), cuts=80, colour=(0.33, 0.42, 0.28))
    co = np.empty(len(ground.data.vertices) * 3)
    ground.data.vertices.foreach_get("co", co)
    co = co.reshape(-1, 3)
    co[:, 2] = 6.0 * np.sin(co[:, 0] / 9.0) * np.cos(co[:, 1] / 14.0)
    ground.data.vertices.foreach_set("co", co.reshape(-1))
    ground.data.update()
    _select(bpy, ground)
    _camera(bpy, (0, -95, 55), (math.radians(58), 0, 0), lens=30)
    _generate(bpy, addon, placement="SCATTER", count_mode="DENSITY", density=1.2, density_mask="NONE", seed=4,
              align_to_surface=True, max_slope=math.radians(20), random_yaw=True, spacing=1.0)
    bpy.context.scene.gan3d.align_to_surface = False
    _render(bpy, out / "population_slopes.png")


def picture_roads(bpy, addon, np, out):
    """A road along a curve: 2 lanes on both sides, traffic directions, jitter, a banked bend."""
    profile = bpy.data.curves.new("RoadProfile", "CURVE")   # the road drawn as a 15 m wide asphalt ribbon
    line = profile.splines.new("POLY")
    line.points.add(1)
    line.points[0].co, line.points[1].co = (-7.5, 0.0, 0.0, 1.0), (7.5, 0.0, 0.0, 1.0)
    profile_obj = bpy.data.objects.new("RoadProfile", profile)
    data = bpy.data.curves.new("Road", "CURVE")
    data.dimensions, data.bevel_mode, data.bevel_object = "3D", "OBJECT", profile_obj
    spline = data.splines.new("BEZIER")
    spline.bezier_points.add(3)
    for point, (co, tilt) in zip(spline.bezier_points, (((-75, -15, 0), 0.0), ((-25, 18, 0), -0.3),
                                                        ((25, -18, 0), 0.3), ((75, 15, 0), 0.0))):
        point.co, point.tilt = co, tilt
        point.handle_left_type = point.handle_right_type = "AUTO"
    road = bpy.data.objects.new("Road", data)
    bpy.context.scene.collection.objects.link(road)
    data.materials.append(_material(bpy, "Asphalt", (0.1, 0.1, 0.11)))
    _plane(bpy, "Ground", (170, 90), (0, 0, -0.3))
    _select(bpy, road)
    _camera(bpy, (0, -115, 80), (math.radians(55), 0, 0), lens=30)
    _generate(bpy, addon, placement="CURVE", count_mode="COUNT", count=56, seed=5, lanes=2, lane_width=3.5,
              both_sides=True, lane_directions="", spacing=2.0, spacing_jitter=6.0, width_ratio=0.5,
              snap_to_ground=False, use_length_range=True, target_length=4.0, length_max=5.2)
    _render(bpy, out / "population_roads.png")


def picture_paint(bpy, addon, np, out):
    """Rows of cars asked for a colour each (tolerance ΔE 12), and a row without paint."""
    _plane(bpy, "Ground", (80, 45), colour=(0.6, 0.6, 0.58))
    _camera(bpy, (0, 0, 80), (0, 0, 0), ortho=60)
    s = bpy.context.scene.gan3d
    rows = [("#2e2831", (0.18, 0.157, 0.192)), ("#86777a", (0.525, 0.467, 0.478)),
            ("#6e4d54", (0.431, 0.302, 0.329)), (None, None)]
    for k, (_, colour) in enumerate(rows):
        bpy.context.scene.cursor.location = (0.0, 12.0 - 8.0 * k, 0.0)
        _generate(bpy, addon, placement="CURSOR", count=8, seed=100 + 20 * k, random_yaw=False,
                  use_length_range=False, target_length=4.5, spacing=2.0, use_paint=colour is not None,
                  paint_color=colour or (0.5, 0.5, 0.5), paint_tolerance=12.0)
    s.use_paint = False
    _render(bpy, out / "population_paint.png")


def picture_bounds(bpy, addon, np, out):
    """Above the threshold (Preferences, 200 by default) new cars display as bounding boxes in the viewport."""
    prefs = bpy.context.preferences.addons[demo.ADDON_MODULE].preferences
    prefs.bounds_threshold = 30
    _plane(bpy, "Ground", (100, 56))
    _camera(bpy, (0, -70, 60), (math.radians(50), 0, 0), lens=32)
    bpy.context.scene.cursor.location = (-22.0, 0.0, 0.0)
    _generate(bpy, addon, placement="GRID", count=25, seed=7, random_yaw=False, spacing=1.5, use_paint=False)
    bpy.context.scene.cursor.location = (22.0, 0.0, 0.0)
    _generate(bpy, addon, seed=40)
    prefs.bounds_threshold = 200
    _render(bpy, out / "population_bounds.png")


def picture_camera(bpy, addon, np, out):
    """Camera View: only inside the camera's view; textures by distance (seen from the camera, and from above)."""
    ground = _plane(bpy, "Ground", (260, 260))
    camera = _camera(bpy, (0, -110, 14), (math.radians(80), 0, 0), lens=35)
    bpy.context.scene.render.resolution_x, bpy.context.scene.render.resolution_y = 960, 540
    _select(bpy, ground)
    _generate(bpy, addon, placement="CAMERA", count_mode="COUNT", count=70, seed=8, random_yaw=True, spacing=1.5,
              camera_near_texture=512, camera_far_texture=128, width_ratio=0.5)
    _render(bpy, out / "_camera_view.png")
    _camera(bpy, (0, 0, 200), (0, 0, 0), ortho=265)
    _render(bpy, out / "_camera_top.png", size=(540, 540))
    bpy.context.scene.camera = camera
    _side_by_side([out / "_camera_view.png", out / "_camera_top.png"], out / "population_camera.png")


PICTURES = (picture_avoid, picture_density, picture_slopes, picture_roads, picture_paint, picture_bounds,
            picture_camera)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=pathlib.Path, default=ROOT / "docs" / "images")
    parser.add_argument("--only", default="", help="comma-separated picture names (avoid, density, ...)")
    args = parser.parse_args(argv)
    import build_addon
    import os

    build_dir = ROOT / "build"
    zips = build_addon.build(build_dir / "demo_dist", build_dir / "wheels", platforms=("linux-x64",), legacy=False)
    port = demo.free_port()
    log_path = build_dir / "population_images_backend.log"
    backend = demo.start_backend(port, log_path)
    user = tempfile.TemporaryDirectory(prefix="population_user_", dir=build_dir, ignore_cleanup_errors=True)
    try:
        os.environ["BLENDER_USER_RESOURCES"] = user.name
        import bpy
        import numpy as np

        bpy.ops.wm.read_factory_settings(use_empty=True)
        addon = demo.install_addon(bpy, zips[0])
        demo.connect(bpy, addon, f"127.0.0.1:{port}", backend, log_path)
        s = bpy.context.scene.gan3d
        s.randomise_seed, s.snap_to_ground = False, True
        args.out.mkdir(parents=True, exist_ok=True)
        wanted = {n.strip() for n in args.only.split(",") if n.strip()}
        for picture in PICTURES:
            if wanted and picture.__name__.removeprefix("picture_") not in wanted:
                continue
            print(f"[{picture.__name__}] {picture.__doc__.splitlines()[0]}", flush=True)
            _reset(bpy)
            picture(bpy, addon, np, args.out)
        addon.runtime.shutdown()
    except demo.DemoError as exc:
        print(f"population_images: error: {exc}", file=sys.stderr)
        return 1
    finally:
        demo.stop_backend(backend)
        user.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
