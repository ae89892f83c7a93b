"""Settings of the pose stage and its two presets (``paper``: the numbers of §5.2/§5.3; ``cpu``: measured to keep
the accuracy targets at a fraction of the cost). Which preset runs, and how flags override it, is the stage
contract's (``training.engine.stage.resolve_preset``: ``paper`` on a machine with CUDA, else ``cpu``)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace


@dataclass(frozen=True)
class PoseConfig:
    """Step 1 (silhouettes) and step 2 (disambiguation) settings.

    steps: optimisation steps; lr, lr_decay_after: AdamFull learning rate, ×0.1 after that step.
    resolutions: ((first step, side), ...) render schedule; final_resolution: the IoU pass.
    sigma_inv: soft-silhouette sharpness at 128²; with ``scale_sigma`` it follows the pixel size,
        σ⁻¹ = sigma_inv · (side / 128)², so low resolutions keep about one pixel of soft edge.
    z0_init: initial perspective parameter (§5.2: 2, i.e. a camera 8.4 object sizes away).
    prune_after: steps after which half the hypotheses per image are dropped by IoU (multi-template only, or
        always with ``prune_single``).
    views: the 40 initial rotations (8 azimuths × 5 elevations).
    batch_images: images fitted together in one batched render.
    crop_resolution: side of the CMR crop (§5.1).
    step2_resolution: side of the part / feature renders of step 2.
    v_agr_threshold, miou_percentile, reliable_top, complementary_min: the §5.3 filter and reliable subset.
    features: "auto" (parts when the collection has part maps, else appearance), "parts", "appearance" or
        "silhouette" (no step 2: the best-IoU hypothesis, the baseline).
    semantic_rounds: how many times the semantic templates are built (1 = the spec: once, from the reliable
        images' best-IoU poses); each further round rebuilds them from every image whose hypotheses agree on
        mIoU (v_agr < threshold), posed by its best-mIoU hypothesis, and scores again.
    step2_blur: Gaussian σ (pixels at step2_resolution) applied to rendered and target maps before the mIoU
        (0: none, the spec).
    step2_asymmetry_weight: a: each object channel's weight in the mIoU is 1 + a · its front/back asymmetry
        (``step2.front_back_asymmetry``), so the channels that can tell a front from a back count more
        (0: equal weights, the spec).
    step2_centroid_weight: w: the step-2 score is mIoU - w · the mean distance between where each part lands in
        the render and where it is in the image (``step2.centroid_distance``; 0: the mIoU alone, the spec).
    step2_centroid_power: sharpening of the rendered channels before their centroids (``centroid_distance``).
    step2_filter: "v_agr" (the spec: agreement of the hypotheses on the score below ``v_agr_threshold``) or
        "margin" (the best score beats every hypothesis more than 90° away by more than ``step2_margin``).
    refine_steps: step 2b (``refine``): the chosen pose and its turned-around partner are refined with this many
        silhouette steps at the final resolution and scored again (0: off, the spec). refine_lr: their learning
        rate (×0.1 for the last quarter).
    appearance_channels / appearance_clusters / appearance_layer / appearance_input: the appearance features
        (Inception layer, input side, PCA channels, soft clusters used as pseudo-parts).
    """

    name: str = "paper"
    steps: int = 100
    lr: float = 0.1
    lr_decay_after: int = 80
    resolutions: tuple[tuple[int, int], ...] = ((0, 128), (30, 192), (60, 256))
    final_resolution: int = 256
    sigma_inv: float = 7000.0
    scale_sigma: bool = False
    z0_init: float = 2.0
    prune_after: tuple[int, ...] = (30, 60)
    prune_single: bool = False
    batch_images: int = 2
    crop_resolution: int = 256
    step2_resolution: int = 256
    v_agr_threshold: float = 0.3
    miou_percentile: float = 10.0
    reliable_top: int = 100
    complementary_min: float = 0.5
    features: str = "auto"
    semantic_rounds: int = 1
    step2_blur: float = 0.0
    step2_asymmetry_weight: float = 0.0
    step2_centroid_weight: float = 0.0
    step2_centroid_power: float = 2.0
    step2_filter: str = "v_agr"
    step2_margin: float = 0.05
    refine_steps: int = 0
    refine_lr: float = 0.02
    appearance_layer: str = "Mixed_5d"
    appearance_input: int = 299
    appearance_channels: int = 8
    appearance_clusters: int = 8

    def __post_init__(self) -> None:
        if self.step2_filter not in ("v_agr", "margin"):
            raise ValueError(f"unknown step-2 filter {self.step2_filter!r}; choose v_agr or margin")

    def resolution_at(self, step: int) -> int:
        side = self.resolutions[0][1]
        for start, value in self.resolutions:
            if step >= start:
                side = value
        return side

    def sigma_at(self, side: int) -> float:
        return self.sigma_inv * (side / 128.0) ** 2 if self.scale_sigma else self.sigma_inv

    def to_json(self) -> dict:
        return asdict(self)

    def replace(self, **changes) -> "PoseConfig":
        return replace(self, **changes)


PRESETS = {
    "paper": PoseConfig(),
    "cpu": PoseConfig(name="cpu", steps=40, lr=0.1, lr_decay_after=32, resolutions=((0, 64), (20, 96)),
                      final_resolution=128, scale_sigma=True, prune_after=(12, 24), prune_single=True, batch_images=4,
                      step2_resolution=128, appearance_input=224, semantic_rounds=3,
                      step2_centroid_weight=1.0, step2_filter="margin", step2_margin=0.03,
                      appearance_clusters=32, appearance_channels=16, refine_steps=40),
}


def steps_overrides(steps: int | None) -> dict:
    """The overrides of a step-1 run of ``steps`` steps instead of the preset's (quick checks): the learning rate
    decays after 80% of them. Empty for None."""
    return {} if steps is None else {"steps": steps, "lr_decay_after": max(1, int(0.8 * steps))}
