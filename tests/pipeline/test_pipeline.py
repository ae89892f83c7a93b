"""``backend.train pipeline``: stages run as real child processes, done stages are skipped, a report is written."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from training.synth import SynthConfig, synthesize

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    out = tmp_path_factory.mktemp("toycars_pipeline")
    synthesize(out, 16, SynthConfig(seed=21, resolution=64, samples=2), workers=2)
    return out


def _pipeline(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "backend.train", "pipeline", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)


def test_from_truth_pipeline_runs_skips_done_stages_and_reports(tmp_path, collection):
    out = tmp_path / "run"
    args = ["--collection", str(collection), "--out", str(out), "--from_truth", "--gan_steps", "3",
            "--fid_collection", str(collection), "--fid_samples", "8"]
    first = _pipeline(*args)
    assert first.returncode == 0, first.stderr[-3000:]
    state = json.loads((out / "pipeline.json").read_text())
    assert [state[s]["status"] for s in ("pseudogt", "gan", "fid")] == ["done"] * 3
    assert (out / "gan" / "generator_ema.safetensors").is_file()
    fid = json.loads((out / "fid.json").read_text())
    assert fid["fid"] > 0
    report = (out / "report.md").read_text()
    assert "final FID / KID" in report and "gan/samples.png" in report
    second = _pipeline(*args)
    assert second.returncode == 0, second.stderr[-3000:]
    assert second.stderr.count("already done") == 3


def test_plan_passes_pose_workers_and_gan_augment_to_their_stages(tmp_path):
    from training.pipeline.stages import PipelineOptions, plan

    stages = {s.name: s.argv for s in plan(PipelineOptions(collection=tmp_path / "c", out=tmp_path / "r",
                                                            pose_workers=2, gan_augment="color,cutout"))}
    assert stages["poses"][-2:] == ["--workers", "2"]
    assert stages["gan"][stages["gan"].index("--augment") + 1] == "color,cutout"
    plain = {s.name: s.argv for s in plan(PipelineOptions(collection=tmp_path / "c", out=tmp_path / "r"))}
    assert "--workers" not in plain["poses"] and "--augment" not in plain["gan"]


def test_plan_passes_the_gan_holdout_uv_and_fid_intervals(tmp_path):
    from training.pipeline.stages import PipelineOptions, plan

    def gan_argv(**kw):
        return next(s.argv for s in plan(PipelineOptions(collection=tmp_path / "c", out=tmp_path / "r", **kw))
                    if s.name == "gan")

    argv = gan_argv(gan_holdout=200, gan_uv_every=1000, fid_collection=tmp_path / "h", gan_fid_every=4000)
    assert argv[argv.index("--holdout") + 1] == "200" and argv[argv.index("--uv_every") + 1] == "1000"
    assert argv[argv.index("--fid_every") + 1] == "4000"
    only_final = gan_argv(fid_collection=tmp_path / "h", gan_fid_every=0)
    assert "--fid_every" not in only_final and "--holdout" not in only_final
    assert "--fid_every" in gan_argv(fid_collection=tmp_path / "h")


@pytest.mark.parametrize("from_truth", [False, True])
def test_every_planned_stage_is_a_command_backend_train_parses(tmp_path, from_truth):
    from backend.train import _with_default_command, build_parser
    from training.pipeline.stages import PipelineOptions, plan

    parser, defaults = build_parser()
    stages = plan(PipelineOptions(collection=tmp_path / "c", out=tmp_path / "r", from_truth=from_truth,
                                  fid_collection=tmp_path / "h", device="cpu"))
    for stage in stages:
        if stage.argv[0] != "@fid":
            assert callable(parser.parse_args(_with_default_command(stage.argv, defaults)).run), stage.argv
    pseudogt = next(s for s in stages if s.name == "pseudogt").argv
    assert pseudogt[:2] == (["pseudogt", "--from_truth"] if from_truth else ["pseudogt", "--from_run"])
