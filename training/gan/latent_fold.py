"""Fold a fitted latent distribution into the generator, so that the shipped file samples z ~ N(0, I).

An encoder start (``training.gan.encoder_start``) teaches the generator to decode the encoder's posterior means,
whose cloud is not N(0, I). We fit a Gaussian N(m, L L^T) to it and rewrite every layer that reads z, so that
the folded generator given eps returns what the unfolded one returns at z = m + L eps:

* ``fc`` and every conditional batch norm's ``fc_gamma`` / ``fc_beta`` are affine in E = z (or concat(z, class
  embedding)); for y = W E + b with z = m + L eps the z columns become W_z L and the bias b + W_z m.

Nothing else reads z, so the result is an ordinary generator of the same layout (same state-dict keys and shapes)
that every loader, exporter and the server take as it is.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from backend.models import Generator


@dataclass(frozen=True)
class LatentGaussian:
    """A Gaussian over z: mean (L,) and lower-triangular scale_tril (L, L) (covariance = scale_tril @ scale_tril.T).

    ``kind`` says how it was fitted: "full" (full covariance) or "diagonal".
    """

    mean: Tensor
    scale_tril: Tensor
    kind: str = "full"

    def sample(self, eps: Tensor) -> Tensor:
        """eps (B, L) -> z = mean + eps @ scale_tril.T, (B, L)."""
        return self.mean.to(eps) + eps @ self.scale_tril.to(eps).T

    def whiten(self, z: Tensor) -> Tensor:
        """The inverse of ``sample``: z (B, L) -> eps (B, L)."""
        centred = (z - self.mean.to(z)).T
        return torch.linalg.solve_triangular(self.scale_tril.to(z), centred, upper=False).T


def fit_latent_gaussian(latents: Tensor, kind: str = "full", ridge: float = 1e-4) -> LatentGaussian:
    """Fit N(m, S) to latents (N, L) (e.g. posterior means): m the mean, S the covariance (+ ridge * I), float64
    maths, float32 result. kind "diagonal" keeps only the per-coordinate variances."""
    if latents.dim() != 2 or latents.shape[0] < 2:
        raise ValueError(f"need latents of shape (N >= 2, L), got {tuple(latents.shape)}")
    if kind not in ("full", "diagonal"):
        raise ValueError(f"kind must be 'full' or 'diagonal', got {kind!r}")
    x = latents.detach().double()
    mean = x.mean(0)
    centred = x - mean
    cov = centred.T @ centred / (x.shape[0] - 1)
    if kind == "diagonal":
        cov = torch.diag(torch.diagonal(cov))
    cov = cov + ridge * torch.eye(cov.shape[0], dtype=cov.dtype)
    return LatentGaussian(mean=mean.float(), scale_tril=torch.linalg.cholesky(cov).float(), kind=kind)


def z_reading_layers(generator: Generator) -> list[nn.Linear]:
    """Every Linear layer that reads E: ``fc`` and the fc_gamma / fc_beta of every conditional batch norm."""
    layers = [generator.fc]
    for module in generator.modules():
        if hasattr(module, "fc_gamma") and hasattr(module, "fc_beta"):
            layers += [module.fc_gamma, module.fc_beta]
    return layers


@torch.no_grad()
def fold_latent_gaussian(generator: Generator, gaussian: LatentGaussian) -> Generator:
    """Rewrite ``generator`` in place so that generator(eps) == unfolded generator(gaussian.sample(eps)).

    Only the first ``latent_dim`` columns of each layer (the z part of E) change; class-embedding columns stay.
    Returns the generator. Exact up to float32 rounding (the products are taken in float64).
    """
    latent_dim = generator.config.latent_dim
    if gaussian.mean.shape != (latent_dim,) or gaussian.scale_tril.shape != (latent_dim, latent_dim):
        raise ValueError(f"the Gaussian is over {tuple(gaussian.mean.shape)} but the generator reads "
                         f"z of size {latent_dim}")
    mean = gaussian.mean.double()
    scale = gaussian.scale_tril.double()
    for layer in z_reading_layers(generator):
        weight = layer.weight.double()
        w_z = weight[:, :latent_dim]
        layer.bias.copy_((layer.bias.double() + w_z @ mean).to(layer.bias.dtype))
        weight[:, :latent_dim] = w_z @ scale
        layer.weight.copy_(weight.to(layer.weight.dtype))
    return generator
