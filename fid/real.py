"""Statistics of the real set: masked square crops of a dataset collection at 299², computed once and cached.

The protocol (§7): every valid instance of the collection, cropped square around its box with 5% padding, resized to
299², RGB multiplied by the mask in [-1, 1] (so the background is mid-grey). Crops come from
``dataformat.crop_and_resize`` (the same cropping the rest of the project uses).

The cache file is the original ``precomputed_fid_299x299.npz`` layout (see fid.statistics), named after the
collection and a hash of everything that changes the result: the collection's index and metadata files, the class
filter, the image limit, the resolution, the padding and the Inception network.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from dataformat import (COLLECTION_FILE, CROP_PADDING, INDEX_FILES, CollectionError, DataFileError, crop_and_resize,
                        load_collection)
from fid.errors import FIDError
from fid.features import extract_features
from fid.images import batched, composite_on_grey
from fid.inception import FeatureExtractor
from fid.inception_net import INPUT_RESOLUTION
from fid.statistics import FeatureStatistics

MAX_IMAGES = 50_000
DEFAULT_CACHE_DIR = Path("cache") / "fid"


def open_collection(path: str | os.PathLike, check: str = "full"):
    """Load a dataset collection (``dataformat``; ``check`` as its load_collection), errors turned into FIDError."""
    try:
        collection = load_collection(path, check=check)
    except CollectionError as exc:
        raise FIDError(f"cannot read dataset {path}: {exc}") from None
    if not collection.records:
        raise FIDError(f"dataset {path} has no usable records ({collection.report.summary()})")
    return collection


def select_records(records: Sequence, filter_class: str | None) -> list:
    """Records of class ``filter_class`` (a class name or index), or all of them when None."""
    if filter_class is None:
        return list(records)
    chosen = [r for r in records if r.class_name == filter_class or str(r.class_index) == str(filter_class)]
    if not chosen:
        names = sorted({r.class_name for r in records})
        raise FIDError(f"no records of class {filter_class!r} in the dataset; its classes are {', '.join(names)}")
    return chosen


def masked_crop(record, resolution: int = INPUT_RESOLUTION, padding: float = CROP_PADDING) -> np.ndarray:
    """One record's protocol crop: (3, resolution, resolution) float32 in [0, 1], background mid-grey."""
    try:
        sample = crop_and_resize(record, resolution, padding)
    except (DataFileError, ValueError) as exc:
        raise FIDError(f"cannot crop record {record.id!r}: {str(exc).splitlines()[0]}; fix or remove it") from None
    rgb = sample.image.astype(np.float32) / 255.0
    return np.ascontiguousarray(composite_on_grey(rgb, sample.mask).transpose(2, 0, 1))


def crop_batches(records: Sequence, batch_size: int, resolution: int = INPUT_RESOLUTION) -> Iterator[torch.Tensor]:
    """(B, 3, resolution, resolution) float32 [0, 1] batches of protocol crops, in record order."""
    for chunk in batched(records, batch_size):
        yield torch.from_numpy(np.stack([masked_crop(r, resolution) for r in chunk]))


@dataclasses.dataclass(frozen=True)
class RealStatsOptions:
    """Everything besides the collection that changes the real statistics."""

    filter_class: str | None = None
    max_images: int = MAX_IMAGES
    resolution: int = INPUT_RESOLUTION
    padding: float = CROP_PADDING


def _file_digest(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest() if path.is_file() else "-"


def cache_key(collection_root: str | os.PathLike, options: RealStatsOptions, network: str) -> str:
    """16 hex digits identifying (collection index + metadata, options, network)."""
    root = Path(collection_root).resolve()
    content = {
        "root": str(root),
        "files": {name: _file_digest(root / name) for name in (COLLECTION_FILE, *INDEX_FILES)},
        "options": dataclasses.asdict(options),
        "network": network,
    }
    return hashlib.sha1(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


def cache_path(collection_root: str | os.PathLike, options: RealStatsOptions, network: str,
               cache_dir: str | os.PathLike = DEFAULT_CACHE_DIR) -> Path:
    """Where the cached statistics of this collection + options + network live."""
    name = Path(collection_root).resolve().name
    label = f"-{options.filter_class}" if options.filter_class is not None else ""
    return Path(cache_dir) / f"{name}{label}-{cache_key(collection_root, options, network)}_fid_299x299.npz"


def compute_real_statistics(records: Sequence, extractor: FeatureExtractor, options: RealStatsOptions,
                            batch_size: int = 16, progress: bool = False) -> FeatureStatistics:
    """Statistics of the protocol crops of ``records`` (the first ``options.max_images`` of them)."""
    records = list(records)[: options.max_images]
    if len(records) < 2:
        raise FIDError(f"FID needs at least 2 real images, the dataset selection has {len(records)}")
    features = extract_features(extractor, crop_batches(records, batch_size, options.resolution), total=len(records),
                                progress=progress, desc="Inception real")
    return FeatureStatistics.from_features(features, options.resolution, extractor.name)


@dataclasses.dataclass
class RealStatistics:
    """Statistics of a dataset's real set. path: the cache file; cached: True when read from it, not computed."""

    statistics: FeatureStatistics
    path: Path
    cached: bool


def real_statistics(dataset: str | os.PathLike, extractor: FeatureExtractor,
                    options: RealStatsOptions = RealStatsOptions(), cache_dir: str | os.PathLike = DEFAULT_CACHE_DIR,
                    batch_size: int = 16, progress: bool = False, recompute: bool = False,
                    records: Sequence | None = None) -> RealStatistics:
    """The real statistics of a collection folder: read from the cache, or computed and written there.

    records: the collection's records already selected for ``options.filter_class`` (loaded here when None).
    """
    path = cache_path(dataset, options, extractor.name, cache_dir)
    if path.is_file() and not recompute:
        return RealStatistics(FeatureStatistics.load(path), path, cached=True)
    if records is None:
        records = select_records(open_collection(dataset).records, options.filter_class)
    stats = compute_real_statistics(records, extractor, options, batch_size, progress)
    stats.save(path)
    return RealStatistics(stats, path, cached=False)
