"""Displacement map → vertex positions (§2.4).

The generator predicts a (B, 3, H, W) map (32 × 32 for every released model); each sampled vertex reads it by
bilinear UV lookup and uses the three values (d0, d1, d2) as an offset d0·n + d1·t + d2·b in the tangent frame of
the *undeformed* sphere: n = radial direction, t = normalize(n × (0, 1, 0)), b = n × t, with the original's
``normalize(x) = x / max(‖x‖, 1e-12)``.

Poles: the original ``uvsphere_31rings.obj`` stores its poles a micro-unit off the y axis, at (−1e-6, 1, 1e-6) and
(0, −1, 1e-6). That makes n × (0, 1, 0) tiny but not zero, so the original gives each pole a definite frame
(north: t = (−1, 0, −1)/√2, b ≈ (−1, 0, 1)/√2; south: t = (−1, 0, 0), b ≈ (0, 0, −1)) and the released models,
trained with it, move their poles sideways (in z; in symmetric mode the x offset is zeroed on the plane). The template
keeps exact poles for rendering; only the frames are built from the original file's pole coordinates
(:data:`ORIGINAL_POLES`). For a template without known file coordinates (the 16-ring sphere) the poles are exact,
t = b = 0 there and the poles move only radially.

Lookup conventions (equivalent to the original's circular-pad + ``grid_sample(align_corners=True)`` trick, but
written as an explicit 4-tap gather so it is exact, deterministic and cheap):

* symmetric mode (every released model): only the "non-negative" vertices are sampled; a vertex at u reads column
  position u·W − 0.5 (pixel-centre convention, wrapping around: u = j/32 averages columns j − 1 and j) and row
  position (1 − v)(H − 1) (ring k of 31 reads row 31 − k exactly). The offsets are then copied to the mirror
  partners with x negated, and the vertices on the plane x = 0 get an x offset of 0, so every mesh is exactly
  mirror-symmetric.
* non-symmetric mode: every vertex is sampled, at column position u·W (wrapping), no mirroring.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .template import MeshTemplate


@dataclass(frozen=True)
class _SamplingPlan:
    """Everything needed to turn a map into vertices, as torch tensors on one device.

    taps: (4, S) int64 flat indices (row * W + col) into the map for the S sampled vertices.
    weights: (4, S) bilinear weights.
    frames: (S, 3, 3) rows = n, t, b of each sampled vertex.
    source: (V,) int64, for each vertex the sampled vertex whose offset it takes.
    sign: (V, 3) multiplier of that offset (x negated for mirrored vertices, 0 on the plane).
    rest: (V, 3) the undeformed sphere.
    """

    taps: Tensor
    weights: Tensor
    frames: Tensor
    source: Tensor
    sign: Tensor
    rest: Tensor


_PLANS: dict[tuple, _SamplingPlan] = {}


#: Pole positions (north, south) in the original ``mesh_templates/uvsphere_31rings.obj``, by ring count. Used only
#: to build tangent frames (see the module docstring); values as the file writes them, read as float32 like the
#: original loader.
ORIGINAL_POLES: dict[int, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    31: ((-0.000001, 1.0, 0.000001), (0.0, -1.0, 0.000001)),
}

_NORMALIZE_EPS = 1e-12  # torch.nn.functional.normalize's default


def _normalize(x: np.ndarray) -> np.ndarray:
    """Row-wise x / max(‖x‖, 1e-12): torch's F.normalize, so a zero vector stays zero."""
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), _NORMALIZE_EPS)


def tangent_frames(points: np.ndarray) -> np.ndarray:
    """(N, 3) sphere points -> (N, 3, 3) float64 frames [n, t, b] (§2.4 step 3), the original's formula.

    n = normalize(p), t = normalize(n × (0, 1, 0)), b = n × t. A point exactly on the y axis gets t = b = 0; a point
    a micro-unit off it (the original file's poles) gets a definite unit t.
    """
    normal = _normalize(np.asarray(points, dtype=np.float64))
    tangent = _normalize(np.cross(normal, np.array([0.0, 1.0, 0.0])))
    bitangent = np.cross(normal, tangent)
    return np.stack([normal, tangent, bitangent], axis=1)


def frame_points(template: MeshTemplate) -> np.ndarray:
    """(V, 3) float64: the template's vertices with the poles moved to the original file's coordinates, if known.

    These are the points whose tangent frames the displacement uses; the mesh itself keeps ``template.vertices``.
    """
    points = template.vertices.astype(np.float64)
    poles = ORIGINAL_POLES.get(template.rings)
    if poles is not None:
        north, south = np.asarray(poles, dtype=np.float32).astype(np.float64)
        points[template.north_pole], points[template.south_pole] = north, south
    return points


