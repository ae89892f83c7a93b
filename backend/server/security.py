"""Who may connect: loopback by default, CurveZMQ for anything else."""
from __future__ import annotations

import ipaddress
import logging
import os

import zmq
from zmq.auth.thread import ThreadAuthenticator

from backend.protocol import load_server_keys

log = logging.getLogger("gan3d.server")

_LOCAL_HOSTS = {"localhost", "ip6-localhost"}


def bind_host(address: str) -> str | None:
    """The host part of a ``tcp://HOST:PORT`` address (None for ipc:// and inproc://)."""
    if not address.startswith("tcp://"):
        return None
    rest = address[len("tcp://"):]
    host = rest.rsplit(":", 1)[0] if ":" in rest else rest
    return host.strip("[]")


def is_loopback(address: str) -> bool:
    """True when only this machine can reach ``address``: ipc://, inproc://, 127.0.0.0/8, ::1, localhost."""
    if address.startswith(("ipc://", "inproc://")):
        return True
    host = bind_host(address)
    if host is None:
        return False
    if host.lower() in _LOCAL_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False   # "*", interface names, host names: reachable from outside


class InsecureBindError(ValueError):
    """Binding a non-loopback address without CURVE keys or --insecure."""


def check_bind_policy(address: str, keys_dir: str | None, insecure: bool) -> None:
    """Refuse to expose the server without encryption unless the user insists (then warn)."""
    if is_loopback(address) or keys_dir:
        return
    if not insecure:
        raise InsecureBindError(
            f"{address} is reachable from other machines; pass --keys DIR (make keys with "
            f"`python -m backend.serve keygen DIR`) or, on a trusted network only, --insecure")
    log.warning("serving %s WITHOUT authentication or encryption (--insecure): anyone who can reach it can use it",
                address)


def enable_curve(context: zmq.Context, socket: zmq.Socket, keys_dir: str | os.PathLike) -> ThreadAuthenticator:
    """Make ``socket`` a CURVE server accepting only the client keys in ``keys_dir/authorized_clients``.

    Call before bind. Returns the running authenticator (stop it at shutdown).
    """
    public, secret, authorized = load_server_keys(keys_dir)
    authenticator = ThreadAuthenticator(context, log=logging.getLogger("gan3d.server.auth"))
    authenticator.start()
    authenticator.configure_curve(domain="*", location=str(authorized))
    socket.curve_server = True
    socket.curve_publickey = public
    socket.curve_secretkey = secret
    return authenticator
