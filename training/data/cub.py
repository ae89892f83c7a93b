"""CUB-200-2011 with CMR's annotations (§10.1-10.2).

Expected files (the layout of textured-3d-gan's ``datasets/cub``)::

    <cub_root>/images/<species folder>/<file>.jpg       CUB_200_2011 as distributed
    <cub_root>/images.txt, image_class_labels.txt, classes.txt   (optional: species labels)
    <cmr_root>/data/<split>_cub_cleaned.mat             CMR's images + boxes + masks (split: train, testval, val, test)
    <cmr_root>/sfm/anno_<split>.mat                     CMR's SfM poses (optional)

Every record is class 5 ("bird", §10.3); the species goes to ``extra`` ("species", "species_index", 0-based).
No instance filtering: CUB has one bird per image (§1.1).
"""
from __future__ import annotations

import os
from pathlib import Path

from dataformat.classes import CLASS_INDEX, CLASS_NAMES
from dataformat.collection import Check, Collection, CollectionError, validate_records
from dataformat.report import SkipReport

from .cmr import cmr_records


def _species(cub_root: Path, report: SkipReport) -> dict[str, dict]:
    """rel_path -> {"species": name, "species_index": 0-based}, from CUB's text files (empty if absent)."""
    files = [cub_root / n for n in ("images.txt", "image_class_labels.txt", "classes.txt")]
    if not all(f.exists() for f in files):
        return {}
    try:
        paths = dict(line.split(maxsplit=1) for line in files[0].read_text().splitlines() if line.strip())
        labels = dict(line.split() for line in files[1].read_text().splitlines() if line.strip())
        names = dict(line.split(maxsplit=1) for line in files[2].read_text().splitlines() if line.strip())
        return {paths[i].strip(): {"species": names[c].strip(), "species_index": int(c) - 1}
                for i, c in labels.items()}
    except (ValueError, KeyError) as exc:
        report.warn("bad_species_labels", "image_class_labels.txt", f"species labels ignored ({exc})")
        return {}


def load_cub(cub_root: str | os.PathLike, cmr_root: str | os.PathLike, split: str = "train", *,
             check: Check = "full") -> Collection:
    """Load one CMR split of CUB-200-2011 as a :class:`Collection` (poses in the ``cmr_sfm`` frame)."""
    cub_root, cmr_root = Path(cub_root), Path(cmr_root)
    if not (cub_root / "images").is_dir():
        raise CollectionError(f"{cub_root}: no images/ folder; pass the CUB_200_2011 folder")
    report = SkipReport(source=f"cub {split}")
    species = _species(cub_root, report)
    sfm = cmr_root / "sfm" / f"anno_{split}.mat"
    records = cmr_records(cmr_root / "data" / f"{split}_cub_cleaned.mat", sfm if sfm.exists() else None,
                          cub_root / "images", class_index=CLASS_INDEX["bird"], class_name="bird", source="cub",
                          report=report, extra_for=lambda p: species.get(p, {}))
    records = validate_records(records, report, check=check)
    report.log()
    return Collection(cub_root, records, report, list(CLASS_NAMES), None, {"name": f"cub_{split}", "split": split})
