"""Scene population on the bpy side: read the surface, obstacles, curve and camera from the scene, turn a layout
into slots and requests, and plan large layouts on a thread.

The math itself is :mod:`.placement` (numpy only); this module only gathers its inputs (main thread) and hands
its results to the job machinery (:mod:`.runtime`, :mod:`.jobs`).
"""
from __future__ import annotations

import dataclasses
import itertools
import math
import threading
import time
from dataclasses import dataclass
from typing import Callable

import bpy
import numpy as np
from mathutils import geometry

from . import footprints, placement, properties, protocol, scene_builder
from .jobs import RequestSpec
from .object_properties import Provenance
from .runtime import STATE, JobState, Slot


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


def prepare_layout(context, settings, rng: np.random.Generator, model=None) -> tuple[int, Callable[[], Plan]]:
    """Read what the layout needs from the scene (main thread: bpy) and return (count, plan): ``plan()`` computes
    where the objects go with numpy alone, so it may run on another thread. The count comes from Count, or Density
    times the usable area. Raises PlacementError with one line saying what to change."""
    cursor = np.array(context.scene.cursor.location, dtype=np.float64)
    mode = settings.placement
    active = context.active_object
    lengths = settings.length_range()
    placement.check_range(*lengths, "length")
    if settings.random_yaw:
        placement.check_range(settings.yaw_min, settings.yaw_max, "yaw", "rad")
    if mode in ("CURSOR", "GRID"):
        count, pitch = settings.count, settings.pitch()
        layout = placement.at_point(count, cursor, pitch) if mode == "CURSOR" else placement.grid(count, cursor, pitch)
        layout = dataclasses.replace(layout, lengths=placement.lengths_in_range(count, rng, *lengths))
        if settings.random_yaw:
            layout = dataclasses.replace(layout, yaws=placement.yaws_in_range(count, rng, settings.yaw_min,
                                                                              settings.yaw_max))
        return count, lambda: Plan(layout)
    depsgraph = context.evaluated_depsgraph_get()
    if mode == "CURVE":
        if active is None or active.type != "CURVE":
            raise placement.PlacementError("Along Curve needs an active curve object (select the curve)")
        points, tilts = curve_polyline(active)
        lanes = settings.lanes * (2 if settings.both_sides else 1)
        count = _count(settings, lambda: placement.polyline_length(points) * lanes * settings.lane_width)
        options = dict(lanes=settings.lanes, lane_width=settings.lane_width, both_sides=settings.both_sides,
                       directions=settings.lane_directions, length_range=lengths, width_ratio=settings.width_ratio,
                       gap=settings.spacing, jitter=settings.spacing_jitter,
                       obstacles=obstacle_footprints(context, settings, exclude={active}))
        placement.lane_directions(settings.lane_directions, settings.lanes, settings.both_sides)   # fail early
        return count, lambda: Plan(placement.along_road(count, points, tilts, rng, **options))
    if mode not in ("SCATTER", "CAMERA"):
        raise placement.PlacementError(f"unknown placement {mode!r}")
    what = "Scatter on Surface" if mode == "SCATTER" else "Camera View"
    if active is None or active.type != "MESH":
        raise placement.PlacementError(f"{what} needs an active mesh object to scatter on (select the ground)")
    surface = surface_of(active, depsgraph, settings)
    max_slope = math.degrees(settings.max_slope)
    placement.check_surface(surface, max_slope)
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
    room = surface.usable_area(max_slope, area_rng) if surface.corner_weights is None and surface.mask is None \
        else placement.Surface(surface.triangles).usable_area(max_slope, area_rng)   # where objects may stand at all
    if inside is not None:
        points, _ = surface.sample(4096, area_rng, max_slope)
        room *= min(1.0, 1.2 * float(inside(points).mean())) if len(points) else 0.0
    placement.check_room(count, room, lengths[0], settings.width_ratio, settings.spacing)
    options = dict(length_range=lengths, width_ratio=settings.width_ratio, gap=settings.spacing,
                   yaw_range=settings.yaw_range(), align=settings.align_to_surface, max_slope_deg=max_slope,
                   obstacles=obstacle_footprints(context, settings, {active}), inside=inside)
    near, far = settings.camera_near_texture, settings.camera_far_texture
    offered = model.texture_sizes if model is not None else [near]

    def plan() -> Plan:
        layout = placement.scatter(count, surface, rng, **options)
        if mode == "SCATTER":
            return Plan(layout)
        distances = np.linalg.norm(layout.positions - apex, axis=1)
        return Plan(layout, placement.texture_sizes_by_distance(distances, layout.lengths, focal_px, near, far,
                                                                offered))

    return count, plan


def compute_layout(context, settings, rng: np.random.Generator, model=None) -> Plan:
    """Where the new objects go for the panel's settings (:func:`prepare_layout`, then its plan)."""
    return prepare_layout(context, settings, rng, model)[1]()


# -- from a plan to requests, and planning in the background ------------------------------------------------

