"""Large single-frame messages read into place over real sockets (transport/inplace.py).

A scripted server sends one frame in pieces with pauses, so the client really
reads it across many reads; the checks are on what the application gets and on
what went over the wire, on both backends.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import anyio
import pytest

from tests.peers.scripted import Opcode, RawConnection, frame_bytes
from wsapi import CloseEvent, ConnectionClosed, ConnectionLost, InvalidUTF8, WebSocket
from wsapi.protocol.connection import ClientProtocol
from wsapi.transport.inplace import InPlaceReader

pytestmark = pytest.mark.anyio

TIMEOUT = 10.0
SIZE = 3 * 2**20


def pattern(size: int) -> bytes:
    return bytes(range(251)) * (size // 251) + b"!" * (size % 251)


def dribble(conn: RawConnection, data: bytes, pieces: int, pause: float = 0.01) -> None:
    step = -(-len(data) // pieces)
    for start in range(0, len(data), step):
        conn.send_raw(data[start : start + step])
        time.sleep(pause)


@pytest.fixture
def reads_into_place(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The counts passed to ``ClientProtocol.received_into`` (a spy, not a fake)."""
    counts: list[int] = []
    original = ClientProtocol.received_into

    def spy(self: ClientProtocol, count: int) -> None:
        counts.append(count)
        original(self, count)

    monkeypatch.setattr(ClientProtocol, "received_into", spy)
    return counts


