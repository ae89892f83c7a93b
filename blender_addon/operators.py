"""Operators. They only validate, compute where objects go, and enqueue work: nothing here waits for the network.
Objects are built later on the main thread by :mod:`.applier` as meshes arrive.
"""
from __future__ import annotations

import dataclasses
from collections import OrderedDict

import bpy
import numpy as np
from bpy_extras.io_utils import ExportHelper, ImportHelper

from . import (addressing, backend_process, latent_ops, messages, object_properties, placement, population, preferences,
               properties, protocol, runtime)
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
            count, plan = population.prepare_layout(context, settings, np.random.default_rng(settings.seed), model)
        except placement.PlacementError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        batch = population.Batch.from_panel(context, settings, model, preferences.get(context).bounds_threshold)
        if count <= population.SYNC_PLAN_LIMIT:
            try:
                label, slots, requests = population.slots_and_requests(batch, plan())
            except placement.PlacementError as exc:
                self.report({"ERROR"}, str(exc))
                return {"CANCELLED"}
            _submit(context, label, slots, requests, worker)
        else:   # a large layout is planned on a thread; the timer sends the request when it is ready
            population.plan_in_background(batch, count, plan)
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
