"""Property-based fuzzing of ``ClientProtocol``: any bytes, in any pieces, then EOF or not.

Three kinds of input, from most to least understood:

- valid server streams and streams with one known violation, where the exact
  outcome is known (the messages before the fault, then ``Failed`` with the
  RFC 6455 code, the pongs and the echoes before the Close frame);
- the same streams damaged byte by byte, where only the invariants of
  ``harness.check_invariants`` hold, and the outcome must not depend on how
  the bytes were split into reads, nor on when the events are taken;
- arbitrary bytes and broken HTTP answers in place of the 101.

The API promises that ``receive_data()``, ``receive_eof()`` and ``abort()``
never raise: a server's fault becomes an event. Every test here would show
any exception they raised.

Bounded for CI; ``WSAPI_FUZZ=long`` runs 50 times more examples at random
(see tests/fuzz/profile.py and docs/reliability.md).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.protocol.helpers import (
    BINARY,
    CONT,
    PING,
    TEXT,
    accept_response,
    frame,
    http_response,
    make_client,
)
from wsapi.errors import InvalidHandshake, InvalidStatus, NotHTTP, ProtocolError, TLSRequired
from wsapi.protocol.connection import MAX_HEADER_SIZE, ClientProtocol, State
from wsapi.protocol.events import Closed, Failed, HandshakeFailed, MessageReceived, Opened
from wsapi.response import MAX_BODY_SIZE

from .harness import (
    Action,
    End,
    Run,
    buffer_sizes,
    check_invariants,
    drive,
    normalise,
    wire_summary,
)
from .profile import LONG, fuzz_settings
from .streams import (
    NEGOTIATIONS,
    Stream,
    chunkings,
    compress_final,
    mutations,
    streams,
)

# The long run takes minutes per test: lift pytest-timeout's 120 s.
pytestmark = pytest.mark.timeout(0 if LONG else 120)

ends: st.SearchStrategy[End] = st.sampled_from(["eof", "abort", "none"])


def client_for(stream: Stream) -> ClientProtocol:
    client = make_client(max_message_size=stream.limit)
    client.data_to_send()  # the upgrade request
    return client


def run_stream(stream_data: bytes, stream: Stream, pieces: list[bytes], **options: Any) -> Run:
    client = client_for(stream)
    run = drive(client, pieces, **options)
    check_invariants(client, run)
    return run


def outcome(run: Run) -> tuple[list[tuple[object, ...]], tuple[object, ...]]:
    """What must not depend on how the bytes were cut: the events and the pongs.

    Not the echoes: a message read together with the server's Close frame
    cannot be answered, one read earlier it can. Nor which error a stream
    with two faults reports: compressed data that is both corrupt and not
    UTF-8, or too big and not UTF-8, shows first the fault that the first
    inflated piece reveals (invariants still check each code on its own).
    """
    sent = wire_summary(run.wire)
    events: list[tuple[object, ...]] = []
    for event in run.events:
        if isinstance(event, HandshakeFailed | Closed) and type(event.error) is TLSRequired:
            # Until test_tls_record_split_after_its_first_byte_is_tls_required passes.
            events.append(normalise(type(event)(**{**_fields(event), "error": _NOT_HTTP})))
        elif isinstance(event, Failed):
            events.append(("failed",))
        elif isinstance(event, Closed) and isinstance(event.error, ProtocolError):
            events.append(("closed", event.code, event.was_clean, "failure"))
        else:
            events.append(normalise(event))
    return events, (tuple(sent.pongs), sent.close is None)


_NOT_HTTP = NotHTTP("ws://example.com/", "a TLS record", "")


def _fields(event: HandshakeFailed | Closed) -> dict[str, Any]:
    return {name: getattr(event, name) for name in event.__dataclass_fields__}


# -- known outcomes ------------------------------------------------------------------------


@fuzz_settings(250)
@given(stream=streams(with_fault=False), data=st.data(), end=ends, echo=st.booleans())
def test_valid_streams_in_any_pieces(
    stream: Stream, data: st.DataObject, end: End, echo: bool
) -> None:
    pieces = data.draw(chunkings(stream.data), label="pieces")
    client = client_for(stream)
    run = drive(client, pieces, end=end, echo=echo)
    sent = check_invariants(client, run)

    events = [normalise(event) for event in run.events]
    opened = ("opened", "", stream.negotiation.extensions or "")
    assert events[: len(stream.events) + 1] == [opened, *stream.events]
    assert sent.pongs == stream.pongs
    if echo and stream.close is None:
        # (Messages read together with the server's Close frame cannot be answered:
        # the Close frame is echoed at once, as RFC 6455 5.5.1 allows.)
        messages = [event[1] for event in stream.events if event[0] == "message"]
        assert sent.messages == messages
    if stream.close is not None:
        code, reason = stream.close
        assert sent.close == (code, reason if code is not None else "")
    else:
        assert sent.close is None
    closed = [event for event in run.events if isinstance(event, Closed)]
    if end == "none":
        assert not closed
        assert client.state is (State.OPEN if stream.close is None else State.CLOSING)
    elif stream.close is not None:
        code = 1005 if stream.close[0] is None else stream.close[0]
        assert closed == [Closed(code, stream.close[1], True)]
    else:
        assert closed[0].code == 1006 and not closed[0].was_clean


@fuzz_settings(400)
@given(stream=streams(with_fault=True), data=st.data(), end=ends, echo=st.booleans())
def test_one_violation_fails_with_its_close_code(
    stream: Stream, data: st.DataObject, end: End, echo: bool
) -> None:
    assert stream.fault is not None
    pieces = data.draw(chunkings(stream.data), label="pieces")
    client = client_for(stream)
    run = drive(client, pieces, end=end, echo=echo)
    sent = check_invariants(client, run)

    events = [normalise(event) for event in run.events]
    opened = ("opened", "", stream.negotiation.extensions or "")
    assert events[: len(stream.events) + 1] == [opened, *stream.events]
    [failed] = [event for event in run.events if isinstance(event, Failed)]
    assert run.events.index(failed) == len(stream.events) + 1, "events between the fault and Failed"
    error = failed.error
    assert isinstance(error, ProtocolError)
    assert type(error) is stream.fault.kind, (stream.fault, error)
    assert error.code in stream.fault.codes, (stream.fault, error.code, str(error))
    # The answers to everything before the fault, then the Close frame with the code.
    assert sent.pongs == stream.pongs
    if echo:
        assert sent.messages == [event[1] for event in stream.events if event[0] == "message"]
    assert sent.close is not None and sent.close[0] == error.code
    assert sent.frames[-1].opcode == 0x8
    if end != "none":
        assert run.events[-1] == Closed(1006, "", False, error)


def test_message_after_a_final_deflate_block() -> None:
    """RFC 7692 7.2.3.4 lets a server end a message's data with BFINAL set.

    The decompressor was left at the end of its stream, and every later
    compressed message was delivered as '' (silent data loss); the next message
    now starts a fresh stream.
    """
    client = make_client()
    client.data_to_send()
    client.receive_data(accept_response(extensions="permessage-deflate"))
    assert isinstance(client.events_received()[0], Opened)
    client.receive_data(frame(TEXT, compress_final(b"Hello"), rsv1=True))
    assert client.events_received() == [MessageReceived("Hello")]
    client.receive_data(frame(TEXT, compress_final(b"again"), rsv1=True))
    events = client.events_received()
    if getattr(client, "failure_pending", False):
        client.commit_failure()
        events += client.events_received()
    assert events == [MessageReceived("again")] or (
        len(events) == 1 and isinstance(events[0], Failed)
    ), events


def test_tls_record_split_after_its_first_byte_is_tls_required() -> None:
    """Found by the long fuzz run: the verdict depends on where the first read ends.

    ``\x16\x03`` (a TLS handshake record) in one read gives ``TLSRequired`` and the
    fix "use wss://"; the same bytes split after ``\x16`` give ``NotHTTP``.
    """
    answers = {}
    for pieces in ([b"\x16\x03\x03\x00\x02\x02\x28"], [b"\x16", b"\x03\x03\x00\x02\x02\x28"]):
        client = make_client()
        client.data_to_send()
        run = drive(client, pieces, end="eof")
        [failed, _] = run.events
        assert isinstance(failed, HandshakeFailed)
        answers[len(pieces)] = type(failed.error).__name__
    assert answers == {1: "TLSRequired", 2: "TLSRequired"}


# -- damaged streams ---------------------------------------------------------------------------


@fuzz_settings(400)
@given(
    stream=streams(),
    data=st.data(),
    end=ends,
    echo=st.booleans(),
    lazy=st.booleans(),
)
def test_damaged_streams_keep_the_invariants_and_ignore_read_sizes(
    stream: Stream, data: st.DataObject, end: End, echo: bool, lazy: bool
) -> None:
    damaged = data.draw(mutations(stream.data, len(stream.head)), label="damaged")
    pieces = data.draw(chunkings(damaged), label="pieces")
    whole = run_stream(damaged, stream, [damaged] if damaged else [], end=end, echo=echo)
    split = run_stream(damaged, stream, pieces, end=end, echo=echo and not lazy, lazy=lazy)
    assert outcome(split) == outcome(whole)


@fuzz_settings(250)
@given(stream=streams(), data=st.data(), end=ends)
def test_application_sends_and_closes_at_any_point(
    stream: Stream, data: st.DataObject, end: End
) -> None:
    """The client's own Close (or messages, pings) between any two reads."""
    damaged = stream.data
    if data.draw(st.booleans(), label="damage"):
        damaged = data.draw(mutations(stream.data, len(stream.head)), label="damaged")
    pieces = data.draw(chunkings(damaged), label="pieces")

    def close(client: ClientProtocol, run: Run) -> None:
        if client.send_close(data.draw(st.sampled_from([None, 1000, 4000]), label="code")):
            run.closed_by_client_at = len(run.events)

    def send(client: ClientProtocol, run: Run) -> None:
        message: str | bytes = data.draw(st.text(max_size=10) | st.binary(max_size=10))
        sent = (
            client.send_text(message) if isinstance(message, str) else client.send_binary(message)
        )
        if sent:
            run.echoed.append(message)

    actions: dict[int, Action] = {}
    for index in data.draw(st.lists(st.integers(0, len(pieces)), max_size=4), label="when"):
        actions[index] = send
    close_once: bool = data.draw(st.booleans(), label="close")
    if pieces and close_once:
        actions[data.draw(st.integers(0, len(pieces) - 1), label="close-at")] = close
    client = client_for(stream)
    run = drive(client, pieces, end=end, actions=actions)
    check_invariants(client, run)


