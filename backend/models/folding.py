"""Inference form of the generator: spectral norm and batch norm folded once into plain weights.

* Spectral norm (§8.2): eval-mode PyTorch uses W = W_orig / (u^T W_mat v) with the *stored* u and v
  (EMA-averaged in released checkpoints, so not unit length); we fold exactly that, no power iteration.
* Conditional batch norm in eval mode is y = (x - mean) / sqrt(var + eps) * (1 + gamma(E)) + beta(E),
  which is x * a(E) + b(E) with a, b linear in E. All a/b of the network come from ONE matrix product
  at the start of the forward pass (``affine``), instead of 2 x 2 x 8 small Linear layers.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import GeneratorConfig
from .generator import Generator, condition_vector, upsample
from .layers import LEAKY_SLOPE, ConditionalBatchNorm, ResBlock, pad_x


def spectral_normalised_weight(conv: nn.Conv2d) -> Tensor:
    """W_orig / sigma with sigma = u^T (W_mat v) from the stored u, v (float64 maths, float32 result)."""
    weight = conv.weight_orig.detach().double()
    u = conv.weight_u.detach().double()
    v = conv.weight_v.detach().double()
    sigma = torch.dot(u, weight.reshape(weight.shape[0], -1) @ v)
    return (weight / sigma).to(conv.weight_orig.dtype)


def plain_conv(conv: nn.Conv2d, weight: Tensor) -> nn.Conv2d:
    """A copy of ``conv``'s geometry (no spectral norm) holding ``weight`` and its bias if any."""
    out = nn.utils.skip_init(nn.Conv2d, conv.in_channels, conv.out_channels, conv.kernel_size,
                             padding=conv.padding, bias=conv.bias is not None, device=weight.device,
                             dtype=weight.dtype)
    with torch.no_grad():
        out.weight.copy_(weight)
        if conv.bias is not None:
            out.bias.copy_(conv.bias.detach())
    return out.requires_grad_(False)


