"""Ground footprints as convex polygons in the xy plane, and fast overlap tests between many of them (pure numpy).

The placement math (:mod:`.placement`) keeps objects apart with these: a car reserves an oriented rectangle
(its length along its heading, its width across), an obstacle (an object of the Avoid collection, a car already in
the scene) reserves the convex hull of its world-space bounding box seen from above. Two footprints conflict when no
separating axis keeps them at least ``gap`` metres apart (the separating axis theorem: for convex polygons it is
enough to try the edge normals of both).

Every polygon is stored with ``MAX_CORNERS`` corners (shorter ones repeat their last corner: a zero-length edge adds
an axis of length zero, which never separates and so changes nothing).
"""
from __future__ import annotations

import numpy as np

SQRT2 = 2.0 ** 0.5
#: Corners per stored polygon: a box seen from above has a hull of at most 6 corners; rectangles use 4.
MAX_CORNERS = 8


def rectangles(centres, headings, lengths, widths) -> np.ndarray:
    """(N, MAX_CORNERS, 2) oriented rectangles: ``lengths`` (N,) along the unit ``headings`` (N, 2), ``widths`` (N,)
    across, centred on ``centres`` (N, 2)."""
    c = np.asarray(centres, dtype=np.float64)[:, :2]
    h = np.asarray(headings, dtype=np.float64)[:, :2]
    h = h / np.maximum(np.linalg.norm(h, axis=1, keepdims=True), 1e-12)
    side = np.stack([-h[:, 1], h[:, 0]], axis=1)
    a = 0.5 * np.asarray(lengths, dtype=np.float64)[:, None] * h
    b = 0.5 * np.asarray(widths, dtype=np.float64)[:, None] * side
    corners = np.stack([c - a - b, c + a - b, c + a + b, c - a + b], axis=1)
    return pad(corners)


def pad(polygons: np.ndarray) -> np.ndarray:
    """Polygons (N, K, 2) with K <= MAX_CORNERS padded to (N, MAX_CORNERS, 2) by repeating the last corner."""
    p = np.asarray(polygons, dtype=np.float64)
    if p.shape[1] > MAX_CORNERS:
        raise ValueError(f"a footprint has at most {MAX_CORNERS} corners, got {p.shape[1]}")
    extra = np.repeat(p[:, -1:], MAX_CORNERS - p.shape[1], axis=1)
    return np.concatenate([p, extra], axis=1)


def convex_hull(points) -> np.ndarray:
    """Counter-clockwise convex hull (H, 2) of 2D ``points`` (monotone chain); a single point for degenerate input."""
    p = np.unique(np.round(np.asarray(points, dtype=np.float64)[:, :2], 9), axis=0)
    if len(p) <= 2:
        return p
    p = p[np.lexsort((p[:, 1], p[:, 0]))]

    def half(seq):
        out: list = []
        for q in seq:
            while len(out) >= 2 and ((out[-1][0] - out[-2][0]) * (q[1] - out[-2][1])
                                     - (out[-1][1] - out[-2][1]) * (q[0] - out[-2][0])) <= 0:
                out.pop()
            out.append(q)
        return out

    lower, upper = half(p), half(p[::-1])
    return np.asarray(lower[:-1] + upper[:-1])


def box_footprints(corners_3d) -> np.ndarray:
    """(N, MAX_CORNERS, 2) footprints of N world-space boxes given by their 8 corners (N, 8, 3): the convex hull
    of the corners seen from above."""
    boxes = np.asarray(corners_3d, dtype=np.float64)
    if len(boxes) == 0:
        return np.zeros((0, MAX_CORNERS, 2))
    return np.stack([pad(convex_hull(b)[None])[0] for b in boxes])