# -- anything at all ---------------------------------------------------------------------------


http_heads = st.one_of(
    st.binary(max_size=400),
    st.builds(
        lambda status, headers, rest: (
            f"HTTP/1.1 {status} X\r\n".encode()
            + b"".join(name + b": " + value + b"\r\n" for name, value in headers)
            + rest
        ),
        st.sampled_from([101, 101, 200, 301, 400, 403, 426, 500, 100, 199, 999]),
        st.lists(
            st.tuples(
                st.sampled_from(
                    [
                        b"Upgrade",
                        b"Connection",
                        b"Sec-WebSocket-Accept",
                        b"Sec-WebSocket-Extensions",
                        b"Sec-WebSocket-Protocol",
                        b"Content-Length",
                        b"Transfer-Encoding",
                        b"X-Junk",
                    ]
                ),
                st.binary(max_size=40),
            ),
            max_size=6,
        ),
        st.sampled_from([b"\r\n", b"\r\n\x81\x02hi", b"\r\n0\r\n\r\n", b"", b"\n\n", b"\r\n\r\n"]),
    ),
)


@fuzz_settings(300)
@given(answer=http_heads, data=st.data(), end=ends)
@example(answer=b"HTTP/1.1 101 Switching Protocols\r\n\r\n", data=None, end="eof")
def test_any_answer_to_the_upgrade(answer: bytes, data: st.DataObject | None, end: End) -> None:
    client = make_client()
    client.data_to_send()
    pieces = [answer] if data is None else data.draw(chunkings(answer), label="pieces")
    run = drive(client, pieces, end=end)
    check_invariants(client, run)


