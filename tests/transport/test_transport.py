"""Layer 2, the transport: timeouts, keepalive, write coalescing, backpressure, task hygiene,
TLS and the typed errors of each connection stage.

Tests go through the public ``WebSocket`` and look at a few private attributes
(``ws._inbox``, ``ws._transport``) where the behaviour is otherwise invisible.
Peers: the embedded server, raw scripted servers and, for TLS, the ``websockets``
library's server in a thread; all on loopback.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import anyio.to_thread
import pytest
import trustme

import wsapi
from tests.peers.scripted import (
    Opcode,
    RawConnection,
    apply_mask,
    frame_bytes,
    sec_websocket_accept,
)
from tests.peers.websockets_server import certificate_context
from tests.peers.websockets_server import tls_echo_server as peer_tls_echo_server
from wsapi import CloseEvent, ErrorEvent, Event, WebSocket
from wsapi.testing import ServerConnection, echo, serve
from wsapi.transport import connect as connect_module

TIMEOUT = 5.0


# -- helpers ---------------------------------------------------------------------------


class Recorder:
    """Records the open, error and close events (no message listener: recv() gets those)."""

    def __init__(self, ws: WebSocket) -> None:
        self.events: list[Event] = []
        for kind in ("open", "error", "close"):
            ws.addEventListener(kind, self.events.append)

    @property
    def types(self) -> list[str]:
        return [event.type for event in self.events]

    def only(self, kind: str) -> Event:
        matching = [event for event in self.events if event.type == kind]
        assert len(matching) == 1, self.types
        return matching[0]


def hang_up_watch(seen: list[str], *, http: bool) -> Callable[[RawConnection], None]:
    """Never answers (the upgrade request if ``http``, else a TLS ClientHello); records
    whether the client closes the TCP connection within a second."""

    def script(conn: RawConnection) -> None:
        if http:
            conn.read_request()
        try:
            conn.wait_eof(timeout=1.0)
        except TimeoutError:
            seen.append("still open after 1 s")
        else:
            seen.append("closed")

    return script


def parse_client_frames(data: bytes) -> list[tuple[int, bytes]]:
    """Split masked client frames (payloads under 64 KiB): ``[(opcode, payload), ...]``."""
    frames = []
    offset = 0
    while offset < len(data):
        first, second = data[offset], data[offset + 1]
        assert second & 0x80, "client frames are masked"
        length, offset = second & 0x7F, offset + 2
        if length == 126:
            length, offset = int.from_bytes(data[offset : offset + 2], "big"), offset + 2
        key, offset = data[offset : offset + 4], offset + 4
        frames.append((first & 0x0F, apply_mask(data[offset : offset + length], key)))
        offset += length
    assert offset == len(data), "a frame was cut short"
    return frames


def wsapi_tasks(backend: str) -> list[str]:
    """Names of the tasks wsapi's client started (asyncio: anywhere; trio: in this task)."""
    if backend == "asyncio":
        names = []
        for task in asyncio.all_tasks():
            code = getattr(task.get_coro(), "cr_code", None)
            filename = code.co_filename if code is not None else ""
            if task.get_name().startswith("wsapi ") or (
                "wsapi" in filename and "testing" not in filename
            ):
                names.append(task.get_name())
        return names
    import trio

    return [
        child.name
        for nursery in trio.lowlevel.current_task().child_nurseries
        for child in nursery.child_tasks
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- open_timeout ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_open_timeout_while_waiting_for_the_upgrade_answer(scripted_server: Any) -> None:
    server = scripted_server(hang_up_watch([], http=True))
    ws = WebSocket(server.url(), open_timeout=0.3)
    recorder = Recorder(ws)
    start = time.monotonic()
    with anyio.fail_after(TIMEOUT), pytest.raises(wsapi.OpenTimeout) as info:
        async with ws:
            pytest.fail("the body must not run")
    elapsed = time.monotonic() - start
    assert 0.25 <= elapsed < 2.0
    assert info.value.stage == "http"
    assert "timed out after 0.3 s" in str(info.value)
    assert "upgrade request" in str(info.value)
    assert isinstance(info.value, wsapi.ConnectionFailed)
    assert recorder.types == ["error", "close"]
    close = recorder.only("close")
    assert isinstance(close, CloseEvent)
    assert (close.code, close.wasClean) == (1006, False)


@pytest.mark.anyio
async def test_open_timeout_when_the_listener_never_accepts() -> None:
    # The kernel completes the TCP handshake into the backlog: the wait is for HTTP.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        start = time.monotonic()
        with anyio.fail_after(TIMEOUT), pytest.raises(wsapi.OpenTimeout) as info:
            async with WebSocket(f"ws://127.0.0.1:{port}/", open_timeout=0.3):
                pytest.fail("the body must not run")
        assert time.monotonic() - start < 2.0
    assert info.value.stage == "http"


@pytest.mark.anyio
async def test_open_timeout_during_the_tls_handshake(scripted_server: Any) -> None:
    seen: list[str] = []
    server = scripted_server(hang_up_watch(seen, http=False))
    url = server.url().replace("ws://", "wss://")
    start = time.monotonic()
    with anyio.fail_after(TIMEOUT), pytest.raises(wsapi.OpenTimeout) as info:
        async with WebSocket(url, open_timeout=0.3):
            pytest.fail("the body must not run")
    assert time.monotonic() - start < 2.0
    assert info.value.stage == "tls"
    assert "TLS" in str(info.value)


@pytest.mark.anyio
async def test_open_timeout_closes_the_tcp_connection(scripted_server: Any) -> None:
    seen: list[str] = []
    server = scripted_server(hang_up_watch(seen, http=True))
    with anyio.fail_after(TIMEOUT):
        with pytest.raises(wsapi.OpenTimeout):
            async with WebSocket(server.url(), open_timeout=0.2):
                pytest.fail("the body must not run")
        await anyio.to_thread.run_sync(server.wait_scripts, 3.0)
    assert seen == ["closed"]


@pytest.mark.anyio
async def test_open_timeout_during_tls_closes_the_tcp_connection(scripted_server: Any) -> None:
    seen: list[str] = []
    server = scripted_server(hang_up_watch(seen, http=False))
    url = server.url().replace("ws://", "wss://")
    with anyio.fail_after(TIMEOUT):
        with pytest.raises(wsapi.OpenTimeout):
            async with WebSocket(url, open_timeout=0.2):
                pytest.fail("the body must not run")
        await anyio.to_thread.run_sync(server.wait_scripts, 3.0)
    assert seen == ["closed"]


async def never(*args: Any, **kwargs: Any) -> Any:
    await anyio.sleep_forever()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("stalled", "stage", "words"),
    [
        ("getaddrinfo", "dns", "resolving the host name"),
        ("connect_tcp", "tcp", "connecting (127.0.0.1:"),
    ],
)
async def test_open_timeout_names_the_dns_and_tcp_stages(
    monkeypatch: pytest.MonkeyPatch, stalled: str, stage: str, words: str
) -> None:
    # A resolver or a SYN that never answers cannot be staged on loopback: stall the call.
    monkeypatch.setattr(anyio if stalled == "getaddrinfo" else connect_module, stalled, never)
    # An IP address is not resolved: the DNS stage needs a host name.
    host = "localhost" if stage == "dns" else "127.0.0.1"
    start = time.monotonic()
    with anyio.fail_after(TIMEOUT), pytest.raises(wsapi.OpenTimeout) as info:
        async with WebSocket(f"ws://{host}:{free_port()}/", open_timeout=0.2):
            pytest.fail("the body must not run")
    assert time.monotonic() - start < 2.0
    assert info.value.stage == stage
    assert "timed out after 0.2 s" in str(info.value)
    assert words in str(info.value)


