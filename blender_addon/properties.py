"""Per-scene generation settings (``scene.gan3d``), shown in the sidebar panel."""

import bpy

from . import placement
from .runtime import STATE

MAX_UI_SEED = 2**31 - 1  # Blender IntProperty is signed 32-bit
NONE_CLASS = "__none__"
NATIVE_SIZE = "0"

# Enum items must stay referenced from Python while Blender shows them.
_items_cache: dict[str, list] = {}


def _keep(key: str, items: list) -> list:
    _items_cache[key] = items
    return items


def current_model(settings):
    """The protocol ModelInfo chosen in the panel, or None when not connected."""
    info = STATE.connection.info
    if info is None:
        return None
    try:
        return info.model(settings.model if settings.model not in ("", NONE_CLASS) else None)
    except (KeyError, TypeError):
        return info.model(None)


def ordered_classes(classes: list[str]) -> list[str]:
    """Class names with "car" first (the add-on's main use), then the server's order."""
    return sorted(classes, key=lambda name: 0 if name.lower() == "car" else 1)


def _model_items(self, context):
    info = STATE.connection.info
    if info is None:
        return _keep("model", [(NONE_CLASS, "(not connected)", "Connect to a backend first")])
    names = [info.default_model] + [m.name for m in info.models if m.name != info.default_model]
    return _keep("model", [(n, n + (" (untrained)" if info.model(n).untrained else ""),
                            f"Model {n} on the backend") for n in names])


def _class_items(self, context):
    model = current_model(self)
    if model is None:
        return _keep("class", [(NONE_CLASS, "(not connected)", "Connect to a backend first")])
    if not model.classes:
        what = getattr(model, "category", None) or "car"
        return _keep("class", [(NONE_CLASS, what, f"This model is unconditional: every object is a {what}")])
    return _keep("class", [(name, name, f"Class {name}") for name in ordered_classes(model.classes)])


def _texture_items(self, context):
    model = current_model(self)
    items = [(NATIVE_SIZE, "Native", "The model's own texture size")]
    if model is not None:
        items = [(NATIVE_SIZE, f"Native ({model.texture_size} px)", "The model's own texture size")]
        items += [(str(s), f"{s} px", f"Textures of {s}×{s} pixels") for s in model.texture_sizes
                  if s != model.texture_size]
    return _keep("texture", items)


def class_choice(settings) -> tuple[str, int | str | None]:
    """(class name for the object, value for the request) of the panel's class; ("", None) if unconditional."""
    model = current_model(settings)
    name = settings.class_name
    if model is None or not model.classes or name in ("", NONE_CLASS):
        return "", None
    return name, name


def texture_size_choice(settings) -> int | None:
    value = int(settings.texture_size or NATIVE_SIZE)
    return value or None


class GAN3D_SceneSettings(bpy.types.PropertyGroup):
    model: bpy.props.EnumProperty(name="Model", items=_model_items, description="Generator on the backend")
    class_name: bpy.props.EnumProperty(name="Class", items=_class_items, description="What to generate")
    count: bpy.props.IntProperty(name="Count", default=10, min=1, soft_max=200, max=4096,
                                 description="How many objects to generate")
    seed: bpy.props.IntProperty(name="Seed", default=0, min=0, max=MAX_UI_SEED,
                                description="Seed of the first object; object j uses seed + j")
    randomise_seed: bpy.props.BoolProperty(name="Random Seed", default=True,
                                           description="Pick a new random seed for every batch")
    truncation: bpy.props.FloatProperty(name="Truncation", default=1.0, min=0.05, soft_max=3.0, max=1000.0,
                                        description="σ of the truncated normal latent: lower is more typical, "
                                                    "higher more varied")
    texture_size: bpy.props.EnumProperty(name="Texture", items=_texture_items,
                                         description="Texture resolution to request")
    placement: bpy.props.EnumProperty(
        name="Placement", default="GRID",
        items=[("CURSOR", "3D Cursor", "In a row centred on the 3D cursor"),
               ("GRID", "Grid", "In a square grid centred on the 3D cursor"),
               ("SCATTER", "Scatter on Surface", "Randomly on the upward faces of the active mesh object, "
                                                 "keeping the spacing"),
               ("CURVE", "Along Curve", "Along the active curve object, facing along it")])
    spacing: bpy.props.FloatProperty(name="Spacing", default=1.5, min=0.0, soft_max=20.0, unit="LENGTH",
                                     description="Free space between neighbouring objects")
    random_yaw: bpy.props.BoolProperty(name="Random Yaw", default=False,
                                       description="Turn every object by a random angle about Z "
                                                   "(not for Along Curve, where objects follow the curve)")
    target_length: bpy.props.FloatProperty(name="Length", default=4.5, min=0.01, soft_max=50.0, unit="LENGTH",
                                           description="Real-world size: the longest horizontal side of each "
                                                       "object (about 4.5 m for a car)")
    snap_to_ground: bpy.props.BoolProperty(name="Snap to Ground", default=True,
                                           description="Drop each object onto the surface below it")
    regenerate_mode: bpy.props.EnumProperty(
        name="Regenerate", default="NEW_SEED",
        items=[("NEW_SEED", "New Seed", "New random seeds, same class"),
               ("OTHER_CLASS", "Same Seed, Panel Class", "Keep each object's seed, use the class chosen above")])

    variation_count: bpy.props.IntProperty(name="Variations", default=6, min=1, soft_max=24, max=256,
                                           description="How many cars Variations makes next to the selected one")
    variation_strength: bpy.props.FloatProperty(
        name="Strength", default=0.3, min=0.0, max=1.0, subtype="FACTOR",
        description="How far variations move from the selected car: 0 = the same car, 1 = unrelated cars")
    blend_steps: bpy.props.IntProperty(name="In-betweens", default=4, min=1, soft_max=16, max=256,
                                       description="How many cars Blend makes between the two selected ones")
    blend_include_ends: bpy.props.BoolProperty(
        name="Include Ends", default=False,
        description="Also rebuild the two selected cars at the ends of the blend (in a row beside them), so the "
                    "row runs from one to the other")

    def pitch(self) -> float:
        """Distance between neighbouring origins (m) for the current settings."""
        if self.placement == "CURVE":
            return self.target_length + self.spacing
        return placement.footprint_diameter(self.target_length, self.random_yaw) + self.spacing


CLASSES = (GAN3D_SceneSettings,)


def register() -> None:
    bpy.types.Scene.gan3d = bpy.props.PointerProperty(type=GAN3D_SceneSettings)


def unregister() -> None:
    del bpy.types.Scene.gan3d
