"""Every exception wsapi raises.

The type names who has to act (see the tree below): ``DOMException`` is the
standard's error for a misuse of the API by the calling code; everything under
``WebSocketError`` is about the connection, and carries the evidence.

::

    DOMException                  .name: SyntaxError, InvalidStateError, InvalidAccessError
    WebSocketError
    ├── ConnectionFailed          the connection could not be established (.url, .stage, .fix)
    │   ├── DNSError              the host name did not resolve
    │   ├── ConnectionRefused     nothing listens on that port
    │   ├── NetworkError          any other failure to reach the address
    │   ├── OpenTimeout           a stage took longer than open_timeout (.stage says which)
    │   ├── TLSError              the TLS handshake failed
    │   ├── InvalidStatus         the server answered the upgrade with a non-101 status (.response)
    │   ├── InvalidHandshake      the 101 answer is not a valid WebSocket accept (.response)
    │   └── ConnectionAborted     closed (by close() or the server) before the connection was open
    ├── ProtocolError             the server broke RFC 6455 (.code: the close code sent)
    │   ├── InvalidUTF8           a text message is not valid UTF-8 (1007)
    │   └── MessageTooBig         a message exceeds max_message_size (1009)
    ├── KeepaliveTimeout          no pong within ping_timeout
    ├── ConnectionLost            the TCP connection ended without a closing handshake
    └── ConnectionClosed          recv() on a closed connection (.code, .reason, .wasClean)

Standard library only: every layer may import this module.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from .response import Response

__all__ = [
    "ConnectionAborted",
    "ConnectionClosed",
    "ConnectionFailed",
    "ConnectionLost",
    "ConnectionRefused",
    "DNSError",
    "DOMException",
    "InvalidHandshake",
    "InvalidStatus",
    "InvalidUTF8",
    "KeepaliveTimeout",
    "MessageTooBig",
    "NetworkError",
    "OpenTimeout",
    "ProtocolError",
    "TLSError",
    "WebSocketError",
    "redact_url",
]

# The legacy numeric codes of the DOMException names the WebSocket standard uses.
_LEGACY_CODES = {"SyntaxError": 12, "InvalidStateError": 11, "InvalidAccessError": 15}


class DOMException(Exception):
    """The error the WebSocket standard throws for a misuse of the API.

    ``name`` is one of ``"SyntaxError"`` (bad URL, protocols or close reason),
    ``"InvalidStateError"`` (``send()`` while connecting) and
    ``"InvalidAccessError"`` (a close code the application may not use).

    >>> try:
    ...     raise DOMException("bad code", "InvalidAccessError")
    ... except DOMException as exc:
    ...     (exc.name, exc.code)
    ('InvalidAccessError', 15)
    """

    def __init__(self, message: str = "", name: str = "Error") -> None:
        super().__init__(message)
        self.message = message
        self.name = name

    @property
    def code(self) -> int:
        """The legacy numeric code of ``name`` (0 when it has none)."""
        return _LEGACY_CODES.get(self.name, 0)

    def __str__(self) -> str:
        return f"{self.name}: {self.message}" if self.message else self.name


class WebSocketError(Exception):
    """Base class of every error about a WebSocket connection."""


def redact_url(url: str) -> str:
    """``url`` without credentials: ``wss://user:secret@host/`` becomes ``wss://host/``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


class ConnectionFailed(WebSocketError):
    """The WebSocket connection could not be established.

    ``str()`` reads ``WebSocket connection to '<url>' failed: <cause>. <fix>``.
    ``stage`` names where it failed: ``"dns"``, ``"tcp"``, ``"tls"``,
    ``"http"`` (the upgrade request and its answer) or ``"open"``.
    """

    default_stage = "connect"

    def __init__(
        self,
        url: str,
        cause: str,
        fix: str = "",
        *,
        stage: str | None = None,
        response: Response | None = None,
    ) -> None:
        self.url = redact_url(url)
        self.cause = cause.rstrip(".")
        self.fix = fix
        self.stage = stage or self.default_stage
        self.response = response
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"WebSocket connection to '{self.url}' failed: {self.cause}."
        if self.fix:
            text += f" {self.fix}"
        return text


class DNSError(ConnectionFailed):
    """The host name could not be resolved to an address."""

    default_stage = "dns"


class ConnectionRefused(ConnectionFailed):
    """The address was reached but nothing accepts connections on that port."""

    default_stage = "tcp"


class NetworkError(ConnectionFailed):
    """The address could not be reached (unreachable network, reset, ...)."""

    default_stage = "tcp"


class OpenTimeout(ConnectionFailed):
    """A stage of opening the connection took longer than ``open_timeout``.

    ``stage`` says which: ``"dns"``, ``"tcp"``, ``"tls"`` or ``"http"``.
    """

    default_stage = "open"


class TLSError(ConnectionFailed):
    """The TLS handshake failed (certificate, protocol version, plain HTTP port, ...)."""

    default_stage = "tls"


class InvalidStatus(ConnectionFailed):
    """The server answered the upgrade request with a status other than 101.

    ``response`` keeps the status, reason, headers and the start of the body.
    """

    default_stage = "http"

    @property
    def status(self) -> int:
        assert self.response is not None
        return self.response.status


class InvalidHandshake(ConnectionFailed):
    """The server's answer is not a valid WebSocket accept.

    A wrong or missing ``Sec-WebSocket-Accept``, ``Upgrade`` or ``Connection``
    header, a subprotocol or extension that was not offered, or a reply that is
    not HTTP at all.
    """

    default_stage = "http"


class ConnectionAborted(ConnectionFailed):
    """The connection was closed before it was established."""

    default_stage = "http"


class ProtocolError(WebSocketError):
    """The server broke RFC 6455; the connection was failed.

    ``code`` is the close code wsapi sent on the wire (1002 unless a subclass
    says otherwise); the application sees 1006, as the WHATWG standard says.
    """

    def __init__(self, message: str, code: int = 1002) -> None:
        super().__init__(message)
        self.code = code


class InvalidUTF8(ProtocolError):
    """A text message (or a close reason) is not valid UTF-8 (close code 1007)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 1007)


class MessageTooBig(ProtocolError):
    """A message exceeds ``max_message_size`` (close code 1009)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 1009)


class KeepaliveTimeout(WebSocketError):
    """The server did not answer a keepalive ping within ``ping_timeout``."""


class ConnectionLost(WebSocketError):
    """The TCP connection ended without a closing handshake."""


class ConnectionClosed(WebSocketError):
    """The connection is closed: raised by ``recv()`` once the queue is drained.

    ``code``, ``reason`` and ``wasClean`` are those of the close event. When
    the connection failed, ``__cause__`` is the error that failed it.
    """

    def __init__(self, code: int, reason: str = "", wasClean: bool = False) -> None:
        self.code = code
        self.reason = reason
        self.wasClean = wasClean
        super().__init__(str(self))

    def __str__(self) -> str:
        how = "cleanly" if self.wasClean else "abnormally"
        text = f"WebSocket connection closed {how} with code {self.code}"
        if self.reason:
            text += f" ({self.reason})"
        return text
