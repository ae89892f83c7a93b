"""True meshes -> the template's topology and a displacement map the generator can express (``--from_truth``).

``radial_remesh`` casts a ray from the object's origin along each template vertex direction and keeps the
farthest hit (the star-shaped hull of the mesh seen from its centre; for a car that is the body with its wheels).
``DisplacementFit`` inverts displacement sampling (§2.4): the map -> vertices function is affine in the map's
generated half (pole averaging and mirroring included), so the least-squares map for given target vertices is one
matrix product with a precomputed ridge pseudo-inverse.
"""
from __future__ import annotations

import numpy as np
import torch

from backend.mesh import MeshTemplate, displacement_to_vertices, uv_sphere
from backend.models.symmetry import average_poles, mirror_half_width


def radial_remesh(vertices: np.ndarray, faces: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """Farthest ray hit from the origin along each direction.

    vertices: (N, 3) float, faces: (F, 3) int (any winding), directions: (V, 3) unit vectors.
    Returns (V,) float64 distances; a direction that hits nothing (a hole) gets the mean distance of the four
    nearest directions that did hit, so the result is always finite. Raises ValueError when most rays miss (the
    origin is outside the mesh).

    Moller-Trumbore with the ray origin fixed at 0: every term is linear in the direction d (det = d.(e2 x e1),
    u = d.(e2 x s) / det, w = d.(s x e1) / det, t = e2.(s x e1) / det with s = -a), so all rays against all faces are
    three (V, 3) @ (3, F) products.
    """
    v = np.asarray(vertices, np.float64)
    f = np.asarray(faces, np.int64)
    d = np.asarray(directions, np.float64)
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    e1, e2, s = b - a, c - a, -a
    q = np.cross(s, e1)
    det = d @ np.cross(e2, e1).T                       # (V, F)
    ok = np.abs(det) > 1e-12
    inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    u = (d @ np.cross(e2, s).T) * inv
    w = (d @ q.T) * inv
    t = (e2 * q).sum(1)[None] * inv
    hit = ok & (u >= -1e-9) & (w >= -1e-9) & (u + w <= 1 + 1e-9) & (t > 0)
    radii = np.where(hit, t, -1.0).max(axis=1)
    missing = radii <= 0
    if missing.mean() > 0.5:
        raise ValueError(f"{int(missing.sum())} of {len(radii)} rays from the origin miss the mesh: is it closed and "
                         f"centred on its own origin?")
    if missing.any():
        cos = d[missing] @ d[~missing].T
        nearest = np.argsort(-cos, axis=1)[:, :4]
        radii[missing] = radii[~missing][nearest].mean(axis=1)
    return radii


class DisplacementFit:
    """Least-squares displacement maps for target vertices on the template's topology.

    fit(targets (B, V, 3) object frame) -> displacement (B, 3, M, M), symmetric with averaged poles: the kind of map
    the generator outputs, so ``displacement_to_vertices(template, fit(x))`` is the closest mesh it can express.
    ridge: Tikhonov weight on the map values (keeps unconstrained directions, e.g. the Nyquist column pattern, at 0).
    """

    def __init__(self, template: MeshTemplate | None = None, resolution: int = 32, ridge: float = 1e-4) -> None:
        self.template = template or uv_sphere()
        self.resolution = resolution
        half = 3 * resolution * (resolution // 2)
        basis = torch.eye(half, dtype=torch.float64).reshape(half, 3, resolution, resolution // 2)
        rest = torch.as_tensor(np.array(self.template.vertices), dtype=torch.float64)
        with torch.no_grad():
            rows = []
            for start in range(0, half, 256):
                maps = self.full_map(basis[start:start + 256])
                rows.append((displacement_to_vertices(self.template, maps) - rest).reshape(maps.shape[0], -1))
        design = torch.cat(rows).T                                   # (3V, half): vertices = rest + design @ x
        gram = design.T @ design + ridge * torch.eye(half, dtype=torch.float64)
        self._solve = torch.linalg.solve(gram, design.T)             # (half, 3V)
        self._rest = rest

    def full_map(self, half: torch.Tensor) -> torch.Tensor:
        """(B, 3, M, M/2) generated half -> (B, 3, M, M) with averaged poles, mirrored (§2.4, §2.6)."""
        return mirror_half_width(average_poles(half))

    def fit(self, targets: torch.Tensor) -> torch.Tensor:
        offsets = (targets.to(torch.float64) - self._rest).reshape(targets.shape[0], -1)
        half = (offsets @ self._solve.T).reshape(-1, 3, self.resolution, self.resolution // 2)
        return self.full_map(half).float()
