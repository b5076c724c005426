"""The limits hold when a server attacks: real loopback sockets, scripted raw servers.

Each test plays one attack against the public API and checks what the
application sees (the error, 1006 and not clean), what the client put on the
wire (the RFC 6455 close code), and how much memory the client used meanwhile
(``tracemalloc`` around the connection). The misbehaviours already covered in
tests/integration/test_misbehaving.py (unanswered upgrade, oversized frames
without measuring memory, the 100 MiB bomb under the default limit) are not
repeated; these add the measurements and the attacks that need them.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from tests.peers.scripted import (
    Opcode,
    RawConnection,
    ScriptedServer,
    deflate_bomb,
    frame_bytes,
)
from wsapi import (
    ConnectionClosed,
    ConnectionFailed,
    ConnectionLost,
    InvalidHandshake,
    InvalidStatus,
    MessageTooBig,
    OpenTimeout,
    WebSocket,
)

from .helpers import (
    READY,
    TIMEOUT,
    KiB,
    MiB,
    Recorder,
    ResidentMemory,
    Seen,
    accept_and_sync,
    traced_memory,
    wait_for,
    wait_scripts,
)

pytestmark = pytest.mark.anyio

StartServer = Callable[..., ScriptedServer]
RecordProperty = Callable[[str, object], None]

GiB = 2**30


@pytest.fixture(scope="session")
def gigabyte_bomb() -> bytes:
    """A permessage-deflate payload inflating to 1 GiB of zeros (about 1 MiB: deflate's
    ratio tops out near 1032:1, so no 1 KiB payload can reach 1 GiB)."""
    bomb = deflate_bomb(GiB)
    assert len(bomb) < 1.1 * MiB
    return bomb


# -- (a) a deflate bomb far past max_message_size ------------------------------------------


async def test_deflate_bomb_of_1_gib_fails_with_1009_within_a_few_mib(
    scripted_server: StartServer, record_property: RecordProperty, gigabyte_bomb: bytes
) -> None:
    limit = MiB
    wire = frame_bytes(Opcode.BINARY, gigabyte_bomb, rsv1=True)  # built before measuring
    seen = Seen()

    def script(conn: RawConnection) -> None:
        accept_and_sync(conn, extensions="permessage-deflate")
        conn.send_raw(wire)
        seen.read_close_and_eof(conn)

    server = scripted_server(script)
    ws = WebSocket(server.url(), max_message_size=limit)
    recorder = Recorder(ws)
    with traced_memory() as memory, anyio.fail_after(TIMEOUT):
        async with ws:
            assert ws.extensions == "permessage-deflate"
            ws.send(READY)
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
        await wait_scripts(server)

    error = info.value.__cause__
    assert type(error) is MessageTooBig, repr(error)
    assert "max_message_size (1048576 bytes)" in str(error)
    assert recorder.types == ["open", "error", "close"]
    assert recorder.error is not None and recorder.error.error is error
    assert recorder.summary == (1006, "", False)
    assert seen.close is not None and seen.close[0] == 1009
    assert seen.tail == b""
    # One message's worth (the limit), a read buffer or two: not the gigabyte.
    record_property("memory", str(memory))
    assert memory.peak < 4 * limit, f"{memory} refusing a 1 GiB bomb with a 1 MiB limit"


# -- (b) a ping flood while the application does not read ---------------------------------

PING = frame_bytes(Opcode.PING, b"p" * 125)
PINGS_PER_WRITE = 100
#: 200k pings of 125 bytes: 26 MB of pongs to queue if the client answers each one.
FLOOD_PINGS = 200_000


def ping_flood(seen: Seen, pings: int) -> Callable[[RawConnection], None]:
    """Send ``pings`` pings (never reading the pongs) until the client stops reading."""
    batch = PING * PINGS_PER_WRITE

    def script(conn: RawConnection) -> None:
        accept_and_sync(conn)
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * KiB)
        conn.sock.settimeout(2.0)
        try:
            while seen.sent < pings:
                conn.sock.sendall(batch)
                seen.sent += PINGS_PER_WRITE
        except TimeoutError:
            seen.blocked = True  # the client stopped reading: fine
        except OSError:
            pass  # the client gave up on us: fine too
        finally:
            seen.stopped.set()
        conn.abort()

    return script


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="measures RSS on Linux")
async def test_ping_flood_while_the_application_does_not_read(
    scripted_server: StartServer,
    record_property: RecordProperty,
) -> None:
    """25 MB of pings the server never reads the answers to; the client must not keep
    26 MB of pongs: it may coalesce them (RFC 6455 5.5.3) or stop reading."""
    seen = Seen()
    server = scripted_server(ping_flood(seen, FLOOD_PINGS), stop_timeout=30)
    ws = WebSocket(server.url(), compression=None, ping_interval=None)
    with anyio.fail_after(60):
        async with ws:
            ws.send(READY)
            memory = ResidentMemory()
            # The application reads nothing; the server floods until it is done
            # or blocked.
            assert await wait_for(seen.stopped, 50, memory)
            memory.sample()
        await wait_scripts(server)
    record_property("memory", f"{memory} after {seen.sent} pings")
    assert memory.growth < 6 * MiB, (
        f"{memory} after {seen.sent} pings ({seen.sent * 131 / MiB:.1f} MiB of pongs)"
    )


# -- (c) a server that sends faster than the application reads -----------------------------

MESSAGE = 1 * KiB


def message_flood(seen: Seen, total: int) -> Callable[[RawConnection], None]:
    """Binary messages numbered from 0, ``total`` bytes at most, until the client stops reading."""
    frames = [
        frame_bytes(Opcode.BINARY, i.to_bytes(4, "big") + bytes(MESSAGE - 4)) for i in range(64)
    ]
    batch = b"".join(frames)

    def script(conn: RawConnection) -> None:
        accept_and_sync(conn)
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 * KiB)
        conn.sock.settimeout(1.0)
        try:
            while seen.sent < total:
                conn.sock.sendall(batch)
                seen.sent += len(batch)
        except TimeoutError:
            seen.blocked = True
        except OSError:
            pass
        finally:
            seen.stopped.set()
        conn.abort()

    return script


async def test_a_fast_server_is_stopped_by_a_full_queue(
    scripted_server: StartServer, record_property: RecordProperty
) -> None:
    seen = Seen()
    total = 256 * MiB
    server = scripted_server(message_flood(seen, total), stop_timeout=30)
    ws = WebSocket(server.url(), compression=None, max_queue=4, ping_interval=None)
    with traced_memory() as memory, anyio.fail_after(TIMEOUT):
        async with ws:
            ws.send(READY)
            assert await wait_for(seen.stopped, 15, memory)
            memory.sample()
            # The messages that were kept are the first ones, in order.
            for index in range(4):
                data = await ws.recv()
                assert isinstance(data, bytes) and int.from_bytes(data[:4], "big") == index % 64
        await wait_scripts(server)
    record_property("memory", f"{memory}; the server got {seen.sent / MiB:.1f} MiB through")
    assert seen.blocked, f"the server sent all {seen.sent / MiB:.0f} MiB: nothing pushed back"
    # What got through sits in kernel buffers, not in the client: a queue of 4
    # messages and one read's worth of parsed frames.
    assert seen.sent < 32 * MiB
    assert memory.peak < 4 * MiB, f"{memory} while the server pushed {seen.sent / MiB:.1f} MiB"


# -- (d) a frame header announcing 2**63 - 1 bytes -----------------------------------------


@pytest.mark.parametrize("compression", [None, "deflate"], ids=["plain", "deflate-negotiated"])
async def test_header_announcing_2_63_bytes_is_refused_without_allocating(
    scripted_server: StartServer, record_property: RecordProperty, compression: str | None
) -> None:
    seen = Seen()
    header = frame_bytes(Opcode.BINARY, length=2**63 - 1)

    def script(conn: RawConnection) -> None:
        extensions = "permessage-deflate" if compression else None
        accept_and_sync(conn, **({"extensions": extensions} if extensions else {}))
        conn.send_raw(header)
        seen.read_close_and_eof(conn)

    server = scripted_server(script)
    ws = WebSocket(server.url(), compression=compression)  # type: ignore[arg-type]
    recorder = Recorder(ws)
    with traced_memory() as memory, anyio.fail_after(TIMEOUT):
        async with ws:
            ws.send(READY)
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
        await wait_scripts(server)
    assert type(info.value.__cause__) is MessageTooBig
    assert recorder.summary == (1006, "", False)
    assert seen.close is not None and seen.close[0] in (1009, 1002)
    record_property("memory", str(memory))
    assert memory.peak < 1 * MiB, str(memory)


# -- (e) endless handshake answers -----------------------------------------------------------


def endless(head: bytes, filler: bytes, seen: Seen) -> Callable[[RawConnection], None]:
    """Answer the upgrade with ``head``, then ``filler`` forever (until the client leaves)."""
    chunk = filler * max(1, 16 * KiB // len(filler))

    def script(conn: RawConnection) -> None:
        conn.read_request()
        conn.sock.settimeout(3.0)
        try:
            conn.sock.sendall(head)
            while seen.sent < 64 * MiB:
                conn.sock.sendall(chunk)
                seen.sent += len(chunk)
        except TimeoutError:
            seen.blocked = True
        except OSError:
            pass  # the client closed the connection: what we wanted
        seen.stopped.set()

    return script


async def open_against(server: ScriptedServer, **options: Any) -> tuple[ConnectionFailed, Recorder]:
    ws = WebSocket(server.url(), **options)
    recorder = Recorder(ws)
    with pytest.raises(ConnectionFailed) as info:
        async with ws:
            pytest.fail("the connection opened")
    assert recorder.types == ["error", "close"]
    assert recorder.summary == (1006, "", False)
    assert info.value.stage == "http"
    return info.value, recorder


async def test_endless_response_headers_are_cut_at_16_kib(
    scripted_server: StartServer, record_property: RecordProperty
) -> None:
    seen = Seen()
    head = b"HTTP/1.1 101 Switching Protocols\r\n"
    server = scripted_server(endless(head, b"X-Padding: " + b"a" * 40 + b"\r\n", seen))
    with traced_memory() as memory, anyio.fail_after(TIMEOUT):
        started = time.monotonic()
        error, _ = await open_against(server)
        elapsed = time.monotonic() - started
        assert await wait_for(seen.stopped, 10)
    assert isinstance(error, InvalidHandshake)
    # It is HTTP, only too long: the message says so and names the limit.
    assert "16 KiB" in str(error), str(error)
    assert "not valid HTTP" not in str(error)
    assert elapsed < 2.0
    # The client hung up after the limit (plus what was in flight), not at the end.
    assert not seen.blocked and seen.sent < 16 * MiB
    record_property("memory", f"{memory}; the server got {seen.sent / KiB:.0f} KiB through")
    assert memory.peak < 2 * MiB, str(memory)


@pytest.mark.parametrize(
    "framing",
    [
        pytest.param(b"Content-Length: 1000000000000\r\n", id="content-length"),
        pytest.param(b"Transfer-Encoding: chunked\r\n", id="chunked"),
        pytest.param(b"Connection: close\r\n", id="until-close"),
    ],
)
async def test_endless_refusal_body_is_cut_at_64_kib(
    scripted_server: StartServer, record_property: RecordProperty, framing: bytes
) -> None:
    seen = Seen()
    head = b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n" + framing + b"\r\n"
    filler = b"fffe\r\n" + b"x" * 0xFFFE + b"\r\n" if b"chunked" in framing else b"x" * 1024
    server = scripted_server(endless(head, filler, seen))
    with traced_memory() as memory, anyio.fail_after(TIMEOUT):
        started = time.monotonic()
        error, _ = await open_against(server)
        elapsed = time.monotonic() - started
        assert await wait_for(seen.stopped, 10)
    assert type(error) is InvalidStatus
    assert error.status == 403
    assert "HTTP 403 Forbidden" in str(error)
    response = error.response
    assert response is not None
    assert response.truncated is True
    assert len(response.body) == 64 * KiB
    assert set(response.body) == {ord("x")} or b"fffe" not in response.body
    assert elapsed < 2.0
    assert not seen.blocked and seen.sent < 16 * MiB
    record_property("memory", f"{memory}; the server got {seen.sent / KiB:.0f} KiB through")
    assert memory.peak < 2 * MiB, str(memory)


# -- (f) a server that accepts TCP and never answers ---------------------------------------


@pytest.mark.parametrize("reads", [False, True], ids=["never-reads", "dribbles-a-header"])
async def test_silent_or_dribbling_server_is_an_http_stage_open_timeout(
    scripted_server: StartServer, reads: bool
) -> None:
    """Not a duplicate of test_no_answer_is_open_timeout: here the server never even reads
    the request, or answers one header byte every 50 ms, which no per-read timeout catches."""
    done = Seen()

    def script(conn: RawConnection) -> None:
        conn.sock.settimeout(0.05)
        if reads:
            conn.read_request()
            conn.send_raw(b"HTTP/1.1 101 Switching Protocols\r\nX-Slow: ")
        while not conn.eof:
            if reads:
                try:
                    conn.send_raw(b"a")
                except OSError:
                    break
            try:
                if not conn.sock.recv(65536):
                    break
            except TimeoutError:
                continue
            except OSError:
                break
        done.stopped.set()

    server = scripted_server(script)
    started = time.monotonic()
    with anyio.fail_after(TIMEOUT):
        error, _ = await open_against(server, open_timeout=0.5)
        elapsed = time.monotonic() - started
        assert await wait_for(done.stopped, 5), "the client kept the socket open"
    assert type(error) is OpenTimeout
    assert error.stage == "http"
    assert "0.5 s" in str(error)
    assert 0.4 < elapsed < 1.5


# -- (g) a server that vanishes in the middle of a message --------------------------------


VANISH = [
    pytest.param(frame_bytes(Opcode.BINARY, b"x" * 1000)[:500], "fin", id="mid-frame-fin"),
    pytest.param(frame_bytes(Opcode.BINARY, b"x" * 1000)[:500], "rst", id="mid-frame-rst"),
    pytest.param(frame_bytes(Opcode.TEXT, b"one", fin=False), "fin", id="between-fragments-fin"),
    pytest.param(
        frame_bytes(Opcode.TEXT, b"one", fin=False) + frame_bytes(Opcode.CONTINUATION, b"tw")[:3],
        "rst",
        id="mid-continuation-rst",
    ),
    pytest.param(frame_bytes(Opcode.BINARY, length=70000)[:3], "fin", id="mid-header-fin"),
]


@pytest.mark.parametrize(("partial", "how"), VANISH)
async def test_server_vanishing_mid_message_is_connection_lost(
    scripted_server: StartServer, partial: bytes, how: str
) -> None:
    def script(conn: RawConnection) -> None:
        accept_and_sync(conn)
        conn.send_frame(Opcode.TEXT, b"complete")
        conn.send_raw(partial)
        time.sleep(0.05)
        if how == "rst":
            conn.abort()
        else:
            conn.close()

    server = scripted_server(script)
    ws = WebSocket(server.url())
    recorder = Recorder(ws)
    with anyio.fail_after(TIMEOUT):
        async with ws:
            ws.send(READY)
            assert await ws.recv() == "complete"
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
        await wait_scripts(server)
    assert (info.value.code, info.value.wasClean) == (1006, False)
    error = info.value.__cause__
    assert isinstance(error, ConnectionLost), repr(error)
    assert recorder.types == ["open", "error", "close"]
    assert recorder.error is not None and recorder.error.error is error
    assert recorder.summary == (1006, "", False)
