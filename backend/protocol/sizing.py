"""Real-world size of a generated mesh: the one definition of ``target_length`` (pure Python + numpy).

The exporters (``backend.export``) and the Blender add-on (which gets a verbatim copy of this package from
``build_addon.py``) both scale meshes with :func:`length_scale`, so a length means the same everywhere.

**target_length** is the longest horizontal side of the mesh's axis-aligned bounding box in the object frame,
max(x extent, y extent) in metres (x = left-right, y = front-back, z = up; the height does not count). For a car
that is its length, front to back. A ``target_length`` square therefore holds the ground footprint of any scaled
object, which the add-on's layouts rely on to keep objects apart.
"""
from __future__ import annotations

import math

import numpy as np


def horizontal_length(vertices) -> float:
    """The longest horizontal side of the bounding box of (N, 3) object-frame vertices: max(x extent, y extent)."""
    points = np.asarray(vertices, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3 or len(points) == 0:
        raise ValueError(f"vertices must have shape (N, 3) with N >= 1, got {points.shape}")
    extent = points.max(axis=0) - points.min(axis=0)
    return float(max(extent[0], extent[1]))


def length_scale(vertices, target_length: float) -> float:
    """The uniform factor that makes (N, 3) object-frame vertices ``target_length`` metres long (module docstring).

    Raises ValueError (one line) for a target_length that is not a positive finite number, or a mesh with no
    horizontal size.
    """
    if isinstance(target_length, bool) or not isinstance(target_length, (int, float, np.floating, np.integer)) \
            or not math.isfinite(target_length) or target_length <= 0:
        raise ValueError(f"target_length must be a positive number of metres, got {target_length!r}")
    length = horizontal_length(vertices)
    if not length > 0:
        raise ValueError(f"cannot scale to a target length: the mesh has no horizontal size ({length!r})")
    return float(target_length) / length
