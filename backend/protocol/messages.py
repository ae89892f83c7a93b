"""Framing of gan3d messages: ``[PROTOCOL_TAG, header JSON, *array frames]``.

The header is a UTF-8 JSON object with at least ``v`` (protocol version), ``id`` (request id) and ``op``.
When a message carries arrays, ``header["arrays"]`` lists ``{"name", "dtype", "shape"}`` for each one,
in the order of the frames that follow; each frame holds the raw little-endian C-order bytes.
No pickle, no executable content: decoding only ever builds dicts, strings, numbers and numpy arrays.
On a ROUTER socket the peer identity frame precedes these frames and is handled by the caller.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .constants import (
    MAX_ARRAYS, MAX_HEADER_BYTES, MAX_ID_LENGTH, MAX_NDIM, PROTOCOL_TAG, PROTOCOL_VERSION, WIRE_DTYPES,
    ErrorCode,
)
from .errors import ProtocolError

#: Header keys managed by the codec itself (callers pass everything else as ``fields``).
RESERVED_KEYS = frozenset({"v", "id", "op", "arrays"})


@dataclass
class Message:
    """A decoded message.

    Attributes:
        op: the ``op`` of the header (a request op or a reply kind).
        request_id: the ``id`` of the header.
        header: the whole header dict (including ``v``, ``id``, ``op``).
        arrays: name -> read-only numpy array (views on the received frames; copy to modify).
    """

    op: str
    request_id: str
    header: dict[str, Any]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.header.get(key, default)


def is_valid_request_id(value: Any) -> bool:
    """True for 1..MAX_ID_LENGTH printable ASCII characters."""
    return (isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH
            and all(" " <= ch <= "~" for ch in value))


def encode_message(op: str, request_id: str, fields: Mapping[str, Any] | None = None,
                   arrays: Mapping[str, np.ndarray] | None = None) -> list:
    """Build the frames of one message.

    Args:
        op: request op or reply kind (see :mod:`.constants`).
        request_id: id echoed in every reply to a request.
        fields: extra JSON-serialisable header entries (must not use the reserved keys).
        arrays: name -> numpy array with a dtype in WIRE_DTYPES; sent without copying when contiguous.

    Returns:
        ``[PROTOCOL_TAG, header_bytes, *buffers]`` for ``socket.send_multipart(frames, copy=False)``.
    """
    header: dict[str, Any] = {"v": PROTOCOL_VERSION, "id": request_id, "op": op}
    if fields:
        clash = RESERVED_KEYS.intersection(fields)
        if clash:
            raise ValueError(f"header fields {sorted(clash)} are reserved by the codec")
        header.update(fields)
    buffers = []
    if arrays:
        specs = []
        for name, array in arrays.items():
            array = np.ascontiguousarray(array)
            if array.dtype.byteorder == ">":
                array = array.astype(array.dtype.newbyteorder("<"))
            if array.dtype.name not in WIRE_DTYPES:
                raise ValueError(f"array {name!r} has dtype {array.dtype}; the wire allows {sorted(WIRE_DTYPES)}")
            specs.append({"name": name, "dtype": array.dtype.name, "shape": list(array.shape)})
            buffers.append(memoryview(array).cast("B") if array.size else b"")
        header["arrays"] = specs
    return [PROTOCOL_TAG, json.dumps(header, separators=(",", ":"), allow_nan=False).encode("utf-8"), *buffers]


def _frame_bytes(frame: Any) -> memoryview:
    """A read-only byte view of a frame given as bytes, bytearray, memoryview or zmq.Frame."""
    if hasattr(frame, "buffer"):  # zmq.Frame (recv_multipart(copy=False))
        frame = frame.buffer
    if isinstance(frame, (bytes, bytearray, memoryview)):
        view = memoryview(frame)
        return view.cast("B") if view.format != "B" or view.ndim != 1 else view
    raise ProtocolError(ErrorCode.BAD_FRAMES, f"frame of type {type(frame).__name__} is not bytes")


def _reject_constant(token: str) -> Any:
    raise ValueError(f"{token} is not valid JSON")


def decode_message(frames: Sequence[Any], max_header_bytes: int = MAX_HEADER_BYTES) -> Message:
    """Parse and check the frames of one message (without a ROUTER identity frame).

    Raises:
        ProtocolError: with an ErrorCode and a one-line explanation; ``request_id`` is filled in
        whenever the header could be read far enough to find a valid id.
    """
    if len(frames) < 2:
        raise ProtocolError(ErrorCode.BAD_FRAMES,
                            f"a message needs at least 2 frames (tag, header), got {len(frames)}")
    tag = bytes(_frame_bytes(frames[0]))
    if tag != PROTOCOL_TAG:
        if tag.startswith(b"gan3d/"):
            raise ProtocolError(ErrorCode.UNSUPPORTED_VERSION,
                                f"peer speaks {tag[:32]!r}, this side speaks {PROTOCOL_TAG!r}; update the older side")
        raise ProtocolError(ErrorCode.BAD_FRAMES,
                            f"first frame must be the protocol tag {PROTOCOL_TAG!r}, got {tag[:32]!r}")
    raw_header = _frame_bytes(frames[1])
    if len(raw_header) > max_header_bytes:
        raise ProtocolError(ErrorCode.TOO_LARGE,
                            f"header of {len(raw_header)} bytes exceeds the {max_header_bytes}-byte limit")
    try:
        header = json.loads(bytes(raw_header).decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ProtocolError(ErrorCode.BAD_JSON, f"header is not valid UTF-8 JSON: {exc}") from None
    if not isinstance(header, dict):
        raise ProtocolError(ErrorCode.BAD_JSON, f"header must be a JSON object, got {type(header).__name__}")

    request_id = header.get("id")
    known_id = request_id if is_valid_request_id(request_id) else None
    if known_id is None:
        raise ProtocolError(ErrorCode.BAD_REQUEST,
                            f"header 'id' must be 1-{MAX_ID_LENGTH} printable ASCII characters, got {request_id!r}")
    version = header.get("v")
    if version != PROTOCOL_VERSION or isinstance(version, bool):
        raise ProtocolError(ErrorCode.UNSUPPORTED_VERSION,
                            f"header 'v' is {version!r}, this side speaks version {PROTOCOL_VERSION}", known_id)
    op = header.get("op")
    if not isinstance(op, str) or not op:
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"header 'op' must be a non-empty string, got {op!r}", known_id)

    arrays = _decode_arrays(header.get("arrays"), frames[2:], known_id)
    return Message(op=op, request_id=known_id, header=header, arrays=arrays)


def _decode_arrays(specs: Any, frames: Sequence[Any], request_id: str) -> dict[str, np.ndarray]:
    if specs is None:
        specs = []
    if not isinstance(specs, list) or len(specs) > MAX_ARRAYS:
        raise ProtocolError(ErrorCode.BAD_REQUEST,
                            f"header 'arrays' must be a list of at most {MAX_ARRAYS} entries", request_id)
    if len(specs) != len(frames):
        raise ProtocolError(ErrorCode.BAD_FRAMES,
                            f"header describes {len(specs)} arrays but {len(frames)} array frames followed",
                            request_id)
    arrays: dict[str, np.ndarray] = {}
    for spec, frame in zip(specs, frames):
        name, dtype, shape = _check_spec(spec, request_id)
        if name in arrays:
            raise ProtocolError(ErrorCode.BAD_REQUEST, f"array name {name!r} appears twice", request_id)
        data = _frame_bytes(frame)
        expected = math.prod(shape) * np.dtype(dtype).itemsize
        if len(data) != expected:
            raise ProtocolError(ErrorCode.BAD_FRAMES,
                                f"array {name!r} {dtype}{tuple(shape)} needs {expected} bytes, frame has {len(data)}",
                                request_id)
        arrays[name] = np.frombuffer(data, dtype=np.dtype(dtype).newbyteorder("<")).reshape(shape)
    return arrays


def _check_spec(spec: Any, request_id: str) -> tuple[str, str, list[int]]:
    if not isinstance(spec, dict):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "each 'arrays' entry must be an object", request_id)
    name, dtype, shape = spec.get("name"), spec.get("dtype"), spec.get("shape")
    if not isinstance(name, str) or not name or len(name) > MAX_ID_LENGTH:
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"array name must be a short string, got {name!r}", request_id)
    if dtype not in WIRE_DTYPES:
        raise ProtocolError(ErrorCode.BAD_REQUEST,
                            f"array {name!r} dtype {dtype!r} is not one of {sorted(WIRE_DTYPES)}", request_id)
    if (not isinstance(shape, list) or len(shape) > MAX_NDIM
            or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 2**31 for d in shape)):
        raise ProtocolError(ErrorCode.BAD_REQUEST,
                            f"array {name!r} shape must be a list of at most {MAX_NDIM} non-negative ints, got {shape!r}",
                            request_id)
    return name, dtype, shape


def message_size(frames: Iterable[Any]) -> int:
    """Total bytes of a list of frames (as produced by :func:`encode_message`)."""
    return sum(len(_frame_bytes(f)) for f in frames)
