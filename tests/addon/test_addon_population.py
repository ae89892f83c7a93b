"""Scene population by the real add-on in real headless bpy against a real backend on loopback.

One pytest-started ``python -m backend.serve --random_init small`` and one driver process
(``population_driver.py``) that installs the built extension zip and runs every mode; the checks below are made on
the BUILT objects: their world-space (oriented) bounding boxes, axes, sizes, textures and pixels.
"""
from __future__ import annotations

import itertools
import json
import math
import os
import pathlib
import signal
import subprocess
import sys

import numpy as np
import pytest

import build_addon
from blender_addon import placement
from backend.protocol import delta_e

from ..server.conftest import start_server

ROOT = pathlib.Path(__file__).resolve().parents[2]
DRIVER = pathlib.Path(__file__).with_name("population_driver.py")
pytestmark = pytest.mark.blender


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    work = tmp_path_factory.mktemp("population")
    zips = build_addon.build(work / "dist", ROOT / "build" / "wheels", platforms=("linux-x64",), legacy=False)
    server = start_server(work / "server", "--random_init", "small", "--bind", "tcp://127.0.0.1:0",
                          "--max_batch", "16", "--device", "cpu")
    out = work / "results.json"
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(work / "user"), PYTHONDONTWRITEBYTECODE="1")
    process = subprocess.Popen([sys.executable, str(DRIVER), str(zips[0]), str(out), server.address], cwd=ROOT,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        log, _ = process.communicate(timeout=420)
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        server.stop()
    assert out.exists(), log.decode(errors="replace")[-3000:]
    return json.loads(out.read_text())


def _facts(run, name):
    facts = run[name]
    assert "error" not in facts or "Traceback" not in str(facts["error"]), facts["error"]
    return facts


def _obb_axes(c: np.ndarray) -> np.ndarray:
    """The 3 edge directions of a box from Blender's bound_box corner order (x: 0→4, y: 0→3, z: 0→1)."""
    return np.array([c[4] - c[0], c[3] - c[0], c[1] - c[0]])


def _obb_overlap(a, b, tol=1e-5) -> bool:
    """Whether two world-space boxes (8 corners each) intersect (separating axis theorem, 15 axes)."""
    a, b = np.asarray(a), np.asarray(b)
    ea, eb = _obb_axes(a), _obb_axes(b)
    axes = [*ea, *eb, *(np.cross(x, y) for x in ea for y in eb)]
    for axis in axes:
        n = np.linalg.norm(axis)
        if n < 1e-9:
            continue
        pa, pb = a @ (axis / n), b @ (axis / n)
        if pa.max() <= pb.min() + tol or pb.max() <= pa.min() + tol:
            return False
    return True


def _no_overlaps(cars, others=()):
    bad = [(x["name"], y["name"]) for x, y in itertools.combinations(cars, 2) if _obb_overlap(x["corners"], y["corners"])]
    bad += [(x["name"], k) for x in cars for k, box in enumerate(others) if _obb_overlap(x["corners"], box)]
    return bad


def test_the_add_on_connects(run):
    assert _facts(run, "install")["connected"], run["install"]


def test_scatter_avoids_buildings_and_cars_already_in_the_scene(run):
    facts = _facts(run, "avoid")
    assert facts["errors"] == ["", ""], facts["errors"]
    assert len(facts["cars"]) == 28 and facts["first"] == 14, facts["reports"]
    assert _no_overlaps(facts["cars"], facts["buildings"]) == []
    # the check itself sees overlaps: a car moved onto a building overlaps it
    moved = np.array(facts["cars"][0]["corners"]) - np.mean(facts["cars"][0]["corners"], axis=0) + \
        np.mean(facts["buildings"][0], axis=0)
    assert _obb_overlap(moved, facts["buildings"][0])


def test_density_masks_keep_zero_areas_empty(run):
    facts = _facts(run, "density_masks")
    assert facts["errors"][:2] == ["", ""], facts["reports"]
    weighted = np.array([c["location"] for c in facts["weighted"]])
    # density 0.6 per 100 m² on the weighted half (30 x 60 m, plus partly weighted cells at its edge)
    assert 0.6 * 1800 / 100 * 0.8 <= len(weighted) <= 0.6 * 2160 / 100 * 1.2
    assert np.all(weighted[:, 0] - 500.0 > -60.0 / 11)          # nothing beyond the cell next to the weighted half
    masked = np.array([c["location"] for c in facts["masked"]])
    assert len(masked) == 10 and np.all(masked[:, 0] + 500.0 >= -1e-6)   # only where the image is white
    assert "no vertex group 'nothing'" in facts["errors"][2] and "lot" in facts["errors"][2]
    assert len(facts["errors"][2].splitlines()) == 1 and facts["missing"] == 0
    assert _no_overlaps(facts["weighted"]) == [] and _no_overlaps(facts["masked"]) == []


def test_align_to_surface_and_the_slope_limit(run):
    facts = _facts(run, "slopes")
    cars = facts["cars"]
    assert len(cars) == 8, facts["report"]
    t = facts["t20"]
    normal = np.array([-t, 0.0, 1.0]) / math.hypot(t, 1.0)
    for c in cars:
        x, y, z = c["location"]
        assert -20 <= x <= 20                                 # all on the 20° part, none on the 40° one
        assert z == pytest.approx(x * t, abs=1e-4)             # the bottom centre on the surface
        assert np.allclose(c["axes"][2], normal, atol=1e-5)    # tilted to the face
    assert _no_overlaps(cars) == []
    assert "within 10°" in facts["steep_error"] and facts["steep_built"] == 0


def test_roads_put_cars_in_their_lanes_facing_their_direction(run):
    facts = _facts(run, "roads")
    assert facts["errors"][:2] == ["", ""], facts["reports"]
    cars = facts["two_way"]
    assert len(cars) == 16
    width = facts["lane_width"]
    for c in cars:
        x = c["location"][0] - 2000.0
        lane = min((1.5 * width, 0.5 * width, -0.5 * width, -1.5 * width), key=lambda o: abs(o + x))
        assert -x == pytest.approx(lane, abs=1e-4)          # left of +y is −x: offsets to the left are at −x
        front = -np.array(c["axes"][1])
        assert np.allclose(front, [0.0, -1.0 if lane > 0 else 1.0, 0.0], atol=1e-6)   # left side against the curve
    assert len({round(c["location"][0], 3) for c in cars}) == 4          # all four lanes used
    assert _no_overlaps(cars) == []
    banked = facts["banked"]
    tilt = facts["tilt"]
    assert len(banked) == 6
    for c in banked:
        # along +y, a tilt raises the left (−x) side: up = (sin t, 0, cos t); the left lane sits higher
        assert np.allclose(c["axes"][2], [math.sin(tilt), 0.0, math.cos(tilt)], atol=1e-5)
        side = c["location"][0] - 2100.0
        assert c["location"][2] == pytest.approx(-side * math.tan(tilt), abs=1e-4)
        front = -np.array(c["axes"][1])
        assert front[1] == pytest.approx(-1.0 if side < 0 else 1.0, abs=1e-6)      # "<>": left against
    assert "one > (with the curve) or < (against it) per lane" in facts["errors"][2] and facts["bad_built"] == 0


def test_length_range_and_yaw_range(run):
    facts = _facts(run, "lengths_and_yaws")
    cars = facts["cars"]
    assert len(cars) == 12, facts["report"]
    lengths = np.array([c["length"] for c in cars])
    assert np.all((lengths >= 4.0 - 1e-4) & (lengths <= 5.2 + 1e-4)) and np.ptp(lengths) > 0.2
    assert np.allclose(lengths, [c["target_length"] for c in cars], atol=1e-4)
    yaws = np.degrees([math.atan2(c["axes"][0][1], c["axes"][0][0]) for c in cars]) % 360
    assert np.all((yaws >= 80 - 1e-3) & (yaws <= 100 + 1e-3))
    assert _no_overlaps(cars) == []


def test_paint_colour_within_tolerance_and_a_clear_error_out_of_reach(run):
    facts = _facts(run, "paint")
    cars = facts["cars"]
    assert len(cars) == 3 and facts["error"] == "", facts["report"]
    for c in cars:
        assert delta_e(c["body_colour"], facts["wanted"]) <= facts["tolerance"] + 0.5   # measured on the built car
    assert facts["unreachable_built"] == 0
    assert "no car within ΔE 0.5 of #ff00ff" in facts["unreachable_report"]


def test_bounds_display_above_the_threshold(run):
    facts = _facts(run, "bounds_display")
    assert len(facts["cars"]) == 3
    assert {c["display"] for c in facts["cars"]} == {"BOUNDS"}
    assert not any(c["hide_render"] for c in facts["cars"])      # renders still show them
    assert facts["earlier"] == ["TEXTURED"]


def test_camera_view_places_inside_the_frustum_and_sizes_textures_by_distance(run):
    facts = _facts(run, "camera_view")
    cars = facts["cars"]
    assert len(cars) == 14, facts["report"]
    inside = placement.frustum_test(facts["apex"], facts["frame"], *facts["clip"])
    bottoms = np.concatenate([np.array(c["corners"])[[0, 3, 4, 7]] for c in cars])   # z = 0 corners of each box
    assert inside(bottoms).all()
    distance = np.array([np.linalg.norm(np.array(c["location"]) - facts["apex"]) for c in cars])
    sizes = np.array([c["texture"] for c in cars])[np.argsort(distance)]
    assert np.all(np.diff(sizes) <= 0) and sizes[0] > sizes[-1]          # nearer cars get larger textures
    assert set(sizes) <= {128, 64, 32}
    assert _no_overlaps(cars) == []


def test_large_layouts_are_planned_in_the_background(run):
    facts = _facts(run, "background_planning")
    assert facts["error"] == "" and len(facts["cars"]) == 150, facts["report"]
    assert _no_overlaps(facts["cars"]) == []
    assert facts["small_error"] == "" and facts["small_built"] == 0       # the button itself reports nothing...
    assert "only" in facts["small_report"] and "of 110 objects fit" in facts["small_report"]   # ...the panel does
    assert facts["small_status"] == ["failed"]
