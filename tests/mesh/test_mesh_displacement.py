"""Displacement-map sampling (§2.4): symmetry, radial scaling, poles, and equivalence with the original trick."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from backend.mesh import displacement_to_vertices, tangent_frames, uv_sphere
from backend.mesh.displacement import frame_points


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


# The original uvsphere_31rings.obj's poles, as the file writes them (north +y, south -y).
FILE_NORTH, FILE_SOUTH = (-0.000001, 1.0, 0.000001), (0.0, -1.0, 0.000001)


def _original_frames(points: torch.Tensor) -> torch.Tensor:
    """The original formula in torch: n = normalize(p), t = normalize(n x (0,1,0)), b = n x t -> (N, 3, 3)."""
    n = F.normalize(points, dim=1)
    t = F.normalize(torch.linalg.cross(n, torch.tensor([[0.0, 1.0, 0.0]], dtype=points.dtype).expand_as(n)), dim=1)
    return torch.stack([n, t, torch.linalg.cross(n, t)], dim=1)


def test_pole_frames_are_the_originals_on_the_original_file_coordinates():
    """Regression (issue 14): the released models were trained with definite pole frames, not t = b = 0."""
    t = uv_sphere(31)
    expected = _original_frames(torch.tensor([FILE_NORTH, FILE_SOUTH], dtype=torch.float32)).double().numpy()
    ours = tangent_frames(frame_points(t)[[t.north_pole, t.south_pole]])
    np.testing.assert_allclose(ours, expected, atol=1e-6)
    a = 1 / np.sqrt(2)
    np.testing.assert_allclose(ours[0, 1:], [[-a, 0, -a], [-a, 0, a]], atol=1e-5)     # north t, b
    np.testing.assert_allclose(ours[1, 1:], [[-1, 0, 0], [0, 0, -1]], atol=1e-5)      # south t, b
    # the mesh itself keeps exact poles; every other vertex's frame is built from its own position
    np.testing.assert_array_equal(t.vertices[[t.north_pole, t.south_pole]], [[0, 1, 0], [0, -1, 0]])
    others = np.setdiff1d(np.arange(t.num_vertices), [t.north_pole, t.south_pole])
    np.testing.assert_array_equal(frame_points(t)[others], t.vertices[others].astype(np.float64))


def test_tangent_channels_move_the_31_ring_poles_sideways_as_the_original():
    t = uv_sphere(31)
    a = 1 / np.sqrt(2)
    for channel, north_z, south_z in ((1, -0.3 * a, 0.0), (2, 0.3 * a, -0.3)):
        disp = torch.zeros(1, 3, 32, 32, dtype=torch.float64)
        disp[:, channel] = 0.3
        poles = displacement_to_vertices(t, disp)[0, [t.north_pole, t.south_pole]].numpy()
        np.testing.assert_allclose(poles, [[0, 1, north_z], [0, -1, south_z]], atol=1e-6)   # x zeroed on the plane


def test_16_ring_poles_move_only_radially():
    """No original file coordinates are known for the 16-ring sphere: exact poles, t = b = 0 there."""
    t = uv_sphere(16)
    disp = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(3))
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
    """Independent oracle, the whole original pipeline: the file's pole coordinates (31 rings), torch's normalize,
    the 1-column circular pad + remapped gx + grid_sample(align_corners=True), mirroring and the symmetry mask.
    Every vertex must match within 1e-4 (issue 14); in fact only the file's 1e-6 pole offsets differ."""
    t = uv_sphere(rings)
    disp = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    disp[:, :, [0, -1]] = disp[:, :, [0, -1]].mean(dim=-1, keepdim=True)      # pole averaging, as the generator does
    padded = torch.cat([disp[..., -1:], disp, disp[..., :1]], dim=-1)
    grid = torch.as_tensor(np.array(t.vertex_grid), dtype=torch.float64)[torch.as_tensor(np.array(t.positive_indices))]
    delta, e = 1 / 64, 33 / 32
    gx = (grid[:, 0] + 1 + 2 * delta - e) / e
    sample_grid = torch.stack([gx, grid[:, 1]], -1)[None, None].expand(2, 1, -1, -1)
    samples = F.grid_sample(padded, sample_grid, mode="bilinear", align_corners=True)[:, :, 0]   # (B, 3, P)
    # the original's rest mesh: the file's vertices (float32), poles included
    v = torch.as_tensor(np.array(t.vertices), dtype=torch.float32)
    if rings == 31:
        v[t.north_pole], v[t.south_pole] = torch.tensor(FILE_NORTH), torch.tensor(FILE_SOUTH)
    pos = torch.as_tensor(np.array(t.positive_indices))
    frames = _original_frames(v)[pos].double()                                  # float32 as the original, (P, 3, 3)
    offsets = torch.einsum("bcp,pcx->bpx", samples, frames)
    deltas = torch.zeros(2, t.num_vertices, 3, dtype=torch.float64)
    deltas[:, pos] = offsets
    negative = torch.as_tensor(np.flatnonzero(t.vertices[:, 0] < -1e-4))
    deltas[:, negative] = deltas[:, torch.as_tensor(np.array(t.mirror_index))[negative]] * torch.tensor(
        [-1.0, 1.0, 1.0], dtype=torch.float64)
    deltas[:, torch.as_tensor(np.array(t.plane_indices)), 0] = 0
    expected = v.double() + deltas
    ours = displacement_to_vertices(t, disp)
    torch.testing.assert_close(ours, expected, atol=1e-4, rtol=0)
    poles = [t.north_pole, t.south_pole]
    assert (ours[:, poles] - torch.as_tensor(np.array(t.vertices))[poles]).abs().max() > 0.01   # they do move
    others = torch.as_tensor(np.setdiff1d(np.arange(t.num_vertices), poles))
    torch.testing.assert_close(ours[:, others], expected[:, others], atol=1e-6, rtol=0)


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
