"""Quaternion helpers of pose estimation: agreement score, complementary score, geodesic error, frames.

Quaternions are (w, x, y, z) (rotation of object-frame points into CMR's camera frame, §6.2).
"""
from __future__ import annotations

import numpy as np
import torch


def agreement_score(score: torch.Tensor, q: torch.Tensor, temperature: float = 0.01) -> torch.Tensor:
    """v_agr (§5.2): conf = softmax(score / T) over an image's hypotheses; v = Σᵢⱼ confᵢ confⱼ (1 - (qᵢ·qⱼ)²).

    score: (N, K) (IoU or mIoU); q: (N, K, 4) unit quaternions. Returns (N,) in [0, 1): small = agreement.
    """
    conf = torch.softmax(score.double() / temperature, dim=1)
    qn = q.double() / q.double().norm(dim=-1, keepdim=True)
    dots = torch.einsum("nkc,njc->nkj", qn, qn)
    return torch.einsum("nk,nj,nkj->n", conf, conf, 1 - dots.square()).float()


def twin_quaternion(q: torch.Tensor) -> torch.Tensor:
    """q̃ = (y, -z, w, -x): the rotation with the same orthographic silhouette for a mirror-symmetric object
    (the camera-depth flip composed with the object mirror; q̃ = k ⊗ q ⊗ i). (..., 4) -> (..., 4)."""
    w, x, y, z = q.unbind(-1)
    return torch.stack([y, -z, w, -x], dim=-1)


def turned_around(q: torch.Tensor) -> torch.Tensor:
    """q ⊗ (0, 0, 0, 1): the same camera with the object turned 180° about its vertical axis (z up, so front and
    back swap), R(result) = R(q) · R_z(180°). (..., 4) -> (..., 4)."""
    w, x, y, z = q.unbind(-1)
    return torch.stack([-z, y, -x, w], dim=-1)


def complementary_score(q: torch.Tensor) -> torch.Tensor:
    """c(q) = (q · q̃)² (§5.3 item 1): 1 when q equals its silhouette twin (exact side views, unambiguous).
    (..., 4) -> (...)."""
    qn = q / q.norm(dim=-1, keepdim=True)
    return (qn * twin_quaternion(qn)).sum(-1).square()


def geodesic_degrees(q: np.ndarray, q_true: np.ndarray) -> np.ndarray:
    """Rotation angle between (N, 4) and (N, 4) quaternions in degrees: 2·acos(|q·q_true|), in [0, 180]."""
    q = np.asarray(q, np.float64)
    q_true = np.asarray(q_true, np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    q_true = q_true / np.linalg.norm(q_true, axis=-1, keepdims=True)
    dot = np.clip(np.abs((q * q_true).sum(-1)), 0.0, 1.0)
    return np.degrees(2 * np.arccos(dot))


def crop_to_full(q, s: float, t, z0: float | None, image_size: tuple[int, int], box) -> "object":
    """Inverse of ``dataformat.pose_to_crop``: a pose in a square crop's frame -> the full-image frame.

    box: a ``dataformat.SquareBox`` (x0, y0, side). Returns ``dataformat.Pose`` (frame "object").
    """
    from dataformat.record import Pose

    h, w = image_size
    length = max(h, w)
    b = box.side
    tx = (b * float(t[0]) - w + 2 * box.x0 + b) / length
    ty = (b * float(t[1]) - h + 2 * box.y0 + b) / length
    qv = np.asarray(q, np.float64)
    qv = qv / np.linalg.norm(qv)
    qv = qv if qv[0] >= 0 else -qv
    return Pose(tuple(float(v) for v in qv), float(s) * b / length, (tx, ty), None if z0 is None else float(z0),
                "object")
