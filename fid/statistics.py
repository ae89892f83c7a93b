"""Feature statistics, their files, the Fréchet distance and KID.

Statistics files use the original project's ``precomputed_fid_299x299.npz`` layout (§1.3): ``stats_m`` (2048,) float32,
``stats_s`` (2048, 2048) float32 holding the LOWER TRIANGLE of the covariance only, ``num_images``, ``resolution``.
We add two optional keys the original ignores: ``feature_extractor`` (which Inception produced them, so statistics of
different networks are never compared) and ``kid_features`` (up to ``KID_FEATURES_KEPT`` of the features, float32,
so KID can be computed against the cached real set).
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
from scipy import linalg

from fid.errors import FIDError

KID_FEATURES_KEPT = 10_000


@dataclasses.dataclass
class FeatureStatistics:
    """Gaussian summary of a set of Inception features.

    mean: (D,) float64; cov: (D, D) float64, symmetric (unbiased, numpy ``cov`` with rowvar False);
    num_images: how many images were summarised; resolution: image side given to Inception (299);
    feature_extractor: name of the network or None when unknown (original files);
    kid_features: (M, D) float32 random subset of the features (M <= KID_FEATURES_KEPT) or None.
    """

    mean: np.ndarray
    cov: np.ndarray
    num_images: int
    resolution: int = 299
    feature_extractor: str | None = None
    kid_features: np.ndarray | None = None

    @classmethod
    def from_features(cls, features: np.ndarray, resolution: int = 299, feature_extractor: str | None = None,
                      keep_for_kid: int = KID_FEATURES_KEPT, seed: int = 0) -> "FeatureStatistics":
        """Statistics of features (N, D), N >= 2.

        Keeps features for KID: all of them, in order, when N <= ``keep_for_kid``, else a seeded random subset.
        """
        features = np.asarray(features)
        if features.ndim != 2 or features.shape[0] < 2:
            raise FIDError(f"need at least 2 feature vectors to compute statistics, got shape {features.shape}")
        features64 = features.astype(np.float64)
        kept = features
        if features.shape[0] > keep_for_kid:
            rows = np.random.default_rng(seed).choice(features.shape[0], keep_for_kid, replace=False)
            kept = features[np.sort(rows)]
        return cls(mean=features64.mean(axis=0), cov=np.cov(features64, rowvar=False), num_images=features.shape[0],
                   resolution=resolution, feature_extractor=feature_extractor,
                   kid_features=kept.astype(np.float32) if keep_for_kid > 0 else None)

    @property
    def has_all_features(self) -> bool:
        """True when ``kid_features`` holds every feature the statistics were computed from."""
        return self.kid_features is not None and self.kid_features.shape[0] == self.num_images > 1

    def save(self, path: str | os.PathLike) -> Path:
        """Write the original layout (lower-triangle float32 covariance) plus our optional keys."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {
            "stats_m": self.mean.astype(np.float32),
            "stats_s": np.tril(self.cov).astype(np.float32),
            "num_images": np.asarray(self.num_images),
            "resolution": np.asarray(self.resolution),
        }
        if self.feature_extractor is not None:
            arrays["feature_extractor"] = np.asarray(self.feature_extractor)
        if self.kid_features is not None:
            arrays["kid_features"] = self.kid_features.astype(np.float32)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")  # concurrent writers never share a temp file
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, feature_dim: int | None = 2048) -> "FeatureStatistics":
        """Read a statistics file; a lower-triangle covariance is mirrored (S + triu(Sᵀ, 1)), a full one kept.

        Raises FIDError when the file is missing, unreadable, lacks a key or has shapes that do not fit together
        (or do not match ``feature_dim`` when given).
        """
        path = Path(path)
        redo = "recompute it with `python -m fid.evaluate stats DATASET_DIR`"
        if not path.is_file():
            raise FIDError(f"statistics file {path} does not exist; {redo}")
        try:
            with np.load(path, allow_pickle=False) as data:
                contents = {k: data[k] for k in data.files}
        except Exception as exc:
            raise FIDError(f"cannot read statistics file {path}: {str(exc).splitlines()[0]}; {redo}") from None
        for key in ("stats_m", "stats_s"):
            if key not in contents:
                raise FIDError(f"statistics file {path} has no {key!r} (keys: {sorted(contents)}); {redo}")
        mean, cov = contents["stats_m"].astype(np.float64), contents["stats_s"].astype(np.float64)
        dim = feature_dim if feature_dim is not None else mean.shape[0] if mean.ndim == 1 else -1
        if mean.shape != (dim,) or cov.shape != (dim, dim):
            raise FIDError(f"statistics file {path} has the wrong shape: stats_m {mean.shape}, stats_s {cov.shape}, "
                           f"expected ({dim},) and ({dim}, {dim}); {redo}")
        if not (np.isfinite(mean).all() and np.isfinite(cov).all()):
            raise FIDError(f"statistics file {path} contains NaN or infinite values; {redo}")
        if not np.triu(cov, 1).any():  # the original layout: lower triangle only
            cov = cov + np.triu(cov.T, 1)
        kid = contents.get("kid_features")
        if kid is not None and (kid.ndim != 2 or kid.shape[1] != dim):
            raise FIDError(f"statistics file {path} has kid_features of shape {kid.shape}, expected (M, {dim}); {redo}")
        extractor = contents.get("feature_extractor")
        return cls(mean=mean, cov=cov,
                   num_images=int(contents["num_images"]) if "num_images" in contents else 0,
                   resolution=int(contents["resolution"]) if "resolution" in contents else 299,
                   feature_extractor=str(extractor) if extractor is not None else None,
                   kid_features=kid.astype(np.float32) if kid is not None else None)


