"""Templates: hand-built shapes are closed, remeshing onto the sphere topology, template files, the CLI."""
import numpy as np
import pytest
import torch
import trimesh

from backend.mesh import uv_sphere
from training.templates import (TemplateError, check_closed, load_templates, remesh, save_templates, TemplateSet,
                                write_shape_files)
from training.templates.remesh import RemeshConfig
from training.templates.shapes import MULTI, PROFILES, car_shape


def test_hand_built_shapes_are_closed_and_outward():
    for name in PROFILES:
        vertices, faces = car_shape(name)
        check_closed(vertices, faces, name)
        mesh = trimesh.Trimesh(vertices, faces, process=True)
        assert mesh.is_watertight and mesh.volume > 0
        assert np.isclose(vertices[:, 1].min(), -1) and np.isclose(vertices[:, 1].max(), 1)


def test_check_closed_rejects_open_and_badly_wound_meshes():
    box = trimesh.creation.box()
    with pytest.raises(TemplateError, match="not closed"):
        check_closed(box.vertices, box.faces[1:], "open box")
    faces = box.faces.copy()
    faces[0] = faces[0][::-1]
    with pytest.raises(TemplateError, match="consistently wound"):
        check_closed(box.vertices, faces, "flipped box")
    with pytest.raises(TemplateError, match="at least"):
        check_closed(np.zeros((2, 3)), np.zeros((0, 3), int))


def test_remesh_an_ellipsoid():
    sphere = trimesh.creation.icosphere(subdivisions=3)
    vertices = sphere.vertices * np.array([0.5, 1.0, 0.4])
    result = remesh(vertices, sphere.faces, "ellipsoid", RemeshConfig(views=8, resolution=64, steps=3))
    v = result.vertices
    t = uv_sphere()
    assert v.shape == (962, 3) and result.iou > 0.95
    # exactly mirror-symmetric, and the extents of the normalised source (max |coordinate| 1)
    assert np.allclose(v[t.mirror_index] * [-1, 1, 1], v, atol=1e-6)
    assert np.allclose(np.abs(v).max(0), [0.5, 1.0, 0.4], atol=0.03)


def test_shipped_templates_and_files(tmp_path):
    single, multi = load_templates("car"), load_templates("car3")
    assert single.vertices.shape == (1, 962, 3) and len(multi) == 3 and tuple(multi.names) == MULTI
    assert np.abs(multi.vertices).max() == pytest.approx(1.0)
    path = save_templates(tmp_path / "t.safetensors", TemplateSet(single.vertices * 0.5, ["half"]))
    again = load_templates(path)
    assert again.names == ["half"] and np.allclose(again.vertices, single.vertices * 0.5)
    with pytest.raises(ValueError, match="does not exist"):
        load_templates(tmp_path / "missing.safetensors")


def test_remesh_cli_skips_bad_meshes(tmp_path, capsys):
    from backend.train import main

    good = write_shape_files(tmp_path)[0]
    box = trimesh.creation.box()
    trimesh.Trimesh(box.vertices, box.faces[2:], process=False).export(tmp_path / "open.obj")
    (tmp_path / "broken.obj").write_text("v 0 0 nonsense\nf 1 2 3\n")
    out = tmp_path / "mine.safetensors"
    code = main(["templates", "remesh", str(good), str(tmp_path / "open.obj"), str(tmp_path / "broken.obj"),
                 "--out", str(out), "--steps", "1"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "open.obj: not closed" in captured.err and "broken.obj" in captured.err
    assert "skipped 2 of 3" in captured.out
    assert load_templates(out).names == ["saloon"] and (tmp_path / "mine.saloon.png").is_file()
    code = main(["templates", "remesh", str(tmp_path / "open.obj"), "--out", str(tmp_path / "x.safetensors")])
    assert code == 1 and "no usable mesh" in capsys.readouterr().err
