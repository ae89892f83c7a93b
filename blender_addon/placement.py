"""Where generated objects go: pure numpy placement math (no bpy), tested by pytest.

Every function returns a :class:`Layout`: world positions (N, 3) float64 of each object's origin (the bottom
centre of the object) and a yaw (N,) float64 in radians about +z. Yaw 0 keeps the object's front along −y
(docs/architecture.md); a yaw of θ turns the front to (sin θ, −cos θ, 0).

Distances are in metres. ``footprint`` is the diameter of the circle that holds one object's ground footprint
whatever its yaw; ``gap`` is the free space wanted between neighbours. Neighbouring origins are therefore at
least ``footprint + gap`` apart, which guarantees that objects never overlap.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MODES = ("CURSOR", "GRID", "SCATTER", "CURVE")


class PlacementError(ValueError):
    """The requested layout cannot be made (one line, says what to change)."""


@dataclass(frozen=True)
class Layout:
    """positions (N, 3) float64 world coordinates of each origin; yaws (N,) float64 radians about +z."""

    positions: np.ndarray
    yaws: np.ndarray

    def __len__(self) -> int:
        return len(self.positions)


def footprint_diameter(target_length: float, random_yaw: bool) -> float:
    """Diameter (m) of ground needed by one object scaled to ``target_length`` (its longest horizontal side, the
    definition in ``protocol/sizing.py``).

    The footprint is inside a ``target_length`` square; a square turned by any yaw stays inside a circle of
    diameter ``target_length · √2``. Without random yaw objects keep their axes, so ``target_length`` suffices.
    """
    return target_length * (math.sqrt(2.0) if random_yaw else 1.0)


def yaw_facing(direction: np.ndarray) -> np.ndarray:
    """Yaw (N,) that turns the object's front (−y) to point along ``direction`` (N, 2 or 3) in the xy plane."""
    d = np.asarray(direction, dtype=np.float64)
    return np.arctan2(d[..., 0], -d[..., 1])


def random_yaws(count: int, rng: np.random.Generator) -> np.ndarray:
    """count yaws uniform in [0, 2π)."""
    return rng.uniform(0.0, 2.0 * math.pi, size=count)


def _check_count(count: int) -> None:
    if count < 1:
        raise PlacementError(f"count must be at least 1 (got {count})")


def at_point(count: int, point, pitch: float) -> Layout:
    """``count`` objects in a row along +x, centred on ``point`` (the 3D cursor), ``pitch`` metres apart."""
    _check_count(count)
    offsets = (np.arange(count, dtype=np.float64) - (count - 1) / 2.0) * pitch
    positions = np.tile(np.asarray(point, dtype=np.float64), (count, 1))
    positions[:, 0] += offsets
    return Layout(positions, np.zeros(count))


def grid(count: int, centre, pitch: float) -> Layout:
    """A near-square grid (ceil(√count) columns along +x, rows along −y) centred on ``centre``."""
    _check_count(count)
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    index = np.arange(count)
    col, row = index % columns, index // columns
    positions = np.tile(np.asarray(centre, dtype=np.float64), (count, 1))
    positions[:, 0] += (col - (columns - 1) / 2.0) * pitch
    positions[:, 1] -= (row - (rows - 1) / 2.0) * pitch
    return Layout(positions, np.zeros(count))


def upward_triangles(triangles: np.ndarray, max_slope_deg: float = 45.0) -> np.ndarray:
    """The triangles (F, 3, 3) whose normal is within ``max_slope_deg`` of +z (ground an object can stand on).

    Winding decides the normal (counter-clockwise seen from the outside, as Blender stores faces).
    """
    tri = np.asarray(triangles, dtype=np.float64)
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    lengths = np.linalg.norm(normals, axis=1)
    ok = lengths > 0
    cos_up = np.zeros(len(tri))
    cos_up[ok] = normals[ok, 2] / lengths[ok]
    return tri[cos_up >= math.cos(math.radians(max_slope_deg))]


