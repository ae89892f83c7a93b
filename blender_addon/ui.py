"""The sidebar panel (3D View › N › gan3d)."""
from __future__ import annotations

import bpy

from . import preferences, runtime
from .runtime import STATE


def _draw_progress(layout, job) -> None:
    done, total = len(job.built), job.total
    text = f"{done} of {total}"
    if hasattr(layout, "progress"):  # Blender 4.0+
        layout.progress(factor=done / max(total, 1), type="BAR", text=text)
    else:
        layout.label(text=f"Building {text}", icon="SORTTIME")


class GAN3D_PT_generate(bpy.types.Panel):
    bl_label = "Generate 3D Car"
    bl_idname = "GAN3D_PT_generate"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "gan3d"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.gan3d
        connection = STATE.connection

        status = layout.box()
        row = status.row()
        row.operator("gan3d.connect", text="Reconnect" if connection.info else "Connect", icon="FILE_REFRESH")
        row.operator("gan3d.start_backend", text="", icon="PLAY")
        preferences.draw_connection(status.column(align=True))
        if connection.info is None and not connection.pending and not connection.error:
            _auto_connect(context)

        col = layout.column(align=True)
        col.prop(settings, "model")
        col.prop(settings, "class_name")
        col.prop(settings, "count")
        row = col.row(align=True)
        row.prop(settings, "seed")
        row.prop(settings, "randomise_seed", text="", icon="FILE_REFRESH")
        col.prop(settings, "truncation")
        col.prop(settings, "texture_size")

        col = layout.column(align=True)
        col.prop(settings, "placement", text="")
        col.prop(settings, "spacing")
        col.prop(settings, "target_length")
        row = col.row(align=True)
        row.prop(settings, "random_yaw", toggle=True)
        row.prop(settings, "snap_to_ground", toggle=True)
        if settings.placement in ("SCATTER", "CURVE"):
            target = "mesh" if settings.placement == "SCATTER" else "curve"
            active = context.active_object
            ok = active is not None and active.type == target.upper()
            col.label(text=f"On: {active.name}" if ok else f"Select the {target} object first",
                      icon="CHECKMARK" if ok else "INFO")

        running = runtime.running_jobs()
        if running:
            box = layout.box()
            for job in running:
                box.label(text=job.label)
                _draw_progress(box, job)
            box.operator("gan3d.cancel", icon="CANCEL")
        else:
            layout.operator("gan3d.generate", text="Generate 3D Car", icon="AUTO")

        box = layout.box()
        box.label(text="Selected objects")
        box.prop(settings, "regenerate_mode", text="")
        row = box.row(align=True)
        row.operator("gan3d.regenerate", icon="FILE_REFRESH")
        row.operator("gan3d.reproduce", icon="LOOP_BACK")

        box = layout.box()
        box.label(text="Latent tools")
        row = box.row(align=True)
        row.prop(settings, "variation_count", text="")
        row.prop(settings, "variation_strength")
        box.operator("gan3d.variations", icon="MOD_PARTICLES")
        row = box.row(align=True)
        row.prop(settings, "blend_steps")
        row.prop(settings, "blend_include_ends", text="", icon="ARROW_LEFTRIGHT")
        box.operator("gan3d.blend", icon="IPO_EASE_IN_OUT")
        row = box.row(align=True)
        row.operator("gan3d.save_look", icon="EXPORT")
        row.operator("gan3d.load_look", icon="IMPORT")

        if STATE.last_report:
            icon = "ERROR" if any(j.status == "failed" and j.message == STATE.last_report
                                  for j in STATE.jobs.values()) else "INFO"
            for i, line in enumerate(preferences.wrap(STATE.last_report, 40)):
                layout.label(text=line, icon=icon if i == 0 else "BLANK1")


def _auto_connect(context) -> None:
    """Ask for ``info`` once when the panel is first shown (asynchronous; draws never wait)."""
    try:
        worker = preferences.worker(context)
    except Exception as exc:  # malformed address: show it instead of connecting
        STATE.connection.error = str(exc)
        return
    from .operators import online_access_problem

    problem = online_access_problem(worker.address)
    if problem:
        STATE.connection.error = problem
        return
    runtime.request_info(worker)


CLASSES = (GAN3D_PT_generate,)
