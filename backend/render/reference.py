"""The reference implementation: dense plain PyTorch, every pixel against every face. The oracle.

Slow (O(pixels × faces) memory and time, chunked over pixels): meant for small images (32²–128²) in tests and
for reading. Gradients come from autograd. Same semantics as the Warp kernels (§6.3, docs/rendering.md):

* pixel (row j, column i) has centre ((2i + 1 - W) / W, (H - 2j - 1) / H);
* faces with a non-finite vertex or one beyond ±1e15 are dropped;
* hard pass: faces with cross(v1 - v0, v2 - v0).z <= 0 are culled, a pixel is inside when all three edge
  functions are >= 0, the interpolated z must exceed -1000, the largest z wins (ties: lowest face index);
* soft pass: at uncovered pixels 1 - Π (1 - exp(-σ⁻¹ d²)) over the first ``max_faces`` faces (face order) whose
  bounding box grown by ``expansion`` contains the pixel centre; d = distance to the triangle's boundary;
  back faces included.
"""
from __future__ import annotations

import torch

MAX_COORDINATE = 1.0e15  # vertices beyond it (or non-finite) drop their faces
PIXEL_CHUNK = 1024  # pixels per dense block (keeps memory at ~chunk × faces × a few tensors)
MIN_DEPTH = -1000.0


