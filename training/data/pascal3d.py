"""Pascal3D+ cars and airplanes with CMR's annotations (§1.0, §10.1-10.2).

Expected files::

    <p3d_root>/Images/<rel_path>                 PASCAL3D+_release1.1 (e.g. Images/car_imagenet/n02814533_10037.JPEG)
    <cmr_root>/data/<category>_<split>.mat       CMR's images + boxes + masks (category: car or aeroplane)
    <cmr_root>/sfm/<category>_<split>.mat        CMR's SfM poses (optional)

textured-3d-gan uses only the ImageNet-sourced images (``*_imagenet/``) of CMR's training lists; the other
entries are excluded by default and counted in the report under ``not_imagenet``.
"""
from __future__ import annotations

import os
from pathlib import Path

from dataformat.classes import CLASS_INDEX, CLASS_NAMES, P3D_CATEGORIES
from dataformat.collection import Check, Collection, CollectionError, validate_records
from dataformat.filtering import InstanceFilter
from dataformat.report import SkipReport

from .cmr import cmr_records


def load_p3d(p3d_root: str | os.PathLike, cmr_root: str | os.PathLike, category: str = "car", split: str = "train",
             *, imagenet_only: bool = True, check: Check = "full",
             instance_filter: InstanceFilter | None = None) -> Collection:
    """Load CMR's ``<category>_<split>`` list of Pascal3D+ (category "car", "aeroplane" or "airplane")."""
    if category not in P3D_CATEGORIES:
        raise CollectionError(f"unknown Pascal3D+ category {category!r}; use car or aeroplane")
    p3d_root, cmr_root = Path(p3d_root), Path(cmr_root)
    file_category = "aeroplane" if P3D_CATEGORIES[category] == "airplane" else "car"
    images = p3d_root / "Images"
    if not images.is_dir():
        raise CollectionError(f"{p3d_root}: no Images/ folder; pass the PASCAL3D+_release1.1 folder")
    report = SkipReport(source=f"p3d {file_category} {split}")
    sfm = cmr_root / "sfm" / f"{file_category}_{split}.mat"
    name = P3D_CATEGORIES[category]

    def keep(rel_path: str) -> str | None:
        return None if not imagenet_only or "_imagenet/" in rel_path else "not_imagenet"

    records = cmr_records(cmr_root / "data" / f"{file_category}_{split}.mat", sfm if sfm.exists() else None, images,
                          class_index=CLASS_INDEX[name], class_name=name, source="p3d", report=report, keep=keep)
    records = validate_records(records, report, check=check, instance_filter=instance_filter)
    report.log()
    return Collection(p3d_root, records, report, list(CLASS_NAMES), None,
                      {"name": f"p3d_{name}", "split": split, "imagenet_only": imagenet_only})
