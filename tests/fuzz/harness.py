"""Drive a ``ClientProtocol`` the way the transport does, and check what must always hold.

``drive()`` feeds pieces to ``receive_data()``; after each one it takes the
events, lets the "application" answer the messages (``echo``), commits a
pending failure or Close (``failure_pending`` / ``commit_failure()``, ``close_pending``
/ ``commit_close()``, as the transport
does once the application had its turn) and drains ``data_to_send()``. Then
the stream ends with ``receive_eof()``, ``abort()`` or nothing.

``check_invariants()`` holds for any input whatsoever: the events follow the
grammar ``(Opened (Message|Ping|Pong)* [CloseReceived|Failed] | HandshakeFailed)
[Closed]``; ``Closed`` comes exactly once after EOF or abort and agrees with what
came before (1006 and not clean after a failure); the client's bytes are masked
frames with at most one Close frame, last, carrying a code RFC 6455 allows for
the error; and no buffer outgrows its limit while the bytes come in.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from tests.protocol.helpers import BINARY, CLOSE, CONT, PONG, TEXT, Frame, parse_frames
from wsapi.errors import (
    ConnectionFailed,
    ConnectionLost,
    InvalidUTF8,
    MessageTooBig,
    ProtocolError,
    WebSocketError,
)
from wsapi.protocol.connection import MAX_HEADER_SIZE, ClientProtocol, State
from wsapi.protocol.events import (
    Closed,
    CloseReceived,
    Failed,
    HandshakeFailed,
    MessageReceived,
    Opened,
    PingReceived,
    PongReceived,
    ProtocolEvent,
)
from wsapi.protocol.extensions import BoundedDeflate

__all__ = [
    "Action",
    "End",
    "Run",
    "buffer_sizes",
    "check_invariants",
    "drive",
    "normalise",
    "wire_summary",
]

End = Literal["eof", "abort", "none"]

#: Close codes a client may put on the wire when it fails the connection itself.
FAILURE_CODES = {ProtocolError: {1002, 1007}, InvalidUTF8: {1007}, MessageTooBig: {1009}}
#: Never sent on the wire (RFC 6455 7.4.1).
LOCAL_ONLY_CODES = {1005, 1006, 1015}
#: Largest control frame: 2-byte header, 8-byte length is impossible, 125 bytes of payload;
#: allow the longest header anyway.
MAX_CONTROL_FRAME = 14 + 125


@dataclass
class Run:
    """Everything one drive produced."""

    events: list[ProtocolEvent] = field(default_factory=list)
    #: What the client queued after its upgrade request.
    wire: bytes = b""
    end: End = "none"
    abort_error: WebSocketError | None = None
    #: Messages the application sent back, in order.
    echoed: list[str | bytes] = field(default_factory=list)
    #: Number of events seen when the application called send_close() (None: never).
    closed_by_client_at: int | None = None
    #: Largest piece fed, for the buffer bounds.
    largest_piece: int = 0
    #: Peak of each buffer seen after a receive_data() call.
    peaks: dict[str, int] = field(default_factory=dict)


Action = Callable[[ClientProtocol, Run], None]


def drive(
    client: ClientProtocol,
    pieces: Sequence[bytes],
    *,
    end: End = "eof",
    echo: bool = False,
    lazy: bool = False,
    actions: dict[int, Action] | None = None,
) -> Run:
    """Feed ``pieces`` as the transport would; ``lazy`` takes the events only at the end.

    ``actions[i]`` runs after piece ``i`` was fed (and its events taken).
    """
    run = Run(end=end)
    wire = bytearray()
    for index, piece in enumerate(pieces):
        run.largest_piece = max(run.largest_piece, len(piece))
        client.receive_data(piece)
        check_buffers(client, run)
        if not lazy:
            wire += _collect(client, run, echo)
        if actions and index in actions:
            actions[index](client, run)
            wire += client.data_to_send()
    wire += _collect(client, run, echo)
    if end == "eof":
        client.receive_eof()
    elif end == "abort":
        run.abort_error = ConnectionLost("the fuzz harness aborted the connection")
        client.abort(run.abort_error)
    run.events += client.events_received()
    wire += client.data_to_send()
    if end != "none":
        # Nothing may come after Closed, whatever else happens.
        client.receive_data(b"\x81\x02hi")
        client.receive_eof()
        client.abort(ConnectionLost("again"))
        client.commit_failure()
        client.commit_close()
        assert client.events_received() == [], "events after Closed"
        assert client.data_to_send() == b"", "bytes queued after Closed"
        assert client.state is State.CLOSED
    run.wire = bytes(wire)
    return run


def _collect(client: ClientProtocol, run: Run, echo: bool) -> bytes:
    """Events, the application's answers, then the pending failure; the bytes queued."""
    out = client.data_to_send()
    batch = client.events_received()
    run.events += batch
    if echo:
        for event in batch:
            if isinstance(event, MessageReceived):
                sent = (
                    client.send_text(event.data)
                    if isinstance(event.data, str)
                    else client.send_binary(event.data)
                )
                if sent:
                    run.echoed.append(event.data)
    out += client.data_to_send()
    if client.failure_pending or client.close_pending:
        client.commit_failure()
        client.commit_close()
        run.events += client.events_received()
        out += client.data_to_send()
    return out


