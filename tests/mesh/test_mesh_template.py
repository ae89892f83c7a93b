"""The UV-sphere template (§2.1–2.3): counts, UV layout, winding, symmetry data, adjacency."""
import numpy as np
import pytest

from backend.mesh import uv_sphere

COUNTS = {31: (962, 1920, 1054, 512, 62), 16: (482, 960, 559, 257, 32)}


@pytest.mark.parametrize("rings", [31, 16])
def test_counts(rings):
    t = uv_sphere(rings)
    v, f, u, p, plane = COUNTS[rings]
    assert t.vertices.shape == (v, 3) and t.vertices.dtype == np.float32
    assert t.faces.shape == (f, 3) and t.faces.dtype == np.int64
    assert t.uvs.shape == (u, 2) and t.uvs.dtype == np.float32
    assert t.face_uvs.shape == (f, 3) and t.vertex_uvs.shape == (v, 2)
    assert t.positive_indices.shape == (p,) and t.plane_indices.shape == (plane,)
    assert t.face_adjacency.shape == (f, 3)
    assert len(np.unique(t.faces)) == v and len(np.unique(t.face_uvs)) == u


def test_cached_and_read_only():
    assert uv_sphere(31) is uv_sphere()
    with pytest.raises(ValueError):
        uv_sphere().vertices[0, 0] = 5.0


@pytest.mark.parametrize("rings", [31, 16])
def test_geometry_and_uv_convention(rings):
    t = uv_sphere(rings)
    v = t.vertices.astype(np.float64)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-6)
    assert np.allclose(v[t.south_pole], [0, -1, 0]) and np.allclose(v[t.north_pole], [0, 1, 0])
    # every UV corner agrees with the original layout u = 1/4 + atan2(x, z)/2π, v = ring / rings
    corner_xyz = v[t.faces.reshape(-1)]
    corner_uv = t.uvs[t.face_uvs.reshape(-1)].astype(np.float64)
    not_pole = np.abs(corner_xyz[:, 1]) < 1 - 1e-6
    expected_u = (0.25 + np.arctan2(corner_xyz[:, 0], corner_xyz[:, 2]) / (2 * np.pi)) % 1.0
    du = np.abs(corner_uv[not_pole, 0] - expected_u[not_pole])
    assert np.all(np.minimum(du, 1 - du) < 1e-6)               # seam: u = 0 or 1 both fine
    ring = np.arccos(-np.clip(corner_xyz[:, 1], -1, 1)) / np.pi
    np.testing.assert_allclose(corner_uv[:, 1], ring, atol=1e-6)
    # landmarks: u = 0.25 at +z, 0.5 at +x, 0.75 at -z; the seam column u = 1 exists (duplicated)
    for u, direction in [(0.25, (0, 0, 1)), (0.5, (1, 0, 0)), (0.75, (0, 0, -1))]:
        idx = np.flatnonzero(np.isclose(t.vertex_uvs[:, 0], u) & (np.abs(v[:, 1]) < 1 - 1e-6))
        assert len(idx) == rings - 1
        radial = v[idx] * (1, 0, 1)
        radial /= np.linalg.norm(radial, axis=1, keepdims=True)
        np.testing.assert_allclose(radial, np.tile(direction, (len(idx), 1)), atol=1e-6)
    assert np.sum(np.isclose(t.uvs[:, 0], 1.0)) == rings - 1
    # pole fans: one UV per face at u = (j + 0.5)/32
    pole_uvs = t.uvs[np.isin(t.uvs[:, 1], [0.0, 1.0])]
    assert len(pole_uvs) == 64
    np.testing.assert_allclose(np.sort(pole_uvs[pole_uvs[:, 1] == 0, 0]), (np.arange(32) + 0.5) / 32, atol=1e-7)


@pytest.mark.parametrize("rings", [31, 16])
def test_winding_outward_and_ccw_in_uv(rings):
    t = uv_sphere(rings)
    tri = t.vertices.astype(np.float64)[t.faces]
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    assert np.all(np.einsum("ij,ij->i", normals, tri.mean(axis=1)) > 0)
    signed_volume = np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6
    assert 0.95 * 4 / 3 * np.pi < signed_volume < 4 / 3 * np.pi
    uv = t.uvs.astype(np.float64)[t.face_uvs]
    area = ((uv[:, 1, 0] - uv[:, 0, 0]) * (uv[:, 2, 1] - uv[:, 0, 1])
            - (uv[:, 1, 1] - uv[:, 0, 1]) * (uv[:, 2, 0] - uv[:, 0, 0]))
    assert np.all(area > 0)
    # UVs belong to their vertex: uv_vertex_index agrees with the face lists
    np.testing.assert_array_equal(t.uv_vertex_index[t.face_uvs], t.faces)


@pytest.mark.parametrize("rings", [31, 16])
def test_mirror_pairs_and_non_negative_set(rings):
    t = uv_sphere(rings)
    v = t.vertices
    np.testing.assert_allclose(v[t.mirror_index], v * (-1, 1, 1), atol=1e-6)
    np.testing.assert_array_equal(t.mirror_index[t.mirror_index], np.arange(len(v)))
    assert np.all(np.abs(v[t.plane_indices, 0]) < 1e-6)
    n_half = (len(t.positive_indices) - len(t.plane_indices))
    assert n_half == 15 * (rings - 1)
    positive = t.positive_indices[:n_half]
    assert np.all(v[positive, 0] > 0)
    negative = np.flatnonzero(v[:, 0] < -1e-6)
    np.testing.assert_array_equal(positive, t.mirror_index[negative])   # partners' order
    np.testing.assert_array_equal(t.positive_indices[n_half:], t.plane_indices)


def test_vertex_uvs_topology_map():
    t = uv_sphere(31)
    ring_vertices = np.abs(t.vertices[:, 1]) < 1 - 1e-6
    seam = ring_vertices & (t.vertices[:, 0] < 0) & (np.abs(t.vertices[:, 2]) < 1e-6)
    assert seam.sum() == 30 and np.all(t.vertex_uvs[seam, 0] == 0.0)       # u = 32 folded to 0
    np.testing.assert_allclose(t.vertex_uvs[[t.south_pole, t.north_pole]], [[0.5, 0.0], [0.5, 1.0]], atol=1e-6)
    np.testing.assert_allclose(t.vertex_grid, np.stack([2 * t.vertex_uvs[:, 0] - 1, 1 - 2 * t.vertex_uvs[:, 1]], 1))


@pytest.mark.parametrize("rings", [31, 16])
def test_face_adjacency_shares_edges(rings):
    t = uv_sphere(rings)
    faces = t.faces
    for f in range(len(faces)):
        for e in range(3):
            a, b = faces[f, e], faces[f, (e + 1) % 3]
            neighbour = t.face_adjacency[f, e]
            assert neighbour != f and {a, b} <= set(faces[neighbour])
    # each face is the neighbour of exactly three faces
    assert np.all(np.bincount(t.face_adjacency.reshape(-1), minlength=len(faces)) == 3)


def test_bad_ring_count():
    with pytest.raises(ValueError, match="rings"):
        uv_sphere(2)
