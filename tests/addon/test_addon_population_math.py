"""Scene population math (blender_addon/placement.py, blender_addon/footprints.py) by property tests, without bpy:
footprints never overlap each other or the Avoid obstacles, density masks keep zero areas empty, slopes are
respected, roads put the right objects in the right lanes, the camera's view and texture sizes."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blender_addon import footprints, placement

FAST = settings(max_examples=25, deadline=None)


# -- a slow, obvious reference for polygon distance -------------------------------------------------------

def _inside(point, poly) -> bool:
    edges = np.roll(poly, -1, axis=0) - poly
    rel = point - poly
    cross = edges[:, 0] * rel[:, 1] - edges[:, 1] * rel[:, 0]
    return bool(np.all(cross >= -1e-12) or np.all(cross <= 1e-12))


def _segment_distance(p, a, b) -> float:
    ab = b - a
    t = np.clip(np.dot(p - a, ab) / max(np.dot(ab, ab), 1e-18), 0.0, 1.0)
    return float(np.linalg.norm(p - (a + t * ab)))


def _distance(pa, pb) -> float:
    """Distance between two convex polygons (0 when they touch or overlap), by brute force."""
    pa, pb = np.unique(pa, axis=0), np.unique(pb, axis=0)
    pa, pb = footprints.convex_hull(pa), footprints.convex_hull(pb)
    if any(_inside(p, pb) for p in pa) or any(_inside(p, pa) for p in pb):
        return 0.0
    best = math.inf
    for poly, other in ((pa, pb), (pb, pa)):
        for p in poly:
            for a, b in zip(other, np.roll(other, -1, axis=0)):
                best = min(best, _segment_distance(p, a, b))
    # edges crossing without a corner inside each other
    for a0, a1 in zip(pa, np.roll(pa, -1, axis=0)):
        for b0, b1 in zip(pb, np.roll(pb, -1, axis=0)):
            d1, d2 = np.cross(a1 - a0, b0 - a0), np.cross(a1 - a0, b1 - a0)
            d3, d4 = np.cross(b1 - b0, a0 - b0), np.cross(b1 - b0, a1 - b0)
            if d1 * d2 < 0 and d3 * d4 < 0:
                return 0.0
    return best


rect = st.tuples(st.floats(-6, 6), st.floats(-6, 6), st.floats(0, 2 * math.pi), st.floats(0.5, 5), st.floats(0.3, 3))


def _rect(r):
    x, y, yaw, length, width = r
    return placement.footprints_of(np.array([[x, y, 0.0]]), [yaw], [length], [width])[0]


@given(a=rect, b=rect, gap=st.floats(0.0, 2.0))
@FAST
def test_overlap_agrees_with_the_brute_force_distance(a, b, gap):
    pa, pb = _rect(a), _rect(b)
    d = _distance(pa[:4], pb[:4])
    hit = bool(footprints.overlap(pa[None], pb[None], gap)[0])
    if d < gap - 1e-6:
        assert hit                        # closer than the gap: always found
    if hit:
        # found: the SAT test may only be conservative by its axes (never more than the gap times √2)
        assert d < gap * math.sqrt(2) + 1e-6
    assert hit == bool(footprints.overlap(pb[None], pa[None], gap)[0])


@given(points=st.lists(st.tuples(st.floats(-20, 20), st.floats(-20, 20)), min_size=3, max_size=12))
@FAST
def test_convex_hull_holds_every_point(points):
    p = np.array(points)
    hull = footprints.convex_hull(p)
    if len(hull) >= 3:
        assert all(_inside(q, hull) or min(_segment_distance(q, a, b) for a, b in zip(hull, np.roll(hull, -1, 0)))
                   < 1e-6 for q in np.round(p, 9))


@given(seed=st.integers(0, 10_000), n=st.integers(2, 60))
@FAST
def test_conflicts_finds_every_pair_the_slow_way_finds(seed, n):
    rng = np.random.default_rng(seed)
    polys = placement.footprints_of(rng.uniform(-15, 15, (n, 3)), rng.uniform(0, 7, n), rng.uniform(1, 5, n),
                                    rng.uniform(0.5, 2.5, n))
    big = footprints.box_footprints(_boxes(rng, 3, spread=15.0))
    ia, ib = footprints.conflicts(polys, polys, 0.5, same=True)
    fast = set(zip(ia.tolist(), ib.tolist()))
    slow = {(i, j) for i, j in itertools.combinations(range(n), 2)
            if footprints.overlap(polys[i:i + 1], polys[j:j + 1], 0.5)[0]}
    assert fast == slow
    ia, ib = footprints.conflicts(polys, big, 0.5)
    slow = {(i, j) for i in range(n) for j in range(len(big)) if footprints.overlap(polys[i:i + 1], big[j:j + 1], 0.5)[0]}
    assert set(zip(ia.tolist(), ib.tolist())) == slow


def _boxes(rng, k, spread=80.0, size=(4.0, 20.0)) -> np.ndarray:
    """k buildings: world-space corners (k, 8, 3) of boxes turned about z."""
    out = []
    for _ in range(k):
        cx, cy = rng.uniform(-spread, spread, 2)
        sx, sy = rng.uniform(*size, 2)
        yaw = rng.uniform(0, math.pi)
        c, s = math.cos(yaw), math.sin(yaw)
        corners = []
        for dx, dy, z in itertools.product((-sx / 2, sx / 2), (-sy / 2, sy / 2), (0.0, 10.0)):
            corners.append((cx + c * dx - s * dy, cy + s * dx + c * dy, z))
        out.append(corners)
    return np.array(out)


def _all_footprints(layout, width_ratio_default=1.0):
    widths = layout.widths if layout.widths is not None else layout.lengths * width_ratio_default
    return placement.footprints_of(layout.positions, layout.yaws, layout.lengths, widths, layout.normals)


def _plane(size, z=0.0):
    a, b, c, d = (np.array(v, float) for v in ([-size, -size, z], [size, -size, z], [size, size, z], [-size, size, z]))
    return np.array([[a, b, c], [a, c, d]])


@given(seed=st.integers(0, 10_000), count=st.integers(1, 40), gap=st.floats(0.0, 2.0),
       low=st.floats(2.0, 5.0), extra=st.floats(0.0, 1.5), width=st.floats(0.3, 1.0), buildings=st.integers(0, 6))
@FAST
def test_scatter_keeps_every_footprint_apart_and_out_of_the_obstacles(seed, count, gap, low, extra, width, buildings):
    rng = np.random.default_rng(seed)
    obstacles = footprints.box_footprints(_boxes(rng, buildings, spread=40.0))
    layout = placement.scatter(count, placement.Surface(_plane(60.0)), np.random.default_rng(seed),
                               length_range=(low, low + extra), width_ratio=width, gap=gap,
                               yaw_range=(0.0, 2 * math.pi), obstacles=obstacles)
    assert len(layout) == count
    assert np.all((layout.lengths >= low - 1e-12) & (layout.lengths <= low + extra + 1e-12))
    assert np.allclose(layout.widths, width * layout.lengths)
    polys = _all_footprints(layout)
    centres, radii = footprints.centres_and_radii(polys)
    others = np.concatenate([polys, obstacles]) if len(obstacles) else polys
    o_centres, o_radii = footprints.centres_and_radii(others)
    for i, j in itertools.product(range(count), range(len(others))):
        # the slow distance only where the circles round them come within the gap (elsewhere it cannot be smaller)
        if i != j and np.linalg.norm(centres[i] - o_centres[j]) < radii[i] + o_radii[j] + gap:
            assert _distance(polys[i][:4], others[j][:4] if j < count else others[j]) >= gap - 1e-6
    again = placement.scatter(count, placement.Surface(_plane(60.0)), np.random.default_rng(seed),
                              length_range=(low, low + extra), width_ratio=width, gap=gap,
                              yaw_range=(0.0, 2 * math.pi), obstacles=obstacles)
    assert np.array_equal(again.positions, layout.positions)        # reproducible from the seed


@given(low=st.floats(-math.pi, math.pi), span=st.floats(0, math.pi), seed=st.integers(0, 1000))
@FAST
def test_yaws_stay_in_their_range(low, span, seed):
    yaws = placement.yaws_in_range(50, np.random.default_rng(seed), low, low + span)
    offset = np.mod(yaws - low, 2 * math.pi)
    assert np.all((offset <= span + 1e-9) | (offset >= 2 * math.pi - 1e-9))


def _grid_plane(n=20, size=50.0):
    """A flat n x n square grid of 2n² triangles, with its vertex positions and per-corner indices."""
    xs = np.linspace(-size, size, n + 1)
    v = np.array([(x, y, 0.0) for y in xs for x in xs])
    tris = []
    for j in range(n):
        for i in range(n):
            a, b, c, d = j * (n + 1) + i, j * (n + 1) + i + 1, (j + 1) * (n + 1) + i + 1, (j + 1) * (n + 1) + i
            tris += [(a, b, c), (a, c, d)]
    return v, np.array(tris)


@given(seed=st.integers(0, 10_000))
@FAST
def test_vertex_group_mask_keeps_zero_areas_empty(seed):
    v, tris = _grid_plane()
    weight = (v[:, 0] > 10.0).astype(float)           # only x > 10 m has weight (a painted stripe)
    surface = placement.Surface(v[tris], corner_weights=weight[tris])
    layout = placement.scatter(15, surface, np.random.default_rng(seed), length_range=(3.0, 3.0), gap=0.5)
    # points in a triangle with a zero corner can sit just left of x = 10 (weights interpolate): never below 7.5
    assert np.all(layout.positions[:, 0] > 10.0 - 2.5 - 1e-9)
    area = surface.usable_area(45.0, np.random.default_rng(0))
    assert 40 * 100 * 0.8 < area < 40 * 100 * 1.2 + 2 * 2.5 * 100


@given(seed=st.integers(0, 10_000))
@FAST
def test_image_mask_keeps_zero_areas_empty(seed):
    tris = _plane(50.0)
    uv = (tris[..., :2] + 50.0) / 100.0             # a plane's UVs spanning [0, 1]
    mask = np.zeros((8, 8))
    mask[6:, :] = 1.0                                # only the top quarter (v >= 0.75, y >= 25 m) is white
    layout = placement.scatter(10, placement.Surface(tris, corner_uvs=uv, mask=mask), np.random.default_rng(seed),
                               length_range=(3.0, 3.0), gap=0.5)
    assert np.all(layout.positions[:, 1] >= 25.0 - 1e-9)


def test_check_room_refuses_only_impossible_counts():
    placement.check_room(100, 100 * 5.5 * 2.75, 4.5, 0.5, 1.0)            # exactly room: fine (dart throwing decides)
    with pytest.raises(placement.PlacementError, match="cannot fit on the selected surface.*at most about 59"):
        placement.check_room(500, 3600.0, 4.5, 1.0, 5.0)
    layout = placement.scatter(40, placement.Surface(_plane(20.0)), np.random.default_rng(0),   # 1600 m²
                               length_range=(4.5, 4.5), width_ratio=0.5, gap=1.0)
    placement.check_room(len(layout), 1600.0, 4.5, 0.5, 1.0)               # what fits always passes


def test_fitted_length_keeps_a_wide_mesh_inside_its_footprint():
    blob = np.array([[-1, -1, 0], [1, 1, 1.0]])                          # as wide as long
    car = np.array([[-0.45, -1, 0], [0.45, 1, 0.7]])
    assert placement.fitted_length(car, 4.5, 2.25) == 4.5
    assert placement.fitted_length(blob, 4.5, 2.25) == pytest.approx(2.25)
    assert placement.fitted_length(blob, 4.5, 0.0) == 4.5


def test_density_gives_a_count_and_says_when_it_is_none():
    assert placement.count_for_density(1.25, 40_000) == 500
    with pytest.raises(placement.PlacementError, match="puts no object"):
        placement.count_for_density(0.01, 100.0)
    with pytest.raises(placement.PlacementError, match="positive number"):
        placement.count_for_density(-1, 100.0)


def _slope(angle_deg, size=30.0):
    """A plane rising along +x at ``angle_deg`` (two triangles, counter-clockwise from above)."""
    t = math.tan(math.radians(angle_deg))
    a, b, c, d = ([-size, -size, -size * t], [size, -size, size * t], [size, size, size * t], [-size, size, -size * t])
    return np.array([[a, b, c], [a, c, d]], float)


@given(angle=st.floats(1.0, 40.0), yaw=st.floats(0, 2 * math.pi), seed=st.integers(0, 1000))
@FAST
def test_align_to_surface_tilts_to_the_face_and_keeps_the_heading(angle, yaw, seed):
    surface = placement.Surface(_slope(angle))
    layout = placement.scatter(3, surface, np.random.default_rng(seed), length_range=(4.0, 4.0), gap=1.0,
                               yaw_range=(yaw, yaw), align=True, max_slope_deg=45.0)
    n = layout.normals
    assert np.allclose(np.degrees(np.arccos(n[:, 2])), angle, atol=1e-6)
    rot = placement.orientations(n, layout.yaws)
    assert np.allclose(np.einsum("nij,nik->njk", rot, rot), np.eye(3), atol=1e-9)     # orthonormal
    assert np.allclose(np.linalg.det(rot), 1.0)
    assert np.allclose(rot[:, :, 2], n)                                               # up is the normal
    front = -rot[:, :2, 1]                                                            # −y seen from above
    front /= np.linalg.norm(front, axis=1, keepdims=True)
    assert np.allclose(front, placement.headings(layout.yaws), atol=1e-9)
    # ground contact: the origin (bottom centre) lies on the slope's plane
    t = math.tan(math.radians(angle))
    assert np.allclose(layout.positions[:, 2], layout.positions[:, 0] * t, atol=1e-9)


def test_nothing_is_placed_beyond_the_maximum_slope():
    steep = placement.Surface(np.concatenate([_slope(35.0), _plane(30.0, z=0.0) + [200.0, 0.0, 0.0]]))
    layout = placement.scatter(20, steep, np.random.default_rng(0), length_range=(4.0, 4.0), gap=1.0,
                               max_slope_deg=30.0)
    assert np.all(layout.positions[:, 0] > 150.0)              # all on the level plane
    with pytest.raises(placement.PlacementError, match="within 30°"):
        placement.scatter(1, placement.Surface(_slope(35.0)), np.random.default_rng(0), length_range=(4.0, 4.0),
                          max_slope_deg=30.0)


# -- roads ---------------------------------------------------------------------------------------------------

@given(lanes=st.integers(1, 3), both=st.booleans(), width=st.floats(2.5, 4.0), count=st.integers(1, 12),
       gap=st.floats(0.0, 2.0), jitter=st.floats(0.0, 3.0), seed=st.integers(0, 1000))
@FAST
def test_road_lanes_offsets_directions_and_spacing(lanes, both, width, count, gap, jitter, seed):
    path = np.array([[0, 0, 0], [200, 0, 0]], float)       # straight along +x: left is +y
    layout = placement.along_road(count, path, np.zeros(2), np.random.default_rng(seed), lanes=lanes,
                                  lane_width=width, both_sides=both, length_range=(4.0, 4.6), width_ratio=0.5,
                                  gap=gap, jitter=jitter)
    assert len(layout) == count
    offsets = placement.lane_offsets(lanes, width, both)
    directions = placement.lane_directions("", lanes, both)
    lane = np.argmin(np.abs(layout.positions[:, 1:2] - offsets[None]), axis=1)
    assert np.allclose(layout.positions[:, 1], offsets[lane])
    front = placement.headings(layout.yaws)
    assert np.allclose(front[:, 0], directions[lane]) and np.allclose(front[:, 1], 0.0, atol=1e-9)
    counts = np.bincount(lane, minlength=len(offsets))
    assert counts.max() - counts.min() <= 1                                # one per lane in turn
    for k in range(len(offsets)):
        mine = np.argsort(layout.positions[lane == k, 0])
        x = layout.positions[lane == k, 0][mine]
        lengths = layout.lengths[lane == k][mine]
        free = np.diff(x) - (lengths[1:] + lengths[:-1]) / 2
        assert np.all(free >= gap - 1e-9) and np.all(free <= gap + jitter + 1e-9)
    assert np.all(layout.positions[:, 0] - layout.lengths / 2 >= -1e-9)   # no object hangs over the ends
    assert np.all(layout.positions[:, 0] + layout.lengths / 2 <= 200 + 1e-9)


def test_road_directions_per_lane_and_bad_specs():
    path = np.array([[0, 0, 0], [0, 100, 0]], float)       # along +y: left is −x
    layout = placement.along_road(4, path, np.zeros(2), np.random.default_rng(0), lanes=2, lane_width=3.0,
                                  directions="<>", length_range=(4.5, 4.5), width_ratio=0.5, gap=1.0)
    left = layout.positions[:, 0] < 0
    assert np.allclose(placement.headings(layout.yaws[left]), [0, -1], atol=1e-9)     # against the curve
    assert np.allclose(placement.headings(layout.yaws[~left]), [0, 1], atol=1e-9)     # with it
    with pytest.raises(placement.PlacementError, match="one > .* per lane"):
        placement.along_road(1, path, np.zeros(2), np.random.default_rng(0), lanes=2, directions=">x", width_ratio=0.5)
    with pytest.raises(placement.PlacementError, match="4 lanes here, e.g. <<>>"):
        placement.along_road(1, path, np.zeros(2), np.random.default_rng(0), lanes=2, both_sides=True,
                             directions=">", width_ratio=0.5)
    with pytest.raises(placement.PlacementError, match="do not fit lanes"):
        placement.along_road(1, path, np.zeros(2), np.random.default_rng(0), lane_width=2.0,
                             length_range=(4.5, 4.5), width_ratio=0.5)
    with pytest.raises(placement.PlacementError, match="only .* of 100"):
        placement.along_road(100, path, np.zeros(2), np.random.default_rng(0), length_range=(4.5, 4.5),
                             width_ratio=0.5)


@given(tilt=st.floats(-0.6, 0.6))
@FAST
def test_road_tilt_banks_the_lanes_and_the_objects(tilt):
    path = np.array([[0, 0, 0], [100, 0, 0]], float)
    layout = placement.along_road(2, path, np.full(2, tilt), np.random.default_rng(0), lanes=2, lane_width=3.0,
                                  length_range=(4.0, 4.0), width_ratio=0.5)
    expected_up = [0.0, -math.sin(tilt), math.cos(tilt)]
    assert np.allclose(layout.normals, expected_up, atol=1e-9)
    left = layout.positions[np.argmax(layout.positions[:, 1])]
    assert np.allclose(left[1:], [1.5 * math.cos(tilt), 1.5 * math.sin(tilt)], atol=1e-9)   # the left lane rises


def test_road_keeps_out_of_obstacles():
    path = np.array([[0, 0, 0], [100, 0, 0]], float)
    block = footprints.box_footprints(np.array([[(x, y, z) for x in (20, 40) for y in (-2, 2) for z in (0, 5)]]))
    layout = placement.along_road(6, path, np.zeros(2), np.random.default_rng(0), length_range=(4.0, 4.0), gap=1.0,
                                  width_ratio=0.5, obstacles=block)
    assert len(layout) == 6
    assert not np.any((layout.positions[:, 0] + 2 > 20) & (layout.positions[:, 0] - 2 < 40))


# -- the camera's view --------------------------------------------------------------------------------------

def test_frustum_and_scatter_inside_it():
    apex = np.array([0.0, -60.0, 20.0])
    target = np.array([0.0, 0.0, 0.0])
    forward = (target - apex) / np.linalg.norm(target - apex)
    right = np.cross(forward, [0, 0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    corners = [apex + forward + sx * 0.4 * right + sy * 0.25 * up for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
    inside = placement.frustum_test(apex, corners, 0.1, 150.0)
    assert inside(np.array([target]))[0] and not inside(np.array([[80.0, 0.0, 0.0]]))[0]
    layout = placement.scatter(25, placement.Surface(_plane(100.0)), np.random.default_rng(3),
                               length_range=(4.0, 4.0), width_ratio=0.5, gap=1.0, yaw_range=(0, 6.28),
                               inside=inside)
    polys = _all_footprints(layout)
    ground = np.concatenate([polys[:, :4], np.zeros((len(polys), 4, 1))], axis=2).reshape(-1, 3)
    assert inside(ground).all()


@given(distances=st.lists(st.floats(1.0, 500.0), min_size=2, max_size=20))
@FAST
def test_texture_size_falls_with_distance_within_near_and_far(distances):
    d = np.sort(np.array(distances))
    sizes = placement.texture_sizes_by_distance(d, np.full(len(d), 4.5), 1500.0, 512, 128, [512, 256, 128, 64, 32])
    assert np.all(np.diff(sizes) <= 0) and set(sizes) <= {512, 256, 128}
    small_model = placement.texture_sizes_by_distance(d, np.full(len(d), 4.5), 1500.0, 512, 128, [128, 64, 32])
    assert set(small_model) == {128}                         # a 128² model never gets more than it has
