"""Servers that misbehave in ways real servers won't: scripted raw-socket peers.

Each test drives the public API against a ``ScriptedServer`` (tests/peers/scripted.py)
and checks four things: the exception the application gets (from ``async with`` for
a failed handshake, from ``recv()`` as ``ConnectionClosed.__cause__`` afterwards),
the events and their order, the CloseEvent (1006 and not clean for every failure),
and what the client put on the wire (its Close frame and code, read back by the
script, or nothing at all).

Post-open scripts first wait for the client's "ready" message, so that the
misbehaviour reaches a connection that is open and idle rather than riding in
the same TCP segment as the 101 answer.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest

from tests.peers.scripted import (
    Frame,
    Opcode,
    RawConnection,
    ScriptedServer,
    close_payload,
    deflate_bomb,
    frame_bytes,
    sec_websocket_accept,
)
from wsapi import (
    CloseEvent,
    CloseTimeout,
    ConnectionAborted,
    ConnectionClosed,
    ConnectionFailed,
    ConnectionLost,
    ErrorEvent,
    Event,
    InvalidAccept,
    InvalidHandshake,
    InvalidStatus,
    InvalidUpgrade,
    InvalidUTF8,
    KeepaliveTimeout,
    MessageTooBig,
    NotHTTP,
    OpenTimeout,
    ProtocolError,
    RedirectReceived,
    UnexpectedExtension,
    UnexpectedSubprotocol,
    WebSocket,
    WebSocketError,
)

pytestmark = pytest.mark.anyio

StartServer = Callable[..., ScriptedServer]

#: What the client sends once open; post-open scripts wait for it.
READY = "ready"

#: Generous bound for one scripted exchange (the real ones take milliseconds).
TIMEOUT = 5.0

SMALL_LIMIT = 1024

# -- known bugs ------------------------------------------------------------------------

# -- recording what the application and the server saw ---------------------------


class Recorder:
    """Listens to open/error/close (not message: messages stay for ``recv()``)."""

    def __init__(self, ws: WebSocket) -> None:
        self.types: list[str] = []
        self.error: ErrorEvent | None = None
        self.close: CloseEvent | None = None
        for type in ("open", "error", "close"):
            ws.addEventListener(type, self)

    def handleEvent(self, event: Event) -> None:
        self.types.append(event.type)
        if isinstance(event, ErrorEvent):
            self.error = event
        elif isinstance(event, CloseEvent):
            self.close = event


_UNSET: Any = object()


@dataclass
class Seen:
    """What a script saw the client do, for the test to assert on."""

    #: The client's Close frame as (code, reason); None if TCP ended first.
    close: tuple[int | None, str] | None = _UNSET
    #: Bytes the client sent after that (or after the handshake), up to its EOF.
    tail: bytes | None = _UNSET
    #: Frames the script read while waiting for the Close frame.
    frames: list[Frame] = field(default_factory=list)
    #: When the script saw the client's EOF.
    eof_at: float | None = None

    def read_close_and_eof(self, conn: RawConnection) -> None:
        self.close = conn.read_close()
        self.frames = list(conn.skipped_frames)
        self.read_eof(conn)

    def read_eof(self, conn: RawConnection) -> None:
        self.tail = conn.wait_eof()
        self.eof_at = time.monotonic()


async def wait_scripts(server: ScriptedServer) -> None:
    await anyio.to_thread.run_sync(server.wait_scripts)


def accept_and_sync(conn: RawConnection, **accept_options: Any) -> None:
    """Accept, then wait for the client's first message: the client is open and idle."""
    conn.accept(**accept_options)
    frame = conn.read_frame()
    assert frame is not None, "the client closed instead of sending its first message"
    assert frame.opcode == Opcode.TEXT, frame


def switching_protocols(
    conn: RawConnection,
    *,
    status_line: str = "HTTP/1.1 101 Switching Protocols",
    upgrade: str | None = "websocket",
    connection: str | None = "Upgrade",
    then: bytes = b"",
) -> None:
    """A hand-written 101 answer (headers may be missing), and ``then`` in the same write."""
    _, headers = conn.read_request()
    lines = [status_line]
    if upgrade is not None:
        lines.append(f"Upgrade: {upgrade}")
    if connection is not None:
        lines.append(f"Connection: {connection}")
    lines.append(f"Sec-WebSocket-Accept: {sec_websocket_accept(headers['sec-websocket-key'])}")
    conn.send_raw(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + then)


