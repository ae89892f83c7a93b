"""Generator hyper-parameters (§3.1) and named presets.

``GeneratorConfig`` is the single description of an architecture: it is stored as JSON in the
project's checkpoints (``to_dict``/``from_dict``) and inferred from the ``args`` of official ones.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from backend.config_dict import StoredConfig

#: Channel counts of the paper's generator before the width multiplier (§3.1 layer table).
TRUNK_CHANNELS = 512          # fc, blk1
FEATURE_CHANNELS = 256        # blk2 output = shared trunk feature F, blk3a/b/c
TEXTURE_CHANNELS = (128, 64)  # blk4/blk5, blk6
MESH_CHANNELS = 64            # blk3_mesh
MAX_EXTRA_TEXTURE_BLOCKS = 3  # blk3a, blk3b, blk3c


@dataclass(frozen=True)
class GeneratorConfig(StoredConfig, name="generator config"):
    """Architecture of a :class:`~backend.models.generator.Generator`.

    texture_resolution: side T of the square texture (power of two, >= 4 * mesh_resolution;
        the paper uses 512, blocks blk3a/blk3b/blk3c exist for T >= 256/512/1024 at mesh 32).
    latent_dim: size of z (paper: 64).
    n_classes: 0 for an unconditional model, else the number of classes of the learned embedding.
    class_embedding_dim: size of that embedding (paper: 64), concatenated to z.
    width: multiplier applied to every channel count (1.0 = the paper; 0.25 for CPU-sized models).
    symmetric: generate the middle half of each map and mirror it (§2.6); every released model is.
    mesh_resolution: side of the displacement map (paper: 32).
    """

    texture_resolution: int = 512
    latent_dim: int = 64
    n_classes: int = 0
    class_embedding_dim: int = 64
    width: float = 1.0
    symmetric: bool = True
    mesh_resolution: int = 32

    def __post_init__(self) -> None:
        def power_of_two(n: int) -> bool:
            return isinstance(n, int) and n > 0 and (n & (n - 1)) == 0

        if not power_of_two(self.mesh_resolution) or self.mesh_resolution < 8:
            raise ValueError(f"mesh_resolution must be a power of two >= 8, got {self.mesh_resolution!r}")
        if not power_of_two(self.texture_resolution) or self.texture_resolution < 4 * self.mesh_resolution:
            raise ValueError(
                f"texture_resolution must be a power of two >= 4 * mesh_resolution "
                f"({4 * self.mesh_resolution}), got {self.texture_resolution!r}")
        if self.n_extra_texture_blocks > MAX_EXTRA_TEXTURE_BLOCKS:
            raise ValueError(
                f"texture_resolution {self.texture_resolution} needs more than {MAX_EXTRA_TEXTURE_BLOCKS} "
                f"blk3 blocks at mesh_resolution {self.mesh_resolution}; use at most "
                f"{self.mesh_resolution * 2 ** (2 + MAX_EXTRA_TEXTURE_BLOCKS)}")
        if not isinstance(self.latent_dim, int) or self.latent_dim < 1:
            raise ValueError(f"latent_dim must be a positive integer, got {self.latent_dim!r}")
        if not isinstance(self.n_classes, int) or self.n_classes < 0:
            raise ValueError(f"n_classes must be an integer >= 0, got {self.n_classes!r}")
        if not isinstance(self.class_embedding_dim, int) or self.class_embedding_dim < 1:
            raise ValueError(f"class_embedding_dim must be a positive integer, got {self.class_embedding_dim!r}")
        if not (isinstance(self.width, (int, float)) and 0 < self.width <= 4):
            raise ValueError(f"width must be a number in (0, 4], got {self.width!r}")

    # ---- derived quantities -------------------------------------------------------------
    @property
    def conditional(self) -> bool:
        return self.n_classes > 0

    @property
    def condition_dim(self) -> int:
        """Size of the vector E fed to fc and every conditional batch norm (64 or 128 in the paper)."""
        return self.latent_dim + (self.class_embedding_dim if self.conditional else 0)

    @property
    def n_extra_texture_blocks(self) -> int:
        """Number of 256->256 blocks (blk3a, blk3b, blk3c) before blk4 in the texture branch."""
        return int(round(math.log2(self.texture_resolution // self.mesh_resolution))) - 2

    def channels(self, paper_channels: int) -> int:
        """The paper's channel count scaled by ``width`` (at least 1)."""
        return max(1, int(round(paper_channels * self.width)))


PRESETS: dict[str, GeneratorConfig] = {
    # The paper's unconditional generator (11,575,174 parameters).
    "paper": GeneratorConfig(texture_resolution=512, width=1.0),
    # The paper's class-conditional "setting B" generator over the 13 classes of §10.3.
    "paper_all": GeneratorConfig(texture_resolution=512, n_classes=13, width=1.0),
    # CPU-sized: 128 texture, a quarter of the channels (trainable and fast on a laptop).
    "small": GeneratorConfig(texture_resolution=128, width=0.25),
}


def resolve_config(preset_or_config: "str | GeneratorConfig") -> GeneratorConfig:
    """A preset name or a config -> config; unknown names raise ValueError listing the presets."""
    if isinstance(preset_or_config, GeneratorConfig):
        return preset_or_config
    try:
        return PRESETS[preset_or_config]
    except KeyError:
        raise ValueError(
            f"unknown generator preset {preset_or_config!r}; choose one of {', '.join(sorted(PRESETS))}") from None
