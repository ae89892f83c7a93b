"""Preview PNG of a remeshed template: four shaded views (side, front three-quarter, front, from above)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

#: (azimuth, elevation) in the §5.2 convention (elevation 90 = horizontal, above 90 = from above).
PREVIEW_VIEWS = ((0.0, 95.0), (-40.0, 110.0), (-90.0, 100.0), (0.0, 160.0))


def shaded_views(vertices: np.ndarray, resolution: int = 256) -> np.ndarray:
    """(962, 3) template -> (len(PREVIEW_VIEWS), resolution, resolution) float32 grey levels in [0, 1]
    (white background, Lambert shading by a light from the viewer's upper left)."""
    from backend.mesh import uv_sphere
    from backend.render import Pose, render_attributes, viewpoint_quaternion

    t = uv_sphere()
    faces = torch.from_numpy(np.array(t.faces))
    v = torch.from_numpy(np.asarray(vertices, np.float32))
    tri = v[faces]
    face_n = torch.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0], dim=1)
    normals = torch.zeros_like(v).index_add_(0, faces.reshape(-1), face_n.repeat_interleave(3, 0))
    normals = normals / normals.norm(dim=1, keepdim=True).clamp_min(1e-12)
    n = len(PREVIEW_VIEWS)
    az = torch.tensor([a for a, _ in PREVIEW_VIEWS], dtype=torch.float64)
    el = torch.tensor([e for _, e in PREVIEW_VIEWS], dtype=torch.float64)
    q = viewpoint_quaternion(az, el).float()
    pose = Pose(q, torch.full((n, 1), 0.9), torch.zeros(n, 2))
    from backend.render import quaternion_to_matrix

    rotation = quaternion_to_matrix(q)                            # object -> CMR camera
    cam_normals = torch.einsum("bij,vj->bvi", rotation, normals)  # (n, V, 3), z away from the viewer
    light = torch.tensor([-0.4, -0.5, -0.77])
    light = light / light.norm()
    shade = 0.25 + 0.75 * (cam_normals @ light).clamp_min(0)     # (n, V)
    out = render_attributes(v[None].expand(n, -1, -1), faces, shade[..., None], pose, resolution, background=1.0)
    return out.image[:, 0].clamp(0, 1).numpy()


def save_preview(path: str | os.PathLike, vertices: np.ndarray, resolution: int = 256) -> Path:
    """Write the four views side by side as an 8-bit grey PNG."""
    from PIL import Image

    views = shaded_views(vertices, resolution)
    strip = np.concatenate(list(views), axis=1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.round(strip * 255).astype(np.uint8)).save(path)
    return path
