"""The broker: the one front ROUTER socket, request validation, batching and worker processes.

It never imports torch: the workers (``backend.server.worker``, one process each) load the models and
run the generator; the broker validates requests, answers ``ping``/``info`` itself, cuts batches with
:class:`~.scheduler.Scheduler`, forwards each finished mesh to its client without copying it, and
keeps every client's stream in index order.

Robustness rules: every bad request gets an ``error`` reply (when it has an address) and a log line,
and the loop goes on; a client that vanished (ROUTER_MANDATORY -> EHOSTUNREACH) loses its jobs; a
client that does not read (send high-water mark reached) has its jobs paused until it catches up; a
worker that dies fails only the requests of its batch and is restarted.
"""
from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import zmq

from backend.protocol import (
    MAX_COUNT, MAX_IN_FLIGHT_PER_CLIENT, MAX_REQUEST_BYTES, MAX_SEED, MAX_TRUNCATION, MIN_TRUNCATION,
    PROTOCOL_VERSION, CancelRequest, ErrorCode, GenerateRequest, InfoRequest, PingRequest, ProtocolError, Reply,
    decode_message, encode_message, load_server_keys, parse_request, resolve_generate,
)

from . import internal
from .config import ServerConfig
from .model_registry import model_specs
from .scheduler import Batch, Job, Scheduler
from .security import check_bind_policy, enable_curve
from .worker import WorkerConfig

log = logging.getLogger("gan3d.server")

SERVER_NAME = "gan3d-server 0.1.0"
#: Messages the broker itself holds for a client that does not read before it drops that client.
MAX_HELD_PER_CLIENT = 512
#: Times a worker is restarted after dying before the server gives up on it.
MAX_WORKER_RESTARTS = 5


class ServerStartError(RuntimeError):
    """The server could not start (a worker failed to load a model, the address is taken...)."""


@dataclass
class WorkerHandle:
    """One worker process as the broker sees it. ``given_up``: it died more than MAX_WORKER_RESTARTS times and is
    not restarted; ``process`` is then an :class:`_Exited` holding its last exit code."""

    index: int
    process: "subprocess.Popen | _Exited"
    ready: bool = False
    device: str = ""
    batch: Batch | None = None
    restarts: int = 0
    given_up: bool = False

    @property
    def identity(self) -> bytes:
        return f"w{self.index}".encode()


