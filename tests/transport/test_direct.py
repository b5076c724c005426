"""The direct write path (transport/direct.py): plain TCP only, order and accounting kept."""

from __future__ import annotations

import socket
import threading
from typing import Any

import anyio
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream
from anyio.streams.stapled import StapledByteStream

from tests.loop_iterations import counting_selects
from tests.peers.scripted import Opcode, RawConnection
from wsapi import WebSocket
from wsapi.testing import echo, serve
from wsapi.transport.direct import direct_writer

pytestmark = pytest.mark.anyio

TIMEOUT = 10.0


async def test_plain_tcp_has_a_direct_writer() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        async with await anyio.connect_tcp("127.0.0.1", port) as stream:
            write = direct_writer(stream)
            assert write is not None
            peer, _ = listener.accept()
            with peer:
                assert write(b"hello") == 5
                assert peer.recv(100) == b"hello"


async def test_other_streams_have_none() -> None:
    send, receive = anyio.create_memory_object_stream[bytes](1)
    async with send, receive:
        stream = StapledByteStream(send, BufferedByteReceiveStream(receive))  # type: ignore[arg-type]
        assert direct_writer(stream) is None


async def test_a_websocket_on_plain_tcp_writes_directly() -> None:
    async with serve(echo) as server:
        with anyio.fail_after(TIMEOUT):
            async with WebSocket(server.url, compression=None) as ws:
                assert ws._transport.writer is not None
                assert ws._transport.writer._direct is not None
                for index in range(200):
                    ws.send(f"message {index}")
                assert [await ws.recv() for _ in range(200)] == [
                    f"message {index}" for index in range(200)
                ]
                assert ws.bufferedAmount == 0


async def test_order_holds_when_the_socket_is_full(scripted_server: Any) -> None:
    # The server reads nothing for a while: direct writes fill the socket, the
    # rest waits for the writer task, and nothing is reordered or lost.
    count, size = 64, 256 * 1024  # 16 MiB: more than loopback's socket buffers hold
    got: list[bytes] = []
    release = threading.Event()

    def script(conn: RawConnection) -> None:
        conn.accept()
        release.wait(TIMEOUT)
        for _ in range(count):
            frame = conn.read_frame()
            assert frame is not None and frame.opcode == Opcode.BINARY
            got.append(frame.payload[:4])
        conn.send_frame(Opcode.TEXT, b"done")
        assert conn.read_close() == (1000, "")

    server = scripted_server(script)
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(server.url(), compression=None, ping_interval=None) as ws:
            for index in range(count):
                ws.send(index.to_bytes(4, "big") + bytes(size - 4))
            await anyio.sleep(0.05)
            assert ws.bufferedAmount > 0
            release.set()
            assert await ws.recv() == "done"
            assert ws.bufferedAmount == 0
    server.wait_scripts()
    assert got == [index.to_bytes(4, "big") for index in range(count)]


async def test_a_round_trip_takes_two_event_loop_iterations(
    websockets_server: Any, anyio_backend: str
) -> None:
    # send() then recv(): recv() writes the turn's frames itself before waiting,
    # instead of leaving them to an end-of-turn callback, which would cost the
    # event loop a third iteration per round trip (asyncio's own loop only).
    count = 50
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(websockets_server.url("/echo"), compression=None) as ws:
            ws.send("warm-up")
            assert await ws.recv() == "warm-up"
            with counting_selects(anyio_backend) as selects:
                for index in range(count):
                    ws.send(f"ping {index}")
                    assert await ws.recv() == f"ping {index}"
            assert ws.bufferedAmount == 0
    if anyio_backend == "asyncio":
        assert selects[0] <= 2 * count + 2, selects[0]


async def test_recv_leaves_another_tasks_frames_to_the_end_of_the_turn(
    websockets_server: Any,
) -> None:
    # Task A wakes task B, then sends: A's end-of-turn callback is queued after
    # B's wake-up. B's recv() must not take A's callback off the loop's queue:
    # the loop is running that queue (on asyncio it would crash the loop).
    woken = anyio.Event()
    got: list[str] = []
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(websockets_server.url("/echo"), compression=None) as ws:

            async def b() -> None:
                await woken.wait()
                assert ws.bufferedAmount == len("from a")  # A's turn is not over for B
                got.append(await ws.recv())

            async with anyio.create_task_group() as group:
                group.start_soon(b)
                await anyio.sleep(0.05)  # B waits on the event
                woken.set()
                ws.send("from a")
                await anyio.sleep(0.05)
    assert got == ["from a"]
