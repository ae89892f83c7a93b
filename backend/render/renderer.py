"""High-level renders of a batch of meshes, each with its own pose: textured, vertex attributes, soft silhouette.

All three take object-frame vertices and a ``Pose`` and run the camera of §6.2 first; ``impl`` picks the
Warp kernels ("fast") or the dense PyTorch oracle ("reference").
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from .camera import Pose, object_to_renderer
from .checks import check_faces, check_resolution, check_tensor
from .rasterizer import (DEFAULT_BOX_EXPANSION, DEFAULT_MAX_FACES, DEFAULT_SIGMA_INV, Rasterization, interpolate,
                         rasterize, soft_silhouette)
from .texture import sample_texture

Background = None | float | Sequence[float] | torch.Tensor


@dataclass
class RenderResult:
    """A hard render.

    Attributes:
        image: (B, C, H, W) float: colours where covered, the background elsewhere.
        mask: (B, H, W) float {0, 1}, hard coverage (not differentiable).
        rasterization: the hard pass (face index, barycentrics) for further interpolation.
    """

    image: torch.Tensor
    mask: torch.Tensor
    rasterization: Rasterization


def _check_vertices(vertices: object, pose: Pose) -> torch.Tensor:
    if not isinstance(pose, Pose):
        raise ValueError(f"pose must be a backend.render.Pose, got {type(pose).__name__}")
    vertices = check_tensor("vertices", vertices, (pose.batch_size, "V", 3), floating=True)
    if pose.q.device != vertices.device:
        raise ValueError(f"pose must be on the vertices' device {vertices.device}, got {pose.q.device}")
    return vertices


def _background(background: Background, batch: int, channels: int, height: int, width: int,
                like: torch.Tensor) -> tuple[tuple[float, ...] | None, torch.Tensor | None]:
    """Normalise ``background`` to either a constant colour (C floats) or an image (B, C, H, W)."""
    if background is None:
        return (0.0,) * channels, None
    if isinstance(background, (int, float)):
        return (float(background),) * channels, None
    if isinstance(background, torch.Tensor):
        if background.dim() == 3:
            background = background.unsqueeze(0).expand(batch, -1, -1, -1)
        check_tensor("background", background, (batch, channels, height, width), floating=True, device=like.device)
        return None, background.to(like.dtype)
    values = tuple(float(v) for v in background)
    if len(values) != channels:
        raise ValueError(f"background must be None, a float, {channels} floats or a tensor (B, {channels}, H, W), "
                         f"got {len(values)} values")
    return values, None


def _blend(color: torch.Tensor, mask: torch.Tensor, constant: tuple[float, ...] | None,
           image: torch.Tensor | None) -> torch.Tensor:
    if image is None:
        image = torch.tensor(constant, dtype=color.dtype, device=color.device).reshape(1, -1, 1, 1)
    m = mask[:, None]
    return color * m + image * (1 - m)


def render_textured(vertices: torch.Tensor, faces: torch.Tensor, uvs: torch.Tensor, face_uvs: torch.Tensor,
                    texture: torch.Tensor, pose: Pose, resolution: int | Sequence[int],
                    background: Background = None, impl: str = "fast") -> RenderResult:
    """Hard textured render (DIB-R texture mode; §2.5 UV conventions).

    Args:
        vertices: (B, V, 3) float, object frame.
        faces: (F, 3) int64 vertex indices (counter-clockwise from outside).
        uvs: (U, 2) float texture coordinates in [0, 1] (v = 1 is the texture's top row).
        face_uvs: (F, 3) int64 indices into ``uvs`` per face corner.
        texture: (B, 3, Th, Tw) float, project textures are in [-1, 1].
        pose: B poses (z0 set → perspective warp).
        resolution: N or (H, W).
        background: None (0, i.e. mid-grey for [-1, 1] colours, as DIB-R), a float, 3 floats, or an image
            (B, 3, H, W) / (3, H, W) in the texture's range.
    Returns:
        RenderResult with image (B, 3, H, W) in the texture's range, differentiable w.r.t. vertices, pose,
        texture, uvs and a background image.
    """
    vertices = _check_vertices(vertices, pose)
    sizes: dict[str, int] = {}
    check_tensor("texture", texture, (pose.batch_size, 3, None, None), floating=True, device=vertices.device)
    check_tensor("uvs", uvs, ("U", 2), floating=True, device=vertices.device, sizes=sizes)
    face_uvs = check_faces(face_uvs, uvs.shape[0], vertices.device, name="face_uvs")
    faces = check_faces(faces, vertices.shape[1], vertices.device)
    if face_uvs.shape != faces.shape:
        raise ValueError(f"face_uvs must have shape {tuple(faces.shape)} like faces, got {tuple(face_uvs.shape)}")
    height, width = check_resolution(resolution)
    constant, image_bg = _background(background, pose.batch_size, 3, height, width, texture)
    screen = object_to_renderer(vertices, pose)
    rast = rasterize(screen, faces, (height, width), impl=impl)
    mask = rast.mask.to(texture.dtype)
    if impl == "fast":
        from .fast import shade_textured_fast

        image = shade_textured_fast(rast.barycentrics, rast.face_index, face_uvs, uvs, texture,
                                    constant or (0.0, 0.0, 0.0), image_bg)
    else:
        uv = interpolate(uvs.to(texture.dtype), rast, attribute_faces=face_uvs)
        color = sample_texture(texture, uv)
        image = _blend(color, mask, constant, image_bg)
    return RenderResult(image, mask, rast)


def render_attributes(vertices: torch.Tensor, faces: torch.Tensor, attributes: torch.Tensor, pose: Pose,
                      resolution: int | Sequence[int], background: Background = None,
                      impl: str = "fast") -> RenderResult:
    """Hard render of interpolated per-vertex attributes (vertex colours, part one-hots, normals, depth...).

    Args:
        vertices: (B, V, 3) float, object frame; faces: (F, 3) int64.
        attributes: (B, V, C) or (V, C) float.
        background: None (0), a float, C floats, or an image (B, C, H, W).
    Returns:
        RenderResult with image (B, C, H, W), differentiable w.r.t. vertices, pose and attributes.
    """
    vertices = _check_vertices(vertices, pose)
    faces = check_faces(faces, vertices.shape[1], vertices.device)
    height, width = check_resolution(resolution)
    if not isinstance(attributes, torch.Tensor) or attributes.dim() not in (2, 3):
        raise ValueError("attributes must be a tensor of shape (B, V, C) or (V, C)")
    channels = attributes.shape[-1]
    check_tensor("attributes", attributes, ((pose.batch_size,) if attributes.dim() == 3 else ()) + (
        vertices.shape[1], None), floating=True, device=vertices.device)
    constant, image_bg = _background(background, pose.batch_size, channels, height, width, attributes)
    screen = object_to_renderer(vertices, pose)
    rast = rasterize(screen, faces, (height, width), impl=impl)
    values = interpolate(attributes, rast).permute(0, 3, 1, 2)
    mask = rast.mask.to(values.dtype)
    return RenderResult(_blend(values, mask, constant, image_bg), mask, rast)


def render_silhouette(vertices: torch.Tensor, faces: torch.Tensor, pose: Pose, resolution: int | Sequence[int],
                      sigma_inv: float = DEFAULT_SIGMA_INV, max_faces: int = DEFAULT_MAX_FACES,
                      box_expansion: float = DEFAULT_BOX_EXPANSION, impl: str = "fast") -> torch.Tensor:
    """DIB-R soft silhouette of each mesh under its pose (see ``rasterizer.soft_silhouette``).

    Args:
        vertices: (B, V, 3) float, object frame; faces: (F, 3) int64.
    Returns:
        (B, H, W) float in [0, 1], differentiable w.r.t. vertices and pose.
    """
    vertices = _check_vertices(vertices, pose)
    screen = object_to_renderer(vertices, pose)
    return soft_silhouette(screen, faces, resolution, sigma_inv=sigma_inv, max_faces=max_faces,
                           box_expansion=box_expansion, impl=impl)
