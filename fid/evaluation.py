"""A full FID/KID evaluation of a generator against a dataset (protocol of §7).

    model = select_model(checkpoint=path)            # backend.model_choice (or random_init="small")
    evaluation = evaluate_generator(model, dataset_dir, load_feature_extractor("tf"), EvaluationOptions())
    evaluation.result.fid, evaluation.result.kid, evaluation.to_dict()

Real statistics: the dataset's cached statistics (fid.real), or a given statistics file (the original
``precomputed_fid_299x299.npz`` works). Generated set: n = ``num_samples`` or as many as the real images (at most
50,000), rendered under the dataset's poses (fid.generated), seeded per sample.
"""
from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

from fid.comparison import FIDResult, compare_statistics, small_set_note
from fid.errors import FIDError
from fid.features import extract_features
from fid.generated import MODES, plan_samples, render_samples
from fid.inception import FeatureExtractor
from fid.inception_net import INPUT_RESOLUTION
from fid.real import (DEFAULT_CACHE_DIR, MAX_IMAGES, RealStatsOptions, open_collection, real_statistics,
                      select_records)
from fid.statistics import FeatureStatistics


@dataclasses.dataclass
class EvaluationOptions:
    """Options of an evaluation (CLI flags of the same names).

    seed: sample j uses latent seed seed + j (1234 as the original's --evaluate). truncation: σ of the latents.
    renderer: "auto" (= "fast"), "fast" (Warp) or "reference". mode: "full", "texture_only" or "mesh_only".
    stats_path: a statistics file to use instead of the dataset's (cached) statistics.
    """

    filter_class: str | None = None
    num_samples: int | None = None
    seed: int = 1234
    truncation: float = 1.0
    batch_size: int = 16
    device: str = "cpu"
    renderer: str = "auto"
    cache_dir: str | os.PathLike = DEFAULT_CACHE_DIR
    stats_path: str | os.PathLike | None = None
    fid_method: str = "auto"
    mode: str = "full"


@dataclasses.dataclass
class Evaluation:
    """The outcome: ``result`` (FID/KID), where the real statistics came from, and what was evaluated."""

    result: FIDResult
    model_label: str
    model_source: str
    untrained: bool
    dataset: str
    real_statistics: str
    real_cached: bool
    num_pose_records: int
    options: EvaluationOptions
    seconds: float
    notes: list[str]

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["options"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in out["options"].items()}
        return {"fid": self.result.fid, "kid": self.result.kid, "kid_std": self.result.kid_std,
                "num_real": self.result.num_a, "num_generated": self.result.num_b, **out}


def _model_label(model) -> str:
    source = getattr(model, "source", "") or ""
    if getattr(model, "untrained", False):
        return f"untrained-{source}".replace("/", "_").replace(":", "_") if source else "untrained"
    return Path(source).stem if source else "model"


def _real_statistics(dataset, records, extractor, options: EvaluationOptions, progress: bool):
    if options.stats_path is not None:
        stats = FeatureStatistics.load(options.stats_path)
        if stats.feature_extractor and stats.feature_extractor != extractor.name:
            raise FIDError(f"{options.stats_path} was computed with {stats.feature_extractor}, not "
                           f"{extractor.name}; pass the matching --inception")
        return stats, Path(options.stats_path), True
    real = real_statistics(dataset, extractor, RealStatsOptions(filter_class=options.filter_class),
                           options.cache_dir, options.batch_size, progress, records=records)
    return real.statistics, real.path, real.cached


def evaluate_generator(model, dataset: str | os.PathLike, extractor: FeatureExtractor,
                       options: EvaluationOptions = EvaluationOptions(), progress: bool = False) -> Evaluation:
    """FID and KID of ``model`` (a backend.models.LoadedModel) against ``dataset`` (a collection folder)."""
    from backend.device import DeviceError
    from backend.sampling import MeshGenerator

    started = time.perf_counter()
    if options.mode not in MODES:
        raise FIDError(f"unknown FID mode {options.mode!r}: use one of {', '.join(MODES)}")
    impl = "fast" if options.renderer == "auto" else options.renderer
    if impl not in ("fast", "reference"):
        raise FIDError(f"unknown renderer {options.renderer!r}: use auto, fast or reference")
    collection = open_collection(dataset, check="header")
    records = select_records(collection.records, options.filter_class)
    real, real_path, cached = _real_statistics(dataset, records, extractor, options, progress)
    count = options.num_samples if options.num_samples is not None else min(real.num_images or MAX_IMAGES,
                                                                              MAX_IMAGES)
    plan = plan_samples(records, count, model)
    try:
        generator = MeshGenerator(model, device=options.device)
    except DeviceError as exc:
        raise FIDError(str(exc)) from None
    batches = render_samples(generator, plan, options.seed, options.truncation, options.batch_size, impl,
                             options.mode, resolution=INPUT_RESOLUTION)
    features = extract_features(extractor, batches, total=len(plan), progress=progress, desc="Inception generated")
    fake = FeatureStatistics.from_features(features, INPUT_RESOLUTION, extractor.name)
    result = compare_statistics(real, fake, seed=options.seed, method=options.fid_method)
    notes = []
    if model.untrained:
        notes.append("note: the model is untrained (random weights): this FID only checks the pipeline")
    if real.num_images != len(plan):
        notes.append(f"note: {len(plan)} generated vs {real.num_images} real images; the protocol uses equal counts")
    if result.kid is None:
        notes.append("note: no KID: the real statistics file keeps no features")
    if small_set_note(result):
        notes.append(small_set_note(result))
    return Evaluation(result=result, model_label=_model_label(model), model_source=str(model.source),
                      untrained=bool(model.untrained), dataset=str(dataset), real_statistics=str(real_path),
                      real_cached=cached, num_pose_records=len({int(i) for i in plan.record_index}),
                      options=options, seconds=round(time.perf_counter() - started, 2), notes=notes)
