"""Sending without unbounded memory (drain) and nothing lost silently (unsent counts)."""

from __future__ import annotations

import gc
import threading
import tracemalloc
from typing import Any

import anyio
import pytest

from tests.peers.scripted import Opcode, RawConnection
from wsapi import ConnectionClosed, DOMException, WebSocket
from wsapi.testing import echo, serve

pytestmark = pytest.mark.anyio

TIMEOUT = 20.0
CHUNK = 64 * 1024


def held_reader(count: int, release: threading.Event, got: list[int]) -> Any:
    """Script: accept, wait for ``release``, then read ``count`` binary frames and close."""

    def script(conn: RawConnection) -> None:
        conn.accept()
        release.wait(TIMEOUT)
        for _ in range(count):
            frame = conn.read_frame(timeout=TIMEOUT)
            assert frame is not None and frame.opcode == Opcode.BINARY
            got.append(int.from_bytes(frame.payload[:4], "big"))
        conn.close_handshake()

    return script


async def test_drain_keeps_buffered_amount_under_the_limit(scripted_server: Any) -> None:
    count, got, release = 256, [], threading.Event()  # 16 MiB in all
    server = scripted_server(held_reader(count, release, got))
    peak = 0
    # The server starts reading later: drain() has to wait for it meanwhile.
    timer = threading.Timer(0.3, release.set)
    timer.start()
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(server.url(), compression=None, ping_interval=None) as ws:
            assert ws.bufferedAmount == 0
            for index in range(count):
                ws.send(index.to_bytes(4, "big") + bytes(CHUNK - 4))
                peak = max(peak, ws.bufferedAmount)
                await ws.drain()
                assert ws.bufferedAmount <= 64 * 1024
            await ws.wait_closed()
    server.wait_scripts()
    assert got == list(range(count))
    # Never more than the limit plus the message being sent.
    assert peak <= 64 * 1024 + CHUNK


async def test_write_limit_option(scripted_server: Any) -> None:
    count, got, release = 32, [], threading.Event()
    server = scripted_server(held_reader(count, release, got))
    with anyio.fail_after(TIMEOUT):
        ws = WebSocket(server.url(), compression=None, ping_interval=None, write_limit=0)
        async with ws:
            release.set()
            for index in range(count):
                ws.send(index.to_bytes(4, "big") + bytes(CHUNK - 4))
                await ws.drain()
                assert ws.bufferedAmount == 0
            await ws.wait_closed()
    assert got == list(range(count))


def test_write_limit_is_checked() -> None:
    for bad in (-1, 1.5, True, "64k"):
        with pytest.raises(ValueError, match="write_limit"):
            WebSocket("ws://127.0.0.1:9/", write_limit=bad)  # type: ignore[arg-type]


async def test_drain_before_the_connection_is_an_invalid_state() -> None:
    with pytest.raises(DOMException) as info:
        await WebSocket("ws://127.0.0.1:9/").drain()
    assert info.value.name == "InvalidStateError"


async def test_drain_returns_at_once_when_nothing_waits() -> None:
    async with serve(echo) as server:
        with anyio.fail_after(TIMEOUT):
            async with WebSocket(server.url) as ws:
                await ws.drain()
                ws.send("hello")
                await ws.drain()
                assert await ws.recv() == "hello"


async def test_drain_raises_once_send_drops_data() -> None:
    async with serve(echo) as server:
        with anyio.fail_after(TIMEOUT):
            async with WebSocket(server.url) as ws:
                ws.close()
                ws.send("too late")  # dropped, as the standard says
                with pytest.raises(ConnectionClosed) as info:
                    await ws.drain()
    assert info.value.wasClean
    assert info.value.unsent == 1


async def test_messages_sent_while_closing_are_counted_as_unsent() -> None:
    async with serve(echo) as server:
        with anyio.fail_after(TIMEOUT):
            async with WebSocket(server.url) as ws:
                ws.send("delivered")
                ws.close(1000)
                ws.send("dropped")
                ws.send(b"dropped too")
                close = await ws.wait_closed()
    assert (close.code, close.wasClean, close.unsent) == (1000, True, 2)
    assert ws.bufferedAmount == len("dropped") + len(b"dropped too")
    assert "unsent=2" in repr(close)


