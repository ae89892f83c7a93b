"""The UV-sphere mesh template built in code (§2.1–2.3).

Every generated mesh shares this topology: a Blender-style UV sphere with 32 segments and ``rings`` rings
(31 for every textured-3d-gan model: 962 vertices, 1920 faces, 1054 UVs; 16 for convmesh's CUB model:
482 vertices, 960 faces, 559 UVs). Only the displacement of each vertex is generated.

Object frame (docs/architecture.md): right-handed, x = left-right (symmetry normal), y = front-back
(the poles, front = -y), z = up. The UV layout is the original one:

* u = 1/4 + atan2(x, z) / (2π) (mod 1): u = 0.25 at +z, 0.5 at +x, 0.75 at -z, the seam u = 0 ≡ 1 on -x;
* v = k / rings for ring k (k = 0 south pole at -y ... k = rings north pole at +y);
* the seam column is duplicated (u = 0 and u = 1), the pole fans use one UV per face at u = (j + 0.5) / 32.

Vertex order (ours, ring-major; the original file's order is Blender's and does not matter because the
displacement map is sampled by UV): index 0 is the south pole, then ring k = 1..rings-1 with vertex j = 0..31
at index 1 + (k - 1) * 32 + j (u = j / 32), and the north pole last.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

SEGMENTS = 32
MIRROR_TOLERANCE = 1e-4


@dataclass(frozen=True, eq=False)
class MeshTemplate:
    """Topology, UVs and symmetry data of a UV sphere. All arrays are read-only numpy arrays.

    Attributes (V vertices, F faces, U UV coordinates, P = number of "non-negative" vertices):
        rings, segments: the sphere's resolution (31 or 16 rings, 32 segments).
        vertices: (V, 3) float32, unit sphere in the object frame, poles on ±y.
        faces: (F, 3) int64 vertex indices, counter-clockwise seen from outside (normals point outward).
        uvs: (U, 2) float32 texture coordinates in [0, 1], v = 1 is the top row of the image.
        face_uvs: (F, 3) int64 indices into ``uvs``, same corner order as ``faces`` (counter-clockwise in UV space).
        uv_vertex_index: (U,) int64, the vertex each UV belongs to (each UV is used by exactly one vertex), so
            ``vertices[uv_vertex_index]`` with ``face_uvs`` is the seam-split mesh that glTF and renderers want.
        vertex_uvs: (V, 2) float32, per-vertex averaged UV (§2.3 "topology map"; seam vertices at u = 0,
            poles at u ≈ 0.5).
        vertex_grid: (V, 2) float32, ``vertex_uvs`` as grid_sample coordinates (gx, gy) = (2u - 1, 1 - 2v).
        mirror_index: (V,) int64, the vertex at the mirrored position (x negated); plane vertices map to themselves.
        positive_indices: (P,) int64, the "non-negative" set sampled from the displacement map: the x > 0 vertices
            in the order of their mirror partners (the x < 0 vertices in index order), then the x = 0 plane
            vertices in index order. P = 512 for 31 rings, 257 for 16 rings.
        plane_indices: (62,) / (32,) int64, vertices on the symmetry plane x = 0 (two meridians and the poles).
        face_adjacency: (F, 3) int64, for each face the face across edge (c0, c1), (c1, c2), (c2, c0).
        south_pole, north_pole: vertex indices of the poles (-y and +y).
    """

    rings: int
    segments: int
    vertices: np.ndarray
    faces: np.ndarray
    uvs: np.ndarray
    face_uvs: np.ndarray
    uv_vertex_index: np.ndarray
    vertex_uvs: np.ndarray
    vertex_grid: np.ndarray
    mirror_index: np.ndarray
    positive_indices: np.ndarray
    plane_indices: np.ndarray
    face_adjacency: np.ndarray
    south_pole: int
    north_pole: int

    @property
    def num_vertices(self) -> int:
        return int(self.vertices.shape[0])

    @property
    def num_faces(self) -> int:
        return int(self.faces.shape[0])


def uv_sphere(rings: int = 31) -> MeshTemplate:
    """The 32-segment UV sphere with ``rings`` rings (cached; the same object is returned on every call).

    rings: 31 (every textured-3d-gan model) or 16 (convmesh CUB); any value >= 3 works.
    """
    if isinstance(rings, bool) or not isinstance(rings, (int, np.integer)) or rings < 3:
        raise ValueError(f"rings must be an integer >= 3, got {rings!r}")
    return _build_uv_sphere(int(rings))


@functools.lru_cache(maxsize=None)
def _build_uv_sphere(rings: int) -> MeshTemplate:
    vertices = _sphere_vertices(rings)
    faces, face_uvs, uvs, uv_vertex_index = _faces_and_uvs(rings)
    vertex_uvs = _average_vertex_uvs(rings, len(vertices), faces, face_uvs, uvs)
    mirror_index = mirror_pairs(vertices)
    positive_indices, plane_indices = _non_negative_vertices(vertices, mirror_index)
    template = MeshTemplate(
        rings=rings,
        segments=SEGMENTS,
        vertices=vertices,
        faces=faces,
        uvs=uvs,
        face_uvs=face_uvs,
        uv_vertex_index=uv_vertex_index,
        vertex_uvs=vertex_uvs,
        vertex_grid=np.stack([2 * vertex_uvs[:, 0] - 1, 1 - 2 * vertex_uvs[:, 1]], axis=1).astype(np.float32),
        mirror_index=mirror_index,
        positive_indices=positive_indices,
        plane_indices=plane_indices,
        face_adjacency=_face_adjacency(faces),
        south_pole=0,
        north_pole=len(vertices) - 1,
    )
    for value in vars(template).values():
        if isinstance(value, np.ndarray):
            value.setflags(write=False)
    return template


def _ring_vertex(rings: int, k: int, j: int) -> int:
    """Index of vertex j (u = j / 32, taken mod 32) on ring k (1 <= k <= rings - 1)."""
    return 1 + (k - 1) * SEGMENTS + (j % SEGMENTS)


def _sphere_vertices(rings: int) -> np.ndarray:
    """(V, 3) float32: south pole, rings 1..rings-1 (32 vertices each), north pole."""
    k = np.arange(1, rings, dtype=np.float64)[:, None]           # (rings-1, 1)
    j = np.arange(SEGMENTS, dtype=np.float64)[None, :]           # (1, 32)
    phi = 2 * np.pi * (j / SEGMENTS - 0.25)                      # azimuth: u = 1/4 + phi / (2π)
    radius = np.sin(np.pi * k / rings)
    y = -np.cos(np.pi * k / rings)
    ring_points = np.stack(np.broadcast_arrays(np.sin(phi) * radius, y, np.cos(phi) * radius), axis=-1)
    ring_points = ring_points.reshape(-1, 3)
    # Snap round-off (e.g. cos(π/2) ≈ 6e-17) so the symmetry plane is exactly x = 0.
    ring_points[np.abs(ring_points) < 1e-12] = 0.0
    poles = np.array([[0.0, -1.0, 0.0], [0.0, 1.0, 0.0]])
    return np.concatenate([poles[:1], ring_points, poles[1:]]).astype(np.float32)


def _faces_and_uvs(rings: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Faces (F, 3), face UV indices (F, 3), UVs (U, 2) and the vertex of each UV (U,).

    UV order: the grid (ring k = 1..rings-1, column c = 0..32 at index (k - 1) * 33 + c), then the 32 south-fan
    UVs, then the 32 north-fan UVs. Corners are ordered counter-clockwise in UV space (u right, v up), which is
    also counter-clockwise seen from outside because u grows towards +x from the top (+z) line.
    """
    columns = SEGMENTS + 1
    n_grid = (rings - 1) * columns
    south_fan, north_fan = n_grid, n_grid + SEGMENTS
    south, north = 0, 1 + (rings - 1) * SEGMENTS

    uvs = np.zeros((n_grid + 2 * SEGMENTS, 2), dtype=np.float64)
    uv_vertex = np.zeros(len(uvs), dtype=np.int64)
    for k in range(1, rings):
        for c in range(columns):
            uvs[(k - 1) * columns + c] = (c / SEGMENTS, k / rings)
            uv_vertex[(k - 1) * columns + c] = _ring_vertex(rings, k, c)
    for j in range(SEGMENTS):
        uvs[south_fan + j] = ((j + 0.5) / SEGMENTS, 0.0)
        uvs[north_fan + j] = ((j + 0.5) / SEGMENTS, 1.0)
    uv_vertex[south_fan:north_fan] = south
    uv_vertex[north_fan:] = north

    def grid_uv(k: int, c: int) -> int:
        return (k - 1) * columns + c

    faces, face_uvs = [], []
    for j in range(SEGMENTS):                                    # south fan: pole, then up-right, up-left
        faces.append((south, _ring_vertex(rings, 1, j + 1), _ring_vertex(rings, 1, j)))
        face_uvs.append((south_fan + j, grid_uv(1, j + 1), grid_uv(1, j)))
    for k in range(1, rings - 1):                                # bands: quad (k, j)-(k, j+1)-(k+1, j+1)-(k+1, j)
        for j in range(SEGMENTS):
            a, b = _ring_vertex(rings, k, j), _ring_vertex(rings, k, j + 1)
            c, d = _ring_vertex(rings, k + 1, j + 1), _ring_vertex(rings, k + 1, j)
            ua, ub, uc, ud = grid_uv(k, j), grid_uv(k, j + 1), grid_uv(k + 1, j + 1), grid_uv(k + 1, j)
            faces += [(a, b, c), (a, c, d)]
            face_uvs += [(ua, ub, uc), (ua, uc, ud)]
    for j in range(SEGMENTS):                                    # north fan: low-left, low-right, pole
        faces.append((_ring_vertex(rings, rings - 1, j), _ring_vertex(rings, rings - 1, j + 1), north))
        face_uvs.append((grid_uv(rings - 1, j), grid_uv(rings - 1, j + 1), north_fan + j))
    return (np.asarray(faces, dtype=np.int64), np.asarray(face_uvs, dtype=np.int64),
            uvs.astype(np.float32), uv_vertex)


