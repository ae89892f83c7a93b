"""``data import upstream``: the original release's ``cache/<dataset>`` folder into the project's files (§1.1–§1.3,
§10.5), read without executing pickled code (``safe_pickle``).

What is read (``<mode>`` = ``singletpl`` / ``multitpl``; every file but ``detections.npy`` is optional)::

    cache/<ds>/detections.npy                         rows: id, class, class_id, image_height, image_width,
                                                      image_path, score, bbox (1x4), mask (COCO RLE), parts
    cache/<ds>/camera_hypotheses_silhouette_<mode>.bin  R (N,K,4), s (N,K,1), t (N,K,2), z0 (N,K,1), w (N,K,T), iou (N,K)
    cache/<ds>/poses_estimated_<mode>.bin             indices (M,), R (M,4), s (M,1), t (M,2), z0 (M,1), w (M,T),
                                                      iou (M,1), miou (M,1)
    cache/<ds>/poses_metadata_<mode>.npz              data: scale (M,1), translation (M,3), rotation (M,4), z0, category, path
    cache/<ds>/pseudogt_512x512_<mode>/<i>.npz        data: mesh (3,32,32), seg (P,128,128), texture (3,512,512),
                                                      texture_alpha (1,512,512), image (4,299,299), category
    cache/<ds>/precomputed_fid_299x299.npz            stats_m, stats_s (lower triangle), num_images, resolution
    cache/remeshed_templates/<mode>/<cat>_templates.pth (T, 962, 3) in the original OBJ's vertex order

What is written under ``OUT`` (a collection folder: images stay where they are)::

    collection.json, index.jsonl, masks/<id>.png, parts/<id>.png    one record per detections.npy row (id = the
                                                                     row number, 6 digits), class indices of §10.3
    poses_<mode>.safetensors (+ .hypotheses.safetensors)             project pose files (``training.poses.file``)
    pseudogt_<mode>/                                                 project pseudo-GT folder (``training.pseudogt``)
    templates_<mode>/<cat>.safetensors                               project template files (``training.templates``)
    upstream_import.json                                             what was read, written and skipped

Poses: the original's poses are in the 256² crop of its CMR cropping (``upstream_crop_box``: the box padded by 5 %
of its inclusive width / height per side, rounded, made square); they are carried into the full-image frame
(``training.poses.geometry.crop_to_full``), the frame of every project pose file. The object frame is the same
(the sphere template of §2.1 with poles on ±y, z up). Pseudo-GT poses stay in the original's crop frame, as the
GAN read them. A file that disagrees with ``detections.npy`` (row counts, indices out of range), a bad row or a
bad pseudo-GT item is reported in one line and left out; the rest imports.
"""
from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from dataformat import report as reasons
from dataformat.classes import CLASS_INDEX, CLASS_NAMES, PART_CLASS_ID, PART_VOCABULARY
from dataformat.collection import Collection, validate_records, write_collection
from dataformat.io import write_png_atomic
from dataformat.preprocess import SquareBox
from dataformat.record import Record, mask_bbox
from dataformat.report import SkipReport

from . import rle
from .safe_pickle import UpstreamFileError, load_npy, load_npz_pickled, load_torch_file, unwrap_object

MODES = ("singletpl", "multitpl")
#: Upstream's CMR padding fraction (``cmr_data/base.py``: padding_frac = 0.05 per side).
UPSTREAM_PADDING = 0.05
#: Parts rarer than this (fraction of instances holding one) are dropped, as the original's dataset loader does.
MIN_PART_FREQUENCY = 0.25
#: Row keys ``detections.npy`` must have.
ROW_KEYS = ("class", "image_height", "image_width", "image_path", "bbox", "mask")
REPORT_NAME = "upstream_import.json"
FID_NAME = "precomputed_fid_299x299.npz"


@dataclass
class UpstreamImport:
    """What an import did. problems: one line per file, row or item left out (what and where)."""

    out: Path
    report: SkipReport
    problems: list[str] = field(default_factory=list)
    written: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def problem(self, line: str) -> None:
        self.problems.append(line)

    def to_json(self) -> dict:
        return {"out": str(self.out), "collection": self.report.to_json(), "problems": list(self.problems),
                "written": dict(self.written), "counts": dict(self.counts)}


