"""Reading images for Inception: folders of image files, the protocol's masking, batching.

The FID protocol (§7) shows Inception 299² images whose background is mid-grey: RGB multiplied by the object mask in
[-1, 1], i.e. ``0.5 + (rgb - 0.5) * mask`` in [0, 1]. Images with an alpha channel get the same treatment with alpha as
the mask, so renders saved as RGBA and real crops compare on equal terms.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from fid.errors import FIDError
from fid.inception_net import INPUT_RESOLUTION

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files under ``folder`` (recursively, sorted). FIDError when the folder is missing or holds none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FIDError(f"image folder {folder} does not exist or is not a folder")
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not paths:
        raise FIDError(f"image folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)}); "
                       "point it at a folder of image files")
    return paths


def composite_on_grey(rgb: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """The protocol's masking: rgb (H, W, 3) float32 in [0, 1], mask (H, W) in [0, 1] or None ->
    (H, W, 3) float32 in [0, 1] with the background mid-grey (0.5)."""
    if mask is None:
        return rgb
    return 0.5 + (rgb - 0.5) * mask[..., None]


def resize_square(image: np.ndarray, resolution: int = INPUT_RESOLUTION) -> np.ndarray:
    """Resize (H, W, C) float32 in [0, 1] to (resolution, resolution, C) with PIL's bicubic filter (antialiased)."""
    if image.shape[:2] == (resolution, resolution):
        return image
    channels = [Image.fromarray(image[..., c].astype(np.float32), mode="F").resize(
        (resolution, resolution), Image.Resampling.BICUBIC) for c in range(image.shape[2])]
    return np.clip(np.stack([np.asarray(c) for c in channels], axis=-1), 0.0, 1.0)


def load_image(path: str | os.PathLike, resolution: int = INPUT_RESOLUTION) -> np.ndarray:
    """One image file -> (3, resolution, resolution) float32 in [0, 1]; alpha (if any) composited on mid-grey.

    FIDError names the file when it cannot be decoded.
    """
    path = Path(path)
    try:
        with Image.open(path) as img:
            img.load()
            has_alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
            array = np.asarray(img.convert("RGBA" if has_alpha else "RGB"), dtype=np.float32) / 255.0
    except Exception as exc:
        raise FIDError(f"cannot read image {path}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}; "
                       "remove or replace the file") from None
    rgb = composite_on_grey(array[..., :3], array[..., 3] if has_alpha else None)
    return np.ascontiguousarray(resize_square(rgb, resolution).transpose(2, 0, 1))


def batched(items: Sequence, batch_size: int) -> Iterator[Sequence]:
    """Consecutive slices of at most ``batch_size`` items."""
    if batch_size < 1:
        raise FIDError(f"batch size must be at least 1, got {batch_size}")
    for start in range(0, len(items), batch_size):
        yield items[start:start + batch_size]


def image_file_batches(paths: Sequence[Path], batch_size: int,
                       resolution: int = INPUT_RESOLUTION) -> Iterator[torch.Tensor]:
    """Batches (B, 3, resolution, resolution) float32 in [0, 1] of the given image files, in order."""
    for chunk in batched(paths, batch_size):
        yield torch.from_numpy(np.stack([load_image(p, resolution) for p in chunk]))


def to_batches(images: Iterable[np.ndarray], batch_size: int) -> Iterator[torch.Tensor]:
    """Group (3, H, W) float32 [0, 1] arrays into (B, 3, H, W) tensors."""
    chunk: list[np.ndarray] = []
    for image in images:
        chunk.append(image)
        if len(chunk) == batch_size:
            yield torch.from_numpy(np.stack(chunk))
            chunk = []
    if chunk:
        yield torch.from_numpy(np.stack(chunk))