def _average_vertex_uvs(rings: int, n_vertices: int, faces: np.ndarray, face_uvs: np.ndarray,
                        uvs: np.ndarray) -> np.ndarray:
    """§2.3: average every UV a vertex takes over the face corners, with the seam u = 1 folded to u = 0."""
    corner_uv = uvs[face_uvs.reshape(-1)].astype(np.float64) * (SEGMENTS, rings)
    corner_uv[corner_uv[:, 0] == SEGMENTS, 0] = 0.0
    sums = np.zeros((n_vertices, 2))
    np.add.at(sums, faces.reshape(-1), corner_uv)
    counts = np.bincount(faces.reshape(-1), minlength=n_vertices)[:, None]
    return (sums / counts / (SEGMENTS, rings)).astype(np.float32)


def mirror_pairs(vertices: np.ndarray, axis: int = 0) -> np.ndarray:
    """(V,) index of each vertex's mirror image across the plane ``axis`` = 0 (nearest neighbour after negating
    that coordinate): axis 0 is the left/right symmetry of the template, axis 1 its front/back (the poles)."""
    from scipy.spatial import cKDTree  # imported here: it costs ~0.5 s and is needed once per template

    mirrored = vertices.astype(np.float64).copy()
    mirrored[:, axis] *= -1.0
    distance, index = cKDTree(vertices.astype(np.float64)).query(mirrored)
    if float(distance.max()) > MIRROR_TOLERANCE:
        raise ValueError(f"template is not mirror-symmetric across axis {axis}: a vertex has no partner within "
                         f"{MIRROR_TOLERANCE}")
    return index.astype(np.int64)


def _non_negative_vertices(vertices: np.ndarray, mirror_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The x > 0 vertices in their partners' (x < 0) index order, then the x = 0 plane vertices."""
    x = vertices[:, 0]
    on_plane = np.abs(x) <= MIRROR_TOLERANCE
    negative = np.flatnonzero((x < 0) & ~on_plane)
    plane = np.flatnonzero(on_plane)
    return np.concatenate([mirror_index[negative], plane]).astype(np.int64), plane.astype(np.int64)


def _face_adjacency(faces: np.ndarray) -> np.ndarray:
    """(F, 3): the face sharing edge (c0, c1), (c1, c2), (c2, c0) of each face (closed manifold mesh)."""
    edge_to_face: dict[tuple[int, int], int] = {}
    for f, (a, b, c) in enumerate(faces.tolist()):
        for edge in ((a, b), (b, c), (c, a)):
            edge_to_face[edge] = f
    adjacency = np.empty_like(faces)
    for f, (a, b, c) in enumerate(faces.tolist()):
        # The neighbour traverses the shared edge in the opposite direction (consistent winding).
        adjacency[f] = [edge_to_face[(b, a)], edge_to_face[(c, b)], edge_to_face[(a, c)]]
    return adjacency