def upstream_crop_box(bbox) -> SquareBox:
    """The square crop the original cut around a detection box (CMR's ``peturb_bbox`` + ``square_bbox``).

    bbox: (x1, y1, x2, y2) as stored in ``detections.npy`` (treated as inclusive pixel indices, width
    x2 - x1 + 1). The crop covers columns [x0, x0 + side) and rows [y0, y0 + side); its normalised [-1, 1] frame
    is the frame of the original's poses.
    """
    x1, y1, x2, y2 = (float(v) for v in np.asarray(bbox, np.float64).reshape(-1)[:4])
    w, h = x2 - x1 + 1, y2 - y1 + 1
    box = [x1 - UPSTREAM_PADDING * w, y1 - UPSTREAM_PADDING * h, x2 + UPSTREAM_PADDING * w,
           y2 + UPSTREAM_PADDING * h]
    sq = [int(round(c)) for c in box]  # Python's round (half to even), as the original
    bw, bh = sq[2] - sq[0] + 1, sq[3] - sq[1] + 1
    side = max(bw, bh)
    sq[0] -= int(round((side - bw) / 2.0))
    sq[1] -= int(round((side - bh) / 2.0))
    return SquareBox(sq[0], sq[1], side)


def resolve_image(images_root: Path, image_path: str) -> Path | None:
    """The file an original ``image_path`` (e.g. ``datasets/imagenet/images/n02958343/x.JPEG``) names under
    ``images_root``: the whole path, or its shorter tails (so the root may be the original's checkout, its
    ``datasets`` folder, or the image folder itself). None when no candidate exists."""
    parts = Path(str(image_path).replace("\\", "/")).parts
    for start in range(len(parts)):
        candidate = images_root.joinpath(*parts[start:])
        if candidate.is_file():
            return candidate
    return None


def _kept_part_ids(rows: list[dict], min_frequency: float) -> list[int]:
    ids = set()
    for row in rows:
        for part in row.get("parts") or []:
            if isinstance(part, dict) and float(part.get("frequency", 1.0)) >= min_frequency:
                ids.add(int(part.get("class_id", PART_CLASS_ID.get(str(part.get("class")), -1))))
    return sorted(i for i in ids if i >= 0)


def part_map(row: dict, object_mask: np.ndarray, remap: dict[int, int], min_frequency: float) -> np.ndarray:
    """The original's hard part rasterisation (``rasterize_seg_byorder``): 0 background, 1 object without a part,
    ``remap[class_id] + 2`` for a part; where parts overlap, the one later in the §10.4 list wins; background is
    never overwritten."""
    out = np.where(object_mask, 1, 0).astype(np.uint8)
    order = np.where(object_mask, 0, 255).astype(np.int32)
    for part in row.get("parts") or []:
        if not isinstance(part, dict) or float(part.get("frequency", 1.0)) < min_frequency:
            continue
        class_id = int(part.get("class_id", PART_CLASS_ID.get(str(part.get("class")), -1)))
        if class_id not in remap:
            continue
        name = str(part.get("class"))
        rank = PART_VOCABULARY.index(name) + 1 if name in PART_VOCABULARY else 1
        mask = rle.decode(part["mask"])
        if mask.shape != object_mask.shape:
            raise rle.RLEError(f"part mask {mask.shape} vs object mask {object_mask.shape}")
        replace = mask & (order < rank)
        out[replace] = remap[class_id] + 2
        order[replace] = rank
    return out


def _array(value: Any) -> np.ndarray:
    """A tensor or array as a numpy array."""
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _find(cache: Path, names: list[str]) -> Path | None:
    return next((cache / n for n in names if (cache / n).exists()), None)


