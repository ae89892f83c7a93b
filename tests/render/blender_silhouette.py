"""Blender oracle, run as a separate process: ``python blender_silhouette.py JOB.json``.

JOB.json is a list of {"obj": path, "matrix": 4x4 row-major object → view transform, "res": N, "out": png}.
Each OBJ is imported with Blender's own importer (default axes: the file's Y-up becomes Blender's Z-up, the
project's object frame), placed with ``matrix`` in a world whose x is image-right and y image-up, and rendered
by Workbench with an orthographic camera looking down -z that spans [-1, 1]², no anti-aliasing, transparent
film: the PNG's alpha is the silhouette. Shares no code with the project.
"""
import json
import sys

import bpy
import mathutils


def render(item):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    bpy.ops.wm.obj_import(filepath=item["obj"])
    obj = bpy.context.selected_objects[0]
    # the importer may express its Y-up → Z-up conversion as the object's transform: compose, don't replace
    obj.matrix_world = mathutils.Matrix(item["matrix"]) @ obj.matrix_world
    camera_data = bpy.data.cameras.new("oracle_camera")
    camera_data.type = "ORTHO"
    camera_data.ortho_scale = 2.0
    camera_data.clip_start = 0.01
    camera_data.clip_end = 1000.0
    camera = bpy.data.objects.new("oracle_camera", camera_data)
    camera.location = (0.0, 0.0, 100.0)
    scene.collection.objects.link(camera)
    scene.camera = camera
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.render.resolution_x = scene.render.resolution_y = item["res"]
    scene.render.resolution_percentage = 100
    scene.render.film_transparent = True
    scene.display.render_aa = "OFF"
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGBA"
    scene.render.filepath = item["out"]
    bpy.ops.render.render(write_still=True)


if __name__ == "__main__":
    for job in json.load(open(sys.argv[1])):
        render(job)
