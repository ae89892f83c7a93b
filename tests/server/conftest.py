"""Starting real server processes for the tests (``python -m backend.serve`` on loopback, free ports)."""
from __future__ import annotations

import os
import pathlib
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
READY = re.compile(r"gan3d server ready on (\S+)")


@dataclass
class ServerProcess:
    process: subprocess.Popen
    address: str
    log_path: pathlib.Path

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def worker_pids(self) -> list[int]:
        """Processes whose parent is this server (its workers)."""
        pids = []
        for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                pids.append(int(stat.parent.name))
        return pids

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


def start_server(tmp_dir: pathlib.Path, *args: str, env: dict | None = None, timeout: float = 120) -> ServerProcess:
    """Run ``python -m backend.serve ARGS`` and wait for its "ready on ADDRESS" line."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    log_path = tmp_dir / f"server-{time.monotonic_ns()}.log"
    log = open(log_path, "w")
    full_env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "backend.serve", *args], cwd=REPO, stdout=log,
                               stderr=subprocess.STDOUT, env=full_env)
    log.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = READY.search(log_path.read_text(errors="replace"))
        if match:
            return ServerProcess(process, match.group(1), log_path)
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log_path.read_text()}")
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"server not ready in {timeout} s:\n{log_path.read_text()}")


@pytest.fixture(scope="module")
def small_server(tmp_path_factory):
    """One untrained "small" server for a whole test module (max batch 4 so requests get split)."""
    server = start_server(tmp_path_factory.mktemp("server"), "--random_init", "small", "--bind",
                          "tcp://127.0.0.1:0", "--max_batch", "4", "--device", "cpu", "--client_hwm", "8",
                          "--client_sndbuf", "65536")
    yield server
    workers = server.worker_pids()
    assert server.stop(signal.SIGTERM) == 0, server.log
    assert "gan3d server stopped" in server.log
    assert workers and not any(pathlib.Path(f"/proc/{pid}").exists() and
                               "Z" not in pathlib.Path(f"/proc/{pid}/stat").read_text().split()[2]
                               for pid in workers), "workers outlived the server"


@pytest.fixture(scope="module")
def reference_generator():
    """The same untrained model, run in-process, to compare server output with."""
    from backend.sampling import MeshGenerator
    from backend.models import random_init_model
    return MeshGenerator(random_init_model("small", seed=0), device="cpu")