def import_upstream(cache: str | os.PathLike, images: str | os.PathLike, out: str | os.PathLike,
                    modes: list[str] | None = None, templates_root: str | os.PathLike | None = None,
                    sphere_obj: str | os.PathLike | None = None, min_part_frequency: float = MIN_PART_FREQUENCY,
                    check: str = "full", pseudogt: bool = True,
                    progress: Callable[[str], None] | None = None) -> UpstreamImport:
    """Import ``cache`` (the original's ``cache/<dataset>`` folder) with images under ``images`` into ``out``.

    modes: which of ``singletpl`` / ``multitpl`` to import (default: every mode whose files are there).
    templates_root: the original's ``cache/remeshed_templates`` (default: next to ``cache``). sphere_obj: an OBJ
    with the original sphere's vertex order (``mesh_templates/uvsphere_31rings.obj``; default: the
    ``<cat>_templates.obj`` beside each ``.pth``, or the original checkout's file found from ``cache``).
    Raises UpstreamFileError when ``detections.npy`` itself is unusable; everything else is skipped and reported.
    """
    cache, images, out = Path(cache), Path(images), Path(out)
    say = progress or (lambda message: None)
    if not cache.is_dir():
        raise UpstreamFileError(f"{cache}: no such folder (pass the original's cache/<dataset> folder)")
    if not images.is_dir():
        raise UpstreamFileError(f"{images}: no such folder (pass the folder the original's image paths start in)")
    detections_path = cache / "detections.npy"
    rows = load_npy(detections_path)
    if rows.ndim != 1 or rows.dtype != object:
        raise UpstreamFileError(f"{detections_path}: expected a 1-D object array of dicts, got {rows.dtype} "
                                f"{rows.shape}")
    rows = list(rows)
    out.mkdir(parents=True, exist_ok=True)
    result = UpstreamImport(out, SkipReport(source=f"upstream {cache.name}"))
    result.counts["detections"] = len(rows)
    say(f"{detections_path}: {len(rows)} instances")

    records, boxes, valid_rows, kept_parts = _collection(rows, cache, images, out, result, min_part_frequency)
    class_names = list(CLASS_NAMES)
    part_names = (["background", "object"] + [sorted(PART_VOCABULARY)[i] for i in kept_parts]) if kept_parts else None
    kept = validate_records(records, result.report, check=check)
    kept_ids = {r.id for r in kept}
    for record in records:
        if record.id not in kept_ids:  # one line each: the reason again, from a check of that record alone
            alone = SkipReport(source=record.id)
            validate_records([record], alone, check=check)
            for reason, examples in alone.examples.items():
                message = examples[0].split(": ", 1)[-1] if examples else reason
                result.problem(f"{detections_path} row {record.extra['upstream_row']}: skipped, {reason}: {message}")
    result.report.log()
    categories = sorted({r.class_name for r in kept} | {str(row["class"]) for row in valid_rows.values()})
    index = write_collection(out, kept, class_names, part_names, name=f"upstream_{cache.name}",
                             source={"kind": "textured-3d-gan cache", "cache": str(cache.resolve()),
                                     "images": str(images.resolve())},
                             import_report=result.report.to_json())
    result.written["collection"] = str(index)
    result.counts["records"] = len(kept)
    say(result.report.summary())

    ids = [f"{i:06d}" for i in range(len(rows))]
    templates_root = Path(templates_root) if templates_root else cache.parent / "remeshed_templates"
    available = [m for m in MODES if any((cache / f"{stem}_{m}{ext}").exists() for stem, ext in (
        ("poses_estimated", ".bin"), ("camera_hypotheses_silhouette", ".bin"), ("poses_metadata", ".npz"))) or
        (cache / f"pseudogt_512x512_{m}").is_dir() or (templates_root / m).is_dir()]
    for mode in modes or available:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; choose {' or '.join(MODES)}")
        template_file = _import_templates(templates_root / mode, categories, out / f"templates_{mode}", sphere_obj,
                                          cache, result)
        pose_ids = _import_poses(cache, mode, rows, ids, boxes, valid_rows, out, template_file, result)
        _import_hypotheses(cache, mode, rows, ids, boxes, valid_rows, out, result)
        if pseudogt:
            _import_pseudogt(cache, mode, rows, ids, pose_ids, out, categories, result, say)
    (out / REPORT_NAME).write_text(json.dumps(result.to_json(), indent=2), encoding="utf-8")
    for line in result.problems:
        say(line)
    return result