def test_open_timeout_none_means_no_limit() -> None:
    ws = WebSocket("ws://example.com/", open_timeout=None, close_timeout=None)
    assert ws._transport.open_timeout is None
    assert ws._transport.close_timeout is None


@pytest.mark.anyio
async def test_open_timeout_none_connects() -> None:
    async with serve(echo) as server:
        with anyio.fail_after(TIMEOUT):
            async with WebSocket(server.url, open_timeout=None) as ws:
                ws.send("x")
                assert await ws.recv() == "x"


# -- close_timeout -----------------------------------------------------------------------


def close_ignoring_script(seen: list[Any]) -> Callable[[RawConnection], None]:
    """Accepts, reads the client's Close, never answers it, waits for the client's EOF."""

    def script(conn: RawConnection) -> None:
        conn.accept()
        seen.append(conn.read_close())
        conn.wait_eof(timeout=TIMEOUT)
        seen.append("eof")

    return script


@pytest.mark.anyio
async def test_close_timeout_bounds_the_closing_handshake(scripted_server: Any) -> None:
    seen: list[Any] = []
    server = scripted_server(close_ignoring_script(seen))
    ws = WebSocket(server.url(), close_timeout=0.3)
    recorder = Recorder(ws)
    with anyio.fail_after(TIMEOUT):
        async with ws:
            start = time.monotonic()
            ws.close(3000, "bye")
            event = await ws.wait_closed()
            elapsed = time.monotonic() - start
    server.wait_scripts()
    assert 0.25 <= elapsed < 1.5
    assert (event.code, event.wasClean) == (1006, False)
    assert recorder.types == ["open", "error", "close"]
    error = recorder.only("error")
    assert isinstance(error, ErrorEvent)
    assert isinstance(error.error, wsapi.ConnectionLost)
    assert "close_timeout" in error.message
    assert seen == [(3000, "bye"), "eof"]


