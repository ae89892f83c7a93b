"""Pseudo-ground-truth: projection of a known texture, remeshing, displacement fitting, --from-truth export, format."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from backend.mesh import displacement_to_vertices, uv_sphere
from backend.models import mirror_half_width
from backend.render import random_view_poses, render_textured
from training.pseudogt import (DisplacementFit, PseudoGTError, export_from_truth, open_pseudogt, project_to_uv,
                               radial_remesh)

T = 64


def _template_tensors():
    t = uv_sphere()
    return (t, torch.tensor(np.array(t.faces)), torch.tensor(np.array(t.uvs)).float(),
            torch.tensor(np.array(t.face_uvs)))


def _known_texture(batch: int) -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, T), torch.linspace(-1, 1, T), indexing="ij")
    return torch.stack([torch.sin(3 * xs), torch.cos(2 * ys), xs * ys]).clamp(-1, 1)[None].repeat(batch, 1, 1, 1)


def test_visible_texels_of_a_rendered_ellipsoid_equal_the_known_texture():
    t, faces, uvs, face_uvs = _template_tensors()
    batch = 4
    vertices = torch.tensor(np.array(t.vertices)).float()[None].repeat(batch, 1, 1) * torch.tensor([0.5, 1, 0.45])
    texture = _known_texture(batch)
    pose = random_view_poses(batch, seed=3)
    image = render_textured(vertices, faces, uvs, face_uvs, texture, pose, 256)
    projected, alpha = project_to_uv(vertices, pose, image.image, image.mask[:, None], T)
    seen = alpha[:, 0] > 0.99
    assert 0.25 < float(seen.float().mean()) < 0.65        # about half the surface faces the camera
    error = (projected - texture).abs().permute(0, 2, 3, 1)[seen]
    assert float(error.mean()) < 0.01 and float(error.quantile(0.99)) < 0.06
    assert float(projected.abs().permute(0, 2, 3, 1)[alpha[:, 0] == 0].max()) == 0.0  # unseen texels are 0
    # the far side is not visible: rotate the ellipsoid by 180° about the view axis' up direction
    assert not torch.equal(alpha[0], alpha[1])


def test_radial_remesh_of_a_box_is_exact():
    import trimesh

    box = trimesh.creation.box(extents=(0.6, 2.0, 0.5))
    t = uv_sphere()
    directions = np.array(t.vertices, np.float64)
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    radii = radial_remesh(box.vertices, box.faces, directions)
    half = np.array([0.3, 1.0, 0.25])
    expected = np.min(half[None] / np.maximum(np.abs(directions), 1e-12), axis=1)
    assert np.allclose(radii, expected, atol=1e-6)
    with pytest.raises(ValueError, match="centred"):
        radial_remesh(box.vertices + 5.0, box.faces, directions)


def test_displacement_fit_reproduces_an_ellipsoid_with_a_symmetric_map():
    t = uv_sphere()
    fit = DisplacementFit(t)
    target = torch.tensor(np.array(t.vertices), dtype=torch.float64)[None] * torch.tensor([0.4, 1.0, 0.35])
    displacement = fit.fit(target)
    assert displacement.shape == (1, 3, 32, 32)
    middle = displacement[..., 8:24]
    assert torch.allclose(mirror_half_width(middle), displacement)        # symmetric, as the generator's maps
    error = (displacement_to_vertices(t, displacement) - target.float()).norm(dim=-1)
    assert float(error.mean()) < 0.01 and float(error.max()) < 0.05


def test_from_truth_export_writes_loads_and_resumes(tmp_path, synth_collection):
    out = tmp_path / "pseudogt"
    summary = export_from_truth(synth_collection, out, texture_resolution=T, image_resolution=64, batch_size=3)
    assert summary.written == 4 and not summary.skipped
    data = open_pseudogt(out)
    assert len(data) == 4 and data.texture.shape == (4, 3, T, T) and data.mesh.shape == (4, 3, 32, 32)
    coverage = data.alpha.float().mean(dim=(1, 2, 3))
    assert bool(((coverage > 0.15) & (coverage < 0.7)).all())
    assert float(data.mesh[:, 0].mean()) < -0.3       # cars are much smaller than the unit sphere across
    assert data.poses["rotation"].shape == (4, 4) and data.info["source"] == "truth"
    again = export_from_truth(synth_collection, out, texture_resolution=T, image_resolution=64, batch_size=3)
    assert again.written == 0 and again.reused == 4


def test_from_truth_refuses_a_collection_without_truth(tmp_path):
    from PIL import Image

    from dataformat import Pose, Record, write_collection

    image = tmp_path / "a.png"
    Image.fromarray(np.full((32, 32, 3), 128, np.uint8)).save(image)
    mask = tmp_path / "m.png"
    Image.fromarray(np.pad(np.full((16, 16), 255, np.uint8), 8)).save(mask)
    record = Record(id="a", image_path=image, image_size=(32, 32), bbox=(8, 8, 24, 24), class_index=3,
                    class_name="car", source="folder", mask_path=mask, pose=Pose((1.0, 0, 0, 0), 0.5, (0.0, 0.0)))
    write_collection(tmp_path / "coll", [record], ["car"])
    with pytest.raises(ValueError, match="no record with a true mesh"):
        export_from_truth(tmp_path / "coll", tmp_path / "out")


def test_format_errors_name_the_problem(tmp_path, synth_collection):
    out = tmp_path / "pg"
    export_from_truth(synth_collection, out, texture_resolution=T, image_resolution=64)
    (out / "items" / "000002.safetensors").write_bytes(b"garbage")
    with pytest.raises(PseudoGTError, match="item 2"):
        open_pseudogt(out)
    (out / "pseudogt.json").unlink()
    with pytest.raises(PseudoGTError, match="interrupted"):
        open_pseudogt(out)