def summary(event: CloseEvent | ConnectionClosed | None) -> tuple[int, str, bool] | None:
    """``(code, reason, wasClean)`` of a close event or of ``ConnectionClosed``."""
    return None if event is None else (event.code, event.reason, event.wasClean)


def assert_failure(
    recorder: Recorder, error: BaseException | None, kind: type[WebSocketError], *phrases: str
) -> None:
    """``error`` is exactly ``kind``, says ``phrases``, and the app saw it as a failure."""
    assert type(error) is kind, repr(error)
    for phrase in phrases:
        assert phrase in str(error)
    assert recorder.error is not None
    assert recorder.error.error is error
    assert recorder.error.message == str(error)
    assert summary(recorder.close) == (1006, "", False)


# -- post-open failures -------------------------------------------------------------


@dataclass
class Failure:
    ws: WebSocket
    recorder: Recorder
    closed: ConnectionClosed
    seen: Seen

    @property
    def cause(self) -> BaseException | None:
        return self.closed.__cause__

    def check(self, kind: type[WebSocketError], *phrases: str) -> None:
        assert self.recorder.types == ["open", "error", "close"]
        assert summary(self.closed) == (1006, "", False)
        assert_failure(self.recorder, self.cause, kind, *phrases)
        assert self.ws.readyState == WebSocket.CLOSED


async def fail_after_open(
    scripted_server: StartServer, script: Callable[[RawConnection, Seen], None], **options: Any
) -> Failure:
    """Open, say "ready", and expect the server's misbehaviour to end the connection."""
    seen = Seen()
    server = scripted_server(lambda conn: script(conn, seen))
    ws = WebSocket(server.url(), **options)
    recorder = Recorder(ws)
    with anyio.fail_after(TIMEOUT):
        async with ws:
            ws.send(READY)
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
        await wait_scripts(server)
    return Failure(ws, recorder, info.value, seen)


def violation(data: bytes, **accept_options: Any) -> Callable[[RawConnection, Seen], None]:
    """Script: once the client is open, send ``data``; read its Close frame and EOF."""

    def script(conn: RawConnection, seen: Seen) -> None:
        accept_and_sync(conn, **accept_options)
        conn.send_raw(data)
        seen.read_close_and_eof(conn)

    return script


def assert_wire(seen: Seen, code: int) -> None:
    """The client failed the connection with ``code`` on the wire, then closed TCP."""
    assert seen.close is not None, "the client closed TCP without sending a Close frame"
    assert seen.close[0] == code
    assert seen.tail == b""


async def test_tcp_close_without_close_frame(scripted_server: StartServer) -> None:
    def script(conn: RawConnection, seen: Seen) -> None:
        accept_and_sync(conn)
        conn.close()

    failure = await fail_after_open(scripted_server, script)
    failure.check(ConnectionLost, "without a closing handshake")


async def test_tcp_fin_without_close_frame_gets_no_close_frame(
    scripted_server: StartServer,
) -> None:
    def script(conn: RawConnection, seen: Seen) -> None:
        accept_and_sync(conn)
        conn.shutdown_write()
        seen.read_eof(conn)

    failure = await fail_after_open(scripted_server, script)
    failure.check(ConnectionLost, "without a closing handshake")
    # Nothing to fail: the client just closes its side, no Close frame.
    assert failure.seen.tail == b""


async def test_tcp_reset(scripted_server: StartServer) -> None:
    def script(conn: RawConnection, seen: Seen) -> None:
        accept_and_sync(conn)
        conn.abort()

    failure = await fail_after_open(scripted_server, script)
    failure.check(ConnectionLost, "the connection was lost")


