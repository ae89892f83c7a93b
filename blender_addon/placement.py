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

from . import footprints

MODES = ("CURSOR", "GRID", "SCATTER", "CURVE", "CAMERA")
#: Tilt margin: an object tilted by θ leans ``ASSUMED_HEIGHT_RATIO · length · sin θ`` sideways at its top (cars are
#: at most about half as tall as long; the trained default's are 0.37), so its footprint grows by that much.
ASSUMED_HEIGHT_RATIO = 0.5


class PlacementError(ValueError):
    """The requested layout cannot be made (one line, says what to change)."""


@dataclass(frozen=True)
class Layout:
    """positions (N, 3) float64 world coordinates of each origin; yaws (N,) float64 radians about +z.

    normals: (N, 3) unit up vectors of objects tilted to the surface or road (None: upright); lengths: (N,) metres
    of each object when they differ (None: the panel's length); widths: (N,) metres of ground each one reserves across.
    """

    positions: np.ndarray
    yaws: np.ndarray
    normals: np.ndarray | None = None
    lengths: np.ndarray | None = None
    widths: np.ndarray | None = None

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
    return tri[_slope_ok(tri, max_slope_deg)]


def _normals(tri: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit normals (F, 3) and areas (F,) of triangles (F, 3, 3)."""
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    length = np.linalg.norm(cross, axis=1)
    return cross / np.maximum(length, 1e-12)[:, None], 0.5 * length


def _slope_ok(tri: np.ndarray, max_slope_deg: float) -> np.ndarray:
    normals, areas = _normals(tri)
    return (areas > 0) & (normals[:, 2] >= math.cos(math.radians(min(max(max_slope_deg, 0.0), 89.9))) - 1e-12)


# -- variety: lengths and yaws -------------------------------------------------------------------------

def check_range(low: float, high: float, what: str, unit: str = "m") -> None:
    """Raises PlacementError unless ``low <= high`` and both are finite."""
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        raise PlacementError(f"the {what} range {low:g}-{high:g} {unit} is empty: its minimum must not exceed its maximum")


def lengths_in_range(count: int, rng: np.random.Generator, low: float, high: float) -> np.ndarray:
    """``count`` lengths uniform in [low, high] metres (all ``low`` when the range is one value)."""
    check_range(low, high, "length")
    if low <= 0:
        raise PlacementError(f"lengths must be positive (the range starts at {low:g} m)")
    return np.full(count, float(low)) if high == low else rng.uniform(low, high, size=count)


def yaws_in_range(count: int, rng: np.random.Generator, low: float, high: float) -> np.ndarray:
    """``count`` yaws uniform in [low, high] radians, wrapped into [0, 2π)."""
    check_range(low, high, "yaw", "rad")
    return np.mod(rng.uniform(low, high, size=count), 2.0 * math.pi)


def headings(yaws) -> np.ndarray:
    """(N, 2) unit direction of each object's front (−y turned by its yaw)."""
    y = np.asarray(yaws, dtype=np.float64)
    return np.stack([np.sin(y), -np.cos(y)], axis=-1)


def orientations(normals, yaws) -> np.ndarray:
    """(N, 3, 3) rotation matrices (columns: the object's x, y, z axes in the world) of objects whose up axis is
    ``normals`` (N, 3) and whose front keeps the heading of ``yaws`` (N,) as seen from above (Align to Surface)."""
    up = np.asarray(normals, dtype=np.float64)
    up = up / np.linalg.norm(up, axis=1, keepdims=True)
    h = headings(yaws)
    # the vector of the tilted plane whose view from above is the heading: (h, z) with (h, z) · up = 0
    rise = -np.sum(h * up[:, :2], axis=1) / np.maximum(up[:, 2], 1e-9)
    front = np.concatenate([h, rise[:, None]], axis=1)
    front /= np.maximum(np.linalg.norm(front, axis=1, keepdims=True), 1e-12)
    y_axis = -front
    x_axis = np.cross(y_axis, up)
    return np.stack([x_axis, y_axis, up], axis=2)


def footprints_of(positions, yaws, lengths, widths, normals=None) -> np.ndarray:
    """(N, MAX_CORNERS, 2) ground rectangles reserved by objects: ``lengths`` along their heading, ``widths`` across,
    grown by the tilt margin (``ASSUMED_HEIGHT_RATIO`` · length · sin tilt on every side) when ``normals`` are given."""
    lengths = np.asarray(lengths, dtype=np.float64)
    widths = np.asarray(widths, dtype=np.float64)
    if normals is not None:
        n = np.asarray(normals, dtype=np.float64)
        sin_tilt = np.sqrt(np.clip(1.0 - (n[:, 2] / np.linalg.norm(n, axis=1)) ** 2, 0.0, 1.0))
        margin = 2.0 * ASSUMED_HEIGHT_RATIO * lengths * sin_tilt
        lengths, widths = lengths + margin, widths + margin
    return footprints.rectangles(np.asarray(positions)[:, :2], headings(yaws), lengths, widths)


# -- surfaces and density masks -------------------------------------------------------------------------

@dataclass(frozen=True)
class Surface:
    """A ground mesh to scatter on.

    triangles: (F, 3, 3) world-space corners, counter-clockwise seen from above.
    corner_weights: (F, 3) density in [0, 1] at each corner (a vertex group's weights), or None.
    corner_uvs: (F, 3, 2) UV coordinates of each corner and mask: (H, W) density in [0, 1] read through them (an
        image; row 0 is the bottom, v = 0, as Blender stores pixels), or None.
    Zero density means no object there; density is linear in between (a weight of 0.5 keeps half the candidates).
    """

    triangles: np.ndarray
    corner_weights: np.ndarray | None = None
    corner_uvs: np.ndarray | None = None
    mask: np.ndarray | None = None

    def __post_init__(self):
        tri = np.asarray(self.triangles, dtype=np.float64).reshape(-1, 3, 3)
        object.__setattr__(self, "triangles", tri)
        if self.corner_weights is not None:
            w = np.asarray(self.corner_weights, dtype=np.float64)
            if w.shape != (len(tri), 3):
                raise PlacementError(f"corner weights must be ({len(tri)}, 3), got {w.shape}")
            object.__setattr__(self, "corner_weights", np.clip(np.nan_to_num(w), 0.0, 1.0))
        if (self.mask is None) != (self.corner_uvs is None):
            raise PlacementError("an image density mask needs the surface's UV map (and the other way round)")
        if self.mask is not None:
            m = np.asarray(self.mask, dtype=np.float64)
            if m.ndim != 2 or min(m.shape) < 1:
                raise PlacementError(f"the density image must be (H, W), got {m.shape}")
            object.__setattr__(self, "mask", np.clip(np.nan_to_num(m), 0.0, 1.0))
            object.__setattr__(self, "corner_uvs", np.asarray(self.corner_uvs, dtype=np.float64).reshape(-1, 3, 2))

    def density(self, tri_index: np.ndarray, bary: np.ndarray) -> np.ndarray:
        """Density in [0, 1] at points given by triangle index (N,) and barycentric weights (N, 3)."""
        out = np.ones(len(tri_index))
        if self.corner_weights is not None:
            out *= np.sum(self.corner_weights[tri_index] * bary, axis=1)
        if self.mask is not None:
            uv = np.einsum("nk,nkd->nd", bary, self.corner_uvs[tri_index])
            h, w = self.mask.shape
            col = np.clip(np.floor(np.mod(uv[:, 0], 1.0) * w), 0, w - 1).astype(np.int64)
            row = np.clip(np.floor(np.mod(uv[:, 1], 1.0) * h), 0, h - 1).astype(np.int64)
            out *= self.mask[row, col]
        return out

    def eligible(self, max_slope_deg: float) -> np.ndarray:
        """Indices of the triangles that are gentle enough and not fully masked out."""
        ok = _slope_ok(self.triangles, max_slope_deg)
        if self.corner_weights is not None:
            ok &= self.corner_weights.max(axis=1) > 0
        return np.flatnonzero(ok)

    def sample(self, n: int, rng: np.random.Generator, max_slope_deg: float):
        """Up to ``n`` random points (area-weighted, thinned by the density): (points (k, 3), normals (k, 3))."""
        index = self.eligible(max_slope_deg)
        if len(index) == 0:
            return np.zeros((0, 3)), np.zeros((0, 3))
        normals, areas = _normals(self.triangles[index])
        tri = rng.choice(len(index), size=n, p=areas / areas.sum())
        r1, r2 = rng.random(n), rng.random(n)
        flip = r1 + r2 > 1.0
        r1[flip], r2[flip] = 1.0 - r1[flip], 1.0 - r2[flip]
        bary = np.stack([1.0 - r1 - r2, r1, r2], axis=1)
        keep = rng.random(n) < self.density(index[tri], bary)
        corners = self.triangles[index[tri[keep]]]
        points = np.einsum("nk,nkd->nd", bary[keep], corners)
        return points, normals[tri[keep]]

    def usable_area(self, max_slope_deg: float, rng: np.random.Generator, samples: int = 4096) -> float:
        """Square metres of the surface that objects may use, each weighted by its density (an estimate from
        ``samples`` points when a mask is set)."""
        index = self.eligible(max_slope_deg)
        if len(index) == 0:
            return 0.0
        _, areas = _normals(self.triangles[index])
        total = float(areas.sum())
        if self.corner_weights is None and self.mask is None:
            return total
        tri = rng.choice(len(index), size=samples, p=areas / total)
        bary = rng.dirichlet(np.ones(3), size=samples)
        return total * float(self.density(index[tri], bary).mean())


def count_for_density(density_per_100m2: float, area_m2: float) -> int:
    """How many objects a density (objects per 100 m²) puts on ``area_m2``; raises when that is none."""
    if not (math.isfinite(density_per_100m2) and density_per_100m2 > 0):
        raise PlacementError(f"the density must be a positive number of objects per 100 m² (got {density_per_100m2:g})")
    count = int(round(density_per_100m2 * area_m2 / 100.0))
    if count < 1:
        raise PlacementError(f"a density of {density_per_100m2:g} per 100 m² puts no object on the {area_m2:.1f} m² "
                             "the surface offers; raise the density or use a count")
    return count


def check_surface(surface: "Surface", max_slope_deg: float) -> None:
    """Raises PlacementError when no face of the surface can take an object (too steep, facing down, masked out)."""
    if len(surface.eligible(max_slope_deg)) == 0:
        raise PlacementError(f"the selected object has no upward-facing faces within {max_slope_deg:g}° of level "
                             "(and a density above zero) to scatter on; select a ground mesh, raise the maximum "
                             "slope, or use Grid placement")


def check_room(count: int, area_m2: float, length: float, width_ratio: float, gap: float) -> None:
    """Refuse at once a count that cannot fit: footprints of at least ``length`` × ``width_ratio · length`` kept
    ``gap`` apart cover at least ``(length + gap)(width + gap)`` each, and ``area_m2`` (with half again for objects
    that hang over its edges) is less than that. Passing this does not promise a fit: dart throwing decides."""
    need = count * (length + gap) * (width_ratio * length + gap)
    if need > 1.5 * area_m2:
        fits = int(1.5 * area_m2 / ((length + gap) * (width_ratio * length + gap)))
        raise PlacementError(f"{count} objects cannot fit on the selected surface: they need at least {need:.0f} m² "
                             f"and it offers {area_m2:.0f} m² (at most about {fits}); lower the count or density, the "
                             "spacing or the length, or use a larger surface")


def scatter(count: int, surface: Surface, rng: np.random.Generator, *, length_range: tuple[float, float],
            width_ratio: float = 1.0, gap: float = 0.0, yaw_range: tuple[float, float] | None = None,
            align: bool = False, max_slope_deg: float = 45.0, obstacles: np.ndarray | None = None,
            inside=None, max_candidates_per_object: int = 200) -> Layout:
    """``count`` objects at random on a surface, none closer than ``gap`` to another or to an obstacle.

    Args:
        length_range: (min, max) metres; each object's length is uniform in it. width_ratio: ground each reserves
            across, as a fraction of its length (1 holds any shape; a car needs about 0.5).
        yaw_range: (min, max) radians of the random turn about z (None: no turn). align: tilt each object to the
            face normal (Align to Surface; its heading seen from above is kept). max_slope_deg: no object where the
            surface is steeper. obstacles: (K, MAX_CORNERS, 2) footprints to keep out of (Avoid objects, cars
            already in the scene). inside: optional ``points (N, 3) -> bool (N,)`` filter (the camera's view);
            it is given the footprint corners of each candidate at ground height and must accept all four.
    Candidates are drawn in rounds and kept greedily in draw order (dart throwing), so the same ``rng`` state gives
    the same layout. Raises PlacementError naming how many fit when the surface is too small.
    """
    _check_count(count)
    obstacles = np.zeros((0, footprints.MAX_CORNERS, 2)) if obstacles is None else obstacles
    check_surface(surface, max_slope_deg)
    kept_parts: list[tuple] = []
    kept = 0
    budget = count * max_candidates_per_object
    drawn = 0
    fixed = obstacles
    while kept < count and drawn < budget:
        n = int(min(max(256, 4 * (count - kept)), 8192))
        drawn += n
        points, normals = surface.sample(n, rng, max_slope_deg)
        lengths = lengths_in_range(len(points), rng, *length_range)
        yaws = yaws_in_range(len(points), rng, *yaw_range) if yaw_range else np.zeros(len(points))
        if len(points) == 0:
            continue
        widths = width_ratio * lengths
        polys = footprints_of(points, yaws, lengths, widths, normals if align else None)
        allowed = None
        if inside is not None:
            corners = np.concatenate([polys[:, :4], np.repeat(points[:, None, 2:3], 4, axis=1)], axis=2)
            allowed = inside(corners.reshape(-1, 3)).reshape(-1, 4).all(axis=1)
        chosen = footprints.greedy_accept(polys, fixed, gap, count - kept, allowed)
        if len(chosen):
            kept_parts.append((points[chosen], yaws[chosen], normals[chosen], lengths[chosen], widths[chosen]))
            fixed = np.concatenate([fixed, polys[chosen]])
            kept += len(chosen)
    if kept < count:
        raise PlacementError(
            f"only {kept} of {count} objects fit on the selected surface with {gap:.2f} m between them "
            f"(and the Avoid objects, slope and density mask); lower the count or density, the spacing or the length, "
            "or use a larger surface")
    points, yaws, normals, lengths, widths = (np.concatenate([p[k] for p in kept_parts]) for k in range(5))
    return Layout(points, yaws, normals if align else None, lengths, widths)


def polyline_length(points: np.ndarray) -> float:
    """Total length of a polyline (N, 3)."""
    p = np.asarray(points, dtype=np.float64)
    return float(np.linalg.norm(np.diff(p, axis=0), axis=1).sum())


# -- roads -------------------------------------------------------------------------------------------------

def road_frames(points, tilts) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Frames along a polyline (N, 3) whose ``tilts`` (N,) radians turn the road about its tangent.

    Returns arc length (M,), unit tangent, left and up vectors (M, 3) and the points (M, 3) (repeated points
    dropped). A positive tilt raises the left side (the left and up vectors turn counter-clockwise seen from behind).
    """
    p = np.asarray(points, dtype=np.float64)
    t = np.asarray(tilts, dtype=np.float64).reshape(-1)
    if len(p) < 2:
        raise PlacementError("the selected curve has fewer than 2 points; select a curve with a length")
    seg = np.diff(p, axis=0)
    seg_len = np.linalg.norm(seg, axis=1)
    keep = np.concatenate([[True], seg_len > 1e-9])
    p, t = p[keep], t[keep]
    if len(p) < 2:
        raise PlacementError("the selected curve has zero length")
    seg = np.diff(p, axis=0)
    seg_len = np.linalg.norm(seg, axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg_len)])
    d = seg / seg_len[:, None]
    tangent = np.concatenate([d[:1], d[:-1] + d[1:], d[-1:]])
    tangent /= np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-12)
    left0 = np.cross(np.array([0.0, 0.0, 1.0]), tangent)
    vertical = np.linalg.norm(left0, axis=1) < 1e-9
    left0[vertical] = [0.0, 1.0, 0.0]
    left0 /= np.linalg.norm(left0, axis=1, keepdims=True)
    up0 = np.cross(tangent, left0)
    c, s = np.cos(t)[:, None], np.sin(t)[:, None]
    left = c * left0 + s * up0
    up = -s * left0 + c * up0
    return arc, tangent, left, up, p


def lane_directions(spec: str, lanes: int, both_sides: bool) -> np.ndarray:
    """(lanes_total,) +1 (with the curve) or −1 (against it) per lane, from the leftmost lane to the rightmost.

    spec: one ``>`` (with) or ``<`` (against) per lane, left to right (spaces ignored); empty: all with the curve, or
    with ``both_sides`` the left side against it and the right side with it (right-hand traffic).
    """
    total = lanes * (2 if both_sides else 1)
    text = "".join(spec.split())
    if not text:
        return np.array([-1.0] * lanes + [1.0] * lanes) if both_sides else np.ones(total)
    if len(text) != total or set(text) - {"<", ">"}:
        example = "<" * lanes + ">" * lanes if both_sides else ">" * total
        raise PlacementError(f"lane directions {spec!r} must give one > (with the curve) or < (against it) per lane, "
                             f"left to right: {total} lane{'s' if total > 1 else ''} here, e.g. {example}")
    return np.array([1.0 if ch == ">" else -1.0 for ch in text])


def lane_offsets(lanes: int, lane_width: float, both_sides: bool) -> np.ndarray:
    """Sideways offsets (m, to the left of the curve) of each lane's centre, leftmost first. One side: the lanes
    are centred on the curve; both sides: ``lanes`` on each side, the curve between them."""
    if both_sides:
        left = (np.arange(lanes, 0, -1) - 0.5) * lane_width
        return np.concatenate([left, -left[::-1]])
    return ((lanes - 1) / 2.0 - np.arange(lanes)) * lane_width


def along_road(count: int, points, tilts, rng: np.random.Generator, *, lanes: int = 1, lane_width: float = 3.5,
               both_sides: bool = False, directions: str = "", length_range: tuple[float, float] = (4.5, 4.5),
               width_ratio: float = 1.0, gap: float = 0.0, jitter: float = 0.0,
               obstacles: np.ndarray | None = None) -> Layout:
    """``count`` objects in the lanes of a road along a polyline (N, 3) with tilts (N,) radians.

    Each lane is filled from its start: ``gap`` plus a random ``[0, jitter]`` metres between neighbours, every
    object facing along its lane's direction (:func:`lane_directions`) and standing on the tilted road (its up
    axis turned with the tilt). Objects are taken one per lane in turn (first of each lane, then the second...),
    skipping places that would touch an obstacle. Raises PlacementError naming how many fit.
    """
    _check_count(count)
    if lanes < 1 or not (lane_width > 0):
        raise PlacementError(f"a road needs at least 1 lane of a positive width (got {lanes} of {lane_width:g} m)")
    if jitter < 0 or gap < 0:
        raise PlacementError("spacing and spacing jitter must not be negative")
    widest = width_ratio * length_range[1]
    if widest > lane_width + 1e-9:
        raise PlacementError(f"objects up to {widest:.2f} m wide (Width × the longest length) do not fit lanes of "
                             f"{lane_width:.2f} m; widen the lanes, or lower Width or the length")
    arc, tangent, left, up, p = road_frames(points, tilts)
    total = arc[-1]
    signs = lane_directions(directions, lanes, both_sides)
    offsets = lane_offsets(lanes, lane_width, both_sides)
    rows = []
    for lane, (offset, sign) in enumerate(zip(offsets, signs)):
        s, rank, previous = 0.0, 0, 0.0
        while True:
            length = float(lengths_in_range(1, rng, *length_range)[0])
            extra = float(rng.uniform(0.0, jitter)) if jitter > 0 else 0.0
            s = (length / 2.0 + extra) if rank == 0 else s + previous / 2.0 + gap + extra + length / 2.0
            if s + length / 2.0 > total + 1e-9:
                break
            along = total - s if sign < 0 else s      # lanes against the curve fill from its other end
            rows.append((rank, lane, along, offset, sign, length))
            previous, rank = length, rank + 1
    if not rows:
        raise PlacementError(f"the curve is {total:.2f} m long: too short for one object of {length_range[0]:g} m")
    rows.sort(key=lambda r: (r[0], r[1]))
    rank, lane, along, offset, sign, lengths = (np.array(c) for c in zip(*rows))
    i = np.clip(np.searchsorted(arc, along, side="right") - 1, 0, len(arc) - 2)
    f = ((along - arc[i]) / (arc[i + 1] - arc[i]))[:, None]
    lerp = lambda a: a[i] * (1.0 - f) + a[i + 1] * f      # noqa: E731
    t_dir, l_dir, u_dir = (v / np.linalg.norm(v, axis=1, keepdims=True) for v in (lerp(tangent), lerp(left), lerp(up)))
    positions = lerp(p) + l_dir * offset[:, None]
    facing = t_dir * sign[:, None]
    yaws = yaw_facing(facing)
    widths = width_ratio * lengths
    polys = footprints_of(positions, yaws, lengths, widths, u_dir)
    obstacles = np.zeros((0, footprints.MAX_CORNERS, 2)) if obstacles is None else obstacles
    # Neighbours on the road are spaced by construction; the check only keeps them (and lanes) from touching.
    chosen = footprints.greedy_accept(polys, obstacles, min(gap, 0.05), count)
    if len(chosen) < count:
        raise PlacementError(f"only {len(chosen)} of {count} objects fit in the {len(offsets)} lane"
                             f"{'s' if len(offsets) > 1 else ''} of the {total:.2f} m curve (with the spacing and "
                             "the Avoid objects); lower the count, the spacing or the length, or add lanes")
    return Layout(positions[chosen], yaws[chosen], u_dir[chosen], lengths[chosen], widths[chosen])


# -- the camera's view --------------------------------------------------------------------------------------

def frustum_test(apex, corners, clip_start: float, clip_end: float):
    """A function ``points (N, 3) -> bool (N,)``: inside the pyramid from ``apex`` (3,) through the four ``corners``
    (4, 3) of the view frame (in order round it), between ``clip_start`` and ``clip_end`` along the view axis."""
    apex = np.asarray(apex, dtype=np.float64)
    c = np.asarray(corners, dtype=np.float64)
    centre = c.mean(axis=0)
    axis = centre - apex
    axis /= np.linalg.norm(axis)
    normals = []
    for k in range(4):
        n = np.cross(c[k] - apex, c[(k + 1) % 4] - apex)
        n /= np.linalg.norm(n)
        normals.append(n if np.dot(n, centre - apex) > 0 else -n)
    normals = np.asarray(normals)

    def inside(points) -> np.ndarray:
        rel = np.asarray(points, dtype=np.float64) - apex
        depth = rel @ axis
        return np.all(rel @ normals.T >= 0.0, axis=1) & (depth >= clip_start) & (depth <= clip_end)

    return inside


def texture_sizes_by_distance(distances, lengths, focal_px: float, near_size: int, far_size: int,
                              offered) -> np.ndarray:
    """(N,) texture size per object from how many pixels it spans on the camera's image.

    An object ``lengths`` metres long at ``distances`` metres spans about ``length · focal_px / distance`` pixels;
    its texture is the power of two at or above that, kept within [far_size, near_size] (512² near, 128² far by
    default) and then the largest size the model ``offered`` that is not above it (else the smallest offered).
    """
    if far_size > near_size:
        raise PlacementError(f"the far texture size ({far_size}) must not exceed the near one ({near_size})")
    d = np.maximum(np.asarray(distances, dtype=np.float64), 1e-6)
    span = np.asarray(lengths, dtype=np.float64) * focal_px / d
    wanted = 2.0 ** np.ceil(np.log2(np.maximum(span, 1.0)))
    wanted = np.clip(wanted, far_size, near_size)
    sizes = np.sort(np.asarray(list(offered), dtype=np.int64))
    pick = np.searchsorted(sizes, wanted, side="right") - 1
    return sizes[np.clip(pick, 0, len(sizes) - 1)]


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


def fitted_length(vertices: np.ndarray, target_length: float, max_width: float) -> float:
    """The length to scale a mesh to so that it is ``target_length`` long but never wider (x) than ``max_width``.

    Lengths are the longest horizontal side (``protocol/sizing.py``); a mesh whose x extent at that scale would
    exceed ``max_width`` (an untrained blob, a van on a car-sized footprint) is scaled down until it fits.
    """
    v = np.asarray(vertices, dtype=np.float64)
    extent = v.max(axis=0) - v.min(axis=0)
    longest = max(float(extent[0]), float(extent[1]))
    if longest <= 0 or max_width <= 0:
        return float(target_length)
    width = float(extent[0]) * target_length / longest
    return float(target_length) if width <= max_width else float(target_length) * max_width / width


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
