"""Helpers for the sans-IO tests: a fixed handshake, raw frames, and a wsproto server peer.

Everything here is deterministic: the handshake key is fixed (so the accept value
is the RFC 6455 example), frames are built byte by byte, and the server side is
wsproto's own ``WSConnection(SERVER)`` shuttling bytes to and from a
``ClientProtocol`` without any socket or event loop.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import h11
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Event, Request
from wsproto.extensions import Extension

from wsapi.protocol.connection import ClientProtocol
from wsapi.protocol.events import Opened, ProtocolEvent
from wsapi.protocol.handshake import HandshakeRequest
from wsapi.response import MAX_BODY_SIZE

__all__ = [
    "ACCEPT",
    "BINARY",
    "CLOSE",
    "CONT",
    "HOST",
    "KEY",
    "PING",
    "PONG",
    "RESOURCE",
    "TEXT",
    "URL",
    "Deflater",
    "Frame",
    "ServerPeer",
    "WsprotoOnly",
    "accept_response",
    "binary_frame",
    "close_frame",
    "close_payload",
    "feed",
    "frame",
    "http_response",
    "make_client",
    "make_request",
    "open_client",
    "parse_frames",
    "parse_request",
    "sent_close",
    "sent_frames",
    "text_frame",
]

URL = "ws://example.com/chat"
HOST = "example.com"
RESOURCE = "/chat"
#: The key and accept value of RFC 6455 section 1.3.
KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

DEFAULT_MAX_MESSAGE_SIZE = 16 * 2**20

# -- the handshake ---------------------------------------------------------------


def make_request(**changes: Any) -> HandshakeRequest:
    """A ``HandshakeRequest`` for ``URL`` with the fixed ``KEY``; ``changes`` override fields."""
    fields: dict[str, Any] = {"url": URL, "host": HOST, "resource": RESOURCE, "key": KEY}
    fields.update(changes)
    return HandshakeRequest(**fields)


class WsprotoOnly(ClientProtocol):
    """A client that never takes the fast paths: wsproto parses every frame (an oracle).

    Assign it to an open client's ``__class__`` (same slots, so CPython allows it).
    """

    __slots__ = ()

    def _between_messages(self) -> bool:
        return False


def make_client(
    *,
    max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
    max_body_size: int = MAX_BODY_SIZE,
    **changes: Any,
) -> ClientProtocol:
    """A fresh ``ClientProtocol`` (CONNECTING, the request queued)."""
    return ClientProtocol(
        make_request(**changes), max_message_size=max_message_size, max_body_size=max_body_size
    )


def parse_request(data: bytes) -> h11.Request:
    """The upgrade request a client queued, parsed by h11 as a server would."""
    server = h11.Connection(h11.SERVER)
    server.receive_data(data)
    event = server.next_event()
    assert isinstance(event, h11.Request), event
    return event


def http_response(
    status: int = 101,
    reason: str = "Switching Protocols",
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    version: str = "1.1",
) -> bytes:
    """A raw HTTP response head (and body), byte for byte as given."""
    lines = [f"HTTP/{version} {status} {reason}".rstrip(" ")]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def accept_response(
    *,
    extensions: str | None = None,
    subprotocol: str | None = None,
    accept: str | None = ACCEPT,
    upgrade: str | None = "websocket",
    connection: str | None = "Upgrade",
    extra: Iterable[tuple[str, str]] = (),
) -> bytes:
    """A raw 101 answer to a request made with ``KEY``; ``None`` leaves a header out."""
    headers: list[tuple[str, str]] = []
    if upgrade is not None:
        headers.append(("Upgrade", upgrade))
    if connection is not None:
        headers.append(("Connection", connection))
    if accept is not None:
        headers.append(("Sec-WebSocket-Accept", accept))
    if subprotocol is not None:
        headers.append(("Sec-WebSocket-Protocol", subprotocol))
    if extensions is not None:
        headers.append(("Sec-WebSocket-Extensions", extensions))
    headers.extend(extra)
    return http_response(101, "Switching Protocols", headers)


def open_client(
    *,
    extensions: str | None = None,
    subprotocol: str | None = None,
    max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
    **changes: Any,
) -> ClientProtocol:
    """A ``ClientProtocol`` opened by a raw 101; the request and the Opened event drained."""
    client = make_client(max_message_size=max_message_size, **changes)
    client.data_to_send()
    client.receive_data(accept_response(extensions=extensions, subprotocol=subprotocol))
    events = client.events_received()
    assert len(events) == 1 and isinstance(events[0], Opened), events
    return client


def feed(client: ClientProtocol, data: bytes, chunk: int | None = None) -> list[ProtocolEvent]:
    """Feed ``data`` (in pieces of ``chunk`` bytes if given) and return the events."""
    if chunk is None:
        client.receive_data(data)
    else:
        for start in range(0, len(data), chunk):
            client.receive_data(data[start : start + chunk])
    return drain_events(client)


def drain_events(client: ClientProtocol) -> list[ProtocolEvent]:
    """The events, with a pending failure or Close committed after them (as the transport does)."""
    events = client.events_received()
    if client.failure_pending or client.close_pending:
        client.commit_failure()
        client.commit_close()
        events += client.events_received()
    return events


# -- raw frames ----------------------------------------------------------------------


def frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv1: bool = False,
    rsv2: bool = False,
    rsv3: bool = False,
    mask: bytes | None = None,
    length: int | None = None,
    length_size: int | None = None,
) -> bytes:
    """One frame as a server would (mis)send it, byte for byte.

    ``mask`` masks the payload (servers must not); ``length`` announces a length
    other than the payload's (the payload is still appended); ``length_size``
    forces the length encoding: 1, 2 or 8 bytes.
    """
    first = (fin << 7) | (rsv1 << 6) | (rsv2 << 5) | (rsv3 << 4) | (opcode & 0x0F)
    announced = len(payload) if length is None else length
    if length_size is None:
        length_size = 1 if announced <= 125 else 2 if announced <= 0xFFFF else 8
    mask_bit = 0x80 if mask is not None else 0
    if length_size == 1:
        head = bytes([first, mask_bit | announced])
    elif length_size == 2:
        head = bytes([first, mask_bit | 126]) + struct.pack("!H", announced)
    else:
        head = bytes([first, mask_bit | 127]) + struct.pack("!Q", announced)
    if mask is not None:
        assert len(mask) == 4
        payload = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
        head += mask
    return head + payload


def text_frame(text: str, **kwargs: Any) -> bytes:
    return frame(TEXT, text.encode("utf-8"), **kwargs)


def binary_frame(data: bytes, **kwargs: Any) -> bytes:
    return frame(BINARY, data, **kwargs)


def close_frame(code: int | None = None, reason: str | bytes = b"") -> bytes:
    """A Close frame; ``reason`` as bytes may be invalid UTF-8."""
    raw = reason.encode("utf-8") if isinstance(reason, str) else reason
    payload = b"" if code is None else struct.pack("!H", code) + raw
    return frame(CLOSE, payload)


class Frame(NamedTuple):
    """A frame parsed from the wire (the payload unmasked)."""

    opcode: int
    payload: bytes
    fin: bool = True
    rsv1: bool = False
    rsv2: bool = False
    rsv3: bool = False
    masked: bool = False


def parse_frames(data: bytes) -> list[Frame]:
    """Every frame in ``data``, which must hold whole frames only."""
    frames: list[Frame] = []
    pos = 0
    while pos < len(data):
        first, second = data[pos], data[pos + 1]
        pos += 2
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", data[pos : pos + 2])
            pos += 2
        elif length == 127:
            (length,) = struct.unpack("!Q", data[pos : pos + 8])
            pos += 8
        masked = bool(second & 0x80)
        key = b"\0\0\0\0"
        if masked:
            key = data[pos : pos + 4]
            pos += 4
        payload = data[pos : pos + length]
        assert len(payload) == length, "truncated frame"
        pos += length
        payload = bytes(byte ^ key[index % 4] for index, byte in enumerate(payload))
        frames.append(
            Frame(
                opcode=first & 0x0F,
                payload=payload,
                fin=bool(first & 0x80),
                rsv1=bool(first & 0x40),
                rsv2=bool(first & 0x20),
                rsv3=bool(first & 0x10),
                masked=masked,
            )
        )
    return frames


def close_payload(payload: bytes) -> tuple[int | None, str]:
    """(code, reason) of a Close frame's payload; code None when it has none."""
    if not payload:
        return None, ""
    (code,) = struct.unpack("!H", payload[:2])
    return code, payload[2:].decode("utf-8")


