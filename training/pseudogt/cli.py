"""``python -m backend.train pseudogt``: export pseudo-ground-truth (§1.3, stage 4); parsing and printing only.

    pseudogt --from_run runs/NAME --out DIR [--collection DIR] [--poses FILE|truth] [--texture_resolution T]
        [--resume] [--no_fid_stats]
    pseudogt --from_truth --collection DIR --out DIR [--texture_resolution T] [--no_fid_stats]

``--from_run`` projects a collection's images through a reconstruction run's predicted meshes (``from_run.py``);
``--from_truth`` uses a synthetic collection's true meshes and poses (``from_truth.py``). Both write the folder of
``format.py`` and, unless ``--no_fid_stats``, the real images' FID statistics beside it (``fid_stats.py``).

``recon pseudogt`` is the older name of this command, kept as an alias with the same flags (``recon pseudogt RUN``
means ``pseudogt --from_run RUN``): ``training/recon/cli.py`` registers it with :func:`add_export_arguments`.
Flags use the original's snake_case; the dashed spellings (``--from-truth``) are accepted too.
"""
from __future__ import annotations

import argparse

from backend.cli import StageCommands, add_device_argument, add_flag, dataset_argument, device_from_args

HELP = ("export pseudo-ground-truth (partial UV textures with visibility, displacement and part maps) for GAN "
        "training, from a reconstruction run or a synthetic collection's truth")


def register(subparsers: argparse._SubParsersAction) -> StageCommands:
    parser = subparsers.add_parser("pseudogt", help=HELP)
    add_export_arguments(parser)
    return StageCommands(group="pseudogt")


def add_export_arguments(parser: argparse.ArgumentParser, alias: bool = False) -> None:
    """The export's flags on ``parser``, which then runs :func:`run_export`.

    alias: the ``recon pseudogt`` spelling, where the run may also be given as a positional argument, so neither
    ``--from_run`` nor ``--from_truth`` is required by the parser (``run_export`` says what is missing).
    """
    source = parser.add_mutually_exclusive_group(required=not alias)
    add_flag(source, "--from_run", default=None, metavar="RUN",
             help="a recon run folder or checkpoint (.safetensors / original .pth) whose meshes the images are "
                  "projected through")
    add_flag(source, "--from_truth", action="store_true",
             help="build the files from a synthetic collection's true meshes and poses (no run; needs --collection)")
    if alias:
        parser.add_argument("run_dir", nargs="?", default=None, help="a recon run folder or checkpoint "
                                                                     "(the same as --from_run RUN)")
    add_flag(parser, "--out", required=True, help="pseudo-GT folder to write")
    add_flag(parser, "--collection", default=None, type=dataset_argument,
             help="collection (--from_run: default the run's; --from_truth: required)")
    add_flag(parser, "--poses", default=None, help="--from_run: pose file or 'truth' (default: the run's)")
    add_flag(parser, "--texture_resolution", type=int, default=None,
             help="pseudo-GT texture side (--from_run: 512 for paper runs, 128 for cpu runs; --from_truth: 128)")
    add_flag(parser, "--batch_size", type=int, default=16)
    add_flag(parser, "--limit", type=int, default=None, help="export only the first N images")
    add_flag(parser, "--resume", action="store_true",
             help="keep files already written in --out (--from_truth always does)")
    add_flag(parser, "--no_fid_stats", action="store_true",
             help="skip the real images' Inception statistics (precomputed_fid_299x299.npz)")
    add_device_argument(parser)
    parser.set_defaults(run=run_export)


def _run_source(args: argparse.Namespace) -> "str | None":
    """The run to export from (``--from_run`` or the alias's positional RUN), None for ``--from_truth``."""
    positional = getattr(args, "run_dir", None)
    if positional is not None and args.from_run is not None:
        raise ValueError("give the run once: either RUN or --from_run RUN")
    run = args.from_run or positional
    if args.from_truth and run is not None:
        raise ValueError("--from_truth builds pseudo-GT without a run; drop the run folder argument")
    if not args.from_truth and run is None:
        raise ValueError("pass a recon run folder (pseudogt --from_run runs/NAME --out DIR) or --from_truth")
    return run


def run_export(args: argparse.Namespace) -> int:
    from training.engine.stage import TqdmEvents

    run = _run_source(args)
    if run is None and args.collection is None:
        raise ValueError("--from_truth needs --collection (a synthetic collection with true meshes)")
    common = dict(batch_size=args.batch_size, limit=args.limit, fid_stats=not args.no_fid_stats, fid_progress=True)
    label = "pseudo-GT" if run is not None else "pseudo-GT (truth)"
    with TqdmEvents(labels={"export": label}, units={"export": "img"}) as events:
        if run is not None:
            from .from_run import export_from_run

            summary = export_from_run(run, args.out, collection=args.collection, poses=args.poses,
                                      texture_resolution=args.texture_resolution, resume=args.resume,
                                      device=str(device_from_args(args)), events=events, **common)
        else:
            from .from_truth import export_from_truth

            summary = export_from_truth(args.collection, args.out, texture_resolution=args.texture_resolution or 128,
                                        events=events, **common)
    print(summary.line())
    return 0
