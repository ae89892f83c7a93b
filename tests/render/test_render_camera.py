"""Camera of §6.2: frames, perspective warp, mirroring, the §5.2 view construction."""
import math

import torch

from backend.render import Pose, mirror_pose, object_to_renderer, quaternion_to_matrix, viewpoint_quaternion


def _pose(q, s=1.0, t=(0.0, 0.0), z0=None):
    return Pose(torch.tensor([q], dtype=torch.float64), torch.tensor([[s]], dtype=torch.float64),
                torch.tensor([t], dtype=torch.float64), None if z0 is None else torch.tensor([[z0]], dtype=torch.float64))


def test_identity_pose_maps_to_renderer_frame_x_minus_y_minus_z():
    v = torch.tensor([[[0.1, 0.2, 0.3]]], dtype=torch.float64)
    out = object_to_renderer(v, _pose([1.0, 0, 0, 0], s=2.0, t=(0.05, -0.1)))
    # camera: 2v + (tx, ty, 0) = (0.25, 0.3, 0.6); renderer: (x, -y, -z)
    torch.testing.assert_close(out, torch.tensor([[[0.25, -0.3, -0.6]]], dtype=torch.float64))


def test_quaternion_matrix_matches_q_v_qconj():
    q = torch.tensor([0.3, -0.5, 0.7, 0.2], dtype=torch.float64)
    q = q / q.norm()
    v = torch.tensor([0.4, -1.0, 0.25], dtype=torch.float64)

    def mul(a, b):
        w1, x1, y1, z1 = a
        w2, x2, y2, z2 = b
        return torch.stack([w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2, w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
                            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2, w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2])

    conj = q * torch.tensor([1.0, -1, -1, -1], dtype=torch.float64)
    rotated = mul(mul(q, torch.cat([torch.zeros(1, dtype=torch.float64), v])), conj)[1:]
    torch.testing.assert_close(quaternion_to_matrix(q) @ v, rotated)


def test_perspective_warp_magnifies_near_points():
    v = torch.tensor([[[0.5, 0.0, -0.5], [0.5, 0.0, 0.5]]], dtype=torch.float64)  # object z -> renderer -z
    z0 = 0.0  # Z = 2
    out = object_to_renderer(v, _pose([1.0, 0, 0, 0], z0=z0))
    z_near = 0.5   # renderer z of the first vertex
    assert math.isclose(out[0, 0, 0].item(), 0.5 * (2 + z_near / 2) / (2 - z_near / 2))
    assert math.isclose(out[0, 1, 0].item(), 0.5 * (2 - 0.5 / 2) / (2 + 0.5 / 2))
    assert out[0, 0, 2].item() == 0.5  # depth is not warped


def test_mirror_pose_mirrors_the_image_horizontally():
    torch.manual_seed(0)
    q = torch.randn(1, 4, dtype=torch.float64)
    pose = Pose(q / q.norm(), torch.tensor([[0.8]], dtype=torch.float64), torch.tensor([[0.1, -0.2]], dtype=torch.float64))
    v = torch.randn(1, 10, 3, dtype=torch.float64)
    mirrored_object = v * torch.tensor([-1.0, 1, 1], dtype=torch.float64)  # the symmetric object's mirror image
    a = object_to_renderer(v, pose)
    b = object_to_renderer(mirrored_object, mirror_pose(pose))
    torch.testing.assert_close(b[..., 0], -a[..., 0])
    torch.testing.assert_close(b[..., 1:], a[..., 1:])


def test_view_construction_side_view_keeps_z_up():
    q = viewpoint_quaternion(torch.tensor([0.0], dtype=torch.float64), torch.tensor([90.0], dtype=torch.float64))
    pose = Pose(q, torch.ones(1, 1, dtype=torch.float64), torch.zeros(1, 2, dtype=torch.float64))
    axes = torch.eye(3, dtype=torch.float64)[None]
    out = object_to_renderer(axes, pose)[0]
    torch.testing.assert_close(out[2, :2], torch.tensor([0.0, 1.0], dtype=torch.float64), atol=1e-12, rtol=0)  # +z up
    assert abs(abs(out[1, 0].item()) - 1.0) < 1e-12  # ±y (front/back) left/right
    # elevation above 90 degrees looks from above: the top (+z) tilts toward the viewer (renderer +z)
    q = viewpoint_quaternion(torch.tensor([0.0], dtype=torch.float64), torch.tensor([120.0], dtype=torch.float64))
    top = object_to_renderer(axes, Pose(q, pose.s, pose.t))[0, 2]
    assert top[2].item() > 0.49 and top[1].item() > 0.8
