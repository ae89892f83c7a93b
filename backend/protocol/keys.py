"""CurveZMQ key files: the one layout shared by ``python -m backend.serve keygen``, the server and clients.

A keys folder holds::

    server.key            server public key (give it to clients)
    server.key_secret     server secret key (stays on the server)
    client.key            a client public key
    client.key_secret     that client's secret key (copy to the machine running the client)
    authorized_clients/   public keys (*.key) of every client the server accepts

Files are ZeroMQ certificate files (``zmq.auth``), readable with any ZeroMQ tooling.
"""
from __future__ import annotations

import os
import pathlib
import shutil
from dataclasses import dataclass

import zmq.auth

SERVER_KEY_NAME = "server"
CLIENT_KEY_NAME = "client"
AUTHORIZED_CLIENTS_DIR = "authorized_clients"


@dataclass(frozen=True)
class ClientKeys:
    """Everything a client needs for CURVE: the server's public key and its own keypair (z85 bytes)."""

    server_public: bytes
    public: bytes
    secret: bytes


def create_keys(directory: str | os.PathLike, client_name: str = CLIENT_KEY_NAME) -> pathlib.Path:
    """Create a server keypair (if missing) and a client keypair named ``client_name``, authorised.

    Secret key files are made readable by their owner only. Returns the folder.
    """
    root = pathlib.Path(directory)
    authorized = root / AUTHORIZED_CLIENTS_DIR
    authorized.mkdir(parents=True, exist_ok=True)
    if not (root / f"{SERVER_KEY_NAME}.key_secret").exists():
        zmq.auth.create_certificates(root, SERVER_KEY_NAME)
    public_file, secret_file = zmq.auth.create_certificates(root, client_name)
    shutil.copyfile(public_file, authorized / pathlib.Path(public_file).name)
    for secret in root.glob("*.key_secret"):
        os.chmod(secret, 0o600)
    return root


def load_server_keys(directory: str | os.PathLike) -> tuple[bytes, bytes, pathlib.Path]:
    """Return (server public, server secret, authorized_clients folder); FileNotFoundError says what to run."""
    root = pathlib.Path(directory)
    secret_file = root / f"{SERVER_KEY_NAME}.key_secret"
    authorized = root / AUTHORIZED_CLIENTS_DIR
    if not secret_file.is_file():
        raise FileNotFoundError(f"{secret_file} is missing; create keys with `python -m backend.serve keygen {root}`")
    if not authorized.is_dir() or not any(authorized.glob("*.key")):
        raise FileNotFoundError(f"{authorized} holds no client public keys (*.key); "
                                f"create one with `python -m backend.serve keygen {root}`")
    public, secret = zmq.auth.load_certificate(secret_file)
    return public, secret, authorized


def load_client_keys(directory: str | os.PathLike, client_name: str = CLIENT_KEY_NAME) -> ClientKeys:
    """Read ``server.key`` and ``<client_name>.key_secret`` from a keys folder."""
    root = pathlib.Path(directory)
    server_file = root / f"{SERVER_KEY_NAME}.key"
    client_file = root / f"{client_name}.key_secret"
    for needed in (server_file, client_file):
        if not needed.is_file():
            raise FileNotFoundError(f"{needed} is missing; copy it from the server's keys folder "
                                    f"(made by `python -m backend.serve keygen DIR`)")
    server_public, _ = zmq.auth.load_certificate(server_file)
    public, secret = zmq.auth.load_certificate(client_file)
    return ClientKeys(server_public=server_public, public=public, secret=secret)
