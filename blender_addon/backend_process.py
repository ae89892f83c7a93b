"""Start a local backend from the command set in Preferences, and watch it come up (no bpy).

The command is split like a shell would (``shlex``) and run without a shell, in the backend folder if one is
set. While it starts, :func:`tick` (called from the add-on's timer) asks the server for ``info`` every
``RETRY_EVERY`` seconds, up to ``STARTUP_TIMEOUT``, and reports an early exit with the tail of its output.
"""
from __future__ import annotations

import atexit
import os
import pathlib
import shlex
import subprocess
import tempfile
import time

from . import runtime
from .runtime import STATE

STARTUP_TIMEOUT = 120.0
RETRY_EVERY = 1.5
_log_path: pathlib.Path | None = None
_next_try = 0.0


class BackendStartError(RuntimeError):
    """The backend command is missing or could not be started (message says what to fix)."""


def start(command: str, directory: str, worker) -> subprocess.Popen:
    """Run ``command`` (cwd ``directory`` when set); output goes to a log file shown on failure."""
    global _log_path, _next_try
    if STATE.backend_process is not None and STATE.backend_process.poll() is None:
        raise BackendStartError(f"a backend started from Blender is already running (pid {STATE.backend_process.pid})")
    args = shlex.split(command or "", posix=os.name != "nt")
    if not args:
        raise BackendStartError("set 'Backend command' in Preferences › Add-ons › gan3d, e.g. "
                                "/path/to/gan3d/.venv/bin/python -m backend.serve")
    cwd = directory or None
    if cwd and not pathlib.Path(cwd).is_dir():
        raise BackendStartError(f"backend folder {cwd!r} does not exist; fix it in Preferences › Add-ons › gan3d")
    _log_path = pathlib.Path(tempfile.gettempdir()) / f"gan3d-backend-{os.getpid()}.log"
    log = open(_log_path, "wb")
    try:
        process = subprocess.Popen(args, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    except OSError as exc:
        raise BackendStartError(f"could not run {args[0]!r}: {exc.strerror}; check 'Backend command' in Preferences") from None
    finally:
        log.close()
    STATE.backend_process = process
    atexit.register(runtime.stop_backend)  # do not leave it running when Blender quits
    STATE.backend_started_at = time.monotonic()
    _next_try = time.monotonic() + RETRY_EVERY
    runtime.forget_connection()
    return process


def log_tail(lines: int = 3) -> str:
    if _log_path is None or not _log_path.exists():
        return ""
    text = _log_path.read_text(errors="replace").strip().splitlines()
    return " | ".join(text[-lines:])


def starting() -> bool:
    """True while a backend we started is running but has not answered ``info`` yet."""
    process = STATE.backend_process
    return (process is not None and process.poll() is None and STATE.connection.info is None
            and time.monotonic() - STATE.backend_started_at < STARTUP_TIMEOUT)


def tick() -> None:
    """Poll a starting backend: retry ``info`` until it answers, report an early exit."""
    global _next_try
    process = STATE.backend_process
    if process is None or STATE.connection.info is not None:
        return
    code = process.poll()
    if code is not None:
        STATE.connection.error = f"the backend exited with code {code}: {log_tail() or 'no output'}"
        STATE.backend_process = None
        return
    if starting() and not STATE.connection.pending and time.monotonic() >= _next_try and STATE.worker is not None:
        _next_try = time.monotonic() + RETRY_EVERY
        runtime.request_info(STATE.worker)
