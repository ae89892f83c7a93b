"""gan3d: textured 3D cars from a local GAN backend (Pavllo et al., ICCV 2021), straight into the scene.

Installs as a Blender 4.2+ extension (``blender_manifest.toml``; ``bl_info`` below is then ignored) or the legacy
way on Blender 3.x–4.1 (``bl_info``). The add-on never imports torch: it talks to ``python -m backend.serve``
over ZeroMQ with the vendored ``protocol`` package. Submodules are imported in :func:`register` so that the
bpy-free ones (placement, addressing, messages, object_properties, jobs) can be used and tested without Blender.

Scripting (background mode, where timers never fire)::

    addon = sys.modules[<this package>]
    bpy.ops.gan3d.connect(); addon.wait_until_idle()
    bpy.ops.gan3d.generate(); addon.wait_until_idle()
"""

bl_info = {
    "name": "gan3d: Generate 3D Cars",
    "author": "gan3d developers",
    "version": (0, 1, 0),
    "blender": (3, 4, 0),
    "location": "View3D › Sidebar › gan3d",
    "description": "Textured 3D cars from a local GAN backend, in one click",
    "category": "Add Mesh",
    "doc_url": "https://github.com/dariopavllo/textured-3d-gan",
}

_registered = []


def _modules():
    from . import applier, operators, preferences, properties, ui
    return applier, operators, preferences, properties, ui


def register():
    import bpy

    from . import zmq_loader
    zmq_loader.import_zmq()  # raises ZmqMissing, with what to install, before anything registers
    applier, operators, preferences, properties, ui = _modules()
    for cls in (*preferences.CLASSES, *properties.CLASSES, *operators.CLASSES, *ui.CLASSES):
        bpy.utils.register_class(cls)
        _registered.append(cls)
    properties.register()
    applier.register()


def unregister():
    import bpy

    from . import runtime
    applier, _operators, _preferences, properties, _ui = _modules()
    applier.unregister()
    runtime.shutdown()
    properties.unregister()
    while _registered:
        bpy.utils.unregister_class(_registered.pop())


def process_events(time_budget: float = 0.035) -> int:
    """Apply results that arrived from the backend (what the timer does); see :func:`applier.process_events`."""
    from . import applier
    return applier.process_events(time_budget)


def wait_until_idle(timeout: float = 120.0) -> bool:
    """Apply results until no batch runs and no connection check is pending; False on timeout."""
    from . import applier
    return applier.wait_until_idle(timeout)
