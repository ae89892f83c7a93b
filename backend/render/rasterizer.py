"""Low-level differentiable rasterisation (nvdiffrast-style): rasterize → interpolate → sample, plus the soft
silhouette. Each function takes ``impl="fast"`` (Warp kernels) or ``impl="reference"`` (dense PyTorch oracle).

Inputs are *renderer-frame* vertices (see ``camera.object_to_renderer``): x, y in image units (the image covers
[-1, 1]², y up), z toward the viewer.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from . import reference
from .checks import check_faces, check_resolution, check_tensor

IMPLEMENTATIONS = ("fast", "reference")
DEFAULT_SIGMA_INV = 7000.0
DEFAULT_MAX_FACES = 30
DEFAULT_BOX_EXPANSION = 0.02


@dataclass
class Rasterization:
    """Result of the hard pass.

    Attributes:
        face_index: (B, H, W) int64, the visible face at each pixel centre, -1 where nothing is drawn.
        barycentrics: (B, H, W, 3) float (screen's dtype), weights of that face's corners (sum 1; 0 where empty);
            differentiable w.r.t. the screen vertices' x and y.
        mask: (B, H, W) float {0, 1} hard coverage, not differentiable (DIB-R detaches it).
        faces: (F, 3) int64, the faces that were rasterised.
    """

    face_index: torch.Tensor
    barycentrics: torch.Tensor
    mask: torch.Tensor
    faces: torch.Tensor

    @property
    def resolution(self) -> tuple[int, int]:
        return tuple(self.face_index.shape[1:])


def _check_impl(impl: str) -> str:
    if impl not in IMPLEMENTATIONS:
        raise ValueError(f"impl must be one of {IMPLEMENTATIONS}, got {impl!r}")
    return impl


def _check_screen(screen: object) -> torch.Tensor:
    return check_tensor("screen_vertices", screen, ("B", "V", 3), floating=True)


def rasterize(screen_vertices: torch.Tensor, faces: torch.Tensor, resolution: int | Sequence[int],
              impl: str = "fast") -> Rasterization:
    """Hard rasterisation with DIB-R semantics (back faces culled, largest z wins).

    Args:
        screen_vertices: (B, V, 3) float32/float64 renderer-frame vertices; non-finite vertices drop their faces.
        faces: (F, 3) int64/int32 vertex indices, counter-clockwise = front facing; shared by the batch.
        resolution: N or (H, W).
        impl: "fast" or "reference".
    """
    impl = _check_impl(impl)
    screen = _check_screen(screen_vertices)
    faces = check_faces(faces, screen.shape[1], screen.device).to(torch.int64)
    height, width = check_resolution(resolution)
    if impl == "fast":
        from .fast import rasterize_fast

        face_index, bary, mask = rasterize_fast(screen, faces, height, width)
    else:
        face_index, bary, mask = reference.rasterize_reference(screen, faces, height, width)
    return Rasterization(face_index, bary, mask, faces)


def interpolate(attributes: torch.Tensor, rast: Rasterization, attribute_faces: torch.Tensor | None = None
                ) -> torch.Tensor:
    """Barycentric interpolation of per-vertex (or per-corner) attributes at each pixel.

    Args:
        attributes: (B, A, C) or (A, C) float, e.g. vertex colours or UVs; (A, C) is shared by the batch.
        rast: a ``Rasterization``.
        attribute_faces: (F, 3) int indices into A for each face corner (e.g. ``face_uvs``); default: the
            rasterised faces (then A = V).
    Returns:
        (B, H, W, C), zero where nothing is drawn; differentiable w.r.t. attributes and (through the
        barycentrics) the vertex positions.
    """
    batch = rast.face_index.shape[0]
    if isinstance(attributes, torch.Tensor) and attributes.dim() == 2:
        attributes = attributes.unsqueeze(0).expand(batch, -1, -1)
    attributes = check_tensor("attributes", attributes, (batch, None, None), floating=True,
                              device=rast.face_index.device)
    corner_faces = rast.faces if attribute_faces is None else check_faces(
        attribute_faces, attributes.shape[1], attributes.device, name="attribute_faces")
    if corner_faces.shape[0] != rast.faces.shape[0]:
        raise ValueError(f"attribute_faces must have shape ({rast.faces.shape[0]}, 3) like the rasterised faces, "
                         f"got {tuple(corner_faces.shape)}")
    covered = rast.face_index >= 0
    corner_index = corner_faces.to(torch.int64)[rast.face_index.clamp_min(0)]  # (B, H, W, 3)
    batch_index = torch.arange(batch, device=attributes.device)[:, None, None, None]
    values = attributes[batch_index, corner_index]  # (B, H, W, 3, C)
    bary = rast.barycentrics.to(attributes.dtype)
    result = (values * bary[..., None]).sum(dim=-2)
    return result * covered[..., None].to(result.dtype)


def soft_silhouette(screen_vertices: torch.Tensor, faces: torch.Tensor, resolution: int | Sequence[int],
                    sigma_inv: float = DEFAULT_SIGMA_INV, max_faces: int = DEFAULT_MAX_FACES,
                    box_expansion: float = DEFAULT_BOX_EXPANSION, impl: str = "fast",
                    rast: Rasterization | None = None) -> torch.Tensor:
    """DIB-R soft silhouette: 1 on covered pixels, elsewhere 1 - Π_f (1 - exp(-σ⁻¹ d_f²)) over the first
    ``max_faces`` faces (face-index order) whose bounding box grown by ``box_expansion`` contains the pixel
    centre; d_f is the distance (image units) from the pixel centre to face f's boundary. Back faces count.

    Args:
        screen_vertices: (B, V, 3) float renderer-frame vertices.
        faces: (F, 3) int vertex indices.
        resolution: N or (H, W).
        sigma_inv: σ⁻¹ (7000 = DIB-R default; pose fitting divides it by a blur multiplier).
        rast: the hard pass at the same resolution, if already computed (its coverage is reused).
    Returns:
        (B, H, W) float in [0, 1] (screen's dtype), differentiable w.r.t. the vertices' x and y.
    """
    impl = _check_impl(impl)
    screen = _check_screen(screen_vertices)
    faces = check_faces(faces, screen.shape[1], screen.device).to(torch.int64)
    height, width = check_resolution(resolution)
    if not (sigma_inv > 0 and max_faces >= 1 and box_expansion >= 0):
        raise ValueError(f"need sigma_inv > 0, max_faces >= 1, box_expansion >= 0; got {sigma_inv}, "
                         f"{max_faces}, {box_expansion}")
    if impl == "fast":
        from .fast import coverage_mask, soft_silhouette_fast

        if rast is None or rast.resolution != (height, width):
            covered = coverage_mask(screen, faces, height, width)
        else:
            covered = rast.mask
        return soft_silhouette_fast(screen, faces, covered, height, width, sigma_inv, max_faces, box_expansion)
    if rast is None or rast.resolution != (height, width):
        covered = reference.rasterize_faces_reference(screen, faces, height, width) >= 0
    else:
        covered = rast.face_index >= 0
    return reference.soft_silhouette_reference(screen, faces, covered, height, width, sigma_inv, max_faces,
                                               box_expansion)
