"""``python -m backend.train recon [train|evaluate|pseudogt] ...``: argument parsing and printing only.

    recon [train] --collection DIR --poses FILE|truth --out runs/NAME [--iters N] [--preset cpu|paper] [--resume]
    recon evaluate runs/NAME --collection HELDOUT [--poses FILE|truth] [--out DIR]
    recon pseudogt runs/NAME --out DIR [--collection DIR] [--poses FILE|truth]   # alias of `pseudogt --from_run`
    recon pseudogt --from_truth --collection DIR --out DIR                     # alias of `pseudogt --from_truth`

``recon pseudogt`` is the older name of ``backend.train pseudogt`` (training/pseudogt/cli.py), kept as an alias.

Flags use the original's snake_case; the dashed spellings (``--batch-size``, ``--from-truth``) are accepted too.
"""
from __future__ import annotations

import argparse

from backend.cli import StageCommands, add_device_argument, add_flag, dataset_argument, device_from_args
from training.engine.stage import add_preset_flag
from training.pseudogt.cli import add_export_arguments
from training.recon.config import PRESETS

COMMANDS = ["train", "evaluate", "pseudogt"]


def register(subparsers: argparse._SubParsersAction) -> StageCommands:
    recon = subparsers.add_parser("recon", help="mesh-reconstruction network: train, evaluate (and pseudogt, the "
                                                "older name of `backend.train pseudogt`)")
    sub = recon.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train (or --resume) a reconstruction run (the default command)")
    add_flag(train, "--collection", required=True, type=dataset_argument,
             help="collection folder or a name under datasets/ (backend.train data ...)")
    add_flag(train, "--poses", required=True, help="pose file of `backend.train poses`, or 'truth' for a "
             "synthetic collection's true poses")
    add_flag(train, "--out", required=True, help="run folder, e.g. runs/NAME")
    add_preset_flag(train, PRESETS, "cpu: 128² input, 64² texture, half width, batch 16; paper: §3.3/§4.3; a resume "
                                    "without it continues with the run's own")
    add_flag(train, "--iters", type=int, default=None, help="total iterations (default: the preset's)")
    add_flag(train, "--batch_size", type=int, default=None, help="images per iteration (default: the preset's)")
    add_flag(train, "--lr", type=float, default=None, help="Adam learning rate (default 1e-4)")
    add_flag(train, "--template", default=None,
             help="semi-supervision templates (.npy/.npz/.safetensors, (T, 962, 3)); default: the sphere "
                  "scaled to a typical car")
    add_flag(train, "--resume", action="store_true", help="continue the run in --out from its checkpoint")
    add_flag(train, "--limit", type=int, default=None, help="use only the first N images")
    add_flag(train, "--workers", type=int, default=2, help="image-decoding threads (default 2)")
    add_flag(train, "--checkpoint_every", type=int, default=None, help="iterations between checkpoints")
    add_flag(train, "--preview_every", type=int, default=None, help="iterations between preview images")
    add_device_argument(train)
    train.set_defaults(run=_run_train)

    evaluate = sub.add_parser("evaluate", help="IoU, Chamfer and texture PSNR against a testbed's truth; "
                                               "contact sheet")
    evaluate.add_argument("run_dir", help="a recon run folder or checkpoint (.safetensors / original .pth)")
    add_flag(evaluate, "--collection", required=True, type=dataset_argument, help="held-out synthetic collection")
    add_flag(evaluate, "--poses", default="truth", help="pose file for the held-out images, or 'truth'")
    add_flag(evaluate, "--out", default=None, help="folder for report.json and contact_sheet.png "
             "(default: RUN/eval_<collection>)")
    add_flag(evaluate, "--limit", type=int, default=None, help="evaluate only the first N images")
    add_flag(evaluate, "--batch_size", type=int, default=16)
    add_flag(evaluate, "--sheet", type=int, default=8, help="rows of the contact sheet (default 8)")
    add_device_argument(evaluate)
    evaluate.set_defaults(run=_run_evaluate)

    pseudogt = sub.add_parser("pseudogt", help="the older name of `backend.train pseudogt` (same flags; "
                                               "RUN may be given without --from_run)")
    add_export_arguments(pseudogt, alias=True)
    return StageCommands(group="recon", commands=COMMANDS, default="train")


def _device(args: argparse.Namespace) -> str:
    return str(device_from_args(args))


def _run_train(args: argparse.Namespace) -> int:
    from training.engine.stage import TqdmEvents
    from training.recon.train import TrainOptions, train_recon

    overrides = {k: v for k, v in (("lr", args.lr), ("checkpoint_every", args.checkpoint_every),
                                   ("preview_every", args.preview_every)) if v is not None}
    options = TrainOptions(collection=args.collection, poses=args.poses, out=args.out, preset=args.preset,
                           iters=args.iters, batch_size=args.batch_size, resume=args.resume,
                           template=args.template, limit=args.limit, device=_device(args), workers=args.workers,
                           overrides=overrides)
    with TqdmEvents(labels={"load": "loading", "train": "recon"}, units={"load": "img", "train": "it"}) as events:
        result = train_recon(options, events)
    losses = ", ".join(f"{k} {v:.4f}" for k, v in result.losses.items())
    skipped = f"; skipped {result.skipped}" if result.skipped else ""
    print(f"iteration {result.iteration} on {result.n_images} images ({losses}){skipped}; "
          f"checkpoint: {result.checkpoint}")
    return 0


def _run_evaluate(args: argparse.Namespace) -> int:
    from training.engine.stage import TqdmEvents
    from training.recon.evaluate import evaluate_run

    with TqdmEvents(units={"evaluate": "img"}) as events:
        report = evaluate_run(args.run_dir, args.collection, poses=args.poses, out=args.out, limit=args.limit,
                              batch_size=args.batch_size, sheet_rows=args.sheet, device=_device(args),
                              events=events)
    print(report.summary())
    print(f"report: {report.path}; contact sheet: {report.sheet}")
    return 0

