"""wsapi: the browser/Node.js WebSocket API for Python, on asyncio and trio.

>>> import wsapi
>>> ws = wsapi.WebSocket("wss://example.com/socket")
>>> ws.readyState == wsapi.WebSocket.CONNECTING
True
"""

from typing import TYPE_CHECKING, Any

from .errors import (
    ConnectionAborted,
    ConnectionClosed,
    ConnectionFailed,
    ConnectionLost,
    ConnectionRefused,
    DNSError,
    DOMException,
    InvalidHandshake,
    InvalidStatus,
    InvalidUTF8,
    KeepaliveTimeout,
    MessageTooBig,
    NetworkError,
    OpenTimeout,
    ProtocolError,
    TLSError,
    WebSocketError,
)
from .events import CloseEvent, ErrorEvent, Event, EventTarget, MessageEvent
from .response import Response
from .trace import TraceEvent
from .version import __version__

if TYPE_CHECKING:
    from .websocket import WebSocket

__all__ = (
    "CloseEvent",
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
    "InvalidHandshake",
    "InvalidStatus",
    "InvalidUTF8",
    "KeepaliveTimeout",
    "MessageEvent",
    "MessageTooBig",
    "NetworkError",
    "OpenTimeout",
    "ProtocolError",
    "Response",
    "TLSError",
    "TraceEvent",
    "WebSocket",
    "WebSocketError",
    "__version__",
)


def __getattr__(name: str) -> Any:
    # The facade pulls in anyio; importing it lazily keeps ``import
    # wsapi.protocol`` (the sans-IO layer) free of any event-loop library.
    if name == "WebSocket":
        from .websocket import WebSocket

        return WebSocket
    raise AttributeError(f"module 'wsapi' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | {"WebSocket"})
