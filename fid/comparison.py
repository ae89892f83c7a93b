"""FID and KID between two image sets: image folders, dataset collections or statistics files (``.npz``)."""
from __future__ import annotations

import dataclasses
import os

from fid.inception import FeatureExtractor
from fid.real import DEFAULT_CACHE_DIR
from fid.sources import Source, inspect_source, source_statistics
from fid.statistics import FeatureStatistics, fid_from_statistics, kid_estimate, resolve_method

KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
SMALL_SET_IMAGES = 2048  # below this (the feature dimension) FID's upward bias is large and size-dependent


@dataclasses.dataclass
class FIDResult:
    """FID (and KID when features of both sets are known) between set A and set B.

    fid_method: "sqrtm" (pytorch-fid's formula) or "eigh" (see fid.statistics.resolve_method).
    kid: the unbiased MMD² (fid.statistics.kid_estimate), or None when one side is a statistics file without
    ``kid_features``. kid_std: its standard deviation over ``kid_subsets`` random subsets of ``kid_subset_size``
    images a side, None when no spread is available (or no KID). kid_whole_sets: the sets were smaller than the
    nominal subset size (1000), so ``kid`` is the whole-set estimate and the spread comes from half-size subsets.
    """

    fid: float
    kid: float | None
    kid_std: float | None
    num_a: int
    num_b: int
    feature_extractor: str
    fid_method: str
    kid_subset_size: int | None = None
    kid_subsets: int = 0
    kid_whole_sets: bool = False

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def small_set_note(result: FIDResult) -> str | None:
    """The one-line warning for sets of fewer than 2,048 images (None otherwise)."""
    if min(result.num_a, result.num_b) >= SMALL_SET_IMAGES or min(result.num_a, result.num_b) <= 0:
        return None
    return (f"note: fewer than {SMALL_SET_IMAGES:,} images in a set ({result.num_a} and {result.num_b}): FID is biased "
            "upward at this size (compare FIDs only at equal sample counts); KID is the figure to compare")


def compare_statistics(a: FeatureStatistics, b: FeatureStatistics, seed: int = 0, method: str = "auto") -> FIDResult:
    """FID (and KID when both keep features) between two sets of statistics of the same network."""
    method = resolve_method(method, a, b)
    fid = fid_from_statistics(a, b, method)
    kid = None
    if a.kid_features is not None and b.kid_features is not None:
        kid = kid_estimate(a.kid_features, b.kid_features, KID_SUBSETS, KID_SUBSET_SIZE, seed)
    return FIDResult(fid=fid, kid=None if kid is None else kid.value, kid_std=None if kid is None else kid.std,
                     num_a=a.num_images, num_b=b.num_images,
                     feature_extractor=a.feature_extractor or b.feature_extractor or "unknown", fid_method=method,
                     kid_subset_size=None if kid is None else kid.subset_size,
                     kid_subsets=0 if kid is None else kid.num_subsets,
                     kid_whole_sets=False if kid is None else kid.whole_sets)


def compare_sources(a: str | os.PathLike | Source, b: str | os.PathLike | Source, extractor: FeatureExtractor,
                    batch_size: int = 16, progress: bool = False, seed: int = 0, method: str = "auto",
                    cache_dir: str | os.PathLike | None = DEFAULT_CACHE_DIR) -> FIDResult:
    """FID/KID between two sources with one Inception; both are inspected (and refused if unusable) first.

    A source is an image folder (every image file under it), a dataset collection folder (its records' masked
    crops, the §7 protocol, statistics cached in ``cache_dir`` unless None) or a ``.npz`` statistics file; see
    fid.sources.
    """
    sources = [s if isinstance(s, Source) else inspect_source(s) for s in (a, b)]
    stats_a, stats_b = (source_statistics(s, extractor, batch_size, progress, cache_dir) for s in sources)
    return compare_statistics(stats_a, stats_b, seed, method)