async def test_a_large_binary_message_is_read_into_place(
    scripted_server: Any, reads_into_place: list[int]
) -> None:
    payload = pattern(SIZE)
    midway = threading.Event()
    checked = threading.Event()

    def script(conn: RawConnection) -> None:
        conn.accept()
        data = frame_bytes(Opcode.BINARY, payload) + frame_bytes(Opcode.TEXT, b"after")
        dribble(conn, data[: len(data) // 2], 8)
        midway.set()
        checked.wait(TIMEOUT)
        dribble(conn, data[len(data) // 2 :], 8)
        assert conn.read_close() == (1000, "")

    server = scripted_server(script)
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(server.url(), compression=None) as ws:
            await anyio.to_thread.run_sync(midway.wait, TIMEOUT)
            await anyio.sleep(0.05)
            reader = ws._transport._reader
            assert reader is not None
            inline = reader.inline
            if inline is not None:  # asyncio: the transport reads through InPlaceReader
                assert isinstance(inline._transport.get_protocol(), InPlaceReader)
            checked.set()
            assert await ws.recv() == payload
            assert await ws.recv() == "after"
            if inline is not None:  # and is given back to the inline receiver
                assert inline._transport.get_protocol() is inline
    server.wait_scripts()
    # Most of the payload went straight into place, in more than one read.
    assert len(reads_into_place) > 1
    assert sum(reads_into_place) > SIZE // 2


async def test_a_large_text_message_arrives_across_reads(scripted_server: Any) -> None:
    text = "€uro " * (SIZE // 7)

    def script(conn: RawConnection) -> None:
        conn.accept()
        dribble(conn, frame_bytes(Opcode.TEXT, text.encode()), 50, pause=0.001)
        conn.close_handshake()

    server = scripted_server(script)
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(server.url(), compression=None) as ws:
            assert await ws.recv() == text
            with pytest.raises(ConnectionClosed):
                await ws.recv()
    server.wait_scripts()


async def test_the_message_and_the_close_frame_in_one_write(scripted_server: Any) -> None:
    payload = pattern(SIZE)
    closes: list[CloseEvent] = []

    def script(conn: RawConnection) -> None:
        conn.accept()
        data = frame_bytes(Opcode.BINARY, payload)
        conn.send_raw(data[:10_000])
        time.sleep(0.05)
        conn.send_raw(data[10_000:] + frame_bytes(Opcode.CLOSE, b"\x03\xe8bye"))
        assert conn.read_close() == (1000, "bye")

    server = scripted_server(script)
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(server.url(), compression=None) as ws:
            ws.addEventListener("close", closes.append)
            assert await ws.recv() == payload
            await ws.wait_closed()
    server.wait_scripts()
    assert [(c.code, c.reason, c.wasClean) for c in closes] == [(1000, "bye", True)]


async def test_the_server_vanishing_mid_message(scripted_server: Any) -> None:
    closes: list[CloseEvent] = []

    def script(conn: RawConnection) -> None:
        conn.accept()
        dribble(conn, frame_bytes(Opcode.BINARY, pattern(SIZE))[: SIZE // 2], 4)
        conn.abort()

    server = scripted_server(script)
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(server.url(), compression=None) as ws:
            ws.addEventListener("close", closes.append)
            with pytest.raises(ConnectionClosed) as caught:
                await ws.recv()
    server.wait_scripts()
    assert isinstance(caught.value.__cause__, ConnectionLost)
    assert [(c.code, c.wasClean) for c in closes] == [(1006, False)]


async def test_invalid_utf8_fails_before_the_rest_arrives(scripted_server: Any) -> None:
    payload = b"a" * 100_000 + b"\xc0\xaf" + b"b" * (SIZE - 100_002)
    got: list[tuple[int | None, str] | None] = []

    def script(conn: RawConnection) -> None:
        conn.accept()
        conn.send_raw(frame_bytes(Opcode.TEXT, payload)[:200_000])
        # The rest is never sent: the client must fail on what it has.
        got.append(conn.read_close())

    server = scripted_server(script)
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(server.url(), compression=None) as ws:
            with pytest.raises(ConnectionClosed) as caught:
                await ws.recv()
    server.wait_scripts()
    assert isinstance(caught.value.__cause__, InvalidUTF8)
    assert got == [(1007, "invalid UTF-8")]


async def test_closing_while_a_large_message_arrives(scripted_server: Any) -> None:
    closes: list[CloseEvent] = []
    midway = threading.Event()

    def script(conn: RawConnection) -> None:
        conn.accept()
        data = frame_bytes(Opcode.BINARY, pattern(SIZE))
        dribble(conn, data[:100_000], 2)
        midway.set()
        dribble(conn, data[100_000:], 10)
        assert conn.read_close() == (1000, "done")
        conn.send_close(1000, "done")

    server = scripted_server(script)
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(server.url(), compression=None) as ws:
            ws.addEventListener("close", closes.append)
            await anyio.to_thread.run_sync(midway.wait, TIMEOUT)
            ws.close(1000, "done")
            await ws.wait_closed()
    server.wait_scripts()
    assert [(c.code, c.reason, c.wasClean) for c in closes] == [(1000, "done", True)]


def test_in_place_reader_is_a_buffered_protocol() -> None:
    # asyncio picks recv_into() for a BufferedProtocol when it is set on the transport.
    assert issubclass(InPlaceReader, asyncio.BufferedProtocol)


async def test_a_rest_that_one_read_brings_is_not_read_in_place_on_asyncio(
    scripted_server: Any, reads_into_place: list[int], anyio_backend: str
) -> None:
    # 150 KB left after the first piece: it comes with the next frame in one
    # read (one wake-up), rather than by itself into place and then the rest.
    payload = pattern(200_000)

    def script(conn: RawConnection) -> None:
        conn.accept()
        data = frame_bytes(Opcode.BINARY, payload) + frame_bytes(Opcode.TEXT, b"next")
        conn.send_raw(data[:50_000])
        time.sleep(0.05)
        conn.send_raw(data[50_000:])
        assert conn.read_close() == (1000, "")

    server = scripted_server(script)
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(server.url(), compression=None) as ws:
            assert await ws.recv() == payload
            assert await ws.recv() == "next"
    server.wait_scripts()
    if anyio_backend == "asyncio":
        assert reads_into_place == []
