"""Typed requests and their validation (shared by the server, which enforces, and the client, which
checks before sending). Checks that need the server's models (model name, class, texture size) are
done by :func:`resolve_generate` against the models listed in an ``info`` reply.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence, Union

import numpy as np

from .constants import (
    DEFAULT_PAINT_TRIES, MAX_COUNT, MAX_ID_LENGTH, MAX_SEED, MAX_TRUNCATION, MIN_TRUNCATION, ErrorCode, Op,
)
from .errors import ProtocolError
from .latents import LatentError, check_class_weights, check_latents
from .messages import Message, is_valid_request_id
from .paint import PaintError, check_paint

#: Arrays a ``generate`` request may carry (no other request carries arrays).
GENERATE_ARRAYS = ("latents", "class_weights")


@dataclass(frozen=True)
class PingRequest:
    request_id: str

    def fields(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class InfoRequest:
    request_id: str

    def fields(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class GenerateRequest:
    """``generate``: ``count`` meshes, mesh j from seed ``seed + j`` (or from row j of ``latents``).

    Attributes:
        model: model name from ``info`` (None: the server's default model).
        class_: class index (int) or class name (str, case-insensitive) of a conditional model; None for
            unconditional models, or for a random class per mesh (drawn from the mesh's seed).
        count: 1..MAX_COUNT.  seed: 0..MAX_SEED - count + 1.
        truncation: sigma of the truncated normal, MIN_TRUNCATION..MAX_TRUNCATION (1.0 = paper default).
        texture_size: one of the model's ``texture_sizes`` (None: its native size).
        latents: explicit latents (count, latent_dim) float32 instead of seeds (None: from the seeds).
        class_weights: class vectors (count, n_classes) float32, one mix of classes per mesh (instead of class_).
        paint_color: sRGB (r, g, b) in [0, 1] wanted for the car bodies (None: any colour), paint_tolerance the
            ΔE they may be off by, paint_tries the candidates tried per mesh (``paint.py``; seeds only).
    """

    request_id: str
    count: int = 1
    seed: int = 0
    model: str | None = None
    class_: int | str | None = None
    truncation: float = 1.0
    texture_size: int | None = None
    latents: np.ndarray | None = field(default=None, compare=False)
    class_weights: np.ndarray | None = field(default=None, compare=False)
    paint_color: tuple[float, float, float] | None = None
    paint_tolerance: float | None = None
    paint_tries: int | None = None

    def fields(self) -> dict[str, Any]:
        out = {"model": self.model, "class": self.class_, "count": self.count, "seed": self.seed,
               "truncation": self.truncation, "texture_size": self.texture_size}
        if self.paint_color is not None:
            out["paint_color"] = list(self.paint_color)
        for key in ("paint_tolerance", "paint_tries"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        """The request's array frames (explicit latents and class vectors, when given)."""
        out = {}
        if self.latents is not None:
            out["latents"] = self.latents
        if self.class_weights is not None:
            out["class_weights"] = self.class_weights
        return out


@dataclass(frozen=True)
class CancelRequest:
    """``cancel``: stop the generate whose id is ``target`` (this request has its own id)."""

    request_id: str
    target: str

    def fields(self) -> dict[str, Any]:
        return {"target": self.target}


Request = Union[PingRequest, InfoRequest, GenerateRequest, CancelRequest]
OP_OF_REQUEST = {PingRequest: Op.PING, InfoRequest: Op.INFO, GenerateRequest: Op.GENERATE, CancelRequest: Op.CANCEL}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_field(header: Mapping[str, Any], key: str, default: int | None, lo: int, hi: int, rid: str) -> int:
    value = header.get(key, default)
    if not _is_int(value):
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"'{key}' must be an integer, got {value!r}", rid)
    if not lo <= value <= hi:
        raise ProtocolError(ErrorCode.OUT_OF_RANGE, f"'{key}' must be in [{lo}, {hi}], got {value}", rid)
    return value


def parse_request(message: Message) -> Request:
    """Turn a decoded message into a typed request, checking types and ranges.

    Raises:
        ProtocolError: UNKNOWN_OP, BAD_REQUEST (missing/wrong type) or OUT_OF_RANGE, with the request id.
    """
    rid, header, op = message.request_id, message.header, message.op
    if op not in Op.ALL:
        raise ProtocolError(ErrorCode.UNKNOWN_OP, f"unknown op {op[:40]!r}; expected one of {sorted(Op.ALL)}", rid)
    if message.arrays and op != Op.GENERATE:
        raise ProtocolError(ErrorCode.BAD_FRAMES, f"a {op} request carries no arrays", rid)
    if op == Op.PING:
        return PingRequest(rid)
    if op == Op.INFO:
        return InfoRequest(rid)
    if op == Op.CANCEL:
        target = header.get("target")
        if not is_valid_request_id(target):
            raise ProtocolError(ErrorCode.BAD_REQUEST,
                                f"'target' must be the id (1-{MAX_ID_LENGTH} ASCII characters) of a generate request, "
                                f"got {target!r}", rid)
        return CancelRequest(rid, target)

    latents, class_weights = _generate_arrays(message.arrays, rid)
    rows = len(latents) if latents is not None else len(class_weights) if class_weights is not None else None
    count = _int_field(header, "count", rows or 1, 1, MAX_COUNT, rid)
    if rows is not None and count != rows:
        what = "latents" if latents is not None else "class_weights"
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"'count' is {count} but the '{what}' array has {rows} rows; "
                                                   f"send one row per mesh", rid)
    seed = _int_field(header, "seed", 0, 0, MAX_SEED - count + 1, rid)
    model = header.get("model")
    if model is not None and (not isinstance(model, str) or not model or len(model) > 256):
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"'model' must be a model name or null, got {model!r}", rid)
    class_ = header.get("class")
    if class_ is not None and not _is_int(class_) and not (isinstance(class_, str) and 0 < len(class_) <= 256):
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"'class' must be a class index, a class name or null, got {class_!r}",
                            rid)
    truncation = header.get("truncation", 1.0)
    if not isinstance(truncation, (int, float)) or isinstance(truncation, bool):
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"'truncation' must be a number, got {truncation!r}", rid)
    if not (math.isfinite(truncation) and MIN_TRUNCATION <= truncation <= MAX_TRUNCATION):
        raise ProtocolError(ErrorCode.OUT_OF_RANGE,
                            f"'truncation' must be in [{MIN_TRUNCATION}, {MAX_TRUNCATION}], got {truncation}", rid)
    texture_size = header.get("texture_size")
    if texture_size is not None:
        texture_size = _int_field(header, "texture_size", None, 1, 1 << 16, rid)
    if class_weights is not None and class_ is not None:
        raise ProtocolError(ErrorCode.BAD_REQUEST, "give either 'class' or a 'class_weights' array, not both", rid)
    paint = _paint_fields(header, latents is not None or class_weights is not None, rid)
    return GenerateRequest(rid, count=count, seed=seed, model=model, class_=class_, truncation=float(truncation),
                           texture_size=texture_size, latents=latents, class_weights=class_weights, **paint)


