"""The fast (Warp) renderer against the reference (dense PyTorch) on random meshes and poses."""
import pytest
import torch

from backend.render import (object_to_renderer, rasterize, render_attributes, render_silhouette, render_textured,
                            soft_silhouette)

from .conftest import random_poses
from .shapes import torus

RES = 32


def _relative(a, b):
    return ((a - b).norm() / b.norm().clamp_min(1e-12)).item()


@pytest.mark.parametrize("perspective", [False, True])
def test_hard_masks_agree_except_a_few_boundary_pixels(random_meshes, sphere, perspective):
    vertices, _ = random_meshes
    pose = random_poses(2, seed=3, perspective=perspective)
    screen = object_to_renderer(vertices, pose)
    fast = rasterize(screen, sphere[1], (RES, RES + 8), impl="fast")
    ref = rasterize(screen, sphere[1], (RES, RES + 8), impl="reference")
    assert fast.face_index.shape == (2, RES, RES + 8)
    covered = (ref.face_index >= 0).sum().item()
    assert covered > 0.2 * ref.face_index.numel()  # the meshes are really in view
    assert (fast.mask != ref.mask).sum().item() <= 3  # a few boundary pixels at most (float rounding)
    same_face = fast.face_index == ref.face_index
    assert same_face.float().mean().item() > 0.995
    torch.testing.assert_close(fast.barycentrics[same_face], ref.barycentrics[same_face], atol=1e-5, rtol=0)


def test_textured_colours_agree_within_1e4(random_meshes, sphere):
    vertices, pose = random_meshes
    g = torch.Generator().manual_seed(5)
    texture = torch.rand(2, 3, 16, 24, generator=g) * 2 - 1
    background = torch.rand(2, 3, RES, RES, generator=g)
    fast = render_textured(vertices, sphere[1], sphere[2], sphere[3], texture, pose, RES, background, impl="fast")
    ref = render_textured(vertices, sphere[1], sphere[2], sphere[3], texture, pose, RES, background,
                          impl="reference")
    same = (fast.rasterization.face_index == ref.rasterization.face_index)[:, None].expand_as(ref.image)
    assert same.float().mean() > 0.995
    assert (fast.image - ref.image)[same].abs().max().item() < 1e-4
    # background shows exactly where nothing is drawn
    empty = (ref.mask == 0)[:, None].expand_as(ref.image)
    torch.testing.assert_close(fast.image[empty & same], background[empty & same])


def test_attribute_render_agrees(random_meshes, sphere):
    vertices, pose = random_meshes
    colours = torch.rand(2, vertices.shape[1], 5, generator=torch.Generator().manual_seed(2))
    fast = render_attributes(vertices, sphere[1], colours, pose, RES, background=[0.5] * 5, impl="fast")
    ref = render_attributes(vertices, sphere[1], colours, pose, RES, background=[0.5] * 5, impl="reference")
    same = (fast.rasterization.face_index == ref.rasterization.face_index)[:, None].expand_as(ref.image)
    assert fast.image.shape == (2, 5, RES, RES)
    assert (fast.image - ref.image)[same].abs().max().item() < 1e-5


def test_soft_silhouettes_agree_on_a_nonconvex_mesh():
    v, f = torus()
    vertices = torch.from_numpy(v).float()[None].repeat(2, 1, 1)
    faces = torch.from_numpy(f)
    pose = random_poses(2, seed=8, perspective=True)
    fast = render_silhouette(vertices, faces, pose, RES, impl="fast")
    ref = render_silhouette(vertices, faces, pose, RES, impl="reference")
    assert ((fast > 0.01) & (fast < 0.99)).any()  # there is a soft band
    assert (fast - ref).abs().max().item() < 1e-4


def test_soft_silhouette_respects_the_30_face_cap_in_face_order():
    # 40 tiny identical triangles just left of the pixel: each contributes e; the cap keeps the first k.
    tri = torch.tensor([[-0.30, -0.05, 0.0], [-0.20, -0.05, 0.0], [-0.25, 0.05, 0.0]])
    screen = tri.repeat(40, 1)[None]
    faces = torch.arange(120).reshape(40, 3)
    for impl in ("fast", "reference"):
        capped = soft_silhouette(screen, faces, 16, max_faces=30, impl=impl)
        fewer = soft_silhouette(screen, faces[:30], 16, max_faces=30, impl=impl)
        uncapped = soft_silhouette(screen, faces, 16, max_faces=40, impl=impl)
        torch.testing.assert_close(capped, fewer)
        assert (uncapped >= capped).all() and (uncapped > capped + 1e-6).any()


def test_gradients_agree(random_meshes, sphere):
    vertices, pose = random_meshes
    texture = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
    weights = torch.randn(2, 3, RES, RES, generator=torch.Generator().manual_seed(2))
    sil_weights = torch.randn(2, RES, RES, generator=torch.Generator().manual_seed(3))
    grads = {}
    for impl in ("fast", "reference"):
        v = vertices.clone().requires_grad_(True)
        tex = texture.clone().requires_grad_(True)
        q = pose.q.clone().requires_grad_(True)
        s = pose.s.clone().requires_grad_(True)
        t = pose.t.clone().requires_grad_(True)
        p = type(pose)(q, s, t)
        image = render_textured(v, sphere[1], sphere[2], sphere[3], tex, p, RES, impl=impl).image
        sil = render_silhouette(v, sphere[1], p, RES, impl=impl)
        ((image * weights).sum() + (sil * sil_weights).sum()).backward()
        grads[impl] = [v.grad, tex.grad, q.grad, s.grad, t.grad]
    for name, a, b in zip(["vertices", "texture", "q", "s", "t"], grads["fast"], grads["reference"]):
        assert b.abs().sum() > 0, name
        assert _relative(a, b) < 1e-3, name


def test_soft_silhouettes_agree_with_large_tiles_on_wide_images():
    # Above 512 pixels per side the face-list tiles grow (at most 64 per side): same result.
    v, f = torus(n_major=16, n_minor=8)
    vertices = torch.from_numpy(v).float()[None]
    pose = random_poses(1, seed=4)
    fast = render_silhouette(vertices, torch.from_numpy(f), pose, (24, 640), impl="fast")
    ref = render_silhouette(vertices, torch.from_numpy(f), pose, (24, 640), impl="reference")
    assert ((fast > 0.01) & (fast < 0.99)).any()
    assert (fast - ref).abs().max().item() < 1e-4
