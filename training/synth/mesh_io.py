"""True car meshes on disk: Wavefront OBJ with one group per part.

Files follow the project's export convention (docs/architecture.md): OBJ is Y-up, so a vertex (x, y, z) of
the object frame is written as (x, z, -y); Blender's OBJ importer with default settings brings the car back
z-up with its front along -y. :func:`read_car_obj` undoes the rotation and returns object-frame vertices.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .car import PART_IDS, PART_NAMES, CarMesh


def write_car_obj(path: str | os.PathLike, car: CarMesh) -> None:
    """Write ``car`` atomically (temporary file + rename)."""
    path = Path(path)
    v = car.vertices.astype(np.float64)
    lines = [f"# gan3d synthetic car: body_type={car.body_type}; Y-up (object frame x, y, z -> x, z, -y)\n"]
    lines += [f"v {x:.6f} {z:.6f} {-y:.6f}\n" for x, y, z in v]
    for part in np.unique(car.face_parts):
        lines.append(f"g {PART_NAMES[part]}\n")
        for a, b, c in car.faces[car.face_parts == part] + 1:
            lines.append(f"f {a} {b} {c}\n")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(lines), encoding="utf-8")
    os.replace(tmp, path)


def read_car_obj(path: str | os.PathLike) -> CarMesh:
    """Read a file written by :func:`write_car_obj`; vertices come back in the object frame (z up).

    Faces keep their winding; ``face_parts`` comes from the ``g`` groups (unknown groups count as body).
    """
    vertices, faces, parts = [], [], []
    part = PART_IDS["body"]
    body_type = ""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("v "):
                x, y, z = (float(t) for t in line.split()[1:4])
                vertices.append((x, -z, y))
            elif line.startswith("f "):
                faces.append([int(t.split("/")[0]) - 1 for t in line.split()[1:4]])
                parts.append(part)
            elif line.startswith("g "):
                part = PART_IDS.get(line.split()[1], PART_IDS["body"])
            elif line.startswith("# gan3d") and "body_type=" in line:
                body_type = line.split("body_type=")[1].split(";")[0]
    if not vertices or not faces:
        raise ValueError(f"{path}: no vertices or faces")
    return CarMesh(np.asarray(vertices, np.float32), np.asarray(faces, np.int64), np.asarray(parts, np.int64),
                   body_type)
