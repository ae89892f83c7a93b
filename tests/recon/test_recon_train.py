"""Training the reconstruction network: a short run lowers its loss; kill -9 and --resume; bad input."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from backend.mesh import uv_sphere
from backend.train import main
from tests.resume_contract import assert_resume_error
from training.engine import StateFileError, atomic_save, load_state
from training.recon.checkpoints import CHECKPOINT_NAME, load_recon
from training.recon.train import RunError, TrainOptions, train_recon

from .conftest import TINY_NETWORK, TINY_TRAIN

ROOT = Path(__file__).resolve().parents[2]


def options(collection, out, **kw) -> TrainOptions:
    kw.setdefault("iters", 12)
    kw.setdefault("preset", "cpu")
    return TrainOptions(collection=str(collection), poses="truth", out=str(out), batch_size=8,
                        overrides=dict(TINY_TRAIN), network_overrides=dict(TINY_NETWORK), **kw)


def test_short_run_lowers_its_loss_and_writes_its_files(ellipsoids, tmp_path, one_thread):
    out = tmp_path / "run"
    result = train_recon(options(ellipsoids, out))
    assert result.iteration == 12 and result.n_images == 16 and not result.skipped
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4, 6, 8, 10, 12]
    first, last = rows[0], rows[-1]
    assert last["total"] < 0.8 * first["total"]
    assert last["color"] + last["alpha"] < first["color"] + first["alpha"]
    assert (out / "loss_curves.png").stat().st_size > 1000
    assert sorted(p.name for p in (out / "previews").iterdir()) == ["iter_000004.png", "iter_000008.png",
                                                                  "iter_000012.png"]
    _, header = load_state(out / CHECKPOINT_NAME)
    assert header["iteration"] == 12 and header["done"] and header["stage"] == "recon"
    assert header["network"]["n_parts"] == 3  # body, wheel, window
    assert header["template_source"] == "car"  # truth poses: the shipped car template
    assert abs(header["semi_coeff"] - 0.99 ** 12) < 1e-9 and header["flat_warmup"] == pytest.approx(10 - 1.2)
    loaded = load_recon(out)
    assert loaded.iteration == 12 and loaded.templates.shape == (1, 962, 3)
    # the learning rate halves every quarter of the run
    assert [r["lr"] for r in rows][:2] == [1e-4, 5e-5]
    # a checkpoint whose safetensors header length ends in byte 0x80 (the pickle opcode) still loads
    tensors, saved = load_state(out / CHECKPOINT_NAME)
    odd = tmp_path / "odd.safetensors"
    for pad in range(600):
        atomic_save(odd, tensors, {**saved, "pad": "x" * pad})
        if odd.read_bytes()[:1] == b"\x80":
            break
    assert odd.read_bytes()[:1] == b"\x80" and load_recon(odd).iteration == 12


DRIVER = """
import sys
import torch
torch.set_num_threads(1)
from training.recon.train import TrainOptions, train_recon
sys.path.insert(0, {root!r})
from tests.recon.conftest import TINY_NETWORK, TINY_TRAIN
train_recon(TrainOptions(collection={collection!r}, poses="truth", out={out!r}, preset="cpu", batch_size=8,
                         iters={iters}, resume=True, overrides=dict(TINY_TRAIN), network_overrides=dict(TINY_NETWORK)))
