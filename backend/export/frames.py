"""Placement of a generated mesh in an exported file: real-world scale, origin, and the Y-up file frame.

Object frame (docs/architecture.md): right-handed, x = left-right, y = front-back (front = -y), z = up.
OBJ and glTF files are conventionally Y-up, so exporters rotate the object by -90° about x:
(x, y, z) -> (x, z, -y). That is a proper rotation (determinant +1), so faces keep their counter-clockwise
winding and outward normals (the original export swapped y and z, a reflection that turned every face inside out,
§8.5). In the file the object's front (-y) points along +z, which is glTF's "forward" axis; Blender's OBJ and glTF
importers (default settings) rotate the file back, so the object arrives z-up with its front along -y.
"""
from __future__ import annotations

from typing import Literal

import numpy as np

from backend.protocol.sizing import length_scale

Origin = Literal["object", "bottom"]
ORIGINS = ("object", "bottom")

#: (3, 3) rotation taking object-frame (z-up) coordinates to the Y-up file frame: file = object @ OBJECT_TO_Y_UP.T
OBJECT_TO_Y_UP = np.array([[1.0, 0.0, 0.0],
                           [0.0, 0.0, 1.0],
                           [0.0, -1.0, 0.0]])


def object_to_y_up(vertices: np.ndarray) -> np.ndarray:
    """(N, 3) object-frame points -> (N, 3) Y-up file coordinates (x, z, -y), same dtype."""
    vertices = np.asarray(vertices)
    return np.stack([vertices[:, 0], vertices[:, 2], -vertices[:, 1]], axis=1)


def y_up_to_object(vertices: np.ndarray) -> np.ndarray:
    """Inverse of :func:`object_to_y_up`: (N, 3) file coordinates (X, Y, Z) -> object frame (X, -Z, Y)."""
    vertices = np.asarray(vertices)
    return np.stack([vertices[:, 0], -vertices[:, 2], vertices[:, 1]], axis=1)


def place_in_world(vertices: np.ndarray, target_length: float | None = None, origin: Origin = "object") -> np.ndarray:
    """Scale and move object-frame vertices for export; returns a new (N, 3) float64 array (object frame).

    target_length: if given, the mesh is scaled uniformly so its longest horizontal side (max of the x and y
        extents; a car's front-back length) is this many metres (Blender units), e.g. 4.5 for a car; the one
        definition, shared with the add-on, is ``backend.protocol.sizing``. None keeps the generator's units
        (roughly [-1, 1]).
    origin: "object" keeps the object frame's origin (the sphere's centre); "bottom" moves the origin to the
        bottom centre of the bounding box (x and y centred, lowest point at z = 0), so the object stands on the
        ground plane where it is placed.
    """
    points = np.asarray(vertices, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"vertices must have shape (N, 3), got {points.shape}")
    if origin not in ORIGINS:
        raise ValueError(f"origin must be one of {ORIGINS}, got {origin!r}")
    if target_length is not None:
        points = points * length_scale(points, target_length)
    if origin == "bottom":
        low, high = points.min(axis=0), points.max(axis=0)
        points = points - np.array([(low[0] + high[0]) / 2, (low[1] + high[1]) / 2, low[2]])
    return points
