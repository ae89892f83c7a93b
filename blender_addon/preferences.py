"""Per-user connection settings (Preferences › Add-ons › gan3d)."""

import bpy

from . import addressing, protocol, runtime, scene_builder
from .model_card import model_card_line
from .runtime import STATE


def _normalise(self, _context):
    # Accept host:port and friends; keep what the user typed if it is malformed (the panel shows why).
    try:
        normalised = addressing.normalise_address(self.server_address)
    except addressing.AddressError:
        return
    if normalised != self.server_address:
        self.server_address = normalised


class GAN3D_AddonPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    server_address: bpy.props.StringProperty(
        name="Server address", default=protocol.DEFAULT_ADDRESS, update=_normalise,
        description="Where the gan3d backend listens: host:port or tcp://host:port")
    timeout: bpy.props.FloatProperty(
        name="Timeout (s)", default=15.0, min=0.5, soft_max=300.0,
        description="Seconds to wait for each answer from the backend before retrying and then giving up")
    backend_command: bpy.props.StringProperty(
        name="Backend command", default="",
        description="Command that starts a local backend, e.g. /path/to/gan3d/.venv/bin/python -m backend.serve")
    backend_directory: bpy.props.StringProperty(
        name="Backend folder", default="", subtype="DIR_PATH",
        description="Folder the backend command runs in (the gan3d checkout)")
    bounds_threshold: bpy.props.IntProperty(
        name="Bounds above", default=200, min=0, soft_max=5000,
        description="When the scene would hold more generated objects than this, new ones display as bounding "
                    "boxes in the viewport (renders are unaffected)")
    material_style: bpy.props.EnumProperty(
        name="Materials", items=scene_builder.MATERIAL_STYLES, default="PRINCIPLED",
        description="How each generated car's material is built (new objects only)")
    keys_directory: bpy.props.StringProperty(
        name="CURVE keys", default="", subtype="DIR_PATH",
        description="Optional: folder with server.key and client.key_secret for a remote backend using CurveZMQ")

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "server_address")
        layout.prop(self, "timeout")
        layout.prop(self, "keys_directory")
        layout.prop(self, "bounds_threshold")
        layout.prop(self, "material_style")
        box = layout.box()
        box.label(text="Local backend")
        box.prop(self, "backend_command")
        box.prop(self, "backend_directory")
        row = box.row()
        row.operator("gan3d.start_backend", icon="PLAY")
        row.operator("gan3d.connect", text="Test Connection", icon="LINKED")
        draw_connection(layout.box())


def draw_connection(layout) -> None:
    """Connection status lines (shared by the preferences and the panel)."""
    from . import backend_process

    connection = STATE.connection
    info = connection.info
    if info is not None:
        layout.label(text=f"Connected to {connection.address}", icon="CHECKMARK")
        layout.label(text=f"{info.server} on {', '.join(info.devices) or 'unknown device'}")
        for model in info.models:
            kind = f"{len(model.classes)} classes" if model.classes else "unconditional"
            note = ", UNTRAINED" if model.untrained else ""
            layout.label(text=f"Model {model.name}: {kind}, {model.texture_size} px texture{note}",
                         icon="ERROR" if model.untrained else "MESH_UVSPHERE")
            card_line = model_card_line(model)
            if card_line:
                layout.label(text=card_line, icon="INFO")
    elif backend_process.starting():
        layout.label(text="Starting the backend…", icon="SORTTIME")
    elif connection.pending:
        layout.label(text=f"Connecting to {connection.address}…", icon="SORTTIME")
    elif connection.error:
        for i, line in enumerate(wrap(connection.error, 70)):
            layout.label(text=line, icon="ERROR" if i == 0 else "BLANK1")
    else:
        layout.label(text="Not connected", icon="UNLINKED")


def wrap(text: str, width: int) -> list[str]:
    """Split a message into lines of about ``width`` characters for labels."""
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    if line:
        lines.append(line)
    return lines


def get(context=None) -> GAN3D_AddonPreferences:
    context = context or bpy.context
    return context.preferences.addons[__package__].preferences


def worker(context=None):
    """The IO worker configured from the preferences (raises AddressError for a malformed address)."""
    prefs = get(context)
    return runtime.worker(prefs.server_address, prefs.timeout, bpy.path.abspath(prefs.keys_directory))


CLASSES = (GAN3D_AddonPreferences,)
