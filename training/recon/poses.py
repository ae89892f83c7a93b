"""Where the training poses come from: a pose file of ``backend.train poses`` or the collection's true poses.

Every pose is in the project convention (``dataformat.Pose``, full-image normalised frame, object frame);
``dataformat.pose_to_crop`` carries it into each training crop.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dataformat import Collection, Pose

TRUTH = "truth"


class PoseSourceError(ValueError):
    """The pose source cannot be used with this collection. One-line message saying what to do."""


@dataclass
class PoseSet:
    """Poses per record id.

    poses: {id: Pose} in each image's full-image frame. template_index: {id: index of the winning template}
    (empty = template 0 for all). fit_iou: {id: IoU of the template's silhouette under the pose} when the
    source provides it (used to pick the images kept under semi-supervision). source: "truth" or the file.
    templates: the templates the poses were fitted with (a shipped name or a file), when the source records it.
    """

    poses: dict[str, Pose]
    source: str
    template_index: dict[str, int] = field(default_factory=dict)
    fit_iou: dict[str, float] = field(default_factory=dict)
    templates: str | None = None


def true_poses(collection: Collection) -> PoseSet:
    """The collection's own poses (a synthetic testbed's ground truth)."""
    poses = {r.id: r.pose for r in collection.records if r.pose is not None}
    if not poses:
        raise PoseSourceError(f"collection {collection.root} has no true poses; pass --poses FILE from "
                              f"`backend.train poses`")
    frames = {p.frame for p in poses.values()}
    if frames != {"object"}:
        raise PoseSourceError(f"collection {collection.root} stores poses in frame(s) {sorted(frames)}, not the "
                              f"object frame; estimate poses with `backend.train poses` and pass --poses FILE")
    return PoseSet(poses, TRUTH)


def file_poses(path: str | os.PathLike, collection: Collection) -> PoseSet:
    """Poses read with ``training.poses.load_pose_file`` and checked against the collection."""
    path = Path(path)
    if not path.is_file():
        raise PoseSourceError(f"pose file not found: {path} (run `backend.train poses` first, or use --poses truth "
                              f"on a synthetic collection)")
    try:
        from training.poses import PoseFileError, load_pose_file
    except ModuleNotFoundError as exc:
        raise PoseSourceError(f"reading pose files needs training.poses ({exc}); use --poses truth") from None
    try:
        loaded = load_pose_file(path)
    except (PoseFileError, OSError, KeyError, TypeError) as exc:
        raise PoseSourceError(f"{path}: not a usable pose file ({exc}); re-run `backend.train poses`") from None
    pose_set = _as_pose_set(loaded, str(path))
    ids = {r.id for r in collection.records}
    if not ids & set(pose_set.poses):
        raise PoseSourceError(f"{path} holds poses for {len(pose_set.poses)} images but none of the "
                              f"{len(ids)} images of {collection.root}; was it made for another collection?")
    return pose_set


def _as_pose_set(loaded, source: str) -> PoseSet:
    """A ``training.poses.PoseFile`` -> PoseSet: only the estimates that passed the pose filter (``kept``), the
    winning template (argmax of the one-hot weights) and the silhouette IoU of the fit."""
    poses: dict[str, Pose] = {}
    templates: dict[str, int] = {}
    ious: dict[str, float] = {}
    for estimate in loaded.estimates:
        if not estimate.kept:
            continue
        if estimate.pose.frame != "object":
            raise PoseSourceError(f"{source}: pose of {estimate.id!r} is in frame {estimate.pose.frame!r}, "
                                  f"not the object frame")
        poses[estimate.id] = estimate.pose
        weights = np.asarray(estimate.template_weights)
        templates[estimate.id] = int(weights.argmax()) if weights.size else 0
        ious[estimate.id] = float(estimate.iou)
    if not poses:
        raise PoseSourceError(f"{source}: no pose passed the pose filter (kept = 0 of {len(loaded.estimates)})")
    return PoseSet(poses, source, templates, ious, (loaded.meta or {}).get("templates"))


def resolve_poses(spec: str, collection: Collection) -> PoseSet:
    """``spec`` = "truth" or a pose-file path."""
    return true_poses(collection) if spec == TRUTH else file_poses(spec, collection)
