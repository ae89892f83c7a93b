"""Instance filtering of §1.1: minimum mask size, truncation at image borders, collisions.

Defaults are the paper's (applied to every dataset except CUB, which keeps its single bird per image).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import report as reasons
from .record import mask_bbox


@dataclass(frozen=True)
class InstanceFilter:
    """Rules of §1.1; each can be disabled by setting it to 0 (or None for the collision rule).

    min_pixels: reject masks with fewer pixels (paper: 96 x 96 = 9216).
    border_margin: a box side within this many pixels of the image border is checked for truncation (10).
    border_pixels: ... and rejected when the dilated mask has at least this many pixels on that box side (50).
    dilation: side of the square structuring element used by both border and collision tests (5).
    collision_max_coverage: masks covering less than this fraction of the image are rejected when their dilated
        mask touches the dilated mask of any other instance of the same image (0.30); None disables the rule.
    """

    min_pixels: int = 96 * 96
    border_margin: int = 10
    border_pixels: int = 50
    dilation: int = 5
    collision_max_coverage: float | None = 0.30

    def _dilate(self, mask: np.ndarray) -> np.ndarray:
        if self.dilation <= 1:
            return mask
        from scipy import ndimage  # imported when used: the format layer's own imports are numpy and Pillow

        return ndimage.binary_dilation(mask, structure=np.ones((self.dilation, self.dilation), bool))

    def is_truncated(self, mask: np.ndarray) -> bool:
        """True if the box nears a border and the dilated mask fills that box side with >= border_pixels pixels."""
        if self.border_margin <= 0:
            return False
        h, w = mask.shape
        x1, y1, x2, y2 = (int(v) for v in mask_bbox(mask))
        dilated = self._dilate(mask)
        sides = [
            (x1 <= self.border_margin, dilated[y1:y2, x1]),
            (w - x2 <= self.border_margin, dilated[y1:y2, x2 - 1]),
            (y1 <= self.border_margin, dilated[y1, x1:x2]),
            (h - y2 <= self.border_margin, dilated[y2 - 1, x1:x2]),
        ]
        return any(near and int(line.sum()) >= self.border_pixels for near, line in sides)

    def collides(self, mask: np.ndarray, others: list[np.ndarray]) -> bool:
        if self.collision_max_coverage is None or not others:
            return False
        if mask.mean() >= self.collision_max_coverage:
            return False
        dilated = self._dilate(mask)
        return any((dilated & self._dilate(other)).any() for other in others)

    def reject_reason(self, mask: np.ndarray, others: list[np.ndarray] | None = None) -> str | None:
        """The reason (a ``dataformat.report`` constant) to reject ``mask``, or None to keep it.

        mask: (H, W) bool, the instance; others: masks of the other detected instances of the same image.
        """
        if not mask.any():
            return reasons.EMPTY_MASK
        if int(mask.sum()) < self.min_pixels:
            return reasons.TOO_SMALL
        if self.is_truncated(mask):
            return reasons.TRUNCATED
        if self.collides(mask, others or []):
            return reasons.COLLIDING
        return None


#: No filtering at all (still rejects empty masks).
NO_FILTER = InstanceFilter(min_pixels=0, border_margin=0, collision_max_coverage=None)
