"""``python -m backend.train pipeline``: poses -> reconstruction -> pseudo-GT -> GAN -> FID in one command.

    python -m backend.train pipeline --collection DIR --out runs/NAME [--preset cpu|paper] [--parts|--no_parts]
        [--fid_collection HELDOUT] [--gan_minutes N] [--from_truth] [--pose_workers N] [--gan_augment OPS]
        [--gan_holdout N --gan_uv_every K] [--gan_fid_every K]

Each stage is skipped when its output is already there and resumed when it was interrupted; the end prints a
summary table and writes RUN/report.md with the pictures.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from backend.cli import StageCommands, add_device_argument, add_flag, dataset_argument, device_from_args
from training.engine.stage import add_preset_flag
from training.pipeline.stages import PRESETS


def register(sub: argparse._SubParsersAction) -> StageCommands:
    parser = sub.add_parser("pipeline", help="the whole pipeline on a collection (resumable, stage by stage)")
    psub = parser.add_subparsers(dest="command", required=True)
    run = psub.add_parser("run", help="run (the default)")
    add_flag(run, "--collection", required=True, type=dataset_argument,
             help="training collection: a folder or a name under datasets/ (masks; parts optional)")
    add_flag(run, "--out", required=True, help="run folder (keep it outside the checkout)")
    add_preset_flag(run, PRESETS, "every stage's preset; a resumed run keeps the one it started with")
    parts = run.add_mutually_exclusive_group()
    add_flag(parts, "--parts", dest="parts", action="store_true", default=None,
             help="resolve poses with part maps (default when the collection has them)")
    add_flag(parts, "--no_parts", dest="parts", action="store_false",
             help="appearance features instead of part maps")
    add_flag(run, "--fid_collection", default=None, type=dataset_argument, help="held-out collection for FID")
    add_flag(run, "--fid_samples", type=int, default=500)
    add_flag(run, "--recon_iters", type=int, default=None)
    add_flag(run, "--gan_steps", type=int, default=None)
    add_flag(run, "--gan_minutes", type=float, default=None,
             help="stop the GAN after N minutes (it resumes on the next run)")
    add_flag(run, "--pose_workers", type=int, default=1, help="processes for the pose stage's step 1")
    add_flag(run, "--gan_augment", default=None,
             help="the GAN's --augment (e.g. color,cutout; not in the paper)")
    add_flag(run, "--gan_holdout", type=int, default=0,
             help="pseudo-GT items kept out of the GAN for its UV signals (the GAN's --holdout)")
    add_flag(run, "--gan_uv_every", type=int, default=0,
             help="UV signals every N GAN steps, which pick checkpoint_best (needs --gan_holdout)")
    add_flag(run, "--gan_fid_every", type=int, default=1500,
             help="rendered FID during the GAN every N steps (needs --fid_collection; 0: only the final FID)")
    add_flag(run, "--from_truth", action="store_true",
             help="testbed only: skip poses and reconstruction, pseudo-GT from true meshes and poses")
    add_device_argument(run, default=None)
    run.set_defaults(run=_run)
    report = psub.add_parser("report", help="rewrite RUN/report.md from what the run folder holds")
    report.add_argument("out")
    report.set_defaults(run=_report)
    return StageCommands(group="pipeline", commands=["run", "report"], default="run")


def _run(args: argparse.Namespace) -> int:
    from .report import summary_rows, write_report
    from .stages import PipelineOptions, run_pipeline

    options = PipelineOptions(
        collection=Path(args.collection), out=Path(args.out), preset=args.preset, parts=args.parts,
        fid_collection=Path(args.fid_collection) if args.fid_collection else None, fid_samples=args.fid_samples,
        recon_iters=args.recon_iters, gan_steps=args.gan_steps, gan_minutes=args.gan_minutes,
        from_truth=args.from_truth, device=args.device, pose_workers=max(1, args.pose_workers),
        gan_augment=args.gan_augment, gan_holdout=max(0, args.gan_holdout), gan_uv_every=max(0, args.gan_uv_every),
        gan_fid_every=max(0, args.gan_fid_every))
    if options.gan_uv_every and not options.gan_holdout:
        print("--gan_uv_every needs --gan_holdout N (the items the UV signals compare with)", file=sys.stderr)
        return 2
    outcomes = run_pipeline(options, on_event=lambda m: print(m, file=sys.stderr, flush=True),
                            device=device_from_args(args))
    report = write_report(options.out)
    width = max(len(a) for a, _ in summary_rows(options.out) or [("", "")])
    for figure, value in summary_rows(options.out):
        print(f"{figure:<{width}}  {value}")
    print(f"report: {report}")
    return 0 if all(o.status != "failed" for o in outcomes) else 1


def _report(args: argparse.Namespace) -> int:
    from .report import write_report

    print(f"report: {write_report(Path(args.out))}")
    return 0
