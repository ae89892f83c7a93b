"""Every constant of the gan3d wire protocol, defined once (see ``docs/protocol.md``).

The server, the Python client and the Blender add-on (which gets a verbatim copy of this package) all
read these names; nothing here may import torch or another backend module.
"""
from __future__ import annotations

#: Version of the wire protocol. Bumped on any incompatible change; the first frame carries it.
PROTOCOL_VERSION = 1
#: First frame of every message: identifies the protocol and its major version.
PROTOCOL_TAG = b"gan3d/%d" % PROTOCOL_VERSION

DEFAULT_PORT = 5577
DEFAULT_HOST = "127.0.0.1"
DEFAULT_ADDRESS = f"tcp://{DEFAULT_HOST}:{DEFAULT_PORT}"


class Op:
    """Requests a client may send (the ``op`` field of the header)."""

    PING = "ping"
    INFO = "info"
    GENERATE = "generate"
    CANCEL = "cancel"

    ALL = frozenset({PING, INFO, GENERATE, CANCEL})


class Reply:
    """Messages the server sends back (the ``op`` field of a reply header)."""

    PONG = "pong"          # answer to ping
    INFO = "info"          # answer to info: models, device, limits + topology arrays
    ACCEPTED = "accepted"  # generate was validated and queued
    MESH = "mesh"          # one generated mesh: vertices + texture arrays
    PROGRESS = "progress"  # after each batch of a generate: done / total
    DONE = "done"          # a generate finished; no more messages for that id
    CANCELLED = "cancelled"  # a generate was cancelled; no more messages for that id
    ACK = "ack"            # answer to cancel (the cancelled stream ends with CANCELLED)
    ERROR = "error"        # request failed: code + message; no more messages for that id

    #: Replies after which no further message arrives for the same request id.
    FINAL = frozenset({PONG, INFO, DONE, CANCELLED, ACK, ERROR})


class ErrorCode:
    """Machine-readable ``code`` of an ``error`` reply (the ``message`` is for people)."""

    BAD_FRAMES = "bad_frames"              # wrong number/kind of frames, wrong protocol tag
    BAD_JSON = "bad_json"                  # header is not UTF-8 JSON object
    UNSUPPORTED_VERSION = "unsupported_version"  # header "v" is not PROTOCOL_VERSION
    UNKNOWN_OP = "unknown_op"
    BAD_REQUEST = "bad_request"            # missing field or wrong type
    OUT_OF_RANGE = "out_of_range"          # count, seed, truncation, texture size out of limits
    UNKNOWN_MODEL = "unknown_model"
    UNKNOWN_CLASS = "unknown_class"
    UNKNOWN_REQUEST = "unknown_request"    # cancel for an id that is not running
    DUPLICATE_REQUEST = "duplicate_request"  # an id that is still in flight was reused
    TOO_LARGE = "too_large"                # message above MAX_REQUEST_BYTES / MAX_HEADER_BYTES
    BUSY = "busy"                          # too many requests in flight for this client
    OUT_OF_MEMORY = "out_of_memory"        # device OOM even with a batch of one
    INTERNAL = "internal"                  # unexpected failure in a worker (logged server-side)
    SHUTTING_DOWN = "shutting_down"
    NO_MATCH = "no_match"                  # no paint candidate came within the colour tolerance

    ALL = frozenset({
        BAD_FRAMES, BAD_JSON, UNSUPPORTED_VERSION, UNKNOWN_OP, BAD_REQUEST, OUT_OF_RANGE,
        UNKNOWN_MODEL, UNKNOWN_CLASS, UNKNOWN_REQUEST, DUPLICATE_REQUEST, TOO_LARGE, BUSY,
        OUT_OF_MEMORY, INTERNAL, SHUTTING_DOWN, NO_MATCH,
    })


# ---------------------------------------------------------------------------------------------
# Limits. The server enforces them; the client checks them before sending to fail early.

#: Largest request a server accepts (ZMQ_MAXMSGSIZE on its socket: bigger ones drop the connection).
MAX_REQUEST_BYTES = 1 << 20
#: Largest JSON header in any message (requests above it get ``too_large``).
MAX_HEADER_BYTES = 64 << 10
#: Largest single reply message a client accepts (a 2048² texture is 12 MiB).
MAX_REPLY_BYTES = 64 << 20
#: Request ids: 1..MAX_ID_LENGTH printable ASCII characters, chosen by the client.
MAX_ID_LENGTH = 64
#: Meshes per generate request.
MAX_COUNT = 4096
#: Seeds: mesh j of a request uses seed + j, which must stay within [0, MAX_SEED] (exact in JSON doubles).
MAX_SEED = 2**53 - 1
#: Truncation sigma (§4.1: components resampled until |z| <= sigma; >= 1000 effectively disables it).
MIN_TRUNCATION = 0.05
MAX_TRUNCATION = 1000.0
#: Smallest texture size a server offers (it offers the model's size and its halvings down to this).
MIN_TEXTURE_SIZE = 32
#: Requests a single client may have in flight at once.
MAX_IN_FLIGHT_PER_CLIENT = 64
#: Array dtypes allowed on the wire (little-endian, C order).
WIRE_DTYPES = frozenset({"uint8", "int32", "int64", "float32"})
#: Most arrays a single message may carry, and most dimensions per array.
MAX_ARRAYS = 8
MAX_NDIM = 4
#: Explicit latents (``generate`` with a ``latents`` array): most values per latent vector, and the largest
#: magnitude of any value (sampled latents stay within a few units; truncation keeps them within sigma).
MAX_LATENT_DIM = 4096
MAX_LATENT_ABS = 100.0
#: Class vectors (``class_weights`` array): each row holds non-negative weights that sum to 1 within this.
CLASS_WEIGHT_TOLERANCE = 1e-4
#: Paint colour (``generate`` with ``paint_color``): the tolerance is a CIE76 ΔE, and the server tries at most
#: ``paint_tries`` candidates per mesh (default DEFAULT_PAINT_TRIES) before it answers ``no_match``.
MIN_PAINT_TOLERANCE = 0.5
MAX_PAINT_TOLERANCE = 150.0
DEFAULT_PAINT_TRIES = 64
MAX_PAINT_TRIES = 256