@fuzz_settings(60)
@given(
    data=st.data(),
    end=ends,
    size=st.integers(MAX_HEADER_SIZE - 200, 3 * MAX_HEADER_SIZE),
    status=st.sampled_from([101, 403]),
)
def test_long_heads_are_cut_at_the_header_limit(
    data: st.DataObject, end: End, size: int, status: int
) -> None:
    line = data.draw(st.sampled_from([b"X-Long: ", b"X-Many-%d: v\r\n"]), label="shape")
    head = f"HTTP/1.1 {status} S\r\n".encode()
    index = 0
    while len(head) < size:
        head += line.replace(b"%d", str(index).encode()) if b"%d" in line else b"a" * 1000
        if line == b"X-Long: " and index == 0:
            head += line
        index += 1
    pieces = data.draw(chunkings(head), label="pieces")
    client = make_client()
    client.data_to_send()
    run = drive(client, pieces, end=end)
    check_invariants(client, run)
    if len(head) > MAX_HEADER_SIZE + 64:
        failed = [event for event in run.events if isinstance(event, HandshakeFailed)]
        assert failed, "a head longer than MAX_HEADER_SIZE was not refused"
        assert isinstance(failed[0].error, InvalidHandshake)


@fuzz_settings(60)
@given(
    data=st.data(),
    end=ends,
    size=st.integers(0, 3 * MAX_BODY_SIZE),
    framing=st.sampled_from(["length", "chunked", "until-close"]),
)
def test_refusal_bodies_are_cut_at_the_body_limit(
    data: st.DataObject, end: End, size: int, framing: str
) -> None:
    body = b"b" * size
    if framing == "length":
        answer = http_response(403, "Forbidden", [("Content-Length", str(size))], body)
    elif framing == "chunked":
        chunks = b"".join(
            b"%x\r\n" % len(body[i : i + 5000]) + body[i : i + 5000] + b"\r\n"
            for i in range(0, size, 5000)
        )
        answer = http_response(403, "Forbidden", [("Transfer-Encoding", "chunked")], chunks)
        answer += b"0\r\n\r\n"
    else:
        answer = http_response(403, "Forbidden", [("Connection", "close")], body)
    pieces = data.draw(chunkings(answer), label="pieces")
    client = make_client()
    client.data_to_send()
    run = drive(client, pieces, end=end)
    check_invariants(client, run)
    assert run.peaks.get("http-body", 0) <= MAX_BODY_SIZE
    failed = [event for event in run.events if isinstance(event, HandshakeFailed)]
    complete = framing != "until-close" or end == "eof"
    if size > MAX_BODY_SIZE or (complete and end != "abort"):
        [event] = failed
        assert isinstance(event.error, InvalidStatus)
        response = event.error.response
        assert response is not None and response.status == 403
        assert len(response.body) == min(size, MAX_BODY_SIZE)
        assert response.truncated is (size > MAX_BODY_SIZE)


