"""Preview images of a reconstruction run: what the network sees, what it renders, its maps."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from dataformat.io import write_png_atomic

#: Colours of part channels 0..11 (then repeating).
PART_COLOURS = np.array([[200, 200, 200], [40, 40, 40], [90, 170, 230], [250, 230, 80], [230, 60, 60],
                         [150, 100, 220], [60, 200, 120], [240, 150, 40], [120, 80, 40], [255, 120, 200],
                         [0, 130, 130], [130, 130, 0]], np.uint8)


def to_uint8(image: Tensor, size: int) -> np.ndarray:
    """(C, H, W) float in [-1, 1] (C = 3) or [0, 1] (C = 1) -> (size, size, 3) uint8."""
    x = image[None].float()
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)[0]
    x = (x + 1) / 2 if x.shape[0] == 3 else x.expand(3, -1, -1)
    return (x.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()


def parts_to_uint8(parts: Tensor, size: int) -> np.ndarray:
    """(P, H, W) distribution -> (size, size, 3) uint8, each pixel coloured by its most likely channel and
    darkened where the distribution is empty (outside the render)."""
    x = F.interpolate(parts[None].float(), size=(size, size), mode="nearest")[0]
    colours = PART_COLOURS[(x.argmax(0).cpu().numpy()) % len(PART_COLOURS)]
    weight = x.sum(0).clamp(0, 1).cpu().numpy()[..., None]
    return (colours * weight).astype(np.uint8)


def overlay(silhouette: Tensor, mask: Tensor, size: int) -> np.ndarray:
    """Soft silhouette in green over the target mask in red: (1, H, W) each -> (size, size, 3) uint8."""
    s = to_uint8(silhouette, size)[..., 0]
    m = to_uint8(mask, size)[..., 0]
    return np.stack([m, s, np.zeros_like(s)], axis=-1)


def grid(rows: list[list[np.ndarray]]) -> np.ndarray:
    """Tile equally sized (S, S, 3) uint8 cells row by row (rows may differ in length; gaps are black)."""
    size = rows[0][0].shape[0]
    width = max(len(r) for r in rows)
    out = np.zeros((len(rows) * size, width * size, 3), np.uint8)
    for i, row in enumerate(rows):
        for j, cell in enumerate(row):
            out[i * size:(i + 1) * size, j * size:(j + 1) * size] = cell
    return out


def save_training_preview(path: str | os.PathLike, batch: dict, prediction, count: int = 8,
                          size: int = 128) -> Path:
    """One row per image: masked input | render under its pose | silhouette (green) vs mask (red) |
    predicted texture | predicted part map (when present)."""
    rendered, output = prediction.rendered, prediction.output
    rows = []
    with torch.no_grad():
        for k in range(min(count, rendered.rgb.shape[0])):
            row = [to_uint8(batch["image"][k] * batch["mask"][k], size),
                   to_uint8(rendered.rgb[k], size),
                   overlay(rendered.silhouette[k], batch["mask"][k], size),
                   to_uint8(output.texture[k], size)]
            if output.parts is not None:
                row.append(parts_to_uint8(output.parts[k], size))
            rows.append(row)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_png_atomic(path, grid(rows))
    return path
