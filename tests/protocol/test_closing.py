"""The closing handshake without wsproto (protocol/closing.py) gives what wsproto gives.

wsproto is the oracle: its own ``FrameProtocol.close()`` for our Close frame,
its parser for the server's answer, and a ``ClientProtocol`` that made its
wsproto connection before closing for the whole exchange.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wsproto.connection import ConnectionState
from wsproto.frame_protocol import CloseReason, FrameProtocol, ParseFailed

from wsapi.protocol.closing import REGISTERED_CLOSE_CODES, encode_close, read_close
from wsapi.protocol.connection import State
from wsapi.protocol.events import Closed, CloseReceived, ProtocolEvent
from wsapi.protocol.wsproto_reader import _FrameProtocol

from .helpers import CLOSE, PING, TEXT, frame, open_client, parse_frames
from .test_connection import PROPERTY, chunked

codes = st.one_of(
    st.none(),
    st.just(CloseReason.NO_STATUS_RCVD),
    st.sampled_from([1000, 1001, 1005, 1006, 1011, 1015, 3000, 4999]),
    st.integers(0, 65535),
)
reasons = st.one_of(st.text(max_size=130), st.just("é" * 62 + "x"), st.just("€" * 42))


def unmask(data: bytes) -> tuple[int, bytes]:
    """The first byte and the unmasked payload of one masked client frame."""
    length, offset = data[1] & 0x7F, 2
    assert data[1] & 0x80, "client frames are masked"
    assert length <= 125
    key, payload = data[offset : offset + 4], data[offset + 4 :]
    assert len(payload) == length
    return data[0], bytes(byte ^ key[index % 4] for index, byte in enumerate(payload))


@PROPERTY
@given(code=codes, reason=reasons)
def test_encode_close_is_wsprotos_close_frame(code: int | None, reason: str) -> None:
    try:
        expected = bytes(FrameProtocol(True, []).close(code, reason))
    except TypeError:
        assert encode_close(code, reason) is None  # wsproto is asked, and raises
        return
    except struct.error:  # a code that does not fit two bytes: the facade refuses those
        assert code is not None and not 0 <= code <= 65535
        return
    ours = encode_close(code, reason)
    assert ours is not None
    assert unmask(ours) == unmask(expected)


def wsproto_reads(data: bytes) -> tuple[int, str] | None:
    """What wsapi's wsproto parser makes of ``data``: a Close's code and reason, or None."""
    proto = _FrameProtocol(True, [])
    proto.receive_bytes(data)
    try:
        frames = list(proto.received_frames())
    except ParseFailed:
        return None
    if len(frames) != 1 or proto._frame_decoder.buffer.buffer:
        return None
    (found,) = frames
    code, reason = found.payload
    return int(code), reason


close_payloads = st.one_of(
    st.binary(max_size=130),
    st.builds(
        lambda code, reason: struct.pack("!H", code) + reason.encode(),
        st.one_of(st.integers(0, 65535), st.sampled_from([1000, 1004, 1005, 1014, 2999, 3000])),
        st.text(max_size=40),
    ),
)


@PROPERTY
@given(
    payload=close_payloads,
    first=st.sampled_from([0x88, 0x88, 0x08, 0xC8, 0x89]),
    extra=st.binary(max_size=3),
)
def test_read_close_agrees_with_wsproto(payload: bytes, first: int, extra: bytes) -> None:
    data = bytes([first]) + frame(CLOSE, payload)[1:] + extra
    ours = read_close(data)
    if ours is not None:
        # Whatever the fast path accepts, wsproto accepts the same way.
        assert ours == wsproto_reads(data)
        assert first == 0x88 and not extra


@pytest.mark.parametrize("code", [1000, 1001, 1003, 1007, 1011, 1013, 1014, 3000, 4999])
def test_read_close_takes_the_usual_answers(code: int) -> None:
    data = frame(CLOSE, struct.pack("!H", code) + "bye ✓".encode())
    assert read_close(data) == (code, "bye ✓")
    assert wsproto_reads(data) == (code, "bye ✓")
    assert (code in REGISTERED_CLOSE_CODES) == (code == 1014)


@pytest.mark.parametrize(
    "data",
    [
        frame(CLOSE, b"\x03"),  # one byte of code
        frame(CLOSE, struct.pack("!H", 1004)),  # reserved
        frame(CLOSE, struct.pack("!H", 1006)),  # local only
        frame(CLOSE, struct.pack("!H", 999)),
        frame(CLOSE, struct.pack("!H", 5000)),
        frame(CLOSE, struct.pack("!H", 1000) + b"\xff"),  # not UTF-8
        frame(CLOSE, struct.pack("!H", 1000), mask=b"abcd"),
        frame(CLOSE, struct.pack("!H", 1000), fin=False),
        frame(CLOSE, struct.pack("!H", 1000), rsv1=True),
        frame(CLOSE, struct.pack("!H", 1000))[:3],  # incomplete
        frame(CLOSE, struct.pack("!H", 1000)) + b"\x81",  # followed by more
        frame(CLOSE, b"x" * 126),
    ],
)
def test_read_close_leaves_the_rest_to_wsproto(data: bytes) -> None:
    assert read_close(data) is None


# -- in ClientProtocol ---------------------------------------------------------------


def run_close(
    answer: list[bytes], *, with_wsproto: bool
) -> tuple[list[ProtocolEvent], list[tuple[int, bytes]]]:
    """Close with 1000, feed ``answer`` in pieces, then EOF: the events and the frames sent."""
    client = open_client()
    if with_wsproto:
        client._wsproto()  # the old route: wsproto sends and reads the closing handshake
    assert client.send_close(1000, "done")
    sent = parse_frames(client.data_to_send())
    events: list[ProtocolEvent] = []
    for piece in answer:
        if piece:
            client.receive_data(piece)
        events += client.events_received()
    sent += parse_frames(client.data_to_send())
    client.receive_eof()
    events += client.events_received()
    return events, [(item.opcode, item.payload) for item in sent]


def test_the_usual_close_needs_no_wsproto_connection() -> None:
    client = open_client()
    assert client.send_close(1000, "done")
    assert client._ws is None
    [sent] = parse_frames(client.data_to_send())
    assert (sent.opcode, sent.payload) == (CLOSE, struct.pack("!H", 1000) + b"done")
    client.receive_data(frame(CLOSE, struct.pack("!H", 1000) + b"ok"))
    assert client.events_received() == [CloseReceived(1000, "ok")]
    assert client.closing_handshake_done
    assert client._ws is None
    client.receive_eof()
    assert client.events_received() == [Closed(1000, "ok", True)]
    assert client.state is State.CLOSED


answers = st.lists(
    st.one_of(
        st.builds(
            lambda code, reason: frame(CLOSE, struct.pack("!H", code) + reason.encode()[:100]),
            st.sampled_from([1000, 1001, 1004, 1006, 1014, 2999, 3000, 4000, 5000]),
            st.text(max_size=20),
        ),
        st.just(frame(CLOSE)),
        st.just(frame(CLOSE, b"\x03")),
        st.just(frame(CLOSE, struct.pack("!H", 1000) + b"\xc3")),
        st.builds(lambda payload: frame(PING, payload), st.binary(max_size=10)),
        st.builds(lambda text: frame(TEXT, text.encode()), st.text(max_size=10)),
        st.binary(max_size=6),
    ),
    min_size=1,
    max_size=3,
).map(b"".join)


@PROPERTY
@given(answer=answers, data=st.data())
def test_any_answer_to_our_close_gives_what_wsproto_gives(
    answer: bytes, data: st.DataObject
) -> None:
    pieces = data.draw(chunked(answer))
    fast = run_close(pieces, with_wsproto=False)
    old = run_close(pieces, with_wsproto=True)
    assert fast[1] == old[1]
    assert [repr(event) for event in fast[0]] == [repr(event) for event in old[0]]


def test_wsproto_made_after_a_fast_close_knows_it_was_sent() -> None:
    client = open_client()
    assert client.send_close(1000)
    client.data_to_send()
    client.receive_data(frame(PING, b"?"))  # not a Close: wsproto takes over
    assert client._ws is not None and client._ws.state is ConnectionState.LOCAL_CLOSING
    client.receive_data(frame(CLOSE, struct.pack("!H", 1000)))
    assert client.closing_handshake_done
