"""CMR's annotation files (§10.1): ``data/<split>.mat`` (images, boxes, masks) and ``sfm/<split>.mat`` (poses).

Read with ``scipy.io.loadmat(struct_as_record=False, squeeze_me=True)`` as upstream does. Boxes are MATLAB
1-based inclusive pixels; they become continuous 0-based boxes (x1 - 1, y1 - 1, x2, y2). SfM poses project a
point as ``scale * (rot @ v)[:2] + trans`` in 1-based pixels; they become :class:`Pose` objects in normalised
image coordinates (``frame="cmr_sfm"``: the rotation maps from CMR's SfM mean-shape frame, not the project's
object frame).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import scipy.io

from dataformat import report as reasons
from dataformat.collection import CollectionError
from dataformat.record import Pose, Record
from dataformat.report import SkipReport


def _loadmat(path: Path, variable: str) -> np.ndarray:
    if not path.exists():
        raise CollectionError(f"{path}: annotation file not found; point the loader at CMR's data/ and sfm/ folders")
    try:
        content = scipy.io.loadmat(str(path), struct_as_record=False, squeeze_me=True)
    except Exception as exc:  # scipy raises ValueError, TypeError, OSError... for files that are not .mat
        raise CollectionError(f"{path}: not a readable MATLAB file ({exc.__class__.__name__}: {exc})") from exc
    if variable not in content:
        found = ", ".join(k for k in content if not k.startswith("__")) or "nothing"
        raise CollectionError(f"{path}: has no variable {variable!r} (found {found}); is this a CMR "
                              f"{'sfm' if variable == 'sfm_anno' else 'data'} file?")
    return np.atleast_1d(content[variable])


def read_annotations(path: str | os.PathLike) -> np.ndarray:
    """The ``images`` struct array of a CMR ``data/*.mat`` file (1-D object array of mat_struct)."""
    return _loadmat(Path(path), "images")


def read_sfm(path: str | os.PathLike) -> np.ndarray:
    """The ``sfm_anno`` struct array of a CMR ``sfm/*.mat`` file."""
    return _loadmat(Path(path), "sfm_anno")


def sfm_to_pose(sfm, image_size: tuple[int, int]) -> Pose:
    """Convert one CMR SfM struct (scale, trans (2,), rot (3, 3)) to a normalised pose for an (H, W) image."""
    scale = float(np.asarray(sfm.scale, np.float64))
    trans = np.asarray(sfm.trans, np.float64).reshape(-1)
    rot = np.asarray(sfm.rot, np.float64)
    if rot.shape != (3, 3) or trans.shape != (2,) or not np.isfinite(rot).all() or not np.isfinite(trans).all():
        raise ValueError(f"rot must be 3x3 and trans 2 finite numbers, got {rot.shape} and {trans.shape}")
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    if abs(np.linalg.det(rot) - 1) > 0.05:
        raise ValueError(f"rot is not a rotation (det {np.linalg.det(rot):.3f})")
    h, w = image_size
    length = max(h, w)
    # 1-based pixel p has its centre at continuous coordinate p - 0.5.
    t = ((2 * trans[0] - 1 - w) / length, (2 * trans[1] - 1 - h) / length)
    return Pose.from_matrix(rot, 2 * scale / length, t, frame="cmr_sfm")


def _bbox(entry) -> tuple[float, float, float, float]:
    b = entry.bbox
    x1, y1, x2, y2 = (float(getattr(b, k)) for k in ("x1", "y1", "x2", "y2"))
    if not (x2 >= x1 and y2 >= y1):
        raise ValueError(f"bbox ({x1}, {y1}, {x2}, {y2}) is inverted")
    return (x1 - 1, y1 - 1, x2, y2)


def cmr_records(annotation_path: Path, sfm_path: Path | None, image_root: Path, *, class_index: int,
                class_name: str, source: str, report: SkipReport, extra_for=None, keep=None) -> list[Record]:
    """Records of a CMR ``data`` file (+ optional ``sfm`` file). Unusable entries are counted in ``report``.

    extra_for: optional ``rel_path -> dict`` adding metadata; keep: optional ``rel_path -> reason | None``
    excluding entries on purpose (counted under that reason).
    """
    entries = read_annotations(annotation_path)
    sfm = None
    if sfm_path is not None:
        try:
            sfm = read_sfm(sfm_path)
            if len(sfm) != len(entries):
                report.warn(reasons.BAD_POSE, sfm_path.name,
                            f"{len(sfm)} poses for {len(entries)} images; poses ignored")
                sfm = None
        except CollectionError as exc:
            report.warn(reasons.BAD_POSE, sfm_path.name, f"{exc}; poses ignored")
    records = []
    for i, entry in enumerate(entries):
        name = f"{annotation_path.name}[{i}]"
        try:
            rel_path = str(entry.rel_path).replace("\\", "/")
            name = rel_path
            bbox = _bbox(entry)
            mask = np.asarray(entry.mask)
            if mask.ndim != 2:
                raise ValueError(f"mask must be 2-D, got shape {mask.shape}")
        except (AttributeError, TypeError, ValueError) as exc:
            report.total += 1
            report.skip(reasons.BAD_ANNOTATION, name, str(exc))
            continue
        if keep is not None:
            reason = keep(rel_path)
            if reason is not None:
                report.total += 1
                report.skip(reason, rel_path)
                continue
        pose = None
        if sfm is not None:
            try:
                pose = sfm_to_pose(sfm[i], mask.shape)
            except (AttributeError, TypeError, ValueError) as exc:
                report.warn(reasons.BAD_POSE, rel_path, str(exc))
        records.append(Record(
            id=rel_path, image_path=image_root / rel_path, image_size=mask.shape, bbox=bbox,
            class_index=class_index, class_name=class_name, source=source, mask_array=mask != 0, pose=pose,
            extra=dict(extra_for(rel_path)) if extra_for else {}))
    return records
