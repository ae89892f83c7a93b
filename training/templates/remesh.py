"""Project a closed mesh onto the 962-vertex UV-sphere topology (the job of the original ``remesh.py``, §2.7).

Steps (ours; the original spends up to 100 000 SGD steps on silhouettes alone, which is hours on a CPU):

1. Check the mesh is closed and watertight (every edge shared by exactly two faces, consistently wound).
2. Normalise (§2.7 step 1): centre the bounding box (x stays centred on 0), divide by the max |coordinate|.
3. Initialise every sphere vertex by casting a ray from the centre through the vertex of an ellipsoid fitted to
   the box and taking the farthest hit (the outer surface); a ray that misses keeps the ellipsoid point.
4. Refine with silhouettes (§2.7 step 4 in spirit): ``views`` random views (seed 1), vertices scaled by 1/√2,
   hard target masks of the mesh; Adam on per-vertex offsets, loss = MSE(soft silhouette, mask) +
   ``laplacian`` × the umbrella Laplacian of the offsets (keeps the ray-cast detail); the mesh is made exactly mirror-symmetric after every step.
5. (``remesh_meshes``) normalise all templates jointly: centre the common box, divide by the max |coordinate|.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch


class TemplateError(ValueError):
    """A mesh cannot be used as a template (not closed, not watertight, empty, unreadable). One line."""


@dataclass(frozen=True)
class RemeshConfig:
    """views: silhouettes compared per step; resolution: their size; steps: refinement steps (0 = rays only);
    lr: Adam learning rate on vertex offsets; laplacian: regulariser weight; sigma_inv: the soft silhouette's
    sharpness (sharper than the default 7000, as upstream's decaying blur ends sharp: a blurred silhouette is
    larger than the mesh, so fitting it shrinks the mesh); seed: view seed (1 as upstream)."""

    views: int = 32
    resolution: int = 128
    steps: int = 40
    lr: float = 0.001
    laplacian: float = 1.0
    sigma_inv: float = 40000.0
    seed: int = 1


@dataclass
class RemeshResult:
    """vertices: (962, 3) float32 object frame (normalised per template until ``remesh_meshes`` rescales them);
    iou: mean silhouette IoU against the source mesh over the views (hard masks, after refinement)."""

    name: str
    vertices: np.ndarray
    iou: float


def check_closed(vertices: np.ndarray, faces: np.ndarray, name: str = "mesh") -> None:
    """Raise TemplateError unless the mesh is closed, watertight and consistently wound."""
    vertices = np.asarray(vertices, np.float64)
    faces = np.asarray(faces)
    if vertices.ndim != 2 or vertices.shape[1] != 3 or len(vertices) < 4 or faces.ndim != 2 or faces.shape[1] != 3 \
            or len(faces) < 4:
        raise TemplateError(f"{name}: needs at least 4 vertices and 4 triangles")
    if not np.isfinite(vertices).all():
        raise TemplateError(f"{name}: has non-finite vertex coordinates")
    # merge duplicated positions first (OBJ files often split vertices along seams)
    _, inverse = np.unique(np.round(vertices, 9), axis=0, return_inverse=True)
    f = inverse.reshape(-1)[faces]
    f = f[(f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 2] != f[:, 0])]
    directed = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    undirected = np.sort(directed, axis=1)
    _, counts = np.unique(undirected, axis=0, return_counts=True)
    if (counts != 2).any():
        open_edges = int((counts == 1).sum())
        raise TemplateError(f"{name}: not closed/watertight ({open_edges} open edges, "
                            f"{int((counts > 2).sum())} edges shared by more than two faces); close the mesh first")
    _, dcounts = np.unique(directed, axis=0, return_counts=True)
    if (dcounts != 1).any():
        raise TemplateError(f"{name}: faces are not consistently wound; recalculate normals outside and re-export")


def normalise(vertices: np.ndarray) -> np.ndarray:
    """§2.7 step 1: centre the bounding box (x centred on 0), divide by the max |coordinate|."""
    v = np.asarray(vertices, np.float64)
    centre = (v.min(0) + v.max(0)) / 2
    v = v - centre
    return v / np.abs(v).max()


def _ray_hits(origin: np.ndarray, directions: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Farthest hit distance along each ray (Möller–Trumbore), NaN where a ray misses. (R, 3), (F, 3, 3) -> (R,)."""
    far = np.full(len(directions), np.nan)
    e1 = triangles[:, 1] - triangles[:, 0]
    e2 = triangles[:, 2] - triangles[:, 0]
    for start in range(0, len(directions), 128):
        d = directions[start:start + 128, None, :]                       # (r, 1, 3)
        p = np.cross(d, e2[None])                                       # (r, F, 3)
        det = np.einsum("fk,rfk->rf", e1, p)
        ok = np.abs(det) > 1e-12
        inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
        s = origin - triangles[:, 0]                                     # (F, 3)
        u = np.einsum("fk,rfk->rf", s, p) * inv
        qv = np.cross(s, e1)                                             # (F, 3)
        v = np.einsum("rk,fk->rf", d[:, 0], qv) * inv
        t = np.einsum("fk,fk->f", e2, qv)[None] * inv
        hit = ok & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 1e-9)
        t = np.where(hit, t, -np.inf).max(axis=1)
        far[start:start + 128] = np.where(np.isfinite(t), t, np.nan)
    return far


