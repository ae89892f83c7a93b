"""ImageNet synset folders with mask files (§10.3), one record per object instance.

Expected files::

    <root>/images/<synset>/<name>.JPEG      images as laid out by upstream's setup_imagenet.py
    <root>/masks/<synset>/<name>.png        instance label map, same size as the image: 0 = background,
                                            k > 0 = instance k (a binary 0/255 mask is one instance)
    <root>/parts/<synset>/<name>.png        optional part map (values index the part vocabulary you use)

Synsets map to the 12 ImageNet categories of §10.3 (class indices fixed: car = 3, ...). Instances go through
the §1.1 filter (size, truncation, collisions with the other instances of the same image) unless disabled.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from dataformat import report as reasons
from dataformat.classes import CLASS_INDEX, CLASS_NAMES, SYNSET_TO_CLASS
from dataformat.collection import Check, Collection, CollectionError, validate_records
from dataformat.filtering import InstanceFilter
from dataformat.io import DataFileError, read_label_map
from dataformat.record import Record
from dataformat.report import SkipReport

IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")


def load_imagenet(root: str | os.PathLike, classes: list[str] | None = None, *, check: Check = "full",
                  instance_filter: InstanceFilter | None = InstanceFilter()) -> Collection:
    """Load the synset folders under ``root/images`` (only those of ``classes``, default all 12 categories)."""
    root = Path(root)
    image_root, mask_root, parts_root = root / "images", root / "masks", root / "parts"
    if not image_root.is_dir():
        raise CollectionError(f"{root}: no images/ folder with synset sub-folders")
    wanted = set(classes) if classes else set(SYNSET_TO_CLASS.values())
    unknown = wanted - set(SYNSET_TO_CLASS.values())
    if unknown:
        raise CollectionError(f"unknown ImageNet categories {sorted(unknown)}; "
                              f"choose from {', '.join(sorted(set(SYNSET_TO_CLASS.values())))}")
    report = SkipReport(source=f"imagenet {root.name}")
    records: list[Record] = []
    for folder in sorted(p for p in image_root.iterdir() if p.is_dir()):
        category = SYNSET_TO_CLASS.get(folder.name)
        if category is None:
            report.warn("unknown_synset", folder.name, "folder ignored: not a synset of §10.3")
            continue
        if category not in wanted:
            continue
        for image in sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            stem = f"{folder.name}/{image.stem}"
            mask_path = mask_root / folder.name / f"{image.stem}.png"
            parts_path = parts_root / folder.name / f"{image.stem}.png"
            common = dict(image_path=image, image_size=(0, 0), bbox=(0.0, 0.0, 0.0, 0.0),
                          class_index=CLASS_INDEX[category], class_name=category, source="imagenet",
                          parts_path=parts_path if parts_path.exists() else None, extra={"synset": folder.name})
            if not mask_path.exists():
                report.total += 1
                report.skip(reasons.MISSING_MASK, stem, f"{mask_path} not found")
                continue
            try:
                labels = np.unique(read_label_map(mask_path))
            except DataFileError as exc:
                report.total += 1
                report.skip(reasons.UNREADABLE_MASK, stem, str(exc))
                continue
            instances = [int(v) for v in labels if v != 0]
            if not instances:
                report.total += 1
                report.skip(reasons.EMPTY_MASK, stem, "mask has no object pixels")
                continue
            for k in instances:
                records.append(Record(id=f"{stem}#{k}", mask_path=mask_path, mask_value=k, **common))
    records = validate_records(records, report, check=check, instance_filter=instance_filter)
    report.log()
    return Collection(root, records, report, list(CLASS_NAMES), None, {"name": f"imagenet_{root.name}"})
