"""Differentiable augmentation of the discriminators' texture input (DiffAugment, Zhao et al. 2020), optional.

Not part of the paper's recipe (§4.1): an option (``--augment color,cutout``) against a discriminator that
overfits a small pseudo-GT set. The same random transform family is applied to real and generated inputs, in the
D step and in the G step, and every op is differentiable, so G learns the un-augmented distribution.

Inputs are the texture discriminators' (B, 4, T, T) maps: channels 0-2 the texture in [-1, 1] times the alpha,
channel 3 the alpha in [0, 1] (zero where the pseudo-GT saw nothing). The ops:

* ``color``: per sample, brightness + U(-0.5, 0.5), saturation × U(0, 2), contrast × U(0.5, 1.5) of the texture
  channels (DiffAugment's numbers for images in [-1, 1]); the result is multiplied by the alpha again, so unseen
  texels stay zero.
* ``cutout``: per sample, one square of half the map's side (its centre uniform over the map, clipped at the
  border) is zeroed in every channel, alpha included: it becomes "unseen", which the texture discriminators
  already handle through their output masks.

No translation: the discriminators carry positional encodings, so where a texel sits in UV is part of what
they judge. The mesh discriminator's displacement maps are never augmented.

Random draws are functions of (seed, step) for the *global* batch (like the latents and mirror flags), so resumed
runs and torchrun processes (each taking its slice) see the same transforms.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

OPS = ("color", "cutout")


def parse_augment(spec: str | None) -> tuple[str, ...]:
    """"color,cutout" -> ("color", "cutout") in canonical order; "" / None / "none" -> (). ValueError on others."""
    if not spec or spec.strip().lower() == "none":
        return ()
    names = [s.strip().lower() for s in spec.split(",") if s.strip()]
    unknown = sorted(set(names) - set(OPS))
    if unknown:
        raise ValueError(f"unknown --augment op(s) {', '.join(unknown)}; choose from {', '.join(OPS)} "
                         f"(comma-separated) or none")
    return tuple(op for op in OPS if op in names)


@dataclass(frozen=True)
class AugmentDraw:
    """Per-sample parameters of one step's global batch (each tensor's first dimension is the global batch).

    brightness, saturation, contrast: (B,) factors of ``color``; cutout_centre: (B, 2) in [0, 1) (y, x).
    """

    brightness: Tensor
    saturation: Tensor
    contrast: Tensor
    cutout_centre: Tensor

    def slice(self, sl: slice) -> "AugmentDraw":
        return AugmentDraw(self.brightness[sl], self.saturation[sl], self.contrast[sl], self.cutout_centre[sl])

    def repeat(self, times: int) -> "AugmentDraw":
        """The draw for a batch made of ``times`` copies of this one (e.g. real and fake concatenated)."""
        return AugmentDraw(self.brightness.repeat(times), self.saturation.repeat(times), self.contrast.repeat(times),
                           self.cutout_centre.repeat(times, 1))


def draw(batch: int, seed: int, step: int) -> AugmentDraw:
    """The parameters of step ``step``'s global batch of ``batch`` samples (CPU tensors, float32)."""
    rng = torch.Generator().manual_seed(seed * 2_000_029 + step * 31 + 7)
    u = torch.rand(batch, 5, generator=rng)
    return AugmentDraw(brightness=u[:, 0] - 0.5, saturation=u[:, 1] * 2.0, contrast=u[:, 2] + 0.5,
                       cutout_centre=u[:, 3:5])


def augment(x: Tensor, ops: tuple[str, ...], params: AugmentDraw) -> Tensor:
    """Apply ``ops`` to texture-discriminator inputs x (B, 4, T, T) with the per-sample ``params`` (B rows)."""
    if not ops:
        return x
    if x.shape[1] != 4:
        raise ValueError(f"augment expects (B, 4, T, T) texture*alpha + alpha maps, got {tuple(x.shape)}")
    texture, alpha = x[:, :3], x[:, 3:]
    view = lambda t: t.to(device=x.device, dtype=x.dtype).view(-1, 1, 1, 1)  # noqa: E731
    if "color" in ops:
        texture = texture + view(params.brightness)
        mean = texture.mean(dim=1, keepdim=True)
        texture = (texture - mean) * view(params.saturation) + mean
        mean = texture.mean(dim=(1, 2, 3), keepdim=True)
        texture = (texture - mean) * view(params.contrast) + mean
        texture = texture * alpha
    out = torch.cat([texture, alpha], dim=1)
    if "cutout" in ops:
        out = out * _cutout_keep(out.shape, params.cutout_centre).to(device=x.device, dtype=x.dtype)
    return out


def _cutout_keep(shape, centres: Tensor) -> Tensor:
    """(B, 1, H, W) mask: 0 inside each sample's square of side H/2 x W/2 centred at ``centres`` (B, 2), else 1."""
    b, _, h, w = shape
    half_h, half_w = h // 4, w // 4
    cy = (centres[:, 0] * h).long()[:, None]
    cx = (centres[:, 1] * w).long()[:, None]
    ys, xs = torch.arange(h)[None], torch.arange(w)[None]
    inside_y = (ys >= cy - half_h) & (ys < cy + half_h)      # (B, H)
    inside_x = (xs >= cx - half_w) & (xs < cx + half_w)      # (B, W)
    inside = inside_y[:, :, None] & inside_x[:, None, :]
    return (~inside).float()[:, None]
