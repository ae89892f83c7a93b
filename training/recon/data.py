"""Training data of the reconstruction stage: every usable image cropped once into RAM (the original prefetches
too), with its pose in the crop's frame, class, template and semi-supervision flag.

A record whose files cannot be decoded is skipped and counted (``ReconData.skipped``), never fatal.
"""
from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from backend.mesh import MeshTemplate
from backend.render import Pose as RenderPose
from dataformat import Collection, Record, crop_and_resize

from .poses import PoseSet

NO_POSE = "no_pose"
UNREADABLE = "unreadable_image"


def part_channels(collection: Collection) -> int:
    """Part-head channels P for a collection: its part names minus the background entry, 0 without parts.

    Part-map value k >= 1 is channel k - 1 (so the first named part, e.g. the testbed's "body", plays the
    original's channel 0, "object, no specific part").
    """
    names = collection.part_names
    if not names or not any(r.parts_path is not None for r in collection.records):
        return 0
    return len(names) - 1 if names[0] == "background" else len(names)


def class_count(collection: Collection) -> int:
    """1 for a single-class collection, else the size of its class list (records keep their global index)."""
    if len({r.class_index for r in collection.records}) <= 1:
        return 1
    return max(len(collection.class_names), 1 + max(r.class_index for r in collection.records))


@dataclass
class ReconData:
    """N prefetched crops at R×R.

    images: (N, R, R, 3) uint8 RGB (white outside the source image); masks: (N, R, R) uint8 (mask · 255);
    parts: (N, R, R) uint8 part ids or None; q (N, 4), s (N, 1), t (N, 2) float32 poses in the crop frame,
    z0 (N, 1) or None; class_index, template_index (N,) int64; semi_mask (N,) float32 (1 = always pulled toward
    its template); ids: record ids; records: the records; skipped: {reason: count}; examples: {reason: [ids]}.
    """

    ids: list[str]
    records: list[Record]
    images: np.ndarray
    masks: np.ndarray
    parts: np.ndarray | None
    q: np.ndarray
    s: np.ndarray
    t: np.ndarray
    z0: np.ndarray | None
    class_index: np.ndarray
    template_index: np.ndarray
    semi_mask: np.ndarray
    skipped: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def resolution(self) -> int:
        return int(self.images.shape[1])

    def pose(self, indices: Sequence[int] | np.ndarray, device: torch.device | str = "cpu") -> RenderPose:
        index = np.asarray(indices)
        make = lambda a: torch.from_numpy(np.ascontiguousarray(a[index])).to(device)  # noqa: E731
        return RenderPose(make(self.q), make(self.s), make(self.t), None if self.z0 is None else make(self.z0))

    def batch(self, indices: Sequence[int] | np.ndarray, device: torch.device | str = "cpu") -> dict:
        """Tensors of a batch: image (B, 3, R, R) in [-1, 1]; mask (B, 1, R, R) in [0, 1]; network_input
        (B, 4, R, R) = [image · mask, mask]; parts (B, R, R) int64 or None; pose; class_index, template_index
        (B,) int64; semi_mask (B,) float32; index (B,) the rows."""
        index = np.asarray(indices)
        image = torch.from_numpy(self.images[index]).to(device).permute(0, 3, 1, 2).float() / 127.5 - 1
        mask = torch.from_numpy(self.masks[index]).to(device)[:, None].float() / 255
        parts = None if self.parts is None else torch.from_numpy(self.parts[index]).to(device).long()
        return {
            "image": image, "mask": mask, "network_input": torch.cat([image * mask, mask], dim=1),
            "parts": parts, "pose": self.pose(index, device),
            "class_index": torch.from_numpy(self.class_index[index]).to(device),
            "template_index": torch.from_numpy(self.template_index[index]).to(device),
            "semi_mask": torch.from_numpy(self.semi_mask[index]).to(device), "index": index,
        }


def _load_one(record: Record, resolution: int):
    try:
        sample = crop_and_resize(record, resolution)
    except (OSError, ValueError) as exc:
        return None, str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    return sample, None


