"""Session state of the add-on (not saved in .blend files): the IO worker, the server's ``info``, running jobs.

Only the main thread touches this module's state; the worker thread talks through its queues.
"""
from __future__ import annotations

import random
import subprocess
import time
from dataclasses import dataclass, field

import numpy as np

from . import addressing, jobs, protocol
from .object_properties import Provenance


@dataclass
class Slot:
    """Where one mesh of a job goes.

    ``replace`` is the name of an existing object whose data is replaced (regenerate / reproduce); otherwise a new
    object is made at ``location`` (3,) turned by ``yaw`` radians. ``provenance`` is what the object will carry
    (its latent and model fingerprint are filled in from the mesh that arrives). ``name``: the new object's
    name (default ``<class>_<seed>``; objects without a seed keep their name when rebuilt).
    """

    provenance: Provenance
    location: tuple[float, float, float] = (0.0, 0.0, 0.0)
    yaw: float = 0.0
    snap_to_ground: bool = False
    replace: str = ""
    name: str = ""
    normal: tuple | None = None      # up axis of an object tilted to the surface or road (None: upright)
    max_width: float = 0.0           # metres of ground it may use across (a wider mesh is scaled down; 0: no limit)
    display_bounds: bool = False     # show it as its bounding box in the viewport (renders unaffected)


@dataclass
class JobState:
    job_id: int
    label: str
    scene_name: str
    slots: list[Slot]
    status: str = "running"  # running, done, cancelled, failed
    message: str = ""
    built: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    finished: float = 0.0
    planning: object = None   # (planner, batch) while its layout is computed on a thread (population.py)

    @property
    def total(self) -> int:
        return len(self.slots)


@dataclass
class Connection:
    """What the panel shows about the backend."""

    info: object = None            # protocol.ServerInfo once connected
    address: str = ""
    error: str = ""                # last connection error (one line)
    pending: bool = False          # an info request is in flight
    checked_at: float = 0.0


class State:
    def __init__(self):
        self.worker: jobs.BackendWorker | None = None
        self.worker_settings: tuple = ()                # (address, timeout, keys folder) of ``worker``
        self.connection = Connection()
        self.topologies: dict[str, object] = {}   # topology key -> scene_builder.Topology
        self.jobs: dict[int, JobState] = {}
        self.last_report: str = ""                 # last finished job's message, for the panel
        self.backend_process: subprocess.Popen | None = None
        self.backend_started_at = 0.0
        self.rng = random.SystemRandom()


STATE = State()


def client_factory(keys_directory: str = ""):
    def make(address: str, timeout: float):
        keys = protocol.load_client_keys(keys_directory) if keys_directory else None
        return protocol.Client(address, timeout=timeout, retries=2, backoff=0.1, keys=keys)
    return make


def worker(address: str, timeout: float, keys_directory: str = "") -> jobs.BackendWorker:
    """The IO worker for these settings, started on first use and replaced when they change (running batches
    are then cancelled: their objects so far stay). Raises ``addressing.AddressError`` for a malformed address.
    """
    normalised = addressing.normalise_address(address)
    settings = (normalised, float(timeout), keys_directory)
    current = STATE.worker
    if current is not None and current.alive and STATE.worker_settings == settings:
        return current
    if current is not None:
        current.stop(wait=0.0)  # its thread cancels its requests on the server and exits by itself
        for job in running_jobs():
            job.status, job.finished = "cancelled", time.perf_counter()
            job.message = f"{job.label} cancelled: the backend settings changed"
            STATE.last_report = job.message
        forget_connection()
    STATE.worker = jobs.BackendWorker(client_factory(keys_directory), normalised, float(timeout))
    STATE.worker_settings = settings
    STATE.connection.address = normalised
    return STATE.worker


def forget_connection() -> None:
    STATE.connection.info = None
    STATE.connection.error = ""
    STATE.connection.pending = False


def request_info(w: jobs.BackendWorker) -> None:
    if not STATE.connection.pending:
        STATE.connection.pending = True
        STATE.connection.checked_at = time.monotonic()
        w.request_info()


def running_jobs() -> list[JobState]:
    return [j for j in STATE.jobs.values() if j.status == "running"]


def random_seed(max_seed: int) -> int:
    return STATE.rng.randrange(0, max_seed + 1)


def shutdown() -> None:
    """Stop the IO thread (add-on disabled or Blender quitting). A backend the add-on started keeps running only
    if it was started detached; ours is stopped."""
    if STATE.worker is not None:
        STATE.worker.stop()
        STATE.worker = None
    stop_backend()
    STATE.jobs.clear()


def stop_backend() -> None:
    process = STATE.backend_process
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
    STATE.backend_process = None


def topology_for(key: str):
    return STATE.topologies.get(key)


def seeds_for(count: int, seed: int) -> np.ndarray:
    return np.arange(seed, seed + count, dtype=np.int64)
