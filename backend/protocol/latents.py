"""Latent-space tools shared by the server, the CLI and the Blender add-on (numpy only, no torch).

Every generated car is a point ``z`` (latent_dim,) in the generator's latent space (plus a class for
class-conditional models). These helpers make new points from known ones:

* :func:`slerp` — spherical interpolation; exactly ``a`` at t = 0 and exactly ``b`` at t = 1.
* :func:`variation_latents` — N cars near one: ``slerp(z, n_k, strength)`` towards fresh truncated-normal
  samples ``n_k`` drawn from seed ``seed + k``; strength 0 gives ``z`` itself, 1 a new, unrelated car.
* :func:`blend_fractions` / :func:`blend_latents` / :func:`blend_class_weights` — in-betweens of two cars.
* :func:`check_latents` / :func:`check_class_weights` — one-line validation of latents and class vectors
  (shape, finite values, size limits), used by the protocol, the CLI and the add-on alike.

Class vectors: a row of ``n_classes`` non-negative weights summing to 1; the generator's class embedding of a
row is the weighted sum of the class embeddings, so a one-hot row is exactly that class.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .constants import CLASS_WEIGHT_TOLERANCE, MAX_COUNT, MAX_LATENT_ABS, MAX_LATENT_DIM


class LatentError(ValueError):
    """A latent or class vector that cannot be used. ``kind`` is "shape" (wrong layout or size) or "value"
    (NaN, infinite, or out-of-range values); the message is one line saying what to change."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message


def check_latents(latents, latent_dim: "int | None" = None, what: str = "latents") -> np.ndarray:
    """``latents`` as a float32 C-ordered (N, D) array, or LatentError.

    Accepts (N, D) or one (D,) vector; D must equal ``latent_dim`` when given; 1 <= N <= MAX_COUNT,
    1 <= D <= MAX_LATENT_DIM; every value finite and within ±MAX_LATENT_ABS.
    """
    try:
        array = np.asarray(latents)
    except (TypeError, ValueError) as exc:
        raise LatentError("shape", f"{what}: not an array of numbers ({exc})") from None
    if array.dtype.kind not in "fiu" or array.dtype == np.bool_:
        raise LatentError("shape", f"{what}: expected numbers, got {array.dtype} values")
    if array.ndim == 1:
        array = array[None]
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise LatentError("shape", f"{what}: expected shape (N, latent_dim) or (latent_dim,), got {np.shape(latents)}")
    if latent_dim is not None and array.shape[1] != latent_dim:
        raise LatentError("shape", f"{what}: {array.shape[1]} values per latent, but the model takes latents of "
                                   f"{latent_dim} values; use a latent saved from this model")
    if array.shape[1] > MAX_LATENT_DIM:
        raise LatentError("shape", f"{what}: {array.shape[1]} values per latent, more than the limit of {MAX_LATENT_DIM}")
    if array.shape[0] > MAX_COUNT:
        raise LatentError("value", f"{what}: {len(array)} latents, more than the limit of {MAX_COUNT} per request")
    with np.errstate(over="ignore", invalid="ignore"):
        values = array.astype(np.float32)
    finite = np.isfinite(values)
    if not finite.all():
        row = int(np.argwhere(~finite)[0][0])
        raise LatentError("value", f"{what}: NaN or infinite values (first in row {row}); "
                                   f"every value must be a finite number")
    largest = float(np.abs(values).max())
    if largest > MAX_LATENT_ABS:
        raise LatentError("value", f"{what}: a value of magnitude {largest:g} is above the limit of "
                                   f"{MAX_LATENT_ABS:g} (sampled latents stay within a few units)")
    return np.ascontiguousarray(values)


