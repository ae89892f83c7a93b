"""A ``torch.utils.data.Dataset`` over records, applying the paper's preprocessing on the fly."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from .preprocess import crop_and_resize
from .record import Record


class CollectionDataset(Dataset):
    """Square-cropped, resized samples of ``records`` (§5.1: 5% padding, white outside, resize).

    Each item is a dict:
        image: (3, N, N) float32 in [-1, 1];  mask: (1, N, N) float32 in [0, 1];
        parts: (N, N) int64 part ids (zeros when the record has none);  has_parts: bool tensor;
        q: (4,) float32, s: (1,), t: (2,) pose in the crop's frame (identity / zeros when absent);  has_pose: bool;
        class_index: int64 tensor;  id: str.
    """

    def __init__(self, records: Sequence[Record], resolution: int = 256, padding: float = 0.05):
        self.records = list(records)
        self.resolution = resolution
        self.padding = padding

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict:
        sample = crop_and_resize(self.records[index], self.resolution, self.padding)
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
            "id": self.records[index].id,
        }
