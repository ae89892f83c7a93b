"""``python -m backend.train data ...``: image collections (argument parsing and printing only; the work is in
``training.synth``, ``training.data`` and ``dataformat``)::

    python -m backend.train data synth --n 5000 --res 256 --out datasets/toycars [--workers 2] [--seed 0]
    python -m backend.train data check datasets/toycars [--limit 64] [--min_iou 0.95]
    python -m backend.train data info datasets/toycars
    python -m backend.train data sheet datasets/toycars --out toycars.png
    python -m backend.train data import cub --root CUB_200_2011 --cmr_root cub_cache --out datasets/cub_train
    python -m backend.train data import upstream --cache cache/imagenet_car --images . --out datasets/imagenet_car
    python -m backend.train data masks --images photos/ --model yolov8x-seg.onnx --class car --out datasets/mine

Flags use the original's snake_case; the dashed spellings (``--views-per-car``) are accepted too.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

from backend.cli import StageCommands, add_device_argument, add_flag, dataset_argument, device_from_args


def register(sub: argparse._SubParsersAction) -> StageCommands:
    data = sub.add_parser("data", help="image collections: synthetic testbed, imports, checks, summaries")
    data_sub = data.add_subparsers(dest="command", required=True)

    synth = data_sub.add_parser("synth", help="render a synthetic car collection with Blender (resumable)")
    add_flag(synth, "--n", type=int, required=True, help="number of images")
    add_flag(synth, "--res", type=int, default=256, help="image side in pixels (default 256)")
    add_flag(synth, "--out", required=True, help="output folder (re-running resumes it)")
    add_flag(synth, "--workers", type=int, default=max(1, (os.cpu_count() or 1)),
             help="parallel Blender processes (default: number of CPUs)")
    add_flag(synth, "--seed", type=int, default=0, help="run seed (default 0)")
    add_flag(synth, "--samples", type=int, default=16, help="Cycles samples per pixel of the RGB pass (default 16)")
    add_flag(synth, "--views_per_car", type=int, default=1, help="images per car (default 1)")
    add_flag(synth, "--body_types", default=None, help="comma-separated subset of body types (default: all)")
    add_flag(synth, "--backgrounds", default=None, help="comma-separated subset of plain,gradient,ground")
    add_flag(synth, "--camera", choices=("orthographic", "perspective"), default="orthographic",
             help="orthographic (exact poses, default) or perspective (pinhole; poses carry z0)")
    add_flag(synth, "--focal", default=None,
             help="perspective focal range MIN,MAX, normalised (lens / half sensor width; default 5,15)")
    synth.set_defaults(run=_run_synth)

    check = data_sub.add_parser("check", help="re-project true meshes with true poses through backend.render and "
                                              "compare with Blender's masks (IoU)")
    check.add_argument("path", type=dataset_argument, help="a synthetic collection folder (or a name under datasets/)")
    add_flag(check, "--limit", type=int, default=None, help="check only the first N records")
    add_flag(check, "--min_iou", type=float, default=0.95, help="pass threshold per image (default 0.95)")
    add_flag(check, "--json", action="store_true", help="print the full report as JSON")
    check.set_defaults(run=_run_check)

    imp = data_sub.add_parser("import", help="convert a local CUB / Pascal3D+ / ImageNet copy, or the original "
                                             "release's cache/<dataset> folder (upstream), into a collection folder "
                                             "(images stay in place; masks are written as PNG)")
    imp.add_argument("dataset", choices=("cub", "p3d", "imagenet", "upstream"))
    add_flag(imp, "--out", required=True, help="collection folder to write")
    add_flag(imp, "--root", default=None,
             help="CUB_200_2011 folder, PASCAL3D+_release1.1 folder, or ImageNet root (images/<synset>/...)")
    add_flag(imp, "--cache", default=None, help="upstream: the original's cache/<dataset> folder")
    add_flag(imp, "--images", default=None,
             help="upstream: the folder the original's image paths start in (its checkout, or datasets/...)")
    add_flag(imp, "--mode", default=None, choices=("singletpl", "multitpl"),
             help="upstream: import only this mode's poses / pseudo-GT / templates (default: every mode found)")
    add_flag(imp, "--templates", default=None,
             help="upstream: the original's cache/remeshed_templates (default: beside --cache)")
    add_flag(imp, "--sphere_obj", default=None,
             help="upstream: the original's mesh_templates/uvsphere_31rings.obj, for the templates' vertex order "
                  "(default: <cat>_templates.obj beside each .pth)")
    add_flag(imp, "--no_pseudogt", action="store_true", help="upstream: skip the pseudo-GT items")
    add_flag(imp, "--cmr_root", help="CMR cache folder with data/ and sfm/ (cub, p3d)")
    add_flag(imp, "--split", default="train", help="CMR split (default train)")
    add_flag(imp, "--category", default="car", help="p3d: car or aeroplane (default car)")
    add_flag(imp, "--all_p3d", action="store_true", help="p3d: keep non-ImageNet images too")
    add_flag(imp, "--classes", default=None, help="imagenet: comma-separated categories (default: all 12)")
    add_flag(imp, "--no_filter", action="store_true", help="p3d / imagenet: disable the §1.1 instance filter")
    imp.set_defaults(run=_run_import)

    masks = data_sub.add_parser("masks", help="instance masks for your own photos from a COCO instance-segmentation "
                                              "model exported to ONNX (YOLO-seg or Mask R-CNN layout; "
                                              "docs/datasets.md), filtered as in §1.1, written as a collection")
    add_flag(masks, "--images", required=True, help="folder of photos (searched one sub-folder level deep)")
    add_flag(masks, "--model", required=True, help="the segmentation model (.onnx)")
    add_flag(masks, "--class", dest="class_name", required=True, help="COCO class to keep (car, airplane, bird...)")
    add_flag(masks, "--out", required=True, help="collection folder to write")
    add_flag(masks, "--threshold", type=float, default=None,
             help="detection score threshold (default 0.9, the paper's; YOLO scores run lower: try 0.5)")
    add_flag(masks, "--layout", default="auto", choices=("auto", "yolo-seg", "maskrcnn"),
             help="the model's input/output layout (default: recognised from the model)")
    add_flag(masks, "--no_filter", action="store_true", help="keep every instance (no §1.1 size/truncation/"
                                                             "collision filter)")
    add_device_argument(masks)
    masks.set_defaults(run=_run_masks)

    sheet = data_sub.add_parser("sheet", help="write a contact sheet PNG (crop, mask, parts) of a collection")
    sheet.add_argument("path", type=dataset_argument, help="a collection folder (or a name under datasets/)")
    add_flag(sheet, "--out", required=True, help="PNG to write")
    add_flag(sheet, "--limit", type=int, default=32, help="records to draw (default 32)")
    add_flag(sheet, "--tile", type=int, default=128, help="tile size in pixels (default 128)")
    sheet.set_defaults(run=_run_sheet)

    info = data_sub.add_parser("info", help="load a collection folder and summarise it (validates every file)")
    info.add_argument("path", type=dataset_argument, help="a collection folder (or a name under datasets/)")
    add_flag(info, "--check", choices=("full", "header", "none"), default="full")
    info.set_defaults(run=_run_info)
    return StageCommands("data", ["synth", "check", "import", "masks", "sheet", "info"], None)


def _csv(value: str | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(v.strip() for v in value.split(",") if v.strip())


def _run_synth(args: argparse.Namespace) -> int:
    from training.engine.stage import TqdmEvents
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
    start = time.perf_counter()
    with TqdmEvents(units={"synth": "img"}) as events:
        result = synthesize(args.out, args.n, config, workers=args.workers, events=events)
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

    from .cub import load_cub
    from .imagenet import load_imagenet
    from .pascal3d import load_p3d

    if args.dataset == "upstream":
        return _run_import_upstream(args)
    if not args.root:
        raise ValueError(f"--root is required for {args.dataset}")
    if args.dataset in ("cub", "p3d") and not args.cmr_root:
        raise ValueError(f"--cmr_root is required for {args.dataset} (the folder holding CMR's data/ and sfm/)")
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


def _run_import_upstream(args: argparse.Namespace) -> int:
    from .upstream import REPORT_NAME, import_upstream

    if not args.cache or not args.images:
        raise ValueError("data import upstream needs --cache (the original's cache/<dataset>) and --images (the "
                         "folder its image paths start in)")
    result = import_upstream(args.cache, args.images, args.out, modes=[args.mode] if args.mode else None,
                             templates_root=args.templates, sphere_obj=args.sphere_obj,
                             pseudogt=not args.no_pseudogt, progress=print)
    for name, path in result.written.items():
        print(f"  {name}: {path}")
    print(f"report: {result.out / REPORT_NAME} ({len(result.problems)} problem(s))")
    return 0


def _run_masks(args: argparse.Namespace) -> int:
    from .masks import NoInstanceError, make_masks

    device = device_from_args(args).type  # CUDA runs with onnxruntime-gpu; "auto" falls back to the CPU without it
    try:
        result = make_masks(args.images, args.model, args.class_name, args.out, threshold=args.threshold,
                            layout=args.layout, instance_filter=not args.no_filter,
                            device=device if args.device != "auto" else f"auto-{device}", progress=print)
    except NoInstanceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(result.summary())
    return 0


def _run_sheet(args: argparse.Namespace) -> int:
    from dataformat import load_collection

    from .contact_sheet import contact_sheet

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
