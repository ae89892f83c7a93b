"""The gan3d inference server: a ROUTER front end, batching, worker processes, CurveZMQ.

Public API::

    from backend.server import ServerConfig, run_server
    run_server(ServerConfig(bind="tcp://127.0.0.1:5577", random_init=["small"], workers=1, max_batch=8))

The CLI is ``python -m backend.serve`` (see docs/protocol.md). This package's broker never imports
torch; the workers (``backend.server.worker``) do.
"""
from .app import run_server
from .broker import Broker, ServerStartError
from .config import ServerConfig
from .security import InsecureBindError, check_bind_policy, is_loopback

__all__ = ["Broker", "InsecureBindError", "ServerConfig", "ServerStartError", "check_bind_policy", "is_loopback",
           "run_server"]
