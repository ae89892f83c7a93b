"""``python -m backend.generate ... --evaluate``: the original ``run_generation.py --evaluate`` as a drop-in.

backend.generate parses its flags (the original's names) and hands them here; this module maps them onto an
fid evaluation and prints the result (it is part of that CLI, so it prints):

    --name/--which_epoch/--checkpoint/--random_init [--conditional_class]  the model (backend.model_choice)
    --dataset DIR_OR_NAME       a collection folder, or a name under datasets/ (as the original's --dataset)
    --filter_class C            evaluate one class (its records and real statistics)
    --batch_size N, --gpu_ids/--device   generator/Inception batch and device
    --truncation SIGMA          latent truncation (default 1.0)
    --how_many N                number of generated samples (default: as many as real images, at most 50,000)
    --seed S                    sample j uses S + j; the default (0 in backend.generate) means the original's 1234
"""
from __future__ import annotations

import argparse
from pathlib import Path

from fid.errors import FIDError

ORIGINAL_EVAL_SEED = 1234


def resolve_dataset(dataset: str | None) -> Path:
    """The collection folder ``--dataset`` names (``dataformat.find_dataset``: the path, or ``datasets/<name>``)."""
    from dataformat import DATASETS_ROOT, CollectionError, find_dataset

    if not dataset:
        raise FIDError("--evaluate needs --dataset: a dataset collection folder (docs/datasets.md) or a name under "
                       f"{DATASETS_ROOT}/")
    try:
        return find_dataset(dataset)
    except CollectionError as exc:
        raise FIDError(f"--dataset: {exc}") from None


def run_generate_evaluate(args: argparse.Namespace) -> int:
    """Evaluate the model backend.generate's flags select; print FID/KID; write output/<name>_fid.json.
    Errors are raised (FIDError, CheckpointError, ValueError, OSError) for the CLI to report in one line."""
    from backend.cli import device_from_args
    from backend.model_choice import model_from_args
    from fid.evaluation import EvaluationOptions, evaluate_generator
    from fid.inception import load_feature_extractor
    from fid.report import summary_line, write_report

    dataset = resolve_dataset(args.dataset)
    device = str(device_from_args(args))
    model = model_from_args(args)
    extractor = load_feature_extractor("tf", device)
    options = EvaluationOptions(filter_class=args.filter_class,
                                num_samples=None if args.how_many in (None, -1) else args.how_many,
                                seed=args.seed if args.seed else ORIGINAL_EVAL_SEED,
                                truncation=1.0 if args.truncation == -1 else args.truncation,
                                batch_size=args.batch_size, device=device)
    evaluation = evaluate_generator(model, dataset, extractor, options, progress=True)
    print(summary_line(evaluation.result, "real", "generated"))
    for line in evaluation.notes:
        print(line)
    name = args.name or evaluation.model_label
    print(f"report: {write_report(Path('output') / f'{name}_fid.json', evaluation.to_dict())}")
    return 0
