"""Everything that touches ``bpy``: the scene, materials, backgrounds, camera and the two render passes.

Only worker processes import this module (``bpy`` is heavy and owns global state). One scene is built
per process and reused: each item replaces the car and the background, moves the camera and renders

1. the **RGB pass** (Cycles, path traced, ``samples`` spp, the pixel filter of Blender's default), and
2. the **ID pass** (Cycles, 1 spp, a near-zero pixel filter so each pixel is point-sampled at its centre,
   no bounces, transparent film, every car face emitting ``part_id / 8`` through a view-layer material
   override): decoded exactly into the instance mask and the part map.

The camera is orthographic, so the pose read back from it (:func:`camera_pose`) is the exact
scaled-orthographic pose of the project convention.
"""
from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass

import bpy
import numpy as np
from mathutils import Euler, Matrix, Vector

from .car import MATERIALS, CarMesh
from dataformat.record import Pose

from .pose_math import ID_LEVELS, blender_camera_to_pose, blender_perspective_to_pose

CAR_NAME = "synth_car"


@dataclass
class CameraSpec:
    """A sampled orthographic view. Angles in degrees; ``fill`` = fraction of the frame the car spans."""

    azimuth: float
    elevation: float
    roll: float
    fill: float
    offset: tuple[float, float]
    focal: float | None = None  # normalised focal length of a perspective camera; None = orthographic


