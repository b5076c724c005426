"""The frames the fast paths leave to wsproto, read into wsapi's events.

Most frames never meet wsproto: whole simple data frames are read by
``framing.read_simple_frames`` and ``bigframe``, the usual answer to our Close
by ``closing``. Everything else (fragments, control frames, compressed
messages, anything malformed) goes through wsproto's ``Connection``, which
``ClientProtocol`` has a ``WsprotoReader`` make the first time a frame needs
it. The reader turns wsproto's events into wsapi's:

- text and binary frames into ``MessageReceived``, fragments reassembled;
- a ping into ``PingReceived``, and its pong queued at once, in order with the
  rest of the output (at most ``MAX_PENDING_PONGS`` of them waiting);
- a pong into ``PongReceived``.

A Close frame stops the reading and is returned: what it means depends on the
connection's state (an echo to send, a Close that waits behind the messages
before it, our own Close answered), which is ``ClientProtocol``'s to act on
before it reads on. wsproto reports a malformed frame as a Close too, one that
leaves its state alone; ``frame_failure()`` says what the application sees of
it and what the server is told (``utf8_failure()``: the same for the text the
fast paths find invalid, as wsproto would have reported it).
"""

from __future__ import annotations

import io
from typing import TypeAlias

from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage
from wsproto.extensions import Extension
from wsproto.frame_protocol import CloseReason, Frame, FrameProtocol, ParseFailed

from ..errors import InvalidUTF8, MessageTooBig, ProtocolError
from .closing import REGISTERED_CLOSE_CODES
from .events import MessageReceived, PingReceived, PongReceived, ProtocolEvent

__all__ = ["MAX_PENDING_PONGS", "FrameFailure", "WsprotoReader", "frame_failure", "utf8_failure"]

#: Pongs waiting to be written before only the latest ping is answered.
MAX_PENDING_PONGS = 16

#: A protocol error found in the frames: the error, and our Close frame's code and reason.
FrameFailure: TypeAlias = "tuple[ProtocolError, int, str]"


class WsprotoReader:
    """wsproto's connection (``ws``), and the reading of its events.

    >>> from wsproto.connection import ConnectionState
    >>> reader = WsprotoReader([], ConnectionState.OPEN)
    >>> # "hi" and "!" in two fragments, a ping between them, then a Close
    >>> reader.ws.receive_data(b"\\x01\\x02hi\\x89\\x00\\x80\\x01!\\x88\\x00")
    >>> events, out = [], []
    >>> close = reader.read(events, out)  # it stops at the Close
    >>> events, len(out), int(close.code)  # and queued a pong
    ([PingReceived(data=b''), MessageReceived(data='hi!')], 1, 1005)
    """

    # Made with wsproto's connection (about 2 KB), only for a connection that needs it.
    __slots__ = ("partial_message", "pongs_queued", "ws")

    def __init__(self, extensions: list[Extension], state: ConnectionState) -> None:
        ws = self.ws = Connection(ConnectionType.CLIENT, extensions)
        ws._state = state  # a Close may have gone without it (see closing.py)
        # Our frame parser accepts every close code IANA registered (see below).
        ws._proto = _FrameProtocol(True, extensions)
        #: The message being received in fragments: text or bytes so far. (A
        #: list of pieces would cost ~40 bytes per piece for a message read a
        #: byte at a time.)
        self.partial_message: io.StringIO | bytearray | None = None
        #: Pongs queued in the output and not taken yet: the owner of the
        #: output sets it back to 0 when it takes what is queued.
        self.pongs_queued = 0

    def read(self, events: list[ProtocolEvent], out: list[bytes]) -> CloseConnection | None:
        """Read what wsproto parsed into ``events`` (pongs into ``out``), up to a Close.

        Returns the Close (the server's, or wsproto's report of a malformed
        frame) for the caller to act on; calling again reads on from there
        (wsproto's parser is one generator: it resumes where it stopped, so
        the events are the same as in one pass). None: everything is read.
        """
        ws = self.ws
        for event in ws.events():
            if isinstance(event, TextMessage | BytesMessage):
                raw = event.data
                # wsproto's types allow a bytearray; a message must be immutable.
                data = bytes(raw) if isinstance(raw, bytearray) else raw
                if event.message_finished and self.partial_message is None:
                    events.append(MessageReceived(data))
                    continue
                message = self._add_fragment(data, event.message_finished)
                if message is not None:
                    events.append(MessageReceived(message))
            elif isinstance(event, Ping):
                if ws.state is ConnectionState.OPEN:
                    self._answer_ping(bytes(event.payload), out)
                events.append(PingReceived(bytes(event.payload)))
            elif isinstance(event, Pong):
                events.append(PongReceived(bytes(event.payload)))
            elif isinstance(event, CloseConnection):
                return event
        return None

    def _add_fragment(self, data: str | bytes, last: bool) -> str | bytes | None:
        """Add a piece of a fragmented message; the whole message after the last piece."""
        partial = self.partial_message
        if isinstance(data, str):
            if not isinstance(partial, io.StringIO):
                # The first fragment (even an empty one) fixes the message's type.
                partial = self.partial_message = io.StringIO()
            partial.write(data)
            message: str | bytes | None = partial.getvalue() if last else None
        else:
            if not isinstance(partial, bytearray):
                partial = self.partial_message = bytearray()
            partial += data
            message = bytes(partial) if last else None
        if last:
            self.partial_message = None
        return message

    def _answer_ping(self, payload: bytes, out: list[bytes]) -> None:
        """Queue a pong, in order; when too many wait unsent, keep only the latest.

        RFC 6455 5.5.3 allows answering only the latest ping: a server that
        floods pings while not reading cannot make the client queue pongs
        without end.
        """
        out.append(_Pong(self.ws._proto.pong(payload)))
        self.pongs_queued += 1
        if self.pongs_queued > MAX_PENDING_PONGS:
            latest = out[-1]
            out[:] = [data for data in out if type(data) is not _Pong]
            out.append(latest)
            self.pongs_queued = 1


