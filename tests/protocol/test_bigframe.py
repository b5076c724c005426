"""Large single-frame messages received in place (wsapi/protocol/bigframe.py).

The reference is wsproto: a client whose fast paths are turned off must see the
same events after every read, on any stream cut anywhere, whether the bytes are
fed with ``receive_data()`` or read straight into ``receive_buffer()``.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsapi.errors import InvalidUTF8, MessageTooBig
from wsapi.protocol import bigframe
from wsapi.protocol.bigframe import MIN_LENGTH, FrameInProgress
from wsapi.protocol.connection import ClientProtocol
from wsapi.protocol.events import Closed, Failed, MessageReceived, ProtocolEvent

from .helpers import WsprotoOnly, drain_events, frame, open_client

LIMIT = 20_000

#: The message is filled in a C BytesBuilder when wsapi._speedups is built, else in a bytearray.
BUILDERS = ["python"] + (["C"] if bigframe._c_builder() is not None else [])


@contextlib.contextmanager
def builder(kind: str) -> Iterator[None]:
    saved = bigframe._CBuilder
    bigframe._CBuilder = bigframe._c_builder() if kind == "C" else None
    try:
        yield
    finally:
        bigframe._CBuilder = saved


@pytest.fixture(params=BUILDERS, autouse=True)
def each_builder(request: pytest.FixtureRequest) -> Iterator[None]:
    with builder(request.param):
        yield


def summary(event: ProtocolEvent) -> object:
    """What must match between the paths (error texts quote positions that may differ)."""
    if isinstance(event, Failed):
        return ("Failed", type(event.error).__name__, event.code, event.reason)
    if isinstance(event, Closed):
        return ("Closed", event.code, event.was_clean, type(event.error).__name__)
    return repr(event)


def read_into(client: ClientProtocol, piece: bytes) -> None:
    """Feed ``piece`` as a transport using ``recv_into`` would."""
    while piece:
        buffer = client.receive_buffer()
        if buffer is None:
            client.receive_data(piece)
            return
        with memoryview(buffer) as view:  # (as recv_into() does, the view ends here)
            count = min(len(view), len(piece))
            view[:count] = piece[:count]
        client.received_into(count)
        piece = piece[count:]


big_text = st.text(min_size=MIN_LENGTH // 4, max_size=6_000).map(lambda t: t * 3)
stream_item = st.one_of(
    st.tuples(st.just("text"), big_text),
    st.tuples(st.just("bad text"), big_text, st.integers(0, 30_000)),
    st.tuples(st.just("binary"), st.integers(MIN_LENGTH - 10, LIMIT + 100)),
    st.tuples(st.just("small"), st.binary(max_size=200)),
    st.tuples(st.just("ping"), st.binary(max_size=20)),
    st.tuples(st.just("fragmented"), st.integers(MIN_LENGTH, 10_000)),
)


def encode(items: list[tuple[Any, ...]]) -> bytes:
    raw = b""
    for kind, value, *rest in items:
        if kind == "text":
            raw += frame(0x1, value.encode())
        elif kind == "bad text":
            payload = value.encode()
            at = rest[0] % (len(payload) + 1)
            raw += frame(0x1, payload[:at] + b"\xff" + payload[at:])
        elif kind == "binary":
            raw += frame(0x2, bytes(range(256)) * (value // 256) + b"z" * (value % 256))
        elif kind == "small":
            raw += frame(0x2, value)
        elif kind == "ping":
            raw += frame(0x9, value)
        else:
            payload = b"f" * value
            raw += frame(0x2, payload[:100], fin=False) + frame(0x0, payload[100:])
    return raw


@settings(max_examples=150, deadline=None)
@given(
    items=st.lists(stream_item, max_size=6),
    cuts=st.lists(st.integers(0, 120_000), max_size=10),
    limit=st.sampled_from([LIMIT, None]),
)
def test_in_place_gives_what_wsproto_gives_after_every_read(
    items: list[tuple[Any, ...]], cuts: list[int], limit: int | None
) -> None:
    raw = encode(items)
    bounds = [0, *sorted(min(cut, len(raw)) for cut in cuts), len(raw)]
    pieces = [raw[a:b] for a, b in itertools.pairwise(bounds) if b > a]
    slow = open_client(max_message_size=limit)
    slow.__class__ = WsprotoOnly
    copied, direct = open_client(max_message_size=limit), open_client(max_message_size=limit)
    for piece in pieces:
        slow.receive_data(piece)
        copied.receive_data(piece)
        read_into(direct, piece)
        expected = [summary(e) for e in drain_events(slow)]
        assert [summary(e) for e in drain_events(copied)] == expected
        assert [summary(e) for e in drain_events(direct)] == expected
    for client in (slow, copied, direct):
        client.receive_eof()
    expected = [summary(e) for e in drain_events(slow)]
    assert [summary(e) for e in drain_events(copied)] == expected
    assert [summary(e) for e in drain_events(direct)] == expected


def test_a_large_binary_message_is_assembled_from_many_reads() -> None:
    client = open_client()
    payload = bytes(range(256)) * 4096  # 1 MiB
    data = frame(0x2, payload) + frame(0x1, b"next")
    assert client.receive_data(data[:1000]) is None
    assert client._frame is not None
    events: list[ProtocolEvent] = []
    for start in range(1000, len(data), 65_536):
        client.receive_data(data[start : start + 65_536])
        events += client.events_received()
    assert events == [MessageReceived(payload), MessageReceived("next")]
    assert client._frame is None


def test_the_socket_can_read_straight_into_the_message() -> None:
    client = open_client()
    payload = b"\x07" * 100_000
    data = frame(0x2, payload)
    client.receive_data(data[:5000])
    buffer = client.receive_buffer()
    assert buffer is not None and len(buffer) == len(data) - 5000
    with memoryview(buffer) as view:
        view[:] = data[5000:]
    client.received_into(len(data) - 5000)
    assert client.events_received() == [MessageReceived(payload)]
    assert client.receive_buffer() is None


def test_text_is_never_read_into_place() -> None:
    client = open_client()
    client.receive_data(frame(0x1, b"t" * 10_000)[:5000])
    assert client._frame is not None and client.receive_buffer() is None


def test_invalid_utf8_fails_as_soon_as_it_arrives() -> None:
    client = open_client()
    data = frame(0x1, "é".encode() * 5000 + b"\xc3\x28" + b"a" * 50_000)
    client.receive_data(data[:9000])
    assert client.events_received() == []
    client.receive_data(data[9000:12_000])  # the bad bytes are in here; much more is to come
    assert client.failure_pending
    events = drain_events(client)
    assert isinstance(events[-1], Failed) and isinstance(events[-1].error, InvalidUTF8)
    assert (events[-1].code, events[-1].reason) == (1007, "invalid UTF-8")
    assert client._frame is None  # the buffer is let go at once


def test_a_character_cut_between_reads_is_kept() -> None:
    client = open_client()
    text = "€" * 5000
    data = frame(0x1, text.encode())
    events = []
    for start in range(0, len(data), 4097):  # cuts the 3-byte characters everywhere
        client.receive_data(data[start : start + 4097])
        events += client.events_received()
    assert events == [MessageReceived(text)]


def test_a_truncated_character_at_the_end_is_invalid() -> None:
    client = open_client()
    data = frame(0x1, b"a" * 9999 + b"\xe2")
    client.receive_data(data[:5000])
    client.receive_data(data[5000:])
    events = drain_events(client)
    assert isinstance(events[0], Failed) and events[0].code == 1007


def test_over_the_limit_is_refused_before_any_allocation() -> None:
    client = open_client(max_message_size=50_000)
    client.receive_data(frame(0x2, b"x" * 50_001)[:100])
    assert client._frame is None
    events = drain_events(client)
    assert isinstance(events[0], Failed) and isinstance(events[0].error, MessageTooBig)


def test_without_a_limit_a_huge_header_allocates_nothing_up_front() -> None:
    header = frame(0x2, b"", length=1 << 40)
    assert FrameInProgress.start(header + b"x" * 10, 0, None) is None
    assert FrameInProgress.start(frame(0x2, b"", length=1 << 20) + b"x", 0, None) is not None


def test_the_server_vanishing_mid_message_is_1006() -> None:
    client = open_client()
    client.receive_data(frame(0x2, b"x" * 100_000)[:50_000])
    client.receive_eof()
    (closed,) = client.events_received()
    assert isinstance(closed, Closed) and (closed.code, closed.was_clean) == (1006, False)
    assert client.receive_buffer() is None


needs_c = pytest.mark.skipif(bigframe._c_builder() is None, reason="wsapi._speedups not built")


@needs_c
def test_bytes_builder_is_filled_in_place_and_taken_once() -> None:
    from wsapi._speedups import BytesBuilder

    built = BytesBuilder(10)
    assert (len(built), built.remaining) == (10, 10)
    assert built.write(b"abc") == 3
    with memoryview(built) as view:
        assert (len(view), view.readonly) == (7, False)
        view[:2] = b"de"
    built.advance(2)
    assert built.write(b"fghijXYZ") == 5  # only what fits
    with pytest.raises(ValueError):
        built.advance(1)
    taken = built.take()
    assert (taken, type(taken)) == (b"abcdefghij", bytes)
    assert len(built) == 0
    with pytest.raises(BufferError):
        memoryview(built)
    with pytest.raises(ValueError):
        built.take()


@needs_c
def test_bytes_builder_copies_when_a_view_outlives_it() -> None:
    from wsapi._speedups import BytesBuilder

    built = BytesBuilder(3)
    view = memoryview(built)  # still alive at take(): it could write into the bytes
    view[:] = b"abc"
    built.advance(3)
    taken = built.take()
    view[:1] = b"z"
    assert taken == b"abc"  # a copy: the bytes handed out cannot change
    view.release()


@needs_c
def test_bytes_builder_refuses_to_hand_out_half_written_bytes() -> None:
    from wsapi._speedups import BytesBuilder

    built = BytesBuilder(4)
    built.write(b"ab")
    with pytest.raises(ValueError):
        built.take()
    with pytest.raises(ValueError):
        BytesBuilder(-1)
