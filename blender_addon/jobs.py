"""The background side of the add-on: one IO thread owns the ZeroMQ client; the main thread reads events.

No bpy here. Operators call :meth:`BackendWorker.submit` / :meth:`BackendWorker.cancel` /
:meth:`BackendWorker.request_info`; the main thread drains :meth:`BackendWorker.events` (from a
``bpy.app.timers`` function in Blender, directly in tests and scripts) and builds objects there.

A job is a list of :class:`RequestSpec` (each one a ``generate`` of ``count`` meshes from consecutive seeds, or
from explicit latents);
the meshes of a job are numbered by *slot*: request k's mesh j has slot ``offset_k + j``.
"""
from __future__ import annotations

import itertools
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Union

from . import messages


@dataclass(frozen=True)
class RequestSpec:
    """One ``generate`` request: ``count`` meshes from seeds ``seed .. seed + count − 1``, or from the rows of
    ``latents`` (count, latent_dim) float32 when given; ``class_weights`` (count, n_classes) mixes classes
    instead of ``class_``; ``paint_color`` (sRGB) and ``paint_tolerance`` (ΔE) ask for cars of that colour."""

    count: int
    seed: int
    model: str | None
    class_: int | str | None
    truncation: float
    texture_size: int | None = None
    latents: Any = field(default=None, compare=False)
    class_weights: Any = field(default=None, compare=False)
    paint_color: tuple | None = None
    paint_tolerance: float | None = None


# -- events sent from the IO thread to the main thread ------------------------------------------

@dataclass
class InfoReady:
    info: Any  # protocol.ServerInfo
    address: str


@dataclass
class InfoFailed:
    message: str
    address: str


@dataclass
class MeshReady:
    job_id: int
    slot: int
    mesh: Any  # protocol.MeshResult


@dataclass
class JobEnded:
    """The job's last event. status: "done", "cancelled" or "failed" (then ``message`` says why and what to do)."""

    job_id: int
    status: str
    message: str = ""


Event = Union[InfoReady, InfoFailed, MeshReady, JobEnded]


_JOB_IDS = itertools.count(1)  # unique across workers: job ids key the main thread's job table


@dataclass
class _Command:
    kind: str  # "info", "generate", "cancel", "stop"
    job_id: int = 0
    requests: tuple[RequestSpec, ...] = ()


@dataclass
class _ActiveJob:
    job_id: int
    streams: list  # [(offset, GenerateStream)]
    pending: list  # [(offset, RequestSpec)] not yet started


