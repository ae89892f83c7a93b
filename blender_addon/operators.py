"""Operators. They only validate, compute where objects go, and enqueue work: nothing here waits for the network.
Objects are built later on the main thread by :mod:`.applier` as meshes arrive.
"""
from __future__ import annotations

import dataclasses
import math
from collections import OrderedDict

import bpy
import numpy as np
from bpy_extras.io_utils import ExportHelper, ImportHelper
from mathutils import geometry

from . import (addressing, backend_process, footprints, latent_ops, messages, object_properties, placement, preferences,
               properties, protocol, runtime, scene_builder)
from .jobs import RequestSpec
from .object_properties import Provenance
from .runtime import STATE, JobState, Slot

MAX_UI_SEED = properties.MAX_UI_SEED


# -- helpers ----------------------------------------------------------------------------------------

def _worker_or_report(op, context):
    try:
        worker = preferences.worker(context)
    except addressing.AddressError as exc:
        op.report({"ERROR"}, messages.describe(exc, "", 0))
        return None
    problem = online_access_problem(worker.address)
    if problem:
        op.report({"ERROR"}, problem)
        return None
    return worker


def online_access_problem(address: str) -> str:
    """'' when Blender may talk to ``address``. A backend on this computer is always allowed (documented);
    a remote one needs Blender's "Allow Online Access" (4.2+)."""
    if addressing.is_loopback(address) or getattr(bpy.app, "online_access", True):
        return ""
    forced = getattr(bpy.app, "online_access_override", False)
    where = ("Blender was started with --offline-mode" if forced
             else "enable Preferences › System › Network › Allow Online Access")
    return (f"Blender's online access is off, so the remote backend at {address} cannot be used: {where} "
            "(a backend on this computer works without it)")


def _connected_poll(cls, context) -> bool:
    if STATE.connection.info is None:
        cls.poll_message_set("Not connected to a backend: press Connect (start it with `python -m backend.serve`)")
        return False
    if runtime.running_jobs():
        cls.poll_message_set("A batch is running: wait for it or press Cancel")
        return False
    return True


def _submit(context, label: str, slots: list[Slot], requests: list[RequestSpec], worker) -> JobState:
    job_id = worker.submit(requests)
    job = JobState(job_id, label, context.scene.name, slots)
    STATE.jobs[job_id] = job
    STATE.last_report = ""
    return job


def _class_request(provenance: Provenance):
    return provenance.class_name or None


def surface_of(obj, depsgraph, settings) -> placement.Surface:
    """The evaluated geometry of a mesh object as a placement Surface: world-space triangles (counter-clockwise from
    outside) with the panel's density mask (vertex group weights per corner, or an image through the active UV
    map). Raises PlacementError for a mask that cannot be read."""
    evaluated = obj.evaluated_get(depsgraph)
    mesh = evaluated.to_mesh()
    try:
        mesh.calc_loop_triangles()
        co = np.empty(len(mesh.vertices) * 3, dtype=np.float64)
        mesh.vertices.foreach_get("co", co)
        tris = np.empty(len(mesh.loop_triangles) * 3, dtype=np.int64)
        mesh.loop_triangles.foreach_get("vertices", tris)
        tris = tris.reshape(-1, 3)
        loops = np.empty(len(mesh.loop_triangles) * 3, dtype=np.int64)
        mesh.loop_triangles.foreach_get("loops", loops)
        weights = uvs = mask = None
        if settings.density_mask == "VERTEX_GROUP":
            weights = _vertex_group_weights(obj, mesh, settings.density_group)[tris]
        elif settings.density_mask == "IMAGE":
            uvs, mask = _image_mask(obj, mesh, settings.density_image)
            uvs = uvs[loops.reshape(-1, 3)]
    finally:
        evaluated.to_mesh_clear()
    matrix = np.array(obj.matrix_world, dtype=np.float64)
    world = co.reshape(-1, 3) @ matrix[:3, :3].T + matrix[:3, 3]
    triangles = world[tris]
    if np.linalg.det(matrix[:3, :3]) < 0:  # a mirrored object flips the winding
        triangles = triangles[:, ::-1]
        weights = weights[:, ::-1] if weights is not None else None
        uvs = uvs[:, ::-1] if uvs is not None else None
    return placement.Surface(triangles, corner_weights=weights, corner_uvs=uvs, mask=mask)


