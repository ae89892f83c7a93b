"""Step 2b: the turned-around partner, silhouette refinement, and the augmented hypothesis set."""
import numpy as np
import torch

from backend.render import quaternion_to_matrix, viewpoint_quaternion
from training.poses.config import PRESETS
from training.poses.geometry import geodesic_degrees, turned_around
from training.poses.refine import add_refined_partners, refine_poses
from training.poses.step1 import Hypotheses

from .conftest import render_masks


def _views(azimuths, elevations):
    return viewpoint_quaternion(torch.tensor(azimuths, dtype=torch.float64),
                                torch.tensor(elevations, dtype=torch.float64)).float()


def _rotate_about_z(q, degrees):
    """q ⊗ (rotation by ``degrees`` about the object's vertical axis)."""
    half = np.radians(degrees) / 2
    r = torch.tensor([np.cos(half), 0.0, 0.0, np.sin(half)], dtype=q.dtype)
    w1, x1, y1, z1 = q.unbind(-1)
    w2, x2, y2, z2 = r
    return torch.stack([w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2, w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
                        w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2, w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2], dim=-1)


def test_turned_around_is_the_object_turned_about_its_vertical_axis():
    q = _views([30.0, 200.0], [100.0, 70.0])
    rz = torch.tensor([[-1.0, 0, 0], [0, -1.0, 0], [0, 0, 1.0]], dtype=torch.float64)
    got = quaternion_to_matrix(turned_around(q).double())
    want = quaternion_to_matrix(q.double()) @ rz
    assert torch.allclose(got, want, atol=1e-6)
    assert np.allclose(geodesic_degrees(turned_around(q).numpy(), q.numpy()), 180.0, atol=1e-3)
    assert torch.allclose(_rotate_about_z(q, 180.0).abs(), turned_around(q).abs(), atol=1e-6)


def test_refinement_brings_a_perturbed_pose_back(car_template, faces):
    q_true = _views([35.0, 140.0], [100.0, 110.0])
    s_true = torch.tensor([0.8, 0.85])
    t_true = torch.tensor([[0.03, -0.02], [-0.04, 0.01]])
    masks = render_masks(car_template[0], faces, q_true, s_true, t_true, 128)
    q0 = _rotate_about_z(q_true, 9.0)
    start = geodesic_degrees(q0.numpy(), q_true.numpy())
    config = PRESETS["cpu"].replace(refine_steps=20)
    vertices = car_template[0][None, None].expand(2, 1, -1, -1)
    q, s, t, z0, iou = refine_poses(q0[:, None], (s_true * 1.05)[:, None, None], torch.zeros(2, 1, 2),
                                    torch.full((2, 1, 1), 4.0), vertices, faces, masks, config)
    err = geodesic_degrees(q[:, 0].numpy(), q_true.numpy())
    assert err.mean() < start.mean() / 2 and (err < 7.0).all(), (start, err)   # 128² silhouettes: a few degrees
    assert torch.allclose(t[:, 0], t_true, atol=0.02)
    assert (iou[:, 0] > 0.9).all()
    assert q.shape == (2, 1, 4) and s.shape == (2, 1, 1) and z0.shape == (2, 1, 1)


def test_partner_column_lands_on_the_side_that_was_missing(car_template, faces):
    """Every hypothesis of the image shows the car from the wrong end; the added partner recovers the truth."""
    q_true = _views([40.0], [105.0])
    masks = render_masks(car_template[0], faces, q_true, torch.tensor([0.8]), torch.zeros(1, 2), 128)
    wrong = torch.stack([_rotate_about_z(turned_around(q_true), a) for a in (6.0, -20.0, 40.0)], dim=1)  # (1, 3, 4)
    hyp = Hypotheses(wrong, torch.full((1, 3, 1), 0.8), torch.zeros(1, 3, 2), torch.full((1, 3, 1), 4.0),
                     torch.ones(1, 3, 1), torch.tensor([[0.8, 0.7, 0.6]]))
    config = PRESETS["cpu"].replace(refine_steps=20)
    reported = []
    aug = add_refined_partners(hyp, torch.tensor([0]), lambda idx: masks[idx], car_template, faces, config,
                               progress=reported.append)
    assert reported == [1]                                            # one chunk of one image
    assert aug.q.shape == (1, 4, 4) and aug.w.shape == (1, 4, 1) and aug.iou.shape == (1, 4)
    err = geodesic_degrees(aug.q[0].numpy(), q_true[[0, 0, 0, 0]].numpy())
    assert err[3] < 5.0, err                                          # the partner: the right end, refined
    assert err[0] > 160.0                                             # the chosen one stays on its side
    assert torch.equal(aug.q[:, 1:3], hyp.q[:, 1:3])                 # the others are untouched
    assert aug.iou[0, 3] > 0.9
