"""The project's dataset folder format (docs/datasets.md) and the validation every loader shares.

A collection folder holds::

    collection.json   {"format": "gan3d-collection", "version": 1, "name": ..., "class_names": [...],
                       "part_names": [...] or null, ...free-form metadata}
    index.jsonl       one JSON object per record (or index.json: a JSON list of the same objects)
    images/ masks/ parts/ ...   the files the index points to (paths relative to the folder)
"""
from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Literal

import numpy as np

from . import report as reasons
from .filtering import InstanceFilter
from .io import DataFileError, image_size, read_label_map, read_mask, read_rgb, write_png_atomic
from .record import Pose, Record, mask_bbox
from .report import SkipReport

FORMAT = "gan3d-collection"
VERSION = 1
COLLECTION_FILE = "collection.json"
INDEX_FILES = ("index.jsonl", "index.json")
#: Where a dataset given by name lives: ``--dataset NAME`` means ``datasets/NAME`` (the original's layout).
DATASETS_ROOT = Path("datasets")

Check = Literal["full", "header", "none"]


class CollectionError(ValueError):
    """The collection as a whole cannot be read (missing folder or index, wrong format). One-line message."""


@dataclass
class Collection:
    """A loaded image collection.

    root: the folder; records: the valid records in index order; report: what was skipped and why;
    class_names: index -> name for ``Record.class_index``; part_names: index -> name for part-map values
    (None when the collection has no parts); meta: the rest of collection.json.
    """

    root: Path
    records: list[Record]
    report: SkipReport
    class_names: list[str]
    part_names: list[str] | None = None
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.records)


def is_collection(path: str | os.PathLike) -> bool:
    """True when ``path`` is a collection folder (it has an index file)."""
    return any((Path(path) / name).is_file() for name in INDEX_FILES)


def find_dataset(dataset: str | os.PathLike, root: str | os.PathLike = DATASETS_ROOT) -> Path:
    """The folder a ``--dataset`` / ``--collection`` argument names: the path itself when it is a folder, else
    ``datasets/<name>`` (the one dataset lookup every command uses). Raises CollectionError (one line) when
    neither is a folder."""
    text = str(dataset)
    if not text:
        raise CollectionError(f"no dataset given: pass a collection folder or a name under {Path(root)}/")
    for candidate in (Path(text), Path(root) / text):
        if candidate.is_dir():
            return candidate
    raise CollectionError(f"dataset {text!r}: no such folder (looked at {text} and {Path(root) / text}); "
                          f"pass a collection folder (docs/datasets.md) or a name under {Path(root)}/")


def _rel(path: Path | None, root: Path) -> str | None:
    if path is None:
        return None
    try:
        return Path(os.path.relpath(path, root)).as_posix()
    except ValueError:  # different drive (Windows)
        return str(path)


def record_to_json(record: Record, root: Path) -> dict:
    """The index entry of ``record`` with paths relative to ``root`` (in-memory masks are not serialised)."""
    out = {"id": record.id, "image": _rel(record.image_path, root), "image_size": list(record.image_size),
           "bbox": [float(v) for v in record.bbox], "class_index": record.class_index,
           "class_name": record.class_name, "source": record.source, "mask": _rel(record.mask_path, root)}
    if record.mask_value is not None:
        out["mask_value"] = int(record.mask_value)
    if record.parts_path is not None:
        out["parts"] = _rel(record.parts_path, root)
    if record.pose is not None:
        out["pose"] = record.pose.to_json()
    if record.extra:
        out["extra"] = record.extra
    return out


def record_from_json(entry: dict, root: Path, class_names: list[str]) -> Record:
    """Parse one index entry; raises ValueError/KeyError/TypeError with the field at fault."""
    if not isinstance(entry, dict):
        raise TypeError(f"index entry must be a JSON object, got {type(entry).__name__}")
    for key in ("id", "image"):
        if key not in entry:
            raise KeyError(f"index entry lacks {key!r}")
    class_index = int(entry.get("class_index", 0))
    class_name = entry.get("class_name")
    if class_name is None:
        if not 0 <= class_index < len(class_names):
            raise ValueError(f"class_index {class_index} is outside class_names and no class_name is given")
        class_name = class_names[class_index]
    size = entry.get("image_size")
    bbox = entry.get("bbox")
    if bbox is not None and len(bbox) != 4:
        raise ValueError(f"bbox must be [x1, y1, x2, y2], got {bbox!r}")
    mask = entry.get("mask")
    parts = entry.get("parts")
    return Record(
        id=str(entry["id"]), image_path=root / entry["image"],
        image_size=(int(size[0]), int(size[1])) if size else (0, 0),
        bbox=tuple(float(v) for v in bbox) if bbox else (0.0, 0.0, 0.0, 0.0),
        class_index=class_index, class_name=str(class_name), source=str(entry.get("source", "folder")),
        mask_path=root / mask if mask else None, mask_value=entry.get("mask_value"),
        parts_path=root / parts if parts else None,
        pose=Pose.from_json(entry["pose"]) if entry.get("pose") else None, extra=dict(entry.get("extra") or {}))


