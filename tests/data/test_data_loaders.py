"""CUB / Pascal3D+ loaders on CMR-format fixtures, and the ImageNet synset-folder loader."""
from __future__ import annotations

import logging

import numpy as np
import pytest
from PIL import Image

from dataformat import CollectionError, InstanceFilter, crop_and_resize
from training.data import load_cub, load_imagenet, load_p3d

from .fixtures import (cmr_bbox, ellipse_mask, random_rotation, write_cmr_data, write_cmr_sfm, write_corrupt_image,
                       write_image)

CUB_FILES = ["001.Black_footed_Albatross/Black_Footed_Albatross_0009_34.jpg",
             "001.Black_footed_Albatross/Black_Footed_Albatross_0074_59.jpg",
             "002.Laysan_Albatross/Laysan_Albatross_0002_1027.jpg"]


def _cub_entry(rel_path, h, w, box, mask=None):
    x1, y1, x2, y2 = box
    if mask is None:
        mask = np.zeros((h, w), np.uint8)
        mask[y1 - 1:y2, x1 - 1:x2] = 1
    return {"rel_path": rel_path.replace("/", "\\") if "Laysan" in rel_path else rel_path,
            "bbox": cmr_bbox(*box), "mask": mask, "parts": np.zeros((3, 15))}


@pytest.fixture()
def cub(tmp_path):
    cub_root, cmr_root = tmp_path / "CUB_200_2011", tmp_path / "cub"
    sizes = [(60, 80), (70, 50), (64, 64)]
    boxes = [(11, 6, 50, 40), (5, 10, 30, 60), (20, 20, 44, 50)]
    for i, (rel, (h, w)) in enumerate(zip(CUB_FILES, sizes)):
        write_image(cub_root / "images" / rel, h, w, seed=i, fmt="JPEG")
    entries = [_cub_entry(r, h, w, b) for r, (h, w), b in zip(CUB_FILES, sizes, boxes)]
    write_cmr_data(cmr_root / "data" / "train_cub_cleaned.mat", entries)
    poses = [(30.0 + i, np.array([40.0 + i, 30.0 - i]), random_rotation(i)) for i in range(3)]
    write_cmr_sfm(cmr_root / "sfm" / "anno_train.mat", poses)
    (cub_root / "images.txt").write_text("".join(f"{i + 1} {r}\n" for i, r in enumerate(CUB_FILES)))
    (cub_root / "image_class_labels.txt").write_text("1 1\n2 1\n3 2\n")
    (cub_root / "classes.txt").write_text("1 001.Black_footed_Albatross\n2 002.Laysan_Albatross\n")
    return cub_root, cmr_root, sizes, boxes, poses, entries


def test_cub_records_boxes_species_and_sfm_poses(cub):
    cub_root, cmr_root, sizes, boxes, poses, _ = cub
    collection = load_cub(cub_root, cmr_root, "train")
    assert [r.id for r in collection.records] == CUB_FILES  # backslashes normalised
    assert collection.report.n_skipped == 0
    for record, (h, w), box, (scale, trans, rot) in zip(collection.records, sizes, boxes, poses):
        assert record.class_index == 5 and record.class_name == "bird" and record.source == "cub"
        assert record.image_size == (h, w)
        x1, y1, x2, y2 = box
        assert record.bbox == (x1 - 1, y1 - 1, x2, y2)
        mask = record.load_mask()
        assert mask.sum() == (x2 - x1 + 1) * (y2 - y1 + 1)
        # The converted pose reproduces CMR's projection (1-based pixels -> continuous: minus 0.5).
        v = np.random.default_rng(0).normal(size=(5, 3))
        cmr_pixels = scale * (v @ rot.T)[:, :2] + trans
        normalised = record.pose.project(v)[:, :2]
        length = max(h, w)
        ours = (normalised * length + [w, h]) / 2
        np.testing.assert_allclose(ours, cmr_pixels - 0.5, atol=1e-6)
        assert record.pose.frame == "cmr_sfm"
    assert collection.records[2].extra == {"species": "002.Laysan_Albatross", "species_index": 1}


