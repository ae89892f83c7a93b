"""One forward pass of the reconstruction stage and its losses (§4.3), shared by training and evaluation."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from backend.mesh import MeshTemplate, displacement_to_vertices

from .config import TrainConfig
from .losses import LossTerms, mesh_flatness, part_targets, semi_supervision, symmetry_penalty
from .network import ReconOutput, ReconstructionNetwork
from .render import Rendered, render_prediction


@dataclass
class Prediction:
    """Network output for a batch, its vertices (B, V, 3) in the object frame, and its render under the pose."""

    output: ReconOutput
    vertices: Tensor
    rendered: Rendered


def predict(network: ReconstructionNetwork, batch: dict, template: MeshTemplate, render_resolution: int,
            silhouette: bool = True) -> Prediction:
    """Run the network on ``batch`` (from ``ReconData.batch``) and render the result under the batch's poses."""
    output = network(batch["network_input"], batch["class_index"])
    vertices = displacement_to_vertices(template, output.displacement)
    rendered = render_prediction(vertices, output.texture, output.parts, batch["pose"], render_resolution, template,
                                 silhouette=silhouette)
    return Prediction(output, vertices, rendered)


def _at(x: Tensor, resolution: int) -> Tensor:
    if x.shape[-1] == resolution:
        return x
    return F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False, antialias=True)


def targets(batch: dict, resolution: int, n_parts: int) -> tuple[Tensor, Tensor, Tensor | None]:
    """(masked RGB (B, 3, N, N) in [-1, 1], mask (B, 1, N, N), part targets (B, P, N, N) or None) at N."""
    mask = _at(batch["mask"], resolution)
    rgb = _at(batch["image"] * batch["mask"], resolution)
    parts = None
    if n_parts and batch["parts"] is not None:
        labels = batch["parts"]
        if labels.shape[-1] != resolution:
            labels = F.interpolate(labels[:, None].float(), size=(resolution, resolution), mode="nearest")[:, 0].long()
        parts = part_targets(labels, mask, n_parts)
    return rgb, mask, parts


def compute_losses(prediction: Prediction, batch: dict, templates: Tensor, template: MeshTemplate,
                   config: TrainConfig, iteration: int) -> LossTerms:
    """Every §4.3 term for one batch at training iteration ``iteration`` (0-based).

    templates: (T, V, 3) semi-supervision targets; each image uses ``batch["template_index"]``.
    """
    rendered = prediction.rendered
    resolution = rendered.rgb.shape[-1]
    n_parts = 0 if rendered.parts is None else rendered.parts.shape[1]
    rgb_t, mask_t, parts_t = targets(batch, resolution, n_parts)
    if parts_t is not None:
        color = F.mse_loss(torch.cat([rendered.parts, rendered.rgb], 1), torch.cat([parts_t, rgb_t], 1))
    else:
        color = F.mse_loss(rendered.rgb, rgb_t)
    alpha = F.mse_loss(rendered.silhouette, mask_t)
    weights = (batch["semi_mask"] + config.semi_coefficient(iteration)).clamp(max=1.0)
    semi = semi_supervision(prediction.vertices, templates[batch["template_index"]], weights)
    flat = mesh_flatness(prediction.vertices, template)
    symmetry = symmetry_penalty(prediction.vertices, template)
    total = (config.semi_weight * semi + config.color_weight * color + config.alpha_weight * alpha
             + config.mesh_regularization * config.flat_warmup(iteration) * flat + symmetry)
    return LossTerms(total, color, alpha, semi, flat, symmetry)
