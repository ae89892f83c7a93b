"""gan3d wire protocol and client library (pure Python + numpy + pyzmq; no torch, no backend imports).

This package is the single definition of the protocol described in ``docs/protocol.md``. The Blender
add-on gets a verbatim copy (made by ``build_addon.py``), so everything inside uses relative imports.
"""
from .connection import Client, GenerateStream, MeshResult, ModelInfo, Progress, ServerInfo, Topology, parse_info
from .constants import (
    CLASS_WEIGHT_TOLERANCE, DEFAULT_ADDRESS, DEFAULT_HOST, DEFAULT_PORT, MAX_ARRAYS, MAX_COUNT, MAX_HEADER_BYTES,
    MAX_ID_LENGTH, MAX_IN_FLIGHT_PER_CLIENT, MAX_LATENT_ABS, MAX_LATENT_DIM, MAX_NDIM, MAX_REPLY_BYTES,
    MAX_REQUEST_BYTES, MAX_SEED, DEFAULT_PAINT_TRIES, MAX_PAINT_TOLERANCE, MAX_PAINT_TRIES, MIN_PAINT_TOLERANCE, MAX_TRUNCATION, MIN_TEXTURE_SIZE, MIN_TRUNCATION, PROTOCOL_TAG, PROTOCOL_VERSION,
    WIRE_DTYPES, ErrorCode, Op, Reply,
)
from .errors import (
    AuthenticationFailed, ClientError, ProtocolError, RequestTimeout, ServerError, ServerUnavailable,
)
from .keys import ClientKeys, create_keys, load_client_keys, load_server_keys
from .latents import (
    LatentError, blend_class_weights, blend_fractions, blend_latents, check_class_weights, check_latents, one_hot,
    single_class, slerp, variation_latents,
)
from .paint import PAINT_BLOCK, PaintError, body_colour, candidate_seed, check_paint, delta_e, hex_colour
from .looks import Look, LookError, load_look, look_from_json, look_to_json, save_look
from .messages import Message, decode_message, encode_message, is_valid_request_id, message_size
from .requests import (
    CancelRequest, GenerateRequest, InfoRequest, PingRequest, Request, ResolvedGenerate, parse_request,
    resolve_generate,
)

__all__ = [name for name in dir() if not name.startswith("_")]
