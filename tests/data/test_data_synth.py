"""The synthetic car testbed: geometry, the Blender run's files, resume, determinism, CLI."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from dataformat import load_collection
from tests.resume_contract import assert_resume_error
from training.synth import BODY_TYPES, PART_NAMES, SynthConfig, SynthError, build_car, read_car_obj, synthesize
from training.synth.pose_math import decode_id_pass, id_codes

from .conftest import SMALL_N, SMALL_RUN

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("body_type", BODY_TYPES)
def test_every_body_type_is_a_closed_outward_car_in_the_object_frame(body_type):
    car = build_car(11, body_type)
    mesh = trimesh.Trimesh(car.vertices, car.faces, process=False)
    assert mesh.is_winding_consistent and mesh.volume > 0
    # Unit half-length along y, centred on the bounding box.
    lo, hi = car.vertices.min(0), car.vertices.max(0)
    np.testing.assert_allclose((lo + hi) / 2, 0, atol=1e-5)
    assert hi[1] == pytest.approx(1.0, abs=1e-5) and hi[0] < 0.6 and hi[2] < 0.6
    parts = {PART_NAMES[p] for p in np.unique(car.face_parts)}
    assert parts == {"body", "wheel", "window", "headlight", "taillight", "bumper"}
    centre = lambda name: car.vertices[car.faces[car.face_parts == PART_NAMES.index(name)]].reshape(-1, 3).mean(0)
    assert centre("headlight")[1] < -0.8 < 0.8 < centre("taillight")[1]  # front is -y
    wheel_z = car.vertices[car.faces[car.face_parts == PART_NAMES.index("wheel")]][..., 2]
    assert wheel_z.min() == pytest.approx(car.vertices[:, 2].min())  # z is up: the wheels touch the ground
    assert centre("wheel")[2] < centre("window")[2]


def test_body_types_differ_and_seeds_vary_proportions():
    heights = {t: np.ptp(build_car(3, t).vertices[:, 2]) for t in BODY_TYPES}
    assert heights["van"] > heights["sedan"] > heights["sports"]
    a, b = build_car(1, "sedan"), build_car(2, "sedan")
    assert not np.allclose(np.ptp(a.vertices, 0), np.ptp(b.vertices, 0))
    np.testing.assert_array_equal(build_car(5).vertices, build_car(5).vertices)
    # One topology for every car (so batches of true meshes share a face list in backend.render).
    faces = {build_car(7, t).faces.tobytes() for t in BODY_TYPES}
    assert len(faces) == 1


def test_id_pass_decoding_recovers_ids_and_rejects_foreign_values():
    codes = id_codes()
    ids = np.array([[0, 1, 2], [3, 4, 6]], np.uint8)
    rgba = np.zeros((2, 3, 4), np.uint8)
    rgba[..., 0] = codes[ids]
    rgba[..., 3] = np.where(ids > 0, 255, 0)
    mask, parts = decode_id_pass(rgba, len(PART_NAMES))
    np.testing.assert_array_equal(parts, ids)
    np.testing.assert_array_equal(mask, ids > 0)
    rgba[0, 1, 0] = 120  # between two codes: a broken pass
    with pytest.raises(ValueError, match="not part codes"):
        decode_id_pass(rgba, len(PART_NAMES))


def test_run_writes_a_complete_collection(synth_run):
    out, result = synth_run
    assert result.rendered == SMALL_N and result.n_failed == 0
    collection = load_collection(out)
    assert len(collection) == SMALL_N and collection.report.n_skipped == 0
    assert collection.part_names == list(PART_NAMES)
    assert collection.meta["synth"]["resolution"] == 64
    backgrounds = set()
    for record in collection.records:
        image = Image.open(record.image_path)
        assert image.size == (64, 64) and image.mode == "RGB"
        mask = np.asarray(Image.open(record.mask_path))
        assert set(np.unique(mask)) <= {0, 255} and (mask > 0).mean() > 0.05
        parts = np.asarray(Image.open(record.parts_path))
        assert parts.max() < len(PART_NAMES)
        np.testing.assert_array_equal(parts > 0, mask > 0)
        assert record.class_name == "car" and record.class_index == 3
        assert record.pose is not None and record.pose.frame == "object"
        assert abs(np.linalg.norm(record.pose.q) - 1) < 1e-9 and record.pose.s > 0
        # The car is inside the frame: the mask does not touch the border.
        assert not (mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())
        backgrounds.add(record.extra["background"])
        # RGB differs between the object and the background region (something was rendered).
        rgb = np.asarray(image, np.float32)
        assert rgb.std() > 3
    assert len(backgrounds) >= 2


def test_true_meshes_reread_by_trimesh_match_the_object_frame(synth_run):
    out, _ = synth_run
    collection = load_collection(out, check="header")
    mesh_files = sorted({r.extra["mesh"] for r in collection.records})
    assert len(mesh_files) == SMALL_N  # one car per image by default
    for name in mesh_files[:4]:
        ours = read_car_obj(out / name)
        theirs = trimesh.load(out / name, force="mesh", process=False)
        # OBJ is Y-up: file (x, y, z) = object (x, z, -y).
        np.testing.assert_allclose(np.asarray(theirs.vertices)[:, [0, 2, 1]] * [1, -1, 1], ours.vertices, atol=1e-5)
        assert len(theirs.faces) == len(ours.faces)
        assert trimesh.Trimesh(ours.vertices, ours.faces, process=False).volume > 0


def test_pose_reprojects_the_true_mesh_onto_the_mask(synth_run):
    """Independent of backend.render: the projected vertices' box matches the mask's box to about a pixel."""
    out, _ = synth_run
    for record in load_collection(out).records:
        car = read_car_obj(out / record.extra["mesh"])
        xy = record.pose.project(car.vertices)[:, :2]
        px = (xy + 1) / 2 * 64  # normalised -> continuous pixels (square image)
        x1, y1, x2, y2 = record.bbox
        assert px[:, 0].min() == pytest.approx(x1, abs=1.01) and px[:, 0].max() == pytest.approx(x2, abs=1.01)
        assert px[:, 1].min() == pytest.approx(y1, abs=1.01) and px[:, 1].max() == pytest.approx(y2, abs=1.01)


def test_resume_skips_finished_items_and_rerenders_identically(synth_run, tmp_path):
    out, _ = synth_run
    # A copy of three finished items plus one missing item: only the missing one is rendered, and equals the original.
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / "meta" / "000002.json").unlink()
    (copy / "masks" / "000002.png").unlink()
    (copy / "images" / "000002.png").unlink()
    result = synthesize(copy, 4, SMALL_RUN, workers=1)
    assert (result.rendered, result.reused) == (1, 3)
    np.testing.assert_array_equal(np.asarray(Image.open(copy / "masks" / "000002.png")),
                                  np.asarray(Image.open(out / "masks" / "000002.png")))
    # Same pixels too, although rendered by one worker with 2 threads instead of two workers with 1 thread each.
    rgb_again = np.asarray(Image.open(copy / "images" / "000002.png"), np.int16)
    rgb_first = np.asarray(Image.open(out / "images" / "000002.png"), np.int16)
    assert np.abs(rgb_again - rgb_first).max() <= 1
    assert json.loads((copy / "meta" / "000002.json").read_text())["pose"] == \
        json.loads((out / "meta" / "000002.json").read_text())["pose"]
    assert len(load_collection(copy, check="header")) == 4
    with pytest.raises(SynthError) as refused:    # the stage contract's one-line resume error
        synthesize(copy, 4, SynthConfig(seed=8, resolution=64, samples=4))
    assert_resume_error(str(refused.value), "seed")


def test_cli_synth_and_one_line_errors(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "backend.train", "data", "synth", "--n", "2", "--res", "32", "--samples", "2",
           "--workers", "1", "--views-per-car", "2", "--out", str(tmp_path / "cli"), "--body-types", "van,pickup"]
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "rendered 2, reused 0, failed 0" in done.stdout
    records = load_collection(tmp_path / "cli").records
    assert {r.extra["body_type"] for r in records} <= {"van", "pickup"}
    assert records[0].extra["mesh"] == records[1].extra["mesh"]  # two views of one car
    assert records[0].pose != records[1].pose
    assert len(list((tmp_path / "cli" / "meshes").glob("*.obj"))) == 1
    bad = subprocess.run(cmd[:-2] + ["--body-types", "tank"], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().startswith("error:") and "tank" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    info = subprocess.run([sys.executable, "-m", "backend.train", "data", "info", str(tmp_path / "cli")], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=60)
    assert info.returncode == 0 and "kept 2 of 2" in info.stdout


def test_a_failing_item_is_reported_and_the_run_goes_on(tmp_path):
    out = tmp_path / "broken"
    (out / "images" / "000001.png").mkdir(parents=True)  # a folder where item 1's image must go
    result = synthesize(out, 3, SynthConfig(seed=1, resolution=32, samples=1), workers=1)
    assert (result.rendered, result.n_failed) == (2, 1)
    assert list(result.failed) == ["000001"] and "Error" in result.failed["000001"]
    assert [r.id for r in load_collection(out).records] == ["000000", "000002"]


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_ctrl_c_or_kill_stops_the_run_and_leaves_a_usable_partial_index(tmp_path, signame):
    import signal
    import time

    out = tmp_path / "interrupted"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "backend.train", "data", "synth", "--n", "500", "--res", "32", "--samples", "1",
         "--workers", "1", "--out", str(out)], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    def finished() -> int:
        return len(list((out / "meta").glob("*.json"))) if (out / "meta").exists() else 0

    try:
        deadline = time.monotonic() + 240  # generous: the machine may be shared and loaded
        while finished() < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert finished() >= 2, "no item finished in time"
        proc.send_signal(getattr(signal, signame))
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and "re-run the same command to resume" in err, err[-2000:]
    records = load_collection(out).records
    assert 2 <= len(records) < 500
    ids = [r.id for r in records]
    assert ids == sorted(set(ids))


@pytest.mark.parametrize("kwargs, message", [
    ({"resolution": 8}, "at least 16"), ({"samples": 0}, "at least 1"), ({"fill": (0.9, 0.5)}, "fill"),
    ({"camera": "fisheye"}, "unknown camera"), ({"focal": (1.0, 3.0)}, "focal"),
    ({"backgrounds": ("space",)}, "unknown backgrounds"), ({"body_types": ()}, "unknown body types"),
])
def test_bad_settings_are_refused_with_a_clear_message(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SynthConfig(**kwargs)


def test_settings_round_trip_through_json():
    config = SynthConfig(seed=3, resolution=96, camera="perspective", focal=(6.0, 9.0), body_types=("van",))
    assert SynthConfig.from_json(json.loads(json.dumps(config.to_json()))) == config
