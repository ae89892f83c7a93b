"""Pose step 2 (§5.3): semantic templates from reliable images, per-hypothesis part mIoU, choice and filter.

Channel maps: (N, C, R, R) float probabilities per pixel in the crop frame, channel 0 = background, channels
1..C-1 = object channels (part maps: "object without part" then the parts; appearance: pseudo-parts from
clustered Inception features, see ``appearance``). Everything here works on any such maps.

    reliable = reliable_subset(hyp, config)                          # (N,) bool
    semantic = semantic_templates(hyp, maps, templates, faces, reliable)   # (T, V, C-1) per-vertex distributions
    pred = render_channels(hyp, i, semantic, templates, faces, side)       # (K, C, R, R) per hypothesis
    miou = soft_miou(pred, maps_i)                                   # (K,) the spec's score
    dist = centroid_distance(pred, maps_i)                           # (K,) where each part lands vs. where it is
    choice = choose(hyp, miou - w * dist, config, miou)              # Choice(index, miou, v_agr, margin, kept)

Why the part centroids (``step2_centroid_weight``): on the testbed the flips that survive the mIoU are not the
silhouette twins but the front/back-swapped poses (the truth turned 180° about the vertical axis), which a
roughly front/back-symmetric car body fits about as well. Only small parts (head- and tail-lights) tell them
apart, and their per-vertex probabilities in the semantic template are smeared and faint, so their overlap
(Σmin/Σmax) barely changes between the two poses. Where a part lands in the image does: the centroid of the
rendered channel (sharpened, see ``centroid_distance``) is at the front of the rendered car for headlights and
at its back for taillights, whatever their strength.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .config import PoseConfig
from .geometry import agreement_score, complementary_score
from .step1 import Hypotheses

SMOOTHING = 1e-6


def _pose(hyp: Hypotheses, image: torch.Tensor, index: torch.Tensor):
    from backend.render import Pose

    return Pose(hyp.q[image, index], hyp.s[image, index], hyp.t[image, index], hyp.z0[image, index])


def reliable_subset(hyp: Hypotheses, config: PoseConfig) -> tuple[torch.Tensor, dict]:
    """§5.3 item 2: per template, images whose best-IoU hypothesis uses it, with v_agr < threshold and
    complementary score > complementary_min; the top ``reliable_top`` by IoU. Returns ((N,) bool, stats).

    A template with no image passing both tests falls back to its top images by IoU among those with the
    highest complementary scores (stated in ``stats["fallback"]``), so a tiny collection still gets a template.
    """
    n = hyp.q.shape[0]
    rows = torch.arange(n)
    best = hyp.best()
    best_iou = hyp.iou[rows, best]
    best_q = hyp.q[rows, best]
    v_agr = agreement_score(hyp.iou, hyp.q)
    comp = complementary_score(best_q)
    template = hyp.w[rows, best].argmax(dim=1)
    reliable = torch.zeros(n, dtype=torch.bool)
    fallback = []
    for k in range(hyp.w.shape[2]):
        mine = template == k
        ok = mine & (v_agr < config.v_agr_threshold) & (comp > config.complementary_min)
        if not ok.any() and mine.any():
            fallback.append(k)
            # the most side-on quarter of this template's images
            cut = torch.quantile(comp[mine], 0.75)
            ok = mine & (comp >= cut)
        index = torch.nonzero(ok)[:, 0]
        top = index[best_iou[index].argsort(descending=True)[:config.reliable_top]]
        reliable[top] = True
    return reliable, {"reliable": int(reliable.sum()), "fallback": fallback}


def back_project(hyp: Hypotheses, maps: torch.Tensor, images: torch.Tensor, templates: torch.Tensor,
                 faces: torch.Tensor, chosen: torch.Tensor | None = None) -> torch.Tensor:
    """Accumulate the object channels of ``images``' maps onto the vertices their pose sees (the best-IoU
    hypothesis, or ``chosen`` (N,) hypothesis indices).

    Each covered pixel adds its channel values × its barycentric weights to the three vertices of its visible
    face (the negative gradient of Σ(render(a) - p)²/2 at a = 0 w.r.t. per-vertex attributes a).
    Returns (T, V, C-1) float64 sums.
    """
    from backend.render import object_to_renderer, rasterize

    n_templates, n_vertices = templates.shape[:2]
    channels = maps.shape[1] - 1
    side = maps.shape[-1]
    out = torch.zeros(n_templates, n_vertices, channels, dtype=torch.float64)
    pick = hyp.best() if chosen is None else chosen
    for chunk in images.split(32):
        best = pick[chunk]
        tpl = hyp.w[chunk, best].argmax(dim=1)
        vertices = templates[tpl]
        screen = object_to_renderer(vertices, _pose(hyp, chunk, best))
        rast = rasterize(screen, faces, side)
        covered = rast.face_index >= 0                                     # (B, R, R)
        b, r, c = torch.nonzero(covered, as_tuple=True)
        corner = faces[rast.face_index[b, r, c]]                           # (P, 3)
        bary = rast.barycentrics[b, r, c].double()                         # (P, 3)
        values = maps[chunk][b, 1:, r, c].double()                          # (P, C-1)
        target = (tpl[b][:, None] * n_vertices + corner).reshape(-1)       # flat (template, vertex)
        contrib = (bary[..., None] * values[:, None, :]).reshape(-1, channels)
        out.view(-1, channels).index_add_(0, target, contrib)
    return out


def semantic_templates(hyp: Hypotheses, maps: torch.Tensor, templates: torch.Tensor, faces: torch.Tensor,
                       reliable: torch.Tensor, mirror_index: torch.Tensor) -> torch.Tensor:
    """§5.3 item 3: (T, V, C-1) float32 per-vertex distributions over the object channels, normalised with
    additive smoothing and averaged with the mirror partner."""
    sums = back_project(hyp, maps, torch.nonzero(reliable)[:, 0], templates, faces) + SMOOTHING
    dist = sums / sums.sum(dim=2, keepdim=True)
    dist = 0.5 * (dist + dist[:, mirror_index])
    return dist.float()


def render_channels(hyp: Hypotheses, image: int, semantic: torch.Tensor, templates: torch.Tensor,
                    faces: torch.Tensor, side: int) -> torch.Tensor:
    """All K hypotheses of one image rendered as channel maps: (K, C, side, side), channel 0 = 1 - coverage."""
    from backend.render import interpolate, object_to_renderer, rasterize

    k = hyp.q.shape[1]
    index = torch.arange(k)
    tpl = hyp.w[image].argmax(dim=1)
    vertices = templates[tpl]
    rast = rasterize(object_to_renderer(vertices, _pose(hyp, torch.full((k,), image), index)), faces, side)
    values = interpolate(semantic[tpl], rast).permute(0, 3, 1, 2)         # (K, C-1, R, R), 0 where empty
    background = 1 - rast.mask.to(values.dtype)
    return torch.cat([background[:, None], values], dim=1)


def soft_miou(pred: torch.Tensor, target: torch.Tensor, min_mass: float = 1.0, blur: float = 0.0,
              weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over the target's non-empty channels of Σmin(pred, target) / Σmax(pred, target).

    pred (K, C, H, W), target (C, H, W) -> (K,). A channel is non-empty when its target mass exceeds
    ``min_mass`` pixels. blur: Gaussian σ in pixels applied to both first (0: none), so small parts that
    miss each other by a pixel or two still overlap. weights: (C,) channel weights of the mean (None: equal).
    """
    if blur > 0:
        pred, target = gaussian_blur(pred, blur), gaussian_blur(target[None], blur)[0]
    inter = torch.minimum(pred, target[None]).flatten(2).sum(-1)
    union = torch.maximum(pred, target[None]).flatten(2).sum(-1)
    present = (target.flatten(1).sum(-1) > min_mass).to(pred.dtype)         # (C,)
    if weights is not None:
        present = present * weights.to(pred.dtype)
    ratio = inter / union.clamp_min(1e-9)
    return (ratio * present).sum(-1) / present.sum().clamp_min(1e-9)