class BackendWorker:
    """Owns a protocol ``Client`` on its own thread; everything crosses threads through two queues.

    Address and timeout are fixed for the worker's life; other settings mean a new worker.

    Args:
        client_factory: ``(address, timeout) -> Client`` (the protocol package's ``Client``, or a CURVE-enabled one).
        address: normalised ``tcp://host:port``.  timeout: seconds to wait for each reply.
    """

    def __init__(self, client_factory: Callable[[str, float], Any], address: str, timeout: float):
        self._factory = client_factory
        self._address = address
        self._timeout = timeout
        self._commands: "queue.Queue[_Command]" = queue.Queue()
        self._events: "queue.Queue[Event]" = queue.Queue()
        self._client = None
        self._active: dict[int, _ActiveJob] = {}
        self._thread = threading.Thread(target=self._run, name="gan3d-io", daemon=True)
        self._thread.start()

    # -- main-thread API ---------------------------------------------------------------------------

    @property
    def address(self) -> str:
        return self._address

    @property
    def timeout(self) -> float:
        return self._timeout

    def request_info(self) -> None:
        """Ask for ``info``; an :class:`InfoReady` or :class:`InfoFailed` event follows."""
        self._commands.put(_Command("info"))

    def submit(self, requests: list[RequestSpec]) -> int:
        """Start a job; returns its id. :class:`MeshReady` events follow, then one :class:`JobEnded`."""
        job_id = next(_JOB_IDS)
        self._commands.put(_Command("generate", job_id, tuple(requests)))
        return job_id

    def cancel(self, job_id: int) -> None:
        """Cancel a job on the server; its :class:`JobEnded` (status "cancelled") follows."""
        self._commands.put(_Command("cancel", job_id))

    def events(self, limit: int | None = None) -> list[Event]:
        """Events that have arrived (never blocks)."""
        out: list[Event] = []
        while limit is None or len(out) < limit:
            try:
                out.append(self._events.get_nowait())
            except queue.Empty:
                break
        return out

    def stop(self, wait: float = 2.0) -> None:
        """Cancel everything, close the socket and end the thread (waits up to ``wait`` seconds for it)."""
        self._commands.put(_Command("stop"))
        self._thread.join(wait)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # -- IO thread ---------------------------------------------------------------------------------

    def _client_or_none(self):
        if self._client is None:
            self._client = self._factory(self._address, self._timeout)
        return self._client

    def _run(self) -> None:
        try:
            while True:
                block = not self._active
                try:
                    command = self._commands.get(timeout=0.1) if block else self._commands.get_nowait()
                except queue.Empty:
                    command = None
                if command is not None:
                    if command.kind == "stop":
                        self._cancel_all()
                        break
                    self._handle(command)
                    continue  # drain commands first
                self._pump_streams()
        finally:
            if self._client is not None:
                self._client.close()

    def _handle(self, command: _Command) -> None:
        if command.kind == "info":
            try:
                info = self._client_or_none().info()
            except Exception as exc:  # every failure becomes a message for the panel
                self._reset_client_after(exc)
                self._events.put(InfoFailed(messages.describe(exc, self._address, self._timeout), self._address))
            else:
                problem = messages.check_protocol_version(info)
                if problem:
                    self._events.put(InfoFailed(problem, self._address))
                else:
                    self._events.put(InfoReady(info, self._address))
        elif command.kind == "generate":
            offsets = itertools.accumulate((r.count for r in command.requests), initial=0)
            job = _ActiveJob(command.job_id, [], list(zip(offsets, command.requests)))
            self._active[job.job_id] = job
            self._start_pending(job)
        elif command.kind == "cancel":
            job = self._active.pop(command.job_id, None)
            if job is not None:
                self._cancel_job(job)
                self._events.put(JobEnded(job.job_id, "cancelled"))

    # Requests of one job run at most this many at a time (the server merges their batches).
    MAX_STREAMS_PER_JOB = 8

    def _start_pending(self, job: _ActiveJob) -> None:
        while job.pending and len(job.streams) < self.MAX_STREAMS_PER_JOB:
            offset, spec = job.pending.pop(0)
            try:
                stream = self._client_or_none().generate_stream(
                    spec.count, spec.seed, model=spec.model, class_=spec.class_, truncation=spec.truncation,
                    texture_size=spec.texture_size, latents=spec.latents, class_weights=spec.class_weights,
                    paint_color=spec.paint_color, paint_tolerance=spec.paint_tolerance)
            except Exception as exc:
                self._fail(job, exc)
                return
            job.streams.append((offset, stream))

    def _pump_streams(self) -> None:
        first = True
        for job in list(self._active.values()):
            for offset, stream in list(job.streams):
                try:
                    events = stream.poll(0.05 if first else 0.0)
                except Exception as exc:
                    self._fail(job, exc)
                    break
                first = False
                for event in events:
                    if hasattr(event, "vertices"):
                        self._events.put(MeshReady(job.job_id, offset + event.index, event))
                if stream.finished:
                    job.streams.remove((offset, stream))
            if job.job_id not in self._active:
                continue
            self._start_pending(job)
            if job.job_id in self._active and not job.streams and not job.pending:
                del self._active[job.job_id]
                self._events.put(JobEnded(job.job_id, "done"))
        if first:
            time.sleep(0.01)

    def _fail(self, job: _ActiveJob, exc: Exception) -> None:
        self._active.pop(job.job_id, None)
        self._cancel_job(job)
        self._reset_client_after(exc)
        self._events.put(JobEnded(job.job_id, "failed", messages.describe(exc, self._address, self._timeout)))

    def _reset_client_after(self, exc: Exception) -> None:
        # After the client gave up (server gone, timeout) start from a fresh socket next time.
        if messages.is_connection_failure(exc) and self._client is not None:
            for job in list(self._active.values()):
                self._active.pop(job.job_id)
                self._events.put(JobEnded(job.job_id, "failed", messages.describe(exc, self._address, self._timeout)))
            self._client.close()
            self._client = None

    def _cancel_job(self, job: _ActiveJob) -> None:
        job.pending.clear()
        for _, stream in job.streams:
            if not stream.finished:
                try:
                    stream.cancel(timeout=min(self._timeout, 5.0))
                except Exception:
                    pass  # the server may already be gone; the job ends either way
        job.streams.clear()

    def _cancel_all(self) -> None:
        for job in list(self._active.values()):
            self._cancel_job(job)
            self._events.put(JobEnded(job.job_id, "cancelled"))
        self._active.clear()