def reset(resolution: int, samples: int, threads: int) -> None:
    """Start from an empty factory scene set up for both passes."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.render.resolution_x = scene.render.resolution_y = resolution
    scene.render.resolution_percentage = 100
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_depth = "8"
    scene.render.dither_intensity = 0.0
    scene.view_settings.view_transform = "Standard"
    scene.view_settings.look = "None"
    scene.render.threads_mode = "FIXED"
    scene.render.threads = max(1, threads)
    scene.cycles.samples = samples
    scene.cycles.use_adaptive_sampling = False
    scene.cycles.use_denoising = False
    scene.cycles.max_bounces = 3
    scene.cycles.diffuse_bounces = 2
    scene.cycles.glossy_bounces = 2
    scene.cycles.transmission_bounces = 0
    scene.cycles.transparent_max_bounces = 0
    scene.cycles.seed = 0
    world = bpy.data.worlds.new("world")
    # A non-constant world would get a 1024² importance map built before every render (seconds each);
    # BSDF sampling alone lights these simple backgrounds well enough.
    world.cycles.sampling_method = "NONE"
    scene.world = world
    cam_data = bpy.data.cameras.new("camera")
    cam_data.type = "ORTHO"
    cam_data.clip_start = 0.01
    cam_data.clip_end = 200.0
    camera = bpy.data.objects.new("camera", cam_data)
    scene.collection.objects.link(camera)
    scene.camera = camera
    sun_data = bpy.data.lights.new("sun", "SUN")
    sun = bpy.data.objects.new("sun", sun_data)
    scene.collection.objects.link(sun)
    bpy.context.view_layer.material_override = None
    _id_material()


def _id_material() -> bpy.types.Material:
    """Emission = part_id / 8 read from the face attribute ``part_id`` (0 where absent)."""
    mat = bpy.data.materials.get("id_pass") or bpy.data.materials.new("id_pass")
    mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    nodes.clear()
    attr = nodes.new("ShaderNodeAttribute")
    attr.attribute_type = "GEOMETRY"
    attr.attribute_name = "part_id"
    scale = nodes.new("ShaderNodeMath")
    scale.operation = "MULTIPLY"
    scale.inputs[1].default_value = 1.0 / ID_LEVELS
    emission = nodes.new("ShaderNodeEmission")
    emission.inputs["Color"].default_value = (1, 1, 1, 1)
    out = nodes.new("ShaderNodeOutputMaterial")
    links.new(attr.outputs["Fac"], scale.inputs[0])
    links.new(scale.outputs[0], emission.inputs["Strength"])
    links.new(emission.outputs[0], out.inputs["Surface"])
    return mat


def _principled(name: str, color, metallic=0.0, roughness=0.5, emission=None, coat=0.0) -> bpy.types.Material:
    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    bsdf = mat.node_tree.nodes["Principled BSDF"]
    bsdf.inputs["Base Color"].default_value = (*color, 1.0)
    bsdf.inputs["Metallic"].default_value = metallic
    bsdf.inputs["Roughness"].default_value = roughness
    bsdf.inputs["Coat Weight"].default_value = coat
    if emission is not None:
        bsdf.inputs["Emission Color"].default_value = (*emission[0], 1.0)
        bsdf.inputs["Emission Strength"].default_value = emission[1]
    return mat


PAINTS = [  # (hue, saturation, value) anchors of common car paints
    (0.0, 0.0, 0.92), (0.0, 0.0, 0.05), (0.0, 0.0, 0.55), (0.0, 0.0, 0.75), (0.0, 0.85, 0.6), (0.6, 0.8, 0.45),
    (0.58, 0.6, 0.25), (0.33, 0.6, 0.3), (0.12, 0.8, 0.8), (0.08, 0.85, 0.75), (0.75, 0.5, 0.3), (0.02, 0.35, 0.35),
]


def _paint_materials(rng: np.random.Generator) -> dict[str, bpy.types.Material]:
    h, s, v = PAINTS[int(rng.integers(len(PAINTS)))]
    h = (h + rng.normal(0, 0.02)) % 1.0
    s = float(np.clip(s + rng.normal(0, 0.08), 0, 1))
    v = float(np.clip(v + rng.normal(0, 0.06), 0.02, 1))
    paint = colorsys.hsv_to_rgb(h, s, v)
    paint_lin = tuple(c ** 2.2 for c in paint)
    metallic = float(rng.choice([0.0, 0.0, 0.6, 0.9]))
    mats = {
        "body": _principled("body", paint_lin, metallic, rng.uniform(0.15, 0.5), coat=float(rng.uniform(0, 1))),
        "wheel": _principled("wheel", (0.02, 0.02, 0.02), 0.0, 0.8),
        "window": _principled("window", (0.01, 0.012, 0.015) if rng.random() < 0.7 else (0.05, 0.07, 0.08),
                              0.0, rng.uniform(0.03, 0.15)),
        "headlight": _principled("headlight", (0.9, 0.9, 0.85), 0.3, 0.1,
                                 emission=((1.0, 0.97, 0.85), rng.uniform(0.0, 2.0))),
        "taillight": _principled("taillight", (0.6, 0.02, 0.02), 0.0, 0.2,
                                 emission=((1.0, 0.05, 0.02), rng.uniform(0.0, 1.5))),
        "bumper": (_principled("bumper", (0.03, 0.03, 0.03), 0.0, 0.6) if rng.random() < 0.5 else None),
        "rim": _principled("rim", (grey := float(rng.uniform(0.25, 0.8)),) * 3, 1.0, rng.uniform(0.2, 0.45)),
    }
    if mats["bumper"] is None:
        mats["bumper"] = mats["body"]
    return mats


def build_car_object(car: CarMesh, rng: np.random.Generator) -> bpy.types.Object:
    """Replace the scene's car with ``car`` (object transform = identity: world = object frame)."""
    old = bpy.data.objects.get(CAR_NAME)
    if old is not None:
        mesh = old.data
        bpy.data.objects.remove(old)
        bpy.data.meshes.remove(mesh)
    _purge_materials()
    mesh = bpy.data.meshes.new(CAR_NAME)
    n_v, n_f = len(car.vertices), len(car.faces)
    mesh.vertices.add(n_v)
    mesh.vertices.foreach_set("co", car.vertices.astype(np.float32).ravel())
    mesh.loops.add(3 * n_f)
    mesh.loops.foreach_set("vertex_index", car.faces.astype(np.int32).ravel())
    mesh.polygons.add(n_f)
    mesh.polygons.foreach_set("loop_start", np.arange(0, 3 * n_f, 3, dtype=np.int32))
    mesh.polygons.foreach_set("loop_total", np.full(n_f, 3, np.int32))
    mesh.update(calc_edges=True)
    mesh.validate()
    # Smooth shading with creases kept sharp: shading normals only, the geometry (and the masks) are unchanged.
    mesh.shade_smooth()
    mesh.set_sharp_from_angle(angle=math.radians(35.0))
    mats = _paint_materials(rng)
    for name in MATERIALS:
        mesh.materials.append(mats[name])
    mesh.polygons.foreach_set("material_index", car.materials().astype(np.int32))
    attr = mesh.attributes.new("part_id", "FLOAT", "FACE")
    attr.data.foreach_set("value", car.face_parts.astype(np.float32))
    obj = bpy.data.objects.new(CAR_NAME, mesh)
    bpy.context.scene.collection.objects.link(obj)
    return obj


