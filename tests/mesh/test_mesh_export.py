"""OBJ/MTL/PNG and GLB export, re-read by independent readers: trimesh, Pillow and Blender's own importers."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from PIL import Image
from scipy.spatial import cKDTree

from backend.export import export_mesh, object_to_y_up, place_in_world, y_up_to_object
from backend.mesh import displacement_to_vertices, uv_sphere

PROBE = Path(__file__).with_name("blender_import_probe.py")


@pytest.fixture(scope="module")
def sample():
    """A deformed, front/back-asymmetric mesh and a non-square random texture."""
    t = uv_sphere(31)
    disp = torch.zeros(1, 3, 32, 32, dtype=torch.float64)
    disp[:, 0] = torch.linspace(-0.3, 0.4, 32)[:, None]                     # bigger towards the front (-y)
    disp[:, 2] = 0.05 * torch.sin(torch.linspace(0, 6.28, 32))[None, :]
    vertices = displacement_to_vertices(t, disp)[0].numpy().astype(np.float32)
    texture = np.random.default_rng(7).integers(0, 256, size=(48, 64, 3), dtype=np.uint8)
    return t, vertices, texture


def _face_normals(points, faces):
    tri = points[faces]
    return np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])


def test_rotation_is_proper_and_invertible():
    pts = np.random.default_rng(0).normal(size=(10, 3))
    np.testing.assert_allclose(y_up_to_object(object_to_y_up(pts)), pts)
    basis = object_to_y_up(np.eye(3))
    assert np.isclose(np.linalg.det(basis), 1.0)
    np.testing.assert_allclose(object_to_y_up(np.array([[0.0, -1.0, 0.0]])), [[0, 0, 1]])   # front -> +Z
    np.testing.assert_allclose(object_to_y_up(np.array([[0.0, 0.0, 1.0]])), [[0, 1, 0]])    # up -> +Y


def test_obj_files_reread_by_trimesh_and_pillow(sample, tmp_path):
    t, vertices, texture = sample
    paths = export_mesh(tmp_path, "mesh_3", vertices, texture, t, "obj")
    assert [p.name for p in paths] == ["mesh_3.obj", "mesh_3.mtl", "mesh_3.png"]
    text = paths[0].read_text().splitlines()
    assert sum(line.startswith("v ") for line in text) == 962
    assert sum(line.startswith("vt ") for line in text) == 1054
    assert sum(line.startswith("f ") for line in text) == 1920
    assert "map_Kd mesh_3.png" in paths[1].read_text()
    np.testing.assert_array_equal(np.asarray(Image.open(paths[2])), texture)

    mesh = trimesh.load(paths[0], process=False)
    # trimesh splits vertices at UV seams, so compare per face corner (face order is kept)
    assert mesh.faces.shape == (1920, 3)
    corners = y_up_to_object(mesh.vertices[mesh.faces].reshape(-1, 3)).reshape(-1, 3, 3)
    np.testing.assert_allclose(corners, vertices[t.faces], atol=2e-6)
    np.testing.assert_allclose(mesh.visual.uv[mesh.faces], t.uvs[t.face_uvs], atol=2e-6)
    np.testing.assert_array_equal(np.asarray(mesh.visual.material.image.convert("RGB")), texture)
    # outward normals in the file frame too (rotation, not reflection)
    centroids = mesh.vertices[mesh.faces].mean(axis=1)
    assert np.all(np.einsum("ij,ij->i", mesh.face_normals, centroids) > 0)
    assert mesh.volume > 0


def test_glb_reread_by_trimesh(sample, tmp_path):
    t, vertices, texture = sample
    (path,) = export_mesh(tmp_path, "mesh_0", vertices, texture, t, "glb")
    scene = trimesh.load(path, process=False)
    (mesh,) = scene.geometry.values()
    assert mesh.vertices.shape == (1054, 3) and mesh.faces.shape == (1920, 3)
    corners = y_up_to_object(mesh.vertices[mesh.faces].reshape(-1, 3)).reshape(-1, 3, 3)
    np.testing.assert_allclose(corners, vertices[t.faces], atol=1e-6)
    np.testing.assert_allclose(mesh.visual.uv[mesh.faces], t.uvs[t.face_uvs], atol=1e-6)
    np.testing.assert_array_equal(np.asarray(mesh.visual.material.baseColorTexture.convert("RGB")), texture)
    centroids = mesh.vertices[mesh.faces].mean(axis=1)
    assert np.all(np.einsum("ij,ij->i", mesh.face_normals, centroids) > 0)


@pytest.mark.parametrize("file_format", ["obj", "glb"])
def test_export_is_byte_identical(sample, tmp_path, file_format):
    t, vertices, texture = sample
    first = export_mesh(tmp_path / "a", "m", vertices, texture, t, file_format)
    second = export_mesh(tmp_path / "b", "m", vertices, texture, t, file_format)
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes()


def test_target_length_and_bottom_origin(sample, tmp_path):
    t, vertices, texture = sample
    placed = place_in_world(vertices, target_length=4.5, origin="bottom")
    assert np.isclose(np.ptp(placed[:, :2], axis=0).max(), 4.5)                  # longest horizontal side
    assert np.isclose(placed[:, 2].min(), 0.0)
    assert np.isclose(placed[:, 0].min(), -placed[:, 0].max()) and np.isclose(placed[:, 1].min(), -placed[:, 1].max())
    ratio = np.ptp(placed, axis=0) / np.ptp(vertices.astype(np.float64), axis=0)
    np.testing.assert_allclose(ratio, ratio[1])                                  # uniform scale
    (obj_path, _, _) = export_mesh(tmp_path, "car", vertices, texture, t, "obj", target_length=4.5, origin="bottom")
    mesh = trimesh.load(obj_path, process=False)
    reread = y_up_to_object(mesh.vertices)
    assert abs(np.ptp(reread[:, :2], axis=0).max() - 4.5) < 1e-5 and abs(reread[:, 2].min()) < 1e-5


def test_target_length_is_the_longest_horizontal_side():
    """One definition (backend.protocol.sizing): a wide object is scaled by its width, a long one by its length;
    the height never counts."""
    box = np.array([[x, y, z] for x in (-1.0, 1.0) for y in (-0.5, 0.5) for z in (0.0, 3.0)])   # 2 wide, 1 long, 3 high
    np.testing.assert_allclose(np.ptp(place_in_world(box, target_length=4.0), axis=0), [4.0, 2.0, 6.0])
    np.testing.assert_allclose(np.ptp(place_in_world(box[:, [1, 0, 2]], target_length=4.0), axis=0), [2.0, 4.0, 6.0])
    with pytest.raises(ValueError, match="no horizontal size"):
        place_in_world(np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]]), target_length=4.0)


def test_bad_inputs_are_rejected(sample, tmp_path):
    t, vertices, texture = sample
    with pytest.raises(ValueError, match=r"\(962, 3\)"):
        export_mesh(tmp_path, "m", vertices[:10], texture, t)
    with pytest.raises(ValueError, match="uint8"):
        export_mesh(tmp_path, "m", vertices, texture.astype(np.float32), t)
    with pytest.raises(ValueError, match="NaN"):
        export_mesh(tmp_path, "m", np.full_like(vertices, np.nan), texture, t)
    with pytest.raises(ValueError, match="target_length"):
        export_mesh(tmp_path, "m", vertices, texture, t, target_length=-1.0)
    with pytest.raises(ValueError, match="format"):
        export_mesh(tmp_path, "m", vertices, texture, t, "fbx")
    with pytest.raises(ValueError, match="origin"):
        export_mesh(tmp_path, "m", vertices, texture, t, origin="top")


def _cyclic_faces(faces, corner_uvs):
    """Faces as a set of corner tuples (vertex, u, v), each rotated to start at its smallest vertex."""
    result = set()
    for face, uvs in zip(faces.tolist(), corner_uvs.tolist()):
        corners = [(vertex, *uv) for vertex, uv in zip(face, uvs)]
        start = int(np.argmin(face))
        result.add(tuple(corners[start:] + corners[:start]))
    return result


def _blender_import(path: Path, tmp_path: Path) -> dict:
    out = tmp_path / f"{path.suffix[1:]}_probe.json"
    env = dict(os.environ)
    env.setdefault("BLENDER_USER_RESOURCES", str(Path(__file__).resolve().parents[2] / "build" / "blender_user"))
    result = subprocess.run([sys.executable, str(PROBE), str(path), str(out)], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(out.read_text())


@pytest.mark.parametrize("file_format", ["obj", "glb"])
def test_blender_importer_gives_z_up_textured_outward_mesh(sample, tmp_path, file_format):
    """Blender's importer (default settings) brings the mesh back in the object frame with its texture."""
    t, vertices, texture = sample
    path = export_mesh(tmp_path, "mesh_0", vertices, texture, t, file_format)[0]
    probe = _blender_import(path, tmp_path)
    assert probe["n_objects"] == 1
    world = np.array(probe["vertices"])
    loop_vertex = np.array(probe["loop_vertex"])
    assert set(probe["loop_total"]) == {3} and len(loop_vertex) == 3 * 1920
    corners = world[loop_vertex].reshape(-1, 3, 3)
    if file_format == "obj":
        assert len(world) == 962                                   # one vertex per position, no seam split
        np.testing.assert_allclose(world, vertices, atol=2e-6)     # same order, object frame: z up, front -y
    else:
        assert len(np.unique(np.round(world, 5), axis=0)) == 962   # 962 distinct positions
    # every face of the template is there, corners in the same cyclic order, with the same UVs
    distance, template_vertex = cKDTree(vertices.astype(np.float64)).query(world)
    assert distance.max() < 1e-5
    uv = np.round(np.array(probe["loop_uv"]).reshape(-1, 3, 2) * 992).astype(int)   # 992 = 32 * 31: exact grid
    ours_uv = np.round(t.uvs[t.face_uvs] * 992).astype(int)
    assert _cyclic_faces(template_vertex[loop_vertex].reshape(-1, 3), uv) == _cyclic_faces(t.faces, ours_uv)
    # outward normals in Blender's frame: the loop order winds counter-clockwise seen from outside
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    assert np.all(np.einsum("ij,ij->i", normals, corners.mean(axis=1)) > 0)
    # the image sits on an Image Texture node feeding the Principled BSDF's Base Color, pixels intact
    assert probe["base_color_from"] == ["TEX_IMAGE"]
    assert probe["image_size"] == [texture.shape[1], texture.shape[0]]
    np.testing.assert_array_equal(np.array(probe["image_pixels"]), texture)
