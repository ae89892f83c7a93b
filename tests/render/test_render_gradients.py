"""Gradients against finite differences: the reference in float64 (torch.autograd.gradcheck), the fast
renderer (float32 kernels) by central differences on a smooth case and against the checked reference."""
import torch

from backend.render import Pose, render_attributes, render_silhouette, render_textured, soft_silhouette

from .shapes import torus

F64 = torch.float64
# A tetrahedron seen at an angle: front and back faces, silhouette edges and interior edges.
TETRA = torch.tensor([[0.0, 0.0, 0.8], [0.75, -0.4, -0.3], [-0.7, -0.45, -0.25], [0.05, 0.8, -0.3]], dtype=F64)
TETRA_FACES = torch.tensor([[0, 1, 3], [0, 3, 2], [0, 2, 1], [1, 2, 3]])
RES = 10


def _pose(z0=None):
    q = torch.tensor([[0.9, 0.2, -0.3, 0.25]], dtype=F64)
    return Pose(q / q.norm(), torch.tensor([[0.9]], dtype=F64), torch.tensor([[0.03, -0.05]], dtype=F64),
                None if z0 is None else torch.tensor([[z0]], dtype=F64))


def _check(fn, *inputs):
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-7, atol=1e-5, rtol=1e-3, nondet_tol=0)


def test_reference_soft_silhouette_vertex_gradients():
    v = TETRA[None].clone().requires_grad_(True)
    _check(lambda v: render_silhouette(v, TETRA_FACES, _pose(), RES, sigma_inv=300.0, impl="reference"), v)


def test_reference_interpolated_attribute_gradients_to_vertices_and_attributes():
    v = TETRA[None].clone().requires_grad_(True)
    colours = torch.rand(1, 4, 3, dtype=F64, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    _check(lambda v, c: render_attributes(v, TETRA_FACES, c, _pose(), RES, impl="reference").image, v, colours)


def test_reference_texture_and_pose_gradients():
    uvs = torch.tensor([[0.1, 0.2], [0.9, 0.1], [0.5, 0.95], [0.3, 0.6]], dtype=F64)
    texture = torch.rand(1, 3, 5, 6, dtype=F64, generator=torch.Generator().manual_seed(1)).requires_grad_(True)
    base = _pose(z0=1.0)
    q, s, t, z0 = (x.clone().requires_grad_(True) for x in (base.q, base.s, base.t, base.z0))

    def render(texture, q, s, t, z0):
        return render_textured(TETRA[None], TETRA_FACES, uvs, TETRA_FACES, texture, Pose(q, s, t, z0), RES,
                               impl="reference").image

    _check(render, texture, q, s, t, z0)


def test_fast_soft_silhouette_matches_central_differences():
    # Back-facing torus (mirrored winding): nothing is covered, so the silhouette is smooth everywhere.
    v, f = torus(n_major=12, n_minor=6)
    vertices = torch.from_numpy(v).float()[None] * 0.8
    faces = torch.from_numpy(f)[:, [0, 2, 1]]
    pose = Pose(torch.tensor([[0.95, 0.3, 0.0, 0.0]]), torch.ones(1, 1), torch.zeros(1, 2))
    weights = torch.randn(1, 24, 24, generator=torch.Generator().manual_seed(4))

    def loss(x):
        return (render_silhouette(x, faces, pose, 24, sigma_inv=200.0, impl="fast") * weights).sum()

    x = vertices.clone().requires_grad_(True)
    loss(x).backward()
    direction = torch.randn(vertices.shape, generator=torch.Generator().manual_seed(5))
    eps = 1e-3
    with torch.no_grad():
        numeric = (loss(vertices + eps * direction) - loss(vertices - eps * direction)) / (2 * eps)
    analytic = (x.grad * direction).sum()
    assert abs(analytic) > 1e-2  # a real signal, not 0 == 0
    assert abs(numeric - analytic) < 2e-2 * abs(analytic) + 1e-3, (numeric.item(), analytic.item())


def test_fast_gradients_match_the_checked_reference_in_float64_inputs():
    uvs = torch.tensor([[0.1, 0.2], [0.9, 0.1], [0.5, 0.95], [0.3, 0.6]], dtype=F64)
    texture = torch.rand(1, 3, 5, 6, dtype=F64, generator=torch.Generator().manual_seed(1))
    weights = torch.randn(1, 3, 16, 16, dtype=F64, generator=torch.Generator().manual_seed(2))
    grads = {}
    for impl in ("fast", "reference"):
        v = TETRA[None].clone().requires_grad_(True)
        tex = texture.clone().requires_grad_(True)
        out = render_textured(v, TETRA_FACES, uvs, TETRA_FACES, tex, _pose(), 16, impl=impl).image
        sil = soft_silhouette(v * 0.9, TETRA_FACES, 16, sigma_inv=500.0, impl=impl)
        ((out * weights).sum() + sil.sum()).backward()
        assert out.dtype == F64 and v.grad.dtype == F64
        grads[impl] = (v.grad, tex.grad)
    for a, b in zip(grads["fast"], grads["reference"]):
        assert b.abs().sum() > 0
        assert ((a - b).norm() / b.norm()).item() < 1e-4
