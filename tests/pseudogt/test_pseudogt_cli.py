"""``backend.train pseudogt --from_run RUN | --from_truth``, and ``recon pseudogt``, its older name, as an alias."""
from __future__ import annotations

import argparse

import pytest
import torch

from backend.train import main
from tests.recon.fixtures import make_collection
from tests.resume_contract import assert_resume_error
from training.pseudogt import open_pseudogt
from training.recon.config import NetworkConfig
from training.recon.network import ReconstructionNetwork

T = 32


@pytest.fixture(scope="module")
def ellipsoids(tmp_path_factory):
    """4 renders (64²) of a textured ellipsoid with true poses and its true mesh (no Blender)."""
    return make_collection(tmp_path_factory.mktemp("ellipsoids_pg"), n=4, resolution=64, seed=2)


@pytest.fixture(scope="module")
def untrained_pth(tmp_path_factory):
    """An original-style checkpoint of an untrained reconstruction network (it predicts the plain sphere)."""
    torch.manual_seed(0)
    net = ReconstructionNetwork(NetworkConfig(image_resolution=64, texture_resolution=64, width=0.25))
    path = tmp_path_factory.mktemp("recon_pg") / "checkpoint_latest.pth"
    torch.save({"generator": {f"module.{k}": v for k, v in net.state_dict().items()},
                "args": argparse.Namespace(dataset="ellipsoids")}, path)
    return path


def _same_folders(a, b) -> bool:
    x, y = open_pseudogt(a), open_pseudogt(b)
    torch.testing.assert_close(x.poses, y.poses, rtol=0, atol=0, equal_nan=True)    # z0 is NaN: no z0 in the poses
    return (x.ids == y.ids and torch.equal(x.texture, y.texture) and torch.equal(x.alpha, y.alpha)
            and torch.equal(x.mesh, y.mesh))


def test_from_truth_writes_the_folder_and_the_alias_writes_the_same(ellipsoids, tmp_path, capsys):
    flags = ["--collection", str(ellipsoids), "--texture_resolution", str(T), "--batch_size", "3", "--no_fid_stats"]
    assert main(["pseudogt", "--from_truth", "--out", str(tmp_path / "new"), *flags]) == 0
    assert "4 items (4 written, 0 reused) ->" in capsys.readouterr().out
    data = open_pseudogt(tmp_path / "new")
    assert len(data) == 4 and data.info["source"] == "truth" and data.texture.shape == (4, 3, T, T)
    assert float(data.mesh[:, 0].mean()) < -0.2      # the ellipsoid is much narrower than the unit sphere across x
    coverage = data.alpha.float().mean(dim=(1, 2, 3))
    assert bool(((coverage > 0.15) & (coverage < 0.7)).all())
    assert main(["recon", "pseudogt", "--from_truth", "--out", str(tmp_path / "old"), *flags]) == 0
    assert _same_folders(tmp_path / "new", tmp_path / "old")
    assert main(["pseudogt", "--from_truth", "--out", str(tmp_path / "new"), *flags]) == 0   # resumes
    assert "4 items (0 written, 4 reused)" in capsys.readouterr().out
    # resumed with another texture size: the stage contract's one-line error, the folder as it was
    other = [*flags[:2], "--texture_resolution", str(2 * T), *flags[4:]]
    assert main(["pseudogt", "--from_truth", "--out", str(tmp_path / "new"), *other]) == 1
    assert_resume_error(capsys.readouterr().err, "texture_resolution")
    assert _same_folders(tmp_path / "new", tmp_path / "old")


def test_from_run_and_the_alias_with_the_run_as_argument_agree(ellipsoids, untrained_pth, tmp_path, capsys):
    flags = ["--collection", str(ellipsoids), "--poses", "truth", "--texture_resolution", str(T), "--no_fid_stats",
             "--device", "cpu"]
    assert main(["pseudogt", "--from_run", str(untrained_pth), "--out", str(tmp_path / "new"), *flags]) == 0
    assert "4 items (4 written, 0 reused)" in capsys.readouterr().out
    data = open_pseudogt(tmp_path / "new")
    assert data.info["source"] == "recon" and torch.equal(data.mesh, torch.zeros_like(data.mesh))   # plain sphere
    assert main(["recon", "pseudogt", str(untrained_pth), "--out", str(tmp_path / "old"), *flags]) == 0
    assert _same_folders(tmp_path / "new", tmp_path / "old")


@pytest.mark.parametrize("argv, code, words", [
    (["pseudogt", "--out", "o"], 2, "one of the arguments --from_run/--from-run --from_truth"),
    (["pseudogt", "--from_run", "r", "--from_truth", "--out", "o"], 2, "not allowed with argument"),
    (["pseudogt", "--from_truth", "--out", "o"], 1, "--from_truth needs --collection"),
    (["recon", "pseudogt", "--out", "o"], 1, "pass a recon run folder"),
    (["recon", "pseudogt", "r", "--from_run", "r", "--out", "o"], 1, "give the run once"),
    (["recon", "pseudogt", "r", "--from_truth", "--collection", "c", "--out", "o"], 1, "drop the run folder"),
])
def test_a_missing_or_doubled_source_is_one_line(argv, code, words, capsys):
    if code == 2:
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 2
    else:
        assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert words in err[-1], err


def test_skipped_records_are_counted_and_the_items_renumbered(ellipsoids, tmp_path, capsys):
    import shutil

    folder = tmp_path / "gaps"
    shutil.copytree(ellipsoids, folder)
    lines = (folder / "index.jsonl").read_text().splitlines()
    lines[1] = lines[1].replace('"extra": {"mesh": "meshes/car_0.obj"}', '"extra": {}')
    lines[2] = lines[2].replace("meshes/car_0.obj", "meshes/missing.obj")
    (folder / "index.jsonl").write_text("\n".join(lines) + "\n")
    assert main(["pseudogt", "--from_truth", "--collection", str(folder), "--out", str(tmp_path / "pg"),
                 "--texture_resolution", str(T), "--no_fid_stats"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert "2 items (2 written, 0 reused), skipped 1 without a true mesh" in line and "1 unreadable (" in line
    data = open_pseudogt(tmp_path / "pg")
    assert data.ids == ["0000", "0003"] and not (tmp_path / "pg" / "items" / "000002.safetensors").exists()