def initial_projection(vertices: np.ndarray, faces: np.ndarray, sphere: np.ndarray) -> np.ndarray:
    """Step 3: sphere vertices (962, 3) moved onto the outer surface of a normalised mesh by rays from its centre."""
    half = np.abs(vertices).max(0)
    ellipsoid = sphere * half
    directions = ellipsoid / np.linalg.norm(ellipsoid, axis=1, keepdims=True)
    distance = _ray_hits(np.zeros(3), directions, vertices[faces])
    miss = ~np.isfinite(distance)
    out = directions * np.where(miss, 0.0, distance)[:, None]
    out[miss] = ellipsoid[miss]
    return out


def _random_quaternions(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(n, 4, generator=g, dtype=torch.float64)
    return (q / q.norm(dim=1, keepdim=True)).float()


def _laplacian_matrix(faces: np.ndarray, n: int) -> torch.Tensor:
    """(V, V) sparse umbrella operator: L v = v - mean of the neighbours."""
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    edges = np.unique(np.sort(edges, axis=1), axis=0)
    rows = np.concatenate([edges[:, 0], edges[:, 1]])
    cols = np.concatenate([edges[:, 1], edges[:, 0]])
    degree = np.bincount(rows, minlength=n).astype(np.float64)
    values = -1.0 / degree[rows]
    index = np.concatenate([np.stack([rows, cols]), np.stack([np.arange(n), np.arange(n)])], axis=1)
    values = np.concatenate([values, np.ones(n)])
    return torch.sparse_coo_tensor(torch.from_numpy(index), torch.from_numpy(values).float(), (n, n),
                                   check_invariants=True).coalesce()


def symmetrise(vertices: torch.Tensor, mirror_index: torch.Tensor, plane: torch.Tensor) -> torch.Tensor:
    """Average each vertex with its mirrored partner (x negated); plane vertices get x = 0. (V, 3) -> (V, 3)."""
    flip = torch.tensor([-1.0, 1.0, 1.0], dtype=vertices.dtype)
    out = 0.5 * (vertices + vertices[mirror_index] * flip)
    out[plane, 0] = 0.0
    return out


def silhouette_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of (B, H, W) masks thresholded at 0.5 -> (B,)."""
    a, b = a > 0.5, b > 0.5
    inter = (a & b).flatten(1).sum(1).float()
    union = (a | b).flatten(1).sum(1).float()
    return inter / union.clamp_min(1)


def remesh(vertices: np.ndarray, faces: np.ndarray, name: str = "mesh", config: RemeshConfig = RemeshConfig(),
           progress: Callable[[int], None] | None = None) -> RemeshResult:
    """Steps 1–4 for one mesh: (M, 3) float vertices, (G, 3) int faces in the object frame -> ``RemeshResult``."""
    from backend.mesh import uv_sphere
    from backend.render import Pose, object_to_renderer, rasterize, render_silhouette

    check_closed(vertices, faces, name)
    from .shapes import orient_outward

    source = normalise(vertices)
    source_faces = orient_outward(source, np.asarray(faces, np.int64))
    sphere = uv_sphere()
    start = initial_projection(source, source_faces, np.asarray(sphere.vertices, np.float64))
    sphere_faces = torch.from_numpy(np.array(sphere.faces))
    mirror = torch.from_numpy(np.array(sphere.mirror_index))
    plane = torch.from_numpy(np.array(sphere.plane_indices))
    views = config.views
    pose = Pose(_random_quaternions(views, config.seed), torch.full((views, 1), 1 / math.sqrt(2)),
                torch.zeros(views, 2))
    with torch.no_grad():
        target_v = torch.from_numpy(source).float()[None].expand(views, -1, -1).contiguous()
        target = rasterize(object_to_renderer(target_v, pose), torch.from_numpy(source_faces),
                           config.resolution).mask.float()
    current = symmetrise(torch.from_numpy(start).float(), mirror, plane)
    offsets = torch.zeros_like(current, requires_grad=True)
    optimiser = torch.optim.Adam([offsets], lr=config.lr)
    lap = _laplacian_matrix(np.array(sphere.faces), sphere.num_vertices)
    for _ in range(config.steps):
        v = current + offsets
        sil = render_silhouette(v[None].expand(views, -1, -1), sphere_faces, pose, config.resolution,
                                sigma_inv=config.sigma_inv)
        loss = (sil - target).square().mean() + config.laplacian * torch.sparse.mm(lap, offsets).square().sum(1).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        with torch.no_grad():
            offsets.copy_(symmetrise(current + offsets, mirror, plane) - current)
        if progress is not None:
            progress(1)
    with torch.no_grad():
        final = current + offsets
        mask = rasterize(object_to_renderer(final[None].expand(views, -1, -1).contiguous(), pose), sphere_faces,
                         config.resolution).mask.float()
        iou = float(silhouette_iou(mask, target).mean())
    return RemeshResult(name, final.detach().numpy().astype(np.float32), iou)


def joint_normalise(templates: np.ndarray) -> np.ndarray:
    """§2.7 step 5: (T, V, 3) -> centred on the common box (x on 0), divided by the max |coordinate|."""
    t = np.asarray(templates, np.float64)
    flat = t.reshape(-1, 3)
    centre = (flat.min(0) + flat.max(0)) / 2
    centre[0] = 0.0
    t = t - centre
    return (t / np.abs(t).max()).astype(np.float32)