#: Batches of at most this many objects are planned at once in the operator (errors show on the button); larger
#: ones on a thread, so Blender's main thread never waits for the placement math.
SYNC_PLAN_LIMIT = 100


@dataclass(frozen=True)
class Batch:
    """What the Generate button asked for, captured when it was pressed (the layout may come later)."""

    scene_name: str
    model: str
    class_name: str
    class_index: int
    class_value: object
    seed: int
    truncation: float
    texture_size: int
    untrained: bool
    target_length: float
    snap_to_ground: bool
    paint: tuple = ()             # (colour, tolerance) or ()
    bounds_threshold: int = 200

    @classmethod
    def from_panel(cls, context, settings, model, bounds_threshold: int) -> "Batch":
        class_name, class_value = properties.class_choice(settings)
        return cls(context.scene.name, model.name, class_name,
                   model.classes.index(class_name) if class_name else -1, class_value, settings.seed,
                   settings.truncation, properties.texture_size_choice(settings) or model.texture_size,
                   model.untrained, settings.target_length,
                   settings.snap_to_ground and settings.placement not in ("SCATTER", "CAMERA"),
                   (tuple(settings.paint_color), settings.paint_tolerance) if settings.use_paint else (),
                   bounds_threshold)


def slots_and_requests(batch: Batch, plan: Plan) -> tuple[str, list[Slot], list[RequestSpec]]:
    """(job label, slots, requests) for a planned batch: one request per texture size, each with consecutive seeds
    (the slots are ordered by texture size, largest first)."""
    layout = plan.layout
    count = len(layout)
    seed = min(batch.seed, properties.MAX_UI_SEED - count + 1)
    sizes = plan.texture_sizes if plan.texture_sizes is not None else np.full(count, batch.texture_size)
    order = np.argsort(-np.asarray(sizes), kind="stable")
    lengths = layout.lengths if layout.lengths is not None else np.full(count, batch.target_length)
    generated = bpy.data.collections.get(scene_builder.COLLECTION_NAME)
    bounds = (len(generated.objects) if generated is not None else 0) + count > batch.bounds_threshold
    slots = [Slot(Provenance(batch.model, batch.class_name, batch.class_index, seed + j, batch.truncation,
                             float(lengths[k]), int(sizes[k]), batch.untrained),
                  location=tuple(layout.positions[k]), yaw=float(layout.yaws[k]), snap_to_ground=batch.snap_to_ground,
                  normal=None if layout.normals is None else tuple(layout.normals[k]),
                  max_width=0.0 if layout.widths is None else float(layout.widths[k]), display_bounds=bounds)
             for j, k in enumerate(order)]
    paint = {"paint_color": batch.paint[0], "paint_tolerance": batch.paint[1]} if batch.paint else {}
    requests, start = [], 0
    for size in sorted({int(s) for s in sizes}, reverse=True):
        n = int(np.sum(np.asarray(sizes) == size))
        requests.append(RequestSpec(n, seed + start, batch.model, batch.class_value, batch.truncation, size, **paint))
        start += n
    what = batch.class_name or "car"
    return f"Generate {count} {what}{'s' if count > 1 else ''}", slots, requests


class _Planner:
    """Runs ``plan()`` on a daemon thread; ``result`` or ``error`` (one line) once ``done``."""

    def __init__(self, plan: Callable[[], Plan]):
        self.result: Plan | None = None
        self.error = ""
        self._thread = threading.Thread(target=self._run, args=(plan,), name="gan3d-plan", daemon=True)
        self._thread.start()

    def _run(self, plan) -> None:
        try:
            self.result = plan()
        except placement.PlacementError as exc:
            self.error = str(exc)
        except Exception as exc:   # a bug must end the job with a message, not vanish with the thread
            self.error = f"planning the layout failed: {type(exc).__name__}: {exc}"

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()


_PLAN_IDS = itertools.count(1)


def plan_in_background(batch: Batch, count: int, plan: Callable[[], Plan]) -> JobState:
    """A placeholder job (negative id, no slots yet) whose layout is computed on a thread; :func:`poll_planning`
    (called by the timer) sends its requests when the layout is ready, or ends it with the placement's message."""
    job = JobState(-next(_PLAN_IDS), f"Plan {count} objects", batch.scene_name, [])
    job.planning = (_Planner(plan), batch)
    STATE.jobs[job.job_id] = job
    STATE.last_report = ""
    return job


def poll_planning() -> None:
    """Send the requests of every planned batch whose layout is ready (main thread)."""
    for job in [j for j in STATE.jobs.values() if j.planning is not None and j.status == "running"]:
        planner, batch = job.planning
        if not planner.done:
            continue
        job.planning = None
        if planner.error or STATE.worker is None:
            job.status, job.finished = "failed", time.perf_counter()
            job.message = planner.error or "the backend connection was closed while planning; press Connect"
            STATE.last_report = job.message
            continue
        label, slots, requests = slots_and_requests(batch, planner.result)
        del STATE.jobs[job.job_id]
        job_id = STATE.worker.submit(requests)
        STATE.jobs[job_id] = JobState(job_id, label, batch.scene_name, slots, started=job.started)