def _read_index(root: Path, report: SkipReport) -> list[dict]:
    for name in INDEX_FILES:
        path = root / name
        if not path.exists():
            continue
        if name.endswith(".jsonl"):
            entries = []
            for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    entries.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    report.total += 1
                    report.skip(reasons.BAD_ANNOTATION, f"{name}:{lineno}", f"not JSON ({exc.msg})")
            return entries
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise CollectionError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}); fix or regenerate it")
        if not isinstance(entries, list):
            raise CollectionError(f"{path}: must hold a JSON list of records")
        return entries
    raise CollectionError(f"{root}: no {' or '.join(INDEX_FILES)} found; is this a gan3d collection folder?")


def load_collection(path: str | os.PathLike, *, check: Check = "full",
                    instance_filter: InstanceFilter | None = None) -> Collection:
    """Load a collection folder, validating every record (see :func:`validate_records`).

    Estimated poses (``python -m backend.train poses``) are attached afterwards with
    ``training.poses.attach_poses``.
    """
    root = Path(path)
    if not root.is_dir():
        raise CollectionError(f"{root}: not a folder")
    meta: dict = {}
    meta_path = root / COLLECTION_FILE
    if meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise CollectionError(f"{meta_path}: not valid JSON ({exc.msg}); fix or regenerate it")
        if meta.get("format", FORMAT) != FORMAT:
            raise CollectionError(f"{meta_path}: format {meta.get('format')!r} is not {FORMAT!r}")
        if int(meta.get("version", VERSION)) > VERSION:
            raise CollectionError(f"{meta_path}: version {meta['version']} is newer than this code ({VERSION}); "
                                  "update gan3d")
    class_names = list(meta.get("class_names") or [])
    report = SkipReport(source=f"collection {root.name}")
    records = []
    seen: set[str] = set()
    for i, entry in enumerate(_read_index(root, report)):
        name = str(entry.get("id", f"entry {i}")) if isinstance(entry, dict) else f"entry {i}"
        try:
            record = record_from_json(entry, root, class_names)
        except (KeyError, ValueError, TypeError, IndexError) as exc:
            report.total += 1
            report.skip(reasons.BAD_ANNOTATION, name, str(exc).strip("'\""))
            continue
        if record.id in seen:
            report.total += 1
            report.skip(reasons.BAD_ANNOTATION, name, "duplicate id")
            continue
        seen.add(record.id)
        records.append(record)
    records = validate_records(records, report, check=check, instance_filter=instance_filter)
    report.log()
    return Collection(root, records, report, class_names, meta.get("part_names"),
                      {k: v for k, v in meta.items() if k not in ("class_names", "part_names")})


def _check_record(record: Record, check: Check) -> tuple[str, str] | np.ndarray | None:
    """Validate one record in place (fills image_size and bbox). Returns (reason, message) to skip it,
    else the decoded mask (full check) or None."""
    if record.image_array is not None:
        array = np.asarray(record.image_array)
        if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
            return reasons.UNREADABLE_IMAGE, f"image_array must be (H, W, 3) uint8, got {array.shape} {array.dtype}"
        size = array.shape[:2]
    elif record.image_path is None:
        return reasons.UNREADABLE_IMAGE, "no image given"
    else:
        try:
            size = read_rgb(record.image_path).shape[:2] if check == "full" else image_size(record.image_path)
        except DataFileError as exc:
            return reasons.UNREADABLE_IMAGE, str(exc)
    record.image_size = (int(size[0]), int(size[1]))
    if record.mask_array is None and record.mask_path is None:
        return reasons.MISSING_MASK, "no mask given"
    if record.mask_array is not None:
        mask = np.asarray(record.mask_array).astype(bool)
    else:
        if not record.mask_path.exists():
            return reasons.MISSING_MASK, f"{record.mask_path} not found"
        try:
            mask = read_mask(record.mask_path, record.mask_value) if check == "full" else None
            mask_size = mask.shape if mask is not None else image_size(record.mask_path)
        except DataFileError as exc:
            return reasons.UNREADABLE_MASK, str(exc)
        if mask is None:
            if tuple(mask_size) != record.image_size:
                return reasons.MASK_SIZE_MISMATCH, f"mask {tuple(mask_size)} vs image {record.image_size}"
    if mask is not None:
        if mask.shape != record.image_size:
            return reasons.MASK_SIZE_MISMATCH, f"mask {mask.shape} vs image {record.image_size}"
        if not mask.any():
            return reasons.EMPTY_MASK, "mask has no object pixels"
        if record.bbox[2] <= record.bbox[0] or record.bbox[3] <= record.bbox[1]:
            record.bbox = mask_bbox(mask)
    elif record.bbox[2] <= record.bbox[0] or record.bbox[3] <= record.bbox[1]:
        return reasons.BAD_ANNOTATION, "no bbox in the index (needed with check='header' / 'none')"
    if record.parts_path is not None and check != "none":
        try:
            parts_size = read_label_map(record.parts_path).shape if check == "full" else image_size(record.parts_path)
        except DataFileError as exc:
            return reasons.UNREADABLE_PARTS, str(exc)
        if tuple(parts_size) != record.image_size:
            return reasons.PARTS_SIZE_MISMATCH, f"parts {tuple(parts_size)} vs image {record.image_size}"
    return mask


