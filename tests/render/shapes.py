"""Test-made meshes (independent of the project's mesh code): a deformed sphere, a torus, an L-shaped prism.

All are closed, with faces counter-clockwise seen from outside.
"""
import numpy as np
import torch


def deformed_sphere_vertices(unit_sphere: torch.Tensor, seed: int) -> torch.Tensor:
    """Smooth random radial bumps on a unit sphere's vertices (V, 3) → (V, 3) float64."""
    g = torch.Generator().manual_seed(seed)
    v = unit_sphere.to(torch.float64)
    freq = 1.0 + 2.0 * torch.rand(3, 3, generator=g, dtype=torch.float64)
    phase = 6.28 * torch.rand(3, generator=g, dtype=torch.float64)
    bumps = torch.sin(v @ freq + phase).sum(dim=1, keepdim=True)
    stretch = torch.tensor([0.8, 1.2, 0.7], dtype=torch.float64)
    return v * stretch * (1.0 + 0.08 * bumps)


def torus(major: float = 0.6, minor: float = 0.25, n_major: int = 48, n_minor: int = 24):
    """Torus around the z axis: vertices (V, 3) float64, faces (F, 3) int64."""
    theta = np.arange(n_major) * 2 * np.pi / n_major
    phi = np.arange(n_minor) * 2 * np.pi / n_minor
    t, p = np.meshgrid(theta, phi, indexing="ij")
    ring = major + minor * np.cos(p)
    vertices = np.stack([ring * np.cos(t), ring * np.sin(t), minor * np.sin(p)], axis=-1).reshape(-1, 3)
    faces = []
    for i in range(n_major):
        for j in range(n_minor):
            a, b = i * n_minor + j, ((i + 1) % n_major) * n_minor + j
            c, d = ((i + 1) % n_major) * n_minor + (j + 1) % n_minor, i * n_minor + (j + 1) % n_minor
            faces += [(a, b, c), (a, c, d)]
    return vertices, np.asarray(faces, dtype=np.int64)


def l_prism(height: float = 0.6):
    """An L-shaped polygon (non-convex) extruded along y, centred: vertices (12, 3), faces (20, 3)."""
    polygon = np.array([(0, 0), (2, 0), (2, 1), (1, 1), (1, 2), (0, 2)], dtype=np.float64) * 0.6 - 0.6
    n = len(polygon)
    # polygon in the (x, z) plane; extrusion along y. Counter-clockwise seen from -y is clockwise from +y.
    bottom = np.stack([polygon[:, 0], np.full(n, -height / 2), polygon[:, 1]], axis=1)
    top = np.stack([polygon[:, 0], np.full(n, height / 2), polygon[:, 1]], axis=1)
    vertices = np.concatenate([bottom, top])
    cap = [(3, 4, 5), (3, 5, 0), (3, 0, 1), (3, 1, 2)]  # fan from the reflex vertex, CCW in (x, z)
    faces = []
    for a, b, c in cap:
        faces.append((a, b, c))                 # seen from -y
        faces.append((n + a, n + c, n + b))     # seen from +y
    for k in range(n):
        a, b = k, (k + 1) % n
        faces += [(a, n + a, n + b), (a, n + b, b)]
    faces = np.asarray(faces, dtype=np.int64)
    return vertices, orient_outward(vertices, faces)


def orient_outward(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Flip every face if the mesh's signed volume is negative (construction is consistent, only the sign)."""
    a, b, c = vertices[faces[:, 0]], vertices[faces[:, 1]], vertices[faces[:, 2]]
    volume = np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6
    return faces if volume > 0 else faces[:, ::-1].copy()


def signed_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    a, b, c = vertices[faces[:, 0]], vertices[faces[:, 1]], vertices[faces[:, 2]]
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6)