def pixel_centers(height: int, width: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(H * W, 2) pixel centres (x, y) in row-major order, image covering [-1, 1]², row 0 at y = +1."""
    cols = (2 * torch.arange(width, dtype=dtype, device=device) + 1 - width) / width
    rows = (height - 2 * torch.arange(height, dtype=dtype, device=device) - 1) / height
    y, x = torch.meshgrid(rows, cols, indexing="ij")
    return torch.stack([x, y], dim=-1).reshape(-1, 2)


def _cross2(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def edge_functions(points: torch.Tensor, a0: torch.Tensor, a1: torch.Tensor, a2: torch.Tensor) -> torch.Tensor:
    """(..., 3) unnormalised barycentric weights (w0, w1, w2) of 2D points w.r.t. triangles (broadcasting)."""
    return torch.stack([_cross2(a1 - points, a2 - points), _cross2(a2 - points, a0 - points),
                        _cross2(a0 - points, a1 - points)], dim=-1)


def barycentrics_at(screen: torch.Tensor, faces: torch.Tensor, face_index: torch.Tensor) -> torch.Tensor:
    """Differentiable barycentric weights of ``face_index``'s face at every pixel centre.

    Args:
        screen: (B, V, 3) float renderer-frame vertices; faces: (F, 3) int64; face_index: (B, H, W) int64, -1 empty.
    Returns:
        (B, H, W, 3) in screen's dtype, zero at empty pixels; sums to 1 elsewhere.
    """
    batch, height, width = face_index.shape
    points = pixel_centers(height, width, screen.dtype, screen.device).reshape(1, height, width, 2)
    covered = face_index >= 0
    corner_index = faces[face_index.clamp_min(0)]  # (B, H, W, 3)
    batch_index = torch.arange(batch, device=screen.device)[:, None, None, None]
    corners = screen[batch_index, corner_index, :2]  # (B, H, W, 3, 2)
    weights = edge_functions(points, corners[..., 0, :], corners[..., 1, :], corners[..., 2, :])
    area = weights.sum(dim=-1, keepdim=True)
    safe_area = torch.where(covered[..., None], area, torch.ones_like(area))
    return torch.where(covered[..., None], weights / safe_area, torch.zeros_like(weights))


def rasterize_faces_reference(screen: torch.Tensor, faces: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(B, H, W) int64 winning face per pixel (-1 empty), dense depth test. No gradients."""
    screen = screen.detach()
    batch = screen.shape[0]
    points = pixel_centers(height, width, screen.dtype, screen.device)
    result = torch.full((batch, height * width), -1, dtype=torch.int64, device=screen.device)
    if faces.shape[0] == 0:
        return result.reshape(batch, height, width)
    for b in range(batch):
        corners = screen[b, faces]  # (F, 3, 3)
        finite = (corners.abs() <= MAX_COORDINATE).all(dim=-1).all(dim=-1)  # False for NaN/inf
        corners = torch.where(finite[:, None, None], corners, torch.zeros_like(corners))
        a0, a1, a2 = corners[:, 0, :2], corners[:, 1, :2], corners[:, 2, :2]
        area = _cross2(a1 - a0, a2 - a0)
        front = finite & (area > 0)
        for start in range(0, points.shape[0], PIXEL_CHUNK):
            p = points[start:start + PIXEL_CHUNK, None, :]  # (P, 1, 2)
            w = edge_functions(p, a0, a1, a2)  # (P, F, 3)
            inside = front & (w >= 0).all(dim=-1)
            z = (w * corners[:, :, 2]).sum(dim=-1) / torch.where(front, area, torch.ones_like(area))
            inside = inside & (z > MIN_DEPTH)
            depth = torch.where(inside, z, torch.full_like(z, -float("inf")))
            best = depth.argmax(dim=1)  # first maximum: ties go to the lowest face index
            result[b, start:start + PIXEL_CHUNK] = torch.where(inside.any(dim=1), best, torch.full_like(best, -1))
    return result.reshape(batch, height, width)


def rasterize_reference(screen: torch.Tensor, faces: torch.Tensor, height: int, width: int
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Hard rasterisation: face_index (B, H, W) int64, barycentrics (B, H, W, 3) differentiable w.r.t. screen,
    mask (B, H, W) {0, 1} in screen's dtype."""
    face_index = rasterize_faces_reference(screen, faces, height, width)
    return face_index, barycentrics_at(screen, faces, face_index), (face_index >= 0).to(screen.dtype)


def squared_distance_to_boundary(points: torch.Tensor, a0: torch.Tensor, a1: torch.Tensor, a2: torch.Tensor
                                 ) -> torch.Tensor:
    """Squared distance from 2D points (P, 1, 2) to the boundary of triangles (F, 2)×3 → (P, F)."""
    def segment(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        ab = b - a
        length2 = (ab * ab).sum(-1)
        t = ((points - a) * ab).sum(-1) / torch.where(length2 > 0, length2, torch.ones_like(length2))
        t = torch.where(length2 > 0, t.clamp(0.0, 1.0), torch.zeros_like(t))
        closest = a + t[..., None] * ab
        return ((points - closest) ** 2).sum(-1)

    return torch.minimum(torch.minimum(segment(a0, a1), segment(a1, a2)), segment(a2, a0))


def soft_silhouette_reference(screen: torch.Tensor, faces: torch.Tensor, covered: torch.Tensor, height: int,
                              width: int, sigma_inv: float, max_faces: int, expansion: float) -> torch.Tensor:
    """DIB-R soft silhouette (B, H, W) in [0, 1], differentiable w.r.t. screen x, y; covered pixels are 1."""
    batch = screen.shape[0]
    points = pixel_centers(height, width, screen.dtype, screen.device)
    rows = []
    for b in range(batch):
        corners = screen[b, faces, :2]  # (F, 3, 2)
        finite = (corners.abs() <= MAX_COORDINATE).all(dim=-1).all(dim=-1)  # False for NaN/inf
        corners = torch.where(finite[:, None, None], corners, torch.zeros_like(corners))
        a0, a1, a2 = corners[:, 0], corners[:, 1], corners[:, 2]
        low = corners.amin(dim=1) - expansion
        high = corners.amax(dim=1) + expansion
        chunks = []
        for start in range(0, points.shape[0], PIXEL_CHUNK):
            p = points[start:start + PIXEL_CHUNK, None, :]
            candidate = finite & ((p >= low) & (p <= high)).all(dim=-1)  # (P, F)
            selected = candidate & (torch.cumsum(candidate.to(torch.int64), dim=1) <= max_faces)
            d2 = squared_distance_to_boundary(p, a0, a1, a2)
            factor = torch.where(selected, 1 - torch.exp(-sigma_inv * d2), torch.ones_like(d2))
            chunks.append(1 - factor.prod(dim=1))
        rows.append(torch.cat(chunks))
    probability = torch.stack(rows).reshape(batch, height, width)
    return torch.where(covered, torch.ones_like(probability), probability)
