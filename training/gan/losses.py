"""GAN losses of §4.1: masked hinge terms and the mesh "flat" regulariser.

Each discriminator output y (B, 1, h, w) comes with a mask m (alpha pooled to that grid). Per sample the spatial sums
are normalised by sum(m); the batch mean follows; several discriminators are combined with their weights.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor


def _masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """mean_b( sum_hw(values * m) / sum_hw(m) ); a sample with an empty mask contributes 0."""
    num = (values * mask).flatten(1).sum(1)
    den = mask.flatten(1).sum(1)
    return torch.where(den > 0, num / den.clamp_min(1e-12), torch.zeros_like(num)).mean()


def hinge_d_real(logits: Tensor, mask: Tensor) -> Tensor:
    """-sum(min(0, y - 1) m) / sum(m)."""
    return _masked_mean(torch.relu(1.0 - logits), mask)


def hinge_d_fake(logits: Tensor, mask: Tensor) -> Tensor:
    """-sum(min(0, -y - 1) m) / sum(m)."""
    return _masked_mean(torch.relu(1.0 + logits), mask)


def hinge_g(logits: Tensor, mask: Tensor) -> Tensor:
    """-sum(y m) / sum(m)."""
    return -_masked_mean(logits, mask)


def combine(outputs: Sequence[tuple[Tensor, Tensor]], weights: Sequence[float], term) -> Tensor:
    """sum_k weight_k * term(logits_k, mask_k)."""
    return sum(w * term(y, m) for (y, m), w in zip(outputs, weights))


def face_normals(vertices: Tensor, faces: Tensor) -> Tensor:
    """(B, V, 3), (F, 3) -> (B, F, 3) unit normals (right-hand rule)."""
    a, b, c = (vertices[:, faces[:, k]] for k in range(3))
    n = torch.cross(b - a, c - a, dim=-1)
    return n / n.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def flat_loss(vertices: Tensor, faces: Tensor, adjacency: Tensor) -> Tensor:
    """The flat regulariser: (F / 2) * sum_{i=1..3} mean_{b,f} (<n_f, n_adj_i(f)> - 1)^2.

    vertices (B, V, 3); faces (F, 3); adjacency (F, 3) the three edge-adjacent faces of each face.
    """
    normals = face_normals(vertices, faces)
    total = sum(((normals * normals[:, adjacency[:, i]]).sum(-1) - 1).pow(2).mean() for i in range(3))
    return faces.shape[0] / 2 * total
