"""Variations, blends, saved looks and latent rebuilds as requests (no bpy): what the latent-tool operators send.

Every check that can fail is done here, before anything is sent, so a bad object or look file costs one clear
message and leaves the scene as it was: an object made by a model this backend does not have (or by other
weights of it), an object of an older version without a stored latent, a latent of the wrong size, NaN or
infinite values. The latent math is the protocol package's (shared with the backend and its CLI).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .jobs import RequestSpec
from .object_properties import Provenance
from .protocol import (Look, LatentError, blend_class_weights, blend_fractions, blend_latents, check_class_weights,
                       check_latents, one_hot, single_class, variation_latents)


class ToolError(ValueError):
    """A latent tool cannot run on this selection or file; the message says why and what to do."""


def served_model(provenance: Provenance, info, what: str):
    """The server's ModelInfo that can rebuild ``provenance``'s latent exactly, or ToolError.

    what: how to name the object or file in messages (e.g. "car_1000").
    """
    offered = [m.name for m in info.models]
    model = next((m for m in info.models if m.name == provenance.model), None)
    if model is None:
        raise ToolError(f"{what} was made by model {provenance.model!r}, which this backend does not have "
                        f"(it offers {', '.join(offered)}): connect to a backend with that model")
    if provenance.model_fingerprint and model.fingerprint and provenance.model_fingerprint != model.fingerprint:
        raise ToolError(f"{what} was made by other weights of model {provenance.model!r} (fingerprint "
                        f"{provenance.model_fingerprint}, the backend's is {model.fingerprint}): its latent would give "
                        f"another car; use the backend that made it")
    if not provenance.latent:
        raise ToolError(f"{what} has no stored latent (made by an older gan3d): press Reproduce once to store it")
    try:
        check_latents(np.asarray(provenance.latent), model.latent_dim or None, what=f"{what}'s latent")
    except LatentError as exc:
        raise ToolError(exc.message) from None
    return model


def class_vector(provenance: Provenance, model, what: str) -> "np.ndarray | None":
    """(n_classes,) float32 class vector of ``provenance`` for a conditional model (None if unconditional)."""
    if not model.classes:
        return None
    n = len(model.classes)
    if provenance.class_weights:
        try:
            return check_class_weights(np.asarray(provenance.class_weights), n, what=f"{what}'s class blend")[0]
        except LatentError as exc:
            raise ToolError(exc.message) from None
    if provenance.class_name in model.classes:
        return one_hot(model.classes.index(provenance.class_name), n)
    raise ToolError(f"{what} has no class of model {model.name!r} (stored class {provenance.class_name!r})")


def _class_fields(weights: "np.ndarray | None", model) -> dict:
    """Provenance class fields for a class vector: one class, or a blend named after its largest weight."""
    if weights is None:
        return {"class_name": "", "class_index": -1, "class_weights": ()}
    index = single_class(weights)
    top = int(np.argmax(weights)) if index is None else index
    return {"class_name": model.classes[top], "class_index": top,
            "class_weights": () if index is not None else tuple(float(w) for w in weights)}


def _request(model, latents: np.ndarray, weights: "np.ndarray | None", provenance: Provenance) -> RequestSpec:
    """Explicit-latent request: one class for all rows by name, else a class vector per row."""
    class_name, class_weights = None, None
    if weights is not None:
        if all(single_class(row) is not None and single_class(row) == single_class(weights[0]) for row in weights):
            class_name = model.classes[single_class(weights[0])]
        else:
            class_weights = np.ascontiguousarray(weights, dtype=np.float32)
    return RequestSpec(len(latents), 0, model.name, class_name, provenance.truncation, provenance.texture_size or None,
                       latents=np.ascontiguousarray(latents, dtype=np.float32), class_weights=class_weights)


def rebuild_request(provenance: Provenance, model, what: str) -> RequestSpec:
    """Rebuild one object from its stored latent and class (Reproduce of an object that has a latent)."""
    weights = class_vector(provenance, model, what)
    return _request(model, np.asarray([provenance.latent], np.float32),
                    None if weights is None else weights[None], provenance)


def variations(provenance: Provenance, info, what: str, strength: float, count: int,
               seed: int) -> tuple[RequestSpec, list[Provenance]]:
    """``count`` cars near the object (its latent slerped towards fresh samples by ``strength``; class kept)."""
    model = served_model(provenance, info, what)
    try:
        latents = variation_latents(np.asarray(provenance.latent), strength, count, seed, provenance.truncation)
    except ValueError as exc:
        raise ToolError(str(exc)) from None
    weights = class_vector(provenance, model, what)
    rows = None if weights is None else np.tile(weights, (count, 1))
    made = dataclasses.replace(provenance, seed=-1, untrained=model.untrained, model_fingerprint=model.fingerprint)
    return _request(model, latents, rows, made), [made] * count


def blend(first: Provenance, second: Provenance, info, names: tuple[str, str], steps: int,
          include_ends: bool) -> tuple[RequestSpec, list[Provenance], list[float]]:
    """In-betweens of two objects (latents slerped, class vectors interpolated); with ``include_ends`` also the two
    ends, which rebuild the two objects exactly. Returns the request, each mesh's provenance and its fraction."""
    if first.model != second.model:
        raise ToolError(f"Blend needs two cars of the same model: {names[0]} is from {first.model!r}, "
                        f"{names[1]} from {second.model!r}")
    model = served_model(first, info, names[0])
    served_model(second, info, names[1])
    try:
        fractions = blend_fractions(steps, include_ends)
    except ValueError as exc:
        raise ToolError(str(exc)) from None
    latents = blend_latents(np.asarray(first.latent), np.asarray(second.latent), fractions)
    wa, wb = class_vector(first, model, names[0]), class_vector(second, model, names[1])
    rows = None if wa is None else blend_class_weights(wa, wb, fractions)
    made = []
    for j, t in enumerate(fractions):
        made.append(dataclasses.replace(
            first, seed=-1, truncation=first.truncation if t < 0.5 else second.truncation,
            target_length=(1 - t) * first.target_length + t * second.target_length,
            texture_size=max(first.texture_size, second.texture_size), untrained=model.untrained,
            model_fingerprint=model.fingerprint, **_class_fields(None if rows is None else rows[j], model)))
    return _request(model, latents, rows, made[0]), made, fractions


