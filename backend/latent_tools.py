"""Variations and blends of known cars for ``python -m backend.generate`` (``--variations_of``, ``--interpolate``).

A *point* is one car in the latent space: its latent (latent_dim,) and, for class-conditional models, its class
vector (n_classes,). Points come from a seed, a latent ``.npy`` file (:func:`read_latents_file`, also the reader
of ``--latents``) or a saved look ``.json`` file (:func:`resolve_point`); a *plan* is the latents and class
vectors of the meshes to generate from them, plus what ``samples.json`` records about how they were made. The latent math itself is shared with the add-on
(``backend.protocol.latents``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .models import weights_fingerprint
from .protocol.looks import LookError, load_look
from .sampling import (LatentError, MeshGenerator, blend_class_weights, blend_fractions, blend_latents,
                       check_latents, class_index_for, one_hot, variation_latents)


@dataclass
class Point:
    """One car: latent (D,) float32, class vector (C,) float32 or None (unconditional), what it came from."""

    latent: np.ndarray
    class_weights: "np.ndarray | None"
    label: str


@dataclass
class Plan:
    """Meshes to generate: latents (N, D) float32, class vectors (N, C) float32 or None, and JSON-able facts."""

    latents: np.ndarray
    class_weights: "np.ndarray | None"
    record: dict[str, Any] = field(default_factory=dict)


def read_latents_file(path: "str | Path", expected: str = "(N, latent_dim)") -> np.ndarray:
    """The numeric array in a latents ``.npy`` file (pickles refused), as stored: its shape, size and values are
    checked against the model later (``check_latents``). ``expected`` names the wanted shape in the message.

    Raises ValueError (one line) for a missing or unreadable file and for values that are not numbers.
    """
    try:
        latents = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise ValueError(f"latents file not found: {path}") from None
    except (ValueError, OSError) as err:
        raise ValueError(f"cannot read latents file {path} (expected a .npy array of shape {expected}): "
                         f"{str(err).splitlines()[0]}") from None
    if not np.issubdtype(latents.dtype, np.number):
        raise ValueError(f"latents file {path} holds {latents.dtype} values, expected floats")
    return latents


def resolve_point(spec: str, generator: MeshGenerator, class_choice: "str | int | None" = None,
                  truncation: float = 1.0) -> Point:
    """The car named by ``spec``: a seed ("7"), a latent file ("z.npy", shape (D,) or (1, D)) or a look ("car.json").

    class_choice: the class of a conditional model's car (--filter_class); a seed without it keeps the class drawn
    from the seed, a look keeps its own class, a .npy latent needs it. Raises ValueError (one line) for anything
    that does not fit the model: wrong latent size, NaN/infinite values, another model's look.
    """
    model = generator.model
    text = str(spec).strip()
    if text.isdigit():
        latent, weights = generator.seed_latent(int(text), class_choice, truncation)
        return Point(latent, weights, f"seed {int(text)}")
    path = Path(text)
    if path.suffix.lower() == ".json":
        return _look_point(path, generator, class_choice)
    if path.suffix.lower() == ".npy":
        array = read_latents_file(path, "(latent_dim,)")
        try:
            latents = check_latents(array, model.config.latent_dim, what=f"latent file {path.name}")
        except LatentError as exc:
            raise ValueError(exc.message) from None
        if len(latents) != 1:
            raise ValueError(f"latent file {path.name} holds {len(latents)} latents; give a file with one "
                             f"(e.g. one row of a latents.npy: np.save('z.npy', np.load('latents.npy')[j]))")
        return Point(latents[0], _class_vector(generator, class_choice, f"latent file {path.name}"), path.name)
    raise ValueError(f"{text!r} is neither a seed (a whole number), a latent .npy file nor a look .json file")


def _class_vector(generator: MeshGenerator, class_choice, what: str) -> "np.ndarray | None":
    model = generator.model
    if not model.conditional:
        return None
    if class_choice is None:
        raise ValueError(f"{what} carries no class and the model is class-conditional: add --filter_class CLASS")
    return one_hot(class_index_for(model, class_choice), model.config.n_classes)


def _look_point(path: Path, generator: MeshGenerator, class_choice) -> Point:
    try:
        look = load_look(path)
    except LookError as exc:
        raise ValueError(str(exc)) from None
    model = generator.model
    fingerprint = weights_fingerprint(model)
    if look.model_fingerprint and look.model_fingerprint != fingerprint:
        raise ValueError(f"{path.name} was saved from model {look.model!r} with weights {look.model_fingerprint}; "
                         f"this model's weights are {fingerprint}, so it would give another car: use the model "
                         f"that made it")
    if look.latent.size != model.config.latent_dim:
        raise ValueError(f"{path.name} holds a latent of {look.latent.size} values but the model takes "
                         f"{model.config.latent_dim}: it was made by another model")
    if class_choice is not None or not model.conditional:
        weights = _class_vector(generator, class_choice, path.name)
    elif look.class_weights.size:
        if look.class_weights.size != model.config.n_classes:
            raise ValueError(f"{path.name} mixes {look.class_weights.size} classes but the model has "
                             f"{model.config.n_classes}: it was made by another model")
        weights = look.class_weights
    elif 0 <= look.class_index < model.config.n_classes:
        weights = one_hot(look.class_index, model.config.n_classes)
    else:
        raise ValueError(f"{path.name} has no class for this class-conditional model: add --filter_class CLASS")
    return Point(look.latent, weights, path.name)


def variation_plan(point: Point, strength: float, count: int, seed: int, truncation: float = 1.0) -> Plan:
    """``count`` cars near ``point`` (latent slerped towards fresh samples from seeds seed .. seed + count - 1 by
    ``strength`` in [0, 1]; the class is kept)."""
    latents = variation_latents(point.latent, strength, count, seed, truncation)
    weights = None if point.class_weights is None else np.tile(point.class_weights, (count, 1))
    return Plan(latents, weights, {"tool": "variations", "of": point.label, "strength": float(strength),
                                   "noise_seeds": [seed, seed + count - 1]})


def blend_plan(a: Point, b: Point, steps: int) -> Plan:
    """``a``, ``steps`` in-betweens and ``b`` (steps + 2 meshes): latents slerped, class vectors interpolated."""
    fractions = blend_fractions(steps, include_ends=True)
    if (a.class_weights is None) != (b.class_weights is None):
        raise ValueError("cannot blend a car of a conditional model with one of an unconditional model")
    weights = None if a.class_weights is None else blend_class_weights(a.class_weights, b.class_weights, fractions)
    return Plan(blend_latents(a.latent, b.latent, fractions), weights,
                {"tool": "interpolate", "from": a.label, "to": b.label, "fractions": fractions})


def same_view_poses(count: int, azimuth_deg: float = 135.0, elevation_deg: float = 105.0):
    """``count`` copies of one preview viewpoint (a ``backend.render.camera.Pose``), so a grid of variations or
    blends shows the cars, not the camera, changing. The default is a three-quarter view of the front (-y) and
    the +x side, slightly from above."""
    from .render.camera import Pose, viewpoint_quaternion

    q = viewpoint_quaternion(torch.full((count,), azimuth_deg, dtype=torch.float64),
                             torch.full((count,), elevation_deg, dtype=torch.float64)).to(torch.float32)
    return Pose(q, torch.full((count, 1), 0.9), torch.zeros(count, 2))
