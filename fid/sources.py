"""What an FID comparison reads from a path: a dataset collection, a plain image folder, or a statistics file.

* A **collection** folder (it has ``collection.json`` or an index file, docs/datasets.md) is read through its index
  only: one protocol crop per record (fid.real: square crop with 5% padding, 299², RGB multiplied by the mask, so the
  background is mid-grey), exactly the real set of ``fid.evaluate stats`` and of an evaluation. Its masks, part
  maps and any stray image files are never read as images.
* A plain **folder** is every image file under it, recursively (fid.images: alpha composited on mid-grey).
* A ``.npz`` **statistics** file is read as is (fid.statistics).
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from dataformat import COLLECTION_FILE, is_collection
from fid.errors import FIDError
from fid.features import folder_statistics
from fid.images import list_images
from fid.inception import FeatureExtractor
from fid.real import (DEFAULT_CACHE_DIR, MAX_IMAGES, RealStatsOptions, compute_real_statistics, open_collection,
                      real_statistics)
from fid.statistics import FeatureStatistics


@dataclasses.dataclass
class Source:
    """One side of a comparison, inspected (and found usable) but not yet read by Inception.

    kind: "collection", "folder" or "statistics". num_images: how many images its statistics summarise (a
    collection: its usable records, at most 50,000). unread_images: image files under a collection folder that are
    not its records' images (masks, part maps, strays); 0 for the other kinds. name: the collection's name.
    records: a collection's records, in index order (empty otherwise); max_images: the limit they were cut to.
    """

    path: Path
    kind: str
    num_images: int
    unread_images: int = 0
    name: str = ""
    records: list = dataclasses.field(default_factory=list, repr=False)
    max_images: int = MAX_IMAGES
    statistics: FeatureStatistics | None = dataclasses.field(default=None, repr=False)

    def describe(self) -> str:
        """One line saying how this source is read, e.g. for the CLI's output."""
        if self.kind == "collection":
            unread = (f"; {self.unread_images} other image files under it (masks, part maps, strays) not read"
                      if self.unread_images else "")
            return (f"{self.path}: collection {self.name!r} read through its index: {self.num_images} images as "
                    f"masked crops on mid-grey (the protocol of `fid.evaluate stats`){unread}")
        if self.kind == "folder":
            return f"{self.path}: image folder: {self.num_images} image files (alpha composited on mid-grey)"
        return f"{self.path}: statistics file of {self.num_images} images"


def is_collection_folder(path: str | os.PathLike) -> bool:
    """True when ``path`` is meant as a collection: it has ``collection.json`` or an index file (one without an
    index is then an error when opened, never silently read as a folder of images)."""
    path = Path(path)
    return path.is_dir() and (is_collection(path) or (path / COLLECTION_FILE).is_file())


def inspect_source(path: str | os.PathLike, max_images: int = MAX_IMAGES) -> Source:
    """Decide how ``path`` is read and check that it can be (FIDError with a one-line message otherwise).

    A collection is opened with header checks (every record's files exist and have matching sizes); a folder's
    image files are listed; a statistics file is loaded.
    """
    path = Path(path)
    if path.suffix == ".npz" and not path.is_dir():
        stats = FeatureStatistics.load(path)
        return Source(path, "statistics", stats.num_images, statistics=stats)
    if is_collection_folder(path):
        collection = open_collection(path, check="header")
        records = collection.records[:max_images]
        if len(records) < 2:
            raise FIDError(f"collection {path} has {len(records)} usable record; FID needs at least 2")
        own = {Path(r.image_path).resolve() for r in collection.records if r.image_path is not None}
        others = sum(1 for p in _image_files(path) if p.resolve() not in own)
        return Source(path, "collection", len(records), unread_images=others,
                      name=str(collection.meta.get("name") or path.name), records=records, max_images=max_images)
    return Source(path, "folder", len(list_images(path)))


def _image_files(folder: Path) -> list[Path]:
    try:
        return list_images(folder)
    except FIDError:  # a collection may keep its images elsewhere; then nothing under it goes unread
        return []


def source_statistics(source: Source, extractor: FeatureExtractor, batch_size: int = 16, progress: bool = False,
                      cache_dir: str | os.PathLike | None = DEFAULT_CACHE_DIR) -> FeatureStatistics:
    """The Inception statistics of an inspected source.

    A collection's come from the real-statistics cache in ``cache_dir`` (computed and written there when missing,
    shared with ``fid.evaluate stats`` and evaluations); ``cache_dir`` None computes them without any cache.
    A statistics file made by another network is refused.
    """
    if source.kind == "statistics":
        stats = source.statistics if source.statistics is not None else FeatureStatistics.load(source.path)
        if stats.feature_extractor and stats.feature_extractor != extractor.name:
            raise FIDError(f"{source.path} was computed with {stats.feature_extractor}, not {extractor.name}; "
                           "pass the matching --inception or recompute it")
        return stats
    if source.kind == "collection":
        options = RealStatsOptions(max_images=source.max_images)  # the defaults share `fid.evaluate stats`' cache
        if cache_dir is None:
            return compute_real_statistics(source.records, extractor, options, batch_size, progress)
        return real_statistics(source.path, extractor, options, cache_dir, batch_size, progress,
                               records=source.records).statistics
    return folder_statistics(source.path, extractor, batch_size, progress)
