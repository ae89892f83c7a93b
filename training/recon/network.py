"""The mesh-estimation (reconstruction) network of §3.3, with the original state-dict names of §8.4.

From one masked RGBA crop (and its class, for multi-class runs) it predicts a displacement map, a texture and,
when the collection has part maps, a part distribution, each generated for half the UV width and mirrored
(§2.6). No spectral norm; ReLU activations; bias-free convolutions except the output heads; the mesh head is
zero-initialised so an untrained network predicts the plain template sphere.

Module names follow the original so that ``state_dict()`` keys are those of §8.4 (``conv1e.weight``,
``bn1e.norm.running_mean``, ``bnfc1e.norm.weight``, ``blk1.bn1.norm.weight``, ``bn1e.fc_gamma.weight`` ...);
official checkpoints store them with a ``module.`` prefix, which :mod:`training.recon.checkpoints` strips.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from backend.models.layers import BN_EPS, pad_x
from backend.models.symmetry import average_poles, mirror_half_width

from .config import (BOTTLENECK, ENCODER_CHANNELS, LATENT, MESH_CHANNELS, MESH_RESOLUTION, TEXTURE_CHANNELS, TRUNK,
                     NetworkConfig)

#: Logit added to part channels that do not exist for an image's class (the original's masked softmax).
MASKED_LOGIT = -10000.0
PAD_MODE = "replicate"  # symmetric maps: edge replication approximates even mirror padding at the axes


class ClassNorm(nn.Module):
    """Batch norm, optionally class-conditional (§3.3 "BN").

    n_classes <= 1: ordinary affine BatchNorm (``norm.weight/bias`` + running statistics).
    n_classes > 1: non-affine BatchNorm, then x̂·γ[class] + β[class] with embedding tables ``fc_gamma`` (init 1)
    and ``fc_beta`` (init 0) of shape (n_classes, channels).
    x: (B, C) or (B, C, H, W); class_index: (B,) int64 or None (only for n_classes <= 1).
    """

    def __init__(self, channels: int, n_classes: int, dims: int) -> None:
        super().__init__()
        conditional = n_classes > 1
        norm = nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d
        self.norm = norm(channels, eps=BN_EPS, momentum=0.1, affine=not conditional)
        if conditional:
            self.fc_gamma = nn.Embedding(n_classes, channels)
            self.fc_beta = nn.Embedding(n_classes, channels)
            nn.init.ones_(self.fc_gamma.weight)
            nn.init.zeros_(self.fc_beta.weight)
        else:
            self.fc_gamma = self.fc_beta = None

    def forward(self, x: Tensor, class_index: Tensor | None) -> Tensor:
        x = self.norm(x)
        if self.fc_gamma is None:
            return x
        shape = (x.shape[0], x.shape[1]) + (1,) * (x.dim() - 2)
        return x * self.fc_gamma(class_index).view(shape) + self.fc_beta(class_index).view(shape)


class ResBlock(nn.Module):
    """conv3x3(c_in→c_in) → BN → ReLU → conv3x3(c_in→c_out) → BN → ReLU, plus the shortcut (a bias-free 1x1
    conv when c_in != c_out, else identity). Convs pad y with zeros and x by edge replication.

    x: (B, c_in, H, W) -> (B, c_out, H, W).
    """

    def __init__(self, c_in: int, c_out: int, n_classes: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_in, 3, padding=(1, 0), bias=False)
        self.conv2 = nn.Conv2d(c_in, c_out, 3, padding=(1, 0), bias=False)
        self.bn1 = ClassNorm(c_in, n_classes, 2)
        self.bn2 = ClassNorm(c_out, n_classes, 2)
        self.shortcut = nn.Conv2d(c_in, c_out, 1, bias=False) if c_in != c_out else None

    def forward(self, x: Tensor, class_index: Tensor | None) -> Tensor:
        skip = x if self.shortcut is None else self.shortcut(x)
        h = F.relu(self.bn1(self.conv1(pad_x(x, 1, PAD_MODE)), class_index))
        h = F.relu(self.bn2(self.conv2(pad_x(h, 1, PAD_MODE)), class_index))
        return h + skip


def upsample(x: Tensor) -> Tensor:
    """Nearest-neighbour x2: (B, C, H, W) -> (B, C, 2H, 2W)."""
    return F.interpolate(x, scale_factor=2.0, mode="nearest")


@dataclass
class ReconOutput:
    """What the network predicts for a batch of B images.

    texture: (B, 3, T, T) float in [-1, 1] (tanh), mirror-symmetric (§2.6).
    displacement: (B, 3, 32, 32) float, poles averaged and mirrored; feed to
        ``backend.mesh.displacement_to_vertices``.
    parts: (B, P, T, T) float part distribution (softmax over channels; masked channels ≈ 0), or None.
    """

    texture: Tensor
    displacement: Tensor
    parts: Tensor | None


class ReconstructionNetwork(nn.Module):
    """The §3.3 encoder/decoder.

    forward(image (B, 4, R, R): RGB in [-1, 1] multiplied by the mask, then the mask in [0, 1];
            class_index (B,) int64 in [0, n_classes) (required when n_classes > 1);
            part_mask (B, P) bool/float, 1 for the part channels valid for each image (default: all))
      -> ReconOutput.
    In training mode each input is flipped left-right with probability ``flip_probability`` (drawn from
    torch's RNG); only the input is flipped, never the pose or the targets.
    """

    def __init__(self, config: NetworkConfig, flip_probability: float = 0.5) -> None:
        super().__init__()
        self.config = config
        self.flip_probability = flip_probability
        c = config.channels
        k = config.n_classes
        e1, e2, e3, e4, e5 = (c(n) for n in ENCODER_CHANNELS)
        self.bottom = config.image_resolution // 32  # conv5e output side (8 for a 256² input)
        # Registration order = the original's state-dict order (§8.4).
        self.conv1e = nn.Conv2d(4, e1, 5, stride=2, padding=2, bias=False)
        self.bn1e = ClassNorm(e1, k, 2)
        self.conv2e = nn.Conv2d(e1, e2, 3, stride=2, padding=1, bias=False)
        self.bn2e = ClassNorm(e2, k, 2)
        self.conv3e = nn.Conv2d(e2, e3, 3, stride=2, padding=1, bias=False)
        self.bn3e = ClassNorm(e3, k, 2)
        self.conv4e = nn.Conv2d(e3, e4, 3, stride=2, padding=1, bias=False)
        self.bn4e = ClassNorm(e4, k, 2)
        self.conv5e = nn.Conv2d(e4, e5, 3, stride=2, padding=1, bias=False)
        self.bn5e = ClassNorm(e5, k, 2)
        self.fc1e = nn.Linear(e5 * self.bottom * self.bottom, c(BOTTLENECK), bias=False)
        self.bnfc1e = ClassNorm(c(BOTTLENECK), k, 1)
        self.fc3e = nn.Linear(c(BOTTLENECK), c(LATENT), bias=False)
        self.bnfc3e = ClassNorm(c(LATENT), k, 1)

        t0, t1, t2, t3 = (c(n) for n in TRUNK)
        self.base_height, self.base_width = MESH_RESOLUTION // 8, MESH_RESOLUTION // 16  # 4 x 2 (half width)
        self.trunk_channels = t0
        self.fc1_tex = nn.Linear(c(LATENT), t0 * self.base_height * self.base_width)
        self.blk1 = ResBlock(t0, t1, k)
        self.blk2 = ResBlock(t1, t2, k)
        self.blk3 = ResBlock(t2, t3, k)

        x0, x1, x2 = (c(n) for n in TEXTURE_CHANNELS)
        self.extra_texture_blocks = {64: (), 128: ("blk3b_tex",), 256: ("blk3b_tex", "blk3c_tex")}[
            config.texture_resolution]
        previous = t3
        for name in self.extra_texture_blocks:
            setattr(self, name, ResBlock(previous, x0, k))
            previous = x0
        self.blk4_tex = ResBlock(previous, x1, k)
        self.blk5_tex = ResBlock(x1, x2, k)
        self.conv_tex = nn.Conv2d(x2, 3, 5, padding=(2, 0))
        self.conv_seg = nn.Conv2d(x2, config.n_parts, 5, padding=(2, 0)) if config.n_parts else None

        self.blk4_mesh = ResBlock(t3, c(MESH_CHANNELS), k)
        self.conv_mesh = nn.Conv2d(c(MESH_CHANNELS), 3, 5, padding=(2, 0))
        nn.init.zeros_(self.conv_mesh.weight)  # untrained network = the plain sphere
        nn.init.zeros_(self.conv_mesh.bias)

    def _check_inputs(self, image: Tensor, class_index: Tensor | None, part_mask: Tensor | None) -> None:
        r = self.config.image_resolution
        if image.dim() != 4 or tuple(image.shape[1:]) != (4, r, r):
            raise ValueError(f"image must have shape (B, 4, {r}, {r}), got {tuple(image.shape)}")
        if self.config.conditional:
            if class_index is None or tuple(class_index.shape) != (image.shape[0],):
                raise ValueError(f"this network is class-conditional ({self.config.n_classes} classes); "
                                 f"pass class_index of shape ({image.shape[0]},)")
        if part_mask is not None and tuple(part_mask.shape) != (image.shape[0], self.config.n_parts):
            raise ValueError(f"part_mask must have shape ({image.shape[0]}, {self.config.n_parts}), "
                             f"got {tuple(part_mask.shape)}")

    def _random_flip(self, image: Tensor) -> Tensor:
        flip = (torch.rand(image.shape[0], device=image.device) < self.flip_probability)[:, None, None, None]
        return torch.where(flip, image.flip(-1), image)

    def forward(self, image: Tensor, class_index: Tensor | None = None,
                part_mask: Tensor | None = None) -> ReconOutput:
        self._check_inputs(image, class_index, part_mask)
        cl = class_index.long() if self.config.conditional else None
        x = self._random_flip(image) if self.training and self.flip_probability > 0 else image
        for i in range(1, 6):
            x = F.relu(getattr(self, f"bn{i}e")(getattr(self, f"conv{i}e")(x), cl))
        z = F.relu(self.bnfc1e(self.fc1e(x.flatten(1)), cl))
        z = F.relu(self.bnfc3e(self.fc3e(z), cl))

        trunk = self.fc1_tex(z).view(z.shape[0], self.trunk_channels, self.base_height, self.base_width)
        trunk = upsample(self.blk1(trunk, cl))
        trunk = upsample(self.blk2(trunk, cl))
        trunk = upsample(self.blk3(trunk, cl))                                # (B, C, 32, 16)

        mesh = F.relu(self.blk4_mesh(trunk, cl))
        displacement = average_poles(self.conv_mesh(pad_x(mesh, 2, PAD_MODE)))

        t = trunk
        for name in self.extra_texture_blocks:
            t = upsample(getattr(self, name)(t, cl))
        t = upsample(self.blk4_tex(t, cl))
        t = pad_x(F.relu(self.blk5_tex(t, cl)), 2, PAD_MODE)                  # (B, 64w, T, T/2 + 4)
        texture = torch.tanh(self.conv_tex(t))
        parts = None
        if self.conv_seg is not None:
            logits = self.conv_seg(t)
            if part_mask is not None:
                logits = logits + ((1 - part_mask.to(logits.dtype)) * MASKED_LOGIT)[:, :, None, None]
            parts = mirror_half_width(torch.softmax(logits, dim=1))
        return ReconOutput(mirror_half_width(texture), mirror_half_width(displacement), parts)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
