"""Running a server: start the broker and its workers, serve until SIGINT/SIGTERM, shut down in order."""
from __future__ import annotations

import signal
import threading
from typing import Callable

from .broker import Broker
from .config import ServerConfig


def run_server(config: ServerConfig, on_ready: Callable[[Broker], None] | None = None) -> None:
    """Serve ``config`` until SIGINT or SIGTERM (or ``broker.request_stop()``).

    ``on_ready(broker)`` is called once the front socket is bound (``broker.address`` is the resolved
    address, ``broker.models`` the model descriptions). Raises ServerStartError / InsecureBindError /
    ValueError with one-line messages when the server cannot start.
    """
    broker = Broker(config)
    handlers = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            handlers[sig] = signal.signal(sig, lambda *_: broker.request_stop())
    try:
        broker.start()
        if on_ready is not None:
            on_ready(broker)
        broker.serve_forever()
    finally:
        broker.close()
        for sig, previous in handlers.items():
            signal.signal(sig, previous)
