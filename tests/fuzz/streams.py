"""Server byte streams for fuzzing ``ClientProtocol``, with what a correct client reports.

A ``Stream`` is a 101 answer followed by frames. Valid streams are built from
``Message`` and ``Control`` items (fragmented, compressed or not, with control
frames between fragments); a ``Fault`` is one protocol violation inserted
between two items, with the error class and the RFC 6455 close codes it must
produce. The expected outcome is computed from the items, independently of
wsproto: the messages and pings before the fault, then the failure.

``mutations()`` damages any stream byte by byte (bit flips, truncation,
insertion, deletion, lengths rewritten); those only get the generic checks of
``harness.check_invariants``, since nobody can say what they should produce.
"""

from __future__ import annotations

import itertools
import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from hypothesis import strategies as st

from tests.protocol.helpers import (
    BINARY,
    CLOSE,
    CONT,
    PING,
    PONG,
    TEXT,
    Deflater,
    accept_response,
    frame,
)
from wsapi.errors import InvalidUTF8, MessageTooBig, ProtocolError

__all__ = [
    "NEGOTIATIONS",
    "Control",
    "Fault",
    "Message",
    "Negotiation",
    "Norm",
    "Stream",
    "chunkings",
    "faults",
    "items",
    "mutations",
    "streams",
]

#: A normalised protocol event: ``("message", data)``, ``("ping", payload)``, ...
Norm = tuple[object, ...]

MiB = 2**20

#: Largest payload of a valid generated message; every limit drawn is above it.
MAX_ITEM = 120
LIMITS: Sequence[int | None] = (None, 128, 4096, 16 * MiB)

