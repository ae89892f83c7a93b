"""FID and KID between two image sets, each an image folder or a statistics file (``.npz``)."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from fid.errors import FIDError
from fid.features import folder_statistics
from fid.images import list_images
from fid.inception import FeatureExtractor
from fid.statistics import FeatureStatistics, fid_from_statistics, kernel_inception_distance, resolve_method

KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000


@dataclasses.dataclass
class FIDResult:
    """FID (and KID when features of both sets are known) between set A and set B.

    fid_method: "sqrtm" (pytorch-fid's formula) or "eigh" (see fid.statistics.resolve_method).
    kid / kid_std: mean and standard deviation of the unbiased MMD² over random subsets, or None when one side is a
    statistics file without ``kid_features``.
    """

    fid: float
    kid: float | None
    kid_std: float | None
    num_a: int
    num_b: int
    feature_extractor: str
    fid_method: str

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def kid_between(a: FeatureStatistics, b: FeatureStatistics, seed: int = 0) -> tuple[float | None, float | None]:
    """KID of the kept features of two statistics, (None, None) when either lacks them."""
    if a.kid_features is None or b.kid_features is None:
        return None, None
    return kernel_inception_distance(a.kid_features, b.kid_features, KID_SUBSETS, KID_SUBSET_SIZE, seed)


def compare_statistics(a: FeatureStatistics, b: FeatureStatistics, seed: int = 0, method: str = "auto") -> FIDResult:
    """FID (and KID) between two sets of statistics of the same network."""
    method = resolve_method(method, a, b)
    fid = fid_from_statistics(a, b, method)
    kid, kid_std = kid_between(a, b, seed)
    return FIDResult(fid=fid, kid=kid, kid_std=kid_std, num_a=a.num_images, num_b=b.num_images,
                     feature_extractor=a.feature_extractor or b.feature_extractor or "unknown", fid_method=method)


def check_source(source: str | os.PathLike) -> None:
    """Fail early (FIDError) when ``source`` is neither a readable statistics file nor a folder with images."""
    source = Path(source)
    if source.suffix == ".npz" and not source.is_dir():
        FeatureStatistics.load(source)
    else:
        list_images(source)


def statistics_of(source: str | os.PathLike, extractor: FeatureExtractor, batch_size: int = 16,
                  progress: bool = False) -> FeatureStatistics:
    """Statistics of an image folder, or read from a ``.npz`` statistics file."""
    source = Path(source)
    if source.suffix == ".npz" and not source.is_dir():
        stats = FeatureStatistics.load(source)
        if stats.feature_extractor and stats.feature_extractor != extractor.name:
            raise FIDError(f"{source} was computed with {stats.feature_extractor}, not {extractor.name}; "
                           "pass the matching --inception or recompute it")
        return stats
    return folder_statistics(source, extractor, batch_size, progress)


def compare_sources(a: str | os.PathLike, b: str | os.PathLike, extractor: FeatureExtractor, batch_size: int = 16,
                    progress: bool = False, seed: int = 0, method: str = "auto") -> FIDResult:
    """FID/KID between two image folders (or statistics files) with one Inception; both are checked first."""
    check_source(a)
    check_source(b)
    stats_a = statistics_of(a, extractor, batch_size, progress)
    stats_b = statistics_of(b, extractor, batch_size, progress)
    return compare_statistics(stats_a, stats_b, seed, method)