def sent_frames(client: ClientProtocol) -> list[Frame]:
    """Drain what the client queued and parse it; client frames must be masked."""
    frames = parse_frames(client.data_to_send())
    assert all(sent.masked for sent in frames), frames
    return frames


def sent_close(client: ClientProtocol) -> tuple[int | None, str]:
    """Drain what the client queued, which must be exactly one Close frame."""
    frames = sent_frames(client)
    assert len(frames) == 1 and frames[0].opcode == CLOSE, frames
    return close_payload(frames[0].payload)


class Deflater:
    """A server's permessage-deflate compressor, to build compressed frames by hand."""

    def __init__(self, *, wbits: int = 15, no_context_takeover: bool = False) -> None:
        self._wbits = wbits
        self._no_context_takeover = no_context_takeover
        self._compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -wbits)

    def compress(self, data: bytes) -> bytes:
        """One message's compressed payload, without the 00 00 ff ff tail (RFC 7692 7.2.1)."""
        out = self._compressor.compress(data) + self._compressor.flush(zlib.Z_SYNC_FLUSH)
        assert out.endswith(b"\x00\x00\xff\xff")
        if self._no_context_takeover:
            self._compressor = zlib.compressobj(
                zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -self._wbits
            )
        return out[:-4]

    def message(self, opcode: int, data: bytes) -> bytes:
        """One compressed message in a single frame."""
        return frame(opcode, self.compress(data), rsv1=True)