# -- buffers ---------------------------------------------------------------------------


def buffer_sizes(client: ClientProtocol) -> dict[str, int]:
    """Sizes of the buffers the client holds between two reads (private attributes).

    ``test_internals_are_visible`` fails if a refactoring hides one of them, so
    that the bounds below never pass vacuously.
    """
    sizes: dict[str, int] = {}
    # The opening handshake's reader (until the handshake ends) buffers the
    # response head on the fast path (_head) or, off it, in h11.
    opening = getattr(client, "_opening", None)
    fast_head = getattr(opening, "_head", None)
    receive_buffer = getattr(getattr(opening, "_h11", None), "_receive_buffer", None)
    if fast_head is not None or receive_buffer is not None:
        sizes["http-head"] = len(fast_head or b"") + len(receive_buffer or b"")
    body = getattr(opening, "_body", None)
    if body is not None:
        sizes["http-body"] = len(body)
    # The message in fragments is wsproto's reader's (made with wsproto's connection).
    if hasattr(client, "_reader"):
        reader = client._reader
        partial = None if reader is None else reader.partial_message
        if partial is None:
            sizes["fragments"] = 0
        elif isinstance(partial, bytearray):
            sizes["fragments"] = len(partial)
        else:  # io.StringIO of the text so far
            sizes["fragments"] = len(partial.getvalue().encode("utf-8"))
    ws = getattr(client, "_ws", None)
    proto = getattr(ws, "_proto", None)
    decoder = getattr(proto, "_frame_decoder", None)
    if decoder is not None:
        sizes["frame-buffer"] = len(decoder.buffer)
    for extension in getattr(proto, "extensions", ()):
        if isinstance(extension, BoundedDeflate):
            sizes["inflated"] = extension._inflated
    return sizes


def check_buffers(client: ClientProtocol, run: Run) -> None:
    """No buffer outgrows its limit, whatever the server sent so far."""
    sizes = buffer_sizes(client)
    for name, size in sizes.items():
        run.peaks[name] = max(run.peaks.get(name, 0), size)
    limit = client.max_message_size
    piece = run.largest_piece
    assert sizes.get("http-head", 0) <= MAX_HEADER_SIZE + piece, sizes
    assert sizes.get("http-body", 0) <= client.max_body_size, sizes
    assert sizes.get("frame-buffer", 0) <= piece + MAX_CONTROL_FRAME, sizes
    if limit is not None:
        assert sizes.get("fragments", 0) <= limit, sizes
        assert sizes.get("inflated", 0) <= limit + 1, sizes


# -- what the client sent ------------------------------------------------------------------


@dataclass
class Sent:
    """The client's frames after its request, compressed payloads inflated."""

    frames: list[Frame]
    #: Data messages, reassembled and decompressed.
    messages: list[str | bytes]
    pongs: list[bytes]
    #: The Close frame's (code, reason); code None when it had no payload.
    close: tuple[int | None, str] | None


def wire_summary(wire: bytes) -> Sent:
    frames = parse_frames(wire)
    inflater = zlib.decompressobj(-15)
    messages: list[str | bytes] = []
    pongs: list[bytes] = []
    close: tuple[int | None, str] | None = None
    current: list[bytes] = []
    opcode = 0
    compressed = False
    for sent in frames:
        assert sent.masked, f"unmasked client frame {sent}"
        assert not (sent.rsv2 or sent.rsv3), sent
        assert close is None, f"a frame after the client's Close frame: {sent}"
        if sent.opcode in (TEXT, BINARY, CONT):
            if sent.opcode != CONT:
                assert not current, "the client interleaved two messages"
                opcode, compressed = sent.opcode, sent.rsv1
            else:
                assert not sent.rsv1
            current.append(sent.payload)
            if sent.fin:
                payload = b"".join(current)
                if compressed:
                    payload = inflater.decompress(payload + b"\x00\x00\xff\xff")
                messages.append(payload.decode("utf-8") if opcode == TEXT else payload)
                current = []
        else:
            assert not sent.rsv1, sent
            if sent.opcode == PONG:
                pongs.append(sent.payload)
            elif sent.opcode == CLOSE:
                if not sent.payload:
                    close = (None, "")
                else:
                    assert len(sent.payload) >= 2
                    (code,) = struct.unpack("!H", sent.payload[:2])
                    close = (code, sent.payload[2:].decode("utf-8"))
                    assert code not in LOCAL_ONLY_CODES, f"the client sent close code {code}"
                    assert 1000 <= code <= 4999, code
    assert not current, "the client left a message unfinished"
    return Sent(frames, messages, pongs, close)


# -- the invariants ---------------------------------------------------------------------------


