"""Client API (re-exported from :mod:`backend.protocol`) and the CLI ``python -m backend.client``.

Import :class:`Client` from here in scripts: it never imports torch. The CLI is described in
``docs/protocol.md``; its logic lives in the libraries.
"""
from backend.protocol import (  # noqa: F401  (re-exports)
    AuthenticationFailed, Client, ClientError, ClientKeys, GenerateStream, MeshResult, ModelInfo, Progress,
    RequestTimeout, ServerError, ServerInfo, ServerUnavailable, Topology, load_client_keys,
)

if __name__ == "__main__":
    from backend.server.client_cli import main
    raise SystemExit(main())