@fuzz_settings(250)
@given(
    negotiation=st.sampled_from(NEGOTIATIONS),
    garbage=st.binary(max_size=600),
    data=st.data(),
    end=ends,
)
def test_any_bytes_after_the_101(
    negotiation: Any, garbage: bytes, data: st.DataObject, end: End
) -> None:
    client = make_client(max_message_size=data.draw(st.sampled_from([None, 1, 64, 2**20])))
    client.data_to_send()
    answer = accept_response(extensions=negotiation.extensions) + garbage
    run = drive(client, data.draw(chunkings(answer), label="pieces"), end=end)
    check_invariants(client, run)


def test_internals_are_visible() -> None:
    """The buffer bounds above read private attributes: fail loudly if they move."""
    client = make_client(max_message_size=1000)
    client.data_to_send()
    assert {"http-head", "http-body"} <= buffer_sizes(client).keys()
    client.receive_data(accept_response(extensions="permessage-deflate"))
    client.receive_data(frame(BINARY, b"abc", fin=False) + frame(PING, b"pp")[:3])
    sizes = buffer_sizes(client)
    assert sizes["fragments"] == 3
    assert sizes["frame-buffer"] == 1  # a control frame waits for its whole payload
    assert "inflated" in sizes
    client.receive_data(frame(PING, b"pp")[3:] + frame(CONT, b"d"))
    assert buffer_sizes(client)["fragments"] == 0