async def test_a_clean_close_reports_nothing_unsent() -> None:
    async with serve(echo) as server:
        with anyio.fail_after(TIMEOUT):
            async with WebSocket(server.url) as ws:
                for index in range(100):
                    ws.send(f"message {index}")
                for _ in range(100):
                    await ws.recv()
    close = await ws.wait_closed()
    assert close.unsent == 0
    assert "unsent" not in repr(close)


async def test_a_failed_connection_reports_the_messages_never_written(
    scripted_server: Any,
) -> None:
    # The server reads a few messages, then resets the connection while the
    # client has megabytes queued: the close event counts the messages that
    # never left, and bufferedAmount their bytes.
    count, read = 256, 8
    release = threading.Event()

    def script(conn: RawConnection) -> None:
        conn.accept()
        release.wait(TIMEOUT)
        for _ in range(read):
            assert conn.read_frame(timeout=TIMEOUT) is not None
        conn.abort()

    server = scripted_server(script)
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(server.url(), compression=None, ping_interval=None) as ws:
            for index in range(count):
                ws.send(index.to_bytes(4, "big") + bytes(CHUNK - 4))
            await anyio.sleep(0.05)
            queued = ws.bufferedAmount
            assert queued > 0
            release.set()
            with pytest.raises(ConnectionClosed) as info:
                await ws.drain()
            close = await ws.wait_closed()
    server.wait_scripts()
    assert (close.code, close.wasClean) == (1006, False)
    assert info.value.unsent == close.unsent
    # Messages the kernel took may be lost too (it does not say); the rest are counted.
    assert 0 < close.unsent <= count - read
    assert ws.bufferedAmount >= close.unsent * (CHUNK - 4)
    assert f"{close.unsent} messages passed to send() never left" in str(info.value)


async def test_a_sent_message_is_not_kept_once_written(scripted_server: Any) -> None:
    # The writer task used to hold the last frame it wrote while it waited for the
    # next one: an idle connection kept its last large message in memory (and, on
    # trio, glibc gave the heap back and took it again on every large round trip).
    size = 8 * 1024 * 1024
    read, done = threading.Event(), threading.Event()

    def script(conn: RawConnection) -> None:
        conn.accept()
        frame = conn.read_frame(timeout=TIMEOUT)
        assert frame is not None and len(frame.payload) == size
        del frame
        read.set()
        done.wait(TIMEOUT)
        conn.close_handshake()

    server = scripted_server(script)
    payload = bytes(size)  # (made before tracing starts: only wsapi's copies count)
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(
            server.url(), compression=None, ping_interval=None, write_limit=0
        ) as ws:
            tracemalloc.start()
            try:
                ws.send(payload)
                await ws.drain()
                assert await anyio.to_thread.run_sync(read.wait, TIMEOUT)
                await anyio.sleep(0.05)  # the writer task is waiting for the next write
                gc.collect()
                held, _ = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
                done.set()
            await ws.wait_closed()
    server.wait_scripts()
    assert held < size // 8, f"{held / 2**20:.1f} MiB still held after the message was written"


async def test_the_rest_of_a_partial_write_is_not_copied(
    scripted_server: Any, anyio_backend_name: str
) -> None:
    # The kernel takes a few MB of a large frame; the rest went to the stream as a
    # slice of bytes, a copy of megabytes (and asyncio's transport copies what it
    # buffers, on Python 3.11 and earlier). Now a view of the frame.
    size = 16 * 1024 * 1024
    release = threading.Event()

    def script(conn: RawConnection) -> None:
        conn.accept()
        release.wait(TIMEOUT)
        frame = conn.read_frame(timeout=TIMEOUT)
        assert frame is not None and len(frame.payload) == size
        del frame
        conn.close_handshake()

    server = scripted_server(script)
    payload = bytes(size)  # (made before tracing starts)
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(server.url(), compression=None, ping_interval=None) as ws:
            tracemalloc.start()
            try:
                ws.send(payload)
                await anyio.sleep(0.2)  # written what the kernel took; the rest waits
                assert ws.bufferedAmount > 0, "the server was meant to be slow"
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
                release.set()
            await ws.drain()
            await ws.wait_closed()
    server.wait_scripts()
    # The frame itself (size), and on asyncio the transport's buffer of the rest.
    limit = size * (2 if anyio_backend_name == "asyncio" else 1.25)
    assert peak < limit, f"peak {peak / 2**20:.1f} MiB while sending {size / 2**20:.0f} MiB"
