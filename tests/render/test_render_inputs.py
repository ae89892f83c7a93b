"""Bad input: clear ValueErrors naming the argument; non-finite or huge vertices neither crash nor hang."""
import math

import pytest
import torch

from backend.render import Pose, rasterize, render_silhouette, render_textured, soft_silhouette

V = torch.tensor([[[-0.5, -0.5, 0.0], [0.5, -0.5, 0.0], [0.0, 0.5, 0.0]]])
F = torch.tensor([[0, 2, 1]])  # counter-clockwise on screen after the identity pose's y flip
UVS = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.5, 1.0]])
TEX = torch.zeros(1, 3, 4, 4)


def _textured(**changes):
    args = dict(vertices=V, faces=F, uvs=UVS, face_uvs=F, texture=TEX, pose=Pose.identity(1), resolution=8)
    args.update(changes)
    return render_textured(**args)


def test_valid_call_draws_the_triangle():
    out = _textured()
    assert out.mask.sum() > 0


@pytest.mark.parametrize("changes, words", [
    (dict(vertices=V[0]), ["vertices", "(1, V, 3)"]),
    (dict(vertices=V[..., :2]), ["vertices", "3"]),
    (dict(vertices=V.to(torch.int64)), ["vertices", "floating"]),
    (dict(faces=F.float()), ["faces", "integer"]),
    (dict(faces=torch.tensor([[0, 1, 7]])), ["faces", "0..2"]),
    (dict(faces=F[0]), ["faces", "(*, 3)"]),
    (dict(texture=torch.zeros(1, 4, 4, 4)), ["texture", "(1, 3, *, *)"]),
    (dict(texture=torch.zeros(2, 3, 4, 4)), ["texture", "(1, 3, *, *)"]),
    (dict(uvs=torch.zeros(3, 3)), ["uvs", "(U, 2)"]),
    (dict(face_uvs=torch.tensor([[0, 1, 5]])), ["face_uvs", "0..2"]),
    (dict(resolution=0), ["resolution"]),
    (dict(resolution=(8, 8, 8)), ["resolution"]),
    (dict(background=(1.0, 2.0)), ["background", "3 floats"]),
    (dict(faces=F.to("meta")), ["faces", "device"]),
    (dict(texture=TEX.to("meta")), ["texture", "device"]),
])
def test_bad_arguments_raise_value_error_naming_them(changes, words):
    with pytest.raises(ValueError) as info:
        _textured(**changes)
    for word in words:
        assert word in str(info.value), str(info.value)


def test_bad_pose_and_impl():
    with pytest.raises(ValueError, match=r"pose.s"):
        Pose(torch.ones(2, 4), torch.ones(3, 1), torch.zeros(2, 2))
    with pytest.raises(ValueError, match=r"pose.q.*\(B, 4\)"):
        Pose(torch.ones(2, 3), torch.ones(2, 1), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="vertices"):
        _textured(pose=Pose.identity(2))
    with pytest.raises(ValueError, match="impl"):
        rasterize(V, F, 8, impl="cuda")


@pytest.mark.parametrize("impl", ["fast", "reference"])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 1e30])
def test_non_finite_or_huge_vertices_are_dropped_not_fatal(impl, bad):
    # Two triangles; the second has one broken vertex. The first must still render exactly as alone.
    good = torch.tensor([[-0.8, -0.8, 0.0], [0.0, -0.8, 0.0], [-0.4, 0.0, 0.0]])
    broken = torch.tensor([[0.2, 0.2, 0.0], [0.9, 0.2, 0.0], [bad, 0.9, 0.0]])
    screen = torch.cat([good, broken])[None]
    faces = torch.tensor([[0, 1, 2], [3, 4, 5]])
    alone = rasterize(good[None], faces[:1], 32, impl=impl)
    rast = rasterize(screen, faces, 32, impl=impl)
    assert torch.isfinite(rast.barycentrics).all()
    drawn_by_first = rast.face_index == 0
    assert torch.equal(drawn_by_first, alone.face_index == 0)
    soft = soft_silhouette(screen.clone().requires_grad_(True), faces, 32, impl=impl)
    assert torch.isfinite(soft).all() and soft.max() == 1.0
    if not math.isfinite(bad):
        assert not (rast.face_index == 1).any()


def test_non_finite_vertices_through_the_full_renderer_and_backward():
    vertices = V.clone()
    vertices[0, 1, 0] = math.nan
    vertices.requires_grad_(True)
    sil = render_silhouette(vertices, F, Pose.identity(1), 16)
    sil.sum().backward()
    assert torch.isfinite(sil).all()
