"""Server addresses as users type them, normalised to ZeroMQ endpoints (no bpy).

Accepted: ``host:port``, ``tcp://host:port``, ``:port`` or a bare ``port`` (host 127.0.0.1), IPv6 as
``[::1]:port``. Everything becomes ``tcp://host:port``.
"""
from __future__ import annotations

import ipaddress
import re

_HOST_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9\-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9\-]{0,61}[A-Za-z0-9])?)*$")
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


class AddressError(ValueError):
    """A server address that cannot be used; the message says what a valid one looks like."""


def _fail(text: str, why: str) -> AddressError:
    return AddressError(f"server address {text!r} {why}; write it as host:port, e.g. 127.0.0.1:5555")


def split_address(text: str) -> tuple[str, int]:
    """(host, port) of an address in any accepted spelling. Raises :class:`AddressError`."""
    raw = (text or "").strip()
    if not raw:
        raise _fail(text, "is empty")
    rest = raw
    if "://" in rest:
        scheme, rest = rest.split("://", 1)
        if scheme.lower() != "tcp":
            raise _fail(text, f"uses the {scheme}:// scheme, but the backend speaks ZeroMQ over tcp://")
    rest = rest.rstrip("/")
    if rest.isdigit():
        host, port_text = "127.0.0.1", rest
    elif rest.startswith("["):
        match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d*)", rest)
        if not match:
            raise _fail(text, "has a malformed IPv6 part")
        host, port_text = match.group(1), match.group(2)
    elif ":" in rest:
        host, port_text = rest.rsplit(":", 1)
        host = host or "127.0.0.1"
    else:
        raise _fail(text, "has no port")
    if not port_text.isdigit():
        raise _fail(text, "has no port number")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise _fail(text, f"has port {port} outside 1..65535")
    if host == "*":
        raise _fail(text, "uses '*', which is for binding a server, not for connecting")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _HOST_NAME.match(host):
            raise _fail(text, f"has an invalid host name {host!r}") from None
    return host, port


def normalise_address(text: str) -> str:
    """``tcp://host:port`` for an address in any accepted spelling. Raises :class:`AddressError`."""
    host, port = split_address(text)
    if ":" in host:
        return f"tcp://[{host}]:{port}"
    return f"tcp://{host}:{port}"


def is_loopback(text: str) -> bool:
    """True if the address points at this computer (so no network access is involved)."""
    host, _ = split_address(text)
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