def _collection(rows, cache: Path, images: Path, out: Path, result: UpstreamImport, min_part_frequency: float):
    """Records (masks and part maps written as PNG) for every usable row; bad rows are counted and reported."""
    report = result.report
    kept_parts = _kept_part_ids([r for r in rows if isinstance(r, dict)], min_part_frequency)
    remap = {cid: k for k, cid in enumerate(kept_parts)}
    (out / "masks").mkdir(exist_ok=True)
    if kept_parts:
        (out / "parts").mkdir(exist_ok=True)
    records, boxes, valid = [], {}, {}
    source = cache / "detections.npy"
    for i, row in enumerate(rows):
        rid = f"{i:06d}"
        where = f"{source} row {i}"
        if not isinstance(row, dict) or any(k not in row for k in ROW_KEYS):
            missing = [k for k in ROW_KEYS if not isinstance(row, dict) or k not in row]
            report.total += 1
            report.skip(reasons.BAD_ANNOTATION, rid, f"missing {missing}")
            result.problem(f"{where}: skipped, missing {', '.join(missing)}")
            continue
        try:
            h, w = int(row["image_height"]), int(row["image_width"])
            bbox = np.asarray(_array(row["bbox"]), np.float64).reshape(-1)
            if bbox.size != 4 or not np.isfinite(bbox).all():
                raise ValueError(f"bbox {bbox.tolist()} is not 4 finite numbers")
            mask = rle.decode(row["mask"])
            if mask.shape != (h, w):
                raise ValueError(f"mask {mask.shape} vs image_height/width {(h, w)}")
            parts = part_map(row, mask, remap, min_part_frequency) if kept_parts else None
        except (ValueError, TypeError, KeyError) as exc:
            report.total += 1
            report.skip(reasons.BAD_ANNOTATION, rid, str(exc))
            result.problem(f"{where}: skipped, {exc}")
            continue
        boxes[i] = upstream_crop_box(bbox)
        valid[i] = row
        image = resolve_image(images, str(row["image_path"]))
        if image is None:
            report.total += 1
            report.skip(reasons.UNREADABLE_IMAGE, rid, f"{row['image_path']} not found under {images}")
            result.problem(f"{where}: skipped, image {row['image_path']} not found under {images}")
            continue
        if not mask.any():
            report.total += 1
            report.skip(reasons.EMPTY_MASK, rid, "mask has no object pixels")
            continue
        mask_path = out / "masks" / f"{rid}.png"
        write_png_atomic(mask_path, mask.astype(np.uint8) * 255)
        parts_path = None
        if parts is not None:
            parts_path = out / "parts" / f"{rid}.png"
            write_png_atomic(parts_path, parts)
        name = str(row["class"])
        class_index = int(row.get("class_id", CLASS_INDEX.get(name, 0)))
        x1, y1, x2, y2 = bbox.tolist()
        extra = {"upstream_row": i, "upstream_id": _plain(row.get("id")), "score": _plain(row.get("score")),
                 "upstream_bbox": [x1, y1, x2, y2], "image_path": str(row["image_path"])}
        records.append(Record(id=rid, image_path=image, image_size=(h, w), bbox=mask_bbox(mask),
                              class_index=class_index, class_name=name, source="upstream", mask_path=mask_path,
                              parts_path=parts_path, extra=extra))
    return records, boxes, valid, kept_parts


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    array = _array(value)
    return array.item() if array.size == 1 else array.tolist()