@pytest.mark.anyio
async def test_leaving_the_block_waits_at_most_close_timeout(scripted_server: Any) -> None:
    seen: list[Any] = []
    server = scripted_server(close_ignoring_script(seen))
    ws = WebSocket(server.url(), close_timeout=0.3)
    with anyio.fail_after(TIMEOUT):
        async with ws:
            start = time.monotonic()
        elapsed = time.monotonic() - start
    server.wait_scripts()
    assert 0.25 <= elapsed < 1.5
    assert ws.readyState == WebSocket.CLOSED
    assert seen == [(1000, ""), "eof"]


# -- keepalive -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_keepalive_against_the_embedded_server_stays_open() -> None:
    async with serve(echo) as server:
        ws = WebSocket(server.url, ping_interval=0.05, ping_timeout=0.5)
        recorder = Recorder(ws)
        with anyio.fail_after(TIMEOUT):
            async with ws:
                await anyio.sleep(0.4)  # eight ping periods
                assert ws.readyState == WebSocket.OPEN
                ws.send("still here")
                assert await ws.recv() == "still here"
    assert recorder.types == ["open", "close"]
    close = recorder.only("close")
    assert isinstance(close, CloseEvent)
    assert (close.code, close.wasClean) == (1000, True)


@pytest.mark.anyio
async def test_keepalive_sends_pings_at_the_interval(scripted_server: Any) -> None:
    pings: list[bytes] = []

    def script(conn: RawConnection) -> None:
        conn.accept()
        while True:
            frame = conn.read_frame()
            assert frame is not None
            if frame.opcode == Opcode.PING:
                pings.append(frame.payload)
                conn.send_frame(Opcode.PONG, frame.payload)
            elif frame.opcode == Opcode.CLOSE:
                conn.send_frame(Opcode.CLOSE, frame.payload)
                return

    server = scripted_server(script)
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(server.url(), ping_interval=0.05, ping_timeout=0.5) as ws:
            await anyio.sleep(0.4)
            assert ws.readyState == WebSocket.OPEN
    server.wait_scripts()
    assert 3 <= len(pings) <= 10
    assert len(set(pings)) == len(pings)  # a fresh payload each time


@pytest.mark.anyio
async def test_no_pings_when_ping_interval_is_none(scripted_server: Any) -> None:
    seen: list[Any] = []

    def script(conn: RawConnection) -> None:
        conn.accept()
        try:
            frame = conn.read_frame(timeout=0.3)
        except TimeoutError:
            seen.append("no frame")
        else:
            seen.append(frame)
        seen.append(conn.read_close())

    server = scripted_server(script)
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(server.url(), ping_interval=None):
            await anyio.sleep(0.45)
    server.wait_scripts()
    assert seen == ["no frame", (1000, "")]


