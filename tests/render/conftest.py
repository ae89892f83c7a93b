"""Fixtures for the renderer tests: the project template, test-made shapes, random poses."""
import numpy as np
import pytest
import torch

from backend.mesh import uv_sphere
from backend.render import Pose, random_view_poses

from .shapes import deformed_sphere_vertices


@pytest.fixture(scope="session")
def sphere():
    """The 962-vertex / 1920-face template as tensors: vertices, faces, uvs, face_uvs."""
    t = uv_sphere()
    return (torch.from_numpy(np.array(t.vertices)), torch.from_numpy(np.array(t.faces)),
            torch.from_numpy(np.array(t.uvs)), torch.from_numpy(np.array(t.face_uvs)))


def random_poses(count: int, seed: int, perspective: bool = False, dtype=torch.float32) -> Pose:
    """Random rotations (uniform quaternions), scale 0.6-0.9, small translations, optional z0."""
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(count, 4, generator=g, dtype=torch.float64)
    q = q / q.norm(dim=1, keepdim=True)
    s = 0.6 + 0.3 * torch.rand(count, 1, generator=g, dtype=torch.float64)
    t = 0.2 * (torch.rand(count, 2, generator=g, dtype=torch.float64) - 0.5)
    z0 = (1.0 + torch.rand(count, 1, generator=g, dtype=torch.float64)) if perspective else None
    pose = Pose(q, s, t, z0)
    return pose.to("cpu", dtype)


@pytest.fixture(scope="session")
def random_meshes(sphere):
    """(2, 962, 3) float32 deformed spheres (smooth random radial bumps) and their poses."""
    vertices = torch.stack([deformed_sphere_vertices(sphere[0], seed) for seed in range(2)]).float()
    return vertices, random_poses(2, seed=11)


__all__ = ["random_poses", "random_view_poses"]
