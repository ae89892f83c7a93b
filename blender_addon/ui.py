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


def _draw_placement(layout, settings, context) -> None:
    """Placement, variety, population options (only those that apply to the chosen placement)."""
    mode = settings.placement
    populate = mode in ("SCATTER", "CURVE", "CAMERA")
    col = layout.column(align=True)
    col.prop(settings, "placement", text="")
    if populate:
        col.row(align=True).prop(settings, "count_mode", expand=True)
        if settings.count_mode == "DENSITY":
            col.prop(settings, "density")
    col.prop(settings, "spacing")
    row = col.row(align=True)
    row.prop(settings, "target_length", text="Length" if not settings.use_length_range else "Min")
    row.prop(settings, "use_length_range", text="", icon="ARROW_LEFTRIGHT")
    if settings.use_length_range:
        col.prop(settings, "length_max")
    if populate:
        col.prop(settings, "width_ratio")
    row = col.row(align=True)
    row.prop(settings, "random_yaw", toggle=True)
    row.prop(settings, "snap_to_ground", toggle=True)
    if settings.random_yaw and mode != "CURVE":
        row = col.row(align=True)
        row.prop(settings, "yaw_min", text="Yaw")
        row.prop(settings, "yaw_max", text="")
    if mode in ("SCATTER", "CAMERA"):
        box = layout.box()
        row = box.row(align=True)
        row.prop(settings, "align_to_surface", toggle=True)
        row.prop(settings, "max_slope")
        box.prop(settings, "density_mask")
        if settings.density_mask == "VERTEX_GROUP":
            active = context.active_object
            if active is not None and active.type == "MESH":
                box.prop_search(settings, "density_group", active, "vertex_groups")
            else:
                box.prop(settings, "density_group")
        elif settings.density_mask == "IMAGE":
            box.template_ID(settings, "density_image", open="image.open")
    if mode == "CURVE":
        box = layout.box()
        row = box.row(align=True)
        row.prop(settings, "lanes")
        row.prop(settings, "lane_width", text="Width")
        row = box.row(align=True)
        row.prop(settings, "both_sides", toggle=True)
        row.prop(settings, "spacing_jitter")
        box.prop(settings, "lane_directions")
    if mode == "CAMERA":
        row = layout.row(align=True)
        row.prop(settings, "camera_near_texture", text="Near")
        row.prop(settings, "camera_far_texture", text="Far")
    if populate:
        box = layout.box()
        box.prop(settings, "avoid_collection")
        box.prop(settings, "avoid_generated")
        target = "curve" if mode == "CURVE" else "mesh"
        active = context.active_object
        ok = active is not None and active.type == target.upper()
        box.label(text=f"On: {active.name}" if ok else f"Select the {target} object first",
                  icon="CHECKMARK" if ok else "INFO")
    row = layout.row(align=True)
    row.prop(settings, "use_paint", toggle=True)
    sub = row.row(align=True)
    sub.active = settings.use_paint
    sub.prop(settings, "paint_color", text="")
    sub.prop(settings, "paint_tolerance", text="ΔE")


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

        _draw_placement(layout, settings, context)

        running = runtime.running_jobs()
        if running:
            box = layout.box()
            for job in running:
                box.label(text=job.label)
                if job.planning is not None:
                    box.label(text="Planning the layout…", icon="SORTTIME")
                else:
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
