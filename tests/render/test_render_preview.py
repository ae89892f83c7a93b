"""Preview grids (§1.5) and the CLI's file handling."""
import numpy as np
import pytest
import torch
from PIL import Image

from backend.generate import main as generate_main
from backend.mesh import uv_sphere
from backend.render import random_view_poses
from backend.render.__main__ import main as render_cli
from backend.render.preview import save_preview_grid


@pytest.fixture(scope="module")
def ten_meshes():
    g = torch.Generator().manual_seed(0)
    template = uv_sphere()
    base = torch.from_numpy(np.array(template.vertices))
    vertices = base[None] * (0.8 + 0.2 * torch.rand(10, 1, 3, generator=g))
    textures = torch.rand(10, 3, 8, 8, generator=g) * 2 - 1
    return vertices, textures, template


def test_preview_grid_layout_antialiasing_and_white_background(tmp_path, ten_meshes):
    vertices, textures, template = ten_meshes
    path = save_preview_grid(tmp_path / "grid.png", vertices, textures, template, seed=3, tile=32, supersample=4)
    image = Image.open(path)
    assert image.mode == "RGBA" and image.size == (8 * 32, 2 * 32)  # 8 per row, 2 rows, no padding
    pixels = np.asarray(image)
    alpha = pixels[..., 3]
    assert (alpha[:32, :8 * 32].reshape(32, 8, 32).max(axis=(0, 2)) == 255).all()  # every tile of row 0 drawn
    assert (alpha[32:, 2 * 32:] == 0).all()  # cells 10..15 are empty
    assert ((alpha > 0) & (alpha < 255)).sum() > 50  # anti-aliased edges from the 4x4 supersampling
    corner = pixels[0, 0]
    assert tuple(corner[:3]) == (255, 255, 255) and corner[3] == 0  # white background


def test_preview_grid_is_seeded_and_accepts_given_poses(tmp_path, ten_meshes):
    vertices, textures, template = ten_meshes
    a = save_preview_grid(tmp_path / "a.png", vertices[:3], textures[:3], template, seed=1, tile=16, supersample=2)
    b = save_preview_grid(tmp_path / "b.png", vertices[:3], textures[:3], template, seed=1, tile=16, supersample=2)
    c = save_preview_grid(tmp_path / "c.png", vertices[:3], textures[:3], template, seed=2, tile=16, supersample=2)
    d = save_preview_grid(tmp_path / "d.png", vertices[:3], textures[:3], template,
                          poses=random_view_poses(3, seed=1), tile=16, supersample=2)
    assert a.read_bytes() == b.read_bytes() == d.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    with pytest.raises(ValueError, match="poses must hold 3"):
        save_preview_grid(tmp_path / "e.png", vertices[:3], textures[:3], template, poses=random_view_poses(2))


def test_generate_cli_writes_the_preview_next_to_the_meshes(tmp_path):
    out = tmp_path / "run"
    assert generate_main(["--random_init", "small", "--how_many", "3", "--batch_size", "2", "--gpu_ids", "-1",
                          "--out", str(out)]) == 0
    grid = Image.open(tmp_path / "run.png")
    assert grid.size == (3 * 256, 256) and grid.mode == "RGBA"
    assert (np.asarray(grid)[..., 3].reshape(256, 3, 256).max(axis=(0, 2)) == 255).all()


def test_render_cli_silhouette_and_errors(tmp_path, capsys):
    obj = tmp_path / "tri.obj"
    obj.write_text("v -0.5 0 0\nv 0.5 0 0\nv 0 0.5 0\nv 0 0 0.5\nf 1 2 3\nf 1 3 4\nf 1 4 2\nf 2 4 3\n")
    out = tmp_path / "sil.png"
    assert render_cli([str(obj), "--pose", "1", "0", "0", "0", "1", "0", "0", "--res", "128", "--out", str(out),
                       "--silhouette", "--up", "z"]) == 0
    sil = np.asarray(Image.open(out))
    assert sil.ndim == 2 and sil.max() == 255 and ((sil > 0) & (sil < 255)).any()  # covered + soft band
    for args, words in [([str(tmp_path / "missing.obj")], "not found"),
                        ([str(obj), "--res", "0"], "--res"),
                        ([str(out)], "cannot read mesh")]:
        code = render_cli([*args, "--pose", "1", "0", "0", "0", "1", "0", "0", "--out", str(tmp_path / "x.png")])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 1 and len(err) == 1 and err[0].startswith("error:") and words in err[0], err