def _vertex_group_weights(obj, mesh, name: str) -> np.ndarray:
    group = obj.vertex_groups.get(name) if name else None
    if group is None:
        names = [g.name for g in obj.vertex_groups]
        raise placement.PlacementError(f"the surface {obj.name!r} has no vertex group {name!r} for the density mask; "
                                       f"pick one of {names}" if names else
                                       f"the surface {obj.name!r} has no vertex groups: weight-paint one, or set the "
                                       "density mask to No Mask")
    weights = np.zeros(len(mesh.vertices))
    index = group.index
    for vertex in mesh.vertices:
        for entry in vertex.groups:
            if entry.group == index:
                weights[vertex.index] = entry.weight
    return weights


def _image_mask(obj, mesh, image) -> tuple[np.ndarray, np.ndarray]:
    """(loop UVs (L, 2), mask (H, W) in [0, 1]: the image's brightness times its alpha, row 0 at the bottom)."""
    if image is None:
        raise placement.PlacementError("the density mask is set to Image but no image is chosen")
    if mesh.uv_layers.active is None:
        raise placement.PlacementError(f"the surface {obj.name!r} has no UV map to read the density image through")
    width, height = image.size
    if width == 0 or height == 0:
        raise placement.PlacementError(f"the density image {image.name!r} has no pixels (is its file missing?)")
    uv = np.empty(len(mesh.loops) * 2, dtype=np.float64)
    mesh.uv_layers.active.data.foreach_get("uv", uv)
    pixels = np.empty(width * height * image.channels, dtype=np.float32)
    image.pixels.foreach_get(pixels)
    pixels = pixels.reshape(height, width, image.channels)
    mask = pixels[..., :3].mean(axis=2) if image.channels >= 3 else pixels[..., 0]
    if image.channels == 4:
        mask = mask * pixels[..., 3]
    return uv.reshape(-1, 2), mask


def world_box_corners(obj) -> np.ndarray:
    """(8, 3) world-space corners of an object's bounding box."""
    matrix = np.array(obj.matrix_world, dtype=np.float64)
    return np.array([tuple(c) for c in obj.bound_box], dtype=np.float64) @ matrix[:3, :3].T + matrix[:3, 3]


_SOLID = {"MESH", "CURVE", "SURFACE", "META", "FONT", "VOLUME", "POINTCLOUD", "CURVES"}


def obstacle_footprints(context, settings, exclude=()) -> np.ndarray:
    """Footprints (K, MAX_CORNERS, 2) to keep out of: the Avoid collection's objects and, with Avoid Generated, the
    generated objects already in the scene (``exclude``: objects never counted, e.g. the surface itself)."""
    objects = []
    if settings.avoid_collection is not None:
        objects += [o for o in settings.avoid_collection.all_objects if o.type in _SOLID]
    if settings.avoid_generated:
        generated = bpy.data.collections.get(scene_builder.COLLECTION_NAME)
        if generated is not None:
            objects += [o for o in generated.all_objects if o.type == "MESH"]
    in_scene = set(context.scene.objects)
    boxes = [world_box_corners(o) for o in dict.fromkeys(objects) if o not in exclude and o in in_scene]
    return footprints.box_footprints(np.array(boxes)) if boxes else np.zeros((0, footprints.MAX_CORNERS, 2))


def curve_polyline(obj) -> tuple[np.ndarray, np.ndarray]:
    """World-space points (N, 3) along the first spline of a curve object (Bézier segments sampled; NURBS use the
    control polygon) and the curve's tilt (N,) radians at each."""
    if not obj.data.splines:
        raise placement.PlacementError(f"curve {obj.name!r} has no splines")
    spline = obj.data.splines[0]
    points, tilts = [], []
    if spline.type == "BEZIER":
        bezier = list(spline.bezier_points)
        pairs = list(zip(bezier, bezier[1:])) + ([(bezier[-1], bezier[0])] if spline.use_cyclic_u else [])
        steps = max(spline.resolution_u, 4) * 4
        for a, b in pairs:
            segment = geometry.interpolate_bezier(a.co, a.handle_right, b.handle_left, b.co, steps + 1)
            ramp = np.linspace(a.tilt, b.tilt, steps + 1)
            start = 0 if not points else 1
            points.extend(segment[start:])
            tilts.extend(ramp[start:])
    else:  # POLY / NURBS: the control polygon
        points = [p.co.xyz for p in spline.points]
        tilts = [p.tilt for p in spline.points]
        if spline.use_cyclic_u and points:
            points.append(points[0])
            tilts.append(tilts[0])
    local = np.array([tuple(p) for p in points], dtype=np.float64).reshape(-1, 3)
    matrix = np.array(obj.matrix_world, dtype=np.float64)
    return local @ matrix[:3, :3].T + matrix[:3, 3], np.asarray(tilts, dtype=np.float64)


