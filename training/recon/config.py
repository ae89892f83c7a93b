"""Architecture and training settings of the mesh-reconstruction stage (§3.3, §4.3), with named presets.

``NetworkConfig`` describes the network (it is stored as JSON with every checkpoint and inferred from the state
dict of an official ``checkpoints_recon/*/checkpoint_latest.pth``); ``TrainConfig`` the optimisation. A preset
is a pair of both: ``paper`` is the original configuration, ``cpu`` a smaller input and width that trains on a
laptop-class CPU. Which preset runs and how overrides reach it is the stage contract's
(``training.engine.stage.resolve_preset``).
"""
from __future__ import annotations

from dataclasses import dataclass

from backend.config_dict import StoredConfig

#: Channel counts of the paper's network before the width multiplier (§3.3 layer table).
ENCODER_CHANNELS = (64, 128, 256, 512, 64)   # conv1e .. conv5e
BOTTLENECK = 256                              # fc1e
LATENT = 1024                                 # fc3e
TRUNK = (256, 512, 256, 256)                  # fc1_tex, blk1, blk2, blk3
TEXTURE_CHANNELS = (256, 128, 64)             # blk3b/blk3c_tex, blk4_tex, blk5_tex
MESH_CHANNELS = 64                            # blk4_mesh
MESH_RESOLUTION = 32                          # fc 4x2 grid, three x2 upsamplings
TEXTURE_RESOLUTIONS = (64, 128, 256)          # as the original (--texture_resolution 64|128|256)


@dataclass(frozen=True)
class NetworkConfig(StoredConfig, name="network config"):
    """Architecture of a :class:`~training.recon.network.ReconstructionNetwork`.

    image_resolution: side of the square RGBA input (paper 256; a multiple of 32).
    texture_resolution: side of the predicted texture and part map (64, 128 or 256; paper 128).
    width: multiplier on every channel count, including the fully connected sizes (1.0 = the paper).
    n_classes: number of classes; > 1 switches every norm layer to class-conditional (non-affine BN, then
        x̂·γ[class] + β[class]); 1 uses ordinary affine BN.
    n_parts: channels P of the part head (0 = no part head). Channel 0 means "object, no specific part".
    symmetric: predict half the width of each map and mirror it (§2.6); every released model is.
    """

    image_resolution: int = 256
    texture_resolution: int = 128
    width: float = 1.0
    n_classes: int = 1
    n_parts: int = 0
    symmetric: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.image_resolution, int) or self.image_resolution < 32 or self.image_resolution % 32:
            raise ValueError(f"image_resolution must be a multiple of 32, got {self.image_resolution!r}")
        if self.texture_resolution not in TEXTURE_RESOLUTIONS:
            raise ValueError(f"texture_resolution must be one of {TEXTURE_RESOLUTIONS}, "
                             f"got {self.texture_resolution!r}")
        if not (isinstance(self.width, (int, float)) and 0 < self.width <= 4):
            raise ValueError(f"width must be a number in (0, 4], got {self.width!r}")
        if not isinstance(self.n_classes, int) or self.n_classes < 1:
            raise ValueError(f"n_classes must be an integer >= 1, got {self.n_classes!r}")
        if not isinstance(self.n_parts, int) or self.n_parts < 0 or self.n_parts == 1:
            raise ValueError(f"n_parts must be 0 (no part head) or >= 2, got {self.n_parts!r}")
        if not self.symmetric:
            raise ValueError("only the symmetric network is implemented (every released model is symmetric)")

    @property
    def mesh_resolution(self) -> int:
        return MESH_RESOLUTION

    @property
    def conditional(self) -> bool:
        return self.n_classes > 1

    def channels(self, paper_channels: int) -> int:
        """The paper's channel count scaled by ``width`` (at least 1)."""
        return max(1, int(round(paper_channels * self.width)))


@dataclass(frozen=True)
class TrainConfig(StoredConfig, name="training config"):
    """Optimisation of the reconstruction stage (§4.3 defaults unless noted).

    iters: total iterations; the learning rate halves every quarter of them.
    batch_size: images per iteration (over all processes). render_resolution: side of the training renders.
    lr: Adam learning rate (default betas). seed: run seed (the original uses 1).
    semi_fraction: share of images per template, by template-fit IoU, that stay pulled toward their template.
    semi_decay: per-iteration factor of the decaying semi-supervision coefficient c (starts at 1).
    semi_weight, color_weight, alpha_weight: loss weights (10, 10, 1).
    mesh_regularization: λ of the flat regulariser, multiplied by a warm-up factor that starts at
        ``flat_warmup_start`` and drops by ``flat_warmup_step`` per iteration to a floor of 1.
    flip_probability: chance of flipping each input image left-right inside the network (input only).
    log_every, preview_every, checkpoint_every: iterations between metric rows, preview images and checkpoints.
    """

    iters: int = 130_000
    batch_size: int = 32
    render_resolution: int = 256
    lr: float = 1e-4
    seed: int = 1
    semi_fraction: float = 0.1
    semi_decay: float = 0.99
    semi_weight: float = 10.0
    color_weight: float = 10.0
    alpha_weight: float = 1.0
    mesh_regularization: float = 5e-5
    flat_warmup_start: float = 10.0
    flat_warmup_step: float = 0.1
    flip_probability: float = 0.5
    log_every: int = 50
    preview_every: int = 500
    checkpoint_every: int = 500

    def __post_init__(self) -> None:
        for name in ("iters", "batch_size", "render_resolution", "log_every", "preview_every", "checkpoint_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not 0 <= self.semi_fraction <= 1:
            raise ValueError(f"semi_fraction must be in [0, 1], got {self.semi_fraction}")
        if not 0 <= self.flip_probability <= 1:
            raise ValueError(f"flip_probability must be in [0, 1], got {self.flip_probability}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")

    @property
    def lr_decay_every(self) -> int:
        """Iterations between halvings of the learning rate: a quarter of the run (the original's --iters rule)."""
        return max(1, self.iters // 4)

    def learning_rate(self, iteration: int) -> float:
        """The learning rate used at ``iteration`` (0-based): halved every quarter of the run."""
        return self.lr * 0.5 ** (iteration // self.lr_decay_every)

    def semi_coefficient(self, iteration: int) -> float:
        """c at ``iteration``: 1 at the start, multiplied by ``semi_decay`` after every iteration."""
        return self.semi_decay ** iteration

    def flat_warmup(self, iteration: int) -> float:
        """The flat regulariser's warm-up factor at ``iteration``: 10, 9.9, ... down to 1."""
        return max(1.0, self.flat_warmup_start - self.flat_warmup_step * iteration)


@dataclass(frozen=True)
class Preset:
    """A named pair of settings; ``n_classes`` / ``n_parts`` are filled in from the collection."""

    network: NetworkConfig
    train: TrainConfig


PRESETS: dict[str, Preset] = {
    # §3.3 / §4.3: 256² input, 128² texture, batch 32, renders at 256², 130k iterations (P3D / ImageNet runs).
    "paper": Preset(NetworkConfig(image_resolution=256, texture_resolution=128, width=1.0),
                    TrainConfig(iters=130_000, batch_size=32, render_resolution=256)),
    # CPU-sized: 128² input and renders, 64² texture, half the channels, batch 16.
    "cpu": Preset(NetworkConfig(image_resolution=128, texture_resolution=64, width=0.5),
                  TrainConfig(iters=20_000, batch_size=16, render_resolution=128, log_every=25,
                              preview_every=250, checkpoint_every=100)),
}