def folded_affine(norm: ConditionalBatchNorm) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(W_a, b_a, W_b, b_b) with a(E) = W_a E + b_a and b(E) = W_b E + b_b (float64, shapes (C, E_dim), (C,))."""
    bn = norm.norm
    inv_std = torch.rsqrt(bn.running_var.detach().double() + bn.eps)
    mean = bn.running_mean.detach().double()
    wg, bg = norm.fc_gamma.weight.detach().double(), norm.fc_gamma.bias.detach().double()
    wb, bb = norm.fc_beta.weight.detach().double(), norm.fc_beta.bias.detach().double()
    w_a = wg * inv_std[:, None]
    b_a = (bg + 1) * inv_std
    return w_a, b_a, wb - mean[:, None] * w_a, bb - mean * b_a


class FoldedResBlock(nn.Module):
    """ResBlock with plain convs; its CBN scale/shift arrive precomputed as (B, C) tensors."""

    def __init__(self, block: ResBlock) -> None:
        super().__init__()
        self.pad_mode = block.pad_mode
        self.conv1 = plain_conv(block.conv1, spectral_normalised_weight(block.conv1))
        self.conv2 = plain_conv(block.conv2, spectral_normalised_weight(block.conv2))
        self.shortcut = (None if block.shortcut is None
                         else plain_conv(block.shortcut, spectral_normalised_weight(block.shortcut)))

    def forward(self, x: Tensor, a1: Tensor, b1: Tensor, a2: Tensor, b2: Tensor) -> Tensor:
        h = self.conv1(pad_x(x, 1, self.pad_mode))
        h = F.leaky_relu(torch.addcmul(b1[:, :, None, None], h, a1[:, :, None, None]), LEAKY_SLOPE)
        h = self.conv2(pad_x(h, 1, self.pad_mode))
        h = F.leaky_relu(torch.addcmul(b2[:, :, None, None], h, a2[:, :, None, None]), LEAKY_SLOPE)
        return h + (x if self.shortcut is None else self.shortcut(x))


class FoldedGenerator(nn.Module):
    """Inference-only generator; same forward signature and outputs as ``Generator.eval()``.

    forward(z (B, latent_dim) float32, class_index (B,) int64 | None)
      -> texture (B, 3, T, T) in [-1, 1], displacement (B, 3, M, M).
    Built by :func:`fold_generator`; holds no batch-norm state and no spectral-norm vectors.
    """

    def __init__(self, generator: Generator) -> None:
        super().__init__()
        self.config: GeneratorConfig = generator.config
        self.pad_mode = generator.pad_mode
        self.fc_height, self.fc_width = generator.fc_height, generator.fc_width
        self.trunk_channels = generator.trunk_channels
        self.emb_class = generator.emb_class
        self.fc = generator.fc
        self.block_names = ["blk1", "blk2", *generator.extra_block_names, "blk4", "blk5", "blk6", "blk3_mesh"]

        weights, biases, slices = [], [], {}
        offset = 0
        for name in self.block_names:
            block: ResBlock = getattr(generator, name)
            setattr(self, name, FoldedResBlock(block))
            for norm in (block.norm1, block.norm2):
                w_a, b_a, w_b, b_b = folded_affine(norm)
                weights += [w_a, w_b]
                biases += [b_a, b_b]
                slices.setdefault(name, []).append((offset, offset + len(b_a), offset + 2 * len(b_a)))
                offset += 2 * len(b_a)
        dtype = generator.fc.weight.dtype
        self.affine = nn.utils.skip_init(nn.Linear, self.config.condition_dim, offset,
                                         device=generator.fc.weight.device, dtype=dtype)
        with torch.no_grad():
            self.affine.weight.copy_(torch.cat(weights).to(dtype))
            self.affine.bias.copy_(torch.cat(biases).to(dtype))
        self.affine_slices = slices
        self.conv_final = generator.conv_final
        self.conv_mesh = generator.conv_mesh
        self.requires_grad_(False)
        self.eval()

    def _block(self, name: str, x: Tensor, ab: Tensor) -> Tensor:
        (s1, m1, e1), (s2, m2, e2) = self.affine_slices[name]
        return getattr(self, name)(x, ab[:, s1:m1], ab[:, m1:e1], ab[:, s2:m2], ab[:, m2:e2])

    def forward(self, z: Tensor, class_index: "Tensor | None" = None) -> tuple[Tensor, Tensor]:
        from .symmetry import average_poles, mirror_half_width

        e = condition_vector(self.config, z, class_index, self.emb_class)
        ab = self.affine(e)
        x = self.fc(e).view(z.shape[0], self.trunk_channels, self.fc_height, self.fc_width)
        x = upsample(self._block("blk1", x, ab))
        feature = upsample(self._block("blk2", x, ab))

        t = feature
        for name in self.block_names[2:-4]:
            t = upsample(self._block(name, t, ab))
        t = upsample(self._block("blk4", t, ab))
        t = upsample(self._block("blk5", t, ab))
        t = F.leaky_relu(self._block("blk6", t, ab), LEAKY_SLOPE)
        texture = torch.tanh(self.conv_final(pad_x(t, 2, self.pad_mode)))

        m = F.leaky_relu(self._block("blk3_mesh", feature, ab), LEAKY_SLOPE)
        displacement = average_poles(self.conv_mesh(pad_x(m, 2, self.pad_mode)))
        if self.config.symmetric:
            texture = mirror_half_width(texture)
            displacement = mirror_half_width(displacement)
        return texture, displacement


def fold_generator(generator: Generator) -> FoldedGenerator:
    """Convert a training-form generator (any mode) into its eval-mode inference form, once.

    The result shares nothing mutable with ``generator`` except fc / emb_class / conv_final /
    conv_mesh parameters (plain layers, used as they are).
    """
    if not isinstance(generator, Generator):
        raise TypeError(f"fold_generator expects a training-form Generator, got {type(generator).__name__}")
    return FoldedGenerator(generator)
