"""A contact sheet of records for eyeballing a collection: each record's square crop, its mask and its part map."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from dataformat.preprocess import crop_and_resize
from dataformat.record import Record

#: Colours of part ids 0..11 (0 = background, black); ids beyond wrap around.
PART_COLOURS = np.array([
    (0, 0, 0), (200, 60, 60), (60, 60, 60), (70, 140, 230), (250, 240, 120), (240, 120, 40), (150, 90, 200),
    (80, 200, 120), (230, 120, 190), (120, 200, 220), (180, 180, 80), (255, 255, 255)], np.uint8)


def contact_sheet(records: Sequence[Record], path: str | os.PathLike, tile: int = 128, per_row: int = 8,
                  padding: float = 0.05) -> Path:
    """Write a PNG grid: for every record a column of three tiles (crop, crop with the mask tinted red,
    part map in colour or the mask in grey when the record has no parts).

    Records are cropped like training data (:func:`crop_and_resize`). Returns the written path.
    """
    if not records:
        raise ValueError("no records to draw")
    path = Path(path)
    rows = (len(records) + per_row - 1) // per_row
    sheet = np.full((rows * 3 * tile, min(per_row, len(records)) * tile, 3), 255, np.uint8)
    for k, record in enumerate(records):
        sample = crop_and_resize(record, tile, padding)
        mask = sample.mask[..., None]
        tinted = (sample.image * (1 - 0.5 * mask) + np.array([255, 0, 0]) * 0.5 * mask).astype(np.uint8)
        if sample.parts is not None:
            third = PART_COLOURS[sample.parts % len(PART_COLOURS)]
        else:
            third = np.repeat((mask * 255).astype(np.uint8), 3, axis=2)
        y, x = (k // per_row) * 3 * tile, (k % per_row) * tile
        for j, tile_image in enumerate((sample.image, tinted, third)):
            sheet[y + j * tile:y + (j + 1) * tile, x:x + tile] = tile_image
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).save(path)
    return path
