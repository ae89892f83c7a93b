"""``python -m backend.generate``: files, determinism, drop-in checkpoint layout, one-line errors."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from PIL import Image

from backend.generate import main
from backend.models import Generator, PRESETS, truncated_normal

REPO = Path(__file__).resolve().parents[2]
ARGS = ["--random_init", "small", "--how_many", "2", "--batch_size", "2", "--seed", "5", "--gpu_ids", "-1"]


def _cli(args, cwd):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "backend.generate", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """The same command twice: once with the default output layout, once into --out."""
    work = tmp_path_factory.mktemp("cli")
    first = _cli(ARGS, work)
    second = _cli([*ARGS, "--out", str(work / "again")], work)
    return work, first, second


def test_cli_writes_original_layout_and_says_untrained(two_runs):
    work, first, _ = two_runs
    assert first.returncode == 0, first.stderr
    assert "UNTRAINED" in first.stderr and "Traceback" not in first.stderr
    out = work / "output" / "random_small"
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([f"mesh_{j}{ext}" for j in range(2) for ext in (".obj", ".mtl", ".png")]
                           + ["latents.npy", "samples.json"])
    mesh = trimesh.load(out / "mesh_1.obj", process=False)
    assert mesh.faces.shape == (1920, 3)
    assert mesh.visual.material.image.size == (128, 128)
    manifest = json.loads((out / "samples.json").read_text())
    assert manifest["untrained"] is True and manifest["model"] == "random_init:small"
    assert [m["seed"] for m in manifest["meshes"]] == [5, 6]
    latents = np.load(out / "latents.npy")
    expected = torch.stack([truncated_normal((64,), 1.0, torch.Generator().manual_seed(s)) for s in (5, 6)])
    np.testing.assert_array_equal(latents, expected.numpy())


def test_cli_same_seed_gives_byte_identical_files(two_runs):
    work, first, second = two_runs
    assert second.returncode == 0, second.stderr
    a, b = work / "output" / "random_small", work / "again"
    for path in a.iterdir():
        assert path.read_bytes() == (b / path.name).read_bytes(), path.name
    assert (work / "output" / "random_small.png").read_bytes() == (work / "again.png").read_bytes()  # preview
    assert Image.open(work / "again.png").size == (2 * 256, 256)                 # 2 tiles of 256 in one row


def test_cli_missing_checkpoint_is_one_line_error(tmp_path):
    result = _cli(["--name", "pretrained_imagenet_car_singletpl", "--dataset", "imagenet_car", "--gpu_ids", "-1",
                   "--batch_size", "10", "--export_sample", "--how_many", "40"], tmp_path)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "checkpoint_latest.pth" in lines[0]
    assert not (tmp_path / "output").exists()


def test_latents_file_and_glb_reproduce_the_run(two_runs, tmp_path):
    work, first, _ = two_runs
    source = work / "output" / "random_small"
    assert main(["--random_init", "small", "--latents", str(source / "latents.npy"), "--how_many", "2",
                 "--format", "glb", "--gpu_ids", "-1", "--out", str(tmp_path), "--preview_max", "0"]) == 0
    assert sorted(p.name for p in tmp_path.glob("*.glb")) == ["mesh_0.glb", "mesh_1.glb"]
    assert not tmp_path.with_suffix(".png").exists()                                  # --preview_max 0
    for j in range(2):
        (glb,) = trimesh.load(tmp_path / f"mesh_{j}.glb", process=False).geometry.values()
        png = np.asarray(Image.open(source / f"mesh_{j}.png"))
        np.testing.assert_array_equal(np.asarray(glb.visual.material.baseColorTexture.convert("RGB")), png)


def test_drop_in_name_layout_with_official_conditional_checkpoint(tmp_path):
    """checkpoints_gan/NAME/checkpoint_latest.pth in the official layout, --conditional_class --filter_class."""
    config = PRESETS["small"].__class__(**{**PRESETS["small"].to_dict(), "n_classes": 13})
    with torch.random.fork_rng():
        torch.manual_seed(0)
        generator = Generator(config)
    folder = tmp_path / "checkpoints_gan" / "pretrained_all_singletpl"
    folder.mkdir(parents=True)
    torch.save({"generator_running_avg": generator.state_dict(), "epoch": 400,
                "args": {"dataset": "all", "texture_resolution": 128, "conditional_class": True}},
               folder / "checkpoint_latest.pth")
    out = tmp_path / "out"
    assert main(["--name", "pretrained_all_singletpl", "--checkpoints_dir", str(tmp_path / "checkpoints_gan"),
                 "--dataset", "all", "--conditional_class", "--filter_class", "motorcycle", "--gpu_ids", "-1",
                 "--batch_size", "2", "--export_sample", "--how_many", "2", "--out", str(out),
                 "--preview_max", "0"]) == 0
    manifest = json.loads((out / "samples.json").read_text())
    assert manifest["untrained"] is False
    assert [(m["class_index"], m["class_name"]) for m in manifest["meshes"]] == [(0, "motorcycle")] * 2
    assert (out / "mesh_1.obj").exists()


@pytest.mark.parametrize("args, message", [
    (["--random_init", "small", "--conditional_class", "--filter_class", "spaceship"], "unknown class 'spaceship'"),
    (["--random_init", "small", "--filter_class", "car"], "unconditional"),
    (["--random_init", "small", "--truncation", "0"], "truncation"),
    (["--random_init", "small", "--how_many", "0"], "--how_many must be a positive"),
    (["--random_init", "small", "--batch_size", "0"], "--batch_size must be at least 1"),
    (["--checkpoint", "{tmp}/missing.pth"], "missing.pth"),
    (["--checkpoint", "{tmp}/garbage.pth"], "garbage.pth"),
    (["--random_init", "small", "--latents", "{tmp}/bad_latents.npy"], r"(N, 64)"),
    (["--random_init", "small", "--latents", "{tmp}/missing.npy"], "latents file not found"),
])
def test_bad_requests_give_one_line_errors(tmp_path, capsys, args, message):
    (tmp_path / "garbage.pth").write_bytes(b"this is not a checkpoint at all" * 10)
    np.save(tmp_path / "bad_latents.npy", np.zeros((2, 5), dtype=np.float32))
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    code = main([*args, "--gpu_ids", "-1", "--out", str(tmp_path / "out")])
    errors = [line for line in capsys.readouterr().err.strip().splitlines() if not line.startswith("WARNING")]
    assert code != 0
    assert len(errors) == 1 and errors[0].startswith("error:") and message in errors[0], errors
    assert not list((tmp_path / "out").glob("mesh_*")) if (tmp_path / "out").exists() else True


def test_gpu_request_without_cuda(tmp_path, capsys):
    if torch.cuda.is_available():
        assert main(ARGS[:-2] + ["--gpu_ids", "0", "--out", str(tmp_path)]) == 0
        assert (tmp_path / "mesh_1.obj").exists()
    else:
        # The original README's `--gpu_ids 0` still runs on a CPU-only machine, with a warning.
        assert main(ARGS[:-2] + ["--gpu_ids", "0", "--out", str(tmp_path)]) == 0
        assert (tmp_path / "mesh_1.obj").exists()
        err = capsys.readouterr().err
        assert "no CUDA GPU" in err and "running on the CPU instead" in err


def test_checkpoint_path_for_name(tmp_path):
    from backend.model_choice import checkpoint_path_for_name
    from backend.models import CheckpointError

    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "checkpoint_latest.safetensors").write_bytes(b"x")
    (folder / "checkpoint_20.pth").write_bytes(b"x")
    assert checkpoint_path_for_name("run", root=tmp_path) == folder / "checkpoint_latest.safetensors"
    (folder / "checkpoint_latest.pth").write_bytes(b"x")
    assert checkpoint_path_for_name("run", root=tmp_path) == folder / "checkpoint_latest.pth"    # .pth wins
    assert checkpoint_path_for_name("run", 20, root=tmp_path) == folder / "checkpoint_20.pth"
    with pytest.raises(CheckpointError, match="checkpoint_40.pth does not exist; that folder has checkpoint_20.pth"):
        checkpoint_path_for_name("run", "40", root=tmp_path)
    with pytest.raises(CheckpointError, match="which_epoch"):
        checkpoint_path_for_name("run", "best!", root=tmp_path)
    with pytest.raises(CheckpointError, match="invalid experiment name"):
        checkpoint_path_for_name("../etc", root=tmp_path)


def test_preview_grid_uses_the_dataset_poses(tmp_path, capsys):
    """With --dataset naming a collection that has poses, the preview shows the meshes under those poses (§1.5)."""
    from PIL import Image

    from dataformat import Pose, Record, write_collection

    image = np.zeros((32, 32, 3), np.uint8)
    mask = np.zeros((32, 32), bool)
    mask[8:24, 8:24] = True
    small = Pose(q=np.array([1.0, 0.0, 0.0, 0.0]), s=0.1, t=np.zeros(2))   # ~0.2 in the crop: white around it
    records = [Record(id=f"r{i}", image_path=None, image_size=(32, 32), bbox=(8.0, 8.0, 24.0, 24.0), class_index=3,
                      class_name="car", source="folder", image_array=image, mask_array=mask, pose=small)
               for i in range(2)]
    write_collection(tmp_path / "posed", records, class_names=["car"])
    common = ["--random_init", "small", "--how_many", "2", "--gpu_ids", "-1", "--seed", "1"]
    assert main([*common, "--dataset", str(tmp_path / "posed"), "--out", str(tmp_path / "with")]) == 0
    assert "poses of" in capsys.readouterr().out
    assert main([*common, "--out", str(tmp_path / "without")]) == 0
    with_poses = np.asarray(Image.open(tmp_path / "with.png").convert("L"))
    random_views = np.asarray(Image.open(tmp_path / "without.png").convert("L"))
    # a small object leaves most of each tile white background; random views fill ~80 % of the frame
    assert (with_poses > 250).mean() > 0.85 > (random_views > 250).mean()


def _posed_collection(root, frame):
    """Two 40 x 80 records whose 20 x 20 box sits right of centre, pose t = 0, s = 0.2 in the image frame."""
    from dataformat import Pose, Record, write_collection

    image = np.zeros((40, 80, 3), np.uint8)
    mask = np.zeros((40, 80), bool)
    mask[10:30, 40:60] = True
    pose = Pose(q=(1.0, 0.0, 0.0, 0.0), s=0.2, t=(0.0, 0.0), frame=frame)
    records = [Record(id=f"r{i}", image_path=None, image_size=(40, 80), bbox=(40.0, 10.0, 60.0, 30.0),
                      class_index=0, class_name="car", source="folder", image_array=image, mask_array=mask, pose=pose)
               for i in range(2)]
    write_collection(root, records, class_names=["car"])
    return root


def test_preview_poses_are_carried_into_the_crop_frame(tmp_path):
    """The image-frame pose becomes the crop's (what the generator is trained under); 3 meshes from 2 records."""
    from backend.generate import _dataset_preview_poses

    poses, shows = _dataset_preview_poses(str(_posed_collection(tmp_path / "posed", "object")), 3, seed=0)
    assert shows.startswith("poses of") and poses.z0 is None and poses.q.shape == (3, 4)
    # square crop: 20 px box + 5 % padding per side -> 22 px from x0 = 39, y0 = 9; L = max(40, 80) = 80
    torch.testing.assert_close(poses.s, torch.full((3, 1), 0.2 * 80 / 22))
    torch.testing.assert_close(poses.t, torch.tensor([[-20 / 22, 0.0]]).expand(3, 2))


def test_preview_ignores_poses_outside_the_object_frame(tmp_path, capsys):
    """CMR poses (CUB / P3D) are in CMR's SfM frame: random views, and the output says why."""
    from backend.generate import _dataset_preview_poses

    folder = _posed_collection(tmp_path / "cmr", "cmr_sfm")
    poses, shows = _dataset_preview_poses(str(folder), 2, seed=0)
    assert poses is None and "cmr_sfm frame, not the object frame" in shows
    common = ["--random_init", "small", "--how_many", "2", "--gpu_ids", "-1", "--preview_max", "2"]
    assert main([*common, "--dataset", str(folder), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "random views" in out and "cmr_sfm" in out and (tmp_path / "out.png").is_file()
