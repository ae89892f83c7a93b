"""The gan3d client: a DEALER socket speaking the wire protocol, with timeouts and Lazy Pirate retries.

One :class:`Client` owns one ZeroMQ socket and is not thread-safe: use it from one thread (the
add-on's IO thread, a script). Blocking calls (:meth:`Client.ping`, :meth:`Client.info`,
:meth:`Client.generate`) and streaming ones (:meth:`Client.generate_stream`) share the socket; replies
are matched to requests by id, so several streams may be in flight at once.

Reliability (zguide "Lazy Pirate", adapted to DEALER): when a request gets no reply within its
timeout, when the connection drops, or when nothing listens at the address, the client closes its
socket (LINGER 0), opens a fresh one, waits ``min(max_backoff, backoff * 2**attempt)`` seconds and resends; after
``retries`` resends it raises :class:`ServerUnavailable` or :class:`RequestTimeout`. A generate
stream resumes where it stopped: it asks only for the meshes it has not received (seeds are per
mesh, so the result is identical).
"""
from __future__ import annotations

import itertools
import os
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np
import zmq
from zmq.utils.monitor import recv_monitor_message

from .constants import DEFAULT_ADDRESS, MAX_REPLY_BYTES, MAX_REQUEST_BYTES, ErrorCode, Op, Reply
from .errors import (
    AuthenticationFailed, ProtocolError, RequestTimeout, ServerError, ServerUnavailable,
)
from .keys import ClientKeys
from .messages import Message, decode_message, encode_message, message_size
from .requests import GenerateRequest, parse_request

_MONITOR_EVENTS = (zmq.EVENT_CONNECTED | zmq.EVENT_CONNECT_RETRIED | zmq.EVENT_DISCONNECTED
                   | zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_AUTH
                   | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)
_AUTH_FAILURES = (zmq.EVENT_HANDSHAKE_FAILED_AUTH, zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL,
                  zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)


# ----------------------------------------------------------------------------------------------
# Result types


@dataclass
class Topology:
    """The fixed mesh topology, sent once in ``info`` (every mesh shares it).

    Attributes:
        faces: (F, 3) int32 vertex indices, counter-clockwise seen from outside.
        uvs: (U, 2) float32 texture coordinates in [0, 1] (v = 1 is the top image row).
        face_uvs: (F, 3) int32 indices into ``uvs`` per face corner.
        key: a hash identifying this topology (each ``mesh`` message names it).
        vertex_count: vertices per mesh (962 for the paper's sphere).
    """

    faces: np.ndarray
    uvs: np.ndarray
    face_uvs: np.ndarray
    key: str
    vertex_count: int


@dataclass
class ModelInfo:
    """One model a server offers (from ``info``)."""

    name: str
    classes: list[str]
    category: str | None
    texture_size: int
    texture_sizes: list[int]
    latent_dim: int
    untrained: bool
    provenance: dict[str, Any]
    source: str
    config: dict[str, Any] = field(default_factory=dict)
    #: A hash of the model's weights: equal fingerprints give equal meshes for equal latents (saved looks).
    fingerprint: str = ""

    @property
    def conditional(self) -> bool:
        return bool(self.classes)


@dataclass
class ServerInfo:
    """The ``info`` reply: what the server runs, its limits and the mesh topology."""

    protocol_version: int
    server: str
    devices: list[str]
    workers: int
    max_batch: int
    default_model: str
    models: list[ModelInfo]
    limits: dict[str, Any]
    topology: Topology

    def model(self, name: str | None = None) -> ModelInfo:
        """The model called ``name`` (None: the default); KeyError lists the names."""
        wanted = name or self.default_model
        for model in self.models:
            if model.name == wanted:
                return model
        raise KeyError(f"no model {wanted!r}; the server offers {[m.name for m in self.models]}")


