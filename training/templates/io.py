"""Template files: T remeshed templates on the 962-vertex sphere topology, safetensors + JSON header.

    tensors  vertices (T, 962, 3) float32, object frame (x lateral, y front-back with front -y, z up),
             jointly normalised (§2.7 step 5: common box centred, max |coordinate| = 1)
    header   {"kind": "gan3d-templates", "version": 1, "names": [...T], "rings": 31, "frame": "object",
              "sources": [...], "silhouette_iou": [...]}

Shipped templates (``training/templates/assets``), by name: ``car`` (one generic hand-built saloon,
single-template mode) and ``car3`` (saloon, SUV, sports: the multi-template mode).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

KIND = "gan3d-templates"
VERSION = 1
ASSETS = Path(__file__).resolve().parent / "assets"
BUILTIN = {"car": "car.safetensors", "car3": "car3.safetensors"}


@dataclass
class TemplateSet:
    """vertices: (T, 962, 3) float32; names: T names; meta: the rest of the header."""

    vertices: np.ndarray
    names: list[str]
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.vertices.shape[0])


def save_templates(path: str | os.PathLike, templates: TemplateSet) -> Path:
    """Write a template file atomically."""
    import torch

    from training.engine import atomic_save

    v = np.asarray(templates.vertices, np.float32)
    if v.ndim != 3 or v.shape[2] != 3 or v.shape[0] != len(templates.names):
        raise ValueError(f"templates must be (T, V, 3) with T names, got {v.shape} and {len(templates.names)} names")
    header = {**templates.meta, "kind": KIND, "version": VERSION, "names": list(templates.names), "frame": "object"}
    return atomic_save(path, {"vertices": torch.from_numpy(v.copy())}, header)


def resolve_template_path(name_or_path: str | os.PathLike) -> Path:
    """A shipped template name (``car``, ``car3``) or a file path -> the file path."""
    key = str(name_or_path)
    if key in BUILTIN:
        return ASSETS / BUILTIN[key]
    return Path(name_or_path)


def load_templates(name_or_path: str | os.PathLike = "car") -> TemplateSet:
    """Read a template file (or a shipped one by name). Raises ValueError (one line) when unusable."""
    from backend.mesh import uv_sphere
    from training.engine import StateFileError, load_state

    path = resolve_template_path(name_or_path)
    try:
        tensors, header = load_state(path)
    except StateFileError as exc:
        raise ValueError(f"templates: {exc} (use a shipped name: {', '.join(BUILTIN)}, or run "
                         "`python -m backend.train templates remesh`)") from None
    if header.get("kind") != KIND or "vertices" not in tensors:
        raise ValueError(f"{path} is not a template file (kind {header.get('kind')!r})")
    v = tensors["vertices"].numpy().astype(np.float32)
    n = uv_sphere().num_vertices
    if v.ndim != 3 or v.shape[1:] != (n, 3) or not np.isfinite(v).all():
        raise ValueError(f"{path}: templates must be finite (T, {n}, 3), got {tuple(v.shape)}")
    meta = {k: val for k, val in header.items() if k not in ("kind", "version", "names")}
    return TemplateSet(v, list(header.get("names") or [f"template{i}" for i in range(len(v))]), meta)


def read_mesh_file(path: str | os.PathLike, up: str = "z") -> tuple[np.ndarray, np.ndarray]:
    """Read any mesh trimesh opens as (V, 3) float64 object-frame vertices and (F, 3) int64 triangles.

    up: "z" (the file is already in the object frame: z up, front -y) or "y" (a Y-up OBJ/glTF as the project
    exports them: file (x, y, z) -> object (x, -z, y)). Raises TemplateError when unreadable.
    """
    import trimesh

    from .remesh import TemplateError

    path = Path(path)
    if not path.is_file():
        raise TemplateError(f"{path}: mesh file not found")
    try:
        mesh = trimesh.load(path, force="mesh", process=False)
    except Exception as exc:  # trimesh raises many types for broken files
        raise TemplateError(f"{path}: cannot read the mesh ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})")
    vertices = np.asarray(getattr(mesh, "vertices", np.zeros((0, 3))), np.float64)
    faces = np.asarray(getattr(mesh, "faces", np.zeros((0, 3))), np.int64)
    if len(vertices) == 0 or len(faces) == 0:
        raise TemplateError(f"{path}: holds no triangles")
    if up == "y":
        vertices = np.stack([vertices[:, 0], -vertices[:, 2], vertices[:, 1]], axis=1)
    elif up != "z":
        raise ValueError(f"up must be 'z' or 'y', got {up!r}")
    return vertices, faces
