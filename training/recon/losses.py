"""Loss terms of the reconstruction stage (§4.3).

total = semi_weight · semi + color_weight · color + alpha_weight · alpha + λ_flat · warm-up · flat + symmetry
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from backend.mesh import MeshTemplate


def part_targets(parts: Tensor, mask: Tensor, n_parts: int, valid: Tensor | None = None) -> Tensor:
    """Target part distribution of each pixel, multiplied by the object mask.

    parts: (B, H, W) int64 collection part ids: 0 = unlabelled, k >= 1 = channel k - 1.
    mask: (B, 1, H, W) in [0, 1]. valid: (B, P) channels valid per image (default all).
    Unlabelled pixels are spread uniformly over the valid channels (the original drops the background channel
    that way). Returns (B, P, H, W).
    """
    valid = torch.ones(parts.shape[0], n_parts, device=parts.device) if valid is None else valid.float()
    channel = (parts - 1).clamp(0, n_parts - 1)
    one_hot = F.one_hot(channel, n_parts).permute(0, 3, 1, 2).to(mask.dtype)
    uniform = (valid / valid.sum(1, keepdim=True).clamp_min(1))[:, :, None, None].to(mask.dtype)
    labelled = (parts > 0)[:, None].to(mask.dtype)
    return (one_hot * labelled + uniform * (1 - labelled)) * mask


def mesh_flatness(vertices: Tensor, template: MeshTemplate) -> Tensor:
    """Normal-consistency ("flat") regulariser: (F/2) · Σ_{i=1..3} mean_{b,f} (⟨n_f, n_adj_i(f)⟩ − 1)².

    vertices: (B, V, 3) on the template's topology. Returns a scalar.
    """
    faces = torch.as_tensor(np.asarray(template.faces), device=vertices.device)
    adjacency = torch.as_tensor(np.asarray(template.face_adjacency), device=vertices.device)
    v0, v1, v2 = (vertices[:, faces[:, k]] for k in range(3))
    normals = F.normalize(torch.cross(v1 - v0, v2 - v0, dim=-1), dim=-1, eps=1e-12)   # (B, F, 3)
    total = vertices.new_zeros(())
    for i in range(3):
        cosine = (normals * normals[:, adjacency[:, i]]).sum(-1)
        total = total + ((cosine - 1) ** 2).mean()
    return total * (faces.shape[0] / 2)


def symmetry_penalty(vertices: Tensor, template: MeshTemplate) -> Tensor:
    """Mean over the template's x > 0 vertices of max(0, −x): a vertex of the +x half crossing the plane."""
    positive = torch.as_tensor(np.flatnonzero(template.vertices[:, 0] > 0), device=vertices.device)
    return F.relu(-vertices[:, positive, 0]).mean()


def semi_supervision(vertices: Tensor, targets: Tensor, weights: Tensor) -> Tensor:
    """Weighted squared distance to the templates: mean_b w_b · mean_v ‖v − t‖².

    vertices, targets: (B, V, 3) object frame; weights: (B,) in [0, 1].
    """
    return (weights * ((vertices - targets) ** 2).sum(-1).mean(-1)).mean()


@dataclass
class LossTerms:
    """Every term of one iteration (scalars) and their weighted sum ``total``."""

    total: Tensor
    color: Tensor
    alpha: Tensor
    semi: Tensor
    flat: Tensor
    symmetry: Tensor

    def as_floats(self) -> dict[str, float]:
        return {k: float(v.detach()) for k, v in vars(self).items()}