# -- a wsproto server ----------------------------------------------------------------


class ServerPeer:
    """A ``ClientProtocol`` opened by wsproto's server, and a pipe between them.

    ``send(*events)`` serialises wsproto events on the server side and feeds the
    bytes to the client (whole, or ``chunk`` bytes at a time), returning the
    client's events; ``receive()`` feeds what the client queued to the server
    and returns the server's events.
    """

    def __init__(
        self,
        client: ClientProtocol | None = None,
        *,
        subprotocol: str | None = None,
        extensions: Sequence[Extension] = (),
        extra_headers: Sequence[tuple[bytes, bytes]] = (),
    ) -> None:
        self.client = client if client is not None else make_client()
        self.server = WSConnection(ConnectionType.SERVER)
        self.server.receive_data(self.client.data_to_send())
        events = list(self.server.events())
        assert len(events) == 1 and isinstance(events[0], Request), events
        self.request: Request = events[0]
        accept = AcceptConnection(
            subprotocol=subprotocol,
            extensions=list(extensions),
            extra_headers=list(extra_headers),
        )
        self.client.receive_data(self.server.send(accept))
        #: The client's events for the handshake (an ``Opened`` if all went well).
        self.opened = self.client.events_received()

    def serialise(self, *events: Event) -> bytes:
        """The bytes the server sends for ``events``."""
        return b"".join(self.server.send(event) for event in events)

    def send(self, *events: Event, chunk: int | None = None) -> list[ProtocolEvent]:
        """Send ``events`` to the client; return what the client reported."""
        return feed(self.client, self.serialise(*events), chunk)

    def receive(self) -> list[Event]:
        """Deliver what the client queued to the server; return the server's events."""
        data = self.client.data_to_send()
        if data:
            self.server.receive_data(data)
        return list(self.server.events())
