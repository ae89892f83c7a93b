"""The real-vs-real floor: FID/KID between two disjoint random parts of one collection, at a given sample count.

FID is biased upward by an amount that depends on the number of images, so a model's FID at n samples means
little without the floor at the same n: what two samples of the real distribution itself score.

    from fid.floor import real_floor
    real_floor("datasets/toycars", n=500, seed=0)   # {"fid": ..., "kid": ..., "n": 500, ...}
"""
from __future__ import annotations

import os

import numpy as np

from fid.comparison import FIDResult, compare_statistics, small_set_note
from fid.errors import FIDError
from fid.features import extract_features
from fid.inception import FeatureExtractor
from fid.real import (DEFAULT_CACHE_DIR, MAX_IMAGES, RealStatsOptions, cache_path, crop_batches, open_collection,
                      real_statistics, select_records)
from fid.statistics import FeatureStatistics


def split_halves(count: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint sorted index arrays of ``n`` each, drawn from range(count) by a seeded permutation."""
    order = np.random.default_rng(seed).permutation(count)
    return np.sort(order[:n]), np.sort(order[n:2 * n])


def _crop_features(records, extractor, chosen, batch_size, progress) -> np.ndarray:
    """Features (len(chosen), 2048) of the protocol crops of ``records[chosen]``."""
    picked = [records[i] for i in chosen]
    return extract_features(extractor, crop_batches(picked, batch_size), total=len(picked), progress=progress,
                            desc="Inception real")


def real_floor(collection: str | os.PathLike, n: int | None = None, seed: int = 0,
               extractor: FeatureExtractor | None = None, *, filter_class: str | None = None, batch_size: int = 16,
               cache_dir: str | os.PathLike | None = DEFAULT_CACHE_DIR, fid_method: str = "auto",
               progress: bool = False) -> dict:
    """FID and KID between two disjoint random sets of ``n`` records each of one collection (protocol crops).

    collection: a collection folder (docs/datasets.md); filter_class: only that class's records (name or index).
    n: images per side; None = two halves (⌊N / 2⌋ each of the N usable records, at most 50,000). FIDError when
    2n > N or n < 2. seed: numpy seed of the split (and of KID's subsets).
    extractor: the Inception network (None: TF-FID on CPU).
    Features come from the cached real statistics in ``cache_dir`` when they hold every record's features (the
    cache of ``fid.evaluate stats``, up to 10,000 images); otherwise only the 2n chosen crops go through Inception,
    and a split that uses every record writes the full statistics to the cache. cache_dir None: no cache at all.

    Returns a JSON-able dict: ``fid``, ``kid``, ``kid_std`` (None when no spread is available), ``kid_subset_size``,
    ``kid_subsets``, ``kid_whole_sets``, ``n`` (per side), ``num_records`` (N), ``seed``, ``collection``,
    ``filter_class``, ``feature_extractor``, ``fid_method``, ``features_from`` ("cache" or "inception") and
    ``note`` (the small-set warning below 2,048 images a side, else None).
    """
    if extractor is None:
        from fid.inception import load_feature_extractor

        extractor = load_feature_extractor("tf")
    records = select_records(open_collection(collection, check="header").records, filter_class)[:MAX_IMAGES]
    total = len(records)
    n = total // 2 if n is None else int(n)
    if n < 2:
        raise FIDError(f"the floor needs at least 2 images a side, got n={n} ({total} usable records in {collection})")
    if 2 * n > total:
        raise FIDError(f"a floor of {n} vs {n} needs {2 * n} images but {collection} has {total} usable records; "
                       f"pass --n {total // 2} or less")
    first, second = split_halves(total, n, seed)
    options = RealStatsOptions(filter_class=filter_class)
    features, source = None, "inception"
    cached = cache_dir is not None and cache_path(collection, options, extractor.name, cache_dir).is_file()
    if cached or (cache_dir is not None and 2 * n == total):
        real = real_statistics(collection, extractor, options, cache_dir, batch_size, progress, records=records)
        if real.statistics.has_all_features and real.statistics.num_images == total:
            features, source = real.statistics.kid_features, "cache" if real.cached else "inception"
    if features is not None:
        feats_a, feats_b = features[first], features[second]
    else:
        both = _crop_features(records, extractor, np.concatenate([first, second]), batch_size, progress)
        feats_a, feats_b = both[:n], both[n:]
    stats_a, stats_b = (FeatureStatistics.from_features(f, feature_extractor=extractor.name)
                        for f in (feats_a, feats_b))
    result: FIDResult = compare_statistics(stats_a, stats_b, seed=seed, method=fid_method)
    return {**result.to_dict(), "n": n, "num_records": total, "seed": seed, "collection": str(collection),
            "filter_class": filter_class, "features_from": source, "note": small_set_note(result)}
