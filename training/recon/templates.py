"""Semi-supervision templates (§4.3): meshes on the sphere topology that the reconstruction is pulled toward.

Either a file of remeshed templates (``--template FILE``: (T, V, 3) object-frame vertices in the sphere's vertex
order, see :func:`load_templates`) or, when none is given, the plain UV sphere scaled per axis to a typical car
(:data:`DEFAULT_EXTENT`).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from backend.mesh import MeshTemplate

#: Half extents (x lateral, y front-back, z up) of the default template: the medians over the 16 cars of the
#: synthetic testbed's probe set (training/synth cars are normalised to half-length 1 along y).
DEFAULT_EXTENT = (0.44, 1.0, 0.33)


class TemplateFileError(ValueError):
    """A template file is missing, unreadable or of the wrong shape. One-line message."""


def scaled_sphere(template: MeshTemplate, extent: tuple[float, float, float] = DEFAULT_EXTENT) -> np.ndarray:
    """(1, V, 3) float32: the unit sphere scaled by ``extent`` per axis."""
    return (template.vertices * np.asarray(extent, np.float32))[None].astype(np.float32)


def load_templates(path: str | os.PathLike, template: MeshTemplate) -> np.ndarray:
    """Read templates for ``template``'s topology: (T, V, 3) float32, object frame.

    Accepted files: ``.npy`` holding (T, V, 3) or (V, 3); ``.npz`` / ``.safetensors`` with an array named
    ``templates`` or ``vertices`` (the first array otherwise).
    """
    path = Path(path)
    if not path.is_file():
        raise TemplateFileError(f"template file not found: {path}")
    try:
        if path.suffix == ".npy":
            array = np.load(path, allow_pickle=False)
        elif path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                name = next((k for k in ("templates", "vertices") if k in data.files), data.files[0])
                array = data[name]
        elif path.suffix == ".safetensors":
            from safetensors.numpy import load_file

            tensors = load_file(str(path))
            name = next((k for k in ("templates", "vertices") if k in tensors), next(iter(tensors)))
            array = tensors[name]
        else:
            raise TemplateFileError(f"{path}: unsupported template file type {path.suffix!r} "
                                    f"(use .npy, .npz or .safetensors)")
    except (OSError, ValueError, StopIteration, json.JSONDecodeError) as exc:
        if isinstance(exc, TemplateFileError):
            raise
        raise TemplateFileError(f"{path}: not a readable template file ({exc})") from None
    array = np.asarray(array, np.float32)
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or array.shape[1:] != (template.num_vertices, 3):
        raise TemplateFileError(f"{path}: templates must have shape (T, {template.num_vertices}, 3) for the "
                                f"{template.rings}-ring sphere, got {array.shape}")
    if not np.isfinite(array).all():
        raise TemplateFileError(f"{path}: templates contain NaN or infinite coordinates")
    return array