@dataclass
class MeshResult:
    """One generated mesh.

    Attributes:
        index: position j in the request (0-based); ``seed`` = request seed + index (None when the request
            gave explicit latents).
        vertices: (V, 3) float32, object frame (z up, front along -y), roughly in [-1, 1].
        texture: (T, T, 3) uint8 RGB, row 0 is v = 1.
        latent: (latent_dim,) float32, the latent vector the mesh was generated from.
        class_weights: (n_classes,) float32 class vector when the request sent ``class_weights`` (else None);
            ``class_index`` is then the class if the vector is one-hot, else None.
        class_name: the class's name for conditional models (None otherwise).
        worker: index of the server worker that generated it.
        compute_ms: the worker's time for the generator batch that produced this mesh (diagnostics).
        paint: for a request with ``paint_color``: ``{"candidate": i, "distance": ΔE, "color": [r, g, b]}`` (the
            kept candidate, its distance to the wanted colour and its measured body colour); else None.
    """

    request_id: str
    index: int
    seed: int | None
    model: str
    class_index: int | None
    truncation: float
    vertices: np.ndarray
    texture: np.ndarray
    latent: np.ndarray
    topology_key: str
    class_name: str | None = None
    worker: int = 0
    compute_ms: float = 0.0
    class_weights: np.ndarray | None = None
    paint: dict[str, Any] | None = None


@dataclass
class Progress:
    request_id: str
    done: int
    total: int


# ----------------------------------------------------------------------------------------------
# Internal signals of the receive loop


class _AttemptFailed(Exception):
    """The current socket can no longer deliver the request (timeout, refused, dropped)."""

    def __init__(self, reason: str, unavailable: bool):
        super().__init__(reason)
        self.unavailable = unavailable


_id_counter = itertools.count()


def _new_request_id() -> str:
    return f"{os.getpid():x}-{next(_id_counter):x}-{os.urandom(3).hex()}"


