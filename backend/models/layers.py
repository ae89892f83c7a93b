"""Building blocks of the paper's generator (§3.1) in their training form.

Names of sub-modules follow the original code so that ``state_dict()`` keys match §8.2 exactly
(``conv1.weight_orig``, ``norm1.norm.running_mean``, ``norm1.fc_gamma.weight``, ...).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LEAKY_SLOPE = 0.2
BN_EPS = 1e-5


def pad_x(x: Tensor, amount: int, mode: str) -> Tensor:
    """Pad only the last (x / u) axis of (B, C, H, W) by ``amount`` on each side.

    mode: "replicate" (symmetric generator: approximates even mirror padding at the symmetry axes)
    or "circular" (non-symmetric maps wrap around the seam).
    """
    if amount == 0:
        return x
    return F.pad(x, (amount, amount, 0, 0), mode=mode)


class ConditionalBatchNorm(nn.Module):
    """BatchNorm2d without affine parameters, then y = x_hat * (1 + gamma(E)) + beta(E).

    x: (B, C, H, W) float; condition E: (B, condition_dim) float. Returns (B, C, H, W).
    """

    def __init__(self, channels: int, condition_dim: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False, eps=BN_EPS, momentum=0.1)
        self.fc_gamma = nn.Linear(condition_dim, channels)
        self.fc_beta = nn.Linear(condition_dim, channels)

    def forward(self, x: Tensor, condition: Tensor) -> Tensor:
        gamma = self.fc_gamma(condition)[:, :, None, None]
        beta = self.fc_beta(condition)[:, :, None, None]
        return self.norm(x) * (1 + gamma) + beta


def spectral_conv(c_in: int, c_out: int, kernel: int) -> nn.Conv2d:
    """Bias-free conv with zero padding along y only, wrapped in PyTorch's spectral norm.

    The classic ``torch.nn.utils.spectral_norm`` is used on purpose: it stores
    ``weight_orig``/``weight_u``/``weight_v``, the key names of the released checkpoints.
    """
    conv = nn.Conv2d(c_in, c_out, kernel, padding=(kernel // 2, 0), bias=False)
    return nn.utils.spectral_norm(conv)


class ResBlock(nn.Module):
    """Residual block "RB(c_in -> c_out)" (upstream name ResBlockUp; it does not upsample).

    h = LReLU(CBN1(conv3x3(pad_x(x)))); h = LReLU(CBN2(conv3x3(pad_x(h)))); out = h + shortcut(x),
    with c_mid = min(c_in, c_out) and a 1x1 spectral-norm conv shortcut only when c_in != c_out.
    x: (B, c_in, H, W), condition: (B, condition_dim) -> (B, c_out, H, W).
    """

    def __init__(self, c_in: int, c_out: int, condition_dim: int, pad_mode: str) -> None:
        super().__init__()
        c_mid = min(c_in, c_out)
        self.pad_mode = pad_mode
        self.conv1 = spectral_conv(c_in, c_mid, 3)
        self.norm1 = ConditionalBatchNorm(c_mid, condition_dim)
        self.conv2 = spectral_conv(c_mid, c_out, 3)
        self.norm2 = ConditionalBatchNorm(c_out, condition_dim)
        self.shortcut = spectral_conv(c_in, c_out, 1) if c_in != c_out else None

    def forward(self, x: Tensor, condition: Tensor) -> Tensor:
        h = F.leaky_relu(self.norm1(self.conv1(pad_x(x, 1, self.pad_mode)), condition), LEAKY_SLOPE)
        h = F.leaky_relu(self.norm2(self.conv2(pad_x(h, 1, self.pad_mode)), condition), LEAKY_SLOPE)
        return h + (x if self.shortcut is None else self.shortcut(x))