def _import_poses(cache: Path, mode: str, rows, ids, boxes, valid_rows, out: Path, template_file: Path | None,
                  result: UpstreamImport) -> list[str] | None:
    """poses_estimated_<mode>.bin -> poses_<mode>.safetensors. Returns the record ids of the pose rows (the
    original's surviving-image order, which its pseudo-GT follows), or None when the file is absent or unusable."""
    from training.poses.file import save_pose_file
    from training.poses.geometry import crop_to_full

    path = cache / f"poses_estimated_{mode}.bin"
    if not path.exists():
        return None
    try:
        data = load_torch_file(path)
        if not isinstance(data, dict):
            raise UpstreamFileError(f"{path}: expected a dict, got {type(data).__name__}")
        arrays = {k: _array(data[k]) for k in ("indices", "R", "s", "t", "z0", "w", "iou", "miou") if k in data}
        missing = [k for k in ("indices", "R", "s", "t") if k not in arrays]
        if missing:
            raise UpstreamFileError(f"{path}: lacks {', '.join(missing)}")
        indices = arrays["indices"].reshape(-1).astype(np.int64)
        m = len(indices)
        wrong = {k: v.shape for k, v in arrays.items() if len(v) != m}
        if wrong:
            raise UpstreamFileError(f"{path}: {m} indices but rows per array {wrong}")
        if m and (indices.min() < 0 or indices.max() >= len(rows)):
            raise UpstreamFileError(f"{path}: indices reach row {int(indices.max())} but detections.npy has "
                                    f"{len(rows)} rows (made for another detections file?)")
        if len(set(indices.tolist())) != m:
            raise UpstreamFileError(f"{path}: indices repeat rows of detections.npy")
    except UpstreamFileError as exc:
        result.problem(f"{exc}; poses of mode {mode} not imported")
        return None
    keep = [k for k in range(m) if int(indices[k]) in valid_rows]
    for k in range(m):
        if int(indices[k]) not in valid_rows:
            result.problem(f"{path}: pose row {k} belongs to unusable detections row {int(indices[k])}; skipped")
    q, s, t, z0 = [], [], [], []
    for k in keep:
        row = valid_rows[int(indices[k])]
        z = float(arrays["z0"][k].reshape(-1)[0]) if "z0" in arrays else None
        pose = crop_to_full(arrays["R"][k].reshape(4), float(arrays["s"][k].reshape(-1)[0]),
                            arrays["t"][k].reshape(-1)[:2], z, (int(row["image_height"]), int(row["image_width"])),
                            boxes[int(indices[k])])
        q.append(pose.q)
        s.append(pose.s)
        t.append(pose.t)
        z0.append(float("nan") if pose.z0 is None else pose.z0)
    n = len(keep)
    weights = arrays["w"][keep].reshape(n, -1) if "w" in arrays else np.ones((n, 1), np.float32)
    names = _template_names(template_file, weights.shape[1])
    meta = {"source": "textured-3d-gan", "file": str(path.resolve()), "mode": mode,
            "frame_note": "full-image frame, from the original's 256² crop (upstream_crop_box)"}
    if template_file is not None:
        meta["templates"] = str(template_file.resolve())
    pose_ids = [ids[int(indices[k])] for k in keep]
    target = out / f"poses_{mode}.safetensors"
    save_pose_file(target, pose_ids, np.asarray(q).reshape(n, 4), np.asarray(s), np.asarray(t).reshape(n, 2),
                   np.asarray(z0), weights,
                   arrays["iou"][keep].reshape(n) if "iou" in arrays else np.full(n, np.nan),
                   arrays["miou"][keep].reshape(n) if "miou" in arrays else np.full(n, np.nan),
                   np.full(n, np.nan), np.ones(n, np.uint8), names, meta)
    result.written[f"poses_{mode}"] = str(target)
    result.counts[f"poses_{mode}"] = n
    return [ids[int(i)] for i in indices]


def _template_names(template_file: Path | None, count: int) -> list[str]:
    if template_file is not None:
        from training.templates import load_templates

        try:
            names = load_templates(template_file).names
            if len(names) == count:
                return names
        except ValueError:
            pass
    return [f"template{k}" for k in range(count)]


def _import_hypotheses(cache: Path, mode: str, rows, ids, boxes, valid_rows, out: Path,
                       result: UpstreamImport) -> None:
    """camera_hypotheses_silhouette_<mode>.bin -> poses_<mode>.hypotheses.safetensors (crop frame, box per row)."""
    from training.poses.file import hypotheses_path, save_hypotheses

    path = cache / f"camera_hypotheses_silhouette_{mode}.bin"
    if not path.exists():
        return
    try:
        data = load_torch_file(path)
        if not isinstance(data, dict):
            raise UpstreamFileError(f"{path}: expected a dict, got {type(data).__name__}")
        missing = [k for k in ("R", "s", "t", "z0", "w", "iou") if k not in data]
        if missing:
            raise UpstreamFileError(f"{path}: lacks {', '.join(missing)}")
        arrays = {k: _array(data[k]) for k in ("R", "s", "t", "z0", "w", "iou")}
        sizes = {k: v.shape[0] if v.ndim else 0 for k, v in arrays.items()}
        if set(sizes.values()) != {len(rows)}:
            raise UpstreamFileError(f"{path}: rows per array {sizes} but detections.npy has {len(rows)} rows "
                                    f"(made for another detections file?)")
    except UpstreamFileError as exc:
        result.problem(f"{exc}; hypotheses of mode {mode} not imported")
        return
    keep = [i for i in range(len(rows)) if i in valid_rows]
    n, k = len(keep), arrays["R"].shape[1]
    stored = {"R": arrays["R"][keep].reshape(n, k, 4).astype(np.float32),
              "s": arrays["s"][keep].reshape(n, k, 1).astype(np.float32),
              "t": arrays["t"][keep].reshape(n, k, 2).astype(np.float32),
              "z0": arrays["z0"][keep].reshape(n, k, 1).astype(np.float32),
              "w": arrays["w"][keep].reshape(n, k, -1).astype(np.float32),
              "iou": arrays["iou"][keep].reshape(n, k).astype(np.float32),
              "box": np.array([[boxes[i].x0, boxes[i].y0, boxes[i].side] for i in keep], np.int64).reshape(n, 3)}
    header = {"ids": [ids[i] for i in keep],
              "image_sizes": [[int(valid_rows[i]["image_height"]), int(valid_rows[i]["image_width"])] for i in keep],
              "config": {"source": "textured-3d-gan", "file": str(path.resolve()), "mode": mode,
                         "image_resolution": 256}, "skipped": {},
              "template_names": [f"template{j}" for j in range(stored["w"].shape[2])]}
    target = hypotheses_path(out / f"poses_{mode}.safetensors")
    save_hypotheses(target, stored, header)
    result.written[f"hypotheses_{mode}"] = str(target)
    result.counts[f"hypotheses_{mode}"] = n


