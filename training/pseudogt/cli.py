"""The ``--from-truth`` branch of ``python -m backend.train recon pseudogt`` (argument handling and printing only)."""
from __future__ import annotations

import argparse


def run_from_truth(args: argparse.Namespace) -> int:
    """Export pseudo-GT of ``args.collection`` (a synthetic collection) into ``args.out`` from its true meshes/poses.

    Uses ``args.texture_resolution`` (default 128), ``args.batch_size``, ``args.limit``; an interrupted export resumes.
    """
    from tqdm import tqdm

    from .from_truth import export_from_truth

    if getattr(args, "run_dir", None):
        raise ValueError("--from-truth builds pseudo-GT without a run; drop the run folder argument")
    bar = tqdm(unit="img", desc="pseudo-GT (truth)")
    try:
        summary = export_from_truth(args.collection, args.out, texture_resolution=args.texture_resolution or 128,
                                    batch_size=args.batch_size, limit=args.limit, progress=bar.update)
    finally:
        bar.close()
    print(summary.line())
    return 0