class Client:
    """Talks to a gan3d server at ``address`` (``tcp://host:port`` or ``ipc://path``).

    Args:
        address: server address (default ``tcp://127.0.0.1:5577``).
        timeout: seconds to wait for each reply (for streams: between two messages) before retrying.
        retries: resends after a timeout, a refused connection or a dropped one, before giving up.
        backoff: first wait between attempts in seconds (doubles each attempt, up to ``max_backoff``).
        keys: CURVE keys (:func:`~.keys.load_client_keys`); required when the server uses CURVE.
        context: a ZeroMQ context to share (default: the process-wide one).
    """

    def __init__(self, address: str = DEFAULT_ADDRESS, *, timeout: float = 30.0, retries: int = 3,
                 backoff: float = 0.1, max_backoff: float = 2.0, keys: ClientKeys | None = None,
                 context: zmq.Context | None = None):
        if retries < 0 or timeout <= 0 or backoff < 0:
            raise ValueError("timeout must be > 0, retries and backoff >= 0")
        self.address = address
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.keys = keys
        self._context = context or zmq.Context.instance()
        self._inbox: dict[str, deque[Message]] = {}
        self._epoch = 0
        self._socket: zmq.Socket | None = None
        self._monitor: zmq.Socket | None = None
        self._connected = False
        self._open()

    # -- socket lifecycle ------------------------------------------------------------------------

    def _open(self) -> None:
        sock = self._context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_REPLY_BYTES)
        sock.setsockopt(zmq.RCVHWM, 1000)
        sock.setsockopt(zmq.SNDHWM, 1000)
        sock.setsockopt(zmq.SNDTIMEO, 5000)
        sock.setsockopt(zmq.HEARTBEAT_IVL, 1000)
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, 5000)
        sock.setsockopt(zmq.RECONNECT_IVL, 100)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
        if self.keys is not None:
            sock.curve_serverkey = self.keys.server_public
            sock.curve_publickey = self.keys.public
            sock.curve_secretkey = self.keys.secret
        self._monitor = sock.get_monitor_socket(_MONITOR_EVENTS)
        try:
            sock.connect(self.address)
        except zmq.ZMQError as exc:
            self._monitor.close(linger=0)
            sock.close(linger=0)
            raise ValueError(f"invalid server address {self.address!r} ({exc.strerror}); "
                             f"expected tcp://HOST:PORT or ipc://PATH") from None
        self._socket = sock
        self._connected = False

    def _reopen(self) -> None:
        self._close_socket()
        self._inbox.clear()
        self._epoch += 1
        self._open()

    def _close_socket(self) -> None:
        if self._socket is not None:
            try:
                self._socket.disable_monitor()
            except zmq.ZMQError:
                pass
            self._socket.close(linger=0)
            self._socket = None
        if self._monitor is not None:
            self._monitor.close(linger=0)
            self._monitor = None

    def close(self) -> None:
        """Close the socket (pending requests are abandoned)."""
        self._close_socket()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- sending and receiving -------------------------------------------------------------------

    def _send(self, op: str, request_id: str, fields: dict[str, Any],
              arrays: dict[str, np.ndarray] | None = None) -> None:
        frames = encode_message(op, request_id, fields, arrays)
        size = message_size(frames)
        if size > MAX_REQUEST_BYTES:
            raise ProtocolError(ErrorCode.TOO_LARGE, f"request of {size} bytes exceeds the {MAX_REQUEST_BYTES}-byte limit")
        if self._socket is None:
            raise ServerUnavailable("client is closed")
        try:
            self._socket.send_multipart(frames, copy=False)
        except zmq.Again:
            raise _AttemptFailed(f"could not queue a request to {self.address} (send buffer full)", True) from None
        self._inbox.setdefault(request_id, deque())

    def _forget(self, request_id: str) -> None:
        self._inbox.pop(request_id, None)

    def _pump(self, timeout: float) -> None:
        """Wait up to ``timeout`` s for traffic; file replies into the inbox; raise on connection trouble."""
        poller = zmq.Poller()
        poller.register(self._socket, zmq.POLLIN)
        poller.register(self._monitor, zmq.POLLIN)
        events = dict(poller.poll(max(0, int(timeout * 1000))))
        if self._monitor in events:
            self._read_monitor()
        if self._socket in events:
            while True:
                try:
                    frames = self._socket.recv_multipart(zmq.NOBLOCK, copy=False)
                except zmq.Again:
                    break
                try:
                    message = decode_message(frames, max_header_bytes=MAX_REPLY_BYTES)
                except ProtocolError as error:
                    if error.code == ErrorCode.UNSUPPORTED_VERSION:
                        # Retrying cannot help: say which side to update instead of timing out.
                        raise ServerError(error.code, f"the server speaks another protocol version ({error.message})",
                                          error.request_id) from None
                    continue  # not a reply we can attribute to anything: drop it
                queue = self._inbox.get(message.request_id)
                if queue is not None:  # replies to abandoned attempts are dropped
                    queue.append(message)

    def _read_monitor(self) -> None:
        while True:
            try:
                event = recv_monitor_message(self._monitor, zmq.NOBLOCK)
            except zmq.Again:
                return
            kind = event["event"]
            if kind in (zmq.EVENT_CONNECTED, zmq.EVENT_HANDSHAKE_SUCCEEDED):
                self._connected = True
            elif kind in _AUTH_FAILURES and self.keys is None:
                # No key of ours was refused: the server went away mid-handshake, or it wants CURVE keys.
                raise _AttemptFailed(f"the connection to {self.address} failed during its handshake (a server that "
                                     f"uses CurveZMQ keys refuses clients without them)", True)
            elif kind in _AUTH_FAILURES:
                raise AuthenticationFailed(
                    f"the CURVE handshake with {self.address} failed: check the server public key and that this "
                    f"client's public key is in the server's authorized_clients folder")
            elif kind == zmq.EVENT_CONNECT_RETRIED and not self._connected:
                raise _AttemptFailed(f"nothing is listening at {self.address}", True)
            elif kind == zmq.EVENT_DISCONNECTED:
                was_connected, self._connected = self._connected, False
                if was_connected:
                    raise _AttemptFailed(f"the connection to {self.address} dropped", True)

    def _next_message(self, request_id: str, timeout: float) -> Message:
        deadline = time.monotonic() + timeout
        queue = self._inbox[request_id]
        while not queue:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _AttemptFailed(f"no reply from {self.address} within {timeout:g} s", False)
            self._pump(min(remaining, 0.25))
        return queue.popleft()

    def _give_up(self, failure: _AttemptFailed, attempts: int) -> Exception:
        if failure.unavailable:
            return ServerUnavailable(
                f"no gan3d server reachable at {self.address} after {attempts} attempts ({failure}); "
                f"start one with `python -m backend.serve` or check the address")
        return RequestTimeout(f"{failure} after {attempts} attempts; the server may be overloaded, "
                              f"raise the timeout or check its log")

    def _backoff(self, attempt: int) -> None:
        time.sleep(min(self.max_backoff, self.backoff * (2 ** attempt)))

    def request(self, op: str, fields: dict[str, Any] | None = None, timeout: float | None = None) -> Message:
        """Send a single-reply request (ping, info) with Lazy Pirate retries; return the reply message.

        Raises:
            ServerError: the server answered with ``error``.
            ServerUnavailable / RequestTimeout / AuthenticationFailed: see the class docs.
        """
        timeout = timeout or self.timeout
        fields = fields or {}
        for attempt in range(self.retries + 1):
            request_id = _new_request_id()
            try:
                self._send(op, request_id, fields)
                reply = self._next_message(request_id, timeout)
            except _AttemptFailed as failure:
                if attempt == self.retries:
                    raise self._give_up(failure, attempt + 1) from None
                self._reopen()
                self._backoff(attempt)
                continue
            self._forget(request_id)
            if reply.op == Reply.ERROR:
                raise ServerError(reply.get("code", ErrorCode.INTERNAL), reply.get("message", ""), request_id)
            return reply
        raise AssertionError("unreachable")

    # -- public calls ----------------------------------------------------------------------------

    def ping(self, timeout: float | None = None) -> dict[str, Any]:
        """Round trip to the server; returns the ``pong`` header (``server``, ``time``, ``uptime_s``...)."""
        return self.request(Op.PING, timeout=timeout).header

    def info(self, timeout: float | None = None) -> ServerInfo:
        """Models, devices, limits and the fixed topology (faces, uvs, face_uvs)."""
        reply = self.request(Op.INFO, timeout=timeout)
        return parse_info(reply)

    def generate_stream(self, count: int | None = None, seed: int = 0, *, model: str | None = None,
                        class_: int | str | None = None, truncation: float = 1.0,
                        texture_size: int | None = None, timeout: float | None = None,
                        latents: np.ndarray | None = None,
                        class_weights: np.ndarray | None = None, paint_color=None,
                        paint_tolerance: float | None = None,
                        paint_tries: int | None = None) -> "GenerateStream":
        """Start a generate request and return a stream of its meshes (see :class:`GenerateStream`).

        count: meshes (default: the rows of ``latents`` / ``class_weights``, else 1).
        latents: explicit latents (count, latent_dim) (or one (latent_dim,) vector) instead of seeds.
        class_weights: class vectors (count, n_classes) for a conditional model, instead of ``class_``.
        paint_color: sRGB (r, g, b) in [0, 1]: cars whose body colour is within ``paint_tolerance`` ΔE of it
            (``paint.py``; at most ``paint_tries`` candidates per mesh).
        Arguments are checked locally first (ProtocolError on bad types/ranges/values), then by the server.
        """
        arrays = {}
        for name, value in (("latents", latents), ("class_weights", class_weights)):
            if value is not None:
                with np.errstate(over="ignore", invalid="ignore"):
                    value = np.asarray(value, dtype=np.float32)
                arrays[name] = np.ascontiguousarray(value[None] if value.ndim == 1 else value)
        if count is None:
            count = len(next(iter(arrays.values()))) if arrays else 1
        request = GenerateRequest(_new_request_id(), count=count, seed=seed, model=model, class_=class_,
                                  truncation=truncation, texture_size=texture_size,
                                  paint_color=None if paint_color is None else [float(c) for c in paint_color],
                                  paint_tolerance=paint_tolerance, paint_tries=paint_tries)
        request = parse_request(Message(Op.GENERATE, request.request_id, {"op": Op.GENERATE, **request.fields()},
                                        arrays))
        return GenerateStream(self, request, timeout or self.timeout)

    def generate(self, count: int | None = None, seed: int = 0, *, model: str | None = None,
                 class_: int | str | None = None, truncation: float = 1.0, texture_size: int | None = None,
                 timeout: float | None = None, on_progress: Callable[[Progress], None] | None = None,
                 latents: np.ndarray | None = None, class_weights: np.ndarray | None = None,
                 paint_color=None, paint_tolerance: float | None = None,
                 paint_tries: int | None = None) -> list[MeshResult]:
        """Blocking generate: returns the meshes in order (mesh j from seed ``seed + j``, or from row j of
        ``latents``); arguments as :meth:`generate_stream`."""
        stream = self.generate_stream(count, seed, model=model, class_=class_, truncation=truncation,
                                      texture_size=texture_size, timeout=timeout, latents=latents,
                                      class_weights=class_weights, paint_color=paint_color,
                                      paint_tolerance=paint_tolerance, paint_tries=paint_tries)
        meshes: list[MeshResult] = []
        while not stream.finished:
            for event in stream.poll(0.25):
                if isinstance(event, MeshResult):
                    meshes.append(event)
                elif on_progress is not None:
                    on_progress(event)
        return meshes