PROTOCOL_VIOLATIONS = [
    pytest.param(
        frame_bytes(Opcode.TEXT, b"x", rsv1=True), "Reserved bit", id="rsv1-not-negotiated"
    ),
    pytest.param(frame_bytes(Opcode.TEXT, b"x", rsv2=True), "Reserved bit", id="rsv2"),
    pytest.param(frame_bytes(Opcode.BINARY, b"x", rsv3=True), "Reserved bit", id="rsv3"),
    pytest.param(frame_bytes(0x3, b"x"), "opcode 0x3", id="opcode-0x3"),
    pytest.param(frame_bytes(0xB, b"x"), "opcode 0xb", id="opcode-0xB"),
    pytest.param(frame_bytes(Opcode.TEXT, b"hi", mask=True), "masked", id="masked-frame"),
    pytest.param(frame_bytes(Opcode.PING, b"x" * 126), "Control frame", id="ping-126-bytes"),
    pytest.param(
        frame_bytes(Opcode.PING, b"x", fin=False), "fragment control", id="fragmented-ping"
    ),
    pytest.param(frame_bytes(Opcode.CONTINUATION, b"x"), "CONTINUATION", id="continuation-alone"),
    pytest.param(
        frame_bytes(Opcode.TEXT, b"a", fin=False) + frame_bytes(Opcode.BINARY, b"b"),
        "CONTINUATION",
        id="new-message-inside-fragmented-one",
    ),
    pytest.param(frame_bytes(Opcode.CLOSE, close_payload(1005)), "CLOSE", id="close-code-1005"),
    pytest.param(frame_bytes(Opcode.CLOSE, close_payload(999)), "invalid code", id="close-999"),
    pytest.param(frame_bytes(Opcode.CLOSE, b"\x03"), "1 byte", id="close-1-byte-payload"),
]


@pytest.mark.parametrize(("data", "phrase"), PROTOCOL_VIOLATIONS)
async def test_protocol_violation_fails_with_1002(
    scripted_server: StartServer, data: bytes, phrase: str
) -> None:
    failure = await fail_after_open(scripted_server, violation(data))
    failure.check(ProtocolError, "the server broke the WebSocket protocol", phrase)
    assert isinstance(failure.cause, ProtocolError)
    assert failure.cause.code == 1002
    assert_wire(failure.seen, 1002)


INVALID_UTF8 = [
    pytest.param(frame_bytes(Opcode.TEXT, b"caf\xc3\x28"), id="text"),
    pytest.param(
        frame_bytes(Opcode.TEXT, b"caf\xc3", fin=False)
        + frame_bytes(Opcode.CONTINUATION, b"\x28 ok"),
        id="text-split-across-fragments",
    ),
    pytest.param(frame_bytes(Opcode.TEXT, b"\xff", fin=False), id="first-fragment-fails-at-once"),
    pytest.param(
        frame_bytes(Opcode.CLOSE, close_payload(1000, b"bad \xff\xfe")), id="close-reason"
    ),
]


@pytest.mark.parametrize("data", INVALID_UTF8)
async def test_invalid_utf8_fails_with_1007(scripted_server: StartServer, data: bytes) -> None:
    failure = await fail_after_open(scripted_server, violation(data))
    failure.check(InvalidUTF8, "the server sent invalid UTF-8")
    assert isinstance(failure.cause, InvalidUTF8)
    assert failure.cause.code == 1007
    assert_wire(failure.seen, 1007)


TOO_BIG = [
    pytest.param(frame_bytes(Opcode.BINARY, b"x" * 2048), id="one-frame"),
    pytest.param(frame_bytes(Opcode.TEXT, b"x" * 2048), id="one-text-frame"),
    pytest.param(
        frame_bytes(Opcode.BINARY, b"x" * 512, fin=False)
        + frame_bytes(Opcode.CONTINUATION, b"x" * 512, fin=False)
        + frame_bytes(Opcode.CONTINUATION, b"x" * 512, fin=False)
        + frame_bytes(Opcode.CONTINUATION, b"x" * 512),
        id="four-fragments-of-512",
    ),
    # Only the header: the client must refuse it without waiting for the payload.
    pytest.param(frame_bytes(Opcode.BINARY, length=2**63 - 1), id="header-announces-2**63-1"),
]