FID_METHODS = ("auto", "sqrtm", "eigh")


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr(sqrtm(sigma1 sigma2)) for symmetric PSD (D, D) matrices, through symmetric eigendecompositions.

    sigma1 sigma2 is similar to A sigma2 A with A = sigma1^½ (symmetric PSD), so its eigenvalues are real and
    non-negative and the trace of its square root is the sum of their square roots. Exact for rank-deficient
    covariances (fewer images than feature dimensions), where scipy's sqrtm is slow and loses accuracy.
    """
    w, v = np.linalg.eigh(sigma1)
    root = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    eigenvalues = np.linalg.eigvalsh(root @ sigma2 @ root)
    return float(np.sqrt(np.clip(eigenvalues, 0.0, None)).sum())


def centred_factor(features: np.ndarray) -> np.ndarray:
    """A (D, N) matrix F with F Fᵀ = the unbiased covariance of features (N, D): centred rows / sqrt(N - 1), transposed."""
    features = np.asarray(features, np.float64)
    return ((features - features.mean(axis=0)) / np.sqrt(features.shape[0] - 1)).T


def trace_sqrt_product_low_rank(sigma1: np.ndarray, factor2: np.ndarray) -> float:
    """tr(sqrtm(sigma1 sigma2)) when sigma2 = factor2 factor2ᵀ with factor2 (D, N), N small.

    sigma1 sigma2 has the same non-zero eigenvalues as factor2ᵀ sigma1 factor2 (N, N, symmetric PSD), so the trace of
    the root is the sum of their square roots: O(D² N) instead of O(D³).
    """
    eigenvalues = np.linalg.eigvalsh(factor2.T @ sigma1 @ factor2)
    return float(np.sqrt(np.clip(eigenvalues, 0.0, None)).sum())


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6, method: str = "sqrtm") -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2). mu: (D,), sigma: (D, D) symmetric PSD.

    d² = |mu1 - mu2|² + tr(sigma1) + tr(sigma2) - 2 tr(sqrtm(sigma1 sigma2)).
    method "sqrtm" is pytorch-fid's formula: scipy.linalg.sqrtm; when the root is not finite it is retried with ``eps``
    added to both diagonals; an imaginary part is dropped if the diagonal's imaginary part is within 1e-3 of zero
    (else FIDError). method "eigh" computes the same trace with :func:`trace_sqrt_product`.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != mu1.shape * 2:
        raise FIDError(f"statistics do not match: means {mu1.shape} vs {mu2.shape}, "
                       f"covariances {sigma1.shape} vs {sigma2.shape}")
    if method not in ("sqrtm", "eigh"):
        raise FIDError(f"unknown Fréchet distance method {method!r}: use 'sqrtm' or 'eigh'")
    diff = mu1 - mu2
    if method == "eigh":
        tr_covmean = trace_sqrt_product(sigma1, sigma2)
    else:
        covmean = linalg.sqrtm(sigma1.dot(sigma2))
        if not np.isfinite(covmean).all():
            offset = np.eye(sigma1.shape[0]) * eps
            covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
        if np.iscomplexobj(covmean):
            if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
                largest = np.max(np.abs(covmean.imag))
                raise FIDError(f"the Fréchet distance is undefined: imaginary component {largest:.3g} in sqrtm "
                               "(too few images for the feature dimension? try method 'eigh')")
            covmean = covmean.real
        tr_covmean = float(np.trace(covmean))
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)


def resolve_method(method: str, a: "FeatureStatistics", b: "FeatureStatistics") -> str:
    """"auto" -> "sqrtm" (pytorch-fid) when both sets have more images than feature dimensions (full-rank
    covariances, or an unknown count), else "eigh" (exact, and fast for rank-deficient covariances)."""
    if method not in FID_METHODS:
        raise FIDError(f"unknown FID method {method!r}: use one of {', '.join(FID_METHODS)}")
    if method != "auto":
        return method
    dim = a.mean.shape[0]
    small = [s.num_images for s in (a, b) if 0 < s.num_images <= dim]
    return "eigh" if small else "sqrtm"


def fid_from_statistics(a: FeatureStatistics, b: FeatureStatistics, method: str = "auto") -> float:
    """FID between two statistics of the same network (see :func:`resolve_method`); FIDError when networks differ."""
    if a.feature_extractor and b.feature_extractor and a.feature_extractor != b.feature_extractor:
        raise FIDError(f"cannot compare statistics of different networks ({a.feature_extractor} vs "
                       f"{b.feature_extractor}); recompute one of them with the same --inception")
    method = resolve_method(method, a, b)
    if method == "eigh":
        low_rank = [s for s in (b, a) if s.has_all_features and s.num_images <= s.mean.shape[0]]
        if low_rank:  # same value as frechet_distance(..., "eigh"), through the small side's features
            small = low_rank[0]
            other = a if small is b else b
            if other.cov.shape != small.cov.shape:
                raise FIDError(f"statistics do not match: covariances {a.cov.shape} vs {b.cov.shape}")
            diff = a.mean - b.mean
            tr_covmean = trace_sqrt_product_low_rank(other.cov, centred_factor(small.kid_features))
            return float(diff.dot(diff) + np.trace(a.cov) + np.trace(b.cov) - 2.0 * tr_covmean)
    return frechet_distance(a.mean, a.cov, b.mean, b.cov, method=method)


def _feature_pair(features_a: np.ndarray, features_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise FIDError(f"KID needs two (N, D) feature sets with the same D, got {a.shape} and {b.shape}")
    if min(a.shape[0], b.shape[0]) < 2:
        raise FIDError(f"KID needs at least 2 images in each set, got {a.shape[0]} and {b.shape[0]}")
    return a, b


def unbiased_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² between x (n, D) and y (m, D), n, m >= 2, with the cubic kernel k(x, y) = (xᵀy / D + 1)³."""
    dim, n, m = x.shape[1], x.shape[0], y.shape[0]
    k_xx = (x @ x.T / dim + 1.0) ** 3
    k_yy = (y @ y.T / dim + 1.0) ** 3
    k_xy = (x @ y.T / dim + 1.0) ** 3
    return float((k_xx.sum() - np.trace(k_xx)) / (n * (n - 1)) + (k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
                 - 2.0 * k_xy.sum() / (n * m))


def _subset_values(a: np.ndarray, b: np.ndarray, num_subsets: int, m: int, rng: np.random.Generator) -> np.ndarray:
    return np.array([unbiased_mmd2(a[rng.choice(a.shape[0], m, replace=False)],
                                   b[rng.choice(b.shape[0], m, replace=False)]) for _ in range(num_subsets)])


def kernel_inception_distance(features_a: np.ndarray, features_b: np.ndarray, num_subsets: int = 100,
                              subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """KID: unbiased MMD² with the cubic polynomial kernel k(x, y) = (xᵀy / D + 1)³, averaged over random subsets.

    features_a: (N, D), features_b: (M, D). Each subset draws min(subset_size, N, M) rows of each set without
    replacement (numpy seed ``seed``). Returns (mean, standard deviation) over the subsets. When both sets are no
    larger than ``subset_size`` every subset is the whole of both sets and the deviation is 0, which says nothing
    about the estimate's spread: reports use :func:`kid_estimate`.
    """
    a, b = _feature_pair(features_a, features_b)
    m = min(subset_size, a.shape[0], b.shape[0])
    values = _subset_values(a, b, num_subsets, m, np.random.default_rng(seed))
    return float(values.mean()), float(values.std())


@dataclasses.dataclass(frozen=True)
class KIDEstimate:
    """KID between two feature sets, with a spread that means something.

    value: the unbiased MMD² estimate (cubic kernel). std: standard deviation of the estimate over ``num_subsets``
    random subsets of ``subset_size`` images per set, or None when no spread is available (a set of fewer than 4
    images). whole_sets: True when ``value`` is the estimate on the whole of the smaller set (it has fewer images
    than the nominal subset size) rather than the mean over subsets; ``std`` then comes from subsets of half the
    smaller set, so it is the spread of a half-size estimate (an upper bound on the spread of ``value``).
    """

    value: float
    std: float | None
    subset_size: int | None
    num_subsets: int
    whole_sets: bool


def kid_estimate(features_a: np.ndarray, features_b: np.ndarray, num_subsets: int = 100, subset_size: int = 1000,
                 seed: int = 0) -> KIDEstimate:
    """KID of features_a (N, D) and features_b (M, D), N, M >= 2 (numpy seed ``seed``).

    Both sets hold at least ``subset_size`` images: the mean ± standard deviation over ``num_subsets`` subsets of
    ``subset_size`` (the usual protocol, as :func:`kernel_inception_distance`). Otherwise subsets of that size would
    all be the whole set and show a spread of 0: the value is the estimate on the whole smaller set against the
    other set (limited to a random ``subset_size`` of it when larger), and the spread is measured over subsets of
    ⌊min(N, M) / 2⌋ images per set, or is None below 4 images.
    """
    a, b = _feature_pair(features_a, features_b)
    rng = np.random.default_rng(seed)
    smaller = min(a.shape[0], b.shape[0])
    if smaller >= subset_size:
        values = _subset_values(a, b, num_subsets, subset_size, rng)
        return KIDEstimate(float(values.mean()), float(values.std()), subset_size, num_subsets, whole_sets=False)
    def limited(f: np.ndarray) -> np.ndarray:
        return f if f.shape[0] <= subset_size else f[np.sort(rng.choice(f.shape[0], subset_size, replace=False))]

    value = unbiased_mmd2(limited(a), limited(b))
    half = smaller // 2
    if half < 2:
        return KIDEstimate(value, None, None, 0, whole_sets=True)
    values = _subset_values(a, b, num_subsets, half, rng)
    return KIDEstimate(value, float(values.std()), half, num_subsets, whole_sets=True)
