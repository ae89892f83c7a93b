"""``python -m backend.train poses --collection DIR --out FILE`` (= ``poses run``), ``poses sheet``, ``poses eval``."""
from __future__ import annotations

import argparse
import sys

from backend.cli import StageCommands, add_flag, dataset_argument
from training.engine.stage import add_preset_flag
from training.poses.config import PRESETS

#: Flags that replace the preset's value of the PoseConfig field of the same name (None: not given).
OVERRIDE_FLAGS = ("step2_blur", "step2_asymmetry_weight", "step2_centroid_weight", "step2_filter", "step2_margin",
                  "semantic_rounds", "refine_steps", "refine_lr")


def register(subparsers: argparse._SubParsersAction) -> StageCommands:
    group = subparsers.add_parser("poses", help="pose estimation without keypoints (§5): run, sheet, eval")
    sub = group.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="estimate every image's pose from its mask (step 1 + step 2) [default]")
    add_flag(run, "--collection", required=True, type=dataset_argument,
             help="collection folder or a name under datasets/ (masks required; parts optional)")
    add_flag(run, "--out", required=True, help="pose file to write (.safetensors); step 1 goes next to it "
             "as <stem>.hypotheses.safetensors")
    add_flag(run, "--templates", default=None,
             help="template file or shipped name: car (single, default) or car3 (multi-template)")
    add_preset_flag(run, PRESETS, "paper: §5.2 numbers (100 steps, 128→192→256); cpu: fewer steps, lower "
                                  "resolutions")
    add_flag(run, "--features", choices=("auto", "parts", "appearance", "silhouette"), default="auto",
             help="step 2 on part maps, on Inception appearance features, or none (best IoU); "
                  "auto: parts when every record has them")
    add_flag(run, "--resume", action="store_true", help="continue step 1 from the hypotheses file's last batch")
    add_flag(run, "--hypotheses", default=None, help="step-1 file to use/write instead of the default path")
    add_flag(run, "--limit", type=int, default=None, help="only the first N records")
    add_flag(run, "--batch", type=int, default=None, help="images per batched render (preset default)")
    add_flag(run, "--workers", type=int, default=1,
             help="processes for step 1 (default 1); each uses one torch thread, so up to the number of cores")
    add_flag(run, "--threads", type=int, default=1,
             help="torch threads (default 1: the renderer's kernels are single-threaded and a second "
                  "torch thread mostly spins)")
    add_flag(run, "--steps", type=int, default=None,
             help="step-1 optimisation steps instead of the preset's (quick checks); lr decays at 80%%")
    add_flag(run, "--step2_blur", type=float, default=None,
             help="Gaussian σ in pixels applied to rendered and target maps before step 2's mIoU "
                  "(preset default)")
    add_flag(run, "--step2_asymmetry_weight", type=float, default=None,
             help="weight front/back-asymmetric channels (lights) 1 + A × asymmetry in step 2's mIoU "
                  "(preset default)")
    add_flag(run, "--step2_centroid_weight", type=float, default=None,
             help="step 2 scores mIoU - W × the distance between where each part lands in the render and where "
                  "it is in the image (0: mIoU alone, the spec; preset default)")
    add_flag(run, "--step2_filter", choices=("v_agr", "margin"), default=None,
             help="keep images whose hypotheses agree (v_agr, the spec) or whose best pose beats every pose on "
                  "the other side by --step2_margin (preset default)")
    add_flag(run, "--step2_margin", type=float, default=None,
             help="front/back score margin of the margin filter (preset default)")
    add_flag(run, "--semantic_rounds", type=int, default=None,
             help="times the semantic templates are built (1: the spec; preset default)")
    add_flag(run, "--refine_steps", type=int, default=None,
             help="step 2b: refine the chosen pose and its turned-around partner with N silhouette steps at the "
                  "final resolution, then let step 2's score choose again (0: off, the spec; preset default)")
    add_flag(run, "--refine_lr", type=float, default=None, help="learning rate of step 2b (preset default)")
    run.set_defaults(run=_run)
    sheet = sub.add_parser("sheet", help="contact sheet: image, mask, chosen template over the image")
    sheet.add_argument("poses", help="pose file")
    add_flag(sheet, "--collection", required=True, type=dataset_argument)
    add_flag(sheet, "--out", required=True, help="PNG to write")
    add_flag(sheet, "--templates", default=None, help="templates used for the run (default: as recorded)")
    add_flag(sheet, "--limit", type=int, default=24)
    add_flag(sheet, "--tile", type=int, default=128)
    add_flag(sheet, "--which", choices=("all", "kept", "dropped"), default="all")
    sheet.set_defaults(run=_run_sheet)
    ev = sub.add_parser("eval", help="errors against the collection's true poses (testbed, CMR)")
    ev.add_argument("poses", help="pose file")
    add_flag(ev, "--collection", required=True, type=dataset_argument)
    add_flag(ev, "--json", action="store_true", help="print the figures as JSON too")
    ev.set_defaults(run=_run_eval)
    return StageCommands("poses", ["run", "sheet", "eval"], "run")