@pytest.mark.anyio
async def test_keepalive_timeout_fails_the_connection(scripted_server: Any) -> None:
    frames: list[tuple[int, bytes]] = []

    def script(conn: RawConnection) -> None:
        conn.accept()
        while (frame := conn.read_frame()) is not None:  # never answers a ping
            frames.append((frame.opcode, frame.payload))

    server = scripted_server(script)
    ws = WebSocket(server.url(), ping_interval=0.05, ping_timeout=0.1)
    recorder = Recorder(ws)
    with anyio.fail_after(TIMEOUT):
        async with ws:
            event = await ws.wait_closed()
    server.wait_scripts()
    assert (event.code, event.wasClean) == (1006, False)
    assert recorder.types == ["open", "error", "close"]
    error = recorder.only("error")
    assert isinstance(error, ErrorEvent)
    assert isinstance(error.error, wsapi.KeepaliveTimeout)
    assert frames[0][0] == Opcode.PING
    assert frames[-1] == (Opcode.CLOSE, (1011).to_bytes(2, "big") + b"keepalive ping timeout")


# -- the server's pings ---------------------------------------------------------------------


@pytest.mark.anyio
async def test_server_pings_get_matching_pongs(scripted_server: Any) -> None:
    payloads = [b"", b"abc", b"\x00\xff\x80", bytes(range(125))]
    answers: list[tuple[int, bytes]] = []

    def script(conn: RawConnection) -> None:
        conn.accept()
        ready = conn.read_frame()  # sent once the client is open
        assert ready is not None and ready.payload == b"ready"
        for payload in payloads:
            conn.send_frame(Opcode.PING, payload)
            frame = conn.read_frame()
            assert frame is not None
            answers.append((frame.opcode, frame.payload))
        assert conn.close_handshake(1000) == (1000, "")

    server = scripted_server(script)
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(server.url(), ping_interval=None) as ws:
            ws.send("ready")
            event = await ws.wait_closed()
    server.wait_scripts()
    assert answers == [(Opcode.PONG, payload) for payload in payloads]
    assert event.wasClean is True


def accept_with(frame: bytes) -> Callable[[RawConnection], None]:
    """A 101 answer and ``frame`` in a single write: one segment on loopback."""

    def send(conn: RawConnection) -> None:
        _, headers = conn.read_request()
        head = (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {sec_websocket_accept(headers['sec-websocket-key'])}\r\n\r\n"
        )
        conn.send_raw(head.encode("latin-1") + frame)

    return send


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("frame", "answer"),
    [
        (frame_bytes(Opcode.PING, b"early"), (Opcode.PONG, b"early")),
        (frame_bytes(Opcode.CLOSE, b""), (Opcode.CLOSE, b"")),  # any Close answers it
        (frame_bytes(Opcode.CLOSE, b"\x0f\xa0bye"), (Opcode.CLOSE, b"\x0f\xa0")),
    ],
    ids=["ping", "close-without-code", "close-4000"],
)
async def test_frames_arriving_with_the_101_are_answered(
    scripted_server: Any, frame: bytes, answer: tuple[int, bytes]
) -> None:
    answers: list[Any] = []

    def script(conn: RawConnection) -> None:
        accept_with(frame)(conn)
        try:
            reply = conn.read_frame(timeout=1.0)
            answers.append(reply and (reply.opcode, reply.payload))
        except TimeoutError:
            answers.append("no answer within 1 s")
        if frame[0] & 0x0F == Opcode.PING:
            conn.close_handshake(1000)
        conn.shutdown_write()

    server = scripted_server(script)
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(server.url(), ping_interval=None, close_timeout=2) as ws:
            event = await ws.wait_closed()
    server.wait_scripts()
    assert event.wasClean is True
    # A Close echo carries the server's code first (RFC 6455 5.5.1); a reason may follow.
    assert len(answers) == 1 and answers[0] != "no answer within 1 s"
    opcode, payload = answers[0]
    assert (opcode, payload[: len(answer[1])]) == answer


# -- writing: coalescing and bufferedAmount ------------------------------------------------


