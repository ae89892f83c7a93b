"""The multi-scale UV-space discriminators of §3.2, with the original state-dict names (§8.3).

Inputs: ``x`` = concat(texture x alpha, alpha) (B, 4, T, T) and the displacement map ``mesh`` (B, 3, M, M).
Every conv is spectral-normalised with a bias, followed by LeakyReLU 0.2 except the logit conv; padding is circular
along x (u wraps around the sphere) and zero along y. Each discriminator concatenates a fixed 4-channel positional
encoding [cos a_r, sin a_r, cos a_c, sin a_c] (a_r = pi r / N, a_c = -pi + 2 pi c / N), registered as ``pos_emb``.

* ``TextureDiscriminator(f)`` (d1 with f = 1, d3 with f = 4): x average-pooled by f; logits at N/16 (strided first
  conv, N >= 512) or N/8.
* ``MeshDiscriminator`` (d2): x pooled to M x M, plus the mesh map and the encoding (11 channels); logits at M/4.
* Projection conditioning for class models: logits += sum_c(h * embedding[class]) over the last hidden layer.
* ``output masks``: alpha average-pooled to each logit grid, used to weight the losses spatially.

``width`` scales every hidden channel count (1.0 = the paper) for CPU-sized training.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import spectral_norm

LEAKY_SLOPE = 0.2
HIDDEN = (64, 128, 256, 512)


def positional_encoding(size: int) -> Tensor:
    """(1, 4, N, N) float32: [cos a_r, sin a_r, cos a_c, sin a_c] with a_r = pi r / N, a_c = -pi + 2 pi c / N."""
    rows = math.pi * torch.arange(size, dtype=torch.float32) / size
    cols = -math.pi + 2 * math.pi * torch.arange(size, dtype=torch.float32) / size
    r = rows[:, None].expand(size, size)
    c = cols[None, :].expand(size, size)
    return torch.stack([torch.cos(r), torch.sin(r), torch.cos(c), torch.sin(c)])[None]


def _sn_conv(c_in: int, c_out: int, kernel: int, stride: int, pad: int) -> nn.Conv2d:
    """Spectral-normalised conv that zero-pads ``pad`` rows along y itself; x is wrapped by :func:`_wrap` first."""
    return spectral_norm(nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=(pad, 0), bias=True))


def _wrap(x: Tensor, amount: int) -> Tensor:
    """Circular padding along x (the texture's u wraps around the sphere); the conv zero-pads y.

    Same result as circular-padding x then zero-padding y, but one concatenation instead of two pads: the pads'
    backward passes (zero fills and strided copies) were about 40% of a CPU D step.
    """
    return torch.cat([x[..., -amount:], x, x[..., :amount]], dim=-1)


def _channels(width: float) -> tuple[int, ...]:
    return tuple(max(1, int(round(c * width))) for c in HIDDEN)


class TextureDiscriminator(nn.Module):
    """TD(f) of §3.2. forward(x (B, 4, T, T), class_index (B,) or None) -> (logits (B, 1, n, n), hidden)."""

    def __init__(self, texture_resolution: int, downsample: int = 1, width: float = 1.0, n_classes: int = 0) -> None:
        super().__init__()
        self.downsample = downsample
        size = texture_resolution // downsample
        c1, c2, c3, c4 = _channels(width)
        # The original strides the first conv only for the full-resolution D of a >= 512 texture.
        self.strided_first = downsample == 1 and texture_resolution >= 512
        self.conv1 = _sn_conv(8, c1, 4, 2, 1) if self.strided_first else _sn_conv(8, c1, 5, 1, 2)
        self.conv2 = _sn_conv(c1, c2, 4, 2, 1)
        self.conv3 = _sn_conv(c2, c3, 4, 2, 1)
        self.conv4 = _sn_conv(c3, c4, 4, 2, 1)
        self.conv5 = _sn_conv(c4, 1, 5, 1, 2)
        if n_classes > 0:
            self.projector = nn.Embedding(n_classes, c4)
        else:
            self.projector = None
        self.register_buffer("pos_emb", positional_encoding(size))
        self.logit_stride = 16 if self.strided_first else 8

    def forward(self, x: Tensor, class_index: Tensor | None = None) -> Tensor:
        if self.downsample > 1:
            x = F.avg_pool2d(x, self.downsample)
        h = torch.cat([x, self.pos_emb.expand(x.shape[0], -1, -1, -1).to(x.dtype)], dim=1)
        h = F.leaky_relu(self.conv1(_wrap(h, 1 if self.strided_first else 2)), LEAKY_SLOPE)
        for conv in (self.conv2, self.conv3, self.conv4):
            h = F.leaky_relu(conv(_wrap(h, 1)), LEAKY_SLOPE)
        logits = self.conv5(_wrap(h, 2))
        return _project(logits, h, self.projector, class_index)

    def output_mask(self, alpha: Tensor) -> Tensor:
        """(B, 1, T, T) alpha -> (B, 1, n, n) on the logit grid."""
        return F.avg_pool2d(alpha, self.downsample * self.logit_stride)


class MeshDiscriminator(nn.Module):
    """MD of §3.2. forward(x (B, 4, T, T), mesh (B, 3, M, M), class_index) -> logits (B, 1, M/4, M/4)."""

    def __init__(self, texture_resolution: int, mesh_resolution: int = 32, width: float = 1.0,
                 n_classes: int = 0) -> None:
        super().__init__()
        self.pool = texture_resolution // mesh_resolution
        c1, c2, c3, _ = _channels(width)
        self.conv1 = _sn_conv(11, c1, 5, 1, 2)
        self.conv2 = _sn_conv(c1, c2, 4, 2, 1)
        self.conv3 = _sn_conv(c2, c3, 4, 2, 1)
        self.conv4 = _sn_conv(c3, 1, 5, 1, 2)
        self.projector = nn.Embedding(n_classes, c3) if n_classes > 0 else None
        self.register_buffer("pos_emb", positional_encoding(mesh_resolution))

    def forward(self, x: Tensor, mesh: Tensor, class_index: Tensor | None = None) -> Tensor:
        x = F.avg_pool2d(x, self.pool) if self.pool > 1 else x
        h = torch.cat([x, mesh.to(x.dtype), self.pos_emb.expand(x.shape[0], -1, -1, -1).to(x.dtype)], dim=1)
        h = F.leaky_relu(self.conv1(_wrap(h, 2)), LEAKY_SLOPE)
        h = F.leaky_relu(self.conv2(_wrap(h, 1)), LEAKY_SLOPE)
        h = F.leaky_relu(self.conv3(_wrap(h, 1)), LEAKY_SLOPE)
        logits = self.conv4(_wrap(h, 2))
        return _project(logits, h, self.projector, class_index)

    def output_mask(self, alpha: Tensor) -> Tensor:
        return F.avg_pool2d(alpha, self.pool * 4)


def _project(logits: Tensor, hidden: Tensor, projector: nn.Embedding | None, class_index: Tensor | None) -> Tensor:
    if projector is None:
        return logits
    if class_index is None:
        raise ValueError("this discriminator is class-conditional; pass class_index (B,)")
    emb = projector(class_index.long())[:, :, None, None]          # (B, C, 1, 1)
    return logits + (hidden * emb).sum(dim=1, keepdim=True)


def default_num_discriminators(texture_resolution: int) -> int:
    """3 for textures >= 512, else 2 (§3.2)."""
    return 3 if texture_resolution >= 512 else 2


class MultiScaleDiscriminator(nn.Module):
    """d1 = TD(1), d2 = MD, and d3 = TD(4) when ``num_discriminators`` is 3 (§3.2).

    forward(x (B, 4, T, T), mesh (B, 3, M, M), class_index) -> list of (logits, mask) per discriminator, where
    mask is alpha (x's last channel) pooled to that logit grid. ``weights`` are the loss weights (2 : 1 for two
    discriminators on a >= 512 texture, else equal), normalised to sum 1.
    """

    def __init__(self, texture_resolution: int, mesh_resolution: int = 32, num_discriminators: int | None = None,
                 width: float = 1.0, n_classes: int = 0) -> None:
        super().__init__()
        n = num_discriminators or default_num_discriminators(texture_resolution)
        if n not in (2, 3):
            raise ValueError(f"num_discriminators must be 2 or 3, got {n}")
        self.texture_resolution = texture_resolution
        self.d1 = TextureDiscriminator(texture_resolution, 1, width, n_classes)
        self.d2 = MeshDiscriminator(texture_resolution, mesh_resolution, width, n_classes)
        self.d3 = TextureDiscriminator(texture_resolution, 4, width, n_classes) if n == 3 else None
        raw = [2.0, 1.0] if n == 2 and texture_resolution >= 512 else [1.0] * n
        self.weights = [w / sum(raw) for w in raw]

    def forward(self, x: Tensor, mesh: Tensor, class_index: Tensor | None = None) -> list[tuple[Tensor, Tensor]]:
        alpha = x[:, 3:4]
        out = [(self.d1(x, class_index), self.d1.output_mask(alpha)),
               (self.d2(x, mesh, class_index), self.d2.output_mask(alpha))]
        if self.d3 is not None:
            out.append((self.d3(x, class_index), self.d3.output_mask(alpha)))
        return out
