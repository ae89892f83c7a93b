"""FID benchmark: Inception throughput, the cost of a full evaluation, the real-vs-real floor on the testbed.

    python -m benchmarks.bench_fid                       # 64-image testbed, extrapolated to 1,000 images
    BENCH_FID_IMAGES=1000 python -m benchmarks.bench_fid # the full 1,000-image evaluation (about an hour here)

Figures (ratios against baselines measured in the same run, because the machine is noisy):
* Inception images/s at 299² with batch 1 (baseline) and batch 16, and their ratio.
* A full evaluation (``fid.evaluation.evaluate_generator``: real statistics of N testbed images, N generated samples
  of the untrained "small" generator rendered under the testbed's poses, FID + KID): total seconds, per-stage
  seconds per image, and the time extrapolated linearly to 1,000 images when N < 1,000 (fixed costs kept apart).
* The real-vs-real floor: FID and KID between the two halves of the testbed (N/2 vs N/2 images). FID at small N is
  dominated by its small-sample bias, so the floor is only comparable between runs with the same N.
* The Fréchet distance at 2048-d with full-rank covariances: pytorch-fid's scipy sqrtm vs our eigh (ratio).
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

TESTBED_ROOT = Path("build") / "bench_fid"
REFERENCE_IMAGES = 1000


def _testbed(n: int) -> Path:
    from training.synth import SynthConfig, synthesize

    out = TESTBED_ROOT / "testbed"  # one folder for every n: finished items are reused, the index lists 0..n-1
    synthesize(out, n, SynthConfig(seed=5, resolution=128, samples=8), workers=2)
    return out


def _throughput(extractor, batch: int, images: int) -> float:
    g = torch.Generator().manual_seed(0)
    data = torch.rand(batch, 3, 299, 299, generator=g)
    for _ in range(2):  # warm-up: TorchScript profiles the first call of a shape and optimises the second
        extractor(data)
    start = time.perf_counter()
    for _ in range(max(1, images // batch)):
        extractor(data)
    return max(1, images // batch) * batch / (time.perf_counter() - start)


def _fid_methods() -> dict:
    from fid.statistics import FeatureStatistics, frechet_distance

    rng = np.random.default_rng(0)
    a = FeatureStatistics.from_features(np.abs(rng.normal(size=(2500, 2048))), keep_for_kid=0)
    b = FeatureStatistics.from_features(np.abs(rng.normal(size=(2500, 2048))) * 1.1, keep_for_kid=0)
    timings, values = {}, {}
    for method in ("eigh", "sqrtm"):
        start = time.perf_counter()
        values[method] = frechet_distance(a.mean, a.cov, b.mean, b.cov, method=method)
        timings[method] = time.perf_counter() - start
    return {"fid_2048d_eigh_s": round(timings["eigh"], 2), "fid_2048d_sqrtm_s": round(timings["sqrtm"], 2),
            "fid_2048d_sqrtm_over_eigh": round(timings["sqrtm"] / timings["eigh"], 2),
            "fid_2048d_methods_rel_diff": float(abs(values["sqrtm"] - values["eigh"]) / values["eigh"])}


def main(include_microbenchmarks: bool = True) -> dict:
    from backend.model_choice import select_model
    from fid.evaluation import EvaluationOptions, evaluate_generator
    from fid.inception import load_feature_extractor
    from fid.real import real_statistics
    from fid.statistics import FeatureStatistics, fid_from_statistics, kernel_inception_distance

    n = int(os.environ.get("BENCH_FID_IMAGES", "64"))
    extractor = load_feature_extractor("tf")
    result: dict = {"machine": "2-core CPU shared with other jobs", "torch_threads": torch.get_num_threads()}

    if include_microbenchmarks:
        ips1 = _throughput(extractor, 1, 8)
        ips16 = _throughput(extractor, 16, 32)
        result.update({"inception_images_per_s_batch1": round(ips1, 3),
                       "inception_images_per_s_batch16": round(ips16, 3),
                       "inception_batch16_over_batch1": round(ips16 / ips1, 2)})

    start = time.perf_counter()
    testbed = _testbed(n)
    result["testbed_images"] = n
    result["testbed_synthesis_s"] = round(time.perf_counter() - start, 1)

    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        real = real_statistics(testbed, extractor, cache_dir=cache, batch_size=16)
        real_s = time.perf_counter() - start
        model = select_model(random_init="small")
        options = EvaluationOptions(num_samples=n, batch_size=16, cache_dir=cache)
        start = time.perf_counter()
        evaluation = evaluate_generator(model, testbed, extractor, options)
        generated_s = time.perf_counter() - start  # real statistics are cached by now
    total_s = real_s + generated_s
    result.update({"evaluation_total_s": round(total_s, 1), "real_statistics_s_per_image": round(real_s / n, 3),
                   "generated_set_s_per_image": round(generated_s / n, 3),
                   "evaluation_fid_untrained_small": round(evaluation.result.fid, 2),
                   "evaluation_kid_untrained_small": round(evaluation.result.kid, 4)})
    if n < REFERENCE_IMAGES:
        result["evaluation_1000_images_s_extrapolated"] = round(total_s * REFERENCE_IMAGES / n, 0)
    else:
        result["evaluation_1000_images_s_measured"] = round(total_s * REFERENCE_IMAGES / n, 0)

    features = real.statistics.kid_features  # every feature, in record order (n <= 10,000)
    half = n // 2
    first = FeatureStatistics.from_features(features[:half], feature_extractor=extractor.name)
    second = FeatureStatistics.from_features(features[half:2 * half], feature_extractor=extractor.name)
    kid, _ = kernel_inception_distance(features[:half], features[half:2 * half])
    result.update({"real_vs_real_fid_halves": round(fid_from_statistics(first, second), 2),
                   "real_vs_real_kid_halves": round(kid, 5), "real_vs_real_images_per_half": half})
    if include_microbenchmarks:
        result.update(_fid_methods())
    return result


if __name__ == "__main__":
    figures = main()
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