#: Close codes a server may send (RFC 6455 7.4.1 and the IANA registry).
VALID_CLOSE_CODES = st.one_of(
    st.sampled_from([1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014]),
    st.integers(3000, 4999),
)
#: Codes a server must not send: out of range, reserved, or local only.
INVALID_CLOSE_CODES = st.one_of(
    st.integers(0, 999),
    st.sampled_from([1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999]),
    st.integers(5000, 65535),
)
#: Byte sequences that are not UTF-8 (RFC 3629): stray, overlong, surrogate, too high, cut.
INVALID_UTF8 = [
    b"\xff",
    b"\x80",
    b"\xc0\xaf",
    b"\xe0\x80\xaf",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\xc3\x28",
    b"\xf8\x88\x80\x80\x80",
]
#: Invalid only because the message ends in the middle of a character.
TRUNCATED_UTF8 = [b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98"]
RESERVED_OPCODES = [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF]

usv_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=MAX_ITEM // 4)


@dataclass(frozen=True)
class Negotiation:
    """What the server's 101 says about permessage-deflate."""

    extensions: str | None = None
    wbits: int = 15
    no_context_takeover: bool = False

    @property
    def deflate(self) -> bool:
        return self.extensions is not None

    def deflater(self) -> Deflater | None:
        if not self.deflate:
            return None
        return Deflater(wbits=self.wbits, no_context_takeover=self.no_context_takeover)


NEGOTIATIONS = [
    Negotiation(),
    Negotiation("permessage-deflate"),
    Negotiation("permessage-deflate; server_no_context_takeover", no_context_takeover=True),
    Negotiation("permessage-deflate; server_max_window_bits=10", wbits=10),
    Negotiation("permessage-deflate; client_max_window_bits=9; client_no_context_takeover"),
]


# -- valid items ------------------------------------------------------------------------


@dataclass(frozen=True)
class Control:
    """A ping or a pong from the server."""

    opcode: int
    payload: bytes

    def render(self, deflater: Deflater | None) -> Rendered:
        kind = "ping" if self.opcode == PING else "pong"
        pongs = [self.payload] if self.opcode == PING else []
        return Rendered(frame(self.opcode, self.payload), [(kind, self.payload)], pongs)


@dataclass
class Rendered:
    """An item's bytes, and the events and pongs a correct client produces for them."""

    data: bytes
    events: list[Norm]
    pongs: list[bytes]


@dataclass(frozen=True)
class Message:
    """A text or binary message, maybe compressed, in one or more frames.

    ``cuts`` split the payload as sent (compressed or not) into fragments;
    ``between`` are control frames sent after fragment ``i``.
    """

    data: str | bytes
    cuts: tuple[int, ...] = ()
    compressed: bool = False
    between: tuple[tuple[int, Control], ...] = ()

    def render(self, deflater: Deflater | None) -> Rendered:
        raw = self.data.encode("utf-8") if isinstance(self.data, str) else self.data
        compressed = self.compressed and deflater is not None
        payload = deflater.compress(raw) if compressed and deflater is not None else raw
        data, sent = fragments(
            TEXT if isinstance(self.data, str) else BINARY,
            payload,
            self.cuts,
            rsv1=compressed,
            between=self.between,
        )
        events: list[Norm] = []
        pongs: list[bytes] = []
        for control in sent:
            rendered = control.render(None)
            events += rendered.events
            pongs += rendered.pongs
        events.append(("message", self.data))
        return Rendered(data, events, pongs)


def fragments(
    opcode: int,
    payload: bytes,
    cuts: Sequence[int],
    *,
    rsv1: bool = False,
    between: Sequence[tuple[int, Control]] = (),
) -> tuple[bytes, list[Control]]:
    """``payload`` as one message cut at ``cuts``, with control frames after fragment ``i``.

    Returns the bytes and the control frames that fitted between fragments.
    """
    bounds = [0, *sorted({min(cut, len(payload)) for cut in cuts}), len(payload)]
    pieces = [payload[start:end] for start, end in itertools.pairwise(bounds)]
    controls: dict[int, list[Control]] = {}
    for index, control in sorted(between, key=lambda pair: pair[0]):
        controls.setdefault(index, []).append(control)
    out = b""
    sent: list[Control] = []
    for index, piece in enumerate(pieces):
        first, last = index == 0, index == len(pieces) - 1
        out += frame(opcode if first else CONT, piece, fin=last, rsv1=rsv1 and first)
        if not last:
            for control in controls.get(index, []):
                out += frame(control.opcode, control.payload)
                sent.append(control)
    return out, sent


Item = Message | Control

controls = st.builds(Control, st.sampled_from([PING, PONG]), st.binary(max_size=125) | st.just(b""))


@st.composite
def messages(draw: st.DrawFn, deflate: bool) -> Message:
    data: str | bytes = draw(usv_text | st.binary(max_size=MAX_ITEM))
    cuts = tuple(draw(st.lists(st.integers(0, MAX_ITEM * 2), max_size=4)))
    between = tuple(
        draw(st.lists(st.tuples(st.integers(0, 4), controls), max_size=3)) if cuts else ()
    )
    compressed = deflate and draw(st.booleans())
    return Message(data, cuts, compressed, between)


def items(deflate: bool) -> st.SearchStrategy[Item]:
    return st.one_of(messages(deflate), messages(deflate), controls)


# -- faults ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """One violation: the bytes (built with the connection's compressor) and its verdict."""

    name: str
    build: Callable[[Deflater | None], bytes] = field(compare=False)
    kind: type[ProtocolError]
    codes: frozenset[int]
    #: Events the fault's own frames produce before the violation (a pong inside it).
    before: tuple[Norm, ...] = ()

    def __repr__(self) -> str:
        return f"Fault({self.name!r})"


def _fault(
    name: str,
    data: bytes | Callable[[Deflater | None], bytes],
    kind: type[ProtocolError],
    *codes: int,
    before: tuple[Norm, ...] = (),
) -> Fault:
    build = data if callable(data) else (lambda _deflater, _data=data: _data)
    return Fault(name, build, kind, frozenset(codes), before)


@st.composite
def faults(draw: st.DrawFn, negotiation: Negotiation, limit: int | None) -> Fault:
    """A protocol violation that applies to this connection, and what it must cause."""
    data_opcode = draw(st.sampled_from([TEXT, BINARY]))
    any_opcode = draw(st.sampled_from([TEXT, BINARY, PING, PONG, CLOSE]))
    control_opcode = draw(st.sampled_from([PING, PONG, CLOSE]))
    small = draw(st.binary(max_size=20)) if data_opcode == BINARY else b"ok"
    makers: list[Callable[[], Fault]] = [
        lambda: _fault(
            "rsv2-or-rsv3",
            frame(any_opcode, b"", rsv2=draw(st.booleans()), rsv3=True),
            ProtocolError,
            1002,
        ),
        lambda: _fault(
            "rsv1-on-control", frame(control_opcode, b"", rsv1=True), ProtocolError, 1002
        ),
        lambda: _fault(
            "rsv1-on-continuation",
            frame(data_opcode, small, fin=False) + frame(CONT, b"", rsv1=True),
            ProtocolError,
            1002,
        ),
        lambda: _fault(
            "reserved-opcode",
            frame(draw(st.sampled_from(RESERVED_OPCODES)), small, fin=draw(st.booleans())),
            ProtocolError,
            1002,
        ),
        lambda: _fault(
            "fragmented-control", frame(control_opcode, b"", fin=False), ProtocolError, 1002
        ),
        lambda: _fault(
            "control-over-125",
            frame(control_opcode, b"x" * draw(st.integers(126, 300))),
            ProtocolError,
            1002,
        ),
        lambda: _fault(
            "orphan-continuation",
            frame(CONT, small, fin=draw(st.booleans())),
            ProtocolError,
            1002,
        ),
        lambda: _fault(
            "new-message-inside-fragmented-one",
            frame(data_opcode, small, fin=False)
            + frame(draw(st.sampled_from([TEXT, BINARY])), b"x", fin=draw(st.booleans())),
            ProtocolError,
            1002,
        ),
        lambda: _fault(
            "new-message-after-a-pong-inside-fragmented-one",
            frame(data_opcode, small, fin=False)
            + frame(PONG, b"p")
            + frame(draw(st.sampled_from([TEXT, BINARY])), b"x", fin=draw(st.booleans())),
            ProtocolError,
            1002,
            before=(("pong", b"p"),),
        ),
        lambda: _fault(
            "masked",
            frame(any_opcode, b"", mask=draw(st.binary(min_size=4, max_size=4))),
            ProtocolError,
            1002,
        ),
        lambda: _fault(
            "non-minimal-length",
            draw(
                st.sampled_from(
                    [
                        frame(data_opcode, small, length_size=2),
                        frame(data_opcode, small, length_size=8),
                        frame(BINARY, b"y" * 126, length_size=8),
                    ]
                )
            ),
            ProtocolError,
            1002,
        ),
        lambda: _fault(
            "length-with-msb",
            frame(BINARY, length=2**63 + draw(st.integers(0, 2**63 - 1)), length_size=8),
            ProtocolError,
            1002,
            1009,
        ),
        lambda: bad_utf8_text(draw, negotiation),
        lambda: _fault(
            "invalid-utf8-close-reason",
            frame(
                CLOSE,
                struct.pack("!H", draw(VALID_CLOSE_CODES))
                + b"bye"
                + draw(st.sampled_from(INVALID_UTF8 + TRUNCATED_UTF8)),
            ),
            InvalidUTF8,
            1007,
        ),
        lambda: _fault(
            "invalid-close-code",
            frame(CLOSE, struct.pack("!H", draw(INVALID_CLOSE_CODES)) + b"no"),
            ProtocolError,
            1002,
        ),
        lambda: _fault(
            "close-1-byte",
            frame(CLOSE, draw(st.binary(min_size=1, max_size=1))),
            ProtocolError,
            1002,
        ),
    ]
    if not negotiation.deflate:
        makers.append(
            lambda: _fault(
                "rsv1-without-deflate", frame(data_opcode, small, rsv1=True), ProtocolError, 1002
            )
        )
    else:
        makers.append(
            lambda: _fault(
                "corrupt-compressed-data",
                frame(
                    data_opcode,
                    draw(st.sampled_from([b"\xff", b"\x07\x00", b"\xfe\xff"])),
                    rsv1=True,
                ),
                ProtocolError,
                1002,
                1007,
            )
        )
    if limit is not None:
        makers.append(
            lambda: _fault(
                "announces-2**63-1",
                frame(data_opcode, length=2**63 - 1, length_size=8),
                MessageTooBig,
                1009,
            )
        )
        makers.append(
            lambda: _fault(
                "announces-limit-plus-one",
                frame(data_opcode, b"x" * min(limit, 4096), length=limit + 1),
                MessageTooBig,
                1009,
            )
        )
        if limit <= 4096:
            makers.append(lambda: too_big(draw, negotiation, limit))
    return draw(st.sampled_from(makers))()


def bad_utf8_text(draw: st.DrawFn, negotiation: Negotiation) -> Fault:
    prefix = draw(usv_text).encode("utf-8")
    bad = draw(st.sampled_from(INVALID_UTF8 + TRUNCATED_UTF8))
    suffix = b"" if bad in TRUNCATED_UTF8 else draw(usv_text).encode("utf-8")
    payload = prefix + bad + suffix
    cuts = tuple(draw(st.lists(st.integers(0, len(payload) + 4), max_size=3)))
    compressed = negotiation.deflate and draw(st.booleans())

    def build(deflater: Deflater | None) -> bytes:
        body = deflater.compress(payload) if compressed and deflater is not None else payload
        return fragments(TEXT, body, cuts, rsv1=compressed)[0]

    return Fault("invalid-utf8-text", build, InvalidUTF8, frozenset({1007}))


def too_big(draw: st.DrawFn, negotiation: Negotiation, limit: int) -> Fault:
    size = limit + draw(st.integers(1, 64))
    opcode = draw(st.sampled_from([TEXT, BINARY]))
    payload = b"x" * size
    cuts = tuple(draw(st.lists(st.integers(0, size), max_size=3)))
    compressed = negotiation.deflate and draw(st.booleans())

    def build(deflater: Deflater | None) -> bytes:
        body = deflater.compress(payload) if compressed and deflater is not None else payload
        return fragments(opcode, body, cuts, rsv1=compressed)[0]

    return Fault("too-big", build, MessageTooBig, frozenset({1009}))


# -- whole streams ---------------------------------------------------------------------------


@dataclass
class Stream:
    """A server's bytes after the request, and what a correct client makes of them."""

    negotiation: Negotiation
    limit: int | None
    head: bytes
    body: bytes
    #: Normalised events after ``Opened``, up to the end of the stream or the fault.
    events: list[Norm]
    #: Ping payloads the client must answer, in order.
    pongs: list[bytes]
    fault: Fault | None = None
    #: The server's Close frame, if the stream ends with one (and has no fault before it).
    close: tuple[int | None, str] | None = None

    @property
    def data(self) -> bytes:
        return self.head + self.body


@st.composite
def streams(
    draw: st.DrawFn,
    *,
    with_fault: bool | None = None,
    negotiations: Sequence[Negotiation] = NEGOTIATIONS,
    limits: Sequence[int | None] = LIMITS,
) -> Stream:
    """A valid stream, with a fault inserted (``with_fault`` None: maybe)."""
    negotiation = draw(st.sampled_from(list(negotiations)))
    limit = draw(st.sampled_from(list(limits)))
    body_items = draw(st.lists(items(negotiation.deflate), max_size=8))
    fault = None
    if with_fault or (with_fault is None and draw(st.booleans())):
        fault = draw(faults(negotiation, limit))
    position = draw(st.integers(0, len(body_items)))
    close: tuple[int | None, str] | None = None
    if draw(st.booleans()):
        code = draw(st.none() | VALID_CLOSE_CODES)
        close = (code, "" if code is None else draw(usv_text))
    deflater = negotiation.deflater()
    body = b""
    events: list[Norm] = []
    pongs: list[bytes] = []
    for index, item in enumerate(body_items):
        if fault is not None and index == position:
            break
        rendered = item.render(deflater)
        body += rendered.data
        events += rendered.events
        pongs += rendered.pongs
    if fault is not None:
        body += fault.build(deflater)
        events += fault.before
        # Whatever follows a violation must be ignored.
        body += b"".join(item.render(deflater).data for item in body_items[position:])
    if close is not None:
        code, reason = close
        payload = b"" if code is None else struct.pack("!H", code) + reason.encode("utf-8")
        body += frame(CLOSE, payload)
        if fault is None:
            events.append(("close", 1005 if code is None else code, reason))
        body += draw(st.sampled_from([b"", frame(TEXT, b"after close"), b"\xff\x00garbage"]))
    head = accept_response(extensions=negotiation.extensions)
    return Stream(negotiation, limit, head, body, events, pongs, fault, None if fault else close)


# -- damage ---------------------------------------------------------------------------------


@st.composite
def mutations(draw: st.DrawFn, data: bytes, head: int) -> bytes:
    """``data`` damaged 1 to 4 times; positions favour the frames after ``head`` bytes."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        if not out:
            out += draw(st.binary(min_size=1, max_size=8))
            continue
        low = head if len(out) > head and draw(st.integers(0, 9)) < 8 else 0
        pos = draw(st.integers(low, len(out) - 1))
        kind = draw(
            st.sampled_from(["flip", "flip", "byte", "truncate", "insert", "delete", "length"])
        )
        if kind == "flip":
            out[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte":
            out[pos] = draw(st.integers(0, 255))
        elif kind == "truncate":
            del out[pos:]
        elif kind == "insert":
            out[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del out[pos : pos + draw(st.integers(1, 8))]
        else:
            # Rewrite a 7-bit length field as if ``pos`` were a frame's second byte.
            out[pos] = (out[pos] & 0x80) | draw(
                st.sampled_from([0, 1, 125, 126, 127, draw(st.integers(0, 127))])
            )
    return bytes(out)


def compress_final(data: bytes, wbits: int = 15) -> bytes:
    """``data`` compressed into a DEFLATE block with BFINAL set (RFC 7692 7.2.3.4)."""
    compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -wbits)
    return compressor.compress(data) + compressor.flush(zlib.Z_FINISH)


@st.composite
def chunkings(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """``data`` split at arbitrary points (at most 24 pieces; sometimes byte by byte)."""
    if len(data) <= 600 and draw(st.integers(0, 15)) == 0:
        return [data[i : i + 1] for i in range(len(data))]
    cuts = sorted(set(draw(st.lists(st.integers(0, len(data)), max_size=23))))
    bounds = [0, *cuts, len(data)]
    return [data[start:end] for start, end in itertools.pairwise(bounds)]
