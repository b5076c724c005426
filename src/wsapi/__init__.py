"""wsapi: the browser/Node.js WebSocket API for Python, on asyncio and trio.

>>> import wsapi
>>> ws = wsapi.WebSocket("wss://example.com/socket")
>>> ws.readyState == wsapi.WebSocket.CONNECTING
True
"""

from typing import TYPE_CHECKING, Any

from .errors import (
    CertificateExpired,
    CertificateHostMismatch,
    CertificateNotYetValid,
    CertificateRejected,
    CertificateUntrusted,
    CloseTimeout,
    ConnectionAborted,
    ConnectionClosed,
    ConnectionFailed,
    ConnectionLost,
    ConnectionRefused,
    DNSError,
    DOMException,
    HostUnreachable,
    InsecureRedirect,
    InvalidAccept,
    InvalidHandshake,
    InvalidStatus,
    InvalidUpgrade,
    InvalidUTF8,
    KeepaliveTimeout,
    MessageTooBig,
    NetworkError,
    NotHTTP,
    NotTLS,
    OpenTimeout,
    ProtocolError,
    ProxyAuthRequired,
    ProxyError,
    ProxyInvalidResponse,
    ProxyRefused,
    ProxyTLSError,
    ProxyTunnelFailed,
    ProxyUnreachable,
    RedirectLoop,
    RedirectReceived,
    SOCKSError,
    TLSError,
    TLSRequired,
    TooManyRedirects,
    UnexpectedExtension,
    UnexpectedSubprotocol,
    WebSocketError,
)
from .events import CloseEvent, ErrorEvent, Event, EventTarget, MessageEvent
from .response import Response
from .trace import TraceEvent
from .version import __version__

if TYPE_CHECKING:
    from .reconnect import Reconnecting, reconnecting
    from .websocket import WebSocket

__all__ = (
    "CertificateExpired",
    "CertificateHostMismatch",
    "CertificateNotYetValid",
    "CertificateRejected",
    "CertificateUntrusted",
    "CloseEvent",
    "CloseTimeout",
    "ConnectionAborted",
    "ConnectionClosed",
    "ConnectionFailed",
    "ConnectionLost",
    "ConnectionRefused",
    "DNSError",
    "DOMException",
    "ErrorEvent",
    "Event",
    "EventTarget",
    "HostUnreachable",
    "InsecureRedirect",
    "InvalidAccept",
    "InvalidHandshake",
    "InvalidStatus",
    "InvalidUTF8",
    "InvalidUpgrade",
    "KeepaliveTimeout",
    "MessageEvent",
    "MessageTooBig",
    "NetworkError",
    "NotHTTP",
    "NotTLS",
    "OpenTimeout",
    "ProtocolError",
    "ProxyAuthRequired",
    "ProxyError",
    "ProxyInvalidResponse",
    "ProxyRefused",
    "ProxyTLSError",
    "ProxyTunnelFailed",
    "ProxyUnreachable",
    "Reconnecting",
    "RedirectLoop",
    "RedirectReceived",
    "SOCKSError",
    "Response",
    "TLSError",
    "TLSRequired",
    "TooManyRedirects",
    "TraceEvent",
    "UnexpectedExtension",
    "UnexpectedSubprotocol",
    "WebSocket",
    "WebSocketError",
    "__version__",
    "reconnecting",
)


def __getattr__(name: str) -> Any:
    # The facade pulls in anyio; importing it lazily keeps ``import
    # wsapi.protocol`` (the sans-IO layer) free of any event-loop library.
    if name == "WebSocket":
        from .websocket import WebSocket

        return WebSocket
    if name in ("Reconnecting", "reconnecting"):
        from . import reconnect

        return getattr(reconnect, name)
    raise AttributeError(f"module 'wsapi' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | {"WebSocket", "Reconnecting", "reconnecting"})
