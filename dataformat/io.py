"""Reading and writing images, masks and label maps with Pillow; one error type for unreadable files."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError


class DataFileError(ValueError):
    """A data file is missing, unreadable or malformed. The message names the file and what to do."""


def _open(path: Path) -> Image.Image:
    try:
        image = Image.open(path)
        image.load()
        return image
    except FileNotFoundError as exc:
        raise DataFileError(f"{path}: file not found") from exc
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise DataFileError(f"{path}: not a readable image ({exc.__class__.__name__}: {exc})") from exc


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """(H, W, 3) uint8; grey, palette and RGBA images are converted (alpha dropped)."""
    return np.asarray(_open(Path(path)).convert("RGB"))


def read_label_map(path: str | os.PathLike) -> np.ndarray:
    """(H, W) integer array of a single-channel label image (L, P, I or I;16 PNG); RGB images use channel 0."""
    image = _open(Path(path))
    array = np.asarray(image)
    if array.ndim == 3:
        array = array[..., 0]
    return array


def read_mask(path: str | os.PathLike, value: int | None = None) -> np.ndarray:
    """(H, W) bool: pixels equal to ``value`` of a label map, or every non-zero pixel when ``value`` is None."""
    labels = read_label_map(path)
    return labels != 0 if value is None else labels == value


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(H, W) from the file header, without decoding pixels."""
    try:
        with Image.open(path) as image:
            return image.height, image.width
    except FileNotFoundError as exc:
        raise DataFileError(f"{path}: file not found") from exc
    except (UnidentifiedImageError, OSError) as exc:
        raise DataFileError(f"{path}: not a readable image ({exc})") from exc


def write_png_atomic(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write an (H, W) or (H, W, 3|4) uint8 array as PNG via a temporary file and a rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    Image.fromarray(np.ascontiguousarray(array)).save(tmp, format="PNG")
    os.replace(tmp, path)