@pytest.mark.anyio
async def test_a_burst_of_sends_is_written_at_once(scripted_server: Any) -> None:
    result: dict[str, Any] = {}
    messages: list[str | bytes] = [f"message {i}" for i in range(99)] + [b"\x00\x01"]
    expected_size = sum(len(m) for m in messages)  # payload lengths, not header bytes
    wire_size = sum(2 + 4 + len(m) for m in messages)

    def script(conn: RawConnection) -> None:
        conn.accept()
        data, reads = b"", 0
        conn.sock.settimeout(TIMEOUT)
        while len(data) < wire_size:
            chunk = conn.sock.recv(1 << 20)
            assert chunk, "EOF before all 100 frames"
            data += chunk
            reads += 1
            result.setdefault("first read", len(chunk))
        result["reads"] = reads
        result["frames"] = parse_client_frames(data)
        conn.send_frame(Opcode.TEXT, b"got them")
        assert conn.read_close() == (1000, "")

    server = scripted_server(script)
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(server.url(), ping_interval=None, compression=None) as ws:
            assert ws.bufferedAmount == 0
            for message in messages:
                ws.send(message)
            assert ws.bufferedAmount == expected_size
            assert await ws.recv() == "got them"
            assert ws.bufferedAmount == 0
    server.wait_scripts()
    frames = result["frames"]
    assert [payload for _, payload in frames] == [
        m.encode() if isinstance(m, str) else m for m in messages
    ]
    assert [opcode for opcode, _ in frames] == [Opcode.TEXT] * 99 + [Opcode.BINARY]
    # One write by the client: the server gets it in one read (two at worst).
    assert result["reads"] <= 2
    assert result["first read"] >= wire_size // 2


@pytest.mark.anyio
async def test_buffered_amount_counts_utf8_bytes_until_written() -> None:
    async with serve(echo) as server:
        with anyio.fail_after(TIMEOUT):
            async with WebSocket(server.url) as ws:
                ws.send("\u20ac" * 10)  # 30 bytes of UTF-8
                ws.send(b"x" * 1000)
                ws.send(bytearray(24))
                assert ws.bufferedAmount == 30 + 1000 + 24
                assert await ws.recv() == "\u20ac" * 10
                assert ws.bufferedAmount == 0
                assert await ws.recv() == b"x" * 1000
                assert await ws.recv() == bytes(24)
                assert ws.bufferedAmount == 0


