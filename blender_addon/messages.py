"""One-line messages that say what went wrong and what to do next (no bpy).

Exceptions are recognised by class name (the protocol package's ``ServerUnavailable``, ``RequestTimeout``,
``ServerError``...), so this module can be used before pyzmq is importable.
"""
from __future__ import annotations

START_HINT = "start it with `python -m backend.serve`, or set the address in Preferences › Add-ons › gan3d"
PREFERENCES_HINT = "Preferences › Add-ons › gan3d"


def _names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def is_connection_failure(exc: BaseException) -> bool:
    """True when the client gave up on the connection itself (not a refusal of one request)."""
    return bool(_names(exc) & {"ServerUnavailable", "RequestTimeout", "AuthenticationFailed"})


def backend_not_running(address: str) -> str:
    return f"No gan3d backend is answering at {address}: {START_HINT}"


def describe(exc: BaseException, address: str, timeout: float) -> str:
    """A one-line message for ``exc`` raised while talking to the backend at ``address``."""
    names = _names(exc)
    if "ServerUnavailable" in names:
        return backend_not_running(address)
    if "RequestTimeout" in names:
        return (f"The backend at {address} did not answer within {timeout:g} s: it may be busy or stuck; "
                f"check its terminal, or raise the timeout in {PREFERENCES_HINT}")
    if "AuthenticationFailed" in names:
        return f"The backend at {address} refused this client's CURVE key: {exc}"
    if "AddressError" in names:
        return f"{exc} (set it in {PREFERENCES_HINT})"
    if "ZmqMissing" in names:
        return str(exc)
    code = getattr(exc, "code", None)
    text = getattr(exc, "message", None) or str(exc)
    if code == "unsupported_version":
        return version_mismatch(text)
    if "ServerError" in names:
        return f"The backend refused the request: {text}"
    if "ProtocolError" in names:
        return f"Invalid request: {text}"
    return f"Unexpected error talking to the backend at {address}: {type(exc).__name__}: {exc}"


def version_mismatch(detail: str) -> str:
    return ("The backend speaks another protocol version than this add-on "
            f"({detail}); install the add-on built from the same gan3d release as the backend (build_addon.py)")


def check_protocol_version(info) -> str:
    """'' if the ``info`` reply speaks this add-on's protocol version, else the message to show."""
    from .protocol import PROTOCOL_VERSION  # deferred: needs pyzmq on the path

    if info.protocol_version != PROTOCOL_VERSION:
        return version_mismatch(f"backend: version {info.protocol_version}, add-on: version {PROTOCOL_VERSION}")
    return ""
