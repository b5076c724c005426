"""``ClientProtocol``: the client side of one WebSocket connection, without I/O.

Theory of operation
-------------------
One door in, one door out. The transport feeds what it reads to
``receive_data()`` (and ``receive_eof()`` when the peer closed TCP, or
``abort()`` when the transport gave up) and drains ``events_received()``; the
application's ``send_*()`` calls, automatic pongs and close echoes all queue
bytes that the transport drains with ``data_to_send()``.

``state`` follows the WHATWG ``readyState``: CONNECTING until the 101, OPEN,
CLOSING from the moment a Close frame is sent or received (or the connection
is failed) until TCP is gone, then CLOSED. ``Closed`` is emitted exactly once,
by ``receive_eof()`` or ``abort()``, with the code the application must see:
the server's code (1005 if it gave none) after a completed closing handshake,
1006 for everything else.

The HTTP of the upgrade is ``opening.OpeningHandshake``'s: it writes the
request and, while the state is CONNECTING, reads the server's bytes until it
has an outcome: a ``101``, which ``ClientProtocol`` checks against the request
(``handshake.check_accept``) before it opens, or a failure.

After the opening, ``receive_data()`` reads simple data frames itself
(``framing.read_simple_frames``; a large one into its final buffer, see
``bigframe``), and the server's usual answer to our Close (``closing``): that
is the hot path, so it stays here, next to the state it reads. Every other
frame goes through wsproto's ``Connection`` (with wsapi's bounded extensions
installed), whose events ``wsproto_reader.WsprotoReader`` reads into wsapi's:
it reassembles fragments and answers pings, and hands each Close frame back
to ``ClientProtocol``, which acts on it (the state is its own).

A protocol error found after some messages is not reported at once: the
messages come first, ``failure_pending`` becomes true, and the failure (the
Close frame and ``Failed``) waits for ``commit_failure()``. The transport lets
the application read and answer those messages in between, so that its replies
go out before the Close frame, in the order the server sent the frames
(Autobahn's strict cases 3.2, 4.1.3 and 5.15 check exactly this).
"""

from __future__ import annotations

import enum

from wsproto.connection import Connection, ConnectionState
from wsproto.events import CloseConnection, Ping, Pong
from wsproto.extensions import Extension
from wsproto.frame_protocol import CloseReason, Opcode, RsvBits

from ..errors import ConnectionFailed, ConnectionLost, InvalidHandshake, WebSocketError
from ..response import MAX_BODY_SIZE, Response
from .bigframe import FrameInProgress, WritableBuffer
from .closing import encode_close, read_close
from .events import (
    Closed,
    CloseReceived,
    Failed,
    HandshakeFailed,
    MessageReceived,
    Opened,
    ProtocolEvent,
)
from .extensions import BoundedDeflate, SizeLimit
from .framing import MaskingKeys, encode_frame, read_simple_frames
from .handshake import HandshakeRequest, check_accept
from .opening import MAX_HEADER_SIZE as MAX_HEADER_SIZE  # (it was defined here)
from .opening import Accepted, Failure, OpeningHandshake
from .wsproto_reader import MAX_PENDING_PONGS as MAX_PENDING_PONGS  # (it was defined here)
from .wsproto_reader import WsprotoReader, frame_failure, utf8_failure

__all__ = ["ClientProtocol", "State"]


class State(enum.IntEnum):
    """The connection's state; the values are the WHATWG ``readyState`` constants."""

    CONNECTING = 0
    OPEN = 1
    CLOSING = 2
    CLOSED = 3