def check_class_weights(weights, n_classes: "int | None" = None, rows: "int | None" = None,
                        what: str = "class_weights") -> np.ndarray:
    """``weights`` as a float32 (N, C) array of class vectors, or LatentError.

    Each row: C = ``n_classes`` (when given) non-negative finite weights that sum to 1 within
    CLASS_WEIGHT_TOLERANCE; N = ``rows`` when given. A (C,) vector is one row.
    """
    try:
        array = np.asarray(weights)
    except (TypeError, ValueError) as exc:
        raise LatentError("shape", f"{what}: not an array of numbers ({exc})") from None
    if array.dtype.kind not in "fiu" or array.dtype == np.bool_:
        raise LatentError("shape", f"{what}: expected numbers, got {array.dtype} values")
    if array.ndim == 1:
        array = array[None]
    if array.ndim != 2 or array.shape[1] == 0 or array.shape[1] > MAX_LATENT_DIM:
        raise LatentError("shape", f"{what}: expected shape (N, n_classes), got {np.shape(weights)}")
    if n_classes is not None and array.shape[1] != n_classes:
        raise LatentError("shape", f"{what}: {array.shape[1]} weights per row, but the model has "
                                   f"{n_classes} classes")
    if rows is not None and array.shape[0] != rows:
        raise LatentError("shape", f"{what}: {array.shape[0]} rows for {rows} meshes; give one row per mesh")
    with np.errstate(over="ignore", invalid="ignore"):
        values = array.astype(np.float32)
    if not np.isfinite(values).all():
        raise LatentError("value", f"{what}: NaN or infinite values")
    if (values < 0).any():
        raise LatentError("value", f"{what}: negative weights (a class vector mixes classes with weights >= 0)")
    sums = values.astype(np.float64).sum(axis=1)
    bad = np.abs(sums - 1.0) > CLASS_WEIGHT_TOLERANCE
    if bad.any():
        raise LatentError("value", f"{what}: each row must sum to 1, row {int(np.argmax(bad))} sums to "
                                   f"{sums[bad][0]:.6g}")
    return np.ascontiguousarray(values)


def one_hot(index: int, n_classes: int) -> np.ndarray:
    """(n_classes,) float32 class vector of one class."""
    if not 0 <= index < n_classes:
        raise ValueError(f"class index {index} is outside [0, {n_classes - 1}]")
    vector = np.zeros(n_classes, dtype=np.float32)
    vector[index] = 1.0
    return vector


def single_class(weights) -> "int | None":
    """The class index if ``weights`` (C,) is exactly one-hot, else None."""
    weights = np.asarray(weights, dtype=np.float32).reshape(-1)
    nonzero = np.flatnonzero(weights)
    if len(nonzero) == 1 and weights[nonzero[0]] == 1.0:
        return int(nonzero[0])
    return None


def slerp(a, b, t: float) -> np.ndarray:
    """Spherical interpolation between latents a and b (D,) at fraction t in [0, 1] -> (D,) float32.

    Follows the great circle between the two directions while the length goes from |a| to |b|, so
    in-betweens stay as typical as the ends (a straight line would pass through short, atypical latents).
    t = 0 returns exactly ``a``, t = 1 exactly ``b``; (nearly) parallel or zero vectors fall back to a
    straight line.
    """
    a = np.asarray(a, dtype=np.float32).reshape(-1)
    b = np.asarray(b, dtype=np.float32).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"cannot interpolate latents of {a.size} and {b.size} values")
    t = float(t)
    if not (math.isfinite(t) and 0.0 <= t <= 1.0):
        raise ValueError(f"interpolation fraction must be in [0, 1], got {t}")
    if t == 0.0:
        return a.copy()
    if t == 1.0:
        return b.copy()
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    norms = np.linalg.norm(a64) * np.linalg.norm(b64)
    if norms == 0.0:
        return ((1 - t) * a64 + t * b64).astype(np.float32)
    omega = math.acos(max(-1.0, min(1.0, float(a64 @ b64) / norms)))
    if math.sin(omega) < 1e-6:
        return ((1 - t) * a64 + t * b64).astype(np.float32)
    s = math.sin(omega)
    return (math.sin((1 - t) * omega) / s * a64 + math.sin(t * omega) / s * b64).astype(np.float32)


