"""JSON reports and the one-line summaries the CLIs print."""
from __future__ import annotations

import json
import os
from pathlib import Path

from fid.comparison import FIDResult


def summary_line(result: FIDResult, label_a: str = "A", label_b: str = "B") -> str:
    """'FID 12.3456  KID 0.01234 ± 0.00056  (A: 100 images, B: 100 images; network, method)'."""
    kid = "KID n/a (no features kept in a statistics file)" if result.kid is None else \
        f"KID {result.kid:.5f} ± {result.kid_std:.5f}"
    return (f"FID {result.fid:.4f}  {kid}  ({label_a}: {result.num_a} images, {label_b}: {result.num_b} images; "
            f"{result.feature_extractor}, {result.fid_method})")


def write_report(path: str | os.PathLike, report: dict) -> Path:
    """Write ``report`` as indented JSON (parent folders created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path