class GenerateStream:
    """The meshes of one generate request, as they arrive.

    Iterate it for :class:`MeshResult` items in order, or call :meth:`poll` from an event loop to get
    meshes and :class:`Progress` events without blocking longer than you choose. :meth:`cancel` stops
    the request. After a connection failure the stream resends a request for the meshes still missing.
    """

    def __init__(self, client: Client, request: GenerateRequest, timeout: float):
        self.client = client
        self.request = request
        self.timeout = timeout
        self.received = 0           # meshes delivered so far
        self.total = request.count
        self.finished = False
        self.cancelled = False
        self.model: str | None = None
        self._attempt_id = ""
        self._attempt_base = 0      # meshes already received when the current attempt was sent
        self._failures = 0
        self._epoch = -1
        self._last_message = time.monotonic()
        self._submit()

    @property
    def request_id(self) -> str:
        """Id of the request currently in flight (changes when the stream resends)."""
        return self._attempt_id

    def _submit(self) -> None:
        client = self.client
        if self._attempt_id:
            client._forget(self._attempt_id)
        self._attempt_id = f"{self.request.request_id}.{self._failures}" if self._failures else self.request.request_id
        self._attempt_base = self.received
        fields = self.request.fields()
        fields["seed"] = self.request.seed + self.received
        fields["count"] = self.request.count - self.received
        arrays = {name: array[self.received:] for name, array in self.request.arrays().items()}
        try:
            client._send(Op.GENERATE, self._attempt_id, fields, arrays)
        except _AttemptFailed as failure:
            self._recover(failure)
            return
        self._epoch = client._epoch
        self._last_message = time.monotonic()

    def _recover(self, failure: _AttemptFailed) -> None:
        if self._failures >= self.client.retries:
            self.finished = True
            raise self.client._give_up(failure, self._failures + 1)
        self.client._reopen()
        self.client._backoff(self._failures)
        self._failures += 1
        self._submit()

    def poll(self, timeout: float = 0.0) -> list[MeshResult | Progress]:
        """Events that arrived within ``timeout`` seconds (possibly none). Raises ServerError on ``error``."""
        if self.finished:
            return []
        client = self.client
        if self._epoch != client._epoch:  # another call reopened the socket: our request was lost
            self._submit()
        queue = client._inbox.get(self._attempt_id)
        try:
            if not queue:
                client._pump(timeout)
                queue = client._inbox.get(self._attempt_id)
            if not queue and time.monotonic() - self._last_message > self.timeout:
                raise _AttemptFailed(f"no message from {client.address} for {self.timeout:g} s", False)
        except _AttemptFailed as failure:
            self._recover(failure)
            return []
        events: list[MeshResult | Progress] = []
        while queue:
            self._last_message = time.monotonic()
            events.extend(self._handle(queue.popleft()))
            if self.finished:
                break
        return events

    def _handle(self, message: Message) -> list[MeshResult | Progress]:
        op = message.op
        if op == Reply.ACCEPTED:
            self.model = message.get("model")
            return []
        if op == Reply.MESH:
            index = self._attempt_base + int(message.get("index"))
            if index != self.received:  # duplicates after a resend are impossible by construction; be safe
                return []
            self.received += 1
            seed = message.get("seed")
            weights = message.get("class_weights")
            return [MeshResult(
                request_id=self.request.request_id, index=index, seed=None if seed is None else int(seed),
                model=message.get("model"), class_index=message.get("class"),
                truncation=float(message.get("truncation")), vertices=message.arrays["vertices"],
                texture=message.arrays["texture"], latent=message.arrays.get("latent"),
                topology_key=message.get("topology"), class_name=message.get("class_name"),
                worker=int(message.get("worker", 0)), compute_ms=float(message.get("compute_ms") or 0.0),
                class_weights=None if weights is None else np.asarray(weights, dtype=np.float32),
                paint=message.get("paint"))]
        if op == Reply.PROGRESS:
            return [Progress(self.request.request_id, self._attempt_base + int(message.get("done")), self.total)]
        if op in (Reply.DONE, Reply.CANCELLED):
            self.finished = True
            self.cancelled = op == Reply.CANCELLED
            self.client._forget(self._attempt_id)
            return []
        if op == Reply.ERROR:
            self.finished = True
            self.client._forget(self._attempt_id)
            raise ServerError(message.get("code", ErrorCode.INTERNAL), message.get("message", ""),
                              self.request.request_id)
        return []

    def __iter__(self) -> Iterator[MeshResult]:
        while not self.finished:
            for event in self.poll(0.25):
                if isinstance(event, MeshResult):
                    yield event

    def cancel(self, timeout: float | None = None) -> list[MeshResult]:
        """Ask the server to stop; wait for the stream to end. Returns meshes that arrived meanwhile."""
        if self.finished:
            return []
        client = self.client
        cancel_id = _new_request_id()
        arrived: list[MeshResult] = []
        try:
            client._send(Op.CANCEL, cancel_id, {"target": self._attempt_id})
        except _AttemptFailed:
            self.finished = self.cancelled = True
            return arrived
        deadline = time.monotonic() + (timeout or self.timeout)
        while not self.finished and time.monotonic() < deadline:
            try:
                arrived.extend(e for e in self.poll(0.1) if isinstance(e, MeshResult))
            except ServerError:
                break
        client._forget(cancel_id)
        self.finished = self.cancelled = True
        client._forget(self._attempt_id)
        return arrived