# -- backpressure ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_backpressure_bounds_the_inbox_and_stalls_the_server() -> None:
    count, size = 1000, 64 * 1024
    filler = bytes(range(256)) * (size // 256)
    progress = [0]

    async def flood(conn: ServerConnection) -> None:
        for i in range(count):
            await conn.send(i.to_bytes(4, "big") + filler[4:])
            progress[0] = i + 1
        await conn.close(1000)

    largest = [0]

    async def watch(ws: WebSocket) -> None:
        while True:
            largest[0] = max(largest[0], len(ws._inbox))
            await anyio.sleep(0.005)

    async with serve(flood, compression=False) as server:
        with anyio.fail_after(20):
            async with WebSocket(server.url, max_queue=4, compression=None) as ws:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(watch, ws)
                    await anyio.sleep(0.3)
                    stalled_at = progress[0]
                    await anyio.sleep(0.3)
                    # The server's sends block: no progress while the client sleeps.
                    assert progress[0] == stalled_at
                    assert stalled_at < count // 2
                    assert len(ws._inbox) == 4
                    for i in range(count):
                        data = await ws.recv()
                        assert isinstance(data, bytes) and len(data) == size
                        assert int.from_bytes(data[:4], "big") == i
                    tg.cancel_scope.cancel()
                event = await ws.wait_closed()
    assert largest[0] <= 4
    assert progress[0] == count
    assert event.wasClean is True


# -- structured concurrency ----------------------------------------------------------------


def echo_script(conn: RawConnection) -> None:
    """A raw echo server: text frames back, Close answered."""
    conn.accept()
    while (frame := conn.read_frame()) is not None:
        if frame.opcode == Opcode.CLOSE:
            conn.send_frame(Opcode.CLOSE, frame.payload)
            return
        conn.send_frame(frame.opcode, frame.payload)


@pytest.mark.anyio
async def test_no_task_left_after_the_block(scripted_server: Any, anyio_backend: str) -> None:
    # A server in threads: every task on the loop is the test's or wsapi's.
    server = scripted_server(echo_script)
    with anyio.fail_after(TIMEOUT):
        if anyio_backend == "asyncio":
            before = len(asyncio.all_tasks())
        assert wsapi_tasks(anyio_backend) == []
        async with WebSocket(server.url(), ping_interval=10, compression=None) as ws:
            ws.send("x")
            assert await ws.recv() == "x"
            names = set(wsapi_tasks(anyio_backend))
            assert "wsapi keepalive" in names
            # On asyncio's plain TCP the writes go straight to the socket: the
            # writer task starts only when one does not (see transport/writer.py);
            # and messages are read inline: the reader task starts only when
            # something needs awaiting (see transport/inline.py).
            assert ("wsapi writer" in names) is (anyio_backend == "trio")
            assert ("wsapi reader" in names) is (anyio_backend == "trio")
        assert wsapi_tasks(anyio_backend) == []
        if anyio_backend == "asyncio":
            assert len(asyncio.all_tasks()) == before


def cancel_script(seen: list[Any]) -> Callable[[RawConnection], None]:
    def script(conn: RawConnection) -> None:
        conn.accept()
        start = time.monotonic()
        seen.append(conn.read_close(timeout=TIMEOUT))  # None: EOF without a Close frame
        seen.append(time.monotonic() - start)

    return script


@pytest.mark.anyio
async def test_cancelling_the_enclosing_scope_tears_down_promptly(
    scripted_server: Any, anyio_backend: str
) -> None:
    seen: list[Any] = []
    server = scripted_server(cancel_script(seen))
    ws = WebSocket(server.url())
    recorder = Recorder(ws)
    start = time.monotonic()
    with anyio.fail_after(TIMEOUT):
        with anyio.move_on_after(0.2) as scope:
            async with ws:
                await anyio.sleep(10)
        elapsed = time.monotonic() - start
        assert scope.cancelled_caught
        await anyio.to_thread.run_sync(server.wait_scripts, 2.0)
    assert elapsed < 1.0
    assert ws.readyState == WebSocket.CLOSED
    assert recorder.types == ["open", "error", "close"]
    close = recorder.only("close")
    assert isinstance(close, CloseEvent)
    assert (close.code, close.wasClean) == (1006, False)
    error = recorder.only("error")
    assert isinstance(error, ErrorEvent) and isinstance(error.error, wsapi.ConnectionLost)
    assert seen[1] < 1.5  # the server saw the TCP connection end right away
    assert wsapi_tasks(anyio_backend) == []
    with pytest.raises(wsapi.ConnectionClosed):
        await ws.recv()


@pytest.mark.anyio
async def test_cancelling_while_connecting_returns_promptly(
    scripted_server: Any, anyio_backend: str
) -> None:
    server = scripted_server(hang_up_watch([], http=True))
    ws = WebSocket(server.url())
    recorder = Recorder(ws)
    start = time.monotonic()
    with anyio.fail_after(TIMEOUT):
        with anyio.move_on_after(0.2) as scope:
            async with ws:
                pytest.fail("the body must not run")
    assert scope.cancelled_caught
    assert time.monotonic() - start < 1.0
    assert ws.readyState == WebSocket.CLOSED
    assert recorder.types == ["error", "close"]
    assert wsapi_tasks(anyio_backend) == []


# -- TLS ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@contextmanager
def tls_echo_server(ca: trustme.CA, *names: str) -> Iterator[int]:
    """The ``websockets`` sync server behind TLS (certificate for ``names``), in a thread."""
    with peer_tls_echo_server(certificate_context(ca, *names), TIMEOUT) as port:
        yield port


def trusting(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@pytest.mark.anyio
async def test_tls_with_a_context_trusting_the_ca(ca: trustme.CA) -> None:
    with tls_echo_server(ca, "localhost", "127.0.0.1") as port:
        with anyio.fail_after(TIMEOUT):
            async with WebSocket(f"wss://localhost:{port}/", ssl=trusting(ca)) as ws:
                assert ws.url == f"wss://localhost:{port}/"
                ws.send("secret")
                assert await ws.recv() == "secret"
                ws.send(b"\x00binary")
                assert await ws.recv() == b"\x00binary"


@pytest.mark.anyio
async def test_tls_default_context_rejects_an_unknown_ca(ca: trustme.CA) -> None:
    with tls_echo_server(ca, "localhost") as port:
        ws = WebSocket(f"wss://localhost:{port}/")
        recorder = Recorder(ws)
        with anyio.fail_after(TIMEOUT), pytest.raises(wsapi.TLSError) as info:
            async with ws:
                pytest.fail("the body must not run")
    message = str(info.value)
    assert info.value.stage == "tls"
    assert "certificate" in message
    assert "ssl=" in message
    assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)
    assert recorder.types == ["error", "close"]


@pytest.mark.anyio
async def test_tls_hostname_mismatch(ca: trustme.CA) -> None:
    with (
        tls_echo_server(ca, "other.example") as port,
        anyio.fail_after(TIMEOUT),
        pytest.raises(wsapi.TLSError) as info,
    ):
        async with WebSocket(f"wss://localhost:{port}/", ssl=trusting(ca)):
            pytest.fail("the body must not run")
    message = str(info.value)
    assert "'localhost'" in message
    assert "not valid for" in message
    assert info.value.stage == "tls"


@pytest.mark.anyio
async def test_wss_to_a_plain_ws_port() -> None:
    async with serve(echo) as server:
        url = server.url.replace("ws://", "wss://")
        with anyio.fail_after(TIMEOUT), pytest.raises(wsapi.TLSError) as info:
            async with WebSocket(url):
                pytest.fail("the body must not run")
    assert "does not speak TLS" in str(info.value)
    assert "ws://" in str(info.value)  # the fix: use ws://
    assert info.value.stage == "tls"


@pytest.mark.anyio
async def test_ws_to_a_tls_port(ca: trustme.CA) -> None:
    with (
        tls_echo_server(ca, "localhost", "127.0.0.1") as port,
        anyio.fail_after(TIMEOUT),
        pytest.raises(wsapi.ConnectionFailed) as info,
    ):
        async with WebSocket(f"ws://127.0.0.1:{port}/"):
            pytest.fail("the body must not run")
    # The TLS server hangs up on the plain request: the error says a wss:// server may.
    assert isinstance(info.value, wsapi.ConnectionAborted)
    assert info.value.stage == "http"
    assert "without answering the upgrade request" in str(info.value)
    assert "wss://" in str(info.value)


# -- addresses: IPv6, DNS, refused ---------------------------------------------------------


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.anyio
@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback on this machine")
async def test_ipv6_literal() -> None:
    async with serve(echo, host="::1") as server:
        url = f"ws://[::1]:{server.port}/"
        with anyio.fail_after(TIMEOUT):
            async with WebSocket(url) as ws:
                assert ws.url == url
                ws.send("over IPv6")
                assert await ws.recv() == "over IPv6"


@pytest.mark.anyio
async def test_unresolvable_name_is_a_dns_error() -> None:
    ws = WebSocket("ws://no-such-host.invalid/chat")
    recorder = Recorder(ws)
    with anyio.fail_after(TIMEOUT), pytest.raises(wsapi.DNSError) as info:
        async with ws:
            pytest.fail("the body must not run")
    assert info.value.stage == "dns"
    assert "no-such-host.invalid" in str(info.value)
    assert isinstance(info.value.__cause__, socket.gaierror)
    assert recorder.types == ["error", "close"]


@pytest.mark.anyio
async def test_closed_port_is_connection_refused() -> None:
    port = free_port()
    with anyio.fail_after(TIMEOUT), pytest.raises(wsapi.ConnectionRefused) as info:
        async with WebSocket(f"ws://127.0.0.1:{port}/"):
            pytest.fail("the body must not run")
    assert info.value.stage == "tcp"
    assert f"127.0.0.1:{port}" in str(info.value)
    assert "refused" in str(info.value)


@pytest.mark.anyio
@pytest.mark.parametrize("scheme", ["ws", "wss"])
async def test_cancelling_while_connecting_closes_the_tcp_connection(
    scripted_server: Any, scheme: str
) -> None:
    seen: list[str] = []
    server = scripted_server(hang_up_watch(seen, http=scheme == "ws"))
    url = server.url().replace("ws://", f"{scheme}://")
    with anyio.fail_after(TIMEOUT):
        with anyio.move_on_after(0.2):
            async with WebSocket(url):
                pytest.fail("the body must not run")
        await anyio.to_thread.run_sync(server.wait_scripts, 3.0)
    assert seen == ["closed"]
