"""CMR-style cropping (§5.1, §10.1): a padded square box around the object, white outside the image, resize.

The pose (if any) is carried into the crop's normalised frame, so a crop and its pose stay consistent.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .record import Pose, Record

#: Padding of the square crop around the object's box, as a fraction of the box's width / height on each side
#: (CMR's 5%: the paper's preprocessing and the FID protocol, §5.1, §7).
CROP_PADDING = 0.05


@dataclass(frozen=True)
class SquareBox:
    """An integer square in continuous pixel coordinates: columns [x0, x0 + side), rows [y0, y0 + side)."""

    x0: int
    y0: int
    side: int


@dataclass
class Sample:
    """A preprocessed record.

    image: (N, N, 3) uint8 RGB; pixels outside the source image are white (255).
    mask: (N, N) float32 in [0, 1] (bilinear resize of the binary mask; 0 outside the image).
    parts: (N, N) uint8 part map (nearest-neighbour resize; 0 outside), or None.
    pose: the record's pose in the crop's normalised frame, or None.
    box: the square crop in source pixels.
    """

    record: Record
    image: np.ndarray
    mask: np.ndarray
    parts: np.ndarray | None
    pose: Pose | None
    box: SquareBox


def square_crop_box(bbox: tuple[float, float, float, float], padding: float = CROP_PADDING) -> SquareBox:
    """Pad the box by ``padding`` x its width / height on each side, then make it square around its centre.

    bbox: (x1, y1, x2, y2) continuous pixel coordinates (x2, y2 exclusive).
    """
    x1, y1, x2, y2 = (float(v) for v in bbox)
    w, h = x2 - x1, y2 - y1
    if not (w > 0 and h > 0):
        raise ValueError(f"box {bbox} has no area")
    x1, x2 = x1 - padding * w, x2 + padding * w
    y1, y2 = y1 - padding * h, y2 + padding * h
    side = int(math.ceil(max(x2 - x1, y2 - y1) - 1e-9))
    x0 = math.floor((x1 + x2) / 2 - side / 2 + 0.5)  # round half up (Python's round() is half-to-even)
    y0 = math.floor((y1 + y2) / 2 - side / 2 + 0.5)
    return SquareBox(x0, y0, side)


def _crop(array: np.ndarray, box: SquareBox, fill) -> np.ndarray:
    """Crop (H, W[, C]) to the box, filling outside pixels with ``fill``."""
    h, w = array.shape[:2]
    out = np.full((box.side, box.side, *array.shape[2:]), fill, dtype=array.dtype)
    sx0, sy0 = max(box.x0, 0), max(box.y0, 0)
    sx1, sy1 = min(box.x0 + box.side, w), min(box.y0 + box.side, h)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - box.y0:sy1 - box.y0, sx0 - box.x0:sx1 - box.x0] = array[sy0:sy1, sx0:sx1]
    return out


def pose_to_crop(pose: Pose, image_size: tuple[int, int], box: SquareBox) -> Pose:
    """Re-express a pose given for the full image (normalised by L = max(H, W)) in the square crop's frame."""
    h, w = image_size
    length = max(h, w)
    b = box.side
    tx = (length * pose.t[0] + w - 2 * box.x0 - b) / b
    ty = (length * pose.t[1] + h - 2 * box.y0 - b) / b
    return Pose(pose.q, pose.s * length / b, (tx, ty), pose.z0, pose.frame)


def crop_pose(record: Record, padding: float = CROP_PADDING) -> Pose:
    """The record's pose re-expressed in its square crop's normalised frame (the frame the generator is trained,
    evaluated and previewed in); the record must carry a pose. Same box as :func:`crop_and_resize`."""
    return pose_to_crop(record.pose, record.image_size, square_crop_box(record.bbox, padding))


def crop_and_resize(record: Record, resolution: int = 256, padding: float = CROP_PADDING) -> Sample:
    """Load a record and apply the paper's preprocessing: square crop with padding, resize to ``resolution``."""
    image = record.load_image()
    mask = record.load_mask()
    parts = record.load_parts()
    box = square_crop_box(record.bbox, padding)
    image_c = Image.fromarray(_crop(image, box, 255)).resize((resolution, resolution), Image.BILINEAR)
    mask_c = Image.fromarray(_crop(mask.astype(np.float32), box, 0.0), mode="F").resize(
        (resolution, resolution), Image.BILINEAR)
    parts_c = None
    if parts is not None:
        parts_c = np.asarray(Image.fromarray(_crop(parts.astype(np.uint8), box, 0)).resize(
            (resolution, resolution), Image.NEAREST))
    pose = pose_to_crop(record.pose, record.image_size, box) if record.pose is not None else None
    return Sample(record, np.asarray(image_c), np.clip(np.asarray(mask_c), 0.0, 1.0).astype(np.float32),
                  parts_c, pose, box)


def mirror_pose(pose: Pose) -> Pose:
    """The pose of the horizontally flipped image of a left-right symmetric object (§6.2):
    q = (w, x, y, z) -> (w, x, -y, -z), tx -> -tx (the rotation becomes F R F with F = diag(-1, 1, 1))."""
    w, x, y, z = pose.q
    return Pose((w, x, -y, -z), pose.s, (-pose.t[0], pose.t[1]), pose.z0, pose.frame)


def mirror_sample(sample: Sample) -> Sample:
    """Flip a square sample left-right (image, mask, parts) and mirror its pose; the box is unchanged."""
    flip = lambda a: None if a is None else np.ascontiguousarray(a[:, ::-1])  # noqa: E731
    pose = mirror_pose(sample.pose) if sample.pose is not None else None
    return Sample(sample.record, flip(sample.image), flip(sample.mask), flip(sample.parts), pose, sample.box)
