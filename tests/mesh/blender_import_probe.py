"""Run in a subprocess with the venv's Python (bpy): import an OBJ or GLB file with Blender's own importer,
using default settings, and dump what Blender made of it as JSON (world-space geometry, UVs, material image).

usage: python blender_import_probe.py FILE OUT.json
"""
import json
import sys

import bpy
import numpy as np


def main(path: str, out: str) -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    if path.endswith(".obj"):
        bpy.ops.wm.obj_import(filepath=path)
    else:
        bpy.ops.import_scene.gltf(filepath=path)
    objects = [o for o in bpy.context.scene.objects if o.type == "MESH"]
    obj = objects[0]
    mesh = obj.data
    world = np.array(obj.matrix_world)
    co = np.zeros(len(mesh.vertices) * 3)
    mesh.vertices.foreach_get("co", co)
    co = co.reshape(-1, 3) @ world[:3, :3].T + world[:3, 3]
    loop_vertex = np.zeros(len(mesh.loops), dtype=np.int64)
    mesh.loops.foreach_get("vertex_index", loop_vertex)
    loop_uv = np.zeros(len(mesh.loops) * 2)
    mesh.uv_layers.active.data.foreach_get("uv", loop_uv)
    loop_total = np.zeros(len(mesh.polygons), dtype=np.int64)
    mesh.polygons.foreach_get("loop_total", loop_total)

    material = mesh.materials[0]
    images = [n for n in material.node_tree.nodes if n.type == "TEX_IMAGE" and n.image is not None]
    image = images[0].image
    base_color_from = [link.from_node.type for link in material.node_tree.links
                       if link.to_node.type == "BSDF_PRINCIPLED" and link.to_socket.name == "Base Color"]
    width, height = image.size
    pixels = np.array(image.pixels[:]).reshape(height, width, image.channels)[::-1, :, :3]   # row 0 = top
    json.dump({
        "n_objects": len(objects),
        "vertices": co.tolist(),
        "loop_vertex": loop_vertex.tolist(),
        "loop_uv": loop_uv.reshape(-1, 2).tolist(),
        "loop_total": loop_total.tolist(),
        "image_size": [width, height],
        "image_pixels": np.round(pixels * 255).astype(int).tolist(),
        "base_color_from": base_color_from,
    }, open(out, "w"))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