class ClientProtocol:
    """Sans-IO client protocol: bytes in, ``ProtocolEvent`` records out.

    >>> from wsapi.protocol.handshake import HandshakeRequest
    >>> proto = ClientProtocol(HandshakeRequest("ws://example.com/", "example.com", "/"))
    >>> proto.data_to_send().startswith(b"GET / HTTP/1.1")
    True
    >>> proto.state
    <State.CONNECTING: 0>
    """

    # One object per connection: 8 bytes a slot; a dict was 1.6 KB once the attributes
    # passed the 30 for which CPython shares a dict's keys between instances.
    __slots__ = (
        "_closed_emitted",
        "_deflate",
        "_events",
        "_failed",
        "_frame",
        "_masking_keys",
        "_opening",
        "_out",
        "_pending_close",
        "_pending_failure",
        "_reader",
        "_request_head",
        "_ws",
        "_ws_extensions",
        "_ws_state",
        "close_received",
        "close_sent",
        "error",
        "extensions",
        "max_body_size",
        "max_message_size",
        "request",
        "response",
        "state",
        "subprotocol",
    )

    def __init__(
        self,
        request: HandshakeRequest,
        *,
        max_message_size: int | None = 16 * 2**20,
        max_body_size: int = MAX_BODY_SIZE,
    ) -> None:
        self.request = request
        self.max_message_size = max_message_size
        self.max_body_size = max_body_size
        self.state = State.CONNECTING
        #: The subprotocol and extensions the server selected ("" until open).
        self.subprotocol = ""
        self.extensions = ""
        #: The server's answer to the upgrade request, once it is known.
        self.response: Response | None = None
        #: What failed the connection, if anything did.
        self.error: WebSocketError | None = None
        #: The server's Close frame (code, reason), once received.
        self.close_received: tuple[int, str] | None = None
        self.close_sent = False

        # wsproto's connection and the reader of its events, made together when
        # first needed (see _wsproto()); the extensions are known once the
        # handshake is accepted. _ws is the reader's, kept here too: the hot
        # paths read it without the hop.
        self._ws: Connection | None = None
        self._reader: WsprotoReader | None = None
        # wsproto's state while there is no wsproto connection (see closing.py).
        self._ws_state = ConnectionState.OPEN
        self._ws_extensions: list[Extension] | None = None
        self._deflate: BoundedDeflate | None = None
        self._out: list[bytes] = []
        self._masking_keys = MaskingKeys()
        self._events: list[ProtocolEvent] = []
        self._failed = False
        # A protocol error found in the frames, waiting for commit_failure().
        self._pending_failure: tuple[WebSocketError, int, str] | None = None
        # The server's Close frame, received after messages in the same read.
        self._pending_close: CloseConnection | None = None
        self._closed_emitted = False
        # A large single-frame message being received in place (see bigframe.py).
        self._frame: FrameInProgress | None = None
        # The opening handshake's HTTP until it ends (see opening.py), then None:
        # an open connection keeps neither h11 nor the response head (memory).
        self._opening: OpeningHandshake | None = OpeningHandshake(request, max_body_size)
        # Kept as sent (a few hundred bytes); request_headers parses it when asked.
        self._request_head = self._opening.request_head
        self._out.append(self._request_head)

    @property
    def request_target(self) -> str:
        """The upgrade request's target, as sent (for traces and errors)."""
        return self._request_head.split(b" ", 2)[1].decode("ascii")

    @property
    def request_headers(self) -> tuple[tuple[str, str], ...]:
        """The upgrade request's headers, as sent (for traces and errors)."""
        lines = self._request_head.split(b"\r\n")[1:]
        return tuple(
            (name.decode("latin-1"), value.strip(b" \t").decode("latin-1"))
            for name, _, value in (line.partition(b":") for line in lines if line)
        )

    # -- the two doors ---------------------------------------------------------

    def events_received(self) -> list[ProtocolEvent]:
        """Return and forget the events produced since the last call."""
        events, self._events = self._events, []
        return events

    def data_to_send(self) -> bytes:
        """Return and forget the bytes queued for the socket since the last call."""
        out = self._out
        if not out:
            return b""
        if self._reader is not None:
            self._reader.pongs_queued = 0  # no pong waits any more (see WsprotoReader)
        # One frame (the usual case) is returned as it is: a big message is not copied.
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        return data

    @property
    def has_data_to_send(self) -> bool:
        return bool(self._out)

    # -- input -----------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Feed bytes read from the socket (``b""`` is ignored: use ``receive_eof()``)."""
        # h11 reads b"" as end of stream; and nothing comes after Closed.
        if not data or self.state is State.CLOSED:
            return
        if self.state is State.CONNECTING:
            opening = self._opening
            assert opening is not None  # (until the handshake ends)
            outcome = opening.receive_data(data)
            if outcome is not None:
                self._end_handshake(outcome)
        elif (
            self._ws_extensions is not None
            and not self._failed
            and self._pending_failure is None
            and self._pending_close is None
            and self._frames_state in (ConnectionState.OPEN, ConnectionState.LOCAL_CLOSING)
        ):
            if self._frame is not None:
                used = self._fill_frame(data)
                if used == len(data) or self._pending_failure is not None:
                    return
                data = data[used:]
            if self._between_messages():
                limit = self.max_message_size
                messages, used = read_simple_frames(data, limit)
                if messages:
                    self._events += [MessageReceived(message) for message in messages]
                if used == len(data):
                    return
                try:
                    self._frame = FrameInProgress.start(data, used, limit)
                except UnicodeDecodeError as exc:
                    self._invalid_utf8(exc)
                    return
                if self._frame is not None:
                    return  # it took the rest of data
                if used:
                    data = data[used:]
            if self._ws is None and self._ws_state is ConnectionState.LOCAL_CLOSING:
                close = read_close(data)
                if close is not None:  # the server's answer to our Close
                    self._ws_state = ConnectionState.CLOSED
                    self._close_received(*close)
                    return
            self._read_frames(data)
        # Anything after a completed closing handshake or a failure is ignored.

    def _fill_frame(self, data: bytes | memoryview) -> int:
        """Add to the big frame being received (see bigframe.py); return the bytes used."""
        frame = self._frame
        assert frame is not None
        try:
            used = frame.feed(data)
        except UnicodeDecodeError as exc:
            self._invalid_utf8(exc)
            return len(data)
        if frame.done:
            self._frame = None
            self._events.append(MessageReceived(frame.message()))
        return used

    def receive_buffer(self) -> WritableBuffer | None:
        """Where the socket may read the next bytes to directly, or None.

        While a large binary message is coming in a single frame, its payload can
        be read into its final place (``recv_into``): call ``received_into()``
        with the count read. Otherwise read into bytes and call ``receive_data()``.
        """
        frame = self._frame
        if frame is None or self._failed or self._pending_failure or self.state is State.CLOSED:
            return None
        return frame.writable()

    def received_into(self, count: int) -> None:
        """``count`` bytes were read into ``receive_buffer()``'s memory."""
        frame = self._frame
        assert frame is not None and count <= frame.remaining
        frame.advance(count)
        if frame.done:
            self._frame = None
            self._events.append(MessageReceived(frame.message()))

    def _invalid_utf8(self, exc: UnicodeDecodeError) -> None:
        # As wsproto would: the failure waits for the messages before it (see
        # failure_pending); nothing more is read.
        self._frame = None
        self._pending_failure = utf8_failure(exc)

    def _between_messages(self) -> bool:
        """Nothing is half-parsed: simple frames may skip wsproto (see ``read_simple_frames``).

        Not with permessage-deflate (its state spans messages), nor while a
        message is in fragments or wsproto holds part of a frame.
        """
        if self.state is not State.OPEN or self._deflate is not None or self._frame is not None:
            return False
        reader = self._reader
        if reader is None:
            return True  # wsproto has seen nothing yet
        proto = reader.ws._proto
        decoder = proto._frame_decoder
        return (
            reader.partial_message is None
            and decoder.header is None
            and not decoder.buffer.buffer
            and proto._message_decoder.opcode is None
        )

    def receive_eof(self) -> None:
        """The server closed its side of the TCP connection."""
        self.commit_failure()
        self.commit_close()
        if self.state is State.CONNECTING:
            opening = self._opening
            assert opening is not None  # (until the handshake ends)
            self._end_handshake(opening.receive_eof())
        self._finish(None)

    def abort(self, error: WebSocketError | None = None) -> None:
        """The transport closed the connection (timeout, I/O error, cancellation)."""
        self.commit_failure()
        self.commit_close()
        if self.state is State.CONNECTING and error is not None:
            self._handshake_failed_quietly(error)
        self._finish(error)

    # -- output ----------------------------------------------------------------

    def send_text(self, data: str) -> bool:
        """Queue a text message; False (and nothing queued) unless the connection is open."""
        if self.state is not State.OPEN:
            return False
        self._out.append(self._encode(0x1, data.encode("utf-8")))
        return True

    def send_binary(self, data: bytes) -> bool:
        """Queue a binary message; False (and nothing queued) unless the connection is open."""
        if self.state is not State.OPEN:
            return False
        self._out.append(self._encode(0x2, data))
        return True

    def _encode(self, opcode: int, payload: bytes) -> bytes:
        # Data frames skip wsproto (see framing): the state check above is all
        # wsproto would do besides compressing, which is done here alike.
        deflate = self._deflate
        if deflate is None:
            return encode_frame(opcode, payload, key=self._masking_keys())
        rsv, payload = deflate.frame_outbound(
            self._wsproto()._proto, Opcode(opcode), RsvBits(False, False, False), payload, True
        )
        return encode_frame(opcode, payload, rsv1=rsv.rsv1, key=self._masking_keys())

    def send_ping(self, data: bytes = b"") -> bool:
        # Not while the server's Close waits to be echoed (wsproto refuses it then).
        if self.state is not State.OPEN or self._pending_close is not None:
            return False
        self._out.append(self._wsproto().send(Ping(payload=data)))
        return True

    def send_pong(self, data: bytes = b"") -> bool:
        if self.state is not State.OPEN or self._pending_close is not None:
            return False
        self._out.append(self._wsproto().send(Pong(payload=data)))
        return True

    def send_close(self, code: int | None = None, reason: str = "") -> bool:
        """Start the closing handshake; False when it cannot start (not open)."""
        if self.state is not State.OPEN:
            return False
        self._queue_close(code, reason)
        self.state = State.CLOSING
        return True

    def fail(self, error: WebSocketError, code: int = 1011, reason: str = "") -> None:
        """Fail the connection (RFC 6455 7.1.7): queue a Close frame, expect TCP to close."""
        if self._failed or self.state is State.CLOSED:
            return
        # Any other failure replaces a pending protocol error.
        self._pending_failure = None
        if self.state is State.CONNECTING:
            self._handshake_failed_quietly(error)
            return
        self.error = error
        self._failed = True
        if self._ws_extensions is not None and self._wsproto().state in (
            ConnectionState.OPEN,
            ConnectionState.REMOTE_CLOSING,
        ):
            self._queue_close(code, reason)
            self._events.append(Failed(error, code, reason))
        else:
            self._events.append(Failed(error))
        self.state = State.CLOSING

    @property
    def failure_pending(self) -> bool:
        """A protocol error was found and waits for ``commit_failure()``.

        The events before it can be taken and answered first; nothing more is
        read from the server meanwhile.
        """
        return self._pending_failure is not None

    @property
    def close_pending(self) -> bool:
        """The server's Close frame came right after messages and waits for ``commit_close()``.

        The application may still send its answers to those messages until then
        (``state`` stays OPEN); nothing more is read from the server.
        """
        return self._pending_close is not None

    def commit_close(self) -> None:
        """Echo the server's pending Close frame (unless ``close()`` answered it already)."""
        event, self._pending_close = self._pending_close, None
        if event is None or self._ws is None:
            return
        if self._ws.state is ConnectionState.REMOTE_CLOSING:
            self._out.append(self._ws.send(event.response()))
            self.close_sent = True
        self.close_received = (int(event.code), event.reason or "")
        self.state = State.CLOSING
        self._events.append(CloseReceived(int(event.code), event.reason or ""))

    def commit_failure(self) -> None:
        """Fail the connection for the pending protocol error, if there is one."""
        if self._pending_failure is not None:
            error, code, reason = self._pending_failure
            self._pending_failure = None
            self.fail(error, code, reason)

    @property
    def failed(self) -> bool:
        """True once the connection was failed: the transport should close TCP now."""
        return self._failed

    @property
    def closing_handshake_done(self) -> bool:
        """Both Close frames were exchanged: the server should now close TCP."""
        return self._frames_state is ConnectionState.CLOSED

    @property
    def _frames_state(self) -> ConnectionState:
        """wsproto's state, or the fast path's while there is no wsproto connection."""
        return self._ws_state if self._ws is None else self._ws.state

    # -- the handshake -----------------------------------------------------------

    def _end_handshake(self, outcome: Accepted | Failure) -> None:
        """Open the connection, or fail it, as the server's answer to the upgrade says."""
        self._opening = None
        if isinstance(outcome, Failure):
            self.response = outcome.response
            self._handshake_failed(outcome.error)
            return
        response, trailing = outcome
        self.response = response
        try:
            subprotocol, deflate = check_accept(self.request, response, self.max_message_size)
        except InvalidHandshake as exc:
            self._handshake_failed(exc)
            return
        self._deflate = deflate[0] if deflate else None
        extensions: list[Extension] = list(deflate)
        if self.max_message_size is not None:
            extensions.append(SizeLimit(self.max_message_size))
        self._ws_extensions = extensions
        self.state = State.OPEN
        self.subprotocol = subprotocol
        self.extensions = response.header("Sec-WebSocket-Extensions", "") or ""
        self._events.append(Opened(subprotocol, self.extensions, response))
        if trailing:
            self.receive_data(trailing)

    def _wsproto(self) -> Connection:
        """wsproto's connection, made the first time a frame needs it.

        Simple data frames go both ways without it (see framing.py): a
        connection that only ever sends and receives those, or sits idle, does
        not carry wsproto's parser state (about 2 KB).
        """
        ws = self._ws
        if ws is None:
            ws = self._start_wsproto().ws
        return ws

    def _start_wsproto(self) -> WsprotoReader:
        """Make wsproto's connection, and the reader of its events (one per connection)."""
        extensions = self._ws_extensions
        assert extensions is not None, "the handshake is not done"
        reader = self._reader = WsprotoReader(extensions, self._ws_state)
        self._ws = reader.ws
        return reader

    def _handshake_failed(self, error: ConnectionFailed) -> None:
        self._handshake_failed_quietly(error)
        self._events.append(HandshakeFailed(error))

    def _handshake_failed_quietly(self, error: WebSocketError) -> None:
        self.error = error
        self._failed = True
        self.state = State.CLOSING

    # -- frames ----------------------------------------------------------------

    def _read_frames(self, data: bytes) -> None:
        """Have wsproto parse ``data``; act on each Close frame the reader hands back."""
        reader = self._reader
        if reader is None:
            reader = self._start_wsproto()
        ws = reader.ws
        ws.receive_data(data)
        events = self._events
        close = reader.read(events, self._out)
        while close is not None:
            if ws.state is ConnectionState.REMOTE_CLOSING and any(
                type(earlier) is MessageReceived for earlier in events
            ):
                # Messages came first: their answers go out before our Close.
                self._pending_close = close
                return
            if ws.state is ConnectionState.REMOTE_CLOSING:
                # The server started the closing handshake: echo its code.
                self._out.append(ws.send(close.response()))
                self.close_sent = True
            elif ws.state is not ConnectionState.CLOSED:
                # wsproto reports a malformed frame as a CloseConnection
                # event that leaves the state alone.
                self._pending_failure = frame_failure(close, self.max_message_size)
                return
            self._close_received(int(close.code), close.reason or "")
            close = reader.read(events, self._out)

    def _close_received(self, code: int, reason: str) -> None:
        self.close_received = (code, reason)
        self.state = State.CLOSING
        self._events.append(CloseReceived(code, reason))

    def _queue_close(self, code: int | None, reason: str) -> None:
        self.close_sent = True
        wire_code = CloseReason.NO_STATUS_RCVD if code is None else code
        if self._ws is None and self._ws_state is ConnectionState.OPEN:
            frame = encode_close(wire_code, reason)
            if frame is not None:
                self._out.append(frame)
                self._ws_state = ConnectionState.LOCAL_CLOSING
                return
        self._out.append(self._wsproto().send(CloseConnection(code=wire_code, reason=reason)))

    # -- the end -----------------------------------------------------------------

    def _finish(self, error: WebSocketError | None) -> None:
        if self._closed_emitted:
            return
        self._closed_emitted = True
        self.state = State.CLOSED
        if self.closing_handshake_done and not self._failed and self.close_received:
            code, reason = self.close_received
            self._events.append(Closed(code, reason, True))
            return
        if self.error is None:
            self.error = error or ConnectionLost(
                "the server closed the TCP connection without a closing handshake"
            )
        self._events.append(Closed(1006, "", False, self.error))