def scatter_on_surface(count: int, triangles: np.ndarray, min_distance: float, rng: np.random.Generator,
                       max_attempts_per_object: int = 200) -> Layout:
    """``count`` points on the upward-facing part of a triangle surface, every two at least ``min_distance`` apart.

    Args:
        triangles: (F, 3, 3) world-space triangle corners (counter-clockwise seen from above for ground).
        min_distance: minimum distance (m) between any two points, measured in the xy plane.
        rng: the seeded generator, so a layout can be reproduced.

    Dart throwing: candidates are drawn area-weighted and uniformly inside a triangle, and rejected if they fall
    closer than ``min_distance`` to an accepted point. Raises :class:`PlacementError` if the surface is too small.
    """
    _check_count(count)
    ground = upward_triangles(triangles)
    if len(ground) == 0:
        raise PlacementError("the selected object has no upward-facing faces to scatter on; "
                             "select a ground mesh (e.g. a plane) or use Grid placement")
    a, b, c = ground[:, 0], ground[:, 1], ground[:, 2]
    areas = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)
    probabilities = areas / areas.sum()
    accepted: list[np.ndarray] = []
    attempts = 0
    budget = count * max_attempts_per_object
    while len(accepted) < count and attempts < budget:
        batch = 64
        attempts += batch
        tri = rng.choice(len(ground), size=batch, p=probabilities)
        r1, r2 = rng.random(batch), rng.random(batch)
        flip = r1 + r2 > 1.0
        r1[flip], r2[flip] = 1.0 - r1[flip], 1.0 - r2[flip]
        points = a[tri] + r1[:, None] * (b[tri] - a[tri]) + r2[:, None] * (c[tri] - a[tri])
        for p in points:
            if accepted:
                d = np.linalg.norm(np.asarray(accepted)[:, :2] - p[:2], axis=1)
                if d.min() < min_distance:
                    continue
            accepted.append(p)
            if len(accepted) == count:
                break
    if len(accepted) < count:
        raise PlacementError(
            f"only {len(accepted)} of {count} objects fit on the selected surface with {min_distance:.2f} m between "
            "them; lower the count, the spacing or the target length, or use a larger surface")
    return Layout(np.asarray(accepted), np.zeros(count))


def polyline_length(points: np.ndarray) -> float:
    """Total length of a polyline (N, 3)."""
    p = np.asarray(points, dtype=np.float64)
    return float(np.linalg.norm(np.diff(p, axis=0), axis=1).sum())