def prefetch(records: Sequence[Record], poses: PoseSet, resolution: int, with_parts: bool,
             progress: Callable[[int], None] | None = None, workers: int = 2) -> ReconData:
    """Crop every record that has a pose in ``poses`` (§5.1 preprocessing) into RAM.

    Records without a pose are counted under "no_pose"; unreadable ones under "unreadable_image".
    progress: called with the number of records finished since the last call.
    """
    skipped: dict[str, int] = {}
    examples: dict[str, list[str]] = {}

    def skip(reason: str, name: str) -> None:
        skipped[reason] = skipped.get(reason, 0) + 1
        examples.setdefault(reason, [])
        if len(examples[reason]) < 5:
            examples[reason].append(name)

    jobs = []
    for record in records:
        pose = poses.poses.get(record.id)
        if pose is None:
            skip(NO_POSE, record.id)
            continue
        jobs.append(dataclasses.replace(record, pose=pose))
    if progress and len(jobs) < len(records):
        progress(len(records) - len(jobs))
    kept: list = []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for record, (sample, error) in zip(jobs, pool.map(lambda r: _load_one(r, resolution), jobs)):
            if progress:
                progress(1)
            if sample is None:
                skip(UNREADABLE, f"{record.id} ({error})")
                continue
            kept.append((record, sample))
    n, r = len(kept), resolution
    images = np.empty((n, r, r, 3), np.uint8)
    masks = np.empty((n, r, r), np.uint8)
    parts = np.zeros((n, r, r), np.uint8) if with_parts else None
    with_z0 = any(s.pose.z0 is not None for _, s in kept)
    q, s_, t = np.empty((n, 4), np.float32), np.empty((n, 1), np.float32), np.empty((n, 2), np.float32)
    z0 = np.zeros((n, 1), np.float32) if with_z0 else None
    for i, (record, sample) in enumerate(kept):
        images[i] = sample.image
        masks[i] = np.round(sample.mask * 255).astype(np.uint8)
        if parts is not None and sample.parts is not None:
            parts[i] = sample.parts
        q[i], s_[i, 0], t[i] = sample.pose.q, sample.pose.s, sample.pose.t
        if z0 is not None:
            z0[i, 0] = sample.pose.z0 if sample.pose.z0 is not None else 2.0  # the original's initial z0
    ids = [record.id for record, _ in kept]
    template_index = np.array([poses.template_index.get(i, 0) for i in ids], np.int64)
    return ReconData(ids, [record for record, _ in kept], images, masks, parts, q, s_, t, z0,
                     np.array([record.class_index for record, _ in kept], np.int64), template_index,
                     np.zeros(n, np.float32), skipped, examples)


def template_fit_iou(data: ReconData, templates: Tensor, template: MeshTemplate, batch_size: int = 64) -> np.ndarray:
    """(N,) IoU between each image's mask and its template's hard silhouette under the image's pose (at the
    crops' resolution). Used when the pose source carries no fit IoU; templates: (T, V, 3) object frame."""
    from backend.render import object_to_renderer, rasterize

    faces = torch.as_tensor(np.asarray(template.faces))
    out = np.zeros(len(data), np.float32)
    for start in range(0, len(data), batch_size):
        index = np.arange(start, min(start + batch_size, len(data)))
        vertices = templates[torch.from_numpy(data.template_index[index])].float()
        with torch.no_grad():
            rast = rasterize(object_to_renderer(vertices, data.pose(index)), faces, data.resolution)
        rendered = rast.mask.numpy() > 0.5
        masks = data.masks[index] >= 128
        inter = (rendered & masks).sum((1, 2))
        union = (rendered | masks).sum((1, 2))
        out[index] = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    return out


def semi_supervision_mask(fit_iou: np.ndarray, template_index: np.ndarray, fraction: float) -> np.ndarray:
    """(N,) float32: 1 for the top ``fraction`` of images per template by fit IoU (at least one per template
    when fraction > 0), else 0 (§4.3, --semi_fraction)."""
    mask = np.zeros(len(fit_iou), np.float32)
    if fraction <= 0:
        return mask
    for t in np.unique(template_index):
        rows = np.flatnonzero(template_index == t)
        keep = max(1, int(round(fraction * len(rows))))
        mask[rows[np.argsort(-fit_iou[rows], kind="stable")[:keep]]] = 1.0
    return mask
