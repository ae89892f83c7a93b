"""Builders of small datasets in the exact upstream file formats (CMR .mat structs, CUB text files,
ImageNet folders)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image


def struct_array(rows: list[dict]) -> np.ndarray:
    """A MATLAB struct array (savemat writes a 1xN struct) with one field per key."""
    names = list(rows[0])
    out = np.zeros((len(rows),), dtype=[(n, object) for n in names])
    for i, row in enumerate(rows):
        for n in names:
            out[i][n] = row[n]
    return out


def cmr_bbox(x1: float, y1: float, x2: float, y2: float) -> np.ndarray:
    """CMR's bbox struct (1-based inclusive pixels)."""
    return np.array((x1, y1, x2, y2), dtype=[("x1", "f8"), ("y1", "f8"), ("x2", "f8"), ("y2", "f8")])


def write_cmr_data(path: Path, entries: list[dict]) -> None:
    """``data/<split>.mat``: variable ``images`` with rel_path, bbox, mask, parts (3 x K keypoints)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(str(path), {"images": struct_array(entries)})


def write_cmr_sfm(path: Path, poses: list[tuple[float, np.ndarray, np.ndarray]]) -> None:
    """``sfm/<split>.mat``: variable ``sfm_anno`` with scale, trans (2,), rot (3, 3)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [{"scale": float(s), "trans": np.asarray(t, float), "rot": np.asarray(r, float)} for s, t, r in poses]
    scipy.io.savemat(str(path), {"sfm_anno": struct_array(rows)})


def ellipse_mask(h: int, w: int, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w]
    return ((xs + 0.5 - cx) / rx) ** 2 + ((ys + 0.5 - cy) / ry) ** 2 <= 1


def write_image(path: Path, h: int, w: int, seed: int = 0, fmt: str | None = None) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format=fmt)
    return pixels


def write_corrupt_image(path: Path) -> None:
    """A JPEG cut short after its header: the header parses, the pixels do not."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_image(path, 40, 40, fmt="JPEG")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def random_rotation(seed: int) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.random(random_state=seed).as_matrix()