@dataclasses.dataclass
class Plan:
    """Where a batch goes: the layout, and the texture size of each object (None: the panel's size)."""

    layout: placement.Layout
    texture_sizes: np.ndarray | None = None


def _count(settings, area_of) -> int:
    """The panel's Count, or its density times the usable area (``area_of()`` m²)."""
    if settings.count_mode == "DENSITY":
        count = placement.count_for_density(settings.density, area_of())
        if count > protocol.MAX_COUNT:
            raise placement.PlacementError(f"a density of {settings.density:g} per 100 m² asks for {count} objects; "
                                           f"at most {protocol.MAX_COUNT} fit in one batch: lower the density")
        return count
    return settings.count


def _camera_view(context):
    """(inside test, apex (3,), focal length in pixels) of the scene's camera; PlacementError without one."""
    scene = context.scene
    camera = scene.camera
    if camera is None or camera.type != "CAMERA":
        raise placement.PlacementError("Camera View needs a scene camera (set one in Scene Properties)")
    matrix = np.array(camera.matrix_world, dtype=np.float64)
    frame = np.array([tuple(c) for c in camera.data.view_frame(scene=scene)], dtype=np.float64)
    corners = frame @ matrix[:3, :3].T + matrix[:3, 3]
    apex = matrix[:3, 3]
    render = scene.render
    width_px = render.resolution_x * render.resolution_percentage / 100.0
    half_width = (frame[:, 0].max() - frame[:, 0].min()) / 2.0
    focal_px = width_px * abs(frame[0, 2]) / (2.0 * max(half_width, 1e-9))
    inside = placement.frustum_test(apex, corners, camera.data.clip_start, camera.data.clip_end)
    return inside, apex, focal_px


def compute_layout(context, settings, rng: np.random.Generator, model=None) -> Plan:
    """Where the new objects go for the panel's settings (the count comes from Count or Density). Raises
    PlacementError with one line saying what to change."""
    cursor = np.array(context.scene.cursor.location, dtype=np.float64)
    mode = settings.placement
    active = context.active_object
    lengths = settings.length_range()
    placement.check_range(*lengths, "length")
    if settings.random_yaw:
        placement.check_range(settings.yaw_min, settings.yaw_max, "yaw", "rad")
    if mode in ("CURSOR", "GRID"):
        count = settings.count
        pitch = settings.pitch()
        layout = placement.at_point(count, cursor, pitch) if mode == "CURSOR" else placement.grid(count, cursor, pitch)
        layout = dataclasses.replace(layout, lengths=placement.lengths_in_range(count, rng, *lengths))
        if settings.random_yaw:
            layout = dataclasses.replace(layout, yaws=placement.yaws_in_range(count, rng, settings.yaw_min,
                                                                              settings.yaw_max))
        return Plan(layout)
    depsgraph = context.evaluated_depsgraph_get()
    if mode == "CURVE":
        if active is None or active.type != "CURVE":
            raise placement.PlacementError("Along Curve needs an active curve object (select the curve)")
        points, tilts = curve_polyline(active)
        lanes = settings.lanes * (2 if settings.both_sides else 1)
        count = _count(settings, lambda: placement.polyline_length(points) * lanes * settings.lane_width)
        layout = placement.along_road(
            count, points, tilts, rng, lanes=settings.lanes, lane_width=settings.lane_width,
            both_sides=settings.both_sides, directions=settings.lane_directions, length_range=lengths,
            width_ratio=settings.width_ratio, gap=settings.spacing, jitter=settings.spacing_jitter,
            obstacles=obstacle_footprints(context, settings, exclude={active}))
        return Plan(layout)
    if mode not in ("SCATTER", "CAMERA"):
        raise placement.PlacementError(f"unknown placement {mode!r}")
    what = "Scatter on Surface" if mode == "SCATTER" else "Camera View"
    if active is None or active.type != "MESH":
        raise placement.PlacementError(f"{what} needs an active mesh object to scatter on (select the ground)")
    surface = surface_of(active, depsgraph, settings)
    max_slope = math.degrees(settings.max_slope)
    inside = apex = None
    area_rng = np.random.default_rng(rng.integers(1 << 62))
    if mode == "CAMERA":
        inside, apex, focal_px = _camera_view(context)

        def area():
            points, _ = surface.sample(4096, area_rng, max_slope)
            share = float(inside(points).mean()) if len(points) else 0.0
            return surface.usable_area(max_slope, area_rng) * share
    else:
        def area():
            return surface.usable_area(max_slope, area_rng)
    count = _count(settings, area)
    layout = placement.scatter(count, surface, rng, length_range=lengths, width_ratio=settings.width_ratio,
                               gap=settings.spacing, yaw_range=settings.yaw_range(), align=settings.align_to_surface,
                               max_slope_deg=max_slope, obstacles=obstacle_footprints(context, settings, {active}),
                               inside=inside)
    if mode == "SCATTER":
        return Plan(layout)
    offered = model.texture_sizes if model is not None else [settings.camera_near_texture]
    sizes = placement.texture_sizes_by_distance(np.linalg.norm(layout.positions - apex, axis=1), layout.lengths,
                                                focal_px, settings.camera_near_texture, settings.camera_far_texture,
                                                offered)
    return Plan(layout, sizes)


