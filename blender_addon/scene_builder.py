"""Turn generated meshes into Blender objects with bpy data APIs only (no operators, no temporary files).

Each object gets: a mesh built with ``foreach_set`` from the fixed topology (cached once per model), a UV layer,
smooth shading, its own material whose Image Texture (packed into the .blend) gives the base colour, the origin at
the bottom centre (the mesh is scaled to the target length and shifted so it rests on z = 0), and the custom
properties of :mod:`.object_properties`. Objects live in the "Generated" collection.

Material styles (:data:`MATERIAL_STYLES`, the *Materials* preference): ``PRINCIPLED`` (default) puts a Principled
BSDF in every material, the layout the FBX and glTF exporters read. ``SHARED`` wires each material as Image
Texture → one shared node group holding the Principled BSDF (:data:`SURFACE_GROUP_NAME`) → Material Output: editing
the group restyles every car, and the undo step of every later operator in a scene of hundreds of cars costs less
(500 cars: 0.62–0.77×; the batch's own undo step 0.8–1.0×; ``benchmarks.bench_population``), but the FBX exporter
does not see a texture behind a group (glTF does).
"""
from __future__ import annotations

from dataclasses import dataclass

import bpy
import numpy as np

from . import placement

COLLECTION_NAME = "Generated"
#: The node group every SHARED material uses: Base Color in, the Principled BSDF's BSDF out.
SURFACE_GROUP_NAME = "gan3d Car Surface"
#: (identifier, label, description) of the material styles, the first the default.
MATERIAL_STYLES = (
    ("PRINCIPLED", "Principled BSDF per car",
     "A Principled BSDF in every car's material: the layout the FBX and glTF exporters read"),
    ("SHARED", "Shared surface group",
     "Each car's texture feeds one shared node group holding the Principled BSDF: edit the group to restyle "
     "every car; cheaper undo steps in scenes with hundreds of cars; FBX export does not see the texture"),
)
ROUGHNESS = 0.55


@dataclass(frozen=True)
class Topology:
    """The fixed part of every mesh of one model, flattened for ``foreach_set``.

    loop_vertex_index (3F,) int32; loop_start (F,) int32; loop_total (F,) int32; loop_uv (3F·2,) float32.
    """

    vertex_count: int
    loop_vertex_index: np.ndarray
    loop_start: np.ndarray
    loop_total: np.ndarray
    loop_uv: np.ndarray

    @classmethod
    def from_arrays(cls, vertex_count: int, faces: np.ndarray, uvs: np.ndarray, face_uvs: np.ndarray) -> "Topology":
        """faces (F, 3) int vertex indices (counter-clockwise from outside); uvs (U, 2) float in [0, 1] with v up;
        face_uvs (F, 3) int indices into ``uvs`` for each face corner."""
        faces = np.asarray(faces, dtype=np.int64)
        face_uvs = np.asarray(face_uvs, dtype=np.int64)
        uvs = np.asarray(uvs, dtype=np.float32)
        if faces.ndim != 2 or faces.shape[1] != 3 or face_uvs.shape != faces.shape:
            raise ValueError(f"faces {faces.shape} and face_uvs {face_uvs.shape} must both be (F, 3)")
        if faces.min() < 0 or faces.max() >= vertex_count:
            raise ValueError(f"face indices must be in 0..{vertex_count - 1}")
        n = len(faces)
        return cls(
            vertex_count=int(vertex_count),
            loop_vertex_index=faces.reshape(-1).astype(np.int32),
            loop_start=(np.arange(n, dtype=np.int32) * 3),
            loop_total=np.full(n, 3, dtype=np.int32),
            loop_uv=uvs[face_uvs.reshape(-1)].reshape(-1).astype(np.float32),
        )


def generated_collection(scene: bpy.types.Scene) -> bpy.types.Collection:
    """The scene's "Generated" collection, created and linked on first use."""
    collection = bpy.data.collections.get(COLLECTION_NAME)
    if collection is None:
        collection = bpy.data.collections.new(COLLECTION_NAME)
    if collection.name not in scene.collection.children and not any(
            c == collection for c in scene.collection.children_recursive):
        scene.collection.children.link(collection)
    return collection


