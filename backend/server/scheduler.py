"""Which meshes to generate next: fair, batched, ramping scheduling of generate jobs (no I/O here).

A *job* is one client's generate request. A *batch* is what one worker computes in one go: up to
``max_batch`` meshes of one model (classes may differ per mesh), taken from one or more jobs as *segments* (consecutive
mesh indices of one job). Each job's segments grow 1, 2, 4, ... up to ``max_batch`` so its first mesh
comes back after a batch of one; a new job goes ahead of jobs that already got a batch, and jobs
take turns (round robin), so a large request does not starve small ones.
"""
from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Iterable

JobKey = tuple[bytes, str]   # (client identity, request id)


@dataclass
class Job:
    """One generate request being served.

    ``next_index`` is the first mesh index not yet handed to a worker; ``delivered`` counts meshes sent
    to the client (in index order); ``pending`` holds finished meshes that arrived out of order
    (index -> whatever the broker stores for them). ``latents`` (count, latent_dim) and ``class_weights``
    (count, n_classes) are the request's explicit latents and class vectors (None: from the seeds / class).
    """

    client: bytes
    request_id: str
    model: str
    class_index: int | None
    truncation: float
    texture_size: int
    seed: int
    count: int
    next_index: int = 0
    delivered: int = 0
    chunk: int = 1
    pending: dict[int, object] = field(default_factory=dict)
    latents: Any = None
    class_weights: Any = None
    paint: Any = None          # {"color", "tolerance", "tries"} of a paint request (None: any colour)

    @property
    def key(self) -> JobKey:
        return (self.client, self.request_id)

    @property
    def batch_key(self) -> str:
        """Jobs with equal batch keys (the model) can share a generator forward pass; a paint request's batches
        hold only its own meshes (its candidate search may fail without failing anyone else's)."""
        return self.model if self.paint is None else f"{self.model}\0{self.request_id}"

    @property
    def unscheduled(self) -> int:
        return self.count - self.next_index


@dataclass(frozen=True)
class Segment:
    """Meshes ``start .. start + count - 1`` of a job (mesh j uses seed ``job.seed + j``, or row j - start of
    ``latents`` when the job has explicit latents; ``class_weights`` likewise)."""

    job: JobKey
    start: int
    count: int
    seed: int
    class_index: int | None
    truncation: float
    texture_size: int
    latents: Any = field(default=None, compare=False)
    class_weights: Any = field(default=None, compare=False)
    paint: Any = field(default=None, compare=False)


@dataclass(frozen=True)
class Batch:
    batch_id: str
    model: str
    segments: tuple[Segment, ...]

    @property
    def size(self) -> int:
        return sum(s.count for s in self.segments)


class Scheduler:
    """Holds the jobs and cuts batches. Not thread-safe (the broker's loop owns it)."""

    def __init__(self, max_batch: int):
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.max_batch = max_batch
        self.jobs: dict[JobKey, Job] = {}
        self._queue: deque[JobKey] = deque()   # jobs with unscheduled meshes, round-robin order
        self._batch_ids = itertools.count()

    def add(self, job: Job) -> None:
        if job.key in self.jobs:
            raise KeyError(f"job {job.key!r} already exists")
        self.jobs[job.key] = job
        # A new request goes ahead of requests that already got a batch, so its first mesh comes quickly.
        started = next((i for i, key in enumerate(self._queue) if self.jobs[key].next_index > 0), None)
        if started is None:
            self._queue.append(job.key)
        else:
            self._queue.insert(started, job.key)

    def remove(self, key: JobKey) -> Job | None:
        """Forget a job (finished, cancelled, or its client vanished). Its in-flight results get dropped."""
        job = self.jobs.pop(key, None)
        if job is not None:
            try:
                self._queue.remove(key)
            except ValueError:
                pass
        return job

    def remove_client(self, client: bytes) -> list[Job]:
        return [self.remove(key) for key in [k for k in self.jobs if k[0] == client]]

    def jobs_of(self, client: bytes) -> list[Job]:
        return [job for key, job in self.jobs.items() if key[0] == client]

    def has_work(self, paused: Iterable[bytes] = ()) -> bool:
        paused = set(paused)
        return any(key[0] not in paused for key in self._queue)

    def next_batch(self, paused: Iterable[bytes] = ()) -> Batch | None:
        """Cut the next batch, or None when nothing is waiting. Jobs of ``paused`` clients are skipped."""
        paused = set(paused)
        head = next((k for k in self._queue if k[0] not in paused), None)
        if head is None:
            return None
        batch_key, model = self.jobs[head].batch_key, self.jobs[head].model
        capacity = self.max_batch
        segments: list[Segment] = []
        for key in list(self._queue):
            if capacity == 0:
                break
            job = self.jobs[key]
            if key[0] in paused or job.batch_key != batch_key:
                continue
            take = min(job.chunk, job.unscheduled, capacity)
            rows = slice(job.next_index, job.next_index + take)
            segments.append(Segment(key, job.next_index, take, job.seed + job.next_index, job.class_index,
                                    job.truncation, job.texture_size,
                                    job.latents[rows] if job.latents is not None else None,
                                    job.class_weights[rows] if job.class_weights is not None else None,
                                    job.paint))
            job.next_index += take
            job.chunk = min(job.chunk * 2, self.max_batch)
            capacity -= take
            self._queue.remove(key)
            if job.unscheduled:
                self._queue.append(key)   # back of the line: round robin
        return Batch(f"b{next(self._batch_ids)}", model, tuple(segments))
