"""Procedural car meshes built in numpy, in the project's object frame.

Object frame (docs/architecture.md): x = lateral (left-right), y = front-back with the **front at -y**,
z = up. Every car is centred on its bounding box and scaled so that its half-length along y is 1, so it
sits roughly in [-1, 1]^3 like the generator's meshes.

A car is a union of closed, outward-wound triangle meshes (body, cabin, four wheels, lights, bumpers);
overlapping parts intersect, which is harmless for silhouettes, renders and masks. Each face carries a
part id from :data:`PART_NAMES` (0 is reserved for the background).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Part vocabulary of the synthetic set; index = value in part maps (0 = background).
PART_NAMES: tuple[str, ...] = ("background", "body", "wheel", "window", "headlight", "taillight", "bumper")
PART_IDS: dict[str, int] = {name: i for i, name in enumerate(PART_NAMES)}

BODY_TYPES: tuple[str, ...] = ("sedan", "hatchback", "suv", "van", "pickup", "sports")

#: Surface finishes (Blender material slots); a part may use several (a wheel has a tyre and a rim).
MATERIALS: tuple[str, ...] = ("body", "wheel", "window", "headlight", "taillight", "bumper", "rim")


@dataclass(frozen=True)
class BodyStyle:
    """Proportions of a body type; lengths are fractions of the car length (front = 0, rear = 1)."""

    width: float  # full width / length
    ride: float  # bottom of the body above ground / length
    belt: float  # belt line (top of the lower body) above ground / length
    roof: float  # roof above ground / length
    hood: float  # hood height at the nose, as a fraction of the belt height
    cabin: tuple[float, float]  # cabin start / end along the length
    slopes: tuple[float, float]  # windshield / rear-window run, fractions of the length
    deck: float = 1.0  # rear-deck height as a fraction of the belt height (pickup bed, trunk)
    wheel: float = 0.085  # wheel radius / length


STYLES: dict[str, BodyStyle] = {
    "sedan": BodyStyle(0.41, 0.035, 0.19, 0.30, 0.85, (0.30, 0.76), (0.13, 0.11)),
    "hatchback": BodyStyle(0.45, 0.04, 0.21, 0.36, 0.85, (0.30, 0.97), (0.13, 0.05)),
    "suv": BodyStyle(0.43, 0.06, 0.25, 0.39, 0.9, (0.28, 0.98), (0.10, 0.03), wheel=0.09),
    "van": BodyStyle(0.40, 0.045, 0.22, 0.44, 0.82, (0.12, 0.99), (0.10, 0.02), wheel=0.075),
    "pickup": BodyStyle(0.38, 0.06, 0.22, 0.36, 0.92, (0.30, 0.58), (0.09, 0.03), deck=1.05, wheel=0.09),
    "sports": BodyStyle(0.45, 0.025, 0.15, 0.25, 0.65, (0.38, 0.78), (0.16, 0.16), wheel=0.08),
}


@dataclass
class CarMesh:
    """A triangle mesh with per-face part ids.

    vertices: (V, 3) float32, object frame (x lateral, y front-back with front = -y, z up), about [-1, 1].
    faces: (F, 3) int64, counter-clockwise seen from outside (outward normals).
    face_parts: (F,) int64 indices into :data:`PART_NAMES` (never 0).
    face_materials: (F,) int64 indices into :data:`MATERIALS`, or None (then the part's own finish).
    """

    vertices: np.ndarray
    faces: np.ndarray
    face_parts: np.ndarray
    body_type: str = ""
    params: dict = field(default_factory=dict)
    face_materials: np.ndarray | None = None

    def materials(self) -> np.ndarray:
        """(F,) int64 material slot of every face."""
        if self.face_materials is not None:
            return self.face_materials
        return np.array([MATERIALS.index(PART_NAMES[p]) for p in self.face_parts], np.int64)


@dataclass
class _Builder:
    vertices: list[np.ndarray] = field(default_factory=list)
    faces: list[np.ndarray] = field(default_factory=list)
    parts: list[np.ndarray] = field(default_factory=list)
    materials: list[np.ndarray] = field(default_factory=list)
    count: int = 0

    def add(self, vertices: np.ndarray, faces: np.ndarray, parts: np.ndarray | int, material: str | None = None
            ) -> None:
        faces = _orient_outward(vertices, faces)
        self.vertices.append(vertices)
        self.faces.append(faces + self.count)
        parts = np.broadcast_to(np.asarray(parts, np.int64), (len(faces),)).copy()
        self.parts.append(parts)
        if material is None:
            self.materials.append(np.array([MATERIALS.index(PART_NAMES[p]) for p in parts], np.int64))
        else:
            self.materials.append(np.full(len(faces), MATERIALS.index(material), np.int64))
        self.count += len(vertices)

    def build(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return (np.concatenate(self.vertices), np.concatenate(self.faces), np.concatenate(self.parts),
                np.concatenate(self.materials))


def _signed_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)


def _orient_outward(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Flip every face of a closed, consistently wound component if its signed volume is negative."""
    return faces[:, ::-1].copy() if _signed_volume(vertices, faces) < 0 else faces


def _loft(rings: np.ndarray, cap: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Triangulate a tube through closed rings (S, M, 3), with fan caps at both ends."""
    s, m, _ = rings.shape
    vertices = rings.reshape(-1, 3)
    faces = []
    for i in range(s - 1):
        for j in range(m):
            a, b = i * m + j, i * m + (j + 1) % m
            c, d = a + m, b + m
            faces += [(a, b, d), (a, d, c)]
    if cap:
        centres = np.stack([rings[0].mean(0), rings[-1].mean(0)])
        first, last = len(vertices), len(vertices) + 1
        vertices = np.concatenate([vertices, centres])
        for j in range(m):
            faces.append((first, (j + 1) % m, j))
            faces.append((last, (s - 1) * m + j, (s - 1) * m + (j + 1) % m))
    return vertices.astype(np.float64), np.asarray(faces, np.int64)


def _superellipse(half_w: float, z0: float, z1: float, n: int, exponent: float) -> np.ndarray:
    """A closed rounded-rectangle ring in the (x, z) plane; returns (n, 2)."""
    theta = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    c, s = np.cos(theta), np.sin(theta)
    power = 2.0 / exponent
    x = half_w * np.sign(c) * np.abs(c) ** power
    z = (z0 + z1) / 2 + (z1 - z0) / 2 * np.sign(s) * np.abs(s) ** power
    return np.stack([x, z], axis=1)


def _box(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x0, y0, z0 = lo
    x1, y1, z1 = hi
    v = np.array([[x0, y0, z0], [x1, y0, z0], [x1, y1, z0], [x0, y1, z0],
                  [x0, y0, z1], [x1, y0, z1], [x1, y1, z1], [x0, y1, z1]], np.float64)
    f = np.array([[0, 2, 1], [0, 3, 2], [4, 5, 6], [4, 6, 7], [0, 1, 5], [0, 5, 4],
                  [1, 2, 6], [1, 6, 5], [2, 3, 7], [2, 7, 6], [3, 0, 4], [3, 4, 7]], np.int64)
    return v, f


def _wheel(centre: np.ndarray, radius: float, width: float, segments: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """A capped cylinder with its axis along x."""
    theta = np.linspace(0.0, 2 * np.pi, segments, endpoint=False)
    ring = np.stack([np.zeros_like(theta), radius * np.cos(theta), radius * np.sin(theta)], axis=1)
    rings = np.stack([ring + centre + [-width / 2, 0, 0], ring + centre + [width / 2, 0, 0]])
    return _loft(rings)


def _interp(profile: list[tuple[float, float]], t: np.ndarray) -> np.ndarray:
    xs, ys = zip(*profile)
    return np.interp(t, xs, ys)


def _lower_body(style: BodyStyle, length: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    stations = np.concatenate([[0.0, 0.012, 0.035], np.linspace(0.07, 0.93, 14), [0.965, 0.988, 1.0]])
    hood = style.hood * style.belt
    deck = style.deck * style.belt
    c0, c1 = style.cabin
    top = _interp([(0.0, hood * 0.8), (0.04, hood), (c0, style.belt), (c1, style.belt),
                   (min(c1 + 0.05, 0.99), deck), (0.97, deck), (1.0, deck * 0.88)], stations)
    bottom = _interp([(0.0, style.ride * 1.6), (0.05, style.ride), (0.95, style.ride), (1.0, style.ride * 1.6)],
                     stations)
    taper = _interp([(0.0, 0.86), (0.05, 0.97), (0.2, 1.0), (0.85, 1.0), (0.97, 0.96), (1.0, 0.88)], stations)
    exponent = rng.uniform(3.5, 6.0)
    rings = []
    for t, z0, z1, k in zip(stations, bottom, top, taper):
        ring = _superellipse(style.width / 2 * k, z0, z1, 24, exponent)
        y = np.full(len(ring), t)
        rings.append(np.stack([ring[:, 0], y, ring[:, 1]], axis=1))
    return _loft(np.asarray(rings) * length)


def _cabin(style: BodyStyle, length: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A lofted trapezoid greenhouse; side and sloped faces are window, the flat roof and a B-pillar are body."""
    pillar_at = rng.uniform(0.35, 0.6)  # B-pillar position along the roof
    c0, c1 = style.cabin
    run_front, run_rear = style.slopes
    base = style.belt - 0.02
    # y stations: front foot, front top, rear top, rear foot (plus subdivisions on the roof).
    roof_start, roof_end = c0 + run_front, c1 - run_rear
    pillar = roof_start + (roof_end - roof_start) * pillar_at
    half = 0.012
    ys = np.array([c0, roof_start, pillar - half, pillar + half, roof_end, c1])
    tops = np.array([base + 0.004, style.roof, style.roof, style.roof, style.roof, base + 0.004])
    tumble = rng.uniform(0.68, 0.82)  # roof width / belt width
    half_bottom = style.width / 2 * 0.93
    rings = []
    for y, z1 in zip(ys, tops):
        half_top = half_bottom * (tumble if z1 > base + 0.01 else 0.99)
        ring = [(-half_bottom, base), (half_bottom, base), (half_top, z1), (-half_top, z1)]
        rings.append([(x, y, z) for x, z in ring])
    vertices, faces = _loft(np.asarray(rings) * length)
    normals = np.cross(vertices[faces[:, 1]] - vertices[faces[:, 0]], vertices[faces[:, 2]] - vertices[faces[:, 0]])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True) + 1e-12
    centres = vertices[faces].mean(1)
    roof = (np.abs(normals[:, 2]) > 0.97) & (centres[:, 2] > (base + 0.5 * (style.roof - base)) * length)
    bottom = centres[:, 2] < (base + 0.006) * length
    in_pillar = np.abs(centres[:, 1] - ys[2:4].mean() * length) < 0.0121 * length
    parts = np.where(roof | bottom | in_pillar, PART_IDS["body"], PART_IDS["window"])
    return vertices, faces, parts


def sample_style(body_type: str, rng: np.random.Generator) -> BodyStyle:
    """Jitter the base proportions of ``body_type`` (about ±8%)."""
    base = STYLES[body_type]
    j = lambda v, a=0.08: float(v * rng.uniform(1 - a, 1 + a))  # noqa: E731
    c0 = float(np.clip(j(base.cabin[0], 0.1), 0.08, 0.45))
    c1 = float(np.clip(j(base.cabin[1], 0.03), c0 + 0.2, 0.995))
    belt = j(base.belt)
    return BodyStyle(width=j(base.width), ride=j(base.ride, 0.2), belt=belt, roof=max(j(base.roof), belt + 0.06),
                     hood=min(j(base.hood, 0.05), 1.0), cabin=(c0, c1),
                     slopes=(j(base.slopes[0], 0.2), j(base.slopes[1], 0.3)), deck=base.deck,
                     wheel=j(base.wheel, 0.1))


def build_car(seed: int, body_type: str | None = None) -> CarMesh:
    """Build one procedural car, deterministically from ``seed`` (and an optional forced body type)."""
    rng = np.random.default_rng(seed)
    if body_type is None:
        body_type = BODY_TYPES[int(rng.integers(len(BODY_TYPES)))]
    if body_type not in STYLES:
        raise ValueError(f"unknown body type {body_type!r}; choose one of {', '.join(BODY_TYPES)}")
    style = sample_style(body_type, rng)
    length = 1.0
    b = _Builder()
    v, f = _lower_body(style, length, rng)
    b.add(v, f, PART_IDS["body"])
    v, f, p = _cabin(style, length, rng)
    b.add(v, f, p)

    # Wheels: axis along x, sticking out of the body by a little.
    radius = style.wheel * length
    width = rng.uniform(0.055, 0.075) * length
    x = style.width / 2 * length - width * 0.35
    rim = rng.uniform(0.5, 0.7)  # rim radius / tyre radius
    overhang_front = rng.uniform(0.15, 0.21)
    overhang_rear = rng.uniform(0.17, 0.24) if body_type != "van" else rng.uniform(0.1, 0.15)
    for y in (overhang_front * length, (1 - overhang_rear) * length):
        for side in (-1, 1):
            v, f = _wheel(np.array([side * x, y, radius]), radius, width)
            b.add(v, f, PART_IDS["wheel"])
            v, f = _wheel(np.array([side * x, y, radius]), radius * rim, width * 1.08)
            b.add(v, f, PART_IDS["wheel"], material="rim")

    # Lights and bumpers: thin boxes poking out of the nose and the tail.
    hood = style.hood * style.belt * length
    deck = style.deck * style.belt * length
    lw = rng.uniform(0.07, 0.12) * length
    lh = rng.uniform(0.025, 0.045) * length
    lx = style.width / 2 * length * rng.uniform(0.55, 0.72)
    for side in (-1, 1):
        zc = hood * 0.72
        lo = np.array([side * lx - lw / 2, -0.006 * length, zc - lh / 2])
        b.add(*_box(lo, lo + [lw, 0.04 * length, lh]), PART_IDS["headlight"])
        zc = deck * 0.78
        lo = np.array([side * lx - lw / 2, 0.966 * length, zc - lh / 2])
        b.add(*_box(lo, lo + [lw, 0.04 * length, lh]), PART_IDS["taillight"])
    bw = style.width * length * 0.9
    bh = rng.uniform(0.03, 0.05) * length
    bz = style.ride * length * 1.6
    b.add(*_box(np.array([-bw / 2, -0.012 * length, bz]), np.array([bw / 2, 0.05 * length, bz + bh])),
          PART_IDS["bumper"])
    b.add(*_box(np.array([-bw / 2, 0.95 * length, bz]), np.array([bw / 2, 1.012 * length, bz + bh])),
          PART_IDS["bumper"])

    vertices, faces, parts, materials = b.build()
    lo, hi = vertices.min(0), vertices.max(0)
    vertices = (vertices - (lo + hi) / 2) / ((hi[1] - lo[1]) / 2)
    return CarMesh(vertices.astype(np.float32), faces, parts, body_type,
                   {"ground_z": float(vertices[:, 2].min()), "style": style.__dict__ | {"cabin": list(style.cabin)}},
                   materials)