def _purge_materials() -> None:
    """Remove materials left without users by replaced cars and grounds (keeps long runs from growing)."""
    for mat in list(bpy.data.materials):
        if mat.name != "id_pass" and mat.users == 0:
            bpy.data.materials.remove(mat)


def _rand_colour(rng: np.random.Generator, value=(0.2, 0.95), sat=(0.0, 0.6)) -> tuple[float, float, float]:
    rgb = colorsys.hsv_to_rgb(rng.random(), rng.uniform(*sat), rng.uniform(*value))
    return tuple(c ** 2.2 for c in rgb)


def set_background(kind: str, rng: np.random.Generator, ground_z: float) -> None:
    """``plain`` (one colour), ``gradient`` (two colours across the frame) or ``ground`` (textured ground
    plane under the wheels, in front of a gradient sky)."""
    scene = bpy.context.scene
    old = bpy.data.objects.get("ground")
    if old is not None:
        mesh = old.data
        bpy.data.objects.remove(old)
        bpy.data.meshes.remove(mesh)
        _purge_materials()
    world = scene.world
    world.use_nodes = True
    nodes, links = world.node_tree.nodes, world.node_tree.links
    nodes.clear()
    bg = nodes.new("ShaderNodeBackground")
    out = nodes.new("ShaderNodeOutputWorld")
    links.new(bg.outputs[0], out.inputs["Surface"])
    bg.inputs["Strength"].default_value = rng.uniform(0.6, 1.3)
    if kind == "plain":
        bg.inputs["Color"].default_value = (*_rand_colour(rng), 1.0)
        return
    coords = nodes.new("ShaderNodeTexCoord")
    sep = nodes.new("ShaderNodeSeparateXYZ")
    ramp = nodes.new("ShaderNodeValToRGB")
    links.new(coords.outputs["Window"], sep.inputs[0])
    links.new(sep.outputs["Y" if rng.random() < 0.8 else "X"], ramp.inputs["Fac"])
    ramp.color_ramp.elements[0].color = (*_rand_colour(rng), 1.0)
    ramp.color_ramp.elements[1].color = (*_rand_colour(rng), 1.0)
    links.new(ramp.outputs["Color"], bg.inputs["Color"])
    if kind == "gradient":
        return
    if kind != "ground":
        raise ValueError(f"unknown background {kind!r}")
    bpy.ops.mesh.primitive_plane_add(size=60.0, location=(0.0, 0.0, ground_z - 1e-3))
    ground = bpy.context.active_object
    ground.name = "ground"
    mat = bpy.data.materials.new("ground")
    mat.use_nodes = True
    bsdf = mat.node_tree.nodes["Principled BSDF"]
    bsdf.inputs["Roughness"].default_value = rng.uniform(0.5, 1.0)
    tex_kind = rng.choice(["ShaderNodeTexNoise", "ShaderNodeTexChecker", "ShaderNodeTexBrick", "ShaderNodeTexVoronoi"])
    tex = mat.node_tree.nodes.new(str(tex_kind))
    tex.inputs["Scale"].default_value = rng.uniform(0.3, 3.0)
    ramp = mat.node_tree.nodes.new("ShaderNodeValToRGB")
    ramp.color_ramp.elements[0].color = (*_rand_colour(rng, value=(0.05, 0.6)), 1.0)
    ramp.color_ramp.elements[1].color = (*_rand_colour(rng, value=(0.2, 0.9)), 1.0)
    mat.node_tree.links.new(tex.outputs["Fac"] if "Fac" in tex.outputs else tex.outputs[1], ramp.inputs["Fac"])
    mat.node_tree.links.new(ramp.outputs["Color"], bsdf.inputs["Base Color"])
    ground.data.materials.append(mat)


