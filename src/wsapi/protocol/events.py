"""What the protocol core reports: small frozen records, compared with ``==`` in tests.

The transport drains them with ``ClientProtocol.events_received()`` and turns
them into DOM events; nothing here knows about sockets or event loops.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConnectionFailed, WebSocketError
from ..response import Response

__all__ = [
    "CloseReceived",
    "Closed",
    "Failed",
    "HandshakeFailed",
    "MessageReceived",
    "Opened",
    "PingReceived",
    "PongReceived",
    "ProtocolEvent",
]


@dataclass(frozen=True, slots=True)
class Opened:
    """The server accepted the upgrade: the connection is open."""

    subprotocol: str
    extensions: str
    response: Response


@dataclass(frozen=True, slots=True)
class HandshakeFailed:
    """The server refused the upgrade or answered it wrongly."""

    error: ConnectionFailed


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """A whole message: ``str`` for a text message, ``bytes`` for a binary one."""

    data: str | bytes


@dataclass(frozen=True, slots=True)
class PingReceived:
    """The server sent a ping; the pong is already queued."""

    data: bytes


@dataclass(frozen=True, slots=True)
class PongReceived:
    """The server sent a pong (an answer to our ping, or unsolicited)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class CloseReceived:
    """The server's Close frame; 1005 when it carried no code."""

    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class Failed:
    """The client failed the connection (RFC 6455 section 7.1.7).

    The Close frame with ``code`` and ``reason`` is queued when one could still
    be sent (``code`` is None when none could); the transport must flush it and
    close the TCP connection.
    """

    error: WebSocketError
    code: int | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Closed:
    """The connection is closed: the values the application sees (WHATWG)."""

    code: int
    reason: str
    was_clean: bool
    error: WebSocketError | None = None


ProtocolEvent = (
    Opened
    | HandshakeFailed
    | MessageReceived
    | PingReceived
    | PongReceived
    | CloseReceived
    | Failed
    | Closed
)