@pytest.mark.parametrize("data", TOO_BIG)
async def test_oversized_message_fails_with_1009(scripted_server: StartServer, data: bytes) -> None:
    failure = await fail_after_open(scripted_server, violation(data), max_message_size=SMALL_LIMIT)
    failure.check(MessageTooBig, f"max_message_size ({SMALL_LIMIT} bytes)")
    assert isinstance(failure.cause, MessageTooBig)
    assert failure.cause.code == 1009
    assert_wire(failure.seen, 1009)


async def test_message_at_the_limit_is_delivered(scripted_server: StartServer) -> None:
    """The boundary of the case above: exactly max_message_size bytes is fine."""

    def script(conn: RawConnection) -> None:
        accept_and_sync(conn)
        conn.send_frame(Opcode.BINARY, b"x" * 512, fin=False)
        conn.send_frame(Opcode.CONTINUATION, b"y" * 512)
        assert conn.read_close() == (1000, "")
        conn.send_close(1000)

    server = scripted_server(script)
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(server.url(), max_message_size=SMALL_LIMIT) as ws:
            ws.send(READY)
            assert await ws.recv() == b"x" * 512 + b"y" * 512
        await wait_scripts(server)


@pytest.mark.parametrize("opcode", [Opcode.TEXT, Opcode.BINARY], ids=["text", "binary"])
async def test_deflate_bomb_fails_with_1009_in_bounded_memory(
    scripted_server: StartServer, opcode: Opcode
) -> None:
    bomb_size = 100 * 2**20
    bomb = deflate_bomb(bomb_size)  # built (and cached) before measuring
    assert len(bomb) < 2**20

    tracemalloc.start()
    try:
        failure = await fail_after_open(
            scripted_server,
            violation(frame_bytes(opcode, bomb, rsv1=True), extensions="permessage-deflate"),
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert failure.ws.extensions == "permessage-deflate"
    failure.check(MessageTooBig, f"max_message_size ({16 * 2**20} bytes)")
    assert peak < 40 * 2**20, f"peak {peak / 2**20:.1f} MiB while refusing a 100 MiB bomb"
    assert_wire(failure.seen, 1009)


# -- the closing handshake ------------------------------------------------------------


async def test_no_close_answer_times_out(scripted_server: StartServer) -> None:
    seen = Seen()

    def script(conn: RawConnection) -> None:
        accept_and_sync(conn)
        seen.read_close_and_eof(conn)  # never answers, never closes TCP

    server = scripted_server(script)
    ws = WebSocket(server.url(), close_timeout=0.5)
    recorder = Recorder(ws)
    with anyio.fail_after(TIMEOUT):
        async with ws:
            ws.send(READY)
            started = time.monotonic()
            ws.close(1000)
            assert ws.readyState == WebSocket.CLOSING
            event = await ws.wait_closed()
            elapsed = time.monotonic() - started
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
        await wait_scripts(server)

    assert 0.4 < elapsed < 1.5
    assert event is recorder.close
    assert recorder.types == ["open", "error", "close"]
    assert_failure(recorder, info.value.__cause__, CloseTimeout, "closing handshake", "0.5 s")
    assert summary(info.value) == (1006, "", False)
    assert seen.close == (1000, "")
    assert seen.tail == b""  # then the client closed the socket
    assert seen.eof_at is not None and seen.eof_at - started < 1.5


@pytest.mark.parametrize(
    ("code", "reason", "app_code"),
    [(4001, "bye", 4001), (1001, "", 1001), (None, "", 1005)],
    ids=["4001-bye", "1001", "no-code"],
)
async def test_server_close_is_echoed_then_clean(
    scripted_server: StartServer, code: int | None, reason: str, app_code: int
) -> None:
    seen = Seen()

    def script(conn: RawConnection) -> None:
        accept_and_sync(conn)
        conn.send_close(code, reason)
        seen.close = conn.read_close()
        conn.close()  # the server closes TCP first (RFC 6455 7.1.1)

    server = scripted_server(script)
    ws = WebSocket(server.url())
    recorder = Recorder(ws)
    with anyio.fail_after(TIMEOUT):
        async with ws:
            ws.send(READY)
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
        await wait_scripts(server)

    assert recorder.types == ["open", "close"]
    assert summary(recorder.close) == (app_code, reason, True)
    assert summary(info.value) == (app_code, reason, True)
    assert info.value.__cause__ is None
    assert seen.close is not None
    assert seen.close[0] == code  # the echo carries the server's code (none for none)


async def test_server_close_then_tcp_left_open(scripted_server: StartServer) -> None:
    """The handshake completed: the client closes TCP itself and the close is still clean."""
    seen = Seen()

    def script(conn: RawConnection) -> None:
        accept_and_sync(conn)
        conn.send_close(4002, "done")
        seen.read_close_and_eof(conn)  # and never closes TCP

    server = scripted_server(script)
    ws = WebSocket(server.url(), close_timeout=0.5)
    recorder = Recorder(ws)
    with anyio.fail_after(TIMEOUT):
        async with ws:
            ws.send(READY)
            started = time.monotonic()
            event = await ws.wait_closed()
            elapsed = time.monotonic() - started
        await wait_scripts(server)

    assert elapsed < 1.5
    assert recorder.types == ["open", "close"]
    assert summary(event) == (4002, "done", True)
    assert seen.close is not None and seen.close[0] == 4002
    assert seen.tail == b""
    assert seen.eof_at is not None and seen.eof_at - started < 1.5


async def test_server_close_in_the_101_segment_is_echoed_at_once(
    scripted_server: StartServer,
) -> None:
    """A server that closes at once: its Close frame arrives with the 101."""
    seen = Seen()
    echo_delay: list[float] = []

    def script(conn: RawConnection) -> None:
        switching_protocols(conn, then=frame_bytes(Opcode.CLOSE, close_payload(4003, "now")))
        sent = time.monotonic()
        seen.close = conn.read_close()
        echo_delay.append(time.monotonic() - sent)
        conn.close()

    server = scripted_server(script)
    ws = WebSocket(server.url(), close_timeout=0.6)
    recorder = Recorder(ws)
    with anyio.fail_after(TIMEOUT):
        async with ws:
            event = await ws.wait_closed()
        await wait_scripts(server)

    assert recorder.types == ["open", "close"]
    assert summary(event) == (4003, "now", True)
    assert seen.close is not None and seen.close[0] == 4003
    assert echo_delay[0] < 0.3, f"the echo came {echo_delay[0]:.2f} s after the server's Close"


async def test_ping_in_the_101_segment_is_answered_at_once(scripted_server: StartServer) -> None:
    pongs: list[Frame | None] = []

    def script(conn: RawConnection) -> None:
        switching_protocols(conn, then=frame_bytes(Opcode.PING, b"early"))
        try:
            pongs.append(conn.read_frame(timeout=0.3))
        except TimeoutError:
            pongs.append(None)
        conn.send_frame(Opcode.TEXT, b"done")
        assert conn.read_close() == (1000, "")
        conn.send_close(1000)

    server = scripted_server(script)
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(server.url()) as ws:
            assert await ws.recv() == "done"
        await wait_scripts(server)

    [pong] = pongs
    assert pong is not None, "no pong within 0.3 s of a ping that came with the 101"
    assert (pong.opcode, pong.payload) == (Opcode.PONG, b"early")


@pytest.mark.parametrize("together", [True, False], ids=["same-segment", "separate-writes"])
async def test_data_after_server_close_is_ignored(
    scripted_server: StartServer, together: bool
) -> None:
    seen = Seen()
    close_frame = frame_bytes(Opcode.CLOSE, close_payload(4004, "later"))
    junk = [frame_bytes(Opcode.TEXT, b"after close"), b"\xff\xfe not a frame at all"]

    def script(conn: RawConnection) -> None:
        accept_and_sync(conn)
        if together:
            conn.send_raw(close_frame + b"".join(junk))
        else:
            conn.send_raw(close_frame)
            for data in junk:
                conn.send_raw(data)
        seen.close = conn.read_close()
        conn.send_frame(Opcode.TEXT, b"after the echo")
        conn.close()

    server = scripted_server(script)
    ws = WebSocket(server.url())
    recorder = Recorder(ws)
    with anyio.fail_after(TIMEOUT):
        async with ws:
            ws.send(READY)
            received = [data async for data in ws]  # ends without error: a clean close
        await wait_scripts(server)

    assert received == []
    assert recorder.types == ["open", "close"]
    assert summary(recorder.close) == (4004, "later", True)
    assert seen.close is not None and seen.close[0] == 4004


# -- keepalive ------------------------------------------------------------------------


async def test_unanswered_pings_fail_with_1011(scripted_server: StartServer) -> None:
    def script(conn: RawConnection, seen: Seen) -> None:
        accept_and_sync(conn)
        seen.read_close_and_eof(conn)  # reads the pings, never answers

    started = time.monotonic()
    failure = await fail_after_open(scripted_server, script, ping_interval=0.2, ping_timeout=0.3)
    elapsed = time.monotonic() - started

    failure.check(KeepaliveTimeout, "ping_timeout (0.3 s)")
    assert elapsed < 1.5
    assert [frame.opcode for frame in failure.seen.frames] == [Opcode.PING]
    assert failure.seen.close is not None and failure.seen.close[0] == 1011
    assert failure.seen.tail == b""


async def test_answered_pings_keep_the_connection_open(scripted_server: StartServer) -> None:
    pings = 4

    def script(conn: RawConnection) -> None:
        accept_and_sync(conn)
        answered = 0
        while True:
            frame = conn.read_frame()
            assert frame is not None
            if frame.opcode == Opcode.PING:
                conn.send_frame(Opcode.PONG, frame.payload)
                answered += 1
                if answered == pings:
                    conn.send_frame(Opcode.TEXT, f"{answered} pings answered".encode())
            else:
                assert frame.opcode == Opcode.CLOSE
                conn.send_frame(Opcode.CLOSE, frame.payload)
                return

    server = scripted_server(script)
    ws = WebSocket(server.url(), ping_interval=0.2, ping_timeout=0.3)
    recorder = Recorder(ws)
    with anyio.fail_after(TIMEOUT):
        async with ws:
            ws.send(READY)
            started = time.monotonic()
            assert await ws.recv() == f"{pings} pings answered"
            assert time.monotonic() - started >= pings * 0.2 - 0.05
            assert ws.readyState == WebSocket.OPEN
        await wait_scripts(server)

    assert recorder.types == ["open", "close"]
    assert summary(recorder.close) == (1000, "", True)


# -- the opening handshake ------------------------------------------------------------


@dataclass
class Refusal:
    error: ConnectionFailed
    recorder: Recorder


async def fail_to_open(
    scripted_server: StartServer,
    answer: Callable[[RawConnection], None],
    kind: type[ConnectionFailed],
    **options: Any,
) -> Refusal:
    """The handshake fails: ``kind`` from ``async with``, error then close, nothing sent."""
    seen = Seen()

    def script(conn: RawConnection) -> None:
        answer(conn)
        if not conn.closed:
            seen.read_eof(conn)

    server = scripted_server(script)
    ws = WebSocket(server.url(), **options)
    recorder = Recorder(ws)
    with anyio.fail_after(TIMEOUT):
        with pytest.raises(ConnectionFailed) as info:
            async with ws:
                pytest.fail("the connection opened")
        await wait_scripts(server)

    error = info.value
    assert recorder.types == ["error", "close"]
    assert_failure(recorder, error, kind)
    assert ws.readyState == WebSocket.CLOSED
    assert str(error).startswith(f"WebSocket connection to '{ws.url}' failed: ")
    assert error.stage == "http"
    # The client sends nothing after its request (no Close frame) and closes TCP.
    assert seen.tail in (b"", _UNSET)
    return Refusal(error, recorder)


REFUSALS = [
    pytest.param(
        400,
        "Bad Request",
        [("Content-Type", "text/plain")],
        b"Missing or invalid Upgrade header",
        ["HTTP 400 Bad Request", "Missing or invalid Upgrade header", "proxy_set_header Upgrade"],
        id="400-with-body",
    ),
    pytest.param(
        403,
        "Forbidden",
        [("Content-Type", "application/json")],
        b'{"error": "origin not allowed"}',
        ["HTTP 403 Forbidden", "origin not allowed", "Origin"],
        id="403-json",
    ),
    pytest.param(404, "Not Found", [], b"", ["HTTP 404 Not Found", "path"], id="404"),
    pytest.param(
        426,
        "Upgrade Required",
        [("Upgrade", "websocket")],
        b"",
        ["HTTP 426 Upgrade Required", "proxy_set_header Upgrade"],
        id="426",
    ),
    pytest.param(
        500,
        "Internal Server Error",
        [],
        b"Traceback...",
        ["HTTP 500 Internal Server Error", "server's logs"],
        id="500",
    ),
    pytest.param(
        302,
        "Found",
        [("Location", "wss://elsewhere.example/socket")],
        b"",
        ["HTTP 302 Found", "redirects to wss://elsewhere.example/socket"],
        id="302-location",
    ),
]


@pytest.mark.parametrize(("status", "reason", "headers", "body", "phrases"), REFUSALS)
async def test_non_101_answer_is_invalid_status(
    scripted_server: StartServer,
    status: int,
    reason: str,
    headers: list[tuple[str, str]],
    body: bytes,
    phrases: list[str],
) -> None:
    def answer(conn: RawConnection) -> None:
        conn.respond(status, reason, [*headers, ("X-Request-Id", "abc123")], body)

    kind = RedirectReceived if 300 <= status < 400 else InvalidStatus
    refusal = await fail_to_open(scripted_server, answer, kind)
    error = refusal.error
    assert isinstance(error, InvalidStatus)
    assert error.status == status
    response = error.response
    assert response is not None
    assert (response.status, response.reason, response.body) == (status, reason, body)
    for name, value in headers:
        assert response.header(name) == value
    assert response.header("x-request-id") == "abc123"
    assert response.header("Content-Length") == str(len(body))
    if body.startswith(b"{"):
        assert response.json() == {"error": "origin not allowed"}
    for phrase in phrases:
        assert phrase in str(error)
    assert error.fix  # says what to do


def _wrong_accept(conn: RawConnection) -> None:
    conn.accept(accept_key="bm90IHRoZSByaWdodCBrZXk=")


def _upgrade(value: str | None) -> Callable[[RawConnection], None]:
    return lambda conn: switching_protocols(conn, upgrade=value)


def _connection(value: str | None) -> Callable[[RawConnection], None]:
    return lambda conn: switching_protocols(conn, connection=value)


BAD_ACCEPTS = [
    pytest.param(
        _wrong_accept,
        {},
        InvalidAccept,
        ["Sec-WebSocket-Accept", "'bm90IHRoZSByaWdodCBrZXk='"],
        id="wrong-accept",
    ),
    pytest.param(
        _upgrade(None),
        {},
        InvalidUpgrade,
        ["no Upgrade header", "Upgrade: websocket"],
        id="no-upgrade",
    ),
    pytest.param(_upgrade("h2c"), {}, InvalidUpgrade, ["'Upgrade: h2c'"], id="upgrade-h2c"),
    pytest.param(
        _connection(None),
        {},
        InvalidUpgrade,
        ["no Connection header", "Connection: Upgrade"],
        id="no-connection",
    ),
    pytest.param(
        _connection("keep-alive"),
        {},
        InvalidUpgrade,
        ["'Connection: keep-alive'"],
        id="keep-alive",
    ),
    pytest.param(
        lambda conn: conn.accept(subprotocol="chat.v2"),
        {"protocols": ["chat.v1"]},
        UnexpectedSubprotocol,
        ["subprotocol 'chat.v2'", "not offered", "chat.v1"],
        id="subprotocol-not-offered",
    ),
    pytest.param(
        lambda conn: conn.accept(subprotocol="chat"),
        {},
        UnexpectedSubprotocol,
        ["subprotocol 'chat'", "not offered"],
        id="subprotocol-when-none-offered",
    ),
    pytest.param(
        lambda conn: conn.accept(extensions="permessage-deflate"),
        {"compression": None},
        UnexpectedExtension,
        ["extension 'permessage-deflate'", "not offered"],
        id="extension-not-offered",
    ),
    pytest.param(
        lambda conn: conn.accept(extensions="x-webkit-deflate-frame"),
        {},
        UnexpectedExtension,
        ["extension 'x-webkit-deflate-frame'", "not offered"],
        id="unknown-extension",
    ),
]


@pytest.mark.parametrize(("answer", "options", "kind", "phrases"), BAD_ACCEPTS)
async def test_invalid_101_is_invalid_handshake(
    scripted_server: StartServer,
    answer: Callable[[RawConnection], None],
    options: dict[str, Any],
    kind: type[InvalidHandshake],
    phrases: list[str],
) -> None:
    refusal = await fail_to_open(scripted_server, answer, kind, **options)
    assert refusal.error.response is not None
    assert refusal.error.response.status == 101
    for phrase in phrases:
        assert phrase in str(refusal.error)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"\x00\x01\x02 garbage \xff\r\n\r\n", id="binary"),
        pytest.param(b"220 mail.example ESMTP ready\r\n\r\n", id="smtp-banner"),
    ],
)
async def test_non_http_answer_is_not_http(scripted_server: StartServer, data: bytes) -> None:
    def answer(conn: RawConnection) -> None:
        conn.read_request()
        conn.send_raw(data)

    refusal = await fail_to_open(scripted_server, answer, NotHTTP)
    assert "not valid HTTP" in str(refusal.error)
    assert repr(data[:8])[2:-1] in str(refusal.error)  # shows what came instead


