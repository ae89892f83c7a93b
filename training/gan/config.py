"""GAN training options (§4.1) gathered in one object, and the named presets.

``GANConfig`` is stored in every checkpoint; a resumed run must agree with it on everything that shapes the
networks or the data order (``RESUME_KEYS``). Which preset runs and how flags override it is the stage contract's
(``training.engine.stage.resolve_preset``); the values are checked here, in ``__post_init__``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from backend.config_dict import config_from_dict
from backend.models import GeneratorConfig
from training.engine.stage import resume_differences


@dataclass(frozen=True)
class GANConfig:
    """Everything that defines a GAN run.

    generator: the generator architecture (texture_resolution must equal the pseudo-GT's).
    d_width: channel multiplier of the discriminators (1.0 = the paper). num_discriminators: 2, 3 or None (auto).
    batch_size: the *global* batch (split evenly over torchrun processes). steps: total updates (G and D steps).
    d_steps_per_g: step i is a G step when i mod (d_steps_per_g + 1) == 0, else a D step (each batch used once).
    mesh_regularization: weight of the flat regulariser. mirror: virtual-mirror augmentation with p = 0.5.
    seed: data order, latents and augmentation are functions of (seed, step), so resumes and DDP see the same.
    augment: optional differentiable augmentation of the texture discriminators' inputs, "" (none, the paper) or
    a comma list of ``training.gan.augment.OPS`` ("color,cutout").
    ema_half_life_images: the EMA's half-life in images seen by the generator (decay per G update
    0.5 ** (batch_size / half-life)); 0 keeps the paper's schedule by epochs (``backend.models.ema_decay``).

    The encoder start (``training.gan.encoder_start``; 0 steps = the paper's recipe): the first ``encoder_steps``
    updates train the generator as the decoder of a VAE (encoder of width ``encoder_width``, Adam at ``encoder_lr``,
    ``mesh_recon_weight`` x the mesh L1, KL held near ``kl_target`` nats per latent dimension); then the posterior
    means are fitted with a Gaussian (``latent_fit``: full or diagonal covariance) that is folded into the generator.
    The adversarial phase that follows starts with ``d_warmup_steps`` discriminator-only updates and may keep the
    VAE's reconstruction as an anchor on the generator: weight ``anchor_weight``, falling linearly to 0 over
    ``anchor_decay_steps`` G updates.
    """

    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    d_width: float = 1.0
    num_discriminators: int | None = None
    batch_size: int = 32
    steps: int = 100_000
    lr_g: float = 1e-4
    lr_d: float = 4e-4
    betas: tuple[float, float] = (0.0, 0.99)
    d_steps_per_g: int = 2
    mesh_regularization: float = 1e-4
    mirror: bool = True
    seed: int = 1
    truncation: float = 1.0
    augment: str = ""
    ema_half_life_images: float = 0.0
    encoder_steps: int = 0
    encoder_width: float = 1.0
    encoder_lr: float = 1e-3
    kl_target: float = 1.0
    mesh_recon_weight: float = 3.0
    latent_fit: str = "full"
    d_warmup_steps: int = 0
    anchor_weight: float = 0.0
    anchor_decay_steps: int = 0

    def __post_init__(self) -> None:
        if not self.d_width > 0:
            raise ValueError(f"d_width must be > 0, got {self.d_width}")
        for name in ("lr_g", "lr_d"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"{name} must be in (0, 1), got {getattr(self, name)}")
        if self.d_steps_per_g < 1:
            raise ValueError(f"d_steps_per_g must be >= 1, got {self.d_steps_per_g}")
        if self.latent_fit not in ("full", "diagonal"):
            raise ValueError(f"latent_fit must be 'full' or 'diagonal', got {self.latent_fit!r}")
        for name in ("encoder_steps", "d_warmup_steps", "anchor_decay_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("ema_half_life_images", "anchor_weight", "kl_target", "mesh_recon_weight"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not self.encoder_width > 0 or not 0 < self.encoder_lr < 1:
            raise ValueError(f"encoder_width must be > 0 and encoder_lr in (0, 1), got {self.encoder_width}, "
                             f"{self.encoder_lr}")

    @property
    def adversarial_start(self) -> int:
        """The first step of the adversarial phase (after the encoder start, if any)."""
        return self.encoder_steps

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["generator"] = self.generator.to_dict()
        out["betas"] = list(self.betas)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "GANConfig":
        return config_from_dict(cls, data, "GAN config", convert={"generator": GeneratorConfig.from_dict,
                                                                  "betas": tuple})

    def replace(self, **changes) -> "GANConfig":
        return dataclasses.replace(self, **changes)


#: Keys that a resumed run must share with its checkpoint (the rest, e.g. ``steps``, may be extended).
RESUME_KEYS = ("generator", "d_width", "num_discriminators", "batch_size", "d_steps_per_g", "seed", "mirror",
               "augment", "encoder_width", "latent_fit")

#: Keys of the adversarial phase's schedule that an encoder start may still change before its fold (they are fixed
#: like RESUME_KEYS once the fold has happened or when the run has no encoder start).
PHASE_TWO_KEYS = ("d_warmup_steps",)


def mismatches(saved: GANConfig, current: GANConfig, step: int | None = None, folded: bool = False) -> list[str]:
    """The differences between a checkpoint's config and the requested one on RESUME_KEYS, in the stage contract's
    words (``training.engine.stage.resume_differences``).

    ``encoder_steps`` (and ``PHASE_TWO_KEYS``) may change while the checkpoint is still in its encoder start
    (``folded`` False) and at or before the new value (``step``): an encoder start can be lengthened, or ended where
    it stands and followed by an adversarial phase of other settings."""
    out = resume_differences(saved.to_dict(), current.to_dict(), RESUME_KEYS)
    if folded or saved.encoder_steps == 0:
        out += resume_differences(saved.to_dict(), current.to_dict(), PHASE_TWO_KEYS)
    if saved.encoder_steps != current.encoder_steps:
        if folded or (saved.encoder_steps == 0) != (current.encoder_steps == 0):
            out += resume_differences({"encoder_steps": saved.encoder_steps},
                                      {"encoder_steps": current.encoder_steps})
        elif step is not None and step > current.encoder_steps:
            out.append(f"encoder_steps: the checkpoint is at step {step}, past the requested "
                       f"{current.encoder_steps}")
    return out


PRESETS: dict[str, GANConfig] = {
    # The spec's numbers (§1.4, §4.1): 512 texture, full width, auto discriminators (3), batch 32, 100k iterations.
    "paper": GANConfig(generator=GeneratorConfig(texture_resolution=512), d_width=1.0, batch_size=32,
                       steps=100_000),
    # The CPU recipe (docs/training.md "The CPU recipe"; measured in docs/experiments/2026-12-07-encoder-start.md):
    # the cpu_gan networks trained by the encoder start alone, 36,000 updates (about 2 to 2.5 hours on 2 cores), EMA
    # half-life 10,000 images. At equal CPU time more encoder start beat an adversarial phase after it on FID.
    "cpu": GANConfig(generator=GeneratorConfig(texture_resolution=128, width=0.25), d_width=0.25, batch_size=16,
                     steps=36_000, encoder_steps=36_000, ema_half_life_images=10_000.0),
    # The paper's recipe at the cpu preset's size: 128 texture, quarter-width G (the "small" generator) and D; the
    # baseline the CPU recipe is measured against (and what shipped until 2026-12-07).
    "cpu_gan": GANConfig(generator=GeneratorConfig(texture_resolution=128, width=0.25), d_width=0.25, batch_size=16,
                         steps=15_000),
    # Tests and smoke runs: tiny networks, a few steps.
    "tiny": GANConfig(generator=GeneratorConfig(texture_resolution=128, width=0.125), d_width=0.125, batch_size=4,
                      steps=12),
}