# -- operators --------------------------------------------------------------------------------------

class GAN3D_OT_connect(bpy.types.Operator):
    """Connect to the backend and read its models, classes and device"""

    bl_idname = "gan3d.connect"
    bl_label = "Connect"

    def execute(self, context):
        worker = _worker_or_report(self, context)
        if worker is None:
            return {"CANCELLED"}
        STATE.connection.pending = False
        runtime.request_info(worker)
        return {"FINISHED"}


class GAN3D_OT_generate(bpy.types.Operator):
    """Generate textured 3D objects with the backend and place them in the scene"""

    bl_idname = "gan3d.generate"
    bl_label = "Generate 3D Car"

    @classmethod
    def poll(cls, context):
        return _connected_poll(cls, context)

    def execute(self, context):
        worker = _worker_or_report(self, context)
        if worker is None:
            return {"CANCELLED"}
        settings = context.scene.gan3d
        model = properties.current_model(settings)
        if settings.randomise_seed:
            settings.seed = runtime.random_seed(MAX_UI_SEED - protocol.MAX_COUNT + 1)
        try:
            plan = compute_layout(context, settings, np.random.default_rng(settings.seed), model)
        except placement.PlacementError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        layout = plan.layout
        count = len(layout)
        seed = min(settings.seed, MAX_UI_SEED - count + 1)
        class_name, class_value = properties.class_choice(settings)
        texture_size = properties.texture_size_choice(settings) or model.texture_size
        sizes = plan.texture_sizes if plan.texture_sizes is not None else np.full(count, texture_size)
        order = np.argsort(-sizes, kind="stable")      # one request per texture size, each with consecutive seeds
        class_index = model.classes.index(class_name) if class_name else -1
        lengths = layout.lengths if layout.lengths is not None else np.full(count, settings.target_length)
        prefs = preferences.get(context)
        generated = bpy.data.collections.get(scene_builder.COLLECTION_NAME)
        existing = len(generated.objects) if generated is not None else 0
        bounds = existing + count > prefs.bounds_threshold
        snap = settings.snap_to_ground and settings.placement not in ("SCATTER", "CAMERA")
        slots = []
        for j, k in enumerate(order):
            slots.append(Slot(
                Provenance(model.name, class_name, class_index, seed + j, settings.truncation, float(lengths[k]),
                           int(sizes[k]), model.untrained),
                location=tuple(layout.positions[k]), yaw=float(layout.yaws[k]), snap_to_ground=snap,
                normal=None if layout.normals is None else tuple(layout.normals[k]),
                max_width=0.0 if layout.widths is None else float(layout.widths[k]), display_bounds=bounds))
        paint = {}
        if settings.use_paint:
            paint = {"paint_color": tuple(settings.paint_color), "paint_tolerance": settings.paint_tolerance}
        requests, start = [], 0
        for size in sorted(set(int(s) for s in sizes), reverse=True):
            n = int(np.sum(sizes == size))
            requests.append(RequestSpec(n, seed + start, model.name, class_value, settings.truncation, size, **paint))
            start += n
        _submit(context, f"Generate {count} {class_name or 'car'}{'s' if count > 1 else ''}", slots, requests, worker)
        if model.untrained:
            self.report({"WARNING"}, f"Model {model.name!r} is untrained: expect noise-like blobs, not cars")
        return {"FINISHED"}


