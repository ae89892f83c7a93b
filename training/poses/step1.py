"""Pose step 1 (§5.2): fit 40 views × T templates per image to its mask with soft silhouettes.

    hyp = fit_hypotheses(masks (N, S, S) float in [0, 1], templates (T, V, 3), faces (F, 3), config)
    hyp.q (N, K, 4), hyp.s (N, K, 1), hyp.t (N, K, 2), hyp.z0 (N, K, 1), hyp.w (N, K, T), hyp.iou (N, K)

Poses are in the crop frame of the masks (the renderer's [-1, 1] square). All hypotheses of all N images go
through one batched render per step (N·K meshes).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .config import PoseConfig
from .optim import AdamFull

AZIMUTHS = tuple(range(0, 360, 45))
ELEVATIONS = (45.0, 67.5, 90.0, 112.5, 135.0)
Z0_RANGE = (-4.0, 4.0)


@dataclass
class Hypotheses:
    """K camera hypotheses for each of N images (crop frame). Tensors on the CPU, float32."""

    q: torch.Tensor
    s: torch.Tensor
    t: torch.Tensor
    z0: torch.Tensor
    w: torch.Tensor
    iou: torch.Tensor

    def best(self) -> torch.Tensor:
        """(N,) index of the highest-IoU hypothesis of each image."""
        return self.iou.argmax(dim=1)


def initial_rotations(dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The 40 initial views (§5.2 item 1): 8 azimuths × 5 elevations, roll -90°, azimuth-major. (40, 4)."""
    from backend.render import viewpoint_quaternion

    az, el = np.meshgrid(np.array(AZIMUTHS, np.float64), np.array(ELEVATIONS), indexing="ij")
    return viewpoint_quaternion(torch.from_numpy(az.reshape(-1)), torch.from_numpy(el.reshape(-1))).to(dtype)


def initial_scales(templates: torch.Tensor, rotations: torch.Tensor) -> torch.Tensor:
    """s = 0.9 / max |projected x or y| of each template in each view (§5.2 item 2). -> (T, R)."""
    from backend.render import quaternion_to_matrix

    rot = quaternion_to_matrix(rotations.double())[:, :2]                  # (R, 2, 3)
    projected = torch.einsum("rij,tvj->trvi", rot, templates.double())     # (T, R, V, 2)
    return (0.9 / projected.abs().amax(dim=(2, 3))).float()


def resize_masks(masks: torch.Tensor, side: int) -> torch.Tensor:
    """(N, S, S) -> (N, side, side), bilinear (antialiased when shrinking)."""
    if masks.shape[-1] == side:
        return masks
    return F.interpolate(masks[:, None], size=(side, side), mode="bilinear", align_corners=False,
                         antialias=side < masks.shape[-1])[:, 0].clamp(0, 1)


