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
               ("CURVE", "Along Curve", "In the lanes of a road along the active curve object, facing along "
                                        "their lanes"),
               ("CAMERA", "Camera View", "Randomly on the upward faces of the active mesh object, only inside "
                                         "the active camera's view; textures sized by distance")])
    spacing: bpy.props.FloatProperty(name="Spacing", default=1.5, min=0.0, soft_max=20.0, unit="LENGTH",
                                     description="Free space between neighbouring objects")
    random_yaw: bpy.props.BoolProperty(name="Random Yaw", default=False,
                                       description="Turn every object by a random angle about Z within the yaw "
                                                   "range (not for Along Curve, where objects follow their lanes)")
    yaw_min: bpy.props.FloatProperty(name="Yaw Min", default=0.0, subtype="ANGLE", min=-2 * 3.141593,
                                     max=2 * 3.141593, description="Smallest random turn about Z")
    yaw_max: bpy.props.FloatProperty(name="Yaw Max", default=2 * 3.141592653589793, subtype="ANGLE",
                                     min=-2 * 3.141593, max=2 * 3.141593, description="Largest random turn about Z")
    use_length_range: bpy.props.BoolProperty(
        name="Length Range", default=False,
        description="Each object's length uniform between Length and Max Length instead of Length alone")
    target_length: bpy.props.FloatProperty(name="Length", default=4.5, min=0.01, soft_max=50.0, unit="LENGTH",
                                           description="Real-world size: the longest horizontal side of each "
                                                       "object (about 4.5 m for a car)")
    snap_to_ground: bpy.props.BoolProperty(name="Snap to Ground", default=True,
                                           description="Drop each object onto the surface below it")
    length_max: bpy.props.FloatProperty(name="Max Length", default=5.2, min=0.01, soft_max=50.0, unit="LENGTH",
                                        description="With Length Range: each object's length is uniform between "
                                                    "Length and this")
    width_ratio: bpy.props.FloatProperty(
        name="Width", default=0.5, min=0.1, max=1.0, subtype="FACTOR",
        description="Ground each object reserves across, as a fraction of its length (cars: 0.5; 1 holds any "
                    "shape); a wider mesh is scaled down to fit")
    count_mode: bpy.props.EnumProperty(
        name="Amount", default="COUNT",
        items=[("COUNT", "Count", "Exactly Count objects"),
               ("DENSITY", "Density", "Objects per 100 m² of the surface (or road), weighted by the density mask")])
    density: bpy.props.FloatProperty(name="Per 100 m²", default=1.0, min=0.001, soft_max=10.0,
                                     description="Objects per 100 m² where the density mask is 1")
    density_mask: bpy.props.EnumProperty(
        name="Density Mask", default="NONE",
        items=[("NONE", "No Mask", "Even density everywhere"),
               ("VERTEX_GROUP", "Vertex Group", "The surface's vertex group weights (weight paint): 0 = no object"),
               ("IMAGE", "Image", "An image read through the surface's UV map (its brightness): black = no object")])
    density_group: bpy.props.StringProperty(name="Vertex Group", default="",
                                            description="Vertex group of the surface that scales the density")
    density_image: bpy.props.PointerProperty(name="Image", type=bpy.types.Image,
                                             description="Image whose brightness, through the UV map, scales the "
                                                         "density")
    avoid_collection: bpy.props.PointerProperty(
        name="Avoid", type=bpy.types.Collection,
        description="Keep every object's footprint out of the bounding boxes of this collection's objects")
    avoid_generated: bpy.props.BoolProperty(
        name="Avoid Generated", default=True,
        description="Also keep out of the generated cars already in the scene")
    align_to_surface: bpy.props.BoolProperty(
        name="Align to Surface", default=False,
        description="Tilt each object to the face under it (its heading kept), bottom centre on the surface")
    max_slope: bpy.props.FloatProperty(name="Max Slope", default=0.7853981633974483, min=0.0, max=1.5533,
                                       subtype="ANGLE", description="No object where the surface is steeper")
    lanes: bpy.props.IntProperty(name="Lanes", default=1, min=1, max=16,
                                 description="Lanes of the road (on each side with Both Sides)")
    lane_width: bpy.props.FloatProperty(name="Lane Width", default=3.5, min=0.5, soft_max=10.0, unit="LENGTH",
                                        description="Width of one lane")
    both_sides: bpy.props.BoolProperty(name="Both Sides", default=False,
                                       description="Lanes on both sides of the curve (else centred on it)")
    lane_directions: bpy.props.StringProperty(
        name="Directions", default="",
        description="One > (with the curve) or < (against it) per lane, left to right; empty: with the curve, or "
                    "with Both Sides the left side against it")
    spacing_jitter: bpy.props.FloatProperty(name="Jitter", default=0.0, min=0.0, soft_max=20.0, unit="LENGTH",
                                            description="Random extra space (0 to this) between neighbours in a lane")
    use_paint: bpy.props.BoolProperty(name="Paint", default=False,
                                      description="Only cars whose body colour is within the tolerance of Colour")
    paint_color: bpy.props.FloatVectorProperty(name="Colour", subtype="COLOR_GAMMA", size=3, min=0.0, max=1.0,
                                               default=(0.7, 0.05, 0.05), description="Wanted body colour")
    paint_tolerance: bpy.props.FloatProperty(name="Tolerance", default=20.0, min=0.5, max=150.0,
                                             description="How far (ΔE, CIE76) a body colour may be from Colour")
    camera_near_texture: bpy.props.IntProperty(name="Near Texture", default=512, min=32, max=2048,
                                               description="Texture size of the nearest cars (Camera View)")
    camera_far_texture: bpy.props.IntProperty(name="Far Texture", default=128, min=32, max=2048,
                                              description="Texture size of the farthest cars (Camera View)")
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

    def length_range(self) -> tuple[float, float]:
        """(min, max) metres of the objects' lengths."""
        return (self.target_length, self.length_max) if self.use_length_range else (self.target_length,) * 2

    def yaw_range(self):
        """(min, max) radians of the random turn, or None without Random Yaw."""
        return (self.yaw_min, self.yaw_max) if self.random_yaw else None

    def pitch(self) -> float:
        """Distance between neighbouring origins (m) for rows and grids (the longest length)."""
        longest = self.length_range()[1]
        return placement.footprint_diameter(longest, self.random_yaw) + self.spacing


CLASSES = (GAN3D_SceneSettings,)


def register() -> None:
    bpy.types.Scene.gan3d = bpy.props.PointerProperty(type=GAN3D_SceneSettings)


def unregister() -> None:
    del bpy.types.Scene.gan3d
