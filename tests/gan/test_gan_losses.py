"""Masked hinge losses and the flat regulariser on hand-computed cases (§4.1)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from backend.mesh import uv_sphere
from training.gan import flat_loss, hinge_d_fake, hinge_d_real, hinge_g, virtual_mirror
from training.gan.losses import combine


def test_hinge_terms_by_hand():
    y = torch.tensor([[[[2.0, 0.5], [-1.5, 0.0]]]])   # (1, 1, 2, 2)
    m = torch.tensor([[[[1.0, 1.0], [0.0, 0.5]]]])
    # real: relu(1 - y) = [0, 0.5, 2.5, 1] -> (0 + 0.5 + 0 + 0.5) / 2.5
    assert float(hinge_d_real(y, m)) == pytest.approx(1.0 / 2.5)
    # fake: relu(1 + y) = [3, 1.5, 0, 1] -> (3 + 1.5 + 0 + 0.5) / 2.5
    assert float(hinge_d_fake(y, m)) == pytest.approx(5.0 / 2.5)
    # G: -(2 + 0.5 + 0 + 0) / 2.5
    assert float(hinge_g(y, m)) == pytest.approx(-2.5 / 2.5)


def test_batch_mean_of_per_sample_normalised_terms_and_empty_masks():
    y = torch.tensor([0.0, 0.0]).reshape(2, 1, 1, 1)
    m = torch.tensor([1.0, 0.0]).reshape(2, 1, 1, 1)   # the second sample is invisible: contributes 0
    assert float(hinge_d_real(y, m)) == pytest.approx(0.5)
    outputs = [(torch.full((1, 1, 2, 2), 3.0), torch.ones(1, 1, 2, 2)), (torch.zeros(1, 1, 1, 1), torch.ones(1, 1, 1, 1))]
    assert float(combine(outputs, [2 / 3, 1 / 3], hinge_g)) == pytest.approx(-2.0)


def test_flat_loss_is_zero_for_a_plane_and_grows_with_creases():
    t = uv_sphere()
    faces = torch.from_numpy(np.array(t.faces))
    adj = torch.from_numpy(np.array(t.face_adjacency))
    sphere = torch.from_numpy(np.array(t.vertices)).float()[None]
    base = float(flat_loss(sphere, faces, adj))
    # By hand: (F / 2) * sum_i mean_f (<n_f, n_adj_i> - 1)^2 with the normals computed explicitly.
    v = sphere[0].double()
    n = torch.cross(v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]], dim=-1)
    n = n / n.norm(dim=-1, keepdim=True)
    manual = faces.shape[0] / 2 * sum((((n * n[adj[:, i]]).sum(-1) - 1) ** 2).mean() for i in range(3))
    assert base == pytest.approx(float(manual), rel=1e-4)
    bumpy = sphere * (1 + 0.2 * torch.rand(1, sphere.shape[1], 1, generator=torch.Generator().manual_seed(0)))
    assert float(flat_loss(bumpy, faces, adj)) > 10 * base


def test_virtual_mirror_is_identity_on_symmetric_maps_and_an_involution():
    from backend.models import mirror_half_width

    half = torch.randn(2, 3, 8, 8)
    full = mirror_half_width(half)
    assert torch.equal(virtual_mirror(full), full)
    x = torch.randn(2, 3, 8, 16)
    assert torch.equal(virtual_mirror(virtual_mirror(x)), x)
    assert not torch.equal(virtual_mirror(x), x)
