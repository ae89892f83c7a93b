"""Pose errors against the truth a collection carries (synthetic testbed: ``Record.pose`` in the object frame;
CUB / P3D: CMR's SfM poses, frame "cmr_sfm").

    ev = evaluate_poses(load_pose_file("poses.safetensors"), collection)
    ev.kept / ev.all: Errors(n, recall, median_deg, mean_deg, flip_rate, scale_rel, translation) or None
    ev.cmr_proxy_kept / ev.cmr_proxy_all: mean(1 - (q·q_gt)²) after aligning frames (CMR poses only)

Rotation error = geodesic angle 2·acos(|q·q_gt|); a flip is an error above 90°. Scale error = |s/s_gt - 1|
(median); translation error = ‖t - t_gt‖ (median, normalised image units, the image's long side spans 2).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .file import PoseEstimate, PoseFile, load_hypotheses
from .geometry import agreement_score, crop_to_full, geodesic_degrees


@dataclass
class Errors:
    n: int
    recall: float
    median_deg: float
    mean_deg: float
    flip_rate: float
    scale_rel: float
    translation: float

    def line(self, label: str) -> str:
        return (f"{label}: n={self.n} recall={self.recall:.3f} median={self.median_deg:.2f}° "
                f"mean={self.mean_deg:.2f}° flip={100 * self.flip_rate:.1f}% scale_err={100 * self.scale_rel:.1f}% "
                f"t_err={self.translation:.4f}")


@dataclass
class PoseEvaluation:
    kept: Errors | None
    all: Errors | None
    with_truth: int
    cmr_proxy_kept: float | None = None
    cmr_proxy_all: float | None = None

    def lines(self, label: str = "") -> list[str]:
        prefix = f"{label} " if label else ""
        out = []
        if self.kept is not None:
            out.append(self.kept.line(f"{prefix}at the filter's recall"))
        if self.all is not None:
            out.append(self.all.line(f"{prefix}at recall 1"))
        if self.cmr_proxy_kept is not None:
            out.append(f"{prefix}CMR proxy mean(1-(q·q_gt)²): {self.cmr_proxy_kept:.4f} at the filter's recall, "
                       f"{self.cmr_proxy_all:.4f} at recall 1")
        if not out:
            out.append(f"{prefix}no record with a true pose to compare with")
        return out


def _errors(est: list[PoseEstimate], truth: dict, denominator: int) -> Errors | None:
    if not est:
        return None
    q = np.array([e.pose.q for e in est])
    qt = np.array([truth[e.id].q for e in est])
    err = geodesic_degrees(q, qt)
    scale = np.abs(np.array([e.pose.s / truth[e.id].s for e in est]) - 1)
    trans = np.linalg.norm(np.array([e.pose.t for e in est]) - np.array([truth[e.id].t for e in est]), axis=1)
    return Errors(len(est), len(est) / max(denominator, 1), float(np.median(err)), float(err.mean()),
                  float((err > 90).mean()), float(np.median(scale)), float(np.median(trans)))


def _matrix(q: np.ndarray) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    q = np.asarray(q, np.float64)
    return Rotation.from_quat(q[:, [1, 2, 3, 0]]).as_matrix()


def _cmr_proxy(est: list[PoseEstimate], truth: dict) -> tuple[float, float] | None:
    """Align our object frame to CMR's frame with the rotation A minimising Σ‖R_gt A - R‖² (over kept), then
    the spec's proxy mean(1 - (q·q_gt)²) at the filter's recall and at recall 1."""
    from scipy.spatial.transform import Rotation

    if not est:
        return None
    r = _matrix(np.array([e.pose.q for e in est]))
    rt = _matrix(np.array([truth[e.id].q for e in est]))
    kept = np.array([e.kept for e in est])
    base = kept if kept.any() else np.ones_like(kept)
    m = np.einsum("nji,njk->ik", rt[base], r[base])         # Σ R_gtᵀ R
    u, _, vt = np.linalg.svd(m)
    a = u @ np.diag([1, 1, np.sign(np.linalg.det(u @ vt))]) @ vt
    aligned = rt @ a
    qa = Rotation.from_matrix(aligned).as_quat()[:, [3, 0, 1, 2]]
    q = np.array([e.pose.q for e in est])
    proxy = 1 - np.square((q * qa).sum(1))
    return float(proxy[base].mean()), float(proxy.mean())


def evaluate_poses(poses: PoseFile, collection) -> PoseEvaluation:
    """Compare a pose file with the collection's true poses (records without a pose are ignored)."""
    truth = {r.id: r.pose for r in collection.records if r.pose is not None}
    object_truth = {k: p for k, p in truth.items() if p.frame == "object"}
    cmr_truth = {k: p for k, p in truth.items() if p.frame == "cmr_sfm"}
    est_obj = [e for e in poses.estimates if e.id in object_truth]
    kept = [e for e in est_obj if e.kept]
    ev = PoseEvaluation(_errors(kept, object_truth, len(est_obj)), _errors(est_obj, object_truth, len(est_obj)),
                        len(est_obj) + sum(e.id in cmr_truth for e in poses.estimates))
    proxy = _cmr_proxy([e for e in poses.estimates if e.id in cmr_truth], cmr_truth)
    if proxy is not None:
        ev.cmr_proxy_kept, ev.cmr_proxy_all = proxy
    return ev


def silhouette_only(hypotheses_file, v_agr_threshold: float = 0.3, percentile: float = 10.0) -> PoseFile:
    """The step-1 baseline as a PoseFile: best-IoU hypothesis, v_agr on IoU, kept when v_agr < threshold and
    IoU above the percentile (the §5.3 filter with IoU in place of mIoU)."""
    from dataformat import SquareBox

    arrays, header = load_hypotheses(hypotheses_file)
    iou = torch.from_numpy(arrays["iou"])
    q = torch.from_numpy(arrays["R"])
    best = iou.argmax(1)
    rows = torch.arange(len(best))
    best_iou = iou[rows, best].numpy()
    v_agr = agreement_score(iou, q).numpy()
    cut = np.percentile(best_iou, percentile)
    estimates = []
    for k, record_id in enumerate(header["ids"]):
        j = int(best[k])
        box = SquareBox(*(int(v) for v in arrays["box"][k]))
        pose = crop_to_full(arrays["R"][k, j], arrays["s"][k, j, 0], arrays["t"][k, j], float(arrays["z0"][k, j, 0]),
                            tuple(header["image_sizes"][k]), box)
        estimates.append(PoseEstimate(record_id, pose, arrays["w"][k, j], float(best_iou[k]), float("nan"),
                                      float(v_agr[k]), bool(v_agr[k] < v_agr_threshold and best_iou[k] > cut)))
    return PoseFile(estimates, list(header.get("template_names") or []), {"features": "silhouette"})
