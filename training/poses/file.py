"""The pose file (stage 2's output) and the step-1 hypotheses file: safetensors + a JSON header, no pickle.

Pose file (``poses.safetensors``, written by ``python -m backend.train poses``), N = every record the run
processed (kept or not), T = number of templates::

    tensors  q (N, 4) float64 unit quaternions (w, x, y, z), w >= 0     object frame -> camera (§6.2)
             s (N,) float64 scale;  t (N, 2) float64 translation;  z0 (N,) float64 perspective parameter
             template_weights (N, T) float32 one-hot template selector (the template the pose was fitted with)
             iou (N,) float32 silhouette IoU;  miou (N,) float32 part / appearance mIoU of the chosen hypothesis
             v_agr (N,) float32 agreement score (small = the good hypotheses agree);  kept (N,) uint8 filter result
             margin (N,) float32, optional: front/back margin of the step-2 score (``step2.front_back_margin``)
    header   {"kind": "gan3d-poses", "version": 1, "ids": [...N record ids], "frame": "object",
              "image_frame": "full", "template_names": [...T], "meta": {...run settings, skip report...}}

Poses are in the record's **full-image** normalised frame (``dataformat.record``: x_n = (2x - W) / L with
L = max(H, W)), exactly like ``Record.pose``, so ``dataformat.crop_and_resize`` carries them into any crop.
z0 is kept unchanged between frames, as ``dataformat.pose_to_crop`` does.

Hypotheses file (``<out>.hypotheses.safetensors``), K hypotheses per record, poses in the 256² **crop** frame
of ``crop_and_resize`` (box stored per record), as in §1.2::

    tensors  R (N, K, 4), s (N, K, 1), t (N, K, 2), z0 (N, K, 1), w (N, K, T), iou (N, K), box (N, 3) int64
    header   {"kind": "gan3d-pose-hypotheses", "version": 1, "ids": [...], "image_sizes": [[H, W], ...],
              "config": {...}, "skipped": {record id: reason}, "template_names": [...]}
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

POSE_KIND = "gan3d-poses"
HYPOTHESES_KIND = "gan3d-pose-hypotheses"
VERSION = 1


class PoseFileError(ValueError):
    """A pose or hypotheses file is missing, damaged or of another kind (one-line message)."""


@dataclass(frozen=True)
class PoseEstimate:
    """The estimate for one record.

    id: the record id.  pose: ``dataformat.Pose`` in the record's full-image frame, frame="object", with z0.
    template_weights: (T,) float32 one-hot.  iou, miou, v_agr: floats (see the module docstring).
    kept: whether the record passed the filter (``PoseConfig.step2_filter``: v_agr below its threshold, or the
    margin above ``step2_margin``; and the step-2 score above the run's 10th percentile).
    margin: the front/back margin of the step-2 score (NaN in files written before it was stored).
    """

    id: str
    pose: "object"
    template_weights: np.ndarray
    iou: float
    miou: float
    v_agr: float
    kept: bool
    margin: float = float("nan")


@dataclass
class PoseFile:
    """A loaded pose file: one :class:`PoseEstimate` per processed record, in file order."""

    estimates: list[PoseEstimate]
    template_names: list[str]
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.estimates)

    @property
    def kept(self) -> list[PoseEstimate]:
        return [e for e in self.estimates if e.kept]

    def by_id(self) -> dict[str, PoseEstimate]:
        return {e.id: e for e in self.estimates}


def hypotheses_path(pose_path: str | os.PathLike) -> Path:
    """``poses.safetensors`` -> ``poses.hypotheses.safetensors`` (next to it)."""
    path = Path(pose_path)
    stem = path.name[: -len(path.suffix)] if path.suffix else path.name
    return path.with_name(f"{stem}.hypotheses.safetensors")


def save_pose_file(path: str | os.PathLike, ids: list[str], q: np.ndarray, s: np.ndarray, t: np.ndarray,
                   z0: np.ndarray, template_weights: np.ndarray, iou: np.ndarray, miou: np.ndarray,
                   v_agr: np.ndarray, kept: np.ndarray, template_names: list[str], meta: dict | None = None,
                   margin: np.ndarray | None = None) -> Path:
    """Write a pose file atomically (shapes in the module docstring; arrays are converted to the stored dtypes)."""
    import torch

    from training.engine import atomic_save

    n = len(ids)
    q = np.asarray(q, np.float64).reshape(n, 4)
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    q = np.where(q[:, :1] < 0, -q, q)
    tensors = {
        "q": torch.from_numpy(q), "s": torch.from_numpy(np.asarray(s, np.float64).reshape(n)),
        "t": torch.from_numpy(np.asarray(t, np.float64).reshape(n, 2)),
        "z0": torch.from_numpy(np.asarray(z0, np.float64).reshape(n)),
        "template_weights": torch.from_numpy(np.asarray(template_weights, np.float32).reshape(n, -1)),
        "iou": torch.from_numpy(np.asarray(iou, np.float32).reshape(n)),
        "miou": torch.from_numpy(np.asarray(miou, np.float32).reshape(n)),
        "v_agr": torch.from_numpy(np.asarray(v_agr, np.float32).reshape(n)),
        "kept": torch.from_numpy(np.asarray(kept, np.uint8).reshape(n)),
    }
    if margin is not None:
        tensors["margin"] = torch.from_numpy(np.asarray(margin, np.float32).reshape(n))
    header = {"kind": POSE_KIND, "version": VERSION, "ids": list(map(str, ids)), "frame": "object",
              "image_frame": "full", "template_names": list(template_names), "meta": dict(meta or {})}
    return atomic_save(path, tensors, header)


def _read(path: str | os.PathLike, kind: str) -> tuple[dict, dict]:
    from training.engine import StateFileError, load_state

    try:
        tensors, header = load_state(path)
    except StateFileError as exc:
        raise PoseFileError(str(exc)) from None
    if header.get("kind") != kind:
        raise PoseFileError(f"{path} is not a {kind} file (kind {header.get('kind')!r})")
    if int(header.get("version", 0)) > VERSION:
        raise PoseFileError(f"{path}: version {header['version']} is newer than this code ({VERSION}); update gan3d")
    return {k: v.numpy() for k, v in tensors.items()}, header


def load_pose_file(path: str | os.PathLike) -> PoseFile:
    """Read a pose file. Raises PoseFileError (a ValueError, one line) when it is missing or damaged."""
    from dataformat.record import Pose

    arrays, header = _read(path, POSE_KIND)
    ids = header.get("ids") or []
    names = ("q", "s", "t", "z0", "template_weights", "iou", "miou", "v_agr", "kept")
    missing = [k for k in names if k not in arrays]
    if missing or any(len(arrays[k]) != len(ids) for k in names):
        raise PoseFileError(f"{path}: damaged pose file (missing {missing} or sizes that disagree with the ids)")
    frame = str(header.get("frame", "object"))
    estimates = []
    for i, record_id in enumerate(ids):
        z0 = float(arrays["z0"][i])
        pose = Pose(tuple(float(v) for v in arrays["q"][i]), float(arrays["s"][i]),
                    (float(arrays["t"][i, 0]), float(arrays["t"][i, 1])), z0 if np.isfinite(z0) else None, frame)
        estimates.append(PoseEstimate(str(record_id), pose, arrays["template_weights"][i].copy(),
                                      float(arrays["iou"][i]), float(arrays["miou"][i]), float(arrays["v_agr"][i]),
                                      bool(arrays["kept"][i]),
                                      float(arrays["margin"][i]) if "margin" in arrays else float("nan")))
    return PoseFile(estimates, list(header.get("template_names") or []), dict(header.get("meta") or {}))


def attach_poses(collection, pose_file: str | os.PathLike, kept_only: bool = True):
    """Give every record of a ``dataformat.Collection`` its estimated pose from a pose file, in place.

    The estimate (full-image frame, frame "object", with z0) replaces ``record.pose``; a pose the record
    already had (the testbed's truth, a CMR pose) moves to ``record.extra["true_pose"]`` (JSON form). Records
    without an estimate, or filtered out by the pose stage when ``kept_only``, are dropped and counted in the
    report as "no_estimated_pose". Returns the collection.
    """
    estimates = load_pose_file(pose_file).by_id()
    kept = []
    for record in collection.records:
        estimate = estimates.get(record.id)
        if estimate is None or (kept_only and not estimate.kept):
            collection.report.skip("no_estimated_pose", record.id,
                                   "filtered out by the pose stage" if estimate is not None else "not in the pose file")
            collection.report.kept -= 1
            continue
        if record.pose is not None:
            record.extra = {**record.extra, "true_pose": record.pose.to_json()}
        record.pose = estimate.pose
        kept.append(record)
    collection.records = kept
    collection.meta = {**collection.meta, "poses": str(pose_file)}
    return collection


def save_hypotheses(path: str | os.PathLike, arrays: dict[str, np.ndarray], header: dict) -> Path:
    """Write the step-1 hypotheses file atomically (``arrays``: R, s, t, z0, w, iou, box; see module docstring)."""
    import torch

    from training.engine import atomic_save

    tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}
    return atomic_save(path, tensors, {**header, "kind": HYPOTHESES_KIND, "version": VERSION})


def load_hypotheses(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """Read a hypotheses file: (arrays, header). Raises PoseFileError."""
    arrays, header = _read(path, HYPOTHESES_KIND)
    n = len(header.get("ids") or [])
    if any(len(v) != n for v in arrays.values()):
        raise PoseFileError(f"{path}: damaged hypotheses file (array sizes disagree with the ids)")
    return arrays, header