class Broker:
    """Owns the sockets, the scheduler and the worker processes. Use :func:`~.app.run_server`."""

    def __init__(self, config: ServerConfig, context: zmq.Context | None = None):
        self.config = config
        self.specs = model_specs(config.checkpoints, config.random_init)
        check_bind_policy(config.bind, config.keys_dir, config.insecure)
        if config.keys_dir:
            load_server_keys(config.keys_dir)    # fail before loading any model when keys are missing
        self.context = context or zmq.Context()
        self.scheduler = Scheduler(config.max_batch)
        self.workers: list[WorkerHandle] = []
        self.batches: dict[str, tuple[Batch, WorkerHandle]] = {}
        self.held: dict[bytes, deque[list]] = {}    # replies waiting for a client that is not reading
        self.address = ""
        self.models: list[dict[str, Any]] = []
        self.default_model = ""
        self._info_fields: dict[str, Any] = {}
        self._topology_arrays: dict[str, Any] = {}
        self._topology_key = ""
        self._class_names: dict[str, list[str]] = {}    # model name -> its class names (from the first ready worker)
        self._back_endpoint = ""                        # the workers' private endpoint, bound in start()
        self._stop = False
        self._started = time.time()
        self._next_worker = 0
        self._tmpdir = tempfile.mkdtemp(prefix="gan3d-server-")
        self._authenticator = None
        self.front: zmq.Socket | None = None
        self.back: zmq.Socket | None = None

    # -- life cycle --------------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Ask the loop to finish (safe from a signal handler)."""
        self._stop = True

    def start(self) -> None:
        """Start the workers, wait until every one has loaded its models, then bind the front socket."""
        self.back = self.context.socket(zmq.ROUTER)
        self.back.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.back.setsockopt(zmq.LINGER, 0)
        if zmq.has("ipc") and os.name != "nt":
            self._back_endpoint = f"ipc://{self._tmpdir}/workers"
            self.back.bind(self._back_endpoint)
        else:
            port = self.back.bind_to_random_port("tcp://127.0.0.1")
            self._back_endpoint = f"tcp://127.0.0.1:{port}"
        for index in range(self.config.workers):
            self.workers.append(WorkerHandle(index, self._spawn(index)))
        self._wait_for_workers()
        self._bind_front()

    def _spawn(self, index: int) -> subprocess.Popen:
        config = WorkerConfig(index=index, endpoint=self._back_endpoint, device=self.config.device, models=self.specs,
                              precision=self.config.precision)
        env = os.environ.copy()
        # Idle OpenMP threads sleep instead of spinning: the server shares the CPU with Blender and its own
        # broker, and spinning threads made single-mesh latency several times worse on a busy machine.
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        return subprocess.Popen([sys.executable, "-m", "backend.server.run_worker", config.to_json()],
                                cwd=os.getcwd(), env=env)

    def _wait_for_workers(self) -> None:
        deadline = time.monotonic() + self.config.startup_timeout
        while not all(w.ready for w in self.workers):
            if self._stop:
                raise ServerStartError("interrupted while the workers were loading")
            if time.monotonic() > deadline:
                raise ServerStartError(f"the workers did not start within {self.config.startup_timeout:g} s")
            for worker in self.workers:
                code = worker.process.poll()
                if code is not None and not worker.ready:
                    raise ServerStartError(f"worker {worker.index} exited with code {code} while loading "
                                           f"(see the log above)")
            if self.back.poll(200):
                self._on_worker_message(self.back.recv_multipart(copy=False), starting=True)

    def _bind_front(self) -> None:
        front = self.context.socket(zmq.ROUTER)
        front.setsockopt(zmq.ROUTER_MANDATORY, 1)
        front.setsockopt(zmq.MAXMSGSIZE, MAX_REQUEST_BYTES)
        front.setsockopt(zmq.SNDHWM, self.config.client_hwm)
        if self.config.client_sndbuf > 0:
            front.setsockopt(zmq.SNDBUF, self.config.client_sndbuf)
        front.setsockopt(zmq.RCVHWM, 1000)
        front.setsockopt(zmq.LINGER, 0)
        front.setsockopt(zmq.HEARTBEAT_IVL, 2000)
        front.setsockopt(zmq.HEARTBEAT_TIMEOUT, 10000)
        if self.config.keys_dir:
            self._authenticator = enable_curve(self.context, front, self.config.keys_dir)
        try:
            front.bind(self.config.bind)
        except zmq.ZMQError as exc:
            front.close()
            raise ServerStartError(f"cannot bind {self.config.bind}: {exc.strerror}; is another server running? "
                                   f"pick another address with --bind") from None
        self.front = front
        self.address = front.getsockopt_string(zmq.LAST_ENDPOINT)
        log.info("serving %s on %s (%d worker(s) on %s, max batch %d, %s%s)", ", ".join(m["name"] for m in self.models),
                 self.address, len(self.workers), ", ".join(w.device for w in self.workers), self.config.max_batch,
                 self.config.precision, ", CURVE" if self.config.keys_dir else "")

    def close(self) -> None:
        """Fail the requests still running, stop the workers, close everything. Idempotent."""
        if self.front is not None:
            for job in list(self.scheduler.jobs.values()):
                self._send_client(job.client, encode_message(Reply.ERROR, job.request_id, {
                    "code": ErrorCode.SHUTTING_DOWN, "message": "the server is shutting down; retry later"}))
                self.scheduler.remove(job.key)
        for worker in self.workers:
            if worker.process.poll() is None:
                try:
                    self.back.send_multipart([worker.identity, *encode_message(internal.STOP, "stop")],
                                             flags=zmq.NOBLOCK)
                except zmq.ZMQError:
                    worker.process.terminate()
        for worker in self.workers:
            try:
                worker.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                log.warning("worker %d did not stop in 10 s; killing it", worker.index)
                worker.process.kill()
                worker.process.wait()
        self.workers = []
        for sock in (self.front, self.back):
            if sock is not None:
                sock.close(linger=0)
        self.front = self.back = None
        if self._authenticator is not None:
            self._authenticator.stop()
            self._authenticator = None
        shutil.rmtree(self._tmpdir, ignore_errors=True)

    # -- main loop ---------------------------------------------------------------------------------

    def serve_forever(self) -> None:
        poller = zmq.Poller()
        poller.register(self.front, zmq.POLLIN)
        poller.register(self.back, zmq.POLLIN)
        last_check = 0.0
        while not self._stop:
            events = dict(poller.poll(5 if self.held else 100))
            if self.back in events:
                self._drain(self.back, self._on_worker_message, limit=10_000)
            if self.front in events:
                self._drain(self.front, self._on_client_message, limit=200)
            if self.held:
                self._flush_held()
            self._dispatch()
            if time.monotonic() - last_check > 0.5:
                last_check = time.monotonic()
                self._check_workers()

    @staticmethod
    def _drain(sock: zmq.Socket, handler, limit: int) -> None:
        for _ in range(limit):
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            handler(frames)

    # -- clients -----------------------------------------------------------------------------------

    def _send_client(self, client: bytes, frames: list) -> bool:
        """Send (or hold) a message for a client; False when the client has gone (its jobs are dropped)."""
        held = self.held.get(client)
        if held is not None:
            if len(held) >= MAX_HELD_PER_CLIENT:
                log.warning("client %s is not reading its replies at all; dropping it", client.hex())
                self._client_gone(client)
                return False
            held.append(frames)
            return True
        try:
            self.front.send_multipart([client, *frames], flags=zmq.NOBLOCK, copy=False)
        except zmq.Again:
            log.info("client %s is not reading its replies fast enough; pausing its requests", client.hex())
            self.held[client] = deque([frames])
        except zmq.ZMQError as exc:
            if exc.errno != zmq.EHOSTUNREACH:
                raise
            self._client_gone(client)
            return False
        return True

    def _flush_held(self) -> None:
        for client in list(self.held):
            queue = self.held[client]
            while queue:
                try:
                    self.front.send_multipart([client, *queue[0]], flags=zmq.NOBLOCK, copy=False)
                except zmq.Again:
                    break
                except zmq.ZMQError as exc:
                    if exc.errno != zmq.EHOSTUNREACH:
                        raise
                    self._client_gone(client)
                    break
                queue.popleft()
            if client in self.held and not self.held[client]:
                del self.held[client]

    def _client_gone(self, client: bytes) -> None:
        dropped = [job for job in self.scheduler.remove_client(client) if job is not None]
        self.held.pop(client, None)
        if dropped:
            log.info("client %s went away; dropped %d request(s): %s", client.hex(), len(dropped),
                     ", ".join(job.request_id for job in dropped))

    def _error(self, client: bytes, request_id: str | None, code: str, message: str) -> None:
        log.info("error %s for %s request %s: %s", code, client.hex(), request_id or "-", message)
        self._send_client(client, encode_message(Reply.ERROR, request_id or "-", {"code": code, "message": message}))

    def _on_client_message(self, frames: list) -> None:
        client = frames[0].bytes
        try:
            request = parse_request(decode_message(frames[1:]))
        except ProtocolError as exc:
            self._error(client, exc.request_id, exc.code, exc.message)
            return
        try:
            self._handle_request(client, request)
        except Exception as exc:  # noqa: BLE001 - a bug must cost one request, not the server
            log.exception("failed to handle %s request %s", type(request).__name__, request.request_id)
            self._error(client, request.request_id, ErrorCode.INTERNAL, f"the server failed on this request: {exc}")

    def _handle_request(self, client: bytes, request) -> None:
        if isinstance(request, PingRequest):
            self._send_client(client, encode_message(Reply.PONG, request.request_id, {
                "server": SERVER_NAME, "time": time.time(), "uptime_s": round(time.time() - self._started, 3),
                "workers": sum(w.ready for w in self.workers), "queued": len(self.scheduler.jobs)}))
        elif isinstance(request, InfoRequest):
            self._send_client(client, encode_message(Reply.INFO, request.request_id, self._info_fields,
                                                     self._topology_arrays))
        elif isinstance(request, CancelRequest):
            self._cancel(client, request)
        elif isinstance(request, GenerateRequest):
            self._generate(client, request)

    def _generate(self, client: bytes, request: GenerateRequest) -> None:
        rid = request.request_id
        if (client, rid) in self.scheduler.jobs:
            self._error(client, rid, ErrorCode.DUPLICATE_REQUEST,
                        f"request id {rid!r} is still running; use a new id for each request")
            return
        if len(self.scheduler.jobs_of(client)) >= MAX_IN_FLIGHT_PER_CLIENT:
            self._error(client, rid, ErrorCode.BUSY,
                        f"{MAX_IN_FLIGHT_PER_CLIENT} requests are already running for this client; wait for one to end")
            return
        try:
            resolved = resolve_generate(request, self.models, self.default_model)
        except ProtocolError as exc:
            self._error(client, rid, exc.code, exc.message)
            return
        job = Job(client=client, request_id=rid, model=resolved.model, class_index=resolved.class_index,
                  truncation=request.truncation, texture_size=resolved.texture_size, seed=request.seed,
                  count=request.count, latents=request.latents, class_weights=request.class_weights,
                  paint=None if request.paint_color is None else {
                      "color": list(request.paint_color), "tolerance": request.paint_tolerance,
                      "tries": request.paint_tries})
        self.scheduler.add(job)
        self._send_client(client, encode_message(Reply.ACCEPTED, rid, {
            "model": job.model, "class": job.class_index, "count": job.count, "texture_size": job.texture_size}))

    def _cancel(self, client: bytes, request: CancelRequest) -> None:
        job = self.scheduler.remove((client, request.target))
        if job is None:
            self._error(client, request.request_id, ErrorCode.UNKNOWN_REQUEST,
                        f"no running generate with id {request.target!r} from this client (finished already?)")
            return
        log.info("cancelled %s after %d of %d meshes", job.request_id, job.delivered, job.count)
        self._send_client(client, encode_message(Reply.ACK, request.request_id, {"target": request.target}))
        self._send_client(client, encode_message(Reply.CANCELLED, job.request_id, {"delivered": job.delivered}))

    # -- workers -----------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        n = len(self.workers)
        for k in range(n):
            worker = self.workers[(self._next_worker + k) % n]
            if not worker.ready or worker.batch is not None:
                continue
            batch = self.scheduler.next_batch(paused=self.held.keys())
            if batch is None:
                return
            header, arrays = internal.batch_message(batch)
            self.back.send_multipart([worker.identity, *encode_message(internal.BATCH, batch.batch_id, header,
                                                                       arrays)])
            worker.batch = batch
            self.batches[batch.batch_id] = (batch, worker)
            self._next_worker = (self._next_worker + k + 1) % n

    def _on_worker_message(self, frames: list, starting: bool = False) -> None:
        identity = frames[0].bytes
        worker = next((w for w in self.workers if w.identity == identity), None)
        message = decode_message(frames[1:], max_header_bytes=1 << 26)
        if worker is None:
            return
        if message.op == internal.READY:
            self._on_ready(worker, message)
        elif message.op == internal.FATAL:
            text = f"worker {worker.index} could not start: {message.get('message')}"
            if starting:
                raise ServerStartError(text)
            log.error("%s", text)
        elif message.op == internal.MESH:
            self._on_mesh(worker, message)
        elif message.op in (internal.BATCH_DONE, internal.BATCH_ERROR):
            self._on_batch_end(worker, message)

    def _on_ready(self, worker: WorkerHandle, message) -> None:
        worker.ready = True
        worker.device = message.get("device")
        if not self.models:
            self.models = message.get("models")
            self.default_model = message.get("default_model")
            self._topology_key = message.get("topology")["key"]
            limits = {"max_count": MAX_COUNT, "max_seed": MAX_SEED, "min_truncation": MIN_TRUNCATION,
                      "max_truncation": MAX_TRUNCATION, "max_in_flight": MAX_IN_FLIGHT_PER_CLIENT,
                      "max_request_bytes": MAX_REQUEST_BYTES}
            self._info_fields = {"protocol": PROTOCOL_VERSION, "server": SERVER_NAME, "models": self.models,
                                 "default_model": self.default_model, "limits": limits,
                                 "topology": message.get("topology"), "max_batch": self.config.max_batch}
            self._topology_arrays = {k: v.copy() for k, v in message.arrays.items()}
            self._class_names = {m["name"]: m["classes"] for m in self.models}
        self._info_fields["devices"] = [w.device for w in self.workers if w.ready]
        self._info_fields["workers"] = sum(w.ready for w in self.workers)
        log.info("worker %d ready on %s (pid %s)", worker.index, worker.device, message.get("pid"))

    def _on_mesh(self, worker: WorkerHandle, message) -> None:
        entry = self.batches.get(message.request_id)
        if entry is None:
            return
        batch, _ = entry
        segment = batch.segments[message.get("segment")]
        job = self.scheduler.jobs.get(segment.job)
        if job is None:   # cancelled, or its client went away
            return
        class_index = message.get("class")
        job.pending[message.get("index")] = encode_message(Reply.MESH, job.request_id, {
            "index": message.get("index"), "seed": message.get("seed"), "model": job.model,
            "class": class_index, "class_name": self._class_names[job.model][class_index] if class_index is not None
            else None, "class_weights": message.get("class_weights"), "truncation": job.truncation,
            "topology": self._topology_key, "worker": worker.index, "compute_ms": message.get("compute_ms"),
            "paint": message.get("paint")},
            message.arrays)
        while job.delivered in job.pending:
            if not self._send_client(job.client, job.pending.pop(job.delivered)):
                return
            job.delivered += 1

    def _on_batch_end(self, worker: WorkerHandle, message) -> None:
        entry = self.batches.pop(message.request_id, None)
        worker.batch = None
        if entry is None:
            return
        batch, _ = entry
        failed_from = len(batch.segments)
        if message.op == internal.BATCH_ERROR:
            failed_from = int(message.get("segment", 0))
            for segment in batch.segments[failed_from:]:
                job = self.scheduler.remove(segment.job)
                if job is not None:
                    self._error(job.client, job.request_id, message.get("code"), message.get("message"))
        self._report_progress(batch.segments[:failed_from])

    def _report_progress(self, segments) -> None:
        for key in dict.fromkeys(s.job for s in segments):
            job = self.scheduler.jobs.get(key)
            if job is None:
                continue
            if not self._send_client(job.client, encode_message(Reply.PROGRESS, job.request_id, {
                    "done": job.delivered, "total": job.count})):
                continue
            if job.delivered == job.count:
                self.scheduler.remove(key)
                self._send_client(job.client, encode_message(Reply.DONE, job.request_id, {"count": job.count}))

    def _check_workers(self) -> None:
        for worker in self.workers:
            if worker.given_up:
                continue
            code = worker.process.poll()
            if code is None:
                continue
            log.error("worker %d exited unexpectedly (code %s)", worker.index, code)
            if worker.batch is not None:
                batch = worker.batch
                self.batches.pop(batch.batch_id, None)
                for segment in batch.segments:
                    job = self.scheduler.remove(segment.job)
                    if job is not None:
                        self._error(job.client, job.request_id, ErrorCode.INTERNAL,
                                    f"worker {worker.index} died while generating this request; retry it")
                worker.batch = None
            worker.ready = False
            if worker.restarts < MAX_WORKER_RESTARTS:
                worker.restarts += 1
                log.info("restarting worker %d (restart %d of %d)", worker.index, worker.restarts,
                         MAX_WORKER_RESTARTS)
                worker.process = self._spawn(worker.index)
            else:
                log.error("worker %d keeps dying; not restarting it", worker.index)
                worker.given_up = True
                worker.process = _Exited(code)


class _Exited:
    """Stands in for the reaped process of a worker that will not be restarted: it reports its exit code, as a
    finished ``subprocess.Popen`` does (``poll()`` None would mean "still running")."""

    def __init__(self, returncode: int):
        self.returncode = returncode

    def poll(self) -> int:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        return self.returncode

    def terminate(self) -> None:
        pass

    kill = terminate