def build_mesh(name: str, vertices: np.ndarray, topology: Topology) -> bpy.types.Mesh:
    """A new mesh datablock. vertices (V, 3) float in the object frame (already scaled and offset)."""
    vertices = np.ascontiguousarray(vertices, dtype=np.float32)
    if vertices.shape != (topology.vertex_count, 3):
        raise ValueError(f"expected ({topology.vertex_count}, 3) vertices, got {vertices.shape}")
    mesh = bpy.data.meshes.new(name)
    mesh.vertices.add(topology.vertex_count)
    mesh.vertices.foreach_set("co", vertices.reshape(-1))
    mesh.loops.add(len(topology.loop_vertex_index))
    mesh.loops.foreach_set("vertex_index", topology.loop_vertex_index)
    mesh.polygons.add(len(topology.loop_start))
    mesh.polygons.foreach_set("loop_start", topology.loop_start)
    if bpy.app.version < (4, 0, 0):  # 4.0+ derives loop_total from loop_start (read-only there)
        mesh.polygons.foreach_set("loop_total", topology.loop_total)
    uv_layer = mesh.uv_layers.new(name="UVMap")
    uv_layer.data.foreach_set("uv", topology.loop_uv)
    mesh.polygons.foreach_set("use_smooth", np.ones(len(topology.loop_start), dtype=bool))
    mesh.update(calc_edges=True)
    return mesh


def build_image(name: str, texture: np.ndarray) -> bpy.types.Image:
    """A packed image from texture (T, T, 3) uint8 whose row 0 is the top (v = 1) of the texture."""
    texture = np.asarray(texture)
    if texture.dtype != np.uint8 or texture.ndim != 3 or texture.shape[2] != 3:
        raise ValueError(f"texture must be (H, W, 3) uint8, got {texture.shape} {texture.dtype}")
    height, width = texture.shape[:2]
    image = bpy.data.images.new(name, width=width, height=height, alpha=False)
    rgba = np.empty((height, width, 4), dtype=np.float32)
    # Blender stores pixels bottom row first.
    rgba[..., :3] = texture[::-1].astype(np.float32) / 255.0
    rgba[..., 3] = 1.0
    image.pixels.foreach_set(rgba.reshape(-1))
    image.pack()
    return image


def build_material(name: str, image: bpy.types.Image, style: str = "PRINCIPLED") -> bpy.types.Material:
    """A material whose base colour is ``image`` read through the UVs by an Image Texture node.

    style: ``SHARED`` (Image Texture → the shared :func:`surface_group` → Material Output) or ``PRINCIPLED``
    (Image Texture → a Principled BSDF of its own → Material Output); see the module docstring.
    """
    if style not in {key for key, _, _ in MATERIAL_STYLES}:
        raise ValueError(f"unknown material style {style!r}")
    material = bpy.data.materials.new(name)
    if bpy.app.version < (5, 0, 0):
        material.use_nodes = True
    tree = material.node_tree
    output = next((n for n in tree.nodes if n.type == "OUTPUT_MATERIAL"), None)
    if output is None:
        output = tree.nodes.new("ShaderNodeOutputMaterial")
    principled = next((n for n in tree.nodes if n.type == "BSDF_PRINCIPLED"), None)
    if style == "SHARED":
        if principled is not None:
            tree.nodes.remove(principled)
        shader = tree.nodes.new("ShaderNodeGroup")
        shader.node_tree = surface_group()
        shader.location = (output.location.x - 220, output.location.y)
    else:
        if principled is None:
            principled = tree.nodes.new("ShaderNodeBsdfPrincipled")
        principled.inputs["Roughness"].default_value = ROUGHNESS
        shader = principled
    tree.links.new(shader.outputs["BSDF"], output.inputs["Surface"])
    texture_node = tree.nodes.new("ShaderNodeTexImage")
    texture_node.image = image
    texture_node.interpolation = "Linear"
    texture_node.location = (shader.location.x - 320, shader.location.y)
    tree.links.new(texture_node.outputs["Color"], shader.inputs["Base Color"])
    return material