def set_lighting(rng: np.random.Generator) -> None:
    """A sun 10-60 degrees above the horizon from any direction, with random strength and softness."""
    sun = bpy.data.objects["sun"]
    sun.rotation_euler = Euler((math.radians(rng.uniform(10, 60)), 0.0, math.radians(rng.uniform(0, 360))), "XYZ")
    sun.data.energy = rng.uniform(2.0, 5.0)
    sun.data.angle = math.radians(rng.uniform(1, 15))


def sample_camera(rng: np.random.Generator, fill_range: tuple[float, float] = (0.6, 0.92),
                  focal_range: tuple[float, float] | None = None) -> CameraSpec:
    """Azimuth uniform; elevation like street photos (mostly 0-20 degrees, up to 40); slight roll;
    a focal length (log-uniform in ``focal_range``) for a perspective camera, else orthographic."""
    spec = CameraSpec(azimuth=float(rng.uniform(0, 360)), elevation=float(rng.triangular(0.0, 8.0, 40.0)),
                      roll=float(np.clip(rng.normal(0, 2.0), -6, 6)), fill=float(rng.uniform(*fill_range)),
                      offset=(float(rng.uniform(-1, 1)), float(rng.uniform(-1, 1))))
    if focal_range is not None:
        spec.focal = float(np.exp(rng.uniform(np.log(focal_range[0]), np.log(focal_range[1]))))
    return spec


def place_camera(car: CarMesh, spec: CameraSpec, distance: float = 20.0) -> None:
    """Aim the camera (orthographic, or pinhole when ``spec.focal`` is set); the car's projected box spans
    ``spec.fill`` of the frame, shifted by ``spec.offset`` (fractions of the free margin) so it stays entirely
    inside the image."""
    camera = bpy.data.objects["camera"]
    az, el = math.radians(spec.azimuth), math.radians(spec.elevation)
    # Viewing direction from the camera towards the object. Azimuth 0 looks along +y from the -y side,
    # i.e. at the car's front; elevation tilts the view down.
    forward = Vector((math.sin(az) * math.cos(el), math.cos(az) * math.cos(el), -math.sin(el)))
    rot = forward.to_track_quat("-Z", "Y").to_matrix().to_4x4()
    rot = rot @ Matrix.Rotation(math.radians(spec.roll), 4, "Z")
    right, up = rot.col[0].xyz, rot.col[1].xyz
    verts = car.vertices.astype(np.float64)
    px, py = verts @ np.array(right), verts @ np.array(up)
    extent = max(px.max() - px.min(), py.max() - py.min())
    ortho = extent / spec.fill
    centre = Vector(((px.max() + px.min()) / 2) * right + ((py.max() + py.min()) / 2) * up)
    free_x = (ortho - (px.max() - px.min())) / 2 * 0.9
    free_y = (ortho - (py.max() - py.min())) / 2 * 0.9
    target = centre - right * (spec.offset[0] * free_x) - up * (spec.offset[1] * free_y)
    if spec.focal is None:
        camera.data.type = "ORTHO"
        camera.data.ortho_scale = ortho
        camera.matrix_world = Matrix.Translation(target - forward * distance) @ rot
    else:
        _place_perspective(camera, car, spec, rot)
    bpy.context.view_layer.update()


