"""wsapi: the browser/Node.js WebSocket API for Python, on asyncio and trio.

>>> import wsapi
>>> ws = wsapi.WebSocket("wss://example.com/socket")
>>> ws.readyState == wsapi.WebSocket.CONNECTING
True
"""

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
from .version import __version__
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
    "WebSocket",
    "WebSocketError",
    "__version__",
)
