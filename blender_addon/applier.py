"""The main-thread side: turn worker events into objects. :func:`process_events` is a plain function that the
``bpy.app.timers`` callback calls; headless scripts and tests (where timers never fire) call it directly or use
:func:`wait_until_idle`.
"""
from __future__ import annotations

import dataclasses
import time

import bpy
from mathutils import Vector

from . import jobs, object_properties, placement, population, preferences, scene_builder
from .runtime import STATE, JobState

TIMER_INTERVAL_BUSY = 0.02
TIMER_INTERVAL_IDLE = 0.5


#: Budget of one timer call (s): the timer fires every TIMER_INTERVAL_BUSY s and must not block Blender for longer.
TIMER_BUDGET = 0.035
_cost = {"event": 0.004}    # running estimate of one event's cost (s), to stop before the budget is spent


def process_events(time_budget: float = TIMER_BUDGET) -> int:
    """Apply what the IO thread delivered, for up to about ``time_budget`` seconds (at least one event).

    An event is only started when the running estimate of its cost still fits the budget, so a call ends within
    about ``time_budget`` (plus one event when a single one is slower than the estimate). Returns the number of events
    handled. Never raises for backend problems: they end up in the job's or the connection's ``message`` / ``error``.
    """
    worker = STATE.worker
    if worker is None:
        return 0
    start = time.perf_counter()
    population.poll_planning()
    handled = 0
    while True:
        now = time.perf_counter()
        if handled and now - start + _cost["event"] > time_budget:
            break
        events = worker.events(limit=1)
        if not events:
            break
        _handle(events[0])
        spent = time.perf_counter() - now
        _cost["event"] = 0.8 * _cost["event"] + 0.2 * spent if spent < 1.0 else _cost["event"]
        handled += 1
    if handled:
        _redraw()
    return handled


def wait_until_idle(timeout: float = 120.0, poll: float = 0.01) -> bool:
    """Apply events until no job runs, no connection check is pending and no backend we started is still coming up
    (for scripts and background mode, where the timer never fires).

    Returns False if ``timeout`` seconds passed first.
    """
    from . import backend_process

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        process_events(time_budget=1.0)
        backend_process.tick()
        busy = (any(j.status == "running" for j in STATE.jobs.values()) or STATE.connection.pending
                or backend_process.starting())
        if not busy:
            return True
        time.sleep(poll)
    return False


def _handle(event) -> None:
    if isinstance(event, jobs.InfoReady):
        _on_info(event)
    elif isinstance(event, jobs.InfoFailed):
        connection = STATE.connection
        connection.pending = False
        connection.info = None
        connection.error = event.message
    elif isinstance(event, jobs.MeshReady):
        job = STATE.jobs.get(event.job_id)
        if job is not None and job.status == "running":  # meshes of a cancelled job are dropped
            try:
                build_result(job, event.slot, event.mesh)
            except Exception as exc:  # a broken result must not kill the timer
                finish_job(job, "failed", f"could not build object: {type(exc).__name__}: {exc}")
                if STATE.worker is not None:
                    STATE.worker.cancel(job.job_id)
    elif isinstance(event, jobs.JobEnded):
        job = STATE.jobs.get(event.job_id)
        if job is not None and job.status == "running":
            if event.status == "done" and len(job.built) < job.total:
                finish_job(job, "failed", f"the backend ended the job after {len(job.built)} of {job.total} objects")
            else:
                finish_job(job, event.status, event.message)


def _on_info(event: jobs.InfoReady) -> None:
    connection = STATE.connection
    connection.pending = False
    connection.error = ""
    connection.info = event.info
    topology = event.info.topology
    if topology.key not in STATE.topologies:
        STATE.topologies[topology.key] = scene_builder.Topology.from_arrays(
            topology.vertex_count, topology.faces, topology.uvs, topology.face_uvs)


def finish_job(job: JobState, status: str, message: str = "") -> None:
    """Mark ``job`` ended (done / cancelled / failed), set its message and push one undo step for its objects."""
    job.status = status
    job.finished = time.perf_counter()
    n = len(job.built)
    if status == "done":
        job.message = f"{job.label}: {n} object{'s' if n != 1 else ''} in {job.finished - job.started:.1f} s"
    elif status == "cancelled":
        job.message = f"{job.label} cancelled: kept the {n} complete object{'s' if n != 1 else ''}"
    else:
        job.message = message or f"{job.label} failed"
    STATE.last_report = job.message
    if n:
        _push_undo(f"gan3d: {job.label}")


def _push_undo(message: str) -> None:
    # One undo step for the whole batch: the objects were added by timer calls, which record no undo steps.
    try:
        if bpy.ops.ed.undo_push.poll():
            bpy.ops.ed.undo_push(message=message)
    except RuntimeError:
        pass  # no undo stack (background mode)


