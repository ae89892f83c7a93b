"""The whole pipeline as a list of stages, each one command of ``python -m backend.train`` (or ``fid.evaluate``).

A stage is done when its command exited 0 (recorded in ``RUN/pipeline.json``) and its output exists; a re-run skips
done stages and re-runs the others with ``--resume``, so an interrupted pipeline continues where it stopped.
Stages run as child processes: each keeps its own tqdm bar, its own one-line errors and its own memory.

Every stage with presets (poses, recon, gan) gets the pipeline's ``--preset``: the one asked for, else the one the
run started with (``pipeline.json``), else the device's (the stage contract's rule: ``paper`` on CUDA, ``cpu``
elsewhere; ``pipeline_preset``).
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from training.engine import atomic_write_json
from training.engine.stage import default_preset
from training.gan.config import PRESETS as GAN_PRESETS
from training.poses.config import PRESETS as POSE_PRESETS
from training.recon.config import PRESETS as RECON_PRESETS

#: The presets every stage of the pipeline has (the ``--preset`` choices).
PRESETS = [name for name in RECON_PRESETS if name in POSE_PRESETS and name in GAN_PRESETS]


@dataclass
class PipelineOptions:
    """What the user asked for. ``parts``: None = use part maps when the collection has them. ``preset``: None =
    ``pipeline_preset``'s choice. ``device``: the stages' ``--device`` (None: their default, CUDA when present)."""

    collection: Path
    out: Path
    preset: str | None = None
    parts: bool | None = None
    fid_collection: Path | None = None
    fid_samples: int = 500
    recon_iters: int | None = None
    gan_steps: int | None = None
    gan_minutes: float | None = None
    from_truth: bool = False
    device: str | None = None
    pose_workers: int = 1
    gan_augment: str | None = None
    gan_holdout: int = 0          # pseudo-GT items kept out of the GAN for its UV signals (0: none)
    gan_uv_every: int = 0         # UV signals every N GAN steps (needs gan_holdout; picks checkpoint_best)
    gan_fid_every: int = 1500     # rendered FID during the GAN every N steps (needs fid_collection; 0: only at the end)


@dataclass
class Stage:
    name: str
    argv: list[str]
    output: Path
    report: Path | None = None   # where the stage's figures land (JSON), if any

    def done(self, state: dict) -> bool:
        return state.get(self.name, {}).get("status") == "done" and self.output.exists()


@dataclass
class StageOutcome:
    name: str
    status: str          # done, skipped (already done), failed
    seconds: float = 0.0
    returncode: int = 0


def pipeline_preset(options: PipelineOptions, state: dict | None = None, device=None) -> str:
    """The preset passed down to every stage: ``options.preset``, else the one recorded in ``state`` (the run's
    pipeline.json), else the default of ``device`` (a torch.device or a device string; default
    ``options.device``): ``paper`` on CUDA, ``cpu`` elsewhere."""
    return (options.preset or (state or {}).get("preset")
            or default_preset(device if device is not None else options.device))


def plan(options: PipelineOptions) -> list[Stage]:
    """The stage list for ``options`` (paths inside the run folder)."""
    out, coll = options.out, str(options.collection)
    preset = pipeline_preset(options)
    device = ["--device", options.device] if options.device else []
    poses = out / "poses.safetensors"
    stages: list[Stage] = []
    features = "auto" if options.parts is None else ("parts" if options.parts else "appearance")
    if not options.from_truth:
        stages.append(Stage("poses", ["poses", "run", "--collection", coll, "--out", str(poses), "--preset",
                                      preset, "--features", features, "--resume",
                                      *(["--workers", str(options.pose_workers)] if options.pose_workers > 1
                                        else [])], poses))
        stages.append(Stage("pose_eval", ["poses", "eval", str(poses), "--collection", coll, "--json"],
                            out / "pose_eval.json", out / "pose_eval.json"))
        recon_iters = ["--iters", str(options.recon_iters)] if options.recon_iters else []
        stages.append(Stage("recon", ["recon", "train", "--collection", coll, "--poses", str(poses), "--out",
                                      str(out / "recon"), "--preset", preset, "--resume", *recon_iters,
                                      *device], out / "recon"))
        stages.append(Stage("pseudogt", ["pseudogt", "--from_run", str(out / "recon"), "--out", str(out / "pseudogt"),
                                         "--resume", "--no_fid_stats", *device], out / "pseudogt" / "pseudogt.json"))
    else:
        stages.append(Stage("pseudogt", ["pseudogt", "--from_truth", "--collection", coll, "--out",
                                         str(out / "pseudogt"), "--resume", "--no_fid_stats"],
                            out / "pseudogt" / "pseudogt.json"))
    gan = ["gan", "train", "--pseudogt", str(out / "pseudogt"), "--out", str(out / "gan"), "--preset",
           preset, "--resume", *device]
    if options.gan_steps:
        gan += ["--steps", str(options.gan_steps)]
    if options.gan_minutes:
        gan += ["--stop_after_minutes", str(options.gan_minutes)]
    if options.gan_augment:
        gan += ["--augment", options.gan_augment]
    if options.gan_holdout:
        gan += ["--holdout", str(options.gan_holdout)]
        if options.gan_uv_every:
            gan += ["--uv_every", str(options.gan_uv_every)]
    if options.fid_collection and options.gan_fid_every:
        gan += ["--fid_collection", str(options.fid_collection), "--fid_every", str(options.gan_fid_every),
                "--fid_samples", "300"]
    stages.append(Stage("gan", gan, out / "gan" / "generator_ema.safetensors"))
    if options.fid_collection:
        stages.append(Stage("fid", ["@fid", "--checkpoint", str(out / "gan" / "generator_ema.safetensors"),
                                    "--dataset", str(options.fid_collection), "--num_samples",
                                    str(options.fid_samples), "--report", str(out / "fid.json"), "--quiet",
                                    "--cache_dir", str(out / "fid_cache")],
                            out / "fid.json", out / "fid.json"))
    return stages


def _command(stage: Stage) -> list[str]:
    if stage.argv and stage.argv[0] == "@fid":
        return [sys.executable, "-m", "fid.evaluate", *stage.argv[1:]]
    return [sys.executable, "-m", "backend.train", *stage.argv]


def run_pipeline(options: PipelineOptions, on_event: Callable[[str], None] = lambda m: None,
                 device=None) -> list[StageOutcome]:
    """Run every stage not yet done, all with one preset (``pipeline_preset`` of ``device``, the torch.device the
    stages run on; recorded in pipeline.json); stop at the first failure. Returns one outcome per stage."""
    options.out.mkdir(parents=True, exist_ok=True)
    state_path = options.out / "pipeline.json"
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    options.preset = state["preset"] = pipeline_preset(options, state, device)
    on_event(f"preset {options.preset}")
    outcomes = []
    for stage in plan(options):
        if stage.done(state):
            outcomes.append(StageOutcome(stage.name, "skipped"))
            on_event(f"[{stage.name}] already done ({stage.output})")
            continue
        on_event(f"[{stage.name}] {' '.join(_command(stage)[1:])}")
        started = time.perf_counter()
        capture = stage.report is not None and stage.name == "pose_eval"
        proc = subprocess.run(_command(stage), stdout=subprocess.PIPE if capture else None, text=True)
        seconds = time.perf_counter() - started
        if capture and proc.returncode == 0:
            stage.report.write_text(_last_json(proc.stdout), encoding="utf-8")
        status = "done" if proc.returncode == 0 else "failed"
        state[stage.name] = {"status": status, "seconds": round(seconds, 1), "returncode": proc.returncode,
                             "command": _command(stage)[1:]}
        atomic_write_json(state_path, state)
        outcomes.append(StageOutcome(stage.name, status, seconds, proc.returncode))
        if status == "failed":
            on_event(f"[{stage.name}] failed (exit {proc.returncode}); fix the cause and re-run the same command "
                     f"to resume")
            break
    return outcomes


def _last_json(text: str) -> str:
    """The last JSON object printed by a command (its --json output)."""
    for start in [i for i, ch in enumerate(text) if ch == "{"]:
        try:
            json.loads(text[start:])
            return text[start:]
        except ValueError:
            continue
    return json.dumps({"output": text[-2000:]})
