"""The one record type every loader produces, and the pose it may carry.

Pixel conventions used throughout ``dataformat``:

* Continuous pixel coordinates: pixel (row j, column i) covers [i, i + 1) x [j, j + 1), so its centre is
  (i + 0.5, j + 0.5); x to the right, y down, origin at the image's top-left corner.
* Boxes are (x1, y1, x2, y2) in continuous pixel coordinates, x2/y2 exclusive: a mask's box is
  (min column, min row, max column + 1, max row + 1).
* Normalised image coordinates (the pose convention, §6.2): with L = max(W, H),
  x_n = (2 x - W) / L and y_n = (2 y - H) / L. For a square image this is exactly the [-1, 1] frame
  of the renderer (x right, y down); for other shapes it is the same isotropic frame centred on the
  image, spanning [-1, 1] along the longer side.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Pose:
    """A scaled-orthographic pose (§6.2) in the project convention.

    q: (4,) float64 unit quaternion (w, x, y, z), w >= 0.
    s: scale (> 0).
    t: (2,) float64 translation (tx, ty) in normalised image coordinates.
    z0: perspective parameter of textured-3d-gan, or None for pure scaled orthographic.
    frame: which 3D frame the rotation maps from: "object" (the project's object frame, x lateral,
        y front-back with front = -y, z up) or "cmr_sfm" (CMR's SfM mean-shape frame, as read from CMR files).

    Object -> camera: v_c = rotate_q(s * v) + (tx, ty, 0) in CMR's camera frame (x right, y down, z away).
    """

    q: tuple[float, float, float, float]
    s: float
    t: tuple[float, float]
    z0: float | None = None
    frame: str = "object"

    @staticmethod
    def from_matrix(rotation: np.ndarray, s: float, t, z0: float | None = None, frame: str = "object") -> "Pose":
        from scipy.spatial.transform import Rotation

        x, y, z, w = Rotation.from_matrix(np.asarray(rotation, np.float64)).as_quat()
        q = np.array([w, x, y, z])
        q = q if q[0] >= 0 else -q
        return Pose(tuple(float(v) for v in q), float(s), (float(t[0]), float(t[1])), z0, frame)

    @property
    def rotation(self) -> np.ndarray:
        """(3, 3) float64 rotation matrix of ``q``."""
        from scipy.spatial.transform import Rotation

        w, x, y, z = self.q
        return Rotation.from_quat([x, y, z, w]).as_matrix()

    def project(self, vertices: np.ndarray) -> np.ndarray:
        """Camera-frame coordinates of object-frame points: (N, 3) -> (N, 3) float64 (x, y normalised, y down)."""
        v = np.asarray(vertices, np.float64) @ self.rotation.T * self.s
        v[:, :2] += self.t
        return v

    def to_json(self) -> dict:
        out = {"q": list(self.q), "s": self.s, "t": list(self.t), "frame": self.frame}
        if self.z0 is not None:
            out["z0"] = self.z0
        return out

    @staticmethod
    def from_json(d: dict) -> "Pose":
        q = np.asarray(d["q"], np.float64)
        if q.shape != (4,) or not np.isfinite(q).all() or abs(np.linalg.norm(q) - 1) > 1e-3:
            raise ValueError(f"pose quaternion must be 4 finite numbers of unit norm, got {d['q']!r}")
        t = np.asarray(d["t"], np.float64)
        if t.shape != (2,):
            raise ValueError(f"pose translation must be 2 numbers, got {d['t']!r}")
        s = float(d["s"])
        if not s > 0:
            raise ValueError(f"pose scale must be positive, got {s}")
        z0 = d.get("z0")
        if abs(np.linalg.norm(q) - 1) > 1e-9:  # keep exact values of stored unit quaternions
            q = q / np.linalg.norm(q)
        return Pose(tuple(float(v) for v in q), s, (float(t[0]), float(t[1])),
                    None if z0 is None else float(z0), str(d.get("frame", "object")))


@dataclass
class Record:
    """One object instance in one image.

    id: unique within its collection.
    image_path: the RGB image file (any format Pillow reads; grey images are expanded to RGB), or None when
        ``image_array`` holds the pixels.
    image_size: (H, W) of the image in pixels.
    bbox: (x1, y1, x2, y2) float, continuous pixel coordinates (x2, y2 exclusive).
    class_index: category index (§10.3: 0 motorcycle ... 3 car, 4 airplane, 5 bird ... 12 giraffe), or the
        collection's own index when it defines its own classes.
    class_name: the category's name.
    source: where the record came from ("folder", "cub", "p3d", "imagenet", "synth", ...).
    mask_path / mask_value: the mask file (PNG, same size as the image) and, for label maps holding several
        instances, the label of this instance (None = every non-zero pixel).
    mask_array: an in-memory (H, W) bool mask instead of a file (CMR .mat annotations carry masks inline).
    image_array: optional in-memory (H, W, 3) uint8 image instead of a file.
    parts_path: optional part map (H, W) uint8 PNG, value k = part k of the collection's ``part_names``
        (0 = background).
    pose: optional :class:`Pose` with respect to this image (see the module docstring for the normalisation).
    extra: free-form JSON-able metadata (for example the CUB species, the synthetic car's body type,
        the path of its true mesh).
    """

    id: str
    image_path: Path | None
    image_size: tuple[int, int]
    bbox: tuple[float, float, float, float]
    class_index: int
    class_name: str
    source: str
    mask_path: Path | None = None
    mask_value: int | None = None
    mask_array: np.ndarray | None = field(default=None, repr=False)
    image_array: np.ndarray | None = field(default=None, repr=False)
    parts_path: Path | None = None
    pose: Pose | None = None
    extra: dict = field(default_factory=dict)

    def load_image(self) -> np.ndarray:
        """(H, W, 3) uint8 RGB."""
        if self.image_array is not None:
            return np.asarray(self.image_array, np.uint8)
        if self.image_path is None:
            raise ValueError(f"record {self.id!r} has no image")
        from .io import read_rgb

        return read_rgb(self.image_path)

    def load_mask(self) -> np.ndarray:
        """(H, W) bool instance mask."""
        if self.mask_array is not None:
            return np.asarray(self.mask_array, bool)
        if self.mask_path is None:
            raise ValueError(f"record {self.id!r} has no mask")
        from .io import read_mask

        return read_mask(self.mask_path, self.mask_value)

    def load_parts(self) -> np.ndarray | None:
        """(H, W) uint8 part map, or None when the record has none."""
        if self.parts_path is None:
            return None
        from .io import read_label_map

        return read_label_map(self.parts_path)


def mask_bbox(mask: np.ndarray) -> tuple[float, float, float, float]:
    """Box (x1, y1, x2, y2) of the non-zero pixels of an (H, W) mask, x2/y2 exclusive. Raises on an empty mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        raise ValueError("empty mask")
    return (float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1))
