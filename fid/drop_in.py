"""``python -m backend.generate ... --evaluate``: the original ``run_generation.py --evaluate`` as a drop-in.

backend.generate parses its flags (the original's names) and hands them here; this module maps them onto an
fid evaluation and prints the result (it is part of that CLI, so it prints):

    --name/--which_epoch/--checkpoint/--random_init [--conditional_class]  the model (backend.sampling.select_model)
    --dataset DIR_OR_NAME       a collection folder, or a name under datasets/ (as the original's --dataset)
    --filter_class C            evaluate one class (its records and real statistics)
    --batch_size N, --gpu_ids   generator/Inception batch and device
    --truncation SIGMA          latent truncation (default 1.0)
    --how_many N                number of generated samples (default: as many as real images, at most 50,000)
    --seed S                    sample j uses S + j; the default (0 in backend.generate) means the original's 1234
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fid.errors import FIDError

DATASETS_ROOT = Path("datasets")
ORIGINAL_EVAL_SEED = 1234


def resolve_dataset(dataset: str | None) -> Path:
    """A collection folder from ``--dataset``: the path itself, or ``datasets/<name>``."""
    if not dataset:
        raise FIDError("--evaluate needs --dataset: a dataset collection folder (docs/datasets.md) or a name under "
                       f"{DATASETS_ROOT}/")
    for candidate in (Path(dataset), DATASETS_ROOT / dataset):
        if candidate.is_dir():
            return candidate
    raise FIDError(f"--dataset {dataset!r}: no such folder (looked at {dataset} and {DATASETS_ROOT / dataset})")


def run_generate_evaluate(args: argparse.Namespace) -> int:
    """Evaluate the model backend.generate's flags select; print FID/KID; write output/<name>_fid.json."""
    from backend.device import DeviceError, resolve_device
    from backend.sampling import select_model
    from backend.models import CheckpointError
    from fid.evaluation import EvaluationOptions, evaluate_generator
    from fid.inception import load_feature_extractor
    from fid.report import summary_line, write_report

    try:
        dataset = resolve_dataset(args.dataset)
        device = str(resolve_device(args.gpu_ids))
        model = select_model(checkpoint=args.checkpoint, name=None if args.checkpoint else args.name,
                             which_epoch=args.which_epoch, random_init=None if args.checkpoint else args.random_init,
                             conditional=args.conditional_class, checkpoint_root=args.checkpoints_dir)
        extractor = load_feature_extractor("tf", device)
        options = EvaluationOptions(filter_class=args.filter_class,
                                    num_samples=None if args.how_many in (None, -1) else args.how_many,
                                    seed=args.seed if args.seed else ORIGINAL_EVAL_SEED,
                                    truncation=1.0 if args.truncation == -1 else args.truncation,
                                    batch_size=args.batch_size, device=device)
        evaluation = evaluate_generator(model, dataset, extractor, options, progress=True)
    except (FIDError, CheckpointError, DeviceError, ValueError, OSError) as exc:
        print(f"error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
        return 2
    print(summary_line(evaluation.result, "real", "generated"))
    for line in evaluation.notes:
        print(line)
    name = args.name or evaluation.model_label
    print(f"report: {write_report(Path('output') / f'{name}_fid.json', evaluation.to_dict())}")
    return 0