"""


def _saved_iteration(path: Path) -> int:
    try:
        return int(load_state(path)[1]["iteration"])
    except (StateFileError, OSError, KeyError):
        return 0


def test_resume_after_sigkill_continues_where_it_stopped(ellipsoids, tmp_path, one_thread):
    iters = 16
    reference = tmp_path / "reference"
    train_recon(options(ellipsoids, reference, iters=iters))

    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", DRIVER.format(root=str(ROOT), collection=str(ellipsoids),
                                                                 out=str(out), iters=iters)],
                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    killed_at = None
    deadline = time.monotonic() + 600
    while proc.poll() is None and time.monotonic() < deadline:
        saved = _saved_iteration(out / CHECKPOINT_NAME)
        if 4 <= saved < iters:
            os.kill(proc.pid, signal.SIGKILL)
            killed_at = saved
            break
        time.sleep(0.05)
    proc.wait(timeout=60)
    assert killed_at is not None, f"the run ended before it could be killed: {proc.stderr.read().decode()[-500:]}"
    assert proc.returncode == -signal.SIGKILL
    assert not list(out.glob("*.partial"))  # no half-written file under the final name either
    result = train_recon(options(ellipsoids, out, iters=iters, resume=True))
    assert result.iteration == iters
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == iters
    a, _ = load_state(reference / CHECKPOINT_NAME)
    b, _ = load_state(out / CHECKPOINT_NAME)
    assert sorted(a) == sorted(b)
    for key in (k for k in a if k.startswith(("model/", "optim/"))):
        assert torch.equal(a[key], b[key]), key  # the same weights and Adam state as the uninterrupted run


def test_run_folder_rules(ellipsoids, tmp_path):
    out = tmp_path / "run"
    train_recon(options(ellipsoids, out, iters=2))
    with pytest.raises(RunError, match="already holds a run.*--resume"):
        train_recon(options(ellipsoids, out, iters=2))
    other = tmp_path / "other"
    shutil.copytree(ellipsoids, other)
    with pytest.raises(RunError) as refused:    # the stage contract's one-line resume error
        train_recon(options(other, out, iters=4, resume=True))
    assert_resume_error(str(refused.value), "collection")
    with pytest.raises(RunError) as refused:
        train_recon(options(ellipsoids, out, iters=4, resume=True, preset="paper"))
    assert_resume_error(str(refused.value), "preset")
    done = train_recon(options(ellipsoids, out, iters=2, resume=True))  # already complete: nothing to do
    assert done.iteration == 2
    with pytest.raises(RunError, match="fewer than the batch size"):
        train_recon(TrainOptions(collection=str(ellipsoids), poses="truth", out=str(tmp_path / "big"),
                                 batch_size=32, iters=1, network_overrides=dict(TINY_NETWORK)))
    (out / CHECKPOINT_NAME).write_bytes(b"\0" * 64)
    with pytest.raises(RunError, match="not a readable checkpoint"):
        train_recon(options(ellipsoids, out, iters=4, resume=True))


def test_corrupt_images_are_skipped_and_counted(ellipsoids, tmp_path):
    copy = tmp_path / "coll"
    shutil.copytree(ellipsoids, copy)
    (copy / "images" / "0003.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")  # caught by the loader
    truncated = copy / "images" / "0007.png"  # a readable header, pixels cut off: caught when decoding
    truncated.write_bytes(truncated.read_bytes()[:200])
    result = train_recon(options(copy, tmp_path / "run", iters=2))
    assert result.skipped == {"unreadable_image": 2} and result.n_images == 14
    _, header = load_state(tmp_path / "run" / CHECKPOINT_NAME)
    assert header["skipped"] == {"unreadable_image": 2}


def _cli(capsys, *argv) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


def test_cli_pose_file_errors_are_one_line(ellipsoids, tmp_path, capsys):
    from training.poses import save_pose_file

    code, err = _cli(capsys, "recon", "--collection", str(ellipsoids), "--poses", str(tmp_path / "none.safetensors"),
                     "--out", str(tmp_path / "run"))
    assert code == 1 and err.startswith("error: pose file not found") and err.count("\n") == 1
    other = tmp_path / "other.safetensors"
    n = 3
    save_pose_file(other, ["x1", "x2", "x3"], np.tile([1.0, 0, 0, 0], (n, 1)), np.ones(n), np.zeros((n, 2)),
                   np.full(n, 2.0), np.ones((n, 1)), np.ones(n), np.ones(n), np.zeros(n), np.ones(n), ["car1"])
    code, err = _cli(capsys, "recon", "--collection", str(ellipsoids), "--poses", str(other),
                     "--out", str(tmp_path / "run"))
    assert code == 1 and "none of the 16 images" in err and err.count("\n") == 1
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    code, err = _cli(capsys, "recon", "--collection", str(ellipsoids), "--poses", str(tmp_path / "junk.safetensors"),
                     "--out", str(tmp_path / "run"))
    assert code == 1 and "not a usable pose file" in err and err.count("\n") == 1
    code, err = _cli(capsys, "recon", "--collection", str(tmp_path / "missing"), "--poses", "truth",
                     "--out", str(tmp_path / "run"))
    assert code == 1 and "not a folder" in err


def test_pose_file_estimates_drive_poses_and_templates(ellipsoids, tmp_path):
    """Estimated poses (here: the true ones written as a pose file, one image filtered out) train like truth."""
    from dataformat import load_collection
    from training.poses import save_pose_file
    from training.recon.poses import resolve_poses

    records = load_collection(ellipsoids, check="header").records
    n = len(records)
    kept = np.ones(n)
    kept[5] = 0
    path = save_pose_file(tmp_path / "poses.safetensors", [r.id for r in records], [r.pose.q for r in records],
                          [r.pose.s for r in records], [r.pose.t for r in records], np.full(n, np.nan),
                          np.tile([0.0, 1.0], (n, 1)), np.linspace(0.5, 0.9, n), np.ones(n), np.zeros(n), kept,
                          ["a", "b"])
    pose_set = resolve_poses(str(path), load_collection(ellipsoids, check="header"))
    assert len(pose_set.poses) == n - 1 and set(pose_set.template_index.values()) == {1}
    assert pose_set.poses[records[0].id].z0 is None
    with pytest.raises(RunError, match="template 1 but only 1"):
        train_recon(TrainOptions(collection=str(ellipsoids), poses=str(path), out=str(tmp_path / "run"),
                                 batch_size=8, iters=1, overrides=dict(TINY_TRAIN),
                                 network_overrides=dict(TINY_NETWORK)))
    templates = np.stack([uv_sphere(31).vertices] * 2)
    np.save(tmp_path / "templates.npy", templates)
    result = train_recon(TrainOptions(collection=str(ellipsoids), poses=str(path), out=str(tmp_path / "run"),
                                      batch_size=8, iters=2, template=str(tmp_path / "templates.npy"),
                                      overrides=dict(TINY_TRAIN), network_overrides=dict(TINY_NETWORK)))
    assert result.n_images == n - 1 and result.skipped == {"no_pose": 1}
