"""Settings of a server run (what ``python -m backend.serve`` parses into)."""
from __future__ import annotations

from dataclasses import dataclass, field

from backend.protocol import DEFAULT_ADDRESS

#: Compute precisions a server can run its models in (the keys of ``backend.models.PRECISIONS``, written out here
#: so the broker need not import torch).
PRECISION_CHOICES = ("fp32", "bf16")


@dataclass
class ServerConfig:
    """bind: front address (``tcp://127.0.0.1:0`` picks a free port). checkpoints / random_init: the
    models (none: the embedded default). device: ``auto`` (worker i on GPU i mod n, else CPU), ``cpu`` or
    ``cuda:N``. workers: worker processes. max_batch: meshes per generator call. keys_dir: CURVE keys
    (required off loopback unless insecure). client_hwm: replies ZeroMQ queues per client before the
    client counts as "not reading" and its requests pause (a 512² mesh is ~780 KB, so the default 64
    bounds that queue to ~50 MB per client). client_sndbuf: kernel send buffer per client connection in
    bytes (0 = the OS default, which autotunes up to a few MB). startup_timeout: seconds to wait for the workers to load.
    precision: compute precision of every model, "fp32" (default, exact) or "bf16" (about twice as fast on CPUs
    with AVX512-BF16; texture values move by a few 8-bit levels, see docs/models.md).
    """

    bind: str = DEFAULT_ADDRESS
    checkpoints: list[str] = field(default_factory=list)
    random_init: list[str] = field(default_factory=list)
    device: str = "auto"
    workers: int = 1
    max_batch: int = 8
    keys_dir: str | None = None
    insecure: bool = False
    client_hwm: int = 64
    client_sndbuf: int = 0
    startup_timeout: float = 600.0
    precision: str = "fp32"

    def __post_init__(self) -> None:
        if not 1 <= self.workers <= 64:
            raise ValueError(f"--workers must be in [1, 64], got {self.workers}")
        if not 1 <= self.max_batch <= 256:
            raise ValueError(f"--max_batch must be in [1, 256], got {self.max_batch}")
        if not 1 <= self.client_hwm <= 100_000:
            raise ValueError(f"--client_hwm must be in [1, 100000], got {self.client_hwm}")
        if self.precision not in PRECISION_CHOICES:
            raise ValueError(f"--precision must be one of {', '.join(PRECISION_CHOICES)}, got {self.precision!r}")
        if self.bind.startswith("tcp://") and self.bind.endswith(":0"):
            self.bind = self.bind[:-2] + ":*"   # ZeroMQ's spelling of "any free port"
