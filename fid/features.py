"""Running Inception over batches of images, and the statistics of an image folder."""
from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np
import torch
from tqdm import tqdm

from fid.errors import FIDError
from fid.images import image_file_batches, list_images
from fid.inception import FeatureExtractor
from fid.inception_net import FEATURE_DIM, INPUT_RESOLUTION
from fid.statistics import FeatureStatistics


def extract_features(extractor: FeatureExtractor, batches: Iterable[torch.Tensor], total: int | None = None,
                     progress: bool = False, desc: str = "Inception") -> np.ndarray:
    """Features of every image: batches of (B, 3, H, W) float32 in [0, 1] -> (N, 2048) float32.

    ``total`` (number of images) only sizes the progress bar, shown on stderr when ``progress`` is true.
    """
    chunks: list[np.ndarray] = []
    with tqdm(total=total, desc=desc, unit="img", disable=not progress, leave=False) as bar:
        for batch in batches:
            chunks.append(extractor(batch).cpu().numpy())
            bar.update(batch.shape[0])
    if not chunks:
        return np.zeros((0, FEATURE_DIM), np.float32)
    return np.concatenate(chunks).astype(np.float32)


def folder_features(folder: str | os.PathLike, extractor: FeatureExtractor, batch_size: int = 16,
                    progress: bool = False) -> np.ndarray:
    """Features (N, 2048) float32 of every image file in ``folder`` (see fid.images for masking and resizing)."""
    paths = list_images(folder)
    return extract_features(extractor, image_file_batches(paths, batch_size, INPUT_RESOLUTION), total=len(paths),
                            progress=progress, desc=f"Inception {os.path.basename(os.fspath(folder)) or folder}")


def folder_statistics(folder: str | os.PathLike, extractor: FeatureExtractor, batch_size: int = 16,
                      progress: bool = False) -> FeatureStatistics:
    """FeatureStatistics of an image folder (at least 2 images)."""
    features = folder_features(folder, extractor, batch_size, progress)
    if features.shape[0] < 2:
        raise FIDError(f"image folder {folder} holds {features.shape[0]} image; FID needs at least 2")
    return FeatureStatistics.from_features(features, INPUT_RESOLUTION, extractor.name)