PSEUDOGT_SHAPES = {"mesh": (3, 32, 32), "texture": (3, None, None), "texture_alpha": (1, None, None)}


def _import_pseudogt(cache: Path, mode: str, rows, ids, pose_ids: list[str] | None, out: Path,
                     categories: list[str], result: UpstreamImport, say) -> None:
    """pseudogt_512x512_<mode>/<i>.npz + poses_metadata_<mode>.npz (+ FID statistics) -> pseudogt_<mode>/."""
    import torch
    import torch.nn.functional as F

    from training.pseudogt.format import PseudoGTItem, PseudoGTWriter

    folder = next((p for p in sorted(cache.glob(f"pseudogt_*x*_{mode}")) if p.is_dir()), None)
    meta_path = cache / f"poses_metadata_{mode}.npz"
    if folder is None:
        if meta_path.exists():
            result.problem(f"{meta_path}: no pseudogt_<res>x<res>_{mode} folder beside it; pseudo-GT not imported")
        return
    try:
        metadata = unwrap_object(load_npz_pickled(meta_path).get("data"))
        if not isinstance(metadata, dict):
            raise UpstreamFileError(f"{meta_path}: 'data' is not a dict")
        poses = {k: _array(metadata[k]).astype(np.float64) for k in ("rotation", "scale", "translation")}
        n = len(poses["rotation"])
        poses["z0"] = _array(metadata["z0"]).astype(np.float64) if "z0" in metadata else np.full((n, 1), np.nan)
        category = _array(metadata.get("category", np.zeros(n))).reshape(-1).astype(np.int64)
        paths = list(metadata.get("path") or [])
        sizes = {k: len(v) for k, v in poses.items()} | {"category": len(category)}
        if set(sizes.values()) != {n}:
            raise UpstreamFileError(f"{meta_path}: rows per array disagree {sizes}")
    except (UpstreamFileError, KeyError) as exc:
        result.problem(f"{exc if isinstance(exc, UpstreamFileError) else f'{meta_path}: lacks {exc}'}; "
                       f"pseudo-GT of mode {mode} not imported")
        return
    items = sorted((int(p.stem), p) for p in folder.glob("*.npz") if p.stem.isdigit())
    if pose_ids is not None and len(pose_ids) != n:
        result.problem(f"{meta_path}: {n} rows but poses_estimated_{mode}.bin has {len(pose_ids)}; record ids of "
                       f"the pseudo-GT items are taken from the metadata paths")
        pose_ids = None
    if len(items) != n or (items and items[-1][0] != n - 1):
        result.problem(f"{folder}: {len(items)} item files for {n} metadata rows; only items 0..{n - 1} are used")
    path_to_id = {}
    for i, row in enumerate(rows):
        if isinstance(row, dict) and "image_path" in row:
            path_to_id.setdefault(str(row["image_path"]), f"{i:06d}")
    target = out / f"pseudogt_{mode}"
    if target.exists():
        shutil.rmtree(target)
    single = len(set(category.tolist())) <= 1 and int(category.max(initial=0)) == 0
    writer = None
    written = 0
    resolution = None
    for index, path in items:
        if index >= n:
            continue
        where = f"{path}"
        try:
            data = unwrap_object(load_npz_pickled(path).get("data"))
            if not isinstance(data, dict):
                raise UpstreamFileError(f"{where}: 'data' is not a dict")
            tensors = {}
            for key, want in PSEUDOGT_SHAPES.items():
                if key not in data:
                    raise UpstreamFileError(f"{where}: lacks {key}")
                value = torch.as_tensor(_array(data[key]))
                shape = tuple(value.shape)
                side = resolution or (shape[-1] if len(shape) == 3 else None)
                expect = tuple(side if d is None else d for d in want)
                if shape != expect or (key != "mesh" and shape[-2] != shape[-1]):
                    raise UpstreamFileError(f"{where}: {key} has shape {shape}, expected {expect}")
                tensors[key] = value
            if not all(torch.isfinite(v.float()).all() for v in tensors.values()):
                raise UpstreamFileError(f"{where}: holds non-finite values")
        except UpstreamFileError as exc:
            result.problem(f"{exc}; item skipped")
            continue
        resolution = resolution or int(tensors["texture"].shape[-1])
        if writer is None:
            class_names = [categories[0]] if single and len(categories) == 1 else list(CLASS_NAMES)
            writer = PseudoGTWriter(target, {
                "source": "upstream", "cache": str(cache.resolve()), "mode": mode, "collection": str(out.resolve()),
                "texture_resolution": resolution, "mesh_resolution": 32, "class_names": class_names,
                "part_names": None, "pose_frame": "the original's 256² crop (upstream_crop_box)"})
        parts = None
        seg = data.get("seg")
        if seg is not None:
            seg = torch.as_tensor(_array(seg)).float()
            if seg.ndim == 3 and seg.shape[0] > 0:
                parts = (F.interpolate(seg[None], size=(resolution, resolution), mode="bilinear",
                                       align_corners=False)[0].argmax(0) + 1).to(torch.uint8)
        record_id = pose_ids[index] if pose_ids is not None else path_to_id.get(
            str(paths[index]) if index < len(paths) else "", f"pseudogt{index:06d}")
        z0 = float(poses["z0"][index].reshape(-1)[0])
        pose = {"q": poses["rotation"][index].reshape(4).tolist(), "s": float(poses["scale"][index].reshape(-1)[0]),
                "t": poses["translation"][index].reshape(-1)[:2].tolist(), "z0": None if math.isnan(z0) else z0}
        writer.write(written, PseudoGTItem(
            record_id=record_id, texture=tensors["texture"], alpha=tensors["texture_alpha"], mesh=tensors["mesh"],
            category=int(data.get("category", category[index])) if not single else 0, parts=parts, pose=pose,
            image_path=str(paths[index]) if index < len(paths) else ""))
        written += 1
    if writer is None:
        result.problem(f"{folder}: no usable pseudo-GT item; pseudo-GT of mode {mode} not imported")
        return
    writer.finish(written)
    fid = cache / FID_NAME
    if fid.exists():
        try:
            with np.load(fid, allow_pickle=False) as stats:
                if stats["stats_m"].shape != (2048,) or stats["stats_s"].shape != (2048, 2048):
                    raise ValueError(f"stats_m {stats['stats_m'].shape}, stats_s {stats['stats_s'].shape}")
            shutil.copyfile(fid, target / FID_NAME)
        except (ValueError, OSError, KeyError) as exc:
            result.problem(f"{fid}: not usable FID statistics ({exc}); not copied")
    result.written[f"pseudogt_{mode}"] = str(target)
    result.counts[f"pseudogt_{mode}"] = written
    say(f"pseudo-GT {mode}: {written} items at {resolution}² -> {target}")