def frame_failure(event: CloseConnection, max_message_size: int | None) -> FrameFailure:
    """What a malformed frame, reported by wsproto as ``event``, fails the connection with."""
    error = _frame_error(event, max_message_size)
    return error, error.code, _wire_reason(error, event.reason or "")


def utf8_failure(exc: UnicodeDecodeError) -> FrameFailure:
    """What a text frame that is not UTF-8 fails the connection with, as wsproto's would."""
    error = InvalidUTF8(f"the server sent invalid UTF-8: {exc}")
    return error, error.code, _wire_reason(error, "")


def _frame_error(event: CloseConnection, max_message_size: int | None) -> ProtocolError:
    code = int(event.code)
    if code == CloseReason.MESSAGE_TOO_BIG:
        return MessageTooBig(
            f"the server sent a message larger than max_message_size "
            f"({max_message_size} bytes); raise max_message_size if it is legitimate"
        )
    if code == CloseReason.INVALID_FRAME_PAYLOAD_DATA:
        if event.reason == "error in extension":
            return ProtocolError(
                "the server sent a compressed message that does not decompress", code
            )
        return InvalidUTF8(f"the server sent invalid UTF-8: {event.reason}")
    return ProtocolError(f"the server broke the WebSocket protocol: {event.reason}", code)


def _wire_reason(error: ProtocolError, detail: str) -> str:
    """The reason sent with the Close frame when wsapi fails the connection."""
    if isinstance(error, MessageTooBig):
        return "message too big"
    if isinstance(error, InvalidUTF8):
        return "invalid UTF-8"
    if detail == "error in extension":
        return "invalid compressed data" if error.code == 1007 else "protocol error"
    return _short(detail)


def _short(reason: str) -> str:
    """A close reason that fits in a control frame (123 bytes of UTF-8)."""
    encoded = reason.encode("utf-8")[:123]
    return encoded.decode("utf-8", errors="ignore")


class _FrameProtocol(FrameProtocol):
    """wsproto's frame parser, accepting the registered close codes it does not know.

    wsproto refuses any code in 1000-2999 missing from its enum, such as 1014
    (Bad Gateway, IANA-registered under RFC 6455 11.7); browsers accept them.
    """

    def _process_close(self, frame: Frame) -> Frame:
        payload = frame.payload
        if isinstance(payload, bytes | bytearray) and len(payload) >= 2:
            code = int.from_bytes(payload[:2], "big")
            if code in REGISTERED_CLOSE_CODES:
                try:
                    reason = bytes(payload[2:]).decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise ParseFailed(
                        f"Error decoding CLOSE reason: {exc}",
                        CloseReason.INVALID_FRAME_PAYLOAD_DATA,
                    ) from exc
                return Frame(frame.opcode, (code, reason), frame.frame_finished, True)
        return super()._process_close(frame)


class _Pong(bytes):
    """A queued pong frame, told apart from the other frames in the output."""

    __slots__ = ()
