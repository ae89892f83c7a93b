"""Image -> UV texture through a posed mesh (§1.3 steps 2-4): visibility, inverse rendering, alpha.

For a batch of meshes on the sphere topology, each with its pose and its masked image crop:

1. **Visibility** from render gradients: render the mesh textured with a probe texture at ``visibility_resolution``
   and back-propagate the summed render; texels with a non-zero gradient are seen by some pixel (the paper's rule,
   which includes the bilinear footprint of every visible sample).
2. **Inverse rendering**: rasterise the UV layout as a 2D mesh (vertex position = its UV, faces = ``face_uvs``),
   interpolate the 3D surface point of every texel, project it with the pose and sample the image (bilinear).
3. **Alpha** = visibility x image mask at the projected point x UV coverage; the texture is zero where alpha is 0.

Texel centres follow the renderer's texture convention (``backend.render.texture``): column j is u = (j + 0.5) / W,
row i is v = 1 - i / (H - 1), so a texture projected here and rendered back lands where it was read.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from backend.mesh import MeshTemplate, uv_sphere
from backend.render import Pose, object_to_renderer, rasterize, interpolate, render_textured


def _template_tensors(template: MeshTemplate, device: torch.device):
    faces = torch.as_tensor(np.array(template.faces), dtype=torch.int64, device=device)
    uvs = torch.as_tensor(np.array(template.uvs), dtype=torch.float32, device=device)
    face_uvs = torch.as_tensor(np.array(template.face_uvs), dtype=torch.int64, device=device)
    uv_vertex = torch.as_tensor(np.array(template.uv_vertex_index), dtype=torch.int64, device=device)
    return faces, uvs, face_uvs, uv_vertex


def uv_surface_points(vertices: torch.Tensor, resolution: int, template: MeshTemplate | None = None,
                      impl: str = "fast") -> tuple[torch.Tensor, torch.Tensor]:
    """The 3D surface point under every texel.

    vertices: (B, V, 3) object-frame vertices on the template's topology.
    Returns (points (B, T, T, 3), coverage (B, T, T) float {0, 1}: the texel lies inside the UV layout).
    """
    template = template or uv_sphere()
    device = vertices.device
    _, uvs, face_uvs, uv_vertex = _template_tensors(template, device)
    t = resolution
    screen = torch.stack([2 * uvs[:, 0] - 1, (2 * uvs[:, 1] - 1) * (t - 1) / t, torch.zeros_like(uvs[:, 0])], 1)
    batch = vertices.shape[0]
    rast = rasterize(screen[None].expand(batch, -1, -1).contiguous(), face_uvs, t, impl=impl)
    points = interpolate(vertices[:, uv_vertex].to(torch.float32), rast)
    return points, rast.mask


def visibility(vertices: torch.Tensor, pose: Pose, texture_resolution: int, render_resolution: int,
               template: MeshTemplate | None = None, impl: str = "fast") -> torch.Tensor:
    """(B, 1, T, T) float {0, 1}: texels that contribute to the hard render at ``render_resolution``."""
    template = template or uv_sphere()
    faces, uvs, face_uvs, _ = _template_tensors(template, vertices.device)
    probe = torch.zeros(vertices.shape[0], 3, texture_resolution, texture_resolution, device=vertices.device,
                        requires_grad=True)
    with torch.enable_grad():
        out = render_textured(vertices.detach().float(), faces, uvs, face_uvs, probe, pose, render_resolution,
                              impl=impl)
        out.image.sum().backward()
    return (probe.grad.abs().sum(1, keepdim=True) > 0).float()


def project_to_uv(vertices: torch.Tensor, pose: Pose, image: torch.Tensor, mask: torch.Tensor,
                  texture_resolution: int, render_resolution: int | None = None,
                  template: MeshTemplate | None = None, impl: str = "fast") -> tuple[torch.Tensor, torch.Tensor]:
    """Partial UV texture of each image seen through its posed mesh.

    vertices: (B, V, 3) float, object frame, template topology. pose: B poses in the image's normalised frame.
    image: (B, 3, H, W) float in [-1, 1]. mask: (B, 1, H, W) float in [0, 1].
    texture_resolution: T. render_resolution: visibility render size (default 8 T, the paper's ratio).
    Returns (texture (B, 3, T, T) in [-1, 1], 0 where alpha is 0; alpha (B, 1, T, T) in [0, 1]).
    """
    template = template or uv_sphere()
    render_resolution = render_resolution or 8 * texture_resolution
    vertices = vertices.float()
    with torch.no_grad():
        points, coverage = uv_surface_points(vertices, texture_resolution, template, impl)
        batch, t = points.shape[0], texture_resolution
        screen = object_to_renderer(points.reshape(batch, t * t, 3), pose).reshape(batch, t, t, 3)
        # Renderer frame: x right, y up, pixel centres at align_corners=False positions; grid_sample's y points down.
        grid = torch.stack([screen[..., 0], -screen[..., 1]], dim=-1)
        colour = F.grid_sample(image.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        inside = F.grid_sample(mask.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    seen = visibility(vertices, pose, t, render_resolution, template, impl)
    alpha = (seen * inside * coverage[:, None]).clamp(0, 1)
    texture = colour * (alpha > 0).float()
    return texture, alpha