def _import_templates(folder: Path, categories: list[str], target: Path, sphere_obj, cache: Path,
                      result: UpstreamImport) -> Path | None:
    """remeshed_templates/<mode>/<cat>_templates.pth -> templates_<mode>/<cat>.safetensors (vertex order mapped to
    the project's sphere). Returns the file of the cache's category when there is exactly one."""
    from training.templates.io import TemplateSet, save_templates

    if not folder.is_dir():
        return None
    found = None
    for path in sorted(folder.glob("*_templates.pth")):
        category = path.name[: -len("_templates.pth")]
        try:
            vertices = _array(load_torch_file(path)).astype(np.float32)
            if vertices.ndim == 2:
                vertices = vertices[None]
            if vertices.ndim != 3 or vertices.shape[1:] != (962, 3) or not np.isfinite(vertices).all():
                raise UpstreamFileError(f"{path}: expected finite (T, 962, 3) vertices, got {vertices.shape}")
            order = _vertex_order(path, sphere_obj, cache)
        except UpstreamFileError as exc:
            result.problem(f"{exc}; templates not imported")
            continue
        target.mkdir(parents=True, exist_ok=True)
        names = [category] if len(vertices) == 1 else [f"{category}{k + 1}" for k in range(len(vertices))]
        file = save_templates(target / f"{category}.safetensors", TemplateSet(
            vertices[:, order], names, {"rings": 31, "sources": [str(path.resolve())], "source": "textured-3d-gan"}))
        result.written[f"templates_{folder.name}_{category}"] = str(file)
        if len(categories) == 1 and category == categories[0]:
            found = file
    return found


