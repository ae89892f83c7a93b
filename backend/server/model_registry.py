"""Worker-side model handling: which models to load, how ``info`` describes them, texture resizing.

Imports torch (through backend.models) lazily, inside functions, so the broker process stays light.
"""
from __future__ import annotations

import hashlib
import pathlib
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from backend.protocol import MIN_TEXTURE_SIZE

DEFAULT_MODEL_NAME = "default"


@dataclass(frozen=True)
class ModelSpec:
    """How a worker obtains one model: exactly one of ``checkpoint`` / ``random_init`` / ``default``.

    name: the name clients use (``info.models[].name``).
    checkpoint: path of an official ``.pth`` or a project ``.safetensors``.
    random_init: a preset name of ``backend.models.PRESETS`` (an untrained generator, seed 0).
    default: the embedded ``backend.models.default_model()``.
    """

    name: str
    checkpoint: str | None = None
    random_init: str | None = None
    default: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def model_specs(checkpoints: list[str] | None, random_init: list[str] | None) -> list[ModelSpec]:
    """The models a server runs: each checkpoint (named by file stem), each random-init preset
    (named ``random-<preset>``), or the embedded default when neither is given.

    Raises ValueError (one line) for missing files or names that collide.
    """
    specs: list[ModelSpec] = []
    for path in checkpoints or []:
        file = pathlib.Path(path)
        if not file.is_file():
            raise ValueError(f"checkpoint {path} does not exist")
        specs.append(ModelSpec(name=file.stem if file.stem != "checkpoint_latest" else file.parent.name or file.stem,
                               checkpoint=str(file.resolve())))
    for preset in random_init or []:
        specs.append(ModelSpec(name=f"random-{preset}", random_init=preset))
    if not specs:
        specs.append(ModelSpec(name=DEFAULT_MODEL_NAME, default=True))
    names = [s.name for s in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"two models would be called {duplicates}; rename one of the checkpoint files")
    return specs


def load_spec(spec: ModelSpec):
    """Load the model a spec describes -> ``backend.models.LoadedModel`` (raises CheckpointError/ValueError),
    through the model choice every CLI shares (``backend.model_choice``)."""
    from backend.model_choice import select_model

    return select_model(checkpoint=spec.checkpoint or None, random_init=spec.random_init or None)


def texture_sizes(native: int) -> list[int]:
    """The sizes a model offers: its own and its halvings down to MIN_TEXTURE_SIZE, largest first."""
    sizes = [native]
    while sizes[-1] // 2 >= MIN_TEXTURE_SIZE and sizes[-1] % 2 == 0:
        sizes.append(sizes[-1] // 2)
    return sizes


def describe_model(name: str, loaded) -> dict[str, Any]:
    """The ``info.models`` entry of a LoadedModel (JSON-able)."""
    from backend import models

    config = loaded.config
    conditional = loaded.conditional
    return {
        "name": name,
        "classes": list(loaded.class_names) if conditional else [],
        "category": (loaded.class_names[0] if not conditional and loaded.class_names else None),
        "texture_size": config.texture_resolution,
        "texture_sizes": texture_sizes(config.texture_resolution),
        "latent_dim": config.latent_dim,
        "untrained": bool(loaded.untrained),
        "provenance": loaded.provenance,
        "source": loaded.source,
        "config": config.to_dict(),
        "fingerprint": models.weights_fingerprint(loaded),
    }


def downsample_texture(texture: np.ndarray, size: int) -> np.ndarray:
    """(T, T, 3) uint8 -> (size, size, 3) uint8 by averaging (T/size)² pixel blocks (size divides T)."""
    native = texture.shape[0]
    if size == native:
        return texture
    factor = native // size
    blocks = texture.reshape(size, factor, size, factor, 3).astype(np.float32)
    return np.ascontiguousarray(np.rint(blocks.mean(axis=(1, 3))).astype(np.uint8))


def topology_arrays(template) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The fixed topology of a ``backend.mesh.MeshTemplate`` as wire arrays plus its ``info.topology`` entry."""
    arrays = {
        "faces": np.ascontiguousarray(template.faces, dtype=np.int32),
        "uvs": np.ascontiguousarray(template.uvs, dtype=np.float32),
        "face_uvs": np.ascontiguousarray(template.face_uvs, dtype=np.int32),
    }
    digest = hashlib.sha1()
    for name in ("faces", "uvs", "face_uvs"):
        digest.update(arrays[name].tobytes())
    entry = {"key": digest.hexdigest()[:16], "vertices": int(len(template.vertices)), "faces": int(len(template.faces))}
    return arrays, entry