def look_of(provenance: Provenance, name: str) -> Look:
    """The saved look of one object (ToolError if it has no stored latent)."""
    if not provenance.latent:
        raise ToolError(f"{name} has no stored latent (made by an older gan3d): press Reproduce once to store it, "
                        f"then Save Look")
    return Look(model=provenance.model, latent=np.asarray(provenance.latent, np.float32),
                model_fingerprint=provenance.model_fingerprint, class_name=provenance.class_name,
                class_index=provenance.class_index, class_weights=np.asarray(provenance.class_weights, np.float32),
                truncation=provenance.truncation, texture_size=provenance.texture_size,
                target_length=provenance.target_length, seed=provenance.seed, name=name)


def from_look(look: Look, info, what: str) -> tuple[RequestSpec, Provenance]:
    """The request and provenance that rebuild a loaded look exactly on this backend (ToolError otherwise)."""
    provenance = Provenance(
        model=look.model, class_name=look.class_name, class_index=look.class_index, seed=-1,
        truncation=look.truncation, target_length=look.target_length, texture_size=look.texture_size,
        latent=tuple(float(v) for v in look.latent), class_weights=tuple(float(w) for w in look.class_weights),
        model_fingerprint=look.model_fingerprint)
    model = served_model(provenance, info, what)
    if look.texture_size and look.texture_size not in model.texture_sizes:
        provenance = dataclasses.replace(provenance, texture_size=0)   # served at the model's own size
    provenance = dataclasses.replace(provenance, untrained=model.untrained)
    return rebuild_request(provenance, model, what), provenance
