"""Exceptions of the protocol package. Every one carries a message that says what to do next."""
from __future__ import annotations


class ProtocolError(Exception):
    """A message broke the wire protocol (raised by the decoder and request validation).

    ``code`` is one of :class:`~.constants.ErrorCode`; ``request_id`` is the id of the offending
    request when it could be read (so the server can address its ``error`` reply), else ``None``.
    """

    def __init__(self, code: str, message: str, request_id: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id


class ClientError(Exception):
    """Base class of everything :class:`~.client.Client` raises."""


class ServerUnavailable(ClientError):
    """Nothing answered at the address (after the configured retries)."""


class RequestTimeout(ClientError):
    """The server is connected but a reply did not arrive within the request's timeout."""


class AuthenticationFailed(ClientError):
    """The CURVE handshake failed: wrong server public key, or our client key is not authorised."""


class ServerError(ClientError):
    """The server answered a request with an ``error`` reply (``code`` is an ErrorCode)."""

    def __init__(self, code: str, message: str, request_id: str | None = None):
        super().__init__(f"{message} [{code}]")
        self.code = code
        self.message = message
        self.request_id = request_id