def _vertex_order(pth: Path, sphere_obj, cache: Path) -> np.ndarray:
    """(962,) index into the original's vertex order for each project sphere vertex, from an OBJ that has the
    original's faces and UVs (``<cat>_templates.obj`` beside the .pth, or ``uvsphere_31rings.obj``)."""
    candidates = [Path(sphere_obj)] if sphere_obj else []
    candidates += [pth.with_suffix(".obj"), cache.parent.parent / "mesh_templates" / "uvsphere_31rings.obj"]
    obj = next((c for c in candidates if c.is_file()), None)
    if obj is None:
        raise UpstreamFileError(f"{pth}: its vertex order needs the original sphere's OBJ (looked at "
                                f"{', '.join(str(c) for c in candidates)}); pass --sphere_obj "
                                f"<original checkout>/mesh_templates/uvsphere_31rings.obj")
    return vertex_order_from_obj(obj)


def vertex_order_from_obj(obj: str | os.PathLike) -> np.ndarray:
    """Map the original sphere's vertex order onto the project's (``backend.mesh.uv_sphere(31)``) through the UV
    coordinates each vertex takes in an OBJ's ``f v/vt`` corners (the first object when there are several).
    Returns ``order`` with ``project_vertices = original_vertices[order]``."""
    from backend.mesh import uv_sphere

    sphere = uv_sphere(31)
    n = sphere.num_vertices
    uvs: list[tuple[float, float]] = []
    corners: list[tuple[int, int]] = []
    try:
        lines = Path(obj).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise UpstreamFileError(f"{obj}: cannot read ({exc})") from None
    for line in lines:
        if line.startswith("vt "):
            uvs.append(tuple(float(v) for v in line.split()[1:3]))
        elif line.startswith("f "):
            for corner in line.split()[1:]:
                bits = corner.split("/")
                if len(bits) < 2 or not bits[1]:
                    raise UpstreamFileError(f"{obj}: faces carry no UV indices (f v/vt), cannot map vertex order")
                corners.append((int(bits[0]) - 1, int(bits[1]) - 1))
    if len(uvs) < sphere.uvs.shape[0] or not corners:
        raise UpstreamFileError(f"{obj}: not the 962-vertex sphere topology (UVs {len(uvs)}, corners {len(corners)})")
    uv = np.asarray(uvs[: sphere.uvs.shape[0]], np.float64)
    order = np.full(n, -1, np.int64)
    project_uv = np.asarray(sphere.uvs, np.float64)
    for vertex, vt in corners:
        if vertex >= n:
            break  # a multi-object OBJ: the first object is enough
        if not 0 <= vt < len(uv):
            raise UpstreamFileError(f"{obj}: UV index {vt + 1} out of range")
        distance = np.abs(project_uv - uv[vt]).sum(1)
        j = int(distance.argmin())
        if distance[j] > 2e-3:
            raise UpstreamFileError(f"{obj}: UV {uv[vt].tolist()} is not on the 31-ring sphere's layout")
        mine = int(sphere.uv_vertex_index[j])
        if order[mine] not in (-1, vertex):
            raise UpstreamFileError(f"{obj}: two vertices share the UV of project vertex {mine}")
        order[mine] = vertex
    if (order < 0).any() or len(set(order.tolist())) != n:
        raise UpstreamFileError(f"{obj}: covers {int((order >= 0).sum())} of {n} sphere vertices")
    return order
