"""The folder format, its validation of bad input, CMR-style cropping and the torch Dataset."""
from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from dataformat import CollectionError, Pose, Record, SquareBox, crop_and_resize, load_collection, pose_to_crop, square_crop_box, write_collection
from training.data import CollectionDataset
from training.synth import read_car_obj

from .fixtures import ellipse_mask, write_corrupt_image, write_image


def _make_folder(root, n=3, h=40, w=50):
    records = []
    for i in range(n):
        write_image(root / "images" / f"{i}.png", h, w, seed=i)
        mask = ellipse_mask(h, w, 25, 20, 15, 10)
        (root / "masks").mkdir(parents=True, exist_ok=True)
        Image.fromarray(mask.astype(np.uint8) * 255).save(root / "masks" / f"{i}.png")
        pose = Pose.from_matrix(np.eye(3), 0.5, (0.1, -0.2)) if i == 0 else None
        records.append(Record(id=f"r{i}", image_path=root / "images" / f"{i}.png", image_size=(h, w),
                              bbox=(0, 0, 0, 0), class_index=3, class_name="car", source="folder",
                              mask_path=root / "masks" / f"{i}.png", pose=pose, extra={"note": i}))
    return records


def test_write_then_load_round_trip(tmp_path):
    records = _make_folder(tmp_path)
    write_collection(tmp_path, records, class_names=["motorcycle", "bus", "truck", "car"], part_names=None,
                     name="demo", licence="CC0")
    lines = (tmp_path / "index.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["image"] == "images/0.png"  # relative paths
    collection = load_collection(tmp_path)
    assert [r.id for r in collection.records] == ["r0", "r1", "r2"]
    assert collection.class_names[3] == "car" and collection.meta["licence"] == "CC0"
    r0 = collection.records[0]
    assert r0.image_size == (40, 50) and r0.bbox == (10.0, 10.0, 40.0, 30.0)  # filled from the mask
    assert r0.pose == records[0].pose and r0.extra == {"note": 0}
    np.testing.assert_array_equal(r0.load_mask(), ellipse_mask(40, 50, 25, 20, 15, 10))
    # index.json (a JSON list) is read as well.
    (tmp_path / "index.json").write_text(json.dumps([json.loads(line) for line in lines]))
    (tmp_path / "index.jsonl").unlink()
    assert len(load_collection(tmp_path, check="header")) == 3


def test_in_memory_records_validate_and_save(tmp_path):
    from dataformat import validate_records
    from dataformat.report import SkipReport

    pixels = np.random.default_rng(0).integers(0, 255, (30, 40, 3), dtype=np.uint8)
    mask = ellipse_mask(30, 40, 20, 15, 10, 8)
    good = Record(id="mem/0", image_path=None, image_size=(0, 0), bbox=(0, 0, 0, 0), class_index=0,
                  class_name="car", source="memory", image_array=pixels, mask_array=mask)
    wrong = Record(id="mem/1", image_path=None, image_size=(0, 0), bbox=(0, 0, 0, 0), class_index=0,
                   class_name="car", source="memory", image_array=pixels[..., 0], mask_array=mask)
    report = SkipReport("memory")
    kept = validate_records([good, wrong], report)
    assert [r.id for r in kept] == ["mem/0"] and report.skipped == {"unreadable_image": 1}
    assert kept[0].image_size == (30, 40) and kept[0].bbox == (10.0, 7.0, 30.0, 23.0)
    write_collection(tmp_path, kept, class_names=["car"])
    reloaded = load_collection(tmp_path).records[0]
    np.testing.assert_array_equal(reloaded.load_image(), pixels)
    np.testing.assert_array_equal(reloaded.load_mask(), mask)


def test_every_bad_input_is_skipped_counted_and_named(tmp_path, caplog):
    records = _make_folder(tmp_path, n=2)
    write_collection(tmp_path, records, class_names=["car"])
    good = json.loads((tmp_path / "index.jsonl").read_text().splitlines()[0])
    bad_entries = []

    def add(id_, **changes):
        bad_entries.append(json.dumps({**good, "id": id_, **changes}))

    write_corrupt_image(tmp_path / "images" / "corrupt.jpg")
    add("corrupt_image", image="images/corrupt.jpg")
    add("missing_image", image="images/nope.png")
    add("missing_mask", mask="masks/nope.png")
    add("no_mask", mask=None)
    Image.fromarray(np.full((10, 10), 255, np.uint8)).save(tmp_path / "masks" / "small.png")
    add("small_mask", mask="masks/small.png")
    Image.fromarray(np.zeros((40, 50), np.uint8)).save(tmp_path / "masks" / "empty.png")
    add("empty_mask", mask="masks/empty.png")
    (tmp_path / "masks" / "garbage.png").write_bytes(b"garbage")
    add("garbage_mask", mask="masks/garbage.png")
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(tmp_path / "masks" / "parts_small.png")
    add("small_parts", parts="masks/parts_small.png")
    add("bad_pose", pose={"q": [1, 1, 0, 0], "s": 1.0, "t": [0, 0]})
    add("r0")  # duplicate id
    bad_entries.append("{not json")
    bad_entries.append(json.dumps({"image": "images/0.png"}))  # no id
    with open(tmp_path / "index.jsonl", "a") as f:
        f.write("\n".join(bad_entries) + "\n")
    with caplog.at_level(logging.WARNING, logger="dataformat"):
        collection = load_collection(tmp_path)
    report = collection.report
    assert [r.id for r in collection.records] == ["r0", "r1"]
    assert report.skipped == {"unreadable_image": 2, "missing_mask": 2, "mask_size_mismatch": 1, "empty_mask": 1,
                              "unreadable_mask": 1, "parts_size_mismatch": 1, "bad_annotation": 4}
    assert report.total == 14 and report.kept == 2
    assert any(e.startswith("corrupt_image:") for e in report.examples["unreadable_image"])
    assert any("quaternion" in e for e in report.examples["bad_annotation"])
    assert any("duplicate id" in e for e in report.examples["bad_annotation"])
    assert "kept 2 of 14" in caplog.text and "unreadable_image: 2 [corrupt_image, missing_image]" in caplog.text
    assert json.loads(json.dumps(report.to_json()))["skipped"]["empty_mask"] == 1


def test_collection_level_errors_are_one_line(tmp_path):
    with pytest.raises(CollectionError, match="not a folder"):
        load_collection(tmp_path / "missing")
    with pytest.raises(CollectionError, match="no index.jsonl or index.json"):
        load_collection(tmp_path)
    (tmp_path / "index.json").write_text("{broken")
    with pytest.raises(CollectionError, match="not valid JSON"):
        load_collection(tmp_path)
    (tmp_path / "collection.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(CollectionError, match="is not 'gan3d-collection'"):
        load_collection(tmp_path)


def test_square_crop_box_pads_five_percent_and_centres():
    box = square_crop_box((10, 20, 50, 40), padding=0.05)  # 40 x 20 box
    assert box.side == 44 and (box.x0, box.y0) == (8, 8)  # 40 * 1.1 = 44; centre (30, 30)
    with pytest.raises(ValueError, match="no area"):
        square_crop_box((5, 5, 5, 9))


def test_crop_fills_white_outside_and_zero_mask(tmp_path):
    records = _make_folder(tmp_path, n=1, h=40, w=50)
    record = records[0]
    record.bbox = (0.0, 0.0, 50.0, 20.0)  # touches the top-left: the padded square leaves the image
    sample = crop_and_resize(record, resolution=55, padding=0.05)
    assert (sample.box.x0, sample.box.y0, sample.box.side) == (-2, -17, 55)
    assert (sample.image[:17] == 255).all()  # rows above the image are white
    assert (sample.mask[:17] == 0).all() and sample.mask.max() == 1.0


def test_crop_pose_is_the_pose_crop_and_resize_carries(tmp_path):
    """The pose of a record in its crop's frame without loading any pixels: the box of crop_and_resize."""
    from dataformat import CROP_PADDING, crop_pose

    record = _make_folder(tmp_path, n=1)[0]
    record.bbox = (12.0, 5.0, 41.0, 33.0)
    for padding in (CROP_PADDING, 0.2):
        assert crop_pose(record, padding) == crop_and_resize(record, resolution=32, padding=padding).pose
    assert crop_pose(record) != crop_pose(record, 0.2)


def test_synthetic_crop_keeps_mesh_pose_and_mask_aligned(synth_run):
    """The crop's pose projects the true mesh onto the cropped mask (box agreement within a pixel)."""
    out, _ = synth_run
    for record in load_collection(out).records[:6]:
        sample = crop_and_resize(record, resolution=128)
        car = read_car_obj(out / record.extra["mesh"])
        px = (sample.pose.project(car.vertices)[:, :2] + 1) / 2 * 128
        ys, xs = np.nonzero(sample.mask > 0.5)
        scale = 128 / sample.box.side  # pixels of the crop per source pixel
        tol = 1.5 * scale + 1
        assert abs(px[:, 0].min() - xs.min()) < tol and abs(px[:, 0].max() - (xs.max() + 1)) < tol
        assert abs(px[:, 1].min() - ys.min()) < tol and abs(px[:, 1].max() - (ys.max() + 1)) < tol


def test_torch_dataset_batches(synth_run):
    out, _ = synth_run
    records = load_collection(out).records
    loader = torch.utils.data.DataLoader(CollectionDataset(records[:4], resolution=48), batch_size=4)
    batch = next(iter(loader))
    assert batch["image"].shape == (4, 3, 48, 48) and batch["image"].dtype == torch.float32
    assert -1.0 <= batch["image"].min() and batch["image"].max() <= 1.0
    assert batch["mask"].shape == (4, 1, 48, 48) and 0 <= batch["mask"].min() and batch["mask"].max() <= 1
    assert batch["parts"].shape == (4, 48, 48) and batch["parts"].dtype == torch.int64
    assert batch["has_pose"].all() and batch["has_parts"].all()
    assert torch.allclose(batch["q"].norm(dim=1), torch.ones(4))
    assert batch["class_index"].tolist() == [3] * 4 and batch["id"] == [r.id for r in records[:4]]


@settings(max_examples=60, deadline=None)
@given(x1=st.floats(-50, 300), y1=st.floats(-50, 300), w=st.floats(1, 400), h=st.floats(1, 400),
       padding=st.floats(0, 0.3))
def test_square_box_contains_the_padded_box(x1, y1, w, h, padding):
    box = square_crop_box((x1, y1, x1 + w, y1 + h), padding)
    assert box.side == int(np.ceil(max(w, h) * (1 + 2 * padding) - 1e-9))
    # Centred to within rounding, so the padded box lies inside up to half a pixel per side.
    assert box.x0 <= x1 - padding * w + 0.5 + 1e-6 and box.x0 + box.side >= x1 + w + padding * w - 0.5 - 1e-6
    assert box.y0 <= y1 - padding * h + 0.5 + 1e-6 and box.y0 + box.side >= y1 + h + padding * h - 0.5 - 1e-6


@settings(max_examples=60, deadline=None)
@given(h=st.integers(10, 500), w=st.integers(10, 500), s=st.floats(0.1, 3), tx=st.floats(-1, 1),
       ty=st.floats(-1, 1), x0=st.integers(-100, 400), y0=st.integers(-100, 400), side=st.integers(5, 600),
       seed=st.integers(0, 1000))
def test_pose_to_crop_moves_projections_with_the_pixels(h, w, s, tx, ty, x0, y0, side, seed):
    from scipy.spatial.transform import Rotation

    pose = Pose.from_matrix(Rotation.random(random_state=seed).as_matrix(), s, (tx, ty))
    box = SquareBox(x0, y0, side)
    v = np.random.default_rng(seed).normal(size=(4, 3))
    full = (pose.project(v)[:, :2] * max(h, w) + [w, h]) / 2  # continuous pixels of the full image
    crop = (pose_to_crop(pose, (h, w), box).project(v)[:, :2] + 1) / 2 * side  # pixels of the crop
    np.testing.assert_allclose(crop, full - [x0, y0], rtol=1e-9, atol=1e-6)


def test_mirrored_samples_flip_pixels_and_pose_consistently(synth_run):
    """Synthetic cars are left-right symmetric: the mirrored pose projects the same mesh onto the flipped mask."""
    from dataformat import mirror_sample

    out, _ = synth_run
    record = load_collection(out).records[3]
    sample = crop_and_resize(record, resolution=64)
    flipped = mirror_sample(sample)
    np.testing.assert_array_equal(flipped.mask, sample.mask[:, ::-1])
    np.testing.assert_array_equal(flipped.parts, sample.parts[:, ::-1])
    car = read_car_obj(out / record.extra["mesh"])
    px = (flipped.pose.project(car.vertices)[:, :2] + 1) / 2 * 64
    ys, xs = np.nonzero(flipped.mask > 0.5)
    tol = 1.5 * 64 / sample.box.side + 1
    assert abs(px[:, 0].min() - xs.min()) < tol and abs(px[:, 0].max() - (xs.max() + 1)) < tol
    assert abs(px[:, 1].min() - ys.min()) < tol and abs(px[:, 1].max() - (ys.max() + 1)) < tol
    torch.manual_seed(0)
    items = [CollectionDataset([record], resolution=32, mirror_probability=0.5)[0] for _ in range(12)]
    assert {bool(i["mirrored"]) for i in items} == {True, False}
    flipped_item = next(i for i in items if i["mirrored"])
    plain_item = next(i for i in items if not i["mirrored"])
    assert torch.equal(flipped_item["mask"], plain_item["mask"].flip(-1))
    assert flipped_item["t"][0] == pytest.approx(-plain_item["t"][0].item())


def test_importing_the_data_packages_loads_neither_torch_nor_bpy():
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, dataformat, training.data, training.synth, backend.train; "
            "print(sorted(m for m in ('torch', 'bpy', 'warp') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_contact_sheet_draws_crops_masks_and_parts(synth_run, tmp_path):
    from training.data.contact_sheet import PART_COLOURS, contact_sheet

    out, _ = synth_run
    records = load_collection(out, check="header").records[:5]
    path = contact_sheet(records, tmp_path / "sheet.png", tile=32, per_row=4)
    sheet = np.asarray(Image.open(path))
    assert sheet.shape == (2 * 3 * 32, 4 * 32, 3)
    crop, tinted, parts = sheet[:32, :32], sheet[32:64, :32], sheet[64:96, :32]
    assert (tinted[..., 0].astype(int) - crop[..., 0]).max() > 50  # the mask is tinted red
    colours = {tuple(c) for c in parts.reshape(-1, 3)}
    assert colours <= {tuple(c) for c in PART_COLOURS} and len(colours) >= 3
    with pytest.raises(ValueError, match="no records"):
        contact_sheet([], tmp_path / "empty.png")