def truncated_normal(size: int, sigma: float, seed: int) -> np.ndarray:
    """(size,) float32 standard normal drawn from ``np.random.default_rng(seed)``, each value resampled until
    |z_i| <= sigma (§4.1's truncation). Deterministic for a given numpy version."""
    sigma = float(sigma)
    if not (math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"truncation must be a number > 0, got {sigma}")
    rng = np.random.default_rng(int(seed))
    z = rng.standard_normal(size)
    reject = np.abs(z) > sigma
    while reject.any():
        z[reject] = rng.standard_normal(int(reject.sum()))
        reject = np.abs(z) > sigma
    return z.astype(np.float32)


def variation_latents(base, strength: float, count: int, seed: int, truncation: float = 1.0) -> np.ndarray:
    """``count`` latents near ``base`` (D,) -> (count, D) float32.

    Variation k is ``slerp(base, n_k, strength)`` with n_k = :func:`truncated_normal` (D, truncation, seed + k):
    strength 0 is ``base`` exactly, 0.3 a close relative, 1 the unrelated sample n_k.
    """
    base = check_latents(base, what="the latent to vary")
    if len(base) != 1:
        raise ValueError(f"variations start from one latent, got {len(base)}")
    strength = float(strength)
    if not (math.isfinite(strength) and 0.0 <= strength <= 1.0):
        raise ValueError(f"variation strength must be in [0, 1] (0 = the same car, 1 = unrelated), got {strength}")
    if isinstance(count, bool) or int(count) != count or not 1 <= count <= MAX_COUNT:
        raise ValueError(f"number of variations must be in [1, {MAX_COUNT}], got {count!r}")
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise ValueError(f"variation seed must be a non-negative integer, got {seed!r}")
    dim = base.shape[1]
    return np.stack([slerp(base[0], truncated_normal(dim, truncation, int(seed) + k), strength)
                     for k in range(int(count))])


def blend_fractions(steps: int, include_ends: bool = False) -> list[float]:
    """Fractions of the ``steps`` in-betweens, evenly spaced: j / (steps + 1) for j = 1..steps; with
    ``include_ends`` also 0 and 1 at either end (steps + 2 values)."""
    if isinstance(steps, bool) or int(steps) != steps or not 0 <= steps <= MAX_COUNT - 2:
        raise ValueError(f"number of in-betweens must be in [0, {MAX_COUNT - 2}], got {steps!r}")
    steps = int(steps)
    inner = [j / (steps + 1) for j in range(1, steps + 1)]
    if include_ends:
        return [0.0, *inner, 1.0]
    if not inner:
        raise ValueError("a blend needs at least one in-between (or its ends)")
    return inner


def blend_latents(a, b, fractions: Sequence[float]) -> np.ndarray:
    """(K, D) float32: :func:`slerp` of latents a and b (D,) at each fraction."""
    return np.stack([slerp(a, b, t) for t in fractions])


def blend_class_weights(a, b, fractions: Sequence[float]) -> np.ndarray:
    """(K, C) float32 class vectors from (1 - t)·a + t·b (a straight line: the embedding is linear in the
    weights); exactly ``a`` at t = 0 and ``b`` at t = 1."""
    a = np.asarray(a, dtype=np.float32).reshape(-1)
    b = np.asarray(b, dtype=np.float32).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"cannot blend class vectors of {a.size} and {b.size} classes")
    rows = []
    for t in fractions:
        if t == 0.0:
            rows.append(a.copy())
        elif t == 1.0:
            rows.append(b.copy())
        else:
            mixed = (1.0 - t) * a.astype(np.float64) + t * b.astype(np.float64)
            rows.append((mixed / mixed.sum()).astype(np.float32))
    return np.stack(rows)
