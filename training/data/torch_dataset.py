"""A ``torch.utils.data.Dataset`` over records, applying the paper's preprocessing on the fly."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from dataformat.preprocess import crop_and_resize, mirror_sample
from dataformat.record import Record


class CollectionDataset(Dataset):
    """Square-cropped, resized samples of ``records`` (§5.1: 5% padding, white outside, resize).

    mirror_probability: chance of flipping a sample left-right with its pose mirrored (§6.2; valid for the
    left-right symmetric categories of the paper); drawn from torch's RNG, so ``torch.manual_seed`` and the
    DataLoader's per-worker seeds make it reproducible. ``mirrored`` in the item says whether it was flipped.

    Each item is a dict:
        image: (3, N, N) float32 in [-1, 1];  mask: (1, N, N) float32 in [0, 1];
        parts: (N, N) int64 part ids (zeros when the record has none);  has_parts: bool tensor;
        q: (4,) float32, s: (1,), t: (2,) pose in the crop's frame (identity / zeros when absent);  has_pose: bool;
        class_index: int64 tensor;  id: str.
    """

    def __init__(self, records: Sequence[Record], resolution: int = 256, padding: float = 0.05,
                 mirror_probability: float = 0.0):
        if not 0.0 <= mirror_probability <= 1.0:
            raise ValueError(f"mirror_probability must be in [0, 1], got {mirror_probability}")
        self.records = list(records)
        self.resolution = resolution
        self.padding = padding
        self.mirror_probability = mirror_probability

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict:
        sample = crop_and_resize(self.records[index], self.resolution, self.padding)
        mirrored = self.mirror_probability > 0 and bool(torch.rand(()) < self.mirror_probability)
        if mirrored:
            sample = mirror_sample(sample)
        n = self.resolution
        image = torch.from_numpy(np.array(sample.image)).permute(2, 0, 1).float() / 127.5 - 1.0
        parts = (torch.from_numpy(sample.parts.astype(np.int64)) if sample.parts is not None
                 else torch.zeros(n, n, dtype=torch.int64))
        pose = sample.pose
        return {
            "image": image,
            "mask": torch.from_numpy(np.array(sample.mask))[None],
            "parts": parts,
            "has_parts": torch.tensor(sample.parts is not None),
            "q": torch.tensor(pose.q if pose else (1.0, 0.0, 0.0, 0.0), dtype=torch.float32),
            "s": torch.tensor([pose.s if pose else 1.0], dtype=torch.float32),
            "t": torch.tensor(pose.t if pose else (0.0, 0.0), dtype=torch.float32),
            "has_pose": torch.tensor(pose is not None),
            "class_index": torch.tensor(self.records[index].class_index, dtype=torch.int64),
            "mirrored": torch.tensor(mirrored),
            "id": self.records[index].id,
        }