async def test_answer_cut_short_is_invalid_handshake(scripted_server: StartServer) -> None:
    def answer(conn: RawConnection) -> None:
        conn.read_request()
        conn.send_raw(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: webs")
        conn.close()

    refusal = await fail_to_open(scripted_server, answer, InvalidHandshake)
    assert "in the middle of its answer" in str(refusal.error)
    assert refusal.error.response is None


async def test_server_closes_without_answering(scripted_server: StartServer) -> None:
    def answer(conn: RawConnection) -> None:
        conn.read_request()
        conn.close()

    refusal = await fail_to_open(scripted_server, answer, ConnectionAborted)
    assert "without answering the upgrade request" in str(refusal.error)


async def test_no_answer_is_open_timeout(scripted_server: StartServer) -> None:
    seen = Seen()

    def script(conn: RawConnection) -> None:
        conn.read_request()
        seen.read_eof(conn)  # says nothing until the client gives up

    server = scripted_server(script)
    ws = WebSocket(server.url(), open_timeout=0.5)
    recorder = Recorder(ws)
    started = time.monotonic()
    with anyio.fail_after(TIMEOUT):
        with pytest.raises(OpenTimeout) as info:
            async with ws:
                pytest.fail("the connection opened")
        elapsed = time.monotonic() - started
        await wait_scripts(server)

    assert 0.4 < elapsed < 1.0
    assert info.value.stage == "http"
    assert recorder.types == ["error", "close"]
    assert_failure(recorder, info.value, OpenTimeout, "timed out after 0.5 s", "upgrade")
    assert seen.tail == b""
    assert seen.eof_at is not None and seen.eof_at - started < 1.0


async def test_http_1_0_101_is_accepted(scripted_server: StartServer) -> None:
    """``HTTP/1.0 101``: RFC 6455 only checks the status and headers; wsapi opens."""

    def script(conn: RawConnection) -> None:
        switching_protocols(conn, status_line="HTTP/1.0 101 Switching Protocols")
        conn.send_frame(Opcode.TEXT, b"hello over 1.0")
        assert conn.read_close() == (1000, "")
        conn.send_close(1000)

    server = scripted_server(script)
    ws = WebSocket(server.url())
    recorder = Recorder(ws)
    with anyio.fail_after(TIMEOUT):
        async with ws:
            assert ws.response.http_version == "1.0"  # type: ignore[attr-defined]
            assert await ws.recv() == "hello over 1.0"
        await wait_scripts(server)

    assert recorder.types == ["open", "close"]
    assert summary(recorder.close) == (1000, "", True)
