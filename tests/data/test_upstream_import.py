"""``data import upstream``: each file kind of the original's cache (§1.1–§1.3, §10.5) on fixtures in its exact
layouts, pickles that would run code refused with nothing executed, bad files reported in one line while the rest
imports, and the imported poses / pseudo-GT taken by recon, pseudogt and gan."""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from backend.mesh import uv_sphere
from backend.train import main
from dataformat import Pose, SquareBox, load_collection
from training.data import rle
from training.data.safe_pickle import UnsafePickleError, UpstreamFileError, load_npy, loads
from training.data.upstream import import_upstream, upstream_crop_box, vertex_order_from_obj
from training.poses.file import hypotheses_path, load_hypotheses, load_pose_file
from training.pseudogt import open_pseudogt
from training.templates import load_templates

from . import upstream_fixtures as fx

IMAGES = f"datasets/imagenet/images/{fx.SYNSET}"


def test_rle_matches_pycocotools():
    """A pycocotools ``mask.encode`` output (recorded) decodes to its mask, and encoding gives the same bytes."""
    mask = np.zeros((40, 50), bool)
    mask[5:30, 10:45] = True
    mask[12:20, 20:25] = False
    mask[0, 0] = mask[39, 49] = True
    coco = {"size": [40, 50], "counts": b"01d<h0kC000000000000000000^OI37MI37MI37MI37MI37?00000000000000000000000000"
                                       b"000000000000R6XO"}
    assert np.array_equal(rle.decode(coco), mask)
    assert rle.encode(mask) == coco
    assert np.array_equal(rle.decode({"size": [40, 50], "counts": coco["counts"].decode()}), mask)
    assert np.array_equal(rle.decode(rle.encode(mask, compressed=False)), mask)
    with pytest.raises(rle.RLEError, match="cover"):
        rle.decode({"size": [40, 51], "counts": coco["counts"]})


def test_upstream_crop_box_follows_cmr_rounding():
    # w 40, h 20 -> pad 2 / 1 -> [8, 19, 51, 40]: 44 x 22 -> square 44, centred: y0 = 19 - 11
    assert upstream_crop_box([10, 20, 49, 39]) == SquareBox(8, 8, 44)
    # half-way values round to even as in Python: [-0.5, -0.25, 9.5, 4.25] -> [0, 0, 10, 4]
    assert upstream_crop_box(np.array([[0, 0, 9, 4]], np.float32)) == SquareBox(0, -3, 11)


