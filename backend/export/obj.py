"""Wavefront OBJ + MTL + PNG writer (the original export format, §8.5, without its reflection).

For a mesh called NAME it writes NAME.obj, NAME.mtl and NAME.png side by side: 962 ``v`` lines in the Y-up file
frame (see :mod:`backend.export.frames`), the template's 1054 ``vt`` lines, and 1920 ``f v/vt`` faces,
counter-clockwise seen from outside. Blender, trimesh and MeshLab open it with the texture applied.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ..mesh import MeshTemplate
from .frames import Origin, object_to_y_up, place_in_world


def check_mesh_arrays(vertices: np.ndarray, texture: np.ndarray, template: MeshTemplate) -> None:
    """Raise ValueError unless vertices is (V, 3) float for this template and texture is (H, W, 3) uint8."""
    vertices, texture = np.asarray(vertices), np.asarray(texture)
    if vertices.shape != (template.num_vertices, 3) or not np.issubdtype(vertices.dtype, np.floating):
        raise ValueError(f"vertices must be a ({template.num_vertices}, 3) float array for this template, "
                         f"got {vertices.shape} {vertices.dtype}")
    if not np.all(np.isfinite(vertices)):
        raise ValueError("vertices contain NaN or infinite values")
    if texture.ndim != 3 or texture.shape[2] != 3 or texture.dtype != np.uint8:
        raise ValueError(f"texture must be an (H, W, 3) uint8 image, got {texture.shape} {texture.dtype}")


def write_texture_png(path: str | Path, texture: np.ndarray) -> Path:
    """Write an (H, W, 3) uint8 texture (row 0 = v = 1, the top) as an 8-bit RGB PNG; returns the path."""
    path = Path(path)
    Image.fromarray(np.ascontiguousarray(texture), mode="RGB").save(path, format="PNG")
    return path


def write_obj(directory: str | Path, name: str, vertices: np.ndarray, texture: np.ndarray,
              template: MeshTemplate, target_length: float | None = None, origin: Origin = "object") -> list[Path]:
    """Write NAME.obj, NAME.mtl and NAME.png into ``directory`` (created if missing).

    vertices: (V, 3) float, object frame (z up, front -y), e.g. ``GeneratedMesh.vertices``.
    texture: (T, T, 3) uint8 RGB, row 0 = top of the image (v = 1).
    template: the topology the vertices belong to (faces, UVs).
    target_length, origin: optional real-world size and origin, see :func:`backend.export.frames.place_in_world`.
    Returns the three paths [obj, mtl, png].
    """
    check_mesh_arrays(vertices, texture, template)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    obj_path, mtl_path, png_path = (directory / f"{name}{ext}" for ext in (".obj", ".mtl", ".png"))

    positions = object_to_y_up(place_in_world(vertices, target_length, origin))
    lines = [
        "# gan3d generated textured mesh (UV sphere topology of Pavllo et al., ICCV 2021)",
        "# Y-up file frame: object (x, y, z) -> file (x, z, -y); the object's front faces +Z here, -Y in Blender.",
        f"mtllib {mtl_path.name}",
        f"o {name}",
    ]
    lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in positions.tolist()]
    lines += [f"vt {u:.6f} {v:.6f}" for u, v in template.uvs.tolist()]
    lines += [f"usemtl {name}", "s off"]
    corners = np.stack([template.faces + 1, template.face_uvs + 1], axis=-1).reshape(-1, 6).tolist()
    lines += ["f {}/{} {}/{} {}/{}".format(*corner) for corner in corners]
    obj_path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    mtl_path.write_text("\n".join([
        f"newmtl {name}",
        "Ka 1.000000 1.000000 1.000000",
        "Kd 1.000000 1.000000 1.000000",
        "Ks 0.000000 0.000000 0.000000",
        "d 1.0",
        "illum 1",
        f"map_Kd {png_path.name}",
    ]) + "\n", encoding="utf-8")
    write_texture_png(png_path, texture)
    return [obj_path, mtl_path, png_path]