def centres_and_radii(polygons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre (N, 2) of each polygon's bounding box and the radius (N,) of the circle around it holding it."""
    lo, hi = polygons.min(axis=1), polygons.max(axis=1)
    centre = (lo + hi) / 2.0
    return centre, np.linalg.norm(polygons - centre[:, None], axis=2).max(axis=1)


def _axes(polygons: np.ndarray) -> np.ndarray:
    """Unit edge normals (N, MAX_CORNERS, 2) (zero for zero-length edges)."""
    edges = np.roll(polygons, -1, axis=1) - polygons
    normals = np.stack([-edges[..., 1], edges[..., 0]], axis=-1)
    length = np.linalg.norm(normals, axis=-1, keepdims=True)
    return np.where(length > 1e-12, normals / np.maximum(length, 1e-12), 0.0)


def _used(polygons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The corners and separating axes worth testing: a rectangle (corners 4.. repeat corner 3) needs its first
    4 corners and 2 axes; any other polygon all corners and edges."""
    if len(polygons) and np.array_equal(polygons[:, 4:], np.repeat(polygons[:, 3:4], MAX_CORNERS - 4, axis=1)):
        corners = polygons[:, :4]
        return corners, _axes(corners)[:, :2]
    return polygons, _axes(polygons)


def overlap(a: np.ndarray, b: np.ndarray, gap: float = 0.0) -> np.ndarray:
    """(P,) True where polygon a[i] and b[i] (each (P, MAX_CORNERS, 2), convex) come closer than ``gap``.

    Separated means: some edge normal of either polygon has the two projections at least ``gap`` apart, which
    also guarantees a Euclidean distance of at least ``gap``.
    """
    if len(a) == 0:
        return np.zeros(0, dtype=bool)
    (ca, xa), (cb, xb) = _used(a), _used(b)
    axes = np.concatenate([xa, xb], axis=1)                            # (P, axes, 2)
    pa = np.einsum("pad,pkd->pak", axes, ca)                           # (P, axes, corners)
    pb = np.einsum("pad,pkd->pak", axes, cb)
    separated = (pa.min(-1) >= pb.max(-1) + gap - 1e-9) | (pb.min(-1) >= pa.max(-1) + gap - 1e-9)
    real = np.any(axes != 0.0, axis=-1)
    return ~np.any(separated & real, axis=1)


def neighbour_pairs(centres_a: np.ndarray, centres_b: np.ndarray, cell: float,
                    extent_b: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (ia, ib) of points of ``a`` and ``b`` in the same or adjacent grid cells of size ``cell``.

    ``extent_b`` (Nb, 2, 2) optional bounding boxes (min, max) of the b items: a large item is entered in every cell
    its box covers, so it is found from any cell next to it. Pairs may repeat.
    """
    ca = np.floor(np.asarray(centres_a)[:, :2] / cell).astype(np.int64)
    if extent_b is None:
        cb = np.floor(np.asarray(centres_b)[:, :2] / cell).astype(np.int64)
        owner = np.arange(len(cb))
    else:
        lo = np.floor(extent_b[:, 0] / cell).astype(np.int64)
        hi = np.floor(extent_b[:, 1] / cell).astype(np.int64)
        spans = (hi - lo + 1)
        counts = spans[:, 0] * spans[:, 1]
        owner = np.repeat(np.arange(len(lo)), counts)
        local = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        width = np.repeat(spans[:, 0], counts)
        cb = np.repeat(lo, counts, axis=0) + np.stack([local % width, local // width], axis=1)
    if len(ca) == 0 or len(cb) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    shift = 1 << 31
    keys = (cb[:, 0] + shift) * (1 << 32) + (cb[:, 1] + shift)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    out_a, out_b = [], []
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            k = (ca[:, 0] + dx + shift) * (1 << 32) + (ca[:, 1] + dy + shift)
            lo_i = np.searchsorted(sorted_keys, k, "left")
            n = np.searchsorted(sorted_keys, k, "right") - lo_i
            total = int(n.sum())
            if total == 0:
                continue
            ia = np.repeat(np.arange(len(ca)), n)
            offsets = np.arange(total) - np.repeat(np.cumsum(n) - n, n)
            out_a.append(ia)
            out_b.append(owner[order[np.repeat(lo_i, n) + offsets]])
    if not out_a:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(out_a), np.concatenate(out_b)


def conflicts(a: np.ndarray, b: np.ndarray, gap: float, same: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (ia, ib) of polygons of ``a`` and ``b`` that come closer than ``gap`` (each pair once).

    same: ``a`` and ``b`` are the same set (pairs ia < ib only).
    """
    if len(a) == 0 or len(b) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    ca, ra = centres_and_radii(a)
    cb, rb = centres_and_radii(b)
    reach = gap * SQRT2     # the SAT test with a gap may find pairs up to gap·√2 apart (corner to corner)
    cell = max(2.0 * float(ra.max()) + reach, 1e-3)
    big = rb > float(ra.max())    # larger than a candidate: entered in every cell its box covers
    extent = np.stack([b.min(axis=1), b.max(axis=1)], axis=1)
    if not big.any():
        extent = None
    ia, ib = neighbour_pairs(ca, cb, cell, extent)
    keep = (ia < ib) if same else np.ones(len(ia), dtype=bool)
    ia, ib = ia[keep], ib[keep]
    if extent is not None and len(ia):       # a large item entered in several cells is found more than once
        pairs = np.unique(np.stack([ia, ib], axis=1), axis=0)
        ia, ib = pairs[:, 0], pairs[:, 1]
    near = np.linalg.norm(ca[ia] - cb[ib], axis=1) < ra[ia] + rb[ib] + reach + 1e-9
    ia, ib = ia[near], ib[near]
    hit = overlap(a[ia], b[ib], gap)
    return ia[hit], ib[hit]


def greedy_accept(candidates: np.ndarray, obstacles: np.ndarray, gap: float, wanted: int,
                  allowed: np.ndarray | None = None) -> np.ndarray:
    """Indices of candidates kept in order: each one that conflicts with no obstacle and no earlier kept candidate,
    until ``wanted`` are kept. ``allowed`` (N,) bool drops candidates beforehand (e.g. a density mask)."""
    n = len(candidates)
    ok = np.ones(n, dtype=bool) if allowed is None else np.asarray(allowed, dtype=bool).copy()
    if len(obstacles):
        hit, _ = conflicts(candidates, obstacles, gap)
        ok[hit] = False
    ia, ib = conflicts(candidates, candidates, gap, same=True)
    later: dict[int, list[int]] = {}
    for i, j in zip(ia.tolist(), ib.tolist()):
        later.setdefault(i, []).append(j)
    kept: list[int] = []
    for i in range(n):
        if not ok[i]:
            continue
        kept.append(i)
        if len(kept) == wanted:
            break
        for j in later.get(i, ()):
            ok[j] = False
    return np.asarray(kept, dtype=np.int64)

