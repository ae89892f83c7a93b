"""Saved looks: one generated car as a small JSON file that reproduces it exactly on any machine with the
same model (numpy + json only; shared by the add-on's *Save Look* / *Load Look* and the CLI).

A look holds the latent itself (not only the seed), so it survives changes of the sampling code::

    {"format": "gan3d-look", "version": 1, "name": "car_1000",
     "model": "default", "model_fingerprint": "3f0c9a1e5b7d2c44", "latent_dim": 64,
     "latent": [0.4122, -0.0315, ...],            # latent_dim numbers (float32 values, written exactly)
     "class_name": "", "class_index": -1,          # conditional models: the class ("" / -1: unconditional)
     "class_weights": [],                          # a blend of classes: one weight per class (else empty)
     "truncation": 1.0, "texture_size": 128, "target_length": 4.5, "seed": 1000}

``seed`` is informational (-1 for cars made from an explicit latent: variations, blends). Float32 values
survive the JSON round trip exactly (Python writes the shortest decimal that reads back to the same double).
"""
from __future__ import annotations

import json
import math
import pathlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .latents import LatentError, check_class_weights, check_latents

LOOK_FORMAT = "gan3d-look"
LOOK_VERSION = 1
#: Largest look file read (a 4096-value latent in JSON is about 100 KiB).
MAX_LOOK_BYTES = 1 << 20


class LookError(ValueError):
    """A look file that cannot be used; the message is one line saying what is wrong and what to do."""


@dataclass(frozen=True)
class Look:
    """One saved car. latent (D,) float32; class_weights (C,) float32 or empty; see the module docstring."""

    model: str
    latent: np.ndarray = field(compare=False)
    model_fingerprint: str = ""
    class_name: str = ""
    class_index: int = -1
    class_weights: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32), compare=False)
    truncation: float = 1.0
    texture_size: int = 0
    target_length: float = 4.5
    seed: int = -1
    name: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"format": LOOK_FORMAT, "version": LOOK_VERSION, "name": self.name, "model": self.model,
                "model_fingerprint": self.model_fingerprint, "latent_dim": int(self.latent.size),
                "latent": [float(v) for v in np.asarray(self.latent, np.float32).reshape(-1)],
                "class_name": self.class_name, "class_index": int(self.class_index),
                "class_weights": [float(v) for v in np.asarray(self.class_weights, np.float32).reshape(-1)],
                "truncation": float(self.truncation), "texture_size": int(self.texture_size),
                "target_length": float(self.target_length), "seed": int(self.seed)}


def look_to_json(look: Look) -> str:
    """The JSON text of a look (indented, one latent value per list item)."""
    check_latents(look.latent, what="the look's latent")
    return json.dumps(look.to_dict(), indent=1, allow_nan=False) + "\n"


def _reject_constant(token: str):
    raise LookError(f"it contains {token}: every value must be a finite number")


def look_from_json(text: str, source: str = "the look file") -> Look:
    """Parse and check a look's JSON text; LookError (one line, naming ``source``) for anything unusable."""
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except LookError as exc:
        raise LookError(f"{source} is not a usable look: {exc}") from None
    except (ValueError, RecursionError) as exc:
        raise LookError(f"{source} is not a gan3d look (not valid JSON: {str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict) or data.get("format") != LOOK_FORMAT:
        raise LookError(f"{source} is not a gan3d look (no \"format\": \"{LOOK_FORMAT}\" entry); "
                        f"save one with Save Look")
    if data.get("version") != LOOK_VERSION:
        raise LookError(f"{source} is a look of version {data.get('version')!r}; this gan3d reads version "
                        f"{LOOK_VERSION}: update gan3d")

    def get(key: str, kind, default=None):
        value = data.get(key, default)
        if not isinstance(value, kind) or isinstance(value, bool):
            label = {str: "string", int: "whole number"}.get(kind, "number")
            raise LookError(f"{source}: \"{key}\" must be a {label}, got {value!r}"[:300])
        return value

    model = get("model", str)
    if not model:
        raise LookError(f"{source}: \"model\" is empty; the look must name the model that made it")
    latent = data.get("latent")
    if not isinstance(latent, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                               for v in latent):
        raise LookError(f"{source}: \"latent\" must be a list of numbers")
    try:
        vector = check_latents(np.array(latent, dtype=np.float64), what=f"{source}'s latent")[0]
        weights_list = data.get("class_weights", [])
        if not isinstance(weights_list, list):
            raise LookError(f"{source}: \"class_weights\" must be a list of numbers")
        weights = (check_class_weights(np.array(weights_list, dtype=np.float64), what=f"{source}'s class_weights")[0]
                   if weights_list else np.zeros(0, np.float32))
    except LatentError as exc:
        raise LookError(exc.message) from None
    except (TypeError, ValueError) as exc:
        raise LookError(f"{source}: {exc}") from None
    declared = data.get("latent_dim", vector.size)
    if declared != vector.size:
        raise LookError(f"{source}: \"latent_dim\" says {declared} but the latent has {vector.size} values; "
                        f"the file was edited or cut short")
    truncation = float(get("truncation", (int, float), 1.0))
    target_length = float(get("target_length", (int, float), 4.5))
    if not (math.isfinite(truncation) and truncation > 0 and math.isfinite(target_length) and target_length > 0):
        raise LookError(f"{source}: \"truncation\" and \"target_length\" must be positive numbers")
    return Look(model=model, latent=vector, model_fingerprint=get("model_fingerprint", str, ""),
                class_name=get("class_name", str, ""), class_index=get("class_index", int, -1),
                class_weights=weights, truncation=truncation, texture_size=get("texture_size", int, 0),
                target_length=target_length, seed=get("seed", int, -1), name=get("name", str, ""))


def save_look(path: "str | pathlib.Path", look: Look) -> pathlib.Path:
    """Write ``look`` to ``path`` (JSON, UTF-8); returns the path."""
    path = pathlib.Path(path)
    path.write_text(look_to_json(look), encoding="utf-8")
    return path


def load_look(path: "str | pathlib.Path") -> Look:
    """Read a look file; LookError for a missing, oversized or malformed file."""
    path = pathlib.Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_LOOK_BYTES:
            raise LookError(f"{path.name} is {size} bytes; a look file is at most {MAX_LOOK_BYTES} bytes: "
                            f"is it really a look?")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LookError(f"look file {path} does not exist") from None
    except UnicodeDecodeError:
        raise LookError(f"{path.name} is not a gan3d look (not UTF-8 text)") from None
    except OSError as exc:
        raise LookError(f"cannot read look file {path}: {exc.strerror or exc}") from None
    return look_from_json(text, source=path.name)
