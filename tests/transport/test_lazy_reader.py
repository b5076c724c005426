"""The reader task starts only when needed on asyncio's plain TCP (transport/connection.py).

An idle connection is read by the inline receiver alone; the reader task starts
for a listener to await, a full inbox, the closing handshake, a failure, or a
cancelled body. Each of those is checked over real sockets, on both backends
(on trio the reader always runs), and once more under a plain ``asyncio.run()``:
anyio's pytest runner marks the whole test as asyncio for sniffio, which hid
that a protocol callback could not start an anyio task.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from tests.peers.scripted import Opcode, RawConnection
from tests.peers.websockets_server import WebsocketsServer
from wsapi import CloseEvent, ConnectionClosed, KeepaliveTimeout, MessageEvent, WebSocket

pytestmark = pytest.mark.anyio

TIMEOUT = 10.0


def reader_started(ws: WebSocket) -> bool:
    return ws._transport._reader_started


async def test_an_idle_connection_has_no_reader_task_on_asyncio(
    websockets_server: WebsocketsServer, anyio_backend: str
) -> None:
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(websockets_server.url("/echo"), compression=None) as ws:
            ws.send("hello")
            assert await ws.recv() == "hello"  # read inline: no task needed
            assert reader_started(ws) is (anyio_backend == "trio")
        assert ws.readyState == WebSocket.CLOSED
        assert reader_started(ws)  # the closing handshake needed it


async def test_a_listener_starts_the_reader(websockets_server: WebsocketsServer) -> None:
    got: list[str] = []
    done = anyio.Event()

    async def listener(event: MessageEvent) -> None:
        await anyio.lowlevel.checkpoint()  # something to await: the reader task runs it
        got.append(event.data)
        if len(got) == 3:
            done.set()

    with anyio.fail_after(TIMEOUT):
        async with WebSocket(websockets_server.url("/echo"), compression=None) as ws:
            ws.onmessage = listener
            for text in ("a", "b", "c"):
                ws.send(text)
            await done.wait()
            assert reader_started(ws)
    assert got == ["a", "b", "c"]


async def test_a_full_inbox_starts_the_reader(websockets_server: WebsocketsServer) -> None:
    url = websockets_server.url("/send?count=20&size=8")
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(url, compression=None, max_queue=2) as ws:
            await anyio.sleep(0.1)  # the inbox fills; the rest waits for the reader
            got = [message async for message in ws]
    assert len(got) == 20


async def test_the_server_closing_an_idle_connection(websockets_server: WebsocketsServer) -> None:
    closes: list[CloseEvent] = []
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(websockets_server.url("/close?code=4001&reason=bye")) as ws:
            ws.addEventListener("close", closes.append)
            await ws.wait_closed()
    assert [(c.code, c.reason, c.wasClean) for c in closes] == [(4001, "bye", True)]


async def test_keepalive_failing_an_idle_connection(scripted_server: Any) -> None:
    # The server never answers pings: the keepalive task aborts a connection
    # whose reader never started, and the abort starts it to shut down.
    def script(conn: RawConnection) -> None:
        conn.accept()
        while True:
            frame = conn.read_frame()
            if frame is None or frame.opcode == Opcode.CLOSE:
                return

    server = scripted_server(script)
    closes: list[CloseEvent] = []
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(server.url(), ping_interval=0.05, ping_timeout=0.1) as ws:
            ws.addEventListener("close", closes.append)
            with pytest.raises(ConnectionClosed) as caught:
                await ws.recv()
    assert isinstance(caught.value.__cause__, KeepaliveTimeout)
    assert [(c.code, c.wasClean) for c in closes] == [(1006, False)]


async def test_a_cancelled_body_closes_an_idle_connection(scripted_server: Any) -> None:
    seen: list[bytes] = []
    ended = threading.Event()

    def script(conn: RawConnection) -> None:
        conn.accept()
        seen.append(conn.wait_eof())
        ended.set()

    server = scripted_server(script)
    closes: list[CloseEvent] = []
    with anyio.fail_after(TIMEOUT):
        with anyio.move_on_after(0.2):
            async with WebSocket(server.url(), ping_interval=None) as ws:
                ws.addEventListener("close", closes.append)
                await anyio.sleep_forever()
        assert ws.readyState == WebSocket.CLOSED
        await anyio.to_thread.run_sync(ended.wait, TIMEOUT)
    assert [(c.code, c.wasClean) for c in closes] == [(1006, False)]
    server.wait_scripts()


async def test_the_closing_handshake_at_the_end_runs_in_the_host_task(
    websockets_server: WebsocketsServer, anyio_backend: str
) -> None:
    # On asyncio the end of the ``async with`` reads the server's Close itself
    # (no task spawned to be awaited at once); on trio the reader task does.
    where: list[int] = []
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(websockets_server.url("/echo"), compression=None) as ws:
            ws.addEventListener("close", lambda event: where.append(anyio.get_current_task().id))
            ws.send("x")
            assert await ws.recv() == "x"
            host = anyio.get_current_task().id
    assert ws.readyState == WebSocket.CLOSED
    assert len(where) == 1
    assert (where[0] == host) is (anyio_backend == "asyncio")
    assert (ws._transport._reader_in_caller, reader_started(ws)) == (False, True)


async def test_cancelled_while_the_end_waits_for_the_servers_close(scripted_server: Any) -> None:
    # The server reads our Close and never answers: the host task, reading the
    # closing handshake itself on asyncio, is cancelled from outside.
    got: list[tuple[int | None, str] | None] = []
    ended = threading.Event()

    def script(conn: RawConnection) -> None:
        conn.accept()
        got.append(conn.read_close())
        conn.wait_eof()
        ended.set()

    server = scripted_server(script)
    closes: list[CloseEvent] = []
    with anyio.fail_after(TIMEOUT):
        with anyio.move_on_after(0.3) as scope:
            async with WebSocket(server.url(), ping_interval=None, close_timeout=None) as ws:
                ws.addEventListener("close", closes.append)
        assert scope.cancelled_caught
        assert ws.readyState == WebSocket.CLOSED
        await anyio.to_thread.run_sync(ended.wait, TIMEOUT)
    assert got == [(1000, "")]
    assert [(c.code, c.wasClean) for c in closes] == [(1006, False)]
    assert "cancelled" in str(ws._close_error)
    server.wait_scripts()


async def test_a_close_listener_that_never_returns_gets_close_timeout(
    websockets_server: WebsocketsServer,
) -> None:
    # A cancelled body: the connection is shut down (shielded) and the close
    # event delivered then; its listener gets close_timeout, not forever.
    started = anyio.Event()

    async def stuck(event: CloseEvent) -> None:
        started.set()
        await anyio.sleep_forever()

    with anyio.fail_after(TIMEOUT):
        begun = anyio.current_time()
        with anyio.move_on_after(0.2):
            async with WebSocket(websockets_server.url("/echo"), close_timeout=0.3) as ws:
                ws.addEventListener("close", stuck)
                await anyio.sleep_forever()
        elapsed = anyio.current_time() - begun
    assert started.is_set()
    assert ws.readyState == WebSocket.CLOSED
    assert ws._transport.is_closed
    assert 0.5 <= elapsed < 3


SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from wsapi import WebSocket

    async def main(url):
        got = []
        done = asyncio.Event()

        async def listener(event):
            await asyncio.sleep(0)
            got.append(event.data)
            if len(got) == 2:
                done.set()

        async with WebSocket(url, compression=None) as ws:
            ws.send("inline")
            print(await ws.recv())
            ws.onmessage = listener
            ws.send("one")
            ws.send("two")
            await asyncio.wait_for(done.wait(), 10)
        print(got, ws.readyState)
        async with WebSocket(url.replace("/echo", "/close?code=4002")) as ws:
            event = await ws.wait_closed()
        print(event.code, event.wasClean)

    asyncio.run(main(sys.argv[1]))
    """
)


def test_plain_asyncio_run(websockets_server: WebsocketsServer) -> None:
    # No anyio test runner here: what a user's asyncio.run() program does.
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, websockets_server.url("/echo")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stderr == ""
    assert result.stdout.splitlines() == ["inline", "['one', 'two'] 3", "4002 True"]


@pytest.mark.parametrize("pause", [0.0, 0.05])
async def test_an_open_listener_that_closes_and_awaits(
    websockets_server: WebsocketsServer, pause: float
) -> None:
    # The listener runs before the transport starts its tasks: close() then only
    # queues the Close frame, and the start sees the closing handshake through
    # (it crashed the reader task with an assertion before).
    ws = WebSocket(websockets_server.url("/echo"), compression=None)
    closes: list[CloseEvent] = []

    async def on_open(event: object) -> None:
        ws.close(4000, "changed my mind")
        await anyio.sleep(pause)

    ws.addEventListener("open", on_open)
    ws.addEventListener("close", closes.append)
    with anyio.fail_after(10):
        async with ws:
            await ws.wait_closed()
    assert [(event.code, event.reason, event.wasClean) for event in closes] == [
        (4000, "changed my mind", True)
    ]
    assert ws.readyState == WebSocket.CLOSED