def _templates_name(args, meta: dict | None = None) -> str:
    if args.templates:
        return args.templates
    return (meta or {}).get("templates", "car")


def _config(args: argparse.Namespace, device=None):
    """The run's preset name and PoseConfig: the preset (``paper`` on a CUDA ``device``, default this machine's,
    else ``cpu``) with the flags given merged in and checked (``training.engine.stage.resolve_preset``)."""
    from training.engine.stage import resolve_preset
    from training.poses.config import steps_overrides

    overrides = {"features": args.features, "batch_images": args.batch or None, **steps_overrides(args.steps or None),
                 **{name: getattr(args, name) for name in OVERRIDE_FLAGS}}
    return resolve_preset(PRESETS, args.preset, device, overrides, stage="pose")


def _run(args: argparse.Namespace) -> int:
    from dataformat import load_collection
    from training.engine.stage import TqdmEvents
    from training.poses.run import estimate_poses
    from training.templates import load_templates

    import torch

    torch.set_num_threads(max(1, args.threads))
    preset, config = _config(args)
    templates = load_templates(_templates_name(args))
    collection = load_collection(args.collection, check="header")
    if args.limit is not None:
        collection.records = collection.records[:args.limit]
    with TqdmEvents(labels={"step1": "poses step1", "step2": "poses step2", "refine": "poses step2b (refine)"},
                    units={"step1": "img", "step2": "img", "refine": "img"}) as events:
        result = estimate_poses(collection, args.out, config, templates, resume=args.resume,
                                hypotheses_file=args.hypotheses, events=events,
                                extra_meta={"templates": _templates_name(args)}, workers=max(1, args.workers))
    if collection.report.skipped:
        print(f"load: {collection.report.summary()}", file=sys.stderr)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    per_image = sum(result.cpu_seconds.values()) / max(result.fitted_now, 1) if result.fitted_now else None
    timing = (f"; CPU {result.cpu_seconds['step1']:.0f} s step 1 + {result.cpu_seconds['step2']:.0f} s step 2"
              + (f" ({per_image:.2f} s per image fitted now)" if per_image is not None else ""))
    print(f"{result.summary()}; preset {preset}; wrote {result.pose_file} and {result.hypotheses_file}{timing}")
    return 0


def _run_sheet(args: argparse.Namespace) -> int:
    from dataformat import load_collection
    from training.poses import load_pose_file
    from training.poses.sheet import pose_sheet
    from training.templates import load_templates

    poses = load_pose_file(args.poses)
    templates = load_templates(_templates_name(args, poses.meta))
    collection = load_collection(args.collection, check="header")
    path = pose_sheet(collection, poses, templates, args.out, args.limit, args.tile, args.which)
    print(f"wrote {path}")
    return 0


def _run_eval(args: argparse.Namespace) -> int:
    import json
    from dataclasses import asdict
    from pathlib import Path

    from dataformat import load_collection
    from training.poses import load_pose_file
    from training.poses.evaluate import evaluate_poses, silhouette_only

    poses = load_pose_file(args.poses)
    collection = load_collection(args.collection, check="header")
    features = poses.meta.get("features", "?")
    ev = evaluate_poses(poses, collection)
    report = {features: ev}
    hyp = poses.meta.get("hypotheses_file")
    if features != "silhouette" and hyp and Path(hyp).is_file():
        config = poses.meta.get("config", {})
        report["silhouette-only"] = evaluate_poses(silhouette_only(hyp, config.get("v_agr_threshold", 0.3),
                                                                   config.get("miou_percentile", 10.0)), collection)
    for label, value in report.items():
        for line in value.lines(label):
            print(line)
    if args.json:
        main = asdict(ev)
        if ev.kept is not None:
            main.update({k: main["kept"][k] for k in ("recall", "median_deg", "mean_deg", "flip_rate")})
        main["features"] = features
        if "silhouette-only" in report:
            main["silhouette_only"] = asdict(report["silhouette-only"])
        print(json.dumps(main, indent=2))
    return 0
