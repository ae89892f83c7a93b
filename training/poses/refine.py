"""Pose step 2b: the chosen pose and its turned-around partner, both refined on the silhouette, compete again.

On the testbed the front/back errors that survive step 2 are the car turned 180° about its vertical axis, not the
silhouette twins. Step 1 leaves the two ends unevenly served: its hypotheses were fitted at low resolution, pruned
by IoU, and for a few per cent of the images none of them lies on the right side at all. So after step 2 has chosen
a hypothesis, its partner (the same camera with the object turned around, ``geometry.turned_around``) is added to
the image's hypotheses, both are refined with a few silhouette steps at the final resolution (the §5.2 objective,
``step1.silhouette_step``), and step 2's score decides between the two on equal terms. The refinement also
sharpens the chosen pose itself (step 1 of the ``cpu`` preset ends at 96²).

    aug = add_refined_partners(hyp, chosen, masks_of, templates, faces, config)
    aug.q (N, K + 1, 4): column ``chosen`` refined in place, column K its refined partner (likewise s, t, z0, w,
    iou with the final-resolution IoU of the refined poses).
"""
from __future__ import annotations

from typing import Callable

import torch

from .config import PoseConfig
from .geometry import turned_around
from .optim import AdamFull
from .step1 import Hypotheses, mask_iou, resize_masks, silhouette_step


def refine_poses(q: torch.Tensor, s: torch.Tensor, t: torch.Tensor, z0: torch.Tensor, vertices: torch.Tensor,
                 faces: torch.Tensor, masks: torch.Tensor, config: PoseConfig
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Refine P poses per image on the silhouette: ``config.refine_steps`` AdamFull steps at the final resolution,
    learning rate ``config.refine_lr`` (×0.1 for the last quarter).

    q (N, P, 4), s (N, P, 1), t (N, P, 2), z0 (N, P, 1); vertices (N, P, V, 3) the template of each pose;
    masks (N, S, S) float in [0, 1]. Returns refined (q, s, t, z0) of the same shapes and their IoU (N, P) at
    the final resolution.
    """
    n, p = q.shape[:2]
    side = config.final_resolution
    target = resize_masks(masks, side)
    flat = [x.reshape(n * p, -1).float() for x in (q, s, t, z0)]
    verts = vertices.reshape(n * p, *vertices.shape[2:])
    optimiser = AdamFull(n * p, 8, lr=config.refine_lr)
    decay_at = max(1, (3 * config.refine_steps) // 4)
    for step in range(config.refine_steps):
        if step == decay_at:
            optimiser.lr *= 0.1
        flat, _ = silhouette_step(optimiser, tuple(flat), verts, faces, target, side, config.sigma_at(side))
    from backend.render import Pose, render_silhouette

    with torch.no_grad():
        sil = render_silhouette(verts, faces, Pose(*flat), side, sigma_inv=config.sigma_at(side))
        iou = mask_iou(sil.reshape(n, p, side, side), target[:, None])
    shapes = ((n, p, 4), (n, p, 1), (n, p, 2), (n, p, 1))
    q_out, s_out, t_out, z_out = (x.reshape(shape) for x, shape in zip(flat, shapes))
    return q_out, s_out, t_out, z_out, iou


def add_refined_partners(hyp: Hypotheses, chosen: torch.Tensor, masks_of: Callable[[list[int]], torch.Tensor],
                         templates: torch.Tensor, faces: torch.Tensor, config: PoseConfig,
                         chunk: int = 16, progress: Callable[[int], None] = lambda n: None) -> Hypotheses:
    """Hypotheses with one more column per image (see the module docstring).

    hyp: N images × K hypotheses; chosen (N,) the hypothesis step 2 picked; masks_of(indices) -> (B, S, S) masks
    of those images (crop frame); templates (T, V, 3). The partner uses the chosen hypothesis's template.
    progress(n) is called after every chunk with the number of images it refined.
    """
    n, k = hyp.q.shape[:2]
    rows = torch.arange(n)
    q0 = hyp.q[rows, chosen]
    pair_q = torch.stack([q0, turned_around(q0)], dim=1)                                  # (N, 2, 4)
    pair = [pair_q] + [torch.stack([x[rows, chosen]] * 2, dim=1) for x in (hyp.s, hyp.t, hyp.z0)]
    tpl = hyp.w[rows, chosen].argmax(dim=1)                                                # (N,)
    out = [torch.empty_like(x) for x in pair] + [torch.empty(n, 2)]
    for index in rows.split(chunk):
        masks = masks_of(index.tolist())
        vertices = templates[tpl[index]][:, None].expand(-1, 2, -1, -1)
        refined = refine_poses(*(x[index] for x in pair), vertices, faces, masks, config)
        for dst, src in zip(out, refined):
            dst[index] = src
        progress(len(index))
    q, s, t, z0, iou = out
    fields = []
    for name, new in (("q", q), ("s", s), ("t", t), ("z0", z0)):
        column = getattr(hyp, name).clone()
        column[rows, chosen] = new[:, 0]
        fields.append(torch.cat([column, new[:, 1:2]], dim=1))
    w = torch.cat([hyp.w, hyp.w[rows, chosen][:, None]], dim=1)
    iou_all = hyp.iou.clone()
    iou_all[rows, chosen] = iou[:, 0]
    iou_all = torch.cat([iou_all, iou[:, 1:2]], dim=1)
    return Hypotheses(*fields, w, iou_all)
