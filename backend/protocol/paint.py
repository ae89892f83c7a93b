"""Paint colour: the body colour of a generated car, colour distances, and the candidate seeds the server tries
(numpy only; shared by the server, which picks candidates, and by clients and tests, which can check the result).

A ``generate`` request with ``paint_color`` asks for cars of that colour: for mesh j the server tries candidates
``candidate_seed(seed + j, i)`` for i = 0, 1, 2 … (i = 0 is the mesh's own seed) in blocks of ``PAINT_BLOCK``,
and keeps, from the first block that has any candidate within ``paint_tolerance``, the nearest one. The reply's
``seed`` is the kept candidate's seed, so the same request (same seed, colour, tolerance) gives the same cars, and
the car alone comes back from ``count = 1, seed = <its seed>`` without any paint fields.

The **body colour** is the alpha-weighted mean colour of the texture over the car's side: each face of the mesh
weighs by how far it lies on the side (|x| in the outer 40 % of the half-width), at door height (20–60 % of the
height) and away from the ends (|y| within 70 % of the half-length), sampled at the face's UV centre; the mean is
taken in linear light and returned as sRGB in [0, 1]. Distances are CIE76 ΔE in CIELAB (D65): about 2.3 is a
just noticeable difference, 10–20 "the same colour name", 50+ another colour.
"""
from __future__ import annotations

import numpy as np

from .constants import MAX_PAINT_TOLERANCE, MAX_PAINT_TRIES, MIN_PAINT_TOLERANCE

#: Candidates tried per round for each mesh; the nearest within the tolerance in the first round that has one wins.
PAINT_BLOCK = 8
_MASK_31 = (1 << 31) - 1   # seeds fit a 32-bit signed integer (Blender properties)


class PaintError(ValueError):
    """A paint request that cannot be right (one line, says what to change)."""


def candidate_seed(seed: int, i: int) -> int:
    """The seed of candidate ``i`` for a mesh whose own seed is ``seed`` (candidate 0 is the seed itself; the others
    are a SplitMix64 hash of both, below 2³¹ so that any client can store them)."""
    if i == 0:
        return int(seed)
    z = (int(seed) * 0x9E3779B97F4A7C15 + int(i) * 0xBF58476D1CE4E5B9 + 0x94D049BB133111EB) & ((1 << 64) - 1)
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & ((1 << 64) - 1)
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & ((1 << 64) - 1)
    return (z ^ (z >> 31)) & _MASK_31


def check_paint(color, tolerance, tries) -> tuple[tuple[float, float, float], float, int]:
    """(color, tolerance, tries) checked; raises :class:`PaintError`. color: 3 sRGB values in [0, 1]; tolerance:
    ΔE in [MIN_PAINT_TOLERANCE, MAX_PAINT_TOLERANCE]; tries: candidates per mesh in [1, MAX_PAINT_TRIES]."""
    try:
        rgb = tuple(float(c) for c in color)
    except (TypeError, ValueError):
        raise PaintError(f"'paint_color' must be 3 numbers (sRGB, 0-1), got {color!r}") from None
    if len(rgb) != 3 or not all(np.isfinite(rgb)) or not all(0.0 <= c <= 1.0 for c in rgb):
        raise PaintError(f"'paint_color' must be 3 numbers in [0, 1] (sRGB), got {list(color)!r}")
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not np.isfinite(tolerance) \
            or not MIN_PAINT_TOLERANCE <= tolerance <= MAX_PAINT_TOLERANCE:
        raise PaintError(f"'paint_tolerance' must be a colour distance (ΔE) in [{MIN_PAINT_TOLERANCE:g}, "
                         f"{MAX_PAINT_TOLERANCE:g}], got {tolerance!r}")
    if isinstance(tries, bool) or not isinstance(tries, int) or not 1 <= tries <= MAX_PAINT_TRIES:
        raise PaintError(f"'paint_tries' must be an integer in [1, {MAX_PAINT_TRIES}], got {tries!r}")
    return rgb, float(tolerance), tries


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    c = np.asarray(c, dtype=np.float64)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(c: np.ndarray) -> np.ndarray:
    c = np.clip(np.asarray(c, dtype=np.float64), 0.0, 1.0)
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * c ** (1 / 2.4) - 0.055)


_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750],
                 [0.0193339, 0.1191920, 0.9503041]])
_WHITE = np.array([0.95047, 1.0, 1.08883])


def srgb_to_lab(rgb) -> np.ndarray:
    """CIELAB (D65) of sRGB colours (..., 3) in [0, 1]."""
    xyz = srgb_to_linear(rgb) @ _XYZ.T / _WHITE
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def delta_e(rgb_a, rgb_b) -> np.ndarray:
    """CIE76 ΔE between sRGB colours (..., 3) in [0, 1]."""
    return np.linalg.norm(srgb_to_lab(rgb_a) - srgb_to_lab(rgb_b), axis=-1)


def side_weights(points: np.ndarray) -> np.ndarray:
    """(N,) alpha of points (N, 3) of a car in its object frame (z up, length along y): 1 on the doors, fading to 0
    towards the middle plane, 0 on roof, windows, wheels and the ends."""
    p = np.asarray(points, dtype=np.float64)
    lo, hi = p.min(axis=0), p.max(axis=0)
    half = np.maximum((hi - lo) / 2.0, 1e-9)
    centre = (lo + hi) / 2.0
    x = np.abs(p[:, 0] - centre[0]) / half[0]
    y = np.abs(p[:, 1] - centre[1]) / half[1]
    z = (p[:, 2] - lo[2]) / (2.0 * half[2])
    return np.clip((x - 0.6) / 0.3, 0.0, 1.0) * (y <= 0.7) * ((z >= 0.2) & (z <= 0.6))


def body_colour(vertices, texture, faces, uvs, face_uvs) -> np.ndarray:
    """sRGB (3,) in [0, 1]: the alpha-weighted mean of ``texture`` (T, T, 3) uint8 (row 0 = v = 1) over the side
    of the car with ``vertices`` (V, 3) and the topology ``faces`` / ``uvs`` / ``face_uvs`` of ``info``."""
    v = np.asarray(vertices, dtype=np.float64)
    tex = np.asarray(texture)
    centres = v[np.asarray(faces)].mean(axis=1)
    uv = np.asarray(uvs, dtype=np.float64)[np.asarray(face_uvs)].mean(axis=1)
    height, width = tex.shape[:2]
    col = np.clip(np.floor(uv[:, 0] * width), 0, width - 1).astype(np.int64)
    row = np.clip(np.floor((1.0 - uv[:, 1]) * height), 0, height - 1).astype(np.int64)
    colours = srgb_to_linear(tex[row, col, :3].astype(np.float64) / 255.0)
    w = side_weights(centres)
    if w.sum() <= 0:
        w = np.ones(len(w))
    return linear_to_srgb((colours * w[:, None]).sum(axis=0) / w.sum())


def hex_colour(rgb) -> str:
    """``#rrggbb`` of an sRGB colour in [0, 1]."""
    return "#" + "".join(f"{int(round(float(c) * 255)):02x}" for c in rgb)
