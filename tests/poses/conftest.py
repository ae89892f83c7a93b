"""Shared fixtures: the shipped template, faces, masks rendered at known poses."""
import numpy as np
import pytest
import torch

from backend.mesh import uv_sphere


@pytest.fixture(scope="session")
def faces():
    return torch.from_numpy(np.array(uv_sphere().faces))


@pytest.fixture(scope="session")
def car_template():
    from training.templates import load_templates

    return torch.from_numpy(load_templates("car").vertices)


def render_masks(vertices, faces, q, s, t, side):
    """Hard masks (N, side, side) float of one template (V, 3) under N poses (q (N, 4), s (N,), t (N, 2))."""
    from backend.render import Pose, object_to_renderer, rasterize

    n = q.shape[0]
    pose = Pose(q.float(), s.reshape(n, 1).float(), t.reshape(n, 2).float())
    screen = object_to_renderer(vertices[None].expand(n, -1, -1).contiguous(), pose)
    return rasterize(screen, faces, side).mask.float()
