"""JSON reports and the one-line summaries the CLIs print."""
from __future__ import annotations

import json
import os
from pathlib import Path

from fid.comparison import FIDResult


def kid_text(kid: float | None, std: float | None, whole_sets: bool = False, subsets: int = 0,
             subset_size: int | None = None) -> str:
    """'KID 0.01234 ± 0.00056'; below the nominal subset size the spread is labelled with the subsets it comes
    from, or said to be unavailable, so a whole-set KID never shows a spread of 0."""
    if kid is None:
        return "KID n/a (no features kept in a statistics file)"
    if std is None:
        return f"KID {kid:.5f} ± n/a (no spread: fewer than 4 images a side)"
    if whole_sets:
        return f"KID {kid:.5f} ± {std:.5f} (spread over {subsets} subsets of {subset_size} a side)"
    return f"KID {kid:.5f} ± {std:.5f}"


def summary_line(result: FIDResult, label_a: str = "A", label_b: str = "B") -> str:
    """'FID 12.3456  KID 0.01234 ± 0.00056  (A: 100 images, B: 100 images; network, method)'."""
    kid = kid_text(result.kid, result.kid_std, result.kid_whole_sets, result.kid_subsets, result.kid_subset_size)
    return (f"FID {result.fid:.4f}  {kid}  ({label_a}: {result.num_a} images, {label_b}: {result.num_b} images; "
            f"{result.feature_extractor}, {result.fid_method})")


def floor_line(floor: dict) -> str:
    """The summary of a fid.floor.real_floor result: 'floor FID ...  KID ... ± ...  (n vs n disjoint random ...)'."""
    kid = kid_text(floor["kid"], floor["kid_std"], floor["kid_whole_sets"], floor["kid_subsets"],
                   floor["kid_subset_size"])
    return (f"floor FID {floor['fid']:.4f}  {kid}  ({floor['n']} vs {floor['n']} disjoint random records of "
            f"{floor['num_records']} in {floor['collection']}, seed {floor['seed']}; {floor['feature_extractor']}, "
            f"{floor['fid_method']}; features from {floor['features_from']})")


def write_report(path: str | os.PathLike, report: dict) -> Path:
    """Write ``report`` as indented JSON (parent folders created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path