def normalise(event: ProtocolEvent) -> tuple[object, ...]:
    """An event as plain values; errors by class and code."""
    if isinstance(event, Opened):
        return ("opened", event.subprotocol, event.extensions)
    if isinstance(event, HandshakeFailed):
        return ("handshake-failed", type(event.error).__name__)
    if isinstance(event, MessageReceived):
        return ("message", event.data)
    if isinstance(event, PingReceived):
        return ("ping", event.data)
    if isinstance(event, PongReceived):
        return ("pong", event.data)
    if isinstance(event, CloseReceived):
        return ("close", event.code, event.reason)
    if isinstance(event, Failed):
        return ("failed", type(event.error).__name__, getattr(event.error, "code", None))
    assert isinstance(event, Closed)
    error = None if event.error is None else type(event.error).__name__
    return ("closed", event.code, event.reason, event.was_clean, error)


def check_invariants(client: ClientProtocol, run: Run) -> Sent:
    """What holds whatever the server sent; returns the client's frames for more checks."""
    events = run.events
    closed = [event for event in events if isinstance(event, Closed)]
    if run.end == "none":
        assert not closed, "Closed without EOF or abort"
        assert client.state is not State.CLOSED
    else:
        assert len(closed) == 1, events
        assert events[-1] is closed[0], "events after Closed"
        assert client.state is State.CLOSED
    body = events[:-1] if closed else events
    failure = _check_grammar(body)

    limit = client.max_message_size
    for event in body:
        if isinstance(event, MessageReceived):
            assert isinstance(event.data, str | bytes)
            size = len(event.data.encode()) if isinstance(event.data, str) else len(event.data)
            assert limit is None or size <= limit, f"a {size}-byte message passed a {limit} limit"
        elif isinstance(event, PingReceived | PongReceived):
            assert type(event.data) is bytes and len(event.data) <= 125

    close_received = next((e for e in body if isinstance(e, CloseReceived)), None)
    if closed:
        _check_closed(closed[0], run, failure, close_received)
    elif failure is not None:
        assert client.state is State.CLOSING and client.failed

    sent = wire_summary(run.wire)
    if isinstance(failure, HandshakeFailed) or not body:
        assert run.wire == b"", "the client sent something without an open connection"
        return sent
    _check_answers(run, body, sent, failure, close_received)
    return sent


def _check_grammar(body: list[ProtocolEvent]) -> Failed | HandshakeFailed | None:
    if not body:
        return None
    first, rest = body[0], body[1:]
    if isinstance(first, HandshakeFailed):
        assert not rest, body
        assert isinstance(first.error, ConnectionFailed)
        return first
    assert isinstance(first, Opened), body
    ends = [index for index, event in enumerate(rest) if isinstance(event, CloseReceived | Failed)]
    assert len(ends) <= 1, f"two endings: {rest}"
    if ends:
        assert ends[0] == len(rest) - 1, f"events after {rest[ends[0]]}"
    middle = rest[:-1] if ends else rest
    for event in middle:
        assert isinstance(event, MessageReceived | PingReceived | PongReceived), body
    failed = rest[-1] if ends and isinstance(rest[-1], Failed) else None
    if failed is not None:
        error = failed.error
        assert isinstance(error, ProtocolError), error
        assert error.code in FAILURE_CODES[type(error)], (type(error), error.code)
    return failed


def _check_closed(
    closed: Closed,
    run: Run,
    failure: Failed | HandshakeFailed | None,
    close_received: CloseReceived | None,
) -> None:
    if failure is not None:
        assert closed == Closed(1006, "", False, failure.error), closed
    elif close_received is not None:
        assert closed == Closed(close_received.code, close_received.reason, True), closed
    else:
        assert (closed.code, closed.reason, closed.was_clean) == (1006, "", False), closed
        if run.end == "abort":
            assert closed.error is run.abort_error
        else:
            assert isinstance(closed.error, ConnectionLost), closed.error


def _check_answers(
    run: Run,
    body: list[ProtocolEvent],
    sent: Sent,
    failure: Failed | HandshakeFailed | None,
    close_received: CloseReceived | None,
) -> None:
    """Pongs, echoes and the Close frame are the right ones, in the right order."""
    answered_until = len(body) if run.closed_by_client_at is None else run.closed_by_client_at
    pings = [event.data for event in body[:answered_until] if isinstance(event, PingReceived)]
    assert sent.pongs == pings, "one pong per ping received while open, in order"
    assert sent.messages == run.echoed
    if run.closed_by_client_at is not None:
        assert sent.close is not None
        if isinstance(failure, Failed):
            assert getattr(failure, "code", None) is None, "a second Close frame was announced"
        return
    if isinstance(failure, Failed):
        assert sent.close is not None, "the client failed the connection without a Close frame"
        code = sent.close[0]
        assert code == getattr(failure.error, "code", None), (code, failure.error)
        announced = getattr(failure, "code", code)
        assert announced == code, f"Failed.code {announced} but {code} on the wire"
    elif close_received is not None:
        assert sent.close is not None, "the server's Close frame was not echoed"
        expected = None if close_received.code == 1005 else close_received.code
        assert sent.close[0] == expected
    else:
        assert sent.close is None