def test_import_writes_a_collection_folder_that_loads_the_same(cub, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    from dataformat import load_collection, save_collection

    cub_root, cmr_root, *_ = cub
    original = load_cub(cub_root, cmr_root)
    save_collection(original, tmp_path / "lib")
    reloaded = load_collection(tmp_path / "lib")
    assert [r.id for r in reloaded.records] == [r.id for r in original.records]
    for a, b in zip(original.records, reloaded.records):
        assert a.bbox == b.bbox and a.pose == b.pose and a.extra == b.extra and b.class_index == 5
        np.testing.assert_array_equal(a.load_mask(), b.load_mask())
        np.testing.assert_array_equal(a.load_image(), b.load_image())
    assert reloaded.meta["import_report"]["kept"] == 3
    repo = Path(__file__).resolve().parents[2]
    cmd = [sys.executable, "-m", "backend.train", "data", "import", "cub", "--root", str(cub_root), "--out",
           str(tmp_path / "cli")]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    bad = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and bad.stderr.startswith("error: --cmr_root is required")
    done = subprocess.run(cmd + ["--cmr-root", str(cmr_root)], cwd=repo, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "kept 3 of 3" in done.stdout and len(load_collection(tmp_path / "cli").records) == 3


def test_crop_carries_the_pose_into_the_crop_frame(cub):
    cub_root, cmr_root, *_ = cub
    record = load_cub(cub_root, cmr_root).records[0]
    sample = crop_and_resize(record, resolution=32)
    v = np.random.default_rng(1).normal(size=(6, 3))
    full = (record.pose.project(v)[:, :2] * max(record.image_size) + record.image_size[::-1]) / 2
    crop = (sample.pose.project(v)[:, :2] + 1) / 2 * 32
    expected = (full - [sample.box.x0, sample.box.y0]) * 32 / sample.box.side
    np.testing.assert_allclose(crop, expected, atol=1e-6)
    assert sample.image.shape == (32, 32, 3) and sample.mask.shape == (32, 32)


def test_cub_bad_entries_are_skipped_with_reasons(cub, caplog):
    cub_root, cmr_root, sizes, boxes, poses, entries = cub
    # 1: image missing; 2: corrupt image; 3: mask of the wrong size; 4: empty mask; 5: malformed bbox.
    extra = [
        _cub_entry("003.Sooty_Albatross/missing.jpg", 40, 40, (1, 1, 20, 20)),
        _cub_entry("003.Sooty_Albatross/corrupt.jpg", 40, 40, (1, 1, 20, 20)),
        _cub_entry(CUB_FILES[0], 10, 10, (1, 1, 5, 5)),
        _cub_entry(CUB_FILES[1], 70, 50, (1, 1, 5, 5), mask=np.zeros((70, 50), np.uint8)),
        {**_cub_entry(CUB_FILES[2], 64, 64, (1, 1, 5, 5)), "bbox": "oops"},
    ]
    write_corrupt_image(cub_root / "images" / "003.Sooty_Albatross" / "corrupt.jpg")
    write_cmr_data(cmr_root / "data" / "train_cub_cleaned.mat", entries + extra)
    with caplog.at_level(logging.WARNING, logger="dataformat"):
        collection = load_cub(cub_root, cmr_root, "train")
    report = collection.report
    assert len(collection.records) == 3 and report.total == 8
    assert report.skipped == {"unreadable_image": 2, "mask_size_mismatch": 1, "empty_mask": 1, "bad_annotation": 1}
    assert any("missing.jpg" in e for e in report.examples["unreadable_image"])
    assert any("corrupt.jpg" in e for e in report.examples["unreadable_image"])
    # The SfM file now has 3 poses for 8 entries: poses are dropped with a warning, not silently.
    assert report.warnings == {"bad_pose": 1} and all(r.pose is None for r in collection.records)
    assert "kept 3 of 8" in caplog.text and "mask_size_mismatch: 1" in caplog.text


def test_wrong_annotation_files_give_one_line_errors(cub, tmp_path):
    cub_root, cmr_root, *_ = cub
    (cmr_root / "data" / "train_cub_cleaned.mat").write_bytes(b"this is not a mat file" * 10)
    with pytest.raises(CollectionError, match="not a readable MATLAB file"):
        load_cub(cub_root, cmr_root)
    write_cmr_sfm(cmr_root / "data" / "train_cub_cleaned.mat", [(1.0, np.zeros(2), np.eye(3))])
    with pytest.raises(CollectionError, match="no variable 'images'.*sfm_anno"):
        load_cub(cub_root, cmr_root)
    with pytest.raises(CollectionError, match="annotation file not found"):
        load_cub(cub_root, cmr_root, split="val")
    with pytest.raises(CollectionError, match="no images/ folder"):
        load_cub(tmp_path / "nowhere", cmr_root)


def test_bad_sfm_rotation_drops_only_that_pose(cub):
    cub_root, cmr_root, sizes, boxes, poses, _ = cub
    poses[1] = (30.0, np.zeros(2), -np.eye(3))  # a reflection, not a rotation
    write_cmr_sfm(cmr_root / "sfm" / "anno_train.mat", poses)
    collection = load_cub(cub_root, cmr_root)
    assert [r.pose is None for r in collection.records] == [False, True, False]
    assert collection.report.warnings == {"bad_pose": 1}


def test_p3d_uses_imagenet_images_of_cmr_lists(tmp_path):
    p3d_root, cmr_root = tmp_path / "PASCAL3D+_release1.1", tmp_path / "p3d"
    rels = ["car_imagenet/n02814533_10037.JPEG", "car_pascal/2008_000027.jpg", "car_imagenet/n02958343_1.JPEG"]
    for i, rel in enumerate(rels):
        write_image(p3d_root / "Images" / rel, 50, 60, seed=i, fmt="JPEG")
    write_cmr_data(cmr_root / "data" / "car_train.mat", [_cub_entry(r, 50, 60, (5, 5, 40, 30)) for r in rels])
    write_cmr_sfm(cmr_root / "sfm" / "car_train.mat", [(20.0, np.array([30.0, 25.0]), np.eye(3))] * 3)
    collection = load_p3d(p3d_root, cmr_root, "car")
    assert [r.id for r in collection.records] == [rels[0], rels[2]]
    assert collection.report.skipped == {"not_imagenet": 1}
    assert all(r.class_index == 3 and r.class_name == "car" and r.pose is not None for r in collection.records)
    assert len(load_p3d(p3d_root, cmr_root, "car", imagenet_only=False).records) == 3
    # Airplanes: CMR names them "aeroplane"; the project class is airplane = 4.
    write_image(p3d_root / "Images" / "aeroplane_imagenet" / "n02690373_1.JPEG", 50, 60, fmt="JPEG")
    write_cmr_data(cmr_root / "data" / "aeroplane_train.mat",
                   [_cub_entry("aeroplane_imagenet/n02690373_1.JPEG", 50, 60, (5, 5, 40, 30))])
    planes = load_p3d(p3d_root, cmr_root, "airplane")
    assert [(r.class_index, r.class_name) for r in planes.records] == [(4, "airplane")]
    assert planes.records[0].pose is None  # no sfm file for airplanes here
    with pytest.raises(CollectionError, match="unknown Pascal3D"):
        load_p3d(p3d_root, cmr_root, "bicycle")


def _label_map(path, labels):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(labels.astype(np.uint8)).save(path)


def test_imagenet_instances_classes_and_section_1_1_filtering(tmp_path):
    root = tmp_path / "imagenet"
    h, w = 240, 320
    car, plane = "n02958343", "n02691156"
    # a.JPEG: two well separated large cars -> 2 records.
    write_image(root / "images" / car / "a.JPEG", h, w, fmt="JPEG")
    labels = ellipse_mask(h, w, 80, 120, 65, 50) * 1 + ellipse_mask(h, w, 240, 120, 65, 50) * 2
    _label_map(root / "masks" / car / "a.png", labels)
    # b.JPEG: two touching cars (each < 30% of the image) -> both colliding; plus a tiny one -> too small.
    write_image(root / "images" / car / "b.JPEG", h, w, fmt="JPEG")
    labels = (ellipse_mask(h, w, 110, 120, 62, 50) * 1 + ellipse_mask(h, w, 232, 120, 60, 50) * 2)
    labels[labels == 3] = 2
    labels[5:25, 5:25] = 3
    _label_map(root / "masks" / car / "b.png", labels)
    # c.png: a car cut by the right border -> truncated.
    write_image(root / "images" / car / "c.png", h, w)
    _label_map(root / "masks" / car / "c.png", ellipse_mask(h, w, 300, 120, 90, 60) * 255)
    # d.JPEG has no mask; e.JPEG has a corrupt mask; f.JPEG has a part map of the wrong size.
    write_image(root / "images" / car / "d.JPEG", h, w, fmt="JPEG")
    write_image(root / "images" / car / "e.JPEG", h, w, fmt="JPEG")
    (root / "masks" / car / "e.png").write_bytes(b"\x89PNG broken")
    write_image(root / "images" / car / "f.JPEG", h, w, fmt="JPEG")
    _label_map(root / "masks" / car / "f.png", ellipse_mask(h, w, 160, 120, 80, 60))
    _label_map(root / "parts" / car / "f.png", np.zeros((10, 10)))
    # An airplane, and a folder that is not a synset of §10.3.
    write_image(root / "images" / plane / "p.JPEG", h, w, fmt="JPEG")
    _label_map(root / "masks" / plane / "p.png", ellipse_mask(h, w, 160, 120, 100, 50))
    write_image(root / "images" / "n00000001" / "x.JPEG", h, w, fmt="JPEG")

    collection = load_imagenet(root)
    ids = [r.id for r in collection.records]
    assert ids == [f"{plane}/p#1", f"{car}/a#1", f"{car}/a#2"]  # synset folders in sorted order
    assert [r.class_index for r in collection.records] == [4, 3, 3]
    report = collection.report
    assert report.skipped == {"colliding": 2, "too_small": 1, "truncated": 1, "missing_mask": 1,
                              "unreadable_mask": 1, "parts_size_mismatch": 1}
    assert report.warnings == {"unknown_synset": 1}
    assert report.total == report.kept + report.n_skipped == 10
    # Masks of one label map are separated by instance value.
    m1, m2 = (r.load_mask() for r in collection.records[1:])
    assert m1.any() and m2.any() and not (m1 & m2).any()
    # Only cars; and no filtering keeps the colliding, small and truncated ones.
    assert {r.class_name for r in load_imagenet(root, ["car"]).records} == {"car"}
    unfiltered = load_imagenet(root, ["car"], instance_filter=None)
    assert len(unfiltered.records) == 2 + 3 + 1
    with pytest.raises(CollectionError, match="unknown ImageNet categories"):
        load_imagenet(root, ["unicorn"])


def test_instance_filter_rules():
    f = InstanceFilter()
    h, w = 200, 200
    big = ellipse_mask(h, w, 100, 100, 70, 60)
    assert f.reject_reason(big) is None
    assert f.reject_reason(ellipse_mask(h, w, 100, 100, 20, 20)) == "too_small"
    edge = ellipse_mask(h, w, 20, 100, 80, 60)  # cut by the left border over ~100 rows
    assert f.reject_reason(edge) == "truncated"
    grazing = np.zeros((h, w), bool)
    grazing[50:150, 8:120] = True  # near the border, but the box side column holds 100 px -> truncated
    assert f.is_truncated(grazing)
    corner = np.zeros((h, w), bool)
    corner[60:160, 9:140] = True
    corner[60:100, 9:14] = False  # box side 9 px from the border; its dilated column holds ~62 px -> truncated
    assert f.is_truncated(corner)
    corner[60:140, 9:14] = False  # now ~22 px on that column -> kept
    assert not f.is_truncated(corner)
    other = ellipse_mask(h, w, 170, 100, 12, 12)
    assert big.mean() > 0.30 and f.reject_reason(big, [other]) is None  # large instances never "collide"
    mid = ellipse_mask(h, w, 95, 100, 60, 55)
    assert 0.23 < mid.mean() < 0.30 and f.reject_reason(mid, [other]) == "colliding"
    assert f.reject_reason(mid, [ellipse_mask(h, w, 185, 20, 8, 8)]) is None  # far away: no collision
