"""Displacement-map sampling (§2.4): symmetry, radial scaling, poles, and equivalence with the original trick."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from backend.mesh import displacement_to_vertices, uv_sphere


def _mirror(t, verts):
    return verts[:, torch.as_tensor(np.array(t.mirror_index))] * torch.tensor([-1.0, 1.0, 1.0])


@pytest.mark.parametrize("rings", [31, 16])
def test_random_maps_give_mirror_symmetric_meshes(rings):
    t = uv_sphere(rings)
    disp = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 0.3
    verts = displacement_to_vertices(t, disp)
    assert verts.shape == (3, t.num_vertices, 3) and verts.dtype == torch.float32
    torch.testing.assert_close(_mirror(t, verts), verts, atol=1e-6, rtol=0)
    assert torch.all(verts[:, torch.as_tensor(np.array(t.plane_indices)), 0].abs() < 1e-6)
    assert (verts - torch.as_tensor(np.array(t.vertices))).abs().max() > 0.1     # the map did move the vertices


def test_non_symmetric_mode_reads_every_vertex():
    t = uv_sphere(31)
    disp = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2)) * 0.3
    verts = displacement_to_vertices(t, disp, symmetric=False)
    assert (_mirror(t, verts) - verts).abs().max() > 1e-2
    # a vertex at u = j/32 on ring k reads column j, row 31 - k exactly: check the radial offset
    j, k = 5, 10
    index = 1 + (k - 1) * 32 + j
    radial = (verts[:, index] * torch.as_tensor(np.array(t.vertices)[index])).sum(-1) - 1
    torch.testing.assert_close(radial, disp[:, 0, 31 - k, j], atol=1e-5, rtol=0)


@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("d", [-0.4, 0.0, 0.25])
def test_constant_radial_displacement_scales_sphere(d, symmetric):
    t = uv_sphere(31)
    disp = torch.zeros(1, 3, 32, 32, dtype=torch.float64)
    disp[:, 0] = d
    verts = displacement_to_vertices(t, disp, symmetric=symmetric)
    assert verts.dtype == torch.float64
    expected = torch.as_tensor(np.array(t.vertices), dtype=torch.float64) * (1 + d)
    torch.testing.assert_close(verts[0], expected, atol=1e-6, rtol=0)


def test_poles_move_only_radially():
    t = uv_sphere(31)
    disp = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    verts = displacement_to_vertices(t, disp)
    for pole in (t.south_pole, t.north_pole):
        assert torch.all(verts[:, pole, [0, 2]].abs() < 1e-6)
    # tangent components alone leave the poles in place
    disp[:, 0] = 0
    verts = displacement_to_vertices(t, disp)
    torch.testing.assert_close(verts[:, [t.south_pole, t.north_pole]],
                               torch.tensor([[0.0, -1.0, 0.0], [0.0, 1.0, 0.0]]).expand(4, 2, 3))


def test_tangent_frame_directions():
    """d1 moves a vertex along n × (0,1,0), d2 along n × t (here: checked on the +z top line)."""
    t = uv_sphere(31)
    k, j = 15, 8                                    # u = 0.25: the +z top centre line, near the equator
    index = 1 + (k - 1) * 32 + j
    n = t.vertices[index] / np.linalg.norm(t.vertices[index])
    tangent = np.cross(n, [0, 1, 0]); tangent /= np.linalg.norm(tangent)
    bitangent = np.cross(n, tangent)
    for channel, direction in ((1, tangent), (2, bitangent)):
        disp = torch.zeros(1, 3, 32, 32, dtype=torch.float64)
        disp[:, channel] = 0.1
        moved = displacement_to_vertices(t, disp, symmetric=False)[0, index].numpy() - t.vertices[index]
        np.testing.assert_allclose(moved, 0.1 * direction, atol=1e-6)


@pytest.mark.parametrize("rings", [31, 16])
def test_matches_original_circular_pad_grid_sample(rings):
    """Independent oracle: the original's 1-column circular pad + remapped gx + grid_sample(align_corners=True)."""
    t = uv_sphere(rings)
    disp = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    padded = torch.cat([disp[..., -1:], disp, disp[..., :1]], dim=-1)
    grid = torch.as_tensor(np.array(t.vertex_grid), dtype=torch.float64)[torch.as_tensor(np.array(t.positive_indices))]
    delta, e = 1 / 64, 33 / 32
    gx = (grid[:, 0] + 1 + 2 * delta - e) / e
    sample_grid = torch.stack([gx, grid[:, 1]], -1)[None, None].expand(2, 1, -1, -1)
    samples = F.grid_sample(padded, sample_grid, mode="bilinear", align_corners=True)[:, :, 0]   # (B, 3, P)
    # rebuild vertices from these samples with the same frames and mirroring rules
    v = torch.as_tensor(np.array(t.vertices), dtype=torch.float64)
    pos = torch.as_tensor(np.array(t.positive_indices))
    n = v[pos] / v[pos].norm(dim=1, keepdim=True)
    tan = torch.linalg.cross(n, torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64).expand_as(n))
    tan = torch.where(tan.norm(dim=1, keepdim=True) > 1e-8, tan / tan.norm(dim=1, keepdim=True).clamp_min(1e-12), 0)
    bit = torch.linalg.cross(n, tan)
    offset = samples[:, 0, :, None] * n + samples[:, 1, :, None] * tan + samples[:, 2, :, None] * bit
    expected = v.expand(2, -1, -1).clone()
    expected[:, pos] += offset
    negative = torch.as_tensor(np.flatnonzero(t.vertices[:, 0] < -1e-6))
    partner_offset = expected[:, torch.as_tensor(np.array(t.mirror_index))[negative]] - v[torch.as_tensor(np.array(t.mirror_index))[negative]]
    expected[:, negative] = v[negative] + partner_offset * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)
    plane = torch.as_tensor(np.array(t.plane_indices))
    expected[:, plane, 0] = v[plane, 0]
    torch.testing.assert_close(displacement_to_vertices(t, disp), expected, atol=1e-10, rtol=0)


def test_gradients_flow_and_bad_shapes_are_rejected():
    t = uv_sphere(31)
    disp = torch.zeros(1, 3, 32, 32, requires_grad=True)
    displacement_to_vertices(t, disp).sum().backward()
    assert disp.grad is not None and disp.grad.abs().sum() > 0
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        displacement_to_vertices(t, torch.zeros(1, 2, 32, 32))
    with pytest.raises(TypeError, match="float"):
        displacement_to_vertices(t, torch.zeros(1, 3, 32, 32, dtype=torch.int64))


def test_plan_cached_under_inference_mode_still_supports_autograd():
    """The server samples under torch.inference_mode(); training later needs gradients through the same cache."""
    from backend.mesh import displacement as module

    template = uv_sphere(31)
    module._PLANS.clear()
    with torch.inference_mode():
        displacement_to_vertices(template, torch.zeros(1, 3, 32, 32, dtype=torch.float64))
    disp = torch.zeros(1, 3, 32, 32, dtype=torch.float64, requires_grad=True)
    displacement_to_vertices(template, disp).sum().backward()
    assert disp.grad is not None and torch.isfinite(disp.grad).all() and disp.grad.abs().sum() > 0
