"""Command line for the training pipeline: ``python -m backend.train <group> <command> ...``.

Data commands (training/data, training/synth):

    python -m backend.train data synth --n 5000 --res 256 --out datasets/toycars [--workers 2] [--seed 0]
    python -m backend.train data check datasets/toycars [--limit 64] [--min-iou 0.95]
    python -m backend.train data info datasets/toycars
    python -m backend.train data sheet datasets/toycars --out toycars.png
    python -m backend.train data import cub --root CUB_200_2011 --cmr-root cub_cache --out datasets/cub_train

Training stages register their own groups from ``training/<stage>/cli.py`` (see ``STAGE_MODULES``):

    python -m backend.train gan --pseudogt DIR --out runs/NAME [--preset cpu|paper] [--resume]
    python -m backend.train recon pseudogt --from-truth --collection DIR --out DIR

A stage module defines ``register(subparsers) -> StageCommands``; a group may name a default command so that
``python -m backend.train recon --collection ...`` means ``recon train --collection ...``. This module only
parses arguments, calls the libraries and prints; errors are one line on stderr with a non-zero exit status.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time


def _add_data_commands(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="image collections: synthetic testbed, checks, summaries")
    data_sub = data.add_subparsers(dest="command", required=True)

    synth = data_sub.add_parser("synth", help="render a synthetic car collection with Blender (resumable)")
    synth.add_argument("--n", type=int, required=True, help="number of images")
    synth.add_argument("--res", type=int, default=256, help="image side in pixels (default 256)")
    synth.add_argument("--out", required=True, help="output folder (re-running resumes it)")
    synth.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 1)),
                       help="parallel Blender processes (default: number of CPUs)")
    synth.add_argument("--seed", type=int, default=0, help="run seed (default 0)")
    synth.add_argument("--samples", type=int, default=16, help="Cycles samples per pixel of the RGB pass (default 16)")
    synth.add_argument("--views-per-car", type=int, default=1, help="images per car (default 1)")
    synth.add_argument("--body-types", default=None, help="comma-separated subset of body types (default: all)")
    synth.add_argument("--backgrounds", default=None, help="comma-separated subset of plain,gradient,ground")
    synth.add_argument("--camera", choices=("orthographic", "perspective"), default="orthographic",
                       help="orthographic (exact poses, default) or perspective (pinhole; poses carry z0)")
    synth.add_argument("--focal", default=None,
                       help="perspective focal range MIN,MAX, normalised (lens / half sensor width; default 5,15)")
    synth.set_defaults(run=_run_synth)

    check = data_sub.add_parser("check", help="re-project true meshes with true poses through backend.render and "
                                              "compare with Blender's masks (IoU)")
    check.add_argument("path", help="a synthetic collection folder")
    check.add_argument("--limit", type=int, default=None, help="check only the first N records")
    check.add_argument("--min-iou", type=float, default=0.95, help="pass threshold per image (default 0.95)")
    check.add_argument("--json", action="store_true", help="print the full report as JSON")
    check.set_defaults(run=_run_check)

    imp = data_sub.add_parser("import", help="convert a local CUB / Pascal3D+ / ImageNet copy into a collection "
                                             "folder (images stay in place; masks are written as PNG)")
    imp.add_argument("dataset", choices=("cub", "p3d", "imagenet"))
    imp.add_argument("--out", required=True, help="collection folder to write")
    imp.add_argument("--root", required=True,
                     help="CUB_200_2011 folder, PASCAL3D+_release1.1 folder, or ImageNet root (images/<synset>/...)")
    imp.add_argument("--cmr-root", help="CMR cache folder with data/ and sfm/ (cub, p3d)")
    imp.add_argument("--split", default="train", help="CMR split (default train)")
    imp.add_argument("--category", default="car", help="p3d: car or aeroplane (default car)")
    imp.add_argument("--all-p3d", action="store_true", help="p3d: keep non-ImageNet images too")
    imp.add_argument("--classes", default=None, help="imagenet: comma-separated categories (default: all 12)")
    imp.add_argument("--no-filter", action="store_true", help="p3d / imagenet: disable the §1.1 instance filter")
    imp.set_defaults(run=_run_import)

    sheet = data_sub.add_parser("sheet", help="write a contact sheet PNG (crop, mask, parts) of a collection")
    sheet.add_argument("path")
    sheet.add_argument("--out", required=True, help="PNG to write")
    sheet.add_argument("--limit", type=int, default=32, help="records to draw (default 32)")
    sheet.add_argument("--tile", type=int, default=128, help="tile size in pixels (default 128)")
    sheet.set_defaults(run=_run_sheet)

    info = data_sub.add_parser("info", help="load a collection folder and summarise it (validates every file)")
    info.add_argument("path")
    info.add_argument("--check", choices=("full", "header", "none"), default="full")
    info.set_defaults(run=_run_info)


def _csv(value: str | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(v.strip() for v in value.split(",") if v.strip())


def _run_synth(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from training.synth import SynthConfig, synthesize

    kwargs = {}
    if args.body_types:
        kwargs["body_types"] = _csv(args.body_types)
    if args.backgrounds:
        kwargs["backgrounds"] = _csv(args.backgrounds)
    if args.focal:
        try:
            low, high = (float(v) for v in args.focal.split(","))
        except ValueError:
            raise ValueError(f"--focal must be two numbers MIN,MAX, got {args.focal!r}") from None
        kwargs["focal"] = (low, high)
    config = SynthConfig(seed=args.seed, camera=args.camera, resolution=args.res, samples=args.samples,
                         views_per_car=args.views_per_car, **kwargs)
    bar: list[tqdm] = []

    def on_start(todo: int, done: int) -> None:
        if done:
            print(f"resuming: {done} of {args.n} items already done", file=sys.stderr)
        bar.append(tqdm(total=todo, unit="img", desc="synth"))

    start = time.perf_counter()
    try:
        result = synthesize(args.out, args.n, config, workers=args.workers,
                            progress=lambda k: bar[0].update(k), on_start=on_start)
    finally:
        if bar:
            bar[0].close()
    wall = time.perf_counter() - start
    print(f"rendered {result.rendered}, reused {result.reused}, failed {result.n_failed} in {wall:.1f} s; "
          f"index: {result.index}")
    for item, error in result.failed.items():
        print(f"  failed {item}: {error}", file=sys.stderr)
    return 1 if result.n_failed else 0


def _run_check(args: argparse.Namespace) -> int:
    from training.synth.check import check_consistency

    report = check_consistency(args.path, limit=args.limit, min_iou=args.min_iou)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    print(report.summary())
    return 0 if report.passed else 1


def _run_import(args: argparse.Namespace) -> int:
    from dataformat import InstanceFilter, save_collection
    from training.data import load_cub, load_imagenet, load_p3d

    if args.dataset in ("cub", "p3d") and not args.cmr_root:
        raise ValueError(f"--cmr-root is required for {args.dataset} (the folder holding CMR's data/ and sfm/)")
    instance_filter = None if args.no_filter else InstanceFilter()
    if args.dataset == "cub":
        collection = load_cub(args.root, args.cmr_root, args.split)
    elif args.dataset == "p3d":
        collection = load_p3d(args.root, args.cmr_root, args.category, args.split, imagenet_only=not args.all_p3d,
                              instance_filter=instance_filter)
    else:
        collection = load_imagenet(args.root, list(_csv(args.classes)) if args.classes else None,
                                   instance_filter=instance_filter)
    index = save_collection(collection, args.out)
    print(collection.report.summary())
    print(f"wrote {len(collection.records)} records to {index}")
    return 0


def _run_sheet(args: argparse.Namespace) -> int:
    from dataformat import load_collection
    from training.data.contact_sheet import contact_sheet

    collection = load_collection(args.path, check="header")
    path = contact_sheet(collection.records[:args.limit], args.out, tile=args.tile)
    print(f"wrote {path} ({min(args.limit, len(collection.records))} records)")
    return 0


def _run_info(args: argparse.Namespace) -> int:
    from dataformat import load_collection

    collection = load_collection(args.path, check=args.check)
    print(collection.report.summary())
    for reason, examples in collection.report.examples.items():
        for example in examples:
            print(f"  {reason}: {example}")
    counts: dict[str, int] = {}
    for record in collection.records:
        counts[record.class_name] = counts.get(record.class_name, 0) + 1
    poses = sum(r.pose is not None for r in collection.records)
    parts = sum(r.parts_path is not None for r in collection.records)
    print(f"classes: {counts}; with pose: {poses}; with parts: {parts}")
    return 0


#: Stage modules, in pipeline order; each has ``register(subparsers)`` returning its ``StageCommands``.
STAGE_MODULES = (
    "training.templates.cli",
    "training.poses.cli",
    "training.recon.cli",
    "training.gan.cli",
    "training.pipeline.cli",
)


def _stage_modules():
    import importlib

    for name in STAGE_MODULES:
        try:
            yield importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and name.startswith(exc.name):
                continue  # that stage is not part of this checkout
            raise


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, tuple[str, set[str]]]]:
    """The parser and, per group with a default command, (default command, its command names)."""
    parser = argparse.ArgumentParser(prog="python -m backend.train", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log loader details")
    sub = parser.add_subparsers(dest="group", required=True)
    _add_data_commands(sub)
    defaults: dict[str, tuple[str, set[str]]] = {}
    for module in _stage_modules():
        commands = module.register(sub)
        if commands is not None and commands.default is not None:
            defaults[commands.group] = (commands.default, set(commands.commands))
    return parser, defaults


def _with_default_command(argv: list[str], defaults: dict[str, tuple[str, set[str]]]) -> list[str]:
    """Insert a group's default command when the user typed options right after the group name."""
    for i, word in enumerate(argv):
        if word.startswith("-"):
            continue  # global options such as -v
        if word in defaults:
            default, names = defaults[word]
            rest = argv[i + 1:]
            if not rest or (rest[0] not in names and rest[0] not in ("-h", "--help")):
                return argv[:i + 1] + [default] + rest
        return argv
    return argv


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser, defaults = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(_with_default_command(argv, defaults))
    # `kill` (SIGTERM) stops as cleanly as Ctrl-C: finished work is kept and indexed.
    signal.signal(signal.SIGTERM, _interrupt)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s")
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("interrupted; re-run the same command to resume", file=sys.stderr)
        return 130
    except (ValueError, RuntimeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
