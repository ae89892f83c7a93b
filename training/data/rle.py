"""COCO run-length encoding (the ``mask`` fields of the original's ``detections.npy``), without pycocotools.

A COCO RLE is ``{"size": [H, W], "counts": ...}``: alternating runs of 0s and 1s (starting with 0s) over the mask
in column-major order. ``counts`` is either a list of ints (uncompressed) or pycocotools' compressed string
(bytes or str): each count as a signed LEB128-like sequence of 5-bit groups offset by 48 (``'0'``), counts after
the second stored as the difference to the count two places earlier.
"""
from __future__ import annotations

from typing import Any

import numpy as np


class RLEError(ValueError):
    """A malformed RLE (one line)."""


def _counts_from_string(text: bytes) -> list[int]:
    counts: list[int] = []
    p = 0
    while p < len(text) and text[p] != 0:
        x, k, more = 0, 0, True
        while more:
            if p >= len(text):
                raise RLEError("compressed counts end inside a number")
            c = text[p] - 48
            if not 0 <= c < 64:
                raise RLEError(f"byte {text[p]!r} at {p} is not an RLE character")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def _counts_to_string(counts: list[int]) -> bytes:
    out = bytearray()
    for i, value in enumerate(counts):
        x = int(value) - (int(counts[i - 2]) if i > 2 else 0)
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = x != -1 if c & 0x10 else x != 0
            if more:
                c |= 0x20
            out.append(c + 48)
    return bytes(out)


def decode(rle: Any) -> np.ndarray:
    """(H, W) bool mask of a COCO RLE dict (compressed or uncompressed counts). Raises RLEError."""
    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise RLEError(f"not a COCO RLE dict (got {type(rle).__name__} with keys "
                       f"{sorted(rle) if isinstance(rle, dict) else '-'})")
    try:
        h, w = (int(v) for v in rle["size"])
    except (TypeError, ValueError):
        raise RLEError(f"RLE size must be [H, W], got {rle['size']!r}") from None
    counts = rle["counts"]
    if isinstance(counts, str):
        counts = counts.encode("ascii", "replace")
    if isinstance(counts, (bytes, bytearray)):
        counts = _counts_from_string(bytes(counts))
    else:
        try:
            counts = [int(v) for v in counts]
        except (TypeError, ValueError):
            raise RLEError("RLE counts must be a string or a list of integers") from None
    if any(c < 0 for c in counts):
        raise RLEError("RLE holds a negative run")
    if sum(counts) != h * w:
        raise RLEError(f"RLE runs cover {sum(counts)} pixels, the size {h}x{w} has {h * w}")
    values = np.zeros(len(counts), np.uint8)
    values[1::2] = 1
    flat = np.repeat(values, counts)
    return flat.reshape(w, h).T.astype(bool)


def encode(mask: np.ndarray, compressed: bool = True) -> dict:
    """COCO RLE of an (H, W) mask: ``{"size": [H, W], "counts": bytes}`` (or a list of ints)."""
    mask = np.asarray(mask, bool)
    h, w = mask.shape
    flat = mask.T.reshape(-1).astype(np.int8)
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat.size and flat[0] == 1:
        runs = [0] + runs
    if not flat.size:
        runs = []
    return {"size": [h, w], "counts": _counts_to_string(runs) if compressed else runs}