def _bilinear_taps(column: np.ndarray, row: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices (4, S) and weights (4, S) of bilinear lookups; columns wrap, rows clamp."""
    c0 = np.floor(column)
    r0 = np.clip(np.floor(row), 0, height - 1)
    fc, fr = column - c0, row - r0
    c0 = c0.astype(np.int64) % width
    c1 = (c0 + 1) % width
    r0 = r0.astype(np.int64)
    r1 = np.minimum(r0 + 1, height - 1)
    taps = np.stack([r0 * width + c0, r0 * width + c1, r1 * width + c0, r1 * width + c1])
    weights = np.stack([(1 - fr) * (1 - fc), (1 - fr) * fc, fr * (1 - fc), fr * fc])
    return taps, weights


def _build_plan(template: MeshTemplate, height: int, width: int, symmetric: bool) -> dict[str, np.ndarray]:
    vertices = template.vertices.astype(np.float64)
    n_vertices = len(vertices)
    if symmetric:
        sampled = template.positive_indices
        source = np.empty(n_vertices, dtype=np.int64)
        source[sampled] = np.arange(len(sampled))
        sign = np.ones((n_vertices, 3))
        x = vertices[:, 0]
        negative = np.flatnonzero(x < 0)
        negative = negative[~np.isin(negative, template.plane_indices)]
        source[negative] = source[template.mirror_index[negative]]
        sign[negative, 0] = -1.0
        sign[template.plane_indices, 0] = 0.0
        column_offset = -0.5
    else:
        sampled = np.arange(n_vertices)
        source = sampled.copy()
        sign = np.ones((n_vertices, 3))
        column_offset = 0.0
    uv = template.vertex_uvs[sampled].astype(np.float64)
    taps, weights = _bilinear_taps(uv[:, 0] * width + column_offset, (1 - uv[:, 1]) * (height - 1), height, width)
    frames = tangent_frames(frame_points(template)[sampled])
    return dict(taps=taps, weights=weights, frames=frames, source=source, sign=sign, rest=vertices)


def _plan(template: MeshTemplate, height: int, width: int, symmetric: bool, device: torch.device,
          dtype: torch.dtype) -> _SamplingPlan:
    key = (template.rings, height, width, symmetric, str(device), dtype)
    plan = _PLANS.get(key)
    if plan is None:
        arrays = _build_plan(template, height, width, symmetric)
        # The cache outlives the caller's mode: a plan first built under torch.inference_mode() must still be
        # usable later in autograd, so its tensors are always made as normal tensors.
        with torch.inference_mode(False):
            plan = _SamplingPlan(**{
                name: torch.as_tensor(value, device=device,
                                      dtype=torch.int64 if value.dtype == np.int64 else dtype)
                for name, value in arrays.items()})
        _PLANS[key] = plan
    return plan


def displacement_to_vertices(template: MeshTemplate, displacement: Tensor, symmetric: bool = True) -> Tensor:
    """Deform the template by a displacement map (§2.4). Differentiable with respect to ``displacement``.

    template: the mesh template (``uv_sphere(31)`` for every released model).
    displacement: (B, 3, H, W) float (any float dtype/device), full width (after §2.6 mirroring in symmetric mode);
        channel 0 = radial, 1 = tangent t, 2 = bitangent b, in object-frame units (the sphere has radius 1).
    symmetric: True for the original symmetric generators (only the non-negative half is read and the result is
        exactly mirror-symmetric), False to read every vertex's own UV.
    Returns: (B, V, 3) vertex positions in the object frame, same dtype and device as ``displacement``.
    """
    if displacement.dim() != 4 or displacement.shape[1] != 3:
        raise ValueError(f"displacement must have shape (B, 3, H, W), got {tuple(displacement.shape)}")
    if not displacement.is_floating_point():
        raise TypeError(f"displacement must be a float tensor, got {displacement.dtype}")
    batch, _, height, width = displacement.shape
    if height < 2 or width < 2:
        raise ValueError(f"displacement map must be at least 2 x 2, got {height} x {width}")
    plan = _plan(template, height, width, symmetric, displacement.device, displacement.dtype)
    flat = displacement.reshape(batch, 3, height * width)
    samples = (flat[:, :, plan.taps] * plan.weights).sum(dim=2)            # (B, 3, S)
    offsets = torch.einsum("bcs,scx->bsx", samples, plan.frames)            # (B, S, 3)
    return plan.rest + offsets[:, plan.source] * plan.sign
