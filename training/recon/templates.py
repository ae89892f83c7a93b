"""Semi-supervision templates (§4.3): meshes on the sphere topology that the reconstruction is pulled toward.

``--template`` takes a template file of ``backend.train templates`` (``training.templates``: (T, 962, 3) vertices
in the sphere's vertex order) or a shipped name (``car``, ``car3``), a plain ``.npy`` / ``.npz`` array of the same
shape, or ``sphere``: the UV sphere scaled per axis to a typical car (:data:`DEFAULT_EXTENT`). Without the option
a run uses the templates its pose file was fitted with (so the pose file's template indices match), or ``car``.
"""
from __future__ import annotations

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


SPHERE = "sphere"


def load_templates(path: str | os.PathLike, template: MeshTemplate) -> np.ndarray:
    """Read templates for ``template``'s topology: (T, V, 3) float32, object frame.

    Accepted: ``sphere``; a shipped name or a ``training.templates`` file; ``.npy`` holding (T, V, 3) or (V, 3);
    ``.npz`` with an array named ``templates`` or ``vertices`` (the first array otherwise).
    """
    if str(path) == SPHERE:
        return scaled_sphere(template)
    from training.templates import BUILTIN
    from training.templates import load_templates as load_template_file

    if str(path) in BUILTIN or str(path).endswith(".safetensors"):
        try:
            array = load_template_file(path).vertices
        except ValueError as exc:
            raise TemplateFileError(str(exc)) from None
        return _checked(array, Path(path), template)
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
        else:
            raise TemplateFileError(f"{path}: unsupported template file type {path.suffix!r} "
                                    f"(use a templates .safetensors file, .npy or .npz)")
    except (OSError, ValueError, StopIteration) as exc:
        if isinstance(exc, TemplateFileError):
            raise
        raise TemplateFileError(f"{path}: not a readable template file ({exc})") from None
    return _checked(array, path, template)


def _checked(array, path: Path, template: MeshTemplate) -> np.ndarray:
    array = np.asarray(array, np.float32)
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or array.shape[1:] != (template.num_vertices, 3):
        raise TemplateFileError(f"{path}: templates must have shape (T, {template.num_vertices}, 3) for the "
                                f"{template.rings}-ring sphere, got {array.shape}")
    if not np.isfinite(array).all():
        raise TemplateFileError(f"{path}: templates contain NaN or infinite coordinates")
    return array