def mask_iou(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """IoU of soft masks thresholded at 0.5: (..., H, W) × (..., H, W) -> (...)."""
    a, b = pred > 0.5, target > 0.5
    inter = (a & b).flatten(-2).sum(-1).float()
    union = (a | b).flatten(-2).sum(-1).float()
    return inter / union.clamp_min(1)


def brick_wall(screen: torch.Tensor) -> torch.Tensor:
    """§5.2 item 5: mean over vertices and both image coordinates of max(0, |c| - 1)². (B, V, 3) -> (B,)."""
    return F.relu(screen[..., :2].abs() - 1).square().mean(dim=(1, 2))


def silhouette_step(optimiser: AdamFull, pose_params: tuple[torch.Tensor, ...], vertices: torch.Tensor,
                    faces: torch.Tensor, target: torch.Tensor, side: int, sigma_inv: float):
    """One AdamFull step on N images × K hypotheses: the §5.2 objective (per image, the soft-silhouette MSE
    averaged over its hypotheses and pixels, plus the brick-wall penalty), then q normalised, s = |s|, z0 clamped.

    pose_params: (q (N·K, 4), s (N·K, 1), t (N·K, 2), z0 (N·K, 1)); vertices (N·K, V, 3); target (N, side, side).
    Returns the updated (q, s, t, z0) (detached) and the soft silhouettes (N, K, side, side) before the step.
    """
    from backend.render import Pose, object_to_renderer, render_silhouette

    n = target.shape[0]
    params = [p.detach().requires_grad_(True) for p in pose_params]
    pose = Pose(*params)
    screen = object_to_renderer(vertices, pose)
    sil = render_silhouette(vertices, faces, pose, side, sigma_inv=sigma_inv)
    sil = sil.reshape(n, -1, side, side)
    mse = (sil - target[:, None]).square().mean(dim=(1, 2, 3)).sum()
    loss = mse + brick_wall(screen).sum()
    loss.backward()
    grad = torch.cat([p.grad for p in params], dim=1)
    update = optimiser.step(grad).float()
    with torch.no_grad():
        q = params[0] + update[:, :4]
        q = q / q.norm(dim=1, keepdim=True)
        s = (params[1] + update[:, 4:5]).abs()
        t = params[2] + update[:, 5:7]
        z0 = (params[3] + update[:, 7:8]).clamp(*Z0_RANGE)
    return (q, s, t, z0), sil.detach()


def fit_hypotheses(masks: torch.Tensor, templates: torch.Tensor, faces: torch.Tensor, config: PoseConfig,
                   progress: Callable[[int], None] | None = None) -> Hypotheses:
    """Run step 1 on N images at once. masks (N, S, S) float in [0, 1]; templates (T, V, 3); faces (F, 3) int64."""
    from backend.render import Pose, render_silhouette

    n = masks.shape[0]
    n_templates = templates.shape[0]
    rotations = initial_rotations()
    views = rotations.shape[0]
    scales = initial_scales(templates, rotations)                       # (T, 40)
    k = views * n_templates
    # hypothesis j of an image: template j // 40, view j % 40
    template_index = torch.arange(k) // views
    q = rotations.repeat(n_templates, 1)[None].expand(n, -1, -1).reshape(-1, 4).clone()
    s = scales.reshape(-1)[None].expand(n, -1).reshape(-1, 1).clone()
    t = torch.zeros(n * k, 2)
    z0 = torch.full((n * k, 1), float(config.z0_init))
    tpl = template_index[None].expand(n, -1).clone()                    # (N, K)
    prune = set(config.prune_after) if (n_templates > 1 or config.prune_single) else set()
    optimiser = AdamFull(n * k, 8, lr=config.lr)
    iou = torch.zeros(n, k)
    for step in range(config.steps):
        if step == config.lr_decay_after:
            optimiser.lr *= 0.1
        side = config.resolution_at(step)
        target = resize_masks(masks, side)
        kk = tpl.shape[1]
        (q, s, t, z0), sil = silhouette_step(optimiser, (q, s, t, z0), templates[tpl.reshape(-1)], faces,
                                             target, side, config.sigma_at(side))
        with torch.no_grad():
            iou = mask_iou(sil, target[:, None])
            if step + 1 in prune and kk > 1:
                keep = iou.topk(kk // 2, dim=1).indices.sort(dim=1).values          # (N, K/2)
                flat = (torch.arange(n)[:, None] * kk + keep).reshape(-1)
                q, s, t, z0 = q[flat], s[flat], t[flat], z0[flat]
                optimiser.select(flat)
                tpl = tpl.gather(1, keep)
        if progress is not None:
            progress(1)
    with torch.no_grad():
        side = config.final_resolution
        target = resize_masks(masks, side)
        pose = Pose(q, s, t, z0)
        sil = render_silhouette(templates[tpl.reshape(-1)], faces, pose, side, sigma_inv=config.sigma_at(side))
        kk = tpl.shape[1]
        iou = mask_iou(sil.reshape(n, kk, side, side), target[:, None])
    w = F.one_hot(tpl, n_templates).float()
    return Hypotheses(q.reshape(n, kk, 4), s.reshape(n, kk, 1), t.reshape(n, kk, 2), z0.reshape(n, kk, 1), w, iou)
