"""scripts/device_check.py, the prepared GPU run, exercised end to end on the CPU in its --quick form.

On a machine without a GPU the "device" is the CPU itself, so the script's comparisons become self-comparisons;
what this test guards is that every section runs the project's real code paths (generator, GAN steps, renderer,
a real server process over ZeroMQ) and writes the report a GPU session will read.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "device_check.py"


def _run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def test_quick_run_on_cpu_writes_every_section(tmp_path):
    result = _run("--out", str(tmp_path), "--device", "cpu", "--quick")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((tmp_path / "device_check.json").read_text())
    assert report["device"] == "cpu" and report["quick"] is True
    for name in ("env", "generator", "gan", "render", "server"):
        assert "error" not in report[name], report[name]
    assert report["env"]["torch"] == torch.__version__
    (row,) = report["generator"]["rows"]
    assert row["config"] == "small" and row["device_fp32_s_per_sample"] > 0
    assert row["device_fp32_max_texture_diff_vs_cpu"] == 0.0  # the same computation on the same device
    (gan,) = report["gan"]["rows"]
    assert gan["preset"] == "tiny" and gan["g_step_s"] > 0 and gan["d_step_s"] > 0
    assert all(math.isfinite(v) for v in report["gan"]["tiny_losses"]["cpu"].values())
    assert {"d_real", "d_fake", "g", "flat"} <= set(report["gan"]["tiny_losses"]["cpu"])
    assert report["render"]["rows"][0]["forward_s"] > 0
    server = report["server"]
    assert server["count"] == 4 and server["all_meshes_s"] >= server["first_mesh_s"] > 0
    assert server["max_vertex_diff_vs_cpu"] < 1e-5 and server["max_texture_level_diff_vs_cpu"] <= 1


def test_a_failing_section_is_recorded_and_the_rest_still_run(tmp_path):
    # A file where the script needs its scratch folder: the GAN section cannot write its pseudo-GT.
    (tmp_path / "work").write_text("not a folder")
    result = _run("--out", str(tmp_path), "--device", "cpu", "--quick", "--sections", "env,gan")
    assert result.returncode == 1
    assert "sections failed: gan" in result.stdout
    report = json.loads((tmp_path / "device_check.json").read_text())
    assert "error" not in report["env"] and "error" in report["gan"]


def test_bad_arguments_are_one_line_errors(tmp_path):
    unknown = _run("--out", str(tmp_path), "--sections", "env,warp_drive")
    assert unknown.returncode == 2 and "unknown sections warp_drive" in unknown.stderr
    if not torch.cuda.is_available():
        no_gpu = _run("--out", str(tmp_path), "--device", "cuda")
        assert no_gpu.returncode == 1
        assert no_gpu.stderr.strip() == "error: CUDA was requested but no GPU is available; use --device cpu"
