"""Hand-built car shapes made for this project (not testbed meshes): closed lofted bodies, numpy only.

A shape is a loft of cross-sections along y (front at -y, the project's object frame: x lateral, z up). Each
section is an 8-point polygon in (x, z): rocker, flank, belt line, and a narrower greenhouse/roof on top; the
bottom dips to the ground around the two axles so the silhouette shows wheels. The two ends are capped by
fans, so the mesh is closed and watertight by construction; faces are wound counter-clockwise seen from outside.

    vertices, faces = car_shape("saloon")      # (V, 3) float64, (F, 3) int64
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CarProfile:
    """Proportions of a hand-built car, in units of its half-length (the car spans y in [-1, 1]).

    u = (y + 1) / 2 runs from the front bumper (0) to the rear bumper (1). Heights are above the ground.
    """

    half_width: float = 0.42
    ride: float = 0.11            # underbody height between the wheels
    wheel_radius: float = 0.16    # in units of y
    axles: tuple[float, float] = (0.17, 0.81)   # u of the front and rear axle
    nose: float = 0.27            # height of the front bumper top
    hood: float = 0.40            # height at the windshield base
    belt: float = 0.45            # belt line along the cabin
    tail: float = 0.30            # height of the rear bumper top
    deck: float = 0.43            # boot-lid height
    roof: float = 0.71
    greenhouse: tuple[float, float, float, float] = (0.32, 0.48, 0.70, 0.88)  # windshield base/top, rear top/base
    tumblehome: float = 0.78      # roof half-width / body half-width


PROFILES = {
    "saloon": CarProfile(),
    "suv": CarProfile(half_width=0.44, ride=0.15, wheel_radius=0.18, nose=0.36, hood=0.52, belt=0.56, tail=0.42,
                      deck=0.56, roof=0.92, greenhouse=(0.27, 0.40, 0.94, 0.99), tumblehome=0.86),
    "sports": CarProfile(half_width=0.45, ride=0.07, wheel_radius=0.15, axles=(0.18, 0.80), nose=0.20, hood=0.30,
                         belt=0.36, tail=0.30, deck=0.36, roof=0.52, greenhouse=(0.38, 0.54, 0.68, 0.90),
                         tumblehome=0.72),
}
#: The single generic template (single-template mode) and the three of the multi-template mode.
GENERIC = "saloon"
MULTI = ("saloon", "suv", "sports")


def _interp(u: np.ndarray, knots: list[tuple[float, float]]) -> np.ndarray:
    xs, ys = zip(*knots)
    return np.interp(u, xs, ys)


def _smooth(x: np.ndarray) -> np.ndarray:
    return x * x * (3 - 2 * x)


def car_shape(profile: str | CarProfile = GENERIC, sections: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """A closed car mesh: (V, 3) float64 vertices in the object frame (not normalised), (F, 3) int64 faces."""
    p = PROFILES[profile] if isinstance(profile, str) else profile
    # cosine spacing: more sections near the rounded ends
    u = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, sections))
    y = 2 * u - 1
    wb, wt, rt, rb = p.greenhouse
    top_body = _interp(u, [(0.0, p.nose), (0.06, 0.5 * (p.nose + p.hood)), (wb, p.hood), (wb + 0.02, p.belt),
                           (rb - 0.02, p.belt), (rb, p.deck), (0.95, 0.5 * (p.deck + p.tail)), (1.0, p.tail)])
    rise_front = _smooth(np.clip((u - wb) / max(wt - wb, 1e-6), 0, 1))
    rise_back = _smooth(np.clip((rb - u) / max(rb - rt, 1e-6), 0, 1))
    roof = p.belt + (p.roof - p.belt) * np.minimum(rise_front, rise_back)
    roof = np.where((u > wb) & (u < rb), roof, 0.0)
    top = np.maximum(top_body + 0.03, roof)                  # hood/deck crown where there is no cabin
    cabin = np.clip((top - top_body - 0.03) / 0.08, 0, 1)    # 0 on the hood, 1 under the roof
    bottom = np.full_like(u, p.ride)
    radius_u = p.wheel_radius / 2
    for axle in p.axles:
        d = np.clip(1 - ((u - axle) / (radius_u * 1.25)) ** 2, 0, None)
        bottom = np.minimum(bottom, p.ride * (1 - np.sqrt(d)))
    # rounded ends: the body narrows and its corners pull in over the first/last few per cent
    end = np.minimum(u, 1 - u)
    width = p.half_width * (0.80 + 0.20 * _smooth(np.clip(end / 0.08, 0, 1)))
    roof_width = width * (0.92 - (0.92 - p.tumblehome) * cabin)
    flank_low = bottom + 0.04
    flank_high = np.maximum(top_body - 0.05, flank_low + 0.02)
    rings = []
    for i in range(sections):
        w, wr = width[i], roof_width[i]
        ring = [(-w * 0.92, bottom[i]), (-w, flank_low[i]), (-w, flank_high[i]), (-wr, top[i]),
                (wr, top[i]), (w, flank_high[i]), (w, flank_low[i]), (w * 0.92, bottom[i])]
        rings.append([(x, y[i], z) for x, z in ring])
    ring_vertices = np.asarray(rings, np.float64).reshape(-1, 3)
    m = 8
    centres = np.array([ring_vertices[:m].mean(0), ring_vertices[-m:].mean(0)])
    vertices = np.concatenate([ring_vertices, centres])
    front_c, back_c = len(ring_vertices), len(ring_vertices) + 1
    faces = []
    for i in range(sections - 1):
        for j in range(m):
            a, b = i * m + j, i * m + (j + 1) % m
            c, d = (i + 1) * m + (j + 1) % m, (i + 1) * m + j
            faces += [(a, b, c), (a, c, d)]
    for j in range(m):
        faces.append((front_c, (j + 1) % m, j))
        last = (sections - 1) * m
        faces.append((back_c, last + j, last + (j + 1) % m))
    faces = np.asarray(faces, np.int64)
    return vertices, orient_outward(vertices, faces)


def orient_outward(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Flip every face if the signed volume of the closed mesh is negative (faces wound inward)."""
    tri = vertices[faces]
    volume = np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6
    return faces if volume >= 0 else faces[:, ::-1].copy()
