"""The encoder start: the generator first learns to decode the pseudo-GT as the decoder of a VAE.

The paper's GAN needs tens of thousands of generator updates; two CPU cores give a few thousand an hour. A VAE
gives every generator update a dense, per-texel target instead of a discriminator's opinion, and reaches cars with
cabins, window bands, wheels and lights in minutes (docs/training.md, "The encoder start"). The recipe:

* ``TextureEncoder`` reads one pseudo-GT item — texture x alpha, alpha and the displacement map upsampled to the
  texture's size, (B, 7, T, T) — and returns the posterior mean and log-variance of z, (B, L) each.
* The generator decodes z = mu + sigma * eps (reparameterised). Losses per item: the masked L1 of the texture
  (sum alpha |G_tex - tex| / sum alpha, averaged over channels), ``mesh_weight`` x the L1 of the displacement map,
  the flat regulariser of §4.1 at the GAN's weight, and beta x KL(q(z|x) || N(0, I)).
* beta follows the KL: log beta moves by ``KL_RATE`` x (KL per dimension - ``kl_target``) after every step, so the
  posterior keeps about ``kl_target`` nats per latent dimension (informative, but not a lookup table).
* At the end, ``posterior_means`` over every item (and its mirror) are fitted with a Gaussian and folded into the
  generator (``training.gan.latent_fold``): the result samples z ~ N(0, I) like any generator of this layout.

``EncoderStart.step`` is one update of encoder and generator together (Adam, ``lr``); its state (encoder, optimiser,
beta) goes into the run's checkpoints under ``train/encoder*`` keys.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from training.engine.checkpoint import optimizer_from_tensors, optimizer_to_tensors

from .mirror import virtual_mirror

#: Encoder channels per stride-2 stage before the width multiplier (128² input -> 4² after five stages).
ENCODER_CHANNELS = (16, 32, 64, 128, 128)
#: Rate of the beta controller (per step, on log beta) and the bounds of beta.
KL_RATE = 0.02
BETA_RANGE = (1e-6, 10.0)
BETA_START = 1e-3


def encoder_input(texture: Tensor, alpha: Tensor, mesh: Tensor) -> Tensor:
    """texture (B, 3, T, T) in [-1, 1], alpha (B, 1, T, T), mesh (B, 3, M, M) -> (B, 7, T, T)."""
    mesh_up = F.interpolate(mesh, size=texture.shape[-2:], mode="bilinear", align_corners=False)
    return torch.cat([texture * alpha, alpha, mesh_up], dim=1)


class TextureEncoder(nn.Module):
    """(B, 7, T, T) -> (mu (B, L), logvar (B, L)). Stride-2 4x4 convs with LeakyReLU down to 4², then a Linear.

    width scales ``ENCODER_CHANNELS``; the last Linear starts at zero (mu = 0, logvar = 0: the prior) so the first
    steps decode z ~ N(0, I) like an untrained generator.
    """

    def __init__(self, texture_resolution: int, latent_dim: int, width: float = 1.0) -> None:
        super().__init__()
        stages = int(round(math.log2(texture_resolution // 4)))
        channels = [max(4, int(round(c * width))) for c in ENCODER_CHANNELS]
        channels += [channels[-1]] * max(0, stages - len(channels))
        layers: list[nn.Module] = []
        c_in = 7
        for c_out in channels[:stages]:
            layers += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in * 16, 2 * latent_dim)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.latent_dim = latent_dim

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.features(x).flatten(1)
        mu, logvar = self.head(h).chunk(2, dim=1)
        return mu, logvar.clamp(-12.0, 6.0)


def kl_per_item(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) summed over dimensions: (B, L) -> (B,) in nats."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)


def masked_l1(fake: Tensor, real: Tensor, alpha: Tensor) -> Tensor:
    """mean_b( sum(alpha |fake - real|) / (3 sum(alpha)) ) for (B, 3, T, T) maps and alpha (B, 1, T, T)."""
    num = (alpha * (fake - real).abs()).flatten(1).sum(1)
    den = 3.0 * alpha.flatten(1).sum(1)
    return torch.where(den > 0, num / den.clamp_min(1e-12), torch.zeros_like(num)).mean()


class EncoderStart:
    """Phase one of a run whose ``config.encoder_steps`` > 0 (see the module docstring).

    trainer: the ``GANTrainer`` whose generator, EMA, data, template and distributed set-up are used.
    """

    def __init__(self, trainer) -> None:
        cfg = trainer.config
        g = cfg.generator
        self.trainer = trainer
        self.kl_target = cfg.kl_target
        self.mesh_weight = cfg.mesh_recon_weight
        torch.manual_seed(cfg.seed + 17)
        layout = torch.channels_last if trainer.device.type == "cpu" else torch.contiguous_format
        self.encoder = TextureEncoder(g.texture_resolution, g.latent_dim, cfg.encoder_width).to(
            trainer.device, trainer.dtype, memory_format=layout).train()
        self.e = trainer.dist.wrap(self.encoder, sync_batchnorm=False)
        self.optimizer = torch.optim.Adam(list(trainer.generator.parameters()) + list(self.encoder.parameters()),
                                          lr=cfg.encoder_lr)
        self.log_beta = math.log(BETA_START)

    @property
    def beta(self) -> float:
        return math.exp(self.log_beta)

    def losses(self, texture: Tensor, alpha: Tensor, mesh: Tensor, c: Tensor | None, noise: Tensor,
               generator: nn.Module) -> tuple[dict[str, Tensor], Tensor]:
        """The loss terms of one batch and the total to minimise (noise (B, L): the reparameterisation's eps)."""
        from backend.mesh import displacement_to_vertices

        from .losses import flat_loss

        trainer = self.trainer
        mu, logvar = self.e(encoder_input(texture, alpha, mesh))
        z = mu + (0.5 * logvar).exp() * noise
        fake_texture, fake_mesh = generator(z, c)
        texture_l1 = masked_l1(fake_texture, texture, alpha)
        mesh_l1 = (fake_mesh - mesh).abs().mean()
        vertices = displacement_to_vertices(trainer.template, fake_mesh)
        flat = flat_loss(vertices, trainer.faces, trainer.adjacency)
        kl = kl_per_item(mu, logvar).mean()
        total = (texture_l1 + self.mesh_weight * mesh_l1 + trainer.config.mesh_regularization * flat
                 + self.beta * kl / mu.shape[1])
        terms = {"texture_l1": texture_l1, "mesh_l1": mesh_l1, "flat": flat, "kl_per_dim": kl / mu.shape[1]}
        return terms, total

    def step(self, texture: Tensor, alpha: Tensor, mesh: Tensor, c: Tensor | None, noise: Tensor) -> dict[str, float]:
        """One update of encoder and generator; returns the reduced loss terms plus ``beta`` (before the update)."""
        trainer = self.trainer
        self.optimizer.zero_grad(set_to_none=True)
        terms, total = self.losses(texture, alpha, mesh, c, noise, trainer.g)
        out = trainer._reduce(terms)
        total.backward()
        self.optimizer.step()
        out["beta"] = self.beta
        self.log_beta = min(max(self.log_beta + KL_RATE * (out["kl_per_dim"] - self.kl_target),
                                math.log(BETA_RANGE[0])), math.log(BETA_RANGE[1]))
        return out

    @torch.no_grad()
    def posterior_means(self, batch_size: int = 64, mirrored: bool = True) -> Tensor:
        """mu of every item of the trainer's data (and of its virtual mirror when ``mirrored``): (N or 2N, L)."""
        trainer = self.trainer
        data = trainer.data
        self.encoder.eval()
        out = []
        for start in range(0, len(data), batch_size):
            sl = slice(start, start + batch_size)
            texture = data.texture[sl].to(trainer.device, trainer.dtype)
            alpha = data.alpha[sl].to(trainer.device, trainer.dtype)
            mesh = data.mesh[sl].to(trainer.device, trainer.dtype)
            out.append(self.encoder(encoder_input(texture, alpha, mesh))[0].float().cpu())
            if mirrored:
                out.append(self.encoder(encoder_input(virtual_mirror(texture), virtual_mirror(alpha),
                                                      virtual_mirror(mesh)))[0].float().cpu())
        self.encoder.train()
        return torch.cat(out)

    # ---- checkpoints ---------------------------------------------------------------------------------------
    def state_tensors(self, prefix: str) -> tuple[dict[str, Tensor], dict]:
        tensors = {f"{prefix}encoder/{k}": v for k, v in self.encoder.state_dict().items()}
        flat, info = optimizer_to_tensors(self.optimizer)
        tensors.update({f"{prefix}optim_e/{k}": v for k, v in flat.items()})
        return tensors, {"optim_e": info, "log_beta": self.log_beta}

    def load_state(self, tensors: dict[str, Tensor], prefix: str, header: dict) -> None:
        def group(name: str) -> dict[str, Tensor]:
            pre = f"{prefix}{name}/"
            return {k[len(pre):]: v for k, v in tensors.items() if k.startswith(pre)}

        self.encoder.load_state_dict(group("encoder"))
        optimizer_from_tensors(self.optimizer, group("optim_e"), header["optim_e"])
        self.log_beta = float(header["log_beta"])
