"""The paper's generator (§3.1) in its training form, with the original state-dict layout (§8.2).

Spectral norm on every residual-block conv, conditional batch norm driven by E = z or
concat(z, class embedding), explicit horizontal padding, nearest x2 upsampling after blocks.
For inference use :func:`backend.models.folding.fold_generator`, which gives the same outputs
with plain weights.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import (FEATURE_CHANNELS, MESH_CHANNELS, TEXTURE_CHANNELS, TRUNK_CHANNELS,
                     GeneratorConfig)
from .layers import LEAKY_SLOPE, ResBlock, pad_x
from .symmetry import average_poles, mirror_half_width

EXTRA_BLOCK_NAMES = ("blk3a", "blk3b", "blk3c")


def upsample(x: Tensor) -> Tensor:
    """Nearest-neighbour x2 along both spatial axes: (B, C, H, W) -> (B, C, 2H, 2W)."""
    return F.interpolate(x, scale_factor=2.0, mode="nearest")


def condition_vector(config: GeneratorConfig, z: Tensor, class_index: "Tensor | None",
                     embedding: "nn.Embedding | None") -> Tensor:
    """Validate inputs and build E: (B, latent_dim) or (B, latent_dim + class_embedding_dim).

    class_index: (B,) int class indices, or (B, n_classes) float class vectors whose embedding is the weighted
    sum of the class embeddings (a one-hot row gives exactly that class's embedding).
    """
    if z.dim() != 2 or z.shape[1] != config.latent_dim:
        raise ValueError(f"z must have shape (B, {config.latent_dim}), got {tuple(z.shape)}")
    if embedding is None:
        if class_index is not None:
            raise ValueError("this generator is unconditional; pass class_index=None")
        return z
    if class_index is None:
        raise ValueError(f"this generator is class-conditional ({config.n_classes} classes); pass class_index (B,)")
    if class_index.is_floating_point():
        if class_index.shape != (z.shape[0], config.n_classes):
            raise ValueError(f"class vectors must have shape ({z.shape[0]}, {config.n_classes}), "
                             f"got {tuple(class_index.shape)}")
        return torch.cat([z, class_index.to(embedding.weight.dtype) @ embedding.weight], dim=1)
    if class_index.shape != (z.shape[0],):
        raise ValueError(f"class_index must have shape ({z.shape[0]},), got {tuple(class_index.shape)}")
    return torch.cat([z, embedding(class_index.long())], dim=1)


class Generator(nn.Module):
    """Textured-mesh generator, training form (spectral norm + batch statistics).

    forward(z (B, latent_dim) float32, class_index (B,) int64 or None)
      -> texture (B, 3, T, T) in [-1, 1] (tanh), displacement (B, 3, M, M) (M = mesh_resolution),
    where both maps are generated for half the width and mirrored when ``config.symmetric``.
    """

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        self.config = config
        c = config.channels
        cond = config.condition_dim
        pad = "replicate" if config.symmetric else "circular"
        self.pad_mode = pad
        self.fc_height = config.mesh_resolution // 4
        self.fc_width = self.fc_height // 2 if config.symmetric else self.fc_height
        trunk, feature, mesh = c(TRUNK_CHANNELS), c(FEATURE_CHANNELS), c(MESH_CHANNELS)
        tex_mid, tex_out = c(TEXTURE_CHANNELS[0]), c(TEXTURE_CHANNELS[1])

        # Registration order = state-dict key order of the original (§8.2).
        if config.conditional:
            self.emb_class = nn.Embedding(config.n_classes, config.class_embedding_dim)
        else:
            self.emb_class = None
        self.fc = nn.Linear(cond, trunk * self.fc_height * self.fc_width)
        self.blk1 = ResBlock(trunk, trunk, cond, pad)
        self.blk2 = ResBlock(trunk, feature, cond, pad)
        self.extra_block_names = EXTRA_BLOCK_NAMES[:config.n_extra_texture_blocks]
        for name in self.extra_block_names:
            setattr(self, name, ResBlock(feature, feature, cond, pad))
        self.blk4 = ResBlock(feature, tex_mid, cond, pad)
        self.blk5 = ResBlock(tex_mid, tex_mid, cond, pad)
        self.blk6 = ResBlock(tex_mid, tex_out, cond, pad)
        self.conv_final = nn.Conv2d(tex_out, 3, 5, padding=(2, 0))
        self.blk3_mesh = ResBlock(feature, mesh, cond, pad)
        self.conv_mesh = nn.Conv2d(mesh, 3, 5, padding=(2, 0))
        # Zero-initialised: an untrained generator outputs the plain template sphere.
        nn.init.zeros_(self.conv_mesh.weight)
        nn.init.zeros_(self.conv_mesh.bias)

    @property
    def trunk_channels(self) -> int:
        return self.fc.out_features // (self.fc_height * self.fc_width)

    def forward(self, z: Tensor, class_index: "Tensor | None" = None) -> tuple[Tensor, Tensor]:
        e = condition_vector(self.config, z, class_index, self.emb_class)
        x = self.fc(e).view(z.shape[0], self.trunk_channels, self.fc_height, self.fc_width)
        x = upsample(self.blk1(x, e))
        feature = upsample(self.blk2(x, e))

        t = feature
        for name in self.extra_block_names:
            t = upsample(getattr(self, name)(t, e))
        t = upsample(self.blk4(t, e))
        t = upsample(self.blk5(t, e))
        t = F.leaky_relu(self.blk6(t, e), LEAKY_SLOPE)
        texture = torch.tanh(self.conv_final(pad_x(t, 2, self.pad_mode)))

        m = F.leaky_relu(self.blk3_mesh(feature, e), LEAKY_SLOPE)
        displacement = average_poles(self.conv_mesh(pad_x(m, 2, self.pad_mode)))

        if self.config.symmetric:
            texture = mirror_half_width(texture)
            displacement = mirror_half_width(displacement)
        return texture, displacement