def along_polyline(count: int, points: np.ndarray, pitch: float) -> Layout:
    """``count`` objects along a polyline (N, 3) every ``pitch`` metres of arc length, fronts along the direction.

    The first object sits at the start of the curve. Raises :class:`PlacementError` if the curve is too short.
    """
    _check_count(count)
    p = np.asarray(points, dtype=np.float64)
    if len(p) < 2:
        raise PlacementError("the selected curve has fewer than 2 points; select a curve with a length")
    segments = np.diff(p, axis=0)
    seg_len = np.linalg.norm(segments, axis=1)
    keep = seg_len > 1e-9
    segments, seg_len, starts = segments[keep], seg_len[keep], p[:-1][keep]
    if len(seg_len) == 0:
        raise PlacementError("the selected curve has zero length")
    total = float(seg_len.sum())
    needed = pitch * (count - 1)
    if needed > total + 1e-6:
        fits = int(total // pitch) + 1
        raise PlacementError(
            f"the curve is {total:.2f} m long but {count} objects need {needed:.2f} m; "
            f"place at most {fits}, or lower the spacing or the target length")
    distances = np.arange(count, dtype=np.float64) * pitch
    cumulative = np.concatenate([[0.0], np.cumsum(seg_len)])
    seg = np.clip(np.searchsorted(cumulative, distances, side="right") - 1, 0, len(seg_len) - 1)
    t = (distances - cumulative[seg]) / seg_len[seg]
    positions = starts[seg] + t[:, None] * segments[seg]
    return Layout(positions, yaw_facing(segments[seg]))


def _ground_direction(direction, fallback=(1.0, 0.0, 0.0)) -> np.ndarray:
    """``direction`` (3,) flattened onto the ground (z = 0) and made unit length; ``fallback`` when it is vertical."""
    d = np.array(direction, dtype=np.float64)[:3]
    d[2] = 0.0
    length = np.linalg.norm(d)
    return d / length if length > 1e-9 else np.asarray(fallback, dtype=np.float64)


def variation_row(count: int, origin, x_axis, yaw: float, pitch: float) -> Layout:
    """``count`` variations of an object in a row beside it: along its own x axis, ``pitch`` metres apart, the first
    one ``pitch`` from the object, all turned as it is.

    Args:
        origin: (3,) world position of the object. x_axis: (3,) its x axis in world space (the first column of
            its world matrix), flattened onto the ground; +x of the world when the axis stands vertical.
        yaw: the object's yaw (radians), kept by every variation. pitch: metres between neighbouring origins.
    """
    _check_count(count)
    steps = np.arange(1, count + 1, dtype=np.float64)[:, None]
    positions = np.asarray(origin, dtype=np.float64)[None] + steps * pitch * _ground_direction(x_axis)[None]
    return Layout(positions, np.full(count, float(yaw)))


def blend_row(a, b, yaw_a: float, yaw_b: float, fractions, beside: float = 0.0) -> Layout:
    """In-betweens of two objects: each at its fraction of the way from ``a`` to ``b``, turned that far from
    ``yaw_a`` to ``yaw_b`` the shorter way round.

    Args:
        a, b: (3,) world positions of the two objects. yaw_a, yaw_b: their yaws (radians).
        fractions: (N,) in [0, 1], 0 at ``a`` and 1 at ``b`` (``protocol.latents.blend_fractions``).
        beside: metres the whole row moves to the left of the a → b direction (in the ground plane), so that
            in-betweens at fractions 0 and 1 do not sit on the two objects themselves; 0 keeps the row between them.
    """
    t = np.asarray(fractions, dtype=np.float64).reshape(-1)
    _check_count(len(t))
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    offset = np.zeros(3)
    if beside:
        along = (b - a)[:2]
        offset = np.array([-along[1], along[0], 0.0]) / max(float(np.linalg.norm(along)), 1e-9) * beside
    turn = math.remainder(yaw_b - yaw_a, 2.0 * math.pi)   # the shorter way round
    return Layout((1.0 - t)[:, None] * a + t[:, None] * b + offset, yaw_a + t * turn)


def with_random_yaw(layout: Layout, rng: np.random.Generator) -> Layout:
    """The same positions with yaws added to uniform random turns."""
    return Layout(layout.positions, np.mod(layout.yaws + random_yaws(len(layout), rng), 2.0 * math.pi))


def normalisation(vertices: np.ndarray, target_length: float) -> tuple[float, np.ndarray]:
    """Scale and offset that bring raw object-frame vertices to real-world size with the origin at the bottom centre.

    Args:
        vertices: (V, 3) float object-frame coordinates (z up, roughly in [−1, 1]).
        target_length: wanted length (m), > 0: the longest horizontal side, as ``protocol.sizing`` defines it for
            the exporters too.
    Returns:
        (scale, offset (3,)) with ``scale · vertices + offset`` spanning ``target_length`` along its longer
        horizontal axis, centred on x = y = 0, and resting on z = 0.
    """
    from .protocol.sizing import length_scale  # deferred: the vendored protocol package needs pyzmq on the path

    v = np.asarray(vertices, dtype=np.float64)
    try:
        scale = length_scale(v, target_length)
    except ValueError as exc:
        raise PlacementError(str(exc)) from None
    low, high = v.min(axis=0), v.max(axis=0)
    centre = np.array([(low[0] + high[0]) / 2.0, (low[1] + high[1]) / 2.0, low[2]])
    return scale, -scale * centre