def validate_records(records: Iterable[Record], report: SkipReport, *, check: Check = "full",
                     instance_filter: InstanceFilter | None = None) -> list[Record]:
    """Keep the records whose files are usable; count every other one in ``report`` with its reason.

    check: "full" decodes every image and mask (catches corrupt files, mis-sized and empty masks);
        "header" reads only image headers (sizes); "none" trusts the index (needs image_size and bbox there).
    instance_filter: the §1.1 rules (size, truncation, collisions between records of the same image); needs masks,
        so it is applied only with check="full".
    """
    records = list(records)
    keep_masks = instance_filter is not None and check == "full"

    def check_one(record: Record):
        if check == "none":
            if record.image_size == (0, 0) or record.bbox[2] <= record.bbox[0]:
                return reasons.BAD_ANNOTATION, "image_size and bbox are required with check='none'"
            return None
        result = _check_record(record, check)
        if isinstance(result, tuple) or not keep_masks:
            return result if isinstance(result, tuple) else None
        return (result.shape, np.packbits(result))  # masks kept for the filter, 8x smaller

    # Decoding dominates and Pillow releases the GIL: a few threads check records in parallel.
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        results = list(pool.map(check_one, records))
    kept: list[tuple[Record, tuple | None]] = []
    for record, result in zip(records, results):
        report.total += 1
        if isinstance(result, tuple) and isinstance(result[0], str):
            report.skip(result[0], record.id, result[1])
            continue
        kept.append((record, result))
    if keep_masks:
        def unpack(packed: tuple) -> np.ndarray:
            shape, bits = packed
            return np.unpackbits(bits, count=shape[0] * shape[1]).reshape(shape).astype(bool)

        by_image: dict[Path | str, list[tuple]] = {}
        for record, packed in kept:
            by_image.setdefault(record.image_path or record.id, []).append(packed)
        filtered = []
        for record, packed in kept:
            mask = unpack(packed)
            others = [unpack(p) for p in by_image[record.image_path or record.id] if p is not packed]
            reason = instance_filter.reject_reason(mask, others)
            if reason is not None:
                report.skip(reason, record.id, f"{int(mask.sum())} px")
                continue
            filtered.append((record, packed))
        kept = filtered
    report.kept += len(kept)
    return [record for record, _ in kept]


def write_collection(root: str | os.PathLike, records: Iterable[Record], class_names: list[str],
                     part_names: list[str] | None = None, name: str | None = None, **meta) -> Path:
    """Write ``collection.json`` and ``index.jsonl`` for records whose files live under ``root``.

    Records carrying in-memory pixels get them written to ``images/<id>.png`` (``image_array``) and
    ``masks/<id>.png`` (``mask_array``); missing boxes and
    image sizes are filled in from the mask and the image header, so the index is usable with check="none".
    Returns the index path.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    lines = []
    for record in records:
        safe_id = record.id.replace("/", "_").replace("#", "_")
        if record.image_array is not None and record.image_path is None:
            (root / "images").mkdir(exist_ok=True)
            record.image_path = root / "images" / f"{safe_id}.png"
            write_png_atomic(record.image_path, np.asarray(record.image_array, np.uint8))
        if record.mask_array is not None and record.mask_path is None:
            (root / "masks").mkdir(exist_ok=True)
            mask_path = root / "masks" / f"{safe_id}.png"
            write_png_atomic(mask_path, np.asarray(record.mask_array, bool).astype(np.uint8) * 255)
            record.mask_path = mask_path
        if record.bbox[2] <= record.bbox[0] or record.bbox[3] <= record.bbox[1]:
            record.bbox = mask_bbox(record.load_mask())
        if record.image_size == (0, 0):
            record.image_size = image_size(record.image_path)
        lines.append(json.dumps(record_to_json(record, root)))
    header = {"format": FORMAT, "version": VERSION, "name": name or root.name, "class_names": list(class_names),
              "part_names": list(part_names) if part_names else None, **meta}
    tmp = root / f".{COLLECTION_FILE}.tmp"
    tmp.write_text(json.dumps(header, indent=2), encoding="utf-8")
    os.replace(tmp, root / COLLECTION_FILE)
    index = root / INDEX_FILES[0]
    tmp = root / ".index.jsonl.tmp"
    tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    os.replace(tmp, index)
    return index


def save_collection(collection: Collection, out: str | os.PathLike) -> Path:
    """Write any loaded collection (CUB, Pascal3D+, ImageNet...) in the folder format under ``out``.

    Images stay where they are (the index points to them with relative paths); in-memory masks are written to
    ``out/masks/``. The load report is kept in collection.json under "import_report". Returns the index path.
    """
    meta = {k: v for k, v in collection.meta.items() if k not in ("name", "format", "version")}
    return write_collection(out, collection.records, collection.class_names, collection.part_names,
                            name=collection.meta.get("name") or Path(out).name,
                            import_report=collection.report.to_json(), **meta)
