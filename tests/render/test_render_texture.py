"""§2.5 texture conventions (horizontal pixel centres with wrap-around, vertical align_corners=True), the same
in the PyTorch lookup and in the Warp shading kernel."""
import pytest
import torch

from backend.render import Pose, render_textured, sample_texture

W, H = 8, 5
# texel value = 10 * row + column (one channel repeated 3 times)
TEXTURE = (10 * torch.arange(H)[:, None] + torch.arange(W)[None, :]).to(torch.float64).expand(1, 3, H, W)


def _lookup(u, v):
    uv = torch.tensor([[[[u, v]]]], dtype=torch.float64)
    return sample_texture(TEXTURE, uv)[0, 0, 0, 0].item()


@pytest.mark.parametrize("u, v, expected", [
    ((2 + 0.5) / W, 1.0, 2.0),              # texel centre of column 2, top row
    (2 / W, 1.0, 1.5),                      # u = j/W reads between columns j-1 and j
    (0.0, 1.0, (7 + 0) / 2),                # wraps: between the last and the first column
    (1.0, 1.0, (7 + 0) / 2),                # u = 1 is the same place
    ((3 + 0.5) / W, 0.0, 43.0),             # v = 0 is the centre of the last row
    ((3 + 0.5) / W, 0.5, 23.0),             # v = 0.5 lies half-way between rows 2 and 2 (H - 1 = 4 → row 2)
    ((3 + 0.5) / W, 0.875, 3 + 10 * 0.5),   # row (1 - v)(H - 1) = 0.5
])
def test_sample_texture_conventions(u, v, expected):
    assert _lookup(u, v) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("impl", ["fast", "reference"])
def test_renderers_apply_the_same_lookup(impl):
    # A screen-filling quad facing the camera whose UVs equal the image position: pixel (j, i) reads
    # u = (i + 0.5) / n, v = 1 - (j + 0.5) / n, i.e. its own texel centre horizontally.
    n = 8
    corners = torch.tensor([[[-1.0, -1.0, 0.0], [1.0, -1.0, 0.0], [1.0, 1.0, 0.0], [-1.0, 1.0, 0.0]]])
    # identity pose maps object (x, y, z) to renderer (x, -y, -z): flip y so the quad stays upright
    corners[..., 1] *= -1
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])  # counter-clockwise on screen
    uvs = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    texture = TEXTURE[:, :, :, :].to(torch.float32)
    out = render_textured(corners, faces, uvs, faces, texture, Pose.identity(1), n, impl=impl)
    assert out.mask.all()
    expected = sample_texture(texture, _pixel_uvs(n))
    torch.testing.assert_close(out.image, expected, atol=1e-4, rtol=0)
    # spot check: column 3 of an 8-wide texture at u = 3.5/8, top pixel row reads v = 15/16 → row 0.25
    assert out.image[0, 0, 0, 3].item() == pytest.approx(3 + 10 * 0.25, abs=1e-4)


def _pixel_uvs(n):
    centres = (torch.arange(n, dtype=torch.float32) + 0.5) / n
    v, u = torch.meshgrid(1 - centres, centres, indexing="ij")
    return torch.stack([u, v], dim=-1)[None]
