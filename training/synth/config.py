"""Settings of a synthetic run, and the per-item random choices derived from them (no bpy here)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .car import BODY_TYPES

BACKGROUNDS: tuple[str, ...] = ("plain", "gradient", "ground")
CAMERAS: tuple[str, ...] = ("orthographic", "perspective")


@dataclass(frozen=True)
class SynthConfig:
    """Everything that determines the images of a run (except ``n``, which may grow on resume).

    resolution: square image side in pixels. samples: Cycles samples per pixel of the RGB pass.
    views_per_car: consecutive items share one car (item i shows car i // views_per_car).
    fill: range of the fraction of the frame spanned by the car's projected box.
    body_types / backgrounds: what to draw from (uniformly).
    camera: "orthographic" (exact scaled-orthographic poses, the default) or "perspective" (a pinhole camera;
        poses carry z0, an approximation, and ``extra["camera"]["focal"]`` gives the exact pinhole).
    focal: range of the perspective camera's normalised focal length (lens / half the sensor width; 5 is
        about a 90 mm lens on a 36 mm sensor). Larger = weaker perspective.
    """

    seed: int = 0
    resolution: int = 256
    samples: int = 16
    views_per_car: int = 1
    fill: tuple[float, float] = (0.6, 0.92)
    body_types: tuple[str, ...] = BODY_TYPES
    backgrounds: tuple[str, ...] = BACKGROUNDS
    camera: str = "orthographic"
    focal: tuple[float, float] = (5.0, 15.0)

    def __post_init__(self) -> None:
        if self.camera not in CAMERAS:
            raise ValueError(f"unknown camera {self.camera!r}; choose one of {', '.join(CAMERAS)}")
        if not 1.5 <= self.focal[0] <= self.focal[1]:
            raise ValueError(f"focal must satisfy 1.5 <= low <= high, got {self.focal}")
        if self.resolution < 16:
            raise ValueError(f"resolution must be at least 16 pixels, got {self.resolution}")
        if self.samples < 1 or self.views_per_car < 1:
            raise ValueError("samples and views_per_car must be at least 1")
        unknown = set(self.body_types) - set(BODY_TYPES)
        if unknown or not self.body_types:
            raise ValueError(f"unknown body types {sorted(unknown)}; choose from {', '.join(BODY_TYPES)}")
        unknown = set(self.backgrounds) - set(BACKGROUNDS)
        if unknown or not self.backgrounds:
            raise ValueError(f"unknown backgrounds {sorted(unknown)}; choose from {', '.join(BACKGROUNDS)}")
        if not 0.1 <= self.fill[0] <= self.fill[1] <= 1.0:
            raise ValueError(f"fill must satisfy 0.1 <= low <= high <= 1, got {self.fill}")

    def to_json(self) -> dict:
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @staticmethod
    def from_json(d: dict) -> "SynthConfig":
        return SynthConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


@dataclass(frozen=True)
class ItemPlan:
    """The random choices of item ``index`` (all derived from the run seed and the index)."""

    index: int
    car_index: int
    car_seed: int
    body_type: str
    background: str
    scene_seed: int
    id: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", item_id(self.index))


def item_id(index: int) -> str:
    return f"{index:06d}"


def plan_item(config: SynthConfig, index: int) -> ItemPlan:
    car_index = index // config.views_per_car
    car_rng = np.random.default_rng([config.seed, car_index, 1])
    scene_rng = np.random.default_rng([config.seed, index, 2])
    body_type = config.body_types[int(car_rng.integers(len(config.body_types)))]
    background = config.backgrounds[int(scene_rng.integers(len(config.backgrounds)))]
    return ItemPlan(index=index, car_index=car_index, car_seed=int(car_rng.integers(2 ** 31)), body_type=body_type,
                    background=background, scene_seed=int(scene_rng.integers(2 ** 31)))