def gaussian_blur(maps: torch.Tensor, sigma: float) -> torch.Tensor:
    """(B, C, H, W) maps blurred channel by channel with a separable Gaussian of σ ``sigma`` pixels (same size)."""
    radius = max(1, int(round(3 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=maps.dtype)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = kernel / kernel.sum()
    b, c, h, w = maps.shape
    flat = maps.reshape(b * c, 1, h, w)
    flat = torch.nn.functional.conv2d(flat, kernel.view(1, 1, 1, -1), padding=(0, radius))
    flat = torch.nn.functional.conv2d(flat, kernel.view(1, 1, -1, 1), padding=(radius, 0))
    return flat.reshape(b, c, h, w)


def front_back_asymmetry(semantic: torch.Tensor, flip_index: torch.Tensor) -> torch.Tensor:
    """How much each object channel tells front from back: (T, V, C-1) per-vertex distributions and the
    (V,) vertex at the front/back mirrored position (y negated) -> (C-1,) in [0, 1].

    0 for a channel laid out the same at both ends (body, wheels), 1 for one found at one end only (lights).
    """
    mass = semantic.sum(dim=(0, 1)).clamp_min(1e-9)
    diff = (semantic - semantic[:, flip_index]).abs().sum(dim=(0, 1))
    return (0.5 * diff / mass).clamp(0, 1)


def channel_centroids(maps: torch.Tensor) -> torch.Tensor:
    """Mass-weighted centre of every channel: (..., H, W) non-negative maps -> (..., 2) (x, y) in [-1, 1]
    (pixel centres of the first and last column / row at -1 and 1); (0, 0) for an empty map."""
    h, w = maps.shape[-2:]
    ys = torch.linspace(-1, 1, h, dtype=maps.dtype).view(h, 1)
    xs = torch.linspace(-1, 1, w, dtype=maps.dtype).view(1, w)
    mass = maps.sum(dim=(-2, -1)).clamp_min(1e-9)
    return torch.stack([(maps * xs).sum(dim=(-2, -1)) / mass, (maps * ys).sum(dim=(-2, -1)) / mass], dim=-1)


def centroid_distance(pred: torch.Tensor, target: torch.Tensor, power: float = 2.0,
                      min_mass: float = 1.0) -> torch.Tensor:
    """Mean over the target's non-empty object channels of the distance between the centroid of the rendered
    channel and that of the target channel, in half-frame units (the crop spans [-1, 1]).

    pred (K, C, H, W), target (C, H, W), channel 0 = background (ignored) -> (K,) in [0, 2√2].
    Each rendered channel is divided by its maximum and raised to ``power`` first: a semantic template
    spreads a small part's probability thinly over the whole car, and without sharpening that tail pulls every
    centroid toward the middle of the car.
    """
    obj = pred[:, 1:].clamp_min(0)
    peak = obj.flatten(2).amax(-1).clamp_min(1e-9)[..., None, None]
    sharp = (obj / peak) ** power
    dist = (channel_centroids(sharp) - channel_centroids(target[1:])[None]).norm(dim=-1)     # (K, C-1)
    present = (target[1:].flatten(1).sum(-1) > min_mass).to(pred.dtype)
    return (dist * present).sum(-1) / present.sum().clamp_min(1.0)


def front_back_margin(score: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """How clearly each image's best hypothesis beats every hypothesis on the other side: best score minus the
    best score among hypotheses more than 90° away from it (rotation angle 2·acos|qᵢ·q_best|).

    score (N, K), q (N, K, 4) -> (N,) ≥ 0; +inf when no hypothesis is more than 90° away.
    """
    rows = torch.arange(score.shape[0])
    best = score.argmax(dim=1)
    qn = q.double() / q.double().norm(dim=-1, keepdim=True)
    dots = torch.einsum("nkc,nc->nk", qn, qn[rows, best]).abs()
    other_side = dots < np.cos(np.pi / 4)                  # 2·acos|d| > 90°  <=>  |d| < cos 45°
    rival = torch.where(other_side, score.double(), torch.full_like(score.double(), -torch.inf)).amax(dim=1)
    return (score.double()[rows, best] - rival).float()


@dataclass
class Choice:
    """index (N,) chosen hypothesis; miou (N,) its mIoU; v_agr (N,) agreement on the step-2 score;
    margin (N,) front/back margin of the step-2 score (``front_back_margin``); kept (N,) bool."""

    index: torch.Tensor
    miou: torch.Tensor
    v_agr: torch.Tensor
    kept: torch.Tensor
    margin: torch.Tensor


def choose(hyp: Hypotheses, score: torch.Tensor, config: PoseConfig, miou: torch.Tensor | None = None) -> Choice:
    """§5.3 items 4–5: the best-scoring hypothesis per image, and the filter.

    score (N, K): the step-2 score (the spec: mIoU); miou (N, K): the mIoU itself when the score is another
    (None: the score is the mIoU). Filter ``config.step2_filter``: "v_agr" (the spec: v_agr on the score below
    ``v_agr_threshold``) or "margin" (``front_back_margin`` above ``step2_margin``); both also need the chosen
    hypothesis's score above the run's ``miou_percentile`` (the spec's mIoU percentile when the score is mIoU).
    """
    miou = score if miou is None else miou
    rows = torch.arange(score.shape[0])
    index = score.argmax(dim=1)
    best = score[rows, index]
    v_agr = agreement_score(score, hyp.q)
    margin = front_back_margin(score, hyp.q)
    cut = float(np.percentile(best.numpy(), config.miou_percentile)) if len(best) else 0.0
    if config.step2_filter == "margin":
        confident = margin > config.step2_margin
    else:
        confident = v_agr < config.v_agr_threshold
    return Choice(index, miou[rows, index], v_agr, confident & (best > cut), margin)


def choose_by_iou(hyp: Hypotheses, config: PoseConfig) -> Choice:
    """The silhouette-only baseline: best IoU, v_agr on IoU, the same filter with IoU in place of mIoU."""
    return choose(hyp, hyp.iou, config.replace(step2_filter="v_agr"))
