"""Differentiable renderer with the semantics of kaolin v0.1 DIB-R (§6.3) and the camera of §6.2.

Public API (details, conventions and measured speed in docs/rendering.md)::

    from backend.render import Pose, render_textured, render_attributes, render_silhouette

    pose = Pose(q=(B,4) w,x,y,z, s=(B,1), t=(B,2), z0=None or (B,1))
    out = render_textured(vertices (B,V,3), faces (F,3), uvs (U,2), face_uvs (F,3), texture (B,3,T,T),
                          pose, resolution=256, background=None, impl="fast")
    out.image (B,3,H,W), out.mask (B,H,W), out.rasterization
    sil = render_silhouette(vertices, faces, pose, 128)          # (B,H,W) soft silhouette, σ⁻¹ = 7000

Lower level (renderer-frame vertices, nvdiffrast style): ``object_to_renderer``, ``rasterize``, ``interpolate``,
``sample_texture``, ``soft_silhouette``. Every function takes ``impl="fast"`` (NVIDIA Warp kernels, CPU or
CUDA) or ``impl="reference"`` (dense plain PyTorch, the oracle; small images only).

Importing this package does not import Warp; the first fast render does (and JIT-compiles the kernels into
WARP_CACHE_PATH on first use).
"""
from .camera import (Pose, axis_angle_quaternion, mirror_pose, object_to_renderer, perspective_distance,
                     quaternion_multiply, quaternion_to_matrix, random_view_poses, viewpoint_quaternion)
from .rasterizer import (DEFAULT_BOX_EXPANSION, DEFAULT_MAX_FACES, DEFAULT_SIGMA_INV, IMPLEMENTATIONS,
                         Rasterization, interpolate, rasterize, soft_silhouette)
from .renderer import RenderResult, render_attributes, render_silhouette, render_textured
from .texture import sample_texture

__all__ = [
    "Pose", "axis_angle_quaternion", "mirror_pose", "object_to_renderer", "perspective_distance",
    "quaternion_multiply", "quaternion_to_matrix", "random_view_poses", "viewpoint_quaternion",
    "DEFAULT_BOX_EXPANSION", "DEFAULT_MAX_FACES", "DEFAULT_SIGMA_INV", "IMPLEMENTATIONS",
    "Rasterization", "interpolate", "rasterize", "soft_silhouette",
    "RenderResult", "render_attributes", "render_silhouette", "render_textured", "sample_texture",
]
