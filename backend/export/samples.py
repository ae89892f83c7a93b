"""Writing a batch of generated meshes as the original project's sample export (§1.5): ``mesh_<j>.*`` files
plus, for reproducibility, ``latents.npy`` (N, latent_dim) float32 and ``samples.json`` (one record per mesh:
files, seed, class, truncation; plus whatever metadata the caller adds, e.g. the model's source).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol

import numpy as np

from ..mesh import MeshTemplate
from . import export_mesh
from .frames import Origin

MANIFEST_NAME = "samples.json"
LATENTS_NAME = "latents.npy"


class MeshSample(Protocol):
    """What :func:`export_samples` reads from each mesh (``backend.sampling.GeneratedMesh`` fits)."""

    vertices: np.ndarray
    texture: np.ndarray
    seed: int
    class_index: "int | None"
    class_name: "str | None"
    truncation: float
    latent: np.ndarray


@dataclass
class SampleExport:
    """Result of :func:`export_samples`: every file written, in order, and the two bookkeeping files."""

    mesh_files: list[Path]
    manifest: Path
    latents: Path
    count: int


def export_samples(meshes: Iterable[MeshSample], directory: str | Path, template: MeshTemplate,
                   file_format: str = "obj", target_length: float | None = None, origin: Origin = "object",
                   metadata: dict[str, Any] | None = None,
                   on_mesh: Callable[[int], None] | None = None) -> SampleExport:
    """Write mesh j of ``meshes`` as ``directory/mesh_<j>.obj/.mtl/.png`` (or ``.glb``), then the manifest.

    meshes: an iterable (e.g. the generator returned by ``MeshGenerator.generate``), consumed lazily.
    file_format: "obj" or "glb". target_length, origin: see :func:`backend.export.frames.place_in_world`.
    metadata: JSON-able facts stored at the top of ``samples.json`` (model source, untrained flag, ...).
    on_mesh: called with the number of meshes written so far after each one (for progress bars).
    The output is byte-identical for identical inputs.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    records: list[dict[str, Any]] = []
    latents: list[np.ndarray] = []
    for j, mesh in enumerate(meshes):
        name = f"mesh_{j}"
        written = export_mesh(directory, name, mesh.vertices, mesh.texture, template, file_format,
                              target_length, origin)
        files += written
        latents.append(np.asarray(mesh.latent, dtype=np.float32))
        records.append({"file": written[0].name, "seed": int(mesh.seed),
                        "class_index": mesh.class_index, "class_name": mesh.class_name,
                        "truncation": float(mesh.truncation)})
        if on_mesh is not None:
            on_mesh(j + 1)
    if not records:
        raise ValueError("no meshes to export")
    latents_path = directory / LATENTS_NAME
    np.save(latents_path, np.stack(latents))
    manifest = {**(metadata or {}), "format": file_format, "target_length": target_length, "origin": origin,
                "frame": "files are Y-up: object (x, y, z) -> file (x, z, -y); object front = -y (file +Z)",
                "latents": LATENTS_NAME, "meshes": records}
    manifest_path = directory / MANIFEST_NAME
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return SampleExport(mesh_files=files, manifest=manifest_path, latents=latents_path, count=len(records))