def _paint_fields(header: Mapping[str, Any], explicit: bool, rid: str) -> dict[str, Any]:
    """``paint_color`` / ``paint_tolerance`` / ``paint_tries`` of a generate request, checked (empty: no paint)."""
    color, tolerance, tries = (header.get(k) for k in ("paint_color", "paint_tolerance", "paint_tries"))
    if color is None:
        if tolerance is not None or tries is not None:
            raise ProtocolError(ErrorCode.BAD_REQUEST, "'paint_tolerance' and 'paint_tries' need a 'paint_color'", rid)
        return {}
    if explicit:
        raise ProtocolError(ErrorCode.BAD_REQUEST, "a 'paint_color' picks among seeded candidates: it cannot be "
                                                   "combined with explicit 'latents' or 'class_weights'", rid)
    if not isinstance(color, list):
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"'paint_color' must be a list of 3 numbers, got {color!r}", rid)
    try:
        rgb, tol, n = check_paint(color, 20.0 if tolerance is None else tolerance,
                                  DEFAULT_PAINT_TRIES if tries is None else tries)
    except PaintError as exc:
        raise ProtocolError(ErrorCode.OUT_OF_RANGE, str(exc), rid) from None
    return {"paint_color": rgb, "paint_tolerance": tol, "paint_tries": n}


