"""Step 1: initial views, AdamFull against explicit formulas, gradients against finite differences, and a
rendered car with a known pose that must come back within a few degrees (up to its silhouette twin)."""
import numpy as np
import torch

from training.poses.config import PRESETS
from training.poses.geometry import agreement_score, complementary_score, geodesic_degrees, twin_quaternion
from training.poses.optim import AdamFull
from training.poses.step1 import brick_wall, fit_hypotheses, initial_rotations, initial_scales, mask_iou

from .conftest import render_masks


def test_initial_views_and_scales(car_template):
    q = initial_rotations()
    assert q.shape == (40, 4) and torch.allclose(q.norm(dim=1), torch.ones(40))
    # azimuth 0, elevation 90: the horizontal side view of §5.2 (object +z is image-up = camera -y)
    from backend.render import quaternion_to_matrix

    side = quaternion_to_matrix(q[2:3])[0]
    assert torch.allclose(side @ torch.tensor([0.0, 0.0, 1.0]), torch.tensor([0.0, -1.0, 0.0]), atol=1e-6)
    s = initial_scales(car_template, q)
    projected = torch.einsum("rij,vj->rvi", quaternion_to_matrix(q)[:, :2], car_template[0]) * s[0][:, None, None]
    assert torch.allclose(projected.abs().amax(dim=(1, 2)), torch.full((40,), 0.9), atol=1e-5)


def test_adamfull_matches_explicit_formula():
    torch.manual_seed(0)
    opt = AdamFull(3, 8, lr=0.1)
    g1 = torch.randn(3, 8, dtype=torch.float64)
    u1 = opt.step(g1)
    # first step: (A + εI)^(-1/2) m with A rank one gives exactly lr · g / |g|
    assert torch.allclose(u1, -0.1 * g1 / g1.norm(dim=1, keepdim=True), atol=1e-6)
    g2 = torch.randn(3, 8, dtype=torch.float64)
    u2 = opt.step(g2)
    m = 0.9 * 0.1 * g1 + 0.1 * g2
    a = 0.95 * 0.05 * g1[:, :, None] * g1[:, None] + 0.05 * g2[:, :, None] * g2[:, None]
    for i in range(3):
        w, v = np.linalg.eigh(a[i].numpy() + 1e-8 * np.eye(8))
        inv_sqrt = v @ np.diag(np.maximum(w, 1e-8) ** -0.5) @ v.T
        expected = -0.1 / (1 - 0.9 ** 2) * np.sqrt(1 - 0.95 ** 2) * inv_sqrt @ m[i].numpy()
        assert np.allclose(u2[i].numpy(), expected, rtol=1e-5, atol=1e-8)


def test_adamfull_solves_an_ill_conditioned_quadratic():
    # f(x) = ½ (x - x*)ᵀ H (x - x*), condition number 1e4, rotated: a diagonal Adam crawls, AdamFull does not
    torch.manual_seed(1)
    basis, _ = torch.linalg.qr(torch.randn(8, 8, dtype=torch.float64))
    h = basis @ torch.diag(torch.logspace(0, 4, 8, dtype=torch.float64)) @ basis.T
    target = torch.randn(8, dtype=torch.float64)
    x = torch.zeros(1, 8, dtype=torch.float64)
    opt = AdamFull(1, 8, lr=0.05)
    start = float(0.5 * (x[0] - target) @ h @ (x[0] - target))
    for step in range(300):
        if step == 200:
            opt.lr *= 0.1
        x = x + opt.step(((x[0] - target) @ h)[None])
    end = float(0.5 * (x[0] - target) @ h @ (x[0] - target))
    assert end < 1e-3 * start


def test_objective_gradient_matches_finite_differences(car_template, faces):
    """The step-1 loss (soft-silhouette MSE + brick wall) w.r.t. the 8 pose parameters, reference renderer,
    float64, central differences."""
    from backend.render import Pose, object_to_renderer, render_silhouette

    target = render_masks(car_template[0], faces, initial_rotations()[17:18], torch.tensor([0.8]),
                          torch.tensor([[0.05, -0.02]]), 24).double()
    params = torch.tensor([[0.62, 0.41, -0.38, 0.55, 0.95, 0.1, 0.05, 1.5]], dtype=torch.float64)
    vertices = car_template.double()

    def loss(p):
        pose = Pose(p[:, :4], p[:, 4:5], p[:, 5:7], p[:, 7:8])
        sil = render_silhouette(vertices, faces, pose, 24, sigma_inv=300.0, impl="reference")
        return (sil - target).square().mean() + brick_wall(object_to_renderer(vertices, pose)).sum()

    p = params.clone().requires_grad_(True)
    loss(p).backward()
    eps = 1e-5
    numeric = torch.zeros(8, dtype=torch.float64)
    for i in range(8):
        d = torch.zeros_like(params)
        d[0, i] = eps
        numeric[i] = (loss(params + d) - loss(params - d)) / (2 * eps)
    assert torch.allclose(p.grad[0], numeric, rtol=2e-3, atol=1e-7), (p.grad[0], numeric)
    assert float(loss(params)) > 0 and brick_wall(object_to_renderer(vertices * 3, Pose(
        params[:, :4], params[:, 4:5], params[:, 5:7], None))).item() > 0


def test_rendered_car_comes_back(car_template, faces):
    from backend.render import viewpoint_quaternion

    q_true = viewpoint_quaternion(torch.tensor([30.0, 125.0], dtype=torch.float64),
                                  torch.tensor([105.0, 110.0], dtype=torch.float64)).float()
    masks = render_masks(car_template[0], faces, q_true, torch.tensor([0.85, 0.8]),
                         torch.tensor([[0.03, -0.04], [-0.05, 0.02]]), 128)
    config = PRESETS["cpu"].replace(steps=30, lr_decay_after=24, resolutions=((0, 64), (15, 96)))
    hyp = fit_hypotheses(masks, car_template, faces, config)
    assert hyp.q.shape == (2, 10, 4) and hyp.w.shape == (2, 10, 1)   # cpu preset: 40 halved twice
    best = hyp.best()
    q_best = hyp.q[torch.arange(2), best]
    err = geodesic_degrees(q_best.numpy(), q_true.numpy())
    twin = geodesic_degrees(twin_quaternion(q_best).numpy(), q_true.numpy())
    assert (np.minimum(err, twin) < 5).all(), (err, twin)
    assert (hyp.iou.max(1).values > 0.9).all()
    s_best = hyp.s[torch.arange(2), best, 0]
    assert torch.allclose(s_best, torch.tensor([0.85, 0.8]), rtol=0.06)


def test_scores():
    q = initial_rotations()
    side = q[2]                                        # exact side view: its own twin
    assert float(complementary_score(side)) > 0.999
    assert float(complementary_score(q[4])) < 0.6       # from above: ambiguous
    iou = torch.tensor([[0.9, 0.9, 0.1], [0.95, 0.1, 0.1]])
    qs = torch.stack([torch.stack([q[0], twin_quaternion(q[0]), q[3]]), torch.stack([q[0], q[1], q[2]])])
    v = agreement_score(iou, qs)
    assert v[1] < 0.01 < v[0]                          # two equally good but different rotations disagree
    assert torch.allclose(mask_iou(torch.ones(1, 4, 4), torch.ones(1, 4, 4)), torch.ones(1))