def parse_info(reply: Message) -> ServerInfo:
    """Build :class:`ServerInfo` from an ``info`` reply message."""
    header = reply.header
    topo = header.get("topology") or {}
    topology = Topology(
        faces=reply.arrays["faces"], uvs=reply.arrays["uvs"], face_uvs=reply.arrays["face_uvs"],
        key=topo.get("key", ""), vertex_count=int(topo.get("vertices", 0)))
    models = [ModelInfo(
        name=m["name"], classes=list(m.get("classes") or []), category=m.get("category"), texture_size=int(m["texture_size"]),
        texture_sizes=[int(s) for s in m["texture_sizes"]], latent_dim=int(m.get("latent_dim", 0)),
        untrained=bool(m.get("untrained")), provenance=dict(m.get("provenance") or {}), source=m.get("source", ""),
        config=dict(m.get("config") or {}), fingerprint=str(m.get("fingerprint") or ""),
    ) for m in header.get("models", [])]
    return ServerInfo(
        protocol_version=int(header.get("protocol", 0)), server=header.get("server", ""),
        devices=list(header.get("devices", [])), workers=int(header.get("workers", 0)),
        max_batch=int(header.get("max_batch", 0)), default_model=header.get("default_model", ""),
        models=models, limits=dict(header.get("limits", {})), topology=topology)