def build_result(job: JobState, slot_index: int, mesh) -> None:
    """Build (or rebuild) the object of slot ``slot_index`` of ``job`` from one protocol ``MeshResult``."""
    slot = job.slots[slot_index]
    topology = STATE.topologies.get(mesh.topology_key)
    if topology is None:
        raise RuntimeError("the backend's mesh topology changed; press Connect and generate again")
    scene = bpy.data.scenes.get(job.scene_name) or bpy.context.scene
    provenance = with_latent(slot.provenance, mesh)
    if slot.max_width > 0:   # keep inside the ground planned for it: a wider mesh gets shorter
        provenance = dataclasses.replace(provenance, target_length=placement.fitted_length(
            mesh.vertices, provenance.target_length, slot.max_width))
    keep_name = slot.replace and provenance.explicit   # a seedless object keeps the name the user knows it by
    name = slot.replace if keep_name else (slot.name or object_name(provenance))
    data = scene_builder.build_data(name, mesh.vertices, mesh.texture, topology, provenance.target_length,
                                    _material_style())
    if slot.replace:
        obj = bpy.data.objects.get(slot.replace)
        if obj is None or obj.type != "MESH":
            scene_builder.remove_mesh_with_materials(data)  # the user deleted it meanwhile
            return
        scene_builder.replace_data(obj, data)
        if not keep_name:
            obj.name = name
    else:
        location = Vector(slot.location)
        if slot.snap_to_ground:
            location.z = ground_height(scene, location)
        rotation = None
        if slot.normal is not None and abs(slot.normal[2]) < 1.0 - 1e-12:
            rotation = placement.orientations([slot.normal], [slot.yaw])[0]
        obj = scene_builder.create_object(name, data, scene_builder.generated_collection(scene), location, slot.yaw,
                                          rotation)
        if slot.display_bounds:
            obj.display_type = "BOUNDS"   # viewport only: renders still show the textured mesh
    object_properties.write(obj, provenance)
    job.built.append(obj.name)


def _material_style() -> str:
    """The *Materials* preference (the default style when the add-on's preferences are not reachable)."""
    try:
        return preferences.get().material_style
    except (KeyError, AttributeError):
        return scene_builder.MATERIAL_STYLES[0][0]


def with_latent(provenance, mesh):
    """``provenance`` completed with what the mesh came from: its latent and the model's weights fingerprint."""
    info = STATE.connection.info
    model = next((m for m in info.models if m.name == provenance.model), None) if info is not None else None
    latent = tuple(float(v) for v in mesh.latent) if getattr(mesh, "latent", None) is not None else provenance.latent
    fingerprint = getattr(model, "fingerprint", "") or provenance.model_fingerprint
    out = dataclasses.replace(provenance, latent=latent, model_fingerprint=fingerprint)
    if getattr(mesh, "paint", None) and mesh.seed is not None:   # a paint candidate: the seed it was made from
        out = dataclasses.replace(out, seed=int(mesh.seed), paint_color=tuple(float(c) for c in mesh.paint["color"]))
    return out


def object_name(provenance) -> str:
    """``<class>_<seed>``; an unconditional model's objects are named after its category ("car" if unknown)."""
    what = provenance.class_name
    if not what:
        info = STATE.connection.info
        model = next((m for m in info.models if m.name == provenance.model), None) if info is not None else None
        what = getattr(model, "category", None) or "car"
    return f"{what}_{provenance.seed}"


def ground_height(scene, location: Vector, max_skips: int = 16) -> float:
    """z of the first surface below ``location`` that is not a generated object; if there is none below, the
    first one found from 1 km above (ground higher than the cursor); else ``location.z``."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    generated = bpy.data.collections.get(scene_builder.COLLECTION_NAME)
    skip = set(generated.all_objects) if generated is not None else set()
    down = Vector((0.0, 0.0, -1.0))
    for start_height in (1e-3, 1000.0):
        origin = Vector((location.x, location.y, location.z + start_height))
        for _ in range(max_skips):
            hit, where, _normal, _index, obj, _matrix = scene.ray_cast(depsgraph, origin, down)
            if not hit:
                break
            if obj is not None and getattr(obj, "original", obj) not in skip:
                return where.z
            origin = where + down * 1e-3
    return location.z


def _redraw() -> None:
    wm = getattr(bpy.context, "window_manager", None)
    if wm is None:
        return
    for window in wm.windows:
        for area in window.screen.areas:
            if area.type in ("VIEW_3D", "PREFERENCES"):
                area.tag_redraw()


def timer() -> float:
    """The ``bpy.app.timers`` callback (persistent across file loads)."""
    from . import backend_process

    process_events()
    backend_process.tick()
    busy = any(j.status == "running" for j in STATE.jobs.values()) or STATE.connection.pending
    return TIMER_INTERVAL_BUSY if busy else TIMER_INTERVAL_IDLE


def register() -> None:
    if not bpy.app.timers.is_registered(timer):
        bpy.app.timers.register(timer, first_interval=0.1, persistent=True)


def unregister() -> None:
    if bpy.app.timers.is_registered(timer):
        bpy.app.timers.unregister(timer)