def _selected_generated(context) -> list:
    return [o for o in context.selected_objects if o.type == "MESH" and object_properties.is_generated(o)]


class GAN3D_OT_regenerate(bpy.types.Operator):
    """Replace the selected generated objects (new seeds, or their seeds with the panel's class), keeping their
    location, rotation, scale and collections"""

    bl_idname = "gan3d.regenerate"
    bl_label = "Regenerate Selected"

    @classmethod
    def poll(cls, context):
        if not _connected_poll(cls, context):
            return False
        if not _selected_generated(context):
            cls.poll_message_set("Select objects made by gan3d (they carry gan3d_* custom properties)")
            return False
        return True

    def execute(self, context):
        worker = _worker_or_report(self, context)
        if worker is None:
            return {"CANCELLED"}
        settings = context.scene.gan3d
        objects = _selected_generated(context)
        slots, requests = [], []
        if settings.regenerate_mode == "NEW_SEED":
            groups: OrderedDict = OrderedDict()
            for obj in objects:
                p = object_properties.read(obj)
                key = (p.model, p.class_name, p.class_weights, p.truncation, p.texture_size)
                groups.setdefault(key, []).append((obj, p))
            for (model, class_name, class_weights, truncation, texture_size), members in groups.items():
                base = runtime.random_seed(MAX_UI_SEED - len(members) + 1)
                weights = np.tile(np.asarray(class_weights, np.float32), (len(members), 1)) if class_weights else None
                requests.append(RequestSpec(len(members), base, model, None if class_weights else class_name or None,
                                            truncation, texture_size or None, class_weights=weights))
                for j, (obj, p) in enumerate(members):
                    slots.append(Slot(dataclasses.replace(p, seed=base + j), replace=obj.name))
        else:
            class_name, class_value = properties.class_choice(settings)
            models = {m.name: m for m in STATE.connection.info.models}
            for obj in objects:
                p = object_properties.read(obj)
                model = models.get(p.model)  # None: the server no longer has it and will say so
                class_index = model.classes.index(class_name) if model and class_name in model.classes else -1
                latents = np.asarray([p.latent], np.float32) if p.explicit and p.latent else None  # no seed: its latent
                requests.append(RequestSpec(1, max(p.seed, 0), p.model, class_value, p.truncation,
                                            p.texture_size or None, latents=latents))
                slots.append(Slot(dataclasses.replace(p, class_name=class_name, class_index=class_index,
                                                      class_weights=()), replace=obj.name))
        _submit(context, _objects_label("Regenerate", len(slots)), slots, requests, worker)
        return {"FINISHED"}


def _objects_label(verb: str, count: int) -> str:
    """The job's title in the panel, e.g. "Regenerate 3 objects"."""
    return f"{verb} {count} object{'s' if count > 1 else ''}"


class GAN3D_OT_reproduce(bpy.types.Operator):
    """Rebuild the selected generated objects exactly from their stored latent (or, for objects of older versions,
    their seed), model, class and truncation"""

    bl_idname = "gan3d.reproduce"
    bl_label = "Reproduce"

    @classmethod
    def poll(cls, context):
        return GAN3D_OT_regenerate.poll.__func__(cls, context)

    def execute(self, context):
        worker = _worker_or_report(self, context)
        if worker is None:
            return {"CANCELLED"}
        slots, requests = [], []
        for obj in _selected_generated(context):
            p = object_properties.read(obj)
            if p.latent:   # the latent itself: immune to changes of how seeds are sampled
                try:
                    model = latent_ops.served_model(p, STATE.connection.info, obj.name)
                    requests.append(latent_ops.rebuild_request(p, model, obj.name))
                except latent_ops.ToolError as exc:
                    self.report({"ERROR"}, str(exc))
                    return {"CANCELLED"}
            else:
                requests.append(RequestSpec(1, p.seed, p.model, _class_request(p), p.truncation,
                                            p.texture_size or None))
            slots.append(Slot(p, replace=obj.name))
        _submit(context, _objects_label("Reproduce", len(slots)), slots, requests, worker)
        return {"FINISHED"}