def test_the_allow_list_reads_data_and_refuses_code(tmp_path):
    side = tmp_path / "side_effect.txt"
    import pickle

    data = {"a": np.arange(3, dtype=np.float32), "t": torch.arange(4).half(), "l": [1, (2.5, "x")], "b": b"\x00"}
    back = loads(pickle.dumps(data, protocol=2), "mem")
    assert np.array_equal(back["a"], data["a"]) and torch.equal(back["t"], data["t"]) and back["l"] == [1, (2.5, "x")]
    for protocol in (2, 4):
        with pytest.raises(UnsafePickleError, match=r"mem: refused: the pickle names (builtins|__builtin__)\.exec"):
            loads(pickle.dumps({"x": [fx.SideEffect(side)]}, protocol=protocol), "mem")
    np.save(tmp_path / "evil.npy", np.array([{"ok": 1}, fx.SideEffect(side)], dtype=object))
    with pytest.raises(UnsafePickleError, match=r"evil\.npy: refused: the pickle names builtins\.exec"):
        load_npy(tmp_path / "evil.npy")
    assert not side.exists()


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """An original-style checkout: cache/imagenet_car/ with every file kind, cache/remeshed_templates/, images."""
    root = tmp_path_factory.mktemp("upstream")
    cache = root / "cache" / "imagenet_car"
    cache.mkdir(parents=True)
    rng = np.random.default_rng(0)
    shapes = [(160, 200), (120, 150), (130, 130)]
    masks = [fx.ellipse(160, 200, 55, 80, 40, 25), fx.ellipse(160, 200, 150, 70, 35, 30),
             fx.ellipse(120, 150, 70, 60, 50, 35), fx.ellipse(130, 130, 65, 62, 45, 40)]
    image_of = [0, 0, 1, 2]
    for k, (h, w) in enumerate(shapes):
        fx.write_image(root, f"{IMAGES}/img{k}.png", rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
    wheel = masks[0] & (np.mgrid[0:160, 0:200][0] >= 80)
    window = masks[0] & (np.mgrid[0:160, 0:200][0] < 86)          # overlaps the wheel on rows 80..85
    door = masks[0] & (np.mgrid[0:160, 0:200][1] < 40)            # too rare: dropped
    parts = [fx.part_dict("window", window, 0.5), fx.part_dict("wheel", wheel, 0.6), fx.part_dict("door", door, 0.1)]
    rows = [fx.detection_row(i, f"{IMAGES}/img{image_of[i]}.png", masks[i], parts if i == 0 else [])
            for i in range(4)]
    rows.append(fx.detection_row(4, f"{IMAGES}/missing.png", masks[3]))
    fx.save_detections(cache / "detections.npy", rows)
    g = torch.Generator().manual_seed(1)
    survivors = [0, 2, 3]
    truth = []
    for i in survivors:
        q = torch.nn.functional.normalize(torch.randn(4, generator=g), dim=0).tolist()
        truth.append(Pose(tuple(q if q[0] >= 0 else [-v for v in q]), 0.3 + 0.1 * i, (0.05 * i, -0.04), 1.5 + i))
    boxes = [rows[i]["bbox"] for i in survivors]
    poses = fx.pose_rows([(p, (rows[i]["image_height"], rows[i]["image_width"]), b)
                          for p, i, b in zip(truth, survivors, boxes)])
    fx.save_poses_estimated(cache, survivors, poses)
    hypotheses = fx.save_hypotheses(cache, len(rows))
    items = [fx.pseudogt_item(k) for k in range(3)]
    fx.save_pseudogt(cache, items, [rows[i]["image_path"] for i in survivors], poses)
    fx.save_fid_stats(cache)
    templates = root / "cache" / "remeshed_templates" / fx.MODE
    perm = fx.sphere_obj_in_upstream_order(templates / "car_templates.obj")
    project = (np.asarray(uv_sphere(31).vertices) * np.array([0.5, 1.0, 0.4]))[None].astype(np.float32)
    torch.save(torch.from_numpy(project[:, perm].copy()), templates / "car_templates.pth")
    return {"root": root, "cache": cache, "rows": rows, "masks": masks, "truth": truth, "survivors": survivors,
            "hypotheses": hypotheses, "items": items, "poses": poses, "templates": project, "wheel": wheel,
            "window": window}


@pytest.fixture(scope="module")
def imported(cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("imported") / "car"
    result = import_upstream(cache["cache"], cache["root"], out)
    return out, result


def test_every_file_kind_imports(cache, imported):
    out, result = imported
    # detections.npy -> collection: masks decoded, parts rasterised by the §10.4 order, the missing image named
    collection = load_collection(out)
    assert [r.id for r in collection.records] == ["000000", "000001", "000002", "000003"]
    assert result.problems == [f"{cache['cache'] / 'detections.npy'} row 4: skipped, image {IMAGES}/missing.png not "
                               f"found under {cache['root']}"]
    for record, mask in zip(collection.records, cache["masks"]):
        assert np.array_equal(record.load_mask(), mask) and record.class_index == 3 and record.class_name == "car"
    assert collection.part_names == ["background", "object", "wheel", "window"]
    parts = collection.records[0].load_parts()
    m0 = cache["masks"][0]
    expected = np.where(m0, 1, 0)
    expected[cache["wheel"]] = 2
    expected[cache["window"]] = 3          # window comes after wheel in §10.4: it wins where both are
    assert np.array_equal(parts, expected)
    # poses_estimated -> pose file in the full-image frame, equal to the poses the crops were made from
    poses = load_pose_file(out / "poses_singletpl.safetensors")
    assert [e.id for e in poses.estimates] == ["000000", "000002", "000003"] and all(e.kept for e in poses.estimates)
    for estimate, truth in zip(poses.estimates, cache["truth"]):
        assert np.allclose(estimate.pose.q, truth.q, atol=1e-6) and abs(estimate.pose.s - truth.s) < 1e-6
        assert np.allclose(estimate.pose.t, truth.t, atol=1e-6) and abs(estimate.pose.z0 - truth.z0) < 1e-6
    assert np.allclose([e.miou for e in poses.estimates], np.linspace(0.5, 0.6, 3))
    assert poses.template_names == ["car"] and poses.meta["templates"].endswith("templates_singletpl/car.safetensors")
    # camera_hypotheses -> hypotheses file (crop frame, the original's box per row), every row with its pose
    arrays, header = load_hypotheses(hypotheses_path(out / "poses_singletpl.safetensors"))
    assert header["ids"] == [f"{i:06d}" for i in range(5)] and arrays["R"].shape == (5, 40, 4)
    for key in ("R", "s", "t", "z0", "w", "iou"):
        assert np.array_equal(arrays[key], cache["hypotheses"][key].numpy())
    box = upstream_crop_box(cache["rows"][2]["bbox"])
    assert arrays["box"][2].tolist() == [box.x0, box.y0, box.side]
    # pseudo-GT items + poses metadata -> the project's folder at 512², poses kept in the original's crop frame
    pgt = open_pseudogt(out / "pseudogt_singletpl")
    assert len(pgt) == 3 and pgt.texture_resolution == 512 and pgt.ids == ["000000", "000002", "000003"]
    for k, item in enumerate(cache["items"]):
        assert torch.equal(pgt.texture[k], item["texture"]) and torch.equal(pgt.alpha[k], item["texture_alpha"])
        assert torch.equal(pgt.mesh[k], item["mesh"])
    assert torch.allclose(pgt.poses["rotation"], cache["poses"]["R"]) and torch.all(pgt.poses["translation"][:, 2] == 0)
    assert torch.allclose(pgt.poses["z0"], cache["poses"]["z0"])
    assert pgt.info["class_names"] == ["car"] and (out / "pseudogt_singletpl" / "precomputed_fid_299x299.npz").is_file()
    # remeshed templates -> template file in the project's vertex order
    templates = load_templates(out / "templates_singletpl" / "car.safetensors")
    assert templates.names == ["car"] and np.array_equal(templates.vertices, cache["templates"])


def test_vertex_order_from_the_templates_obj(tmp_path):
    perm = fx.sphere_obj_in_upstream_order(tmp_path / "sphere.obj", seed=5)
    order = vertex_order_from_obj(tmp_path / "sphere.obj")
    original = np.asarray(uv_sphere(31).vertices)[perm]
    assert np.array_equal(original[order], np.asarray(uv_sphere(31).vertices))


def _damaged_copy(cache, tmp_path) -> tuple[Path, Path]:
    root = tmp_path / "checkout"
    shutil.copytree(cache["root"], root)
    c = root / "cache" / "imagenet_car"
    side = tmp_path / "side_effect.txt"
    rows = list(cache["rows"])
    rows.append({k: v for k, v in rows[3].items() if k != "mask"})                    # row 5: no mask
    fx.save_detections(c / "detections.npy", rows)
    (root / IMAGES / "img2.png").write_bytes(b"not a png")                           # row 3's image
    fx.save_hypotheses(c, len(rows) + 1)                                              # one row too many
    torch.save({"indices": torch.tensor([0, 2, 3]), "R": torch.zeros(3, 4), "s": torch.ones(3, 1),
                "t": torch.zeros(3, 2), "z0": fx.SideEffect(side)}, c / "poses_estimated_singletpl.bin")
    folder = c / "pseudogt_512x512_singletpl"
    np.savez_compressed(folder / "1", data={**cache["items"][1], "category": fx.SideEffect(side)})
    np.savez_compressed(folder / "2", data={**cache["items"][2], "texture": torch.zeros(3, 256, 256).half()})
    return root, side


def test_bad_files_are_named_in_one_line_and_the_rest_imports(cache, tmp_path, capsys):
    root, side = _damaged_copy(cache, tmp_path)
    c = root / "cache" / "imagenet_car"
    out = tmp_path / "out"
    code = main(["data", "import", "upstream", "--cache", str(c), "--images", str(root), "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert not side.exists()                                                          # nothing was executed
    lines = captured.out.splitlines()

    def line_with(*words):
        found = [line for line in lines if all(w in line for w in words)]
        assert len(found) == 1, (words, lines)
        return found[0]

    line_with("detections.npy row 5", "skipped", "missing mask")
    line_with("poses_estimated_singletpl.bin: refused", "builtins.exec", "not imported")
    line_with("camera_hypotheses_silhouette_singletpl.bin", "rows per array", "detections.npy has 6 rows")
    line_with("pseudogt_512x512_singletpl/1.npz", "refused", "builtins.exec", "item skipped")
    line_with("pseudogt_512x512_singletpl/2.npz: texture has shape (3, 256, 256), expected (3, 512, 512)")
    line_with("detections.npy row 3: skipped, unreadable_image", "img2.png: not a readable image")
    line_with("kept 3 of 6", "unreadable_image: 2 [000004, 000003]", "bad_annotation: 1 [000005]")
    collection = load_collection(out)
    assert [r.id for r in collection.records] == ["000000", "000001", "000002"]
    assert not (out / "poses_singletpl.safetensors").exists()
    pgt = open_pseudogt(out / "pseudogt_singletpl")
    assert len(pgt) == 1 and pgt.ids == ["000000"]                  # ids from the metadata paths
    assert torch.equal(pgt.texture[0], cache["items"][0]["texture"])


def test_a_detections_file_that_would_run_code_stops_the_import(cache, tmp_path, capsys):
    root = tmp_path / "checkout"
    c = root / "cache" / "x"
    c.mkdir(parents=True)
    side = tmp_path / "side_effect.txt"
    fx.save_detections(c / "detections.npy", [cache["rows"][0], {"score": fx.SideEffect(side)}])
    code = main(["data", "import", "upstream", "--cache", str(c), "--images", str(cache["root"]),
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1 and not side.exists()
    assert "detections.npy: refused: the pickle names builtins.exec" in err and err.count("\n") == 1
    with pytest.raises(UpstreamFileError, match="no such folder"):
        import_upstream(tmp_path / "nowhere", cache["root"], tmp_path / "o2")


def test_templates_without_the_sphere_obj_are_reported(cache, tmp_path):
    root = tmp_path / "checkout"
    shutil.copytree(cache["root"], root)
    (root / "cache" / "remeshed_templates" / fx.MODE / "car_templates.obj").unlink()
    result = import_upstream(root / "cache" / "imagenet_car", root, tmp_path / "out", pseudogt=False)
    assert any("car_templates.pth: its vertex order needs the original sphere's OBJ" in p and "--sphere_obj" in p
               for p in result.problems)
    assert load_pose_file(tmp_path / "out" / "poses_singletpl.safetensors").meta.get("templates") is None


# ----------------------------------------------------------------------------------------------------------------
# Round trips: the imported files are what recon, pseudogt and gan take.

@pytest.fixture(scope="module")
def sphere_cache(tmp_path_factory):
    """8 renders of the unit sphere with a known texture and true poses, written as an original cache (the poses
    in the original's crop frame) plus an original-style checkpoint of an untrained reconstruction network."""
    from tests.recon.fixtures import make_collection
    from training.recon.config import NetworkConfig
    from training.recon.network import ReconstructionNetwork

    root = tmp_path_factory.mktemp("sphere_upstream")
    rendered = make_collection(root / "rendered", n=8, resolution=192, seed=4, extent=(1.0, 1.0, 1.0))
    collection = load_collection(rendered)
    cache = root / "checkout" / "cache" / "p3d_car"
    cache.mkdir(parents=True)
    rows, poses = [], []
    for i, record in enumerate(collection.records):
        relative = f"{IMAGES}/{record.id}.png"
        (root / "checkout" / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(record.image_path, root / "checkout" / relative)
        rows.append(fx.detection_row(i, relative, record.load_mask()))
        truth = record.pose
        poses.append((Pose(truth.q, truth.s, truth.t, 4.0), record.image_size, rows[-1]["bbox"]))
    fx.save_detections(cache / "detections.npy", rows)
    fx.save_poses_estimated(cache, list(range(len(rows))), fx.pose_rows(poses))
    torch.manual_seed(0)
    net = ReconstructionNetwork(NetworkConfig(image_resolution=64, texture_resolution=64, width=0.25, n_parts=3))
    pth = root / "checkpoints_recon" / "pretrained_p3d_car_singletpl" / "checkpoint_latest.pth"
    pth.parent.mkdir(parents=True)
    torch.save({"generator": {f"module.{k}": v for k, v in net.state_dict().items()},
                "args": argparse.Namespace(dataset="p3d_car")}, pth)
    out = root / "imported"
    import_upstream(cache, root / "checkout", out)
    return {"out": out, "pth": pth, "collection": collection}


def test_an_original_recon_checkpoint_and_its_poses_make_pseudogt(sphere_cache, tmp_path, capsys):
    """The original's checkpoint + imported poses through the project's exporter: the visible texels are the
    rendered sphere's known texture, so the poses landed on the right pixels."""
    from tests.recon.fixtures import known_texture

    out = tmp_path / "pgt"
    code = main(["pseudogt", "--from_run", str(sphere_cache["pth"]), "--out", str(out),
                 "--collection", str(sphere_cache["out"]), "--poses",
                 str(sphere_cache["out"] / "poses_singletpl.safetensors"), "--texture_resolution", "64",
                 "--batch_size", "4", "--no_fid_stats"])
    assert code == 0, capsys.readouterr().err
    pgt = open_pseudogt(out)
    assert len(pgt) == 8
    truth = known_texture(64)
    for k in range(len(pgt)):
        alpha = pgt.alpha[k, 0].float()
        solid = torch.nn.functional.max_pool2d((alpha < 1).float()[None, None], 5, 1, 2)[0, 0] == 0
        assert solid.sum() > 200
        diff = (pgt.texture[k].float() - truth).abs()[:, solid]
        assert float(torch.quantile(diff.flatten(), 0.95)) < 0.1


def test_imported_poses_and_templates_train_recon(sphere_cache, tmp_path):
    from tests.recon.conftest import TINY_NETWORK, TINY_TRAIN
    from training.recon.train import TrainOptions, train_recon

    torch.set_num_threads(1)
    result = train_recon(TrainOptions(collection=str(sphere_cache["out"]), out=str(tmp_path / "run"),
                                      poses=str(sphere_cache["out"] / "poses_singletpl.safetensors"), batch_size=4,
                                      iters=2, overrides=dict(TINY_TRAIN), network_overrides=dict(TINY_NETWORK)))
    assert result.iteration == 2 and result.n_images == 8 and not result.skipped


def test_gan_trains_on_an_imported_512_folder(imported):
    """The imported 512² folder is what ``gan --preset paper`` reads (same texture and mesh sides); a few G and D
    steps of the tiny networks at 512² run on it (the CLI adds only checkpoint writing, tested in tests/gan)."""
    import dataclasses

    from training.gan import PRESETS, GANTrainer

    out, _ = imported
    data = open_pseudogt(out / "pseudogt_singletpl")
    paper = PRESETS["paper"].generator
    assert (data.texture_resolution, data.mesh_resolution) == (paper.texture_resolution, paper.mesh_resolution)
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        tiny = PRESETS["tiny"]
        config = tiny.replace(generator=dataclasses.replace(tiny.generator, texture_resolution=512), batch_size=2)
        trainer = GANTrainer(config, data)
        steps = [trainer.train_step() for _ in range(3)]
    finally:
        torch.set_num_threads(threads)
    assert [s.kind for s in steps] == ["g", "d", "d"]
    assert all(np.isfinite(v) for s in steps for v in s.losses.values())