def _generate_arrays(arrays: Mapping[str, np.ndarray], rid: str) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The ``latents`` and ``class_weights`` arrays of a generate request, checked (model-independent part)."""
    unknown = sorted(set(arrays) - set(GENERATE_ARRAYS))
    if unknown:
        raise ProtocolError(ErrorCode.BAD_FRAMES, f"a generate request carries only the arrays "
                                                  f"{list(GENERATE_ARRAYS)}, got {unknown}", rid)
    checked = {}
    for name in GENERATE_ARRAYS:
        array = arrays.get(name)
        if array is None:
            checked[name] = None
            continue
        if array.dtype != np.float32 or array.ndim != 2:
            raise ProtocolError(ErrorCode.BAD_REQUEST, f"'{name}' must be a float32 array of shape (count, "
                                                       f"{'latent_dim' if name == 'latents' else 'n_classes'}), "
                                                       f"got {array.dtype}{list(array.shape)}", rid)
        try:
            checked[name] = (check_latents(array, what="'latents'") if name == "latents"
                             else check_class_weights(array, what="'class_weights'")).copy()
        except LatentError as exc:
            code = ErrorCode.BAD_REQUEST if exc.kind == "shape" else ErrorCode.OUT_OF_RANGE
            raise ProtocolError(code, exc.message, rid) from None
    latents, weights = checked["latents"], checked["class_weights"]
    if latents is not None and weights is not None and len(latents) != len(weights):
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"'latents' has {len(latents)} rows but 'class_weights' "
                                                   f"{len(weights)}; send one row of each per mesh", rid)
    return latents, weights


@dataclass(frozen=True)
class ResolvedGenerate:
    """A generate request checked against a model: concrete model name, class index (None: unconditional
    model, a random class per mesh, or the request's ``class_weights``), texture size."""

    request: GenerateRequest
    model: str
    class_index: int | None
    texture_size: int


def resolve_generate(request: GenerateRequest, models: Sequence[Mapping[str, Any]],
                     default_model: str) -> ResolvedGenerate:
    """Check model, class and texture size against the model descriptions of an ``info`` reply.

    Args:
        models: entries of ``info["models"]`` (``name``, ``classes`` list of names, ``texture_sizes``,
            ``latent_dim``).
        default_model: the name used when the request names none.

    Raises:
        ProtocolError: UNKNOWN_MODEL, UNKNOWN_CLASS, OUT_OF_RANGE (texture size) or BAD_REQUEST (latents or
        class vectors that do not fit the model), with a hint.
    """
    rid = request.request_id
    name = request.model or default_model
    by_name = {m["name"]: m for m in models}
    if name not in by_name:
        raise ProtocolError(ErrorCode.UNKNOWN_MODEL, f"no model named {name!r}; this server has {sorted(by_name)}", rid)
    model = by_name[name]
    classes = list(model.get("classes") or [])
    class_index: int | None
    if request.class_ is None:
        class_index = None   # conditional models: a random class per mesh, drawn from the mesh's seed
    elif not classes:
        raise ProtocolError(ErrorCode.UNKNOWN_CLASS,
                            f"model {name!r} is unconditional: leave 'class' null (got {request.class_!r})", rid)
    elif isinstance(request.class_, str):
        lowered = [c.lower() for c in classes]
        if request.class_.strip().lower() not in lowered:
            raise ProtocolError(ErrorCode.UNKNOWN_CLASS,
                                f"model {name!r} has no class {request.class_!r}; classes: {classes[:20]}", rid)
        class_index = lowered.index(request.class_.strip().lower())
    else:
        if not 0 <= request.class_ < len(classes):
            raise ProtocolError(ErrorCode.UNKNOWN_CLASS,
                                f"class index {request.class_} is outside [0, {len(classes) - 1}] for model {name!r}", rid)
        class_index = request.class_
    _check_arrays_fit(request, name, model, classes)
    sizes = list(model["texture_sizes"])
    size = request.texture_size if request.texture_size is not None else max(sizes)
    if size not in sizes:
        raise ProtocolError(ErrorCode.OUT_OF_RANGE,
                            f"texture_size {size} is not offered by model {name!r}; choose one of {sizes}", rid)
    return ResolvedGenerate(request, name, class_index, size)


def _check_arrays_fit(request: GenerateRequest, name: str, model: Mapping[str, Any], classes: list) -> None:
    rid = request.request_id
    latent_dim = model.get("latent_dim")
    if request.latents is not None and latent_dim is not None and request.latents.shape[1] != latent_dim:
        raise ProtocolError(ErrorCode.BAD_REQUEST,
                            f"model {name!r} takes latents of {latent_dim} values, the request's have "
                            f"{request.latents.shape[1]}: was the latent made by another model?", rid)
    if request.class_weights is not None:
        if not classes:
            raise ProtocolError(ErrorCode.UNKNOWN_CLASS,
                                f"model {name!r} is unconditional: send no 'class_weights' array", rid)
        if request.class_weights.shape[1] != len(classes):
            raise ProtocolError(ErrorCode.BAD_REQUEST,
                                f"model {name!r} has {len(classes)} classes, the 'class_weights' rows have "
                                f"{request.class_weights.shape[1]} entries", rid)
    elif request.latents is not None and classes and request.class_ is None:
        raise ProtocolError(ErrorCode.UNKNOWN_CLASS,
                            f"model {name!r} is class-conditional: explicit latents need a 'class' or a "
                            f"'class_weights' array", rid)
