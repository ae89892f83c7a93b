"""Consistency check of a synthetic collection through the project's renderer (``backend.render``).

Each car's true mesh (object frame) is projected with the image's true pose (project convention, §6.2) and
hard-rasterised; the coverage must reproduce the mask Blender rendered (IoU >= ``min_iou`` on every image).
The part map is compared too (fraction of pixels covered in both whose part agrees). This proves the pose
convention end to end: Blender camera -> pose -> backend.render camera. Perspective sets are rendered with
their z0 warp, an approximation of the pinhole, so their IoU is close to but below 1.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dataformat import load_collection

from .mesh_io import read_car_obj


@dataclass
class ConsistencyReport:
    """ious / part_agreement: {record id: value}; problems: {record id: why it could not be checked}."""

    min_iou: float
    ious: dict[str, float] = field(default_factory=dict)
    part_agreement: dict[str, float] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)

    @property
    def failures(self) -> list[str]:
        """Ids below the threshold, worst first."""
        return sorted((k for k, v in self.ious.items() if v < self.min_iou), key=self.ious.get)

    @property
    def passed(self) -> bool:
        return bool(self.ious) and not self.failures and not self.problems

    def summary(self) -> str:
        if not self.ious:
            return f"no image could be checked ({len(self.problems)} problems)"
        ious = np.array(list(self.ious.values()))
        parts = np.array(list(self.part_agreement.values())) if self.part_agreement else np.array([np.nan])
        verdict = "PASS" if self.passed else "FAIL"
        line = (f"{verdict}: {len(ious)} images, mask IoU min {ious.min():.4f} mean {ious.mean():.4f} "
                f"(threshold {self.min_iou}); part agreement mean {np.nanmean(parts):.4f}")
        if self.failures:
            line += f"; below threshold: {len(self.failures)} [{', '.join(self.failures[:5])}]"
        if self.problems:
            line += f"; not checked: {len(self.problems)} [{', '.join(list(self.problems)[:5])}]"
        return line

    def to_json(self) -> dict:
        return {"passed": self.passed, "min_iou": self.min_iou, "ious": self.ious,
                "part_agreement": self.part_agreement, "problems": self.problems, "failures": self.failures}


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two (H, W) boolean masks (1.0 when both are empty)."""
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def check_consistency(path: str | os.PathLike, limit: int | None = None, min_iou: float = 0.95,
                      impl: str = "fast", batch_size: int = 16) -> ConsistencyReport:
    """Re-render the true meshes of a synthetic collection with their true poses and compare with its masks.

    limit: check only the first ``limit`` records. impl: backend.render implementation ("fast" or "reference").
    """
    collection = load_collection(Path(path), check="header")
    report = ConsistencyReport(min_iou=min_iou)
    records = collection.records[:limit] if limit is not None else collection.records
    meshes: dict[str, object] = {}
    jobs = []
    for record in records:
        mesh_name = record.extra.get("mesh")
        if record.pose is None or mesh_name is None:
            report.problems[record.id] = "no true pose or mesh in the index (not a synthetic collection?)"
            continue
        if record.pose.frame != "object":
            report.problems[record.id] = f"pose frame is {record.pose.frame!r}, not the object frame"
            continue
        if mesh_name not in meshes:
            try:
                meshes[mesh_name] = read_car_obj(collection.root / mesh_name)
            except (OSError, ValueError) as exc:
                report.problems[record.id] = f"true mesh unreadable: {exc}"
                continue
        jobs.append((record, meshes[mesh_name]))

    # Batch records whose meshes share a face list (backend.render shares faces across a batch).
    groups: dict[tuple[bytes, bool], list] = {}
    for record, car in jobs:  # (and whose poses all have, or all lack, z0)
        groups.setdefault((car.faces.tobytes(), record.pose.z0 is None), []).append((record, car))
    for group in groups.values():
        for start in range(0, len(group), batch_size):
            chunk = group[start:start + batch_size]
            by_size: dict[tuple[int, int], list] = {}
            for item in chunk:
                by_size.setdefault(item[0].image_size, []).append(item)
            for size, items in by_size.items():
                _check_batch(items, size, impl, report)
    return report


def _check_batch(items: list, size: tuple[int, int], impl: str, report: ConsistencyReport) -> None:
    """Render one batch of (record, car) sharing faces and image size; add IoU / part agreement to ``report``."""
    import torch

    from backend.render import Pose as RenderPose
    from backend.render import object_to_renderer, rasterize

    faces = torch.from_numpy(items[0][1].faces)
    vertices = torch.from_numpy(np.stack([car.vertices for _, car in items])).float()
    pose = RenderPose.stack([r.pose for r, _ in items])
    with torch.no_grad():
        rast = rasterize(object_to_renderer(vertices, pose), faces, size, impl=impl)
    rendered = rast.mask.numpy() > 0.5
    face_index = rast.face_index.numpy()
    for k, (record, car) in enumerate(items):
        try:
            blender = record.load_mask()
        except (OSError, ValueError) as exc:
            report.problems[record.id] = f"mask unreadable: {exc}"
            continue
        report.ious[record.id] = mask_iou(rendered[k], blender)
        parts = record.load_parts()
        if parts is not None:
            both = rendered[k] & blender
            if both.any():
                ours = car.face_parts[face_index[k][both]]
                report.part_agreement[record.id] = float((ours == parts[both]).mean())