def surface_group() -> bpy.types.ShaderNodeTree:
    """The shared node group of SHARED materials (Base Color in, BSDF out, a Principled BSDF inside), made on first
    use. A group of that name the user edited is kept (that is how every car is restyled at once); one that lost
    its Base Color input or BSDF output is left alone and a new group is made beside it."""
    group = bpy.data.node_groups.get(SURFACE_GROUP_NAME)
    if group is not None and group.bl_idname == "ShaderNodeTree" and _has_surface_sockets(group):
        return group
    group = bpy.data.node_groups.new(SURFACE_GROUP_NAME, "ShaderNodeTree")
    if bpy.app.version >= (4, 0, 0):
        group.interface.new_socket("Base Color", in_out="INPUT", socket_type="NodeSocketColor")
        group.interface.new_socket("BSDF", in_out="OUTPUT", socket_type="NodeSocketShader")
    else:
        group.inputs.new("NodeSocketColor", "Base Color")
        group.outputs.new("NodeSocketShader", "BSDF")
    group_in = group.nodes.new("NodeGroupInput")
    group_out = group.nodes.new("NodeGroupOutput")
    principled = group.nodes.new("ShaderNodeBsdfPrincipled")
    principled.inputs["Roughness"].default_value = ROUGHNESS
    group_in.location, principled.location, group_out.location = (-300, 0), (0, 0), (320, 0)
    group.links.new(group_in.outputs["Base Color"], principled.inputs["Base Color"])
    group.links.new(principled.outputs["BSDF"], group_out.inputs["BSDF"])
    return group


def _has_surface_sockets(group: bpy.types.ShaderNodeTree) -> bool:
    if bpy.app.version >= (4, 0, 0):
        sockets = {(item.in_out, item.name) for item in group.interface.items_tree if item.item_type == "SOCKET"}
        return {("INPUT", "Base Color"), ("OUTPUT", "BSDF")} <= sockets
    return "Base Color" in group.inputs and "BSDF" in group.outputs


def normalised_vertices(vertices: np.ndarray, target_length: float) -> np.ndarray:
    """(V, 3) float32 vertices scaled to ``target_length`` with the origin at the bottom centre."""
    scale, offset = placement.normalisation(vertices, target_length)
    return (np.asarray(vertices, dtype=np.float64) * scale + offset).astype(np.float32)


def build_data(name: str, vertices: np.ndarray, texture: np.ndarray, topology: Topology,
               target_length: float, material_style: str = "PRINCIPLED") -> bpy.types.Mesh:
    """Mesh with its material (``material_style``, see :func:`build_material`) and packed image for one generated
    item; vertices (V, 3) raw object frame."""
    mesh = build_mesh(name, normalised_vertices(vertices, target_length), topology)
    image = build_image(name, texture)
    mesh.materials.append(build_material(name, image, material_style))
    return mesh


def create_object(name: str, mesh: bpy.types.Mesh, collection: bpy.types.Collection,
                  location, yaw: float, rotation=None) -> bpy.types.Object:
    """A new object for ``mesh`` at ``location`` (3,) turned by ``yaw`` radians about z, or by ``rotation`` (3, 3)
    (columns: the object's axes in the world) when given, linked to ``collection``."""
    obj = bpy.data.objects.new(name, mesh)
    obj.location = tuple(float(c) for c in location)
    if rotation is None:
        obj.rotation_euler = (0.0, 0.0, float(yaw))
    else:
        from mathutils import Matrix
        obj.rotation_euler = Matrix([tuple(float(v) for v in row) for row in rotation]).to_euler()
    collection.objects.link(obj)
    return obj


def replace_data(obj: bpy.types.Object, mesh: bpy.types.Mesh) -> None:
    """Give ``obj`` a new mesh, keeping its transform and collections; frees the old mesh, material and image
    when nothing else uses them."""
    old = obj.data
    obj.data = mesh
    if old is not None and old.users == 0:
        remove_mesh_with_materials(old)


def remove_mesh_with_materials(mesh: bpy.types.Mesh) -> None:
    """Remove a mesh datablock and the materials / images that only it used."""
    materials = [m for m in mesh.materials if m is not None]
    bpy.data.meshes.remove(mesh)
    for material in materials:
        if material.users:
            continue
        images = []
        if material.node_tree is not None:
            images = [n.image for n in material.node_tree.nodes if n.type == "TEX_IMAGE" and n.image]
        bpy.data.materials.remove(material)
        for image in images:
            if image.users == 0:
                bpy.data.images.remove(image)