# -- latent tools ---------------------------------------------------------------------------------

def _message(exc: Exception) -> str:
    """One line for a latent-tool failure (KeyError messages come without their quotes)."""
    return str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)


def _tool_seed(settings) -> int:
    """The noise seed of a latent tool: the panel's seed, or a new random one when Random Seed is on."""
    if settings.randomise_seed:
        settings.seed = runtime.random_seed(MAX_UI_SEED)
    return settings.seed


def _yaw_of(obj) -> float:
    return float(obj.matrix_world.to_euler().z)


def _short_name(text: str) -> str:
    return text[:63]  # Blender names hold at most 63 bytes


def _selection_poll(cls, context, count: int, needs_connection: bool = True) -> bool:
    if needs_connection and not _connected_poll(cls, context):
        return False
    if len(_selected_generated(context)) != count:
        what = "one object" if count == 1 else f"{count} objects"
        cls.poll_message_set(f"Select exactly {what} made by gan3d")
        return False
    return True


class GAN3D_OT_variations(bpy.types.Operator):
    """Make cars near the selected one (its latent moved by Strength, its class kept), in a row beside it"""

    bl_idname = "gan3d.variations"
    bl_label = "Variations"

    @classmethod
    def poll(cls, context):
        return _selection_poll(cls, context, 1)

    def execute(self, context):
        worker = _worker_or_report(self, context)
        if worker is None:
            return {"CANCELLED"}
        settings = context.scene.gan3d
        obj = _selected_generated(context)[0]
        try:
            p = object_properties.read(obj)
            request, made = latent_ops.variations(p, STATE.connection.info, obj.name, settings.variation_strength,
                                                  settings.variation_count, _tool_seed(settings))
        except (KeyError, latent_ops.ToolError) as exc:
            self.report({"ERROR"}, _message(exc))
            return {"CANCELLED"}
        matrix = obj.matrix_world
        pitch = max(obj.dimensions.x, obj.dimensions.y, p.target_length) + settings.spacing
        row = placement.variation_row(len(made), matrix.translation, matrix.col[0][:3], _yaw_of(obj), pitch)
        slots = [Slot(m, location=tuple(row.positions[k]), yaw=float(row.yaws[k]),
                      snap_to_ground=settings.snap_to_ground, name=_short_name(f"{obj.name}_var{k + 1}"))
                 for k, m in enumerate(made)]
        _submit(context, f"Variations of {obj.name}", slots, [request], worker)
        return {"FINISHED"}


class GAN3D_OT_blend(bpy.types.Operator):
    """Make in-between cars of the two selected ones (their latents interpolated on a sphere, classes blended), in a
    row between them; from the other selected object to the active one"""

    bl_idname = "gan3d.blend"
    bl_label = "Blend"

    @classmethod
    def poll(cls, context):
        return _selection_poll(cls, context, 2)

    def execute(self, context):
        worker = _worker_or_report(self, context)
        if worker is None:
            return {"CANCELLED"}
        settings = context.scene.gan3d
        first, second = sorted(_selected_generated(context), key=lambda o: (o == context.active_object, o.name))
        try:
            request, made, fractions = latent_ops.blend(
                object_properties.read(first), object_properties.read(second), STATE.connection.info,
                (first.name, second.name), settings.blend_steps, settings.blend_include_ends)
        except (KeyError, latent_ops.ToolError) as exc:
            self.report({"ERROR"}, _message(exc))
            return {"CANCELLED"}
        # With the ends included they would sit on the two cars: the row goes beside them instead.
        beside = max(m.target_length for m in made) + settings.spacing if settings.blend_include_ends else 0.0
        row = placement.blend_row(first.matrix_world.translation, second.matrix_world.translation, _yaw_of(first),
                                  _yaw_of(second), fractions, beside)
        slots = [Slot(m, location=tuple(row.positions[j]), yaw=float(row.yaws[j]),
                      snap_to_ground=settings.snap_to_ground,
                      name=_short_name(f"blend_{j}_{first.name}_{second.name}"))
                 for j, m in enumerate(made)]
        _submit(context, f"Blend {first.name} → {second.name}", slots, [request], worker)
        return {"FINISHED"}


