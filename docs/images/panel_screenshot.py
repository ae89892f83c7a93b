"""Blender startup script used to take docs/images/addon_panel.png in a real Blender window (see docs/addon.md).

    DISPLAY=:99 blender --factory-startup --python docs/images/panel_screenshot.py -- LEGACY_ZIP SERVER_ADDRESS

Installs the legacy zip (Blender 3.x–4.1 path), enables it, opens the sidebar, connects to the running backend
and generates a few cars through the operator; everything after start-up runs from bpy.app.timers, as in normal
use (the timers do fire in the UI). On a fresh Blender user folder the first-run Quick Setup covers the view:
after SCREENSHOT-READY, under Xvfb (`Xvfb :99 -screen 0 1600x900x24`), a click in the viewport and Escape close it,
a click on the sidebar's gan3d tab shows the panel, dragging the sidebar's left edge widens it, and
`import -window root docs/images/addon_panel.png` (ImageMagick) takes the picture (xdotool for the mouse).
"""
import sys

import addon_utils
import bpy

ZIP, ADDRESS = sys.argv[sys.argv.index("--") + 1:][:2]
MODULE = "gan3d"
STEP = {"n": 0}


def view3d():
    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                region = next(r for r in area.regions if r.type == "WINDOW")
                return window, area, region
    return None, None, None


def setup():
    bpy.context.preferences.view.show_splash = False
    bpy.ops.preferences.addon_install(filepath=ZIP, overwrite=True)
    addon_utils.enable(MODULE, default_set=True)
    prefs = bpy.context.preferences.addons[MODULE].preferences
    prefs.server_address = ADDRESS
    for name in ("Cube", "Light"):
        obj = bpy.data.objects.get(name)
        if obj is not None:
            bpy.data.objects.remove(obj)
    bpy.ops.mesh.primitive_plane_add(size=60.0)
    window, area, region = view3d()
    space = area.spaces.active
    space.show_region_ui = True
    space.shading.type = "SOLID"
    space.shading.color_type = "TEXTURE"
    bpy.ops.gan3d.connect()
    bpy.app.timers.register(generate_when_connected, first_interval=1.0)
    return None


def generate_when_connected():
    state = sys.modules[MODULE].runtime.STATE
    if state.connection.info is None:
        return 1.0
    settings = bpy.context.scene.gan3d
    settings.count, settings.placement, settings.random_yaw = 6, "GRID", True
    window, area, region = view3d()
    with bpy.context.temp_override(window=window, area=area, region=region):
        bpy.ops.gan3d.generate()
    bpy.app.timers.register(frame_when_done, first_interval=1.0)
    return None


def frame_when_done():
    state = sys.modules[MODULE].runtime.STATE
    if any(j.status == "running" for j in state.jobs.values()):
        return 0.5
    window, area, region = view3d()
    with bpy.context.temp_override(window=window, area=area, region=region):
        bpy.ops.view3d.view_all()
    print("SCREENSHOT-READY", flush=True)
    return None


bpy.app.timers.register(setup, first_interval=2.0)
