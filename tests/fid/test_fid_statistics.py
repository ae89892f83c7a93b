"""Fréchet distance, KID and statistics files, checked against closed forms and independent computations."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg

from fid.errors import FIDError
from fid.statistics import (FeatureStatistics, fid_from_statistics, frechet_distance, kernel_inception_distance,
                            kid_estimate, unbiased_mmd2,
                            resolve_method)


def _random_covariance(rng: np.random.Generator, dim: int, samples: int) -> np.ndarray:
    x = rng.normal(size=(samples, dim)) @ rng.normal(size=(dim, dim)) * 0.3
    return np.cov(x, rowvar=False)


def _independent_frechet(mu1, s1, mu2, s2) -> float:
    """d² via a symmetric factorisation: tr sqrt(S1 S2) = Σ sqrt(eig(S2^½ S1 S2^½)), square root with scipy eigh."""
    w, v = linalg.eigh(s2)
    root = v @ np.diag(np.sqrt(np.clip(w, 0, None))) @ v.T
    eig = linalg.eigvalsh(root @ s1 @ root)
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.sum(np.sqrt(np.clip(eig, 0, None))))


@pytest.mark.parametrize("method", ["sqrtm", "eigh"])
def test_frechet_matches_closed_form_for_diagonal_gaussians(method):
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.normal(size=16), rng.normal(size=16)
    var1, var2 = rng.uniform(0.1, 3.0, 16), rng.uniform(0.1, 3.0, 16)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(var1 + var2 - 2 * np.sqrt(var1 * var2))
    got = frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2), method=method)
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("method", ["sqrtm", "eigh"])
def test_frechet_matches_independent_scipy_implementation(method):
    rng = np.random.default_rng(2)
    s1, s2 = _random_covariance(rng, 48, 400), _random_covariance(rng, 48, 300)
    mu1, mu2 = rng.normal(size=48), rng.normal(size=48) + 0.5
    got = frechet_distance(mu1, s1, mu2, s2, method=method)
    assert got == pytest.approx(_independent_frechet(mu1, s1, mu2, s2), rel=1e-7)
    assert got > 1.0


def test_frechet_methods_agree_on_rank_deficient_covariances():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(10, 40)), rng.normal(size=(12, 40)) * 1.5 + 0.2
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    exact = _independent_frechet(a.mean(0), s1, b.mean(0), s2)
    assert frechet_distance(a.mean(0), s1, b.mean(0), s2, method="eigh") == pytest.approx(exact, rel=1e-6)
    assert frechet_distance(a.mean(0), s1, b.mean(0), s2, method="sqrtm") == pytest.approx(exact, rel=1e-3)


def test_fid_of_a_set_with_itself_is_zero():
    rng = np.random.default_rng(4)
    stats = FeatureStatistics.from_features(rng.normal(size=(200, 32)))
    assert abs(fid_from_statistics(stats, stats, "sqrtm")) < 1e-6
    assert abs(fid_from_statistics(stats, stats, "eigh")) < 1e-6
    shifted = FeatureStatistics.from_features(rng.normal(size=(200, 32)) + 1.0)
    assert fid_from_statistics(stats, shifted) > 20.0  # |Δmu|² alone is about 32


def test_auto_method_uses_pytorch_fid_formula_only_for_full_rank_sets():
    rng = np.random.default_rng(5)
    big = FeatureStatistics.from_features(rng.normal(size=(50, 8)))
    small = FeatureStatistics.from_features(rng.normal(size=(5, 8)))
    assert resolve_method("auto", big, big) == "sqrtm"
    assert resolve_method("auto", big, small) == "eigh"
    assert resolve_method("sqrtm", big, small) == "sqrtm"
    with pytest.raises(FIDError, match="unknown FID method"):
        resolve_method("fast", big, big)


def test_mismatched_statistics_are_refused():
    with pytest.raises(FIDError, match="do not match"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    rng = np.random.default_rng(6)
    a = FeatureStatistics.from_features(rng.normal(size=(20, 4)), feature_extractor="tf-fid-inception-2015-12-05")
    b = FeatureStatistics.from_features(rng.normal(size=(20, 4)), feature_extractor="torchvision-inception-v3")
    with pytest.raises(FIDError, match="different networks"):
        fid_from_statistics(a, b)


def _brute_force_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    d = x.shape[1]
    k = lambda a, b: (a @ b / d + 1.0) ** 3  # noqa: E731
    n, m = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if i != j)
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    xy = sum(k(x[i], y[j]) for i in range(n) for j in range(m))
    return xx / (n * (n - 1)) + yy / (m * (m - 1)) - 2 * xy / (n * m)


def test_kid_is_the_unbiased_mmd_with_the_cubic_kernel():
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(12, 6)), rng.normal(size=(12, 6)) + 0.3
    kid, std = kernel_inception_distance(x, y, num_subsets=3, subset_size=100)
    # subsets of size min(100, 12) hold every row, so each subset gives the full-set estimate
    assert kid == pytest.approx(_brute_force_mmd2(x, y), rel=1e-10)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_kid_separates_distributions_and_is_near_zero_for_one():
    rng = np.random.default_rng(8)
    a, b = rng.normal(size=(400, 16)), rng.normal(size=(400, 16))
    same, _ = kernel_inception_distance(a, b, num_subsets=20, subset_size=100)
    different, _ = kernel_inception_distance(a, b * 1.5 + 0.5, num_subsets=20, subset_size=100)
    assert abs(same) < 0.02
    assert different > 10 * max(abs(same), 1e-3)
    with pytest.raises(FIDError, match="at least 2"):
        kernel_inception_distance(a[:1], b)


def test_kid_estimate_of_small_sets_has_a_real_spread():
    """Sets smaller than the subset size: the whole-set value, and a spread from half-size subsets (never 0)."""
    rng = np.random.default_rng(9)
    x, y = rng.normal(size=(12, 6)), rng.normal(size=(15, 6)) + 0.3
    estimate = kid_estimate(x, y, num_subsets=40, subset_size=100, seed=1)
    assert estimate.whole_sets and estimate.subset_size == 6 and estimate.num_subsets == 40
    assert estimate.value == pytest.approx(_brute_force_mmd2(x, y), rel=1e-10)  # 12 against 15: all of both
    assert unbiased_mmd2(x, y) == pytest.approx(_brute_force_mmd2(x, y), rel=1e-10)
    assert estimate.std > 1e-4
    assert kid_estimate(x[:3], y[:3]).std is None  # a half of 1 image has no unbiased MMD
    # the larger side is limited to a random subset_size of its rows
    limited = kid_estimate(x[:4], y, num_subsets=5, subset_size=10, seed=0)
    assert limited.whole_sets and limited.subset_size == 2


def test_kid_estimate_of_large_sets_is_the_usual_subset_mean():
    rng = np.random.default_rng(10)
    a, b = rng.normal(size=(60, 8)), rng.normal(size=(50, 8)) + 0.2
    estimate = kid_estimate(a, b, num_subsets=7, subset_size=20, seed=4)
    assert not estimate.whole_sets and estimate.subset_size == 20
    assert (estimate.value, estimate.std) == kernel_inception_distance(a, b, num_subsets=7, subset_size=20, seed=4)
    assert estimate.std > 0


def test_statistics_round_trip_in_the_original_layout(tmp_path):
    rng = np.random.default_rng(9)
    features = rng.normal(size=(3000, 2048)).astype(np.float32) * rng.uniform(0.5, 2.0, 2048).astype(np.float32)
    stats = FeatureStatistics.from_features(features, feature_extractor="tf-fid-inception-2015-12-05")
    path = stats.save(tmp_path / "precomputed_fid_299x299.npz")

    # read back independently, as the original project does
    with np.load(path) as data:
        assert data["stats_m"].shape == (2048,) and data["stats_m"].dtype == np.float32
        assert data["stats_s"].shape == (2048, 2048) and data["stats_s"].dtype == np.float32
        lower = data["stats_s"]
        assert not np.triu(lower, 1).any(), "only the lower triangle is stored"
        full = lower + np.triu(lower.T, 1)
        assert int(data["num_images"]) == 3000 and int(data["resolution"]) == 299
    np.testing.assert_allclose(full, np.cov(features.astype(np.float64), rowvar=False), rtol=1e-5, atol=1e-6)

    loaded = FeatureStatistics.load(path)
    np.testing.assert_allclose(loaded.cov, loaded.cov.T)
    np.testing.assert_allclose(loaded.cov, stats.cov, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loaded.mean, stats.mean, rtol=1e-6, atol=1e-6)
    assert loaded.num_images == 3000 and loaded.feature_extractor == "tf-fid-inception-2015-12-05"
    assert loaded.kid_features.shape == (3000, 2048)


def test_original_file_without_our_keys_and_full_matrix_files_load(tmp_path):
    rng = np.random.default_rng(10)
    cov = _random_covariance(rng, 2048, 3000).astype(np.float32)
    mean = rng.normal(size=2048).astype(np.float32)
    np.savez(tmp_path / "orig.npz", stats_m=mean, stats_s=np.tril(cov), num_images=3000, resolution=299)
    np.savez(tmp_path / "full.npz", stats_m=mean, stats_s=cov)
    a, b = FeatureStatistics.load(tmp_path / "orig.npz"), FeatureStatistics.load(tmp_path / "full.npz")
    np.testing.assert_allclose(a.cov, cov, rtol=1e-6)
    np.testing.assert_allclose(b.cov, cov, rtol=1e-6)
    assert a.feature_extractor is None and a.kid_features is None and b.num_images == 0


def test_bad_statistics_files_give_clear_errors(tmp_path):
    np.savez(tmp_path / "small.npz", stats_m=np.zeros(10, np.float32), stats_s=np.zeros((10, 10), np.float32))
    with pytest.raises(FIDError, match=r"wrong shape.*\(10,\).*expected \(2048,\).*fid.evaluate stats"):
        FeatureStatistics.load(tmp_path / "small.npz")
    np.savez(tmp_path / "nonsquare.npz", stats_m=np.zeros(2048), stats_s=np.zeros((2048, 10)))
    with pytest.raises(FIDError, match="wrong shape"):
        FeatureStatistics.load(tmp_path / "nonsquare.npz")
    np.savez(tmp_path / "nokey.npz", mu=np.zeros(2048))
    with pytest.raises(FIDError, match="has no 'stats_m'"):
        FeatureStatistics.load(tmp_path / "nokey.npz")
    (tmp_path / "garbage.npz").write_bytes(b"not a zip file at all")
    with pytest.raises(FIDError, match="cannot read statistics file"):
        FeatureStatistics.load(tmp_path / "garbage.npz")
    with pytest.raises(FIDError, match="does not exist"):
        FeatureStatistics.load(tmp_path / "missing.npz")
    nan = np.zeros(2048)
    nan[3] = np.nan
    np.savez(tmp_path / "nan.npz", stats_m=nan, stats_s=np.eye(2048))
    with pytest.raises(FIDError, match="NaN"):
        FeatureStatistics.load(tmp_path / "nan.npz")


def test_low_rank_path_gives_the_same_fid_as_the_full_eigendecomposition():
    """With fewer images than dimensions the FID goes through the kept features; the value must not change."""
    rng = np.random.default_rng(11)
    small_a = FeatureStatistics.from_features(rng.normal(size=(9, 64)).astype(np.float32))
    small_b = FeatureStatistics.from_features((rng.normal(size=(7, 64)) * 1.3 + 0.1).astype(np.float32))
    big = FeatureStatistics.from_features(rng.normal(size=(300, 64)).astype(np.float32))
    assert small_a.has_all_features and big.has_all_features
    for a, b in ((small_a, small_b), (big, small_b), (small_a, big)):
        expected = frechet_distance(a.mean, a.cov, b.mean, b.cov, method="eigh")
        assert fid_from_statistics(a, b, "eigh") == pytest.approx(expected, rel=1e-5)
        assert fid_from_statistics(a, b, "auto") == pytest.approx(_independent_frechet(a.mean, a.cov, b.mean, b.cov),
                                                                  rel=1e-5)