class GAN3D_OT_save_look(bpy.types.Operator, ExportHelper):
    """Save the selected car's look (model, latent, class, truncation, size) to a small JSON file that rebuilds it
    exactly on any machine with the same model"""

    bl_idname = "gan3d.save_look"
    bl_label = "Save Look"
    filename_ext = ".json"
    filter_glob: bpy.props.StringProperty(default="*.json", options={"HIDDEN"})

    @classmethod
    def poll(cls, context):
        return _selection_poll(cls, context, 1, needs_connection=False)

    def invoke(self, context, event):
        self.filepath = bpy.path.clean_name(_selected_generated(context)[0].name) + self.filename_ext
        return super().invoke(context, event)

    def execute(self, context):
        obj = _selected_generated(context)[0]
        try:
            look = latent_ops.look_of(object_properties.read(obj), obj.name)
            path = protocol.save_look(bpy.path.abspath(self.filepath), look)
        except (KeyError, latent_ops.ToolError) as exc:
            self.report({"ERROR"}, _message(exc))
            return {"CANCELLED"}
        except OSError as exc:
            self.report({"ERROR"}, f"cannot write the look file {self.filepath}: {exc.strerror or exc}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"Saved the look of {obj.name} to {path}")
        return {"FINISHED"}


class GAN3D_OT_load_look(bpy.types.Operator, ImportHelper):
    """Rebuild a saved look (a gan3d look .json file) at the 3D cursor, exactly as it was saved"""

    bl_idname = "gan3d.load_look"
    bl_label = "Load Look"
    filename_ext = ".json"
    filter_glob: bpy.props.StringProperty(default="*.json", options={"HIDDEN"})

    @classmethod
    def poll(cls, context):
        return _connected_poll(cls, context)

    def execute(self, context):
        worker = _worker_or_report(self, context)
        if worker is None:
            return {"CANCELLED"}
        settings = context.scene.gan3d
        path = bpy.path.abspath(self.filepath)
        try:
            look = protocol.load_look(path)
            request, made = latent_ops.from_look(look, STATE.connection.info, bpy.path.basename(path))
        except (protocol.LookError, latent_ops.ToolError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        slot = Slot(made, location=tuple(context.scene.cursor.location), snap_to_ground=settings.snap_to_ground,
                    name=_short_name(look.name or bpy.path.display_name_from_filepath(path)))
        _submit(context, f"Load look {bpy.path.basename(path)}", [slot], [request], worker)
        return {"FINISHED"}


class GAN3D_OT_cancel(bpy.types.Operator):
    """Stop the running batch on the server; objects already built stay"""

    bl_idname = "gan3d.cancel"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, context):
        return bool(runtime.running_jobs())

    def execute(self, context):
        from . import applier

        for job in runtime.running_jobs():
            if STATE.worker is not None:
                STATE.worker.cancel(job.job_id)
            applier.finish_job(job, "cancelled")  # results still in flight are dropped from now on
        return {"FINISHED"}


class GAN3D_OT_start_backend(bpy.types.Operator):
    """Start the local backend with the command set in Preferences, then connect to it"""

    bl_idname = "gan3d.start_backend"
    bl_label = "Start Backend"

    def execute(self, context):
        prefs = preferences.get(context)
        worker = _worker_or_report(self, context)
        if worker is None:
            return {"CANCELLED"}
        try:
            process = backend_process.start(prefs.backend_command, bpy.path.abspath(prefs.backend_directory), worker)
        except backend_process.BackendStartError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Backend starting (pid {process.pid}); it connects when ready")
        return {"FINISHED"}


CLASSES = (GAN3D_OT_connect, GAN3D_OT_generate, GAN3D_OT_regenerate, GAN3D_OT_reproduce, GAN3D_OT_variations,
           GAN3D_OT_blend, GAN3D_OT_save_look, GAN3D_OT_load_look, GAN3D_OT_cancel, GAN3D_OT_start_backend)
