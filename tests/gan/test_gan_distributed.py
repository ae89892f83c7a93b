"""torchrun with 2 gloo processes computes what one process computes at the same global batch (§4.1, DDP).

Run in float64: in float32 the two agree within 1e-4 for the first steps, then drift, because Adam with beta1 = 0
turns gradients that cancel to float noise (the logit biases' hinge gradients sum to ~1e-7) into +-lr steps whose
sign is decided by summation order. In float64 that noise is far below Adam's eps, so any difference is a bug.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STEPS = 20


def _run(out: Path, pseudogt: Path, nproc: int, steps: int = STEPS, extra: tuple[str, ...] = ()) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    args = ["-m", "backend.train", "gan", "--pseudogt", str(pseudogt), "--out", str(out), "--preset", "tiny",
            "--steps", str(steps), "--batch_size", "4", "--log_every", "1", "--preview_every", "0",
            "--device", "cpu", "--float64", *extra]
    if nproc > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc),
               "--master_port", str(29500 + os.getpid() % 1000)] + args
    else:
        cmd = [sys.executable] + args
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_two_gloo_processes_match_one_process(tmp_path, tiny_pseudogt):
    single = _run(tmp_path / "one", tiny_pseudogt, 1)
    double = _run(tmp_path / "two", tiny_pseudogt, 2)
    assert [r["step"] for r in single] == [r["step"] for r in double] == list(range(1, STEPS + 1))
    compared = 0
    for a, b in zip(single, double):
        for key in ("d_real", "d_fake", "g", "flat"):
            if key in a:
                assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-6), (a["step"], key)
                compared += 1
    assert compared >= 2 * STEPS - 2
    # rank 0 alone wrote the run folder, and its checkpoint is the same model
    assert (tmp_path / "two" / "checkpoint_latest.safetensors").is_file()
    assert not list((tmp_path / "two").glob("*.partial"))


def test_two_gloo_processes_match_one_process_with_augmentation(tmp_path, tiny_pseudogt):
    """--augment draws over the global batch; each process takes its slice, so the losses still agree."""
    extra = ("--augment", "color,cutout")
    single = _run(tmp_path / "one", tiny_pseudogt, 1, steps=6, extra=extra)
    double = _run(tmp_path / "two", tiny_pseudogt, 2, steps=6, extra=extra)
    plain = _run(tmp_path / "plain", tiny_pseudogt, 1, steps=6)
    for a, b in zip(single, double):
        for key in ("d_real", "d_fake", "g"):
            if key in a:
                assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-6), (a["step"], key)
    assert single[0]["g"] != plain[0]["g"]        # the augmentation was on
