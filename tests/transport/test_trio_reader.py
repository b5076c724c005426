"""Reading the raw socket under trio (transport/trio_reader.py), over real sockets.

On asyncio the inline receiver reads; the same checks hold there.
"""

from __future__ import annotations

import socket
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from tests.peers.scripted import Opcode, RawConnection
from wsapi import CloseEvent, ConnectionClosed, ConnectionLost, WebSocket
from wsapi.transport.trio_reader import TrioSocketReader, trio_socket_reader

pytestmark = pytest.mark.anyio

TIMEOUT = 10.0


async def test_only_trio_plain_tcp_gets_one(anyio_backend: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        stream = await anyio.connect_tcp("127.0.0.1", listener.getsockname()[1])
        async with stream:
            reader = trio_socket_reader(stream)
            assert isinstance(reader, TrioSocketReader) is (anyio_backend == "trio")


# trio's checkpoint rules (on asyncio the inline receiver reads: see inline.py).
@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_a_read_with_data_waiting_is_still_a_checkpoint() -> None:
    import trio.testing

    from wsapi.protocol.connection import ClientProtocol
    from wsapi.protocol.handshake import HandshakeRequest

    protocol = ClientProtocol(HandshakeRequest("ws://127.0.0.1/", "127.0.0.1", "/"))
    left, right = socket.socketpair()
    with left, right:
        left.setblocking(False)
        reader = TrioSocketReader(left, trio)
        right.sendall(b"x" * 1000)
        await trio.sleep(0.05)
        with trio.testing.assert_checkpoints():
            assert await reader.receive(protocol, 100) == b"x" * 100
        right.close()
        await reader.receive(protocol, 10_000)
        with pytest.raises(anyio.EndOfStream):
            await reader.receive(protocol, 10_000)


async def test_a_flooding_server_does_not_starve_other_tasks(scripted_server: Any) -> None:
    # Every read is followed by a schedule point, as trio's own recv() does.
    count = 20_000

    def script(conn: RawConnection) -> None:
        conn.accept()
        frame = bytes([0x82, 100]) + b"f" * 100
        conn.send_raw(frame * count)
        conn.close_handshake()

    server = scripted_server(script)
    ticks = 0
    received = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await anyio.lowlevel.checkpoint()
            ticks += 1

    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(ticker)
            async with WebSocket(server.url(), compression=None, max_queue=count + 1) as ws:
                async for _ in ws:
                    received += 1
            tg.cancel_scope.cancel()
    assert received == count
    assert ticks > 10  # the ticker ran while the flood was read


async def test_a_reset_while_waiting_is_connection_lost(scripted_server: Any) -> None:
    def script(conn: RawConnection) -> None:
        conn.accept()
        conn.send_frame(Opcode.TEXT, b"one")
        conn.abort()

    server = scripted_server(script)
    closes: list[CloseEvent] = []
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(server.url(), compression=None) as ws:
            ws.addEventListener("close", closes.append)
            assert await ws.recv() == "one"
            with pytest.raises(ConnectionClosed) as caught:
                await ws.recv()
    assert isinstance(caught.value.__cause__, ConnectionLost)
    assert [(c.code, c.wasClean) for c in closes] == [(1006, False)]
    server.wait_scripts()