def _pinhole(verts: np.ndarray, position: np.ndarray, rot: Matrix, focal: float) -> np.ndarray:
    """Normalised image coordinates (x right, y up) of world points seen by a pinhole camera."""
    basis = np.array([list(rot.col[i].xyz) for i in range(3)])  # rows: right, up, backward
    rel = (verts - position) @ basis.T
    return focal * rel[:, :2] / -rel[:, 2:3]


def _place_perspective(camera, car: CarMesh, spec: CameraSpec, rot: Matrix) -> None:
    """Pinhole camera at the distance where the car spans about ``spec.fill`` of the frame, moved sideways
    (not lens-shifted, so the pose's translation stays a camera-frame offset) within the free margin."""
    verts = car.vertices.astype(np.float64)
    forward = -np.array(rot.col[2].xyz)
    right, up = np.array(rot.col[0].xyz), np.array(rot.col[1].xyz)
    radius = float(np.linalg.norm(verts, axis=1).max())
    extent = max(np.ptp(verts @ right), np.ptp(verts @ up))
    distance = max(spec.focal * extent / (2 * spec.fill), 1.5 * radius)
    for _ in range(40):
        position = -forward * distance
        xy = _pinhole(verts, position, rot, spec.focal)
        lo, hi = xy.min(0), xy.max(0)
        centre, size = (lo + hi) / 2, hi - lo
        if size.max() <= 2 * spec.fill:
            break
        distance *= 1.05
    free = (2 - size) / 2 * 0.9
    shift = -(centre - np.array(spec.offset) * free)  # desired image-plane move of the car
    position = position - (right * shift[0] + up * shift[1]) * distance / spec.focal
    for _ in range(40):  # the move changes perspective slightly: back off until the car is inside
        xy = _pinhole(verts, position, rot, spec.focal)
        if np.abs(xy).max() < 0.98:
            break
        position = position - forward * distance * 0.05
    camera.data.type = "PERSP"
    camera.data.sensor_fit = "HORIZONTAL"
    camera.data.sensor_width = 36.0
    camera.data.lens = spec.focal * 18.0
    camera.matrix_world = Matrix.Translation(Vector(position)) @ rot


def camera_pose() -> Pose:
    """The object->CMR-camera pose of the scene camera (object transform is identity)."""
    camera = bpy.data.objects["camera"]
    world = np.array(camera.matrix_world, dtype=np.float64)
    if camera.data.type == "ORTHO":
        return blender_camera_to_pose(world, float(camera.data.ortho_scale))
    return blender_perspective_to_pose(world, camera.data.lens / (camera.data.sensor_width / 2))


def render_rgb(path: str, samples: int) -> None:
    scene = bpy.context.scene
    scene.render.film_transparent = False
    scene.render.image_settings.color_mode = "RGB"
    scene.cycles.samples = samples
    scene.cycles.filter_width = 1.5
    scene.cycles.max_bounces = 3
    bpy.context.view_layer.material_override = None
    _set_hidden("ground", False)
    scene.render.filepath = path
    bpy.ops.render.render(write_still=True)


def render_ids(path: str) -> None:
    scene = bpy.context.scene
    scene.render.film_transparent = True
    scene.render.image_settings.color_mode = "RGBA"
    scene.cycles.samples = 1
    scene.cycles.filter_width = 0.01
    scene.cycles.max_bounces = 0
    bpy.context.view_layer.material_override = bpy.data.materials["id_pass"]
    _set_hidden("ground", True)
    scene.render.filepath = path
    bpy.ops.render.render(write_still=True)
    bpy.context.view_layer.material_override = None
    _set_hidden("ground", False)


def _set_hidden(name: str, hidden: bool) -> None:
    obj = bpy.data.objects.get(name)
    if obj is not None:
        obj.hide_render = hidden
