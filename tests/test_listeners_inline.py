"""Message listeners that are not coroutine functions run as the message arrives.

On asyncio's plain TCP the event loop's callback dispatches each message to
them (the browser's way): no task is woken per message, and what a listener
sends goes out before the callback returns, one loop iteration per round trip.
The order of listeners and messages, the reporting of their exceptions and the
handing on of an awaitable a listener returns are those of the reader task's
dispatch (under trio, and for async listeners, the only one).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import anyio
import pytest

from tests.loop_iterations import counting_selects
from tests.peers.scripted import Opcode, RawConnection, frame_bytes
from wsapi import MessageEvent, WebSocket

pytestmark = pytest.mark.anyio

TIMEOUT = 10.0


async def test_a_listener_answers_each_message(websockets_server: Any) -> None:
    count, got, done = 200, [], anyio.Event()
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(websockets_server.url("/echo"), compression=None) as ws:

            def on_message(event: MessageEvent) -> None:
                got.append(event.data)
                if len(got) < count:
                    ws.send(f"message {len(got)}")
                else:
                    done.set()

            ws.onmessage = on_message
            ws.send("message 0")
            await done.wait()
    assert got == [f"message {index}" for index in range(count)]


async def test_a_round_trip_through_a_listener_takes_one_loop_iteration(
    websockets_server: Any, anyio_backend: str
) -> None:
    # The answer a listener sends is written as the callback that read the message
    # returns: no end-of-turn callback, no task woken (asyncio's own loop).
    count, seen = 50, [0]
    done = anyio.Event()
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(websockets_server.url("/echo"), compression=None) as ws:
            ws.send("warm-up")
            assert await ws.recv() == "warm-up"

            def on_message(event: MessageEvent) -> None:
                seen[0] += 1
                if seen[0] < count:
                    ws.send("ping")
                else:
                    done.set()

            with counting_selects(anyio_backend) as selects:
                ws.onmessage = on_message
                ws.send("ping")
                await done.wait()
            ws.onmessage = None
    assert seen[0] == count
    if anyio_backend == "asyncio":
        # (Two per round trip through recv(): test_direct.py.)
        assert selects[0] <= count + 3, selects[0]


def burst(count: int, closed: list[tuple[int, str] | None]) -> Any:
    """Script: send ``count`` text frames at once, then answer the client's Close."""

    def script(conn: RawConnection) -> None:
        conn.accept()
        conn.send_raw(b"".join(frame_bytes(Opcode.TEXT, str(i).encode()) for i in range(count)))
        closed.append(conn.read_close(timeout=TIMEOUT))

    return script


async def test_an_awaitable_a_listener_returns_keeps_the_order(scripted_server: Any) -> None:
    # The second listener is a plain function that returns a coroutine: the rest
    # of that message's dispatch, and every message after it, wait for it.
    count, calls, closed, done = 5, [], [], anyio.Event()
    server = scripted_server(burst(count, closed))

    async def later(data: str) -> None:
        await anyio.sleep(0.01)
        calls.append(f"b{data}")

    with anyio.fail_after(TIMEOUT):
        async with WebSocket(server.url(), compression=None, ping_interval=None) as ws:
            ws.addEventListener("message", lambda event: calls.append(f"a{event.data}"))
            ws.addEventListener("message", lambda event: later(event.data))
            ws.addEventListener("message", lambda event: calls.append(f"c{event.data}"))
            ws.addEventListener(
                "message", lambda event: done.set() if len(calls) == 3 * count else None
            )
            await done.wait()
    server.wait_scripts()
    assert calls == [f"{name}{i}" for i in range(count) for name in "abc"]
    assert closed == [(1000, "")]


async def test_a_listener_that_raises_is_reported_and_the_rest_run(
    scripted_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    count, calls, closed, done = 3, [], [], anyio.Event()
    server = scripted_server(burst(count, closed))

    def failing(event: MessageEvent) -> None:
        raise RuntimeError(f"listener failed on {event.data}")

    with anyio.fail_after(TIMEOUT), caplog.at_level(logging.ERROR, logger="wsapi"):
        async with WebSocket(server.url(), compression=None, ping_interval=None) as ws:
            ws.addEventListener("message", failing)
            ws.addEventListener("message", lambda event: calls.append(event.data))
            ws.addEventListener(
                "message", lambda event: done.set() if len(calls) == count else None
            )
            await done.wait()
    server.wait_scripts()
    assert calls == [str(i) for i in range(count)]
    failures = [r for r in caplog.records if "Exception in 'message' listener" in r.getMessage()]
    assert len(failures) == count
    assert "listener failed on 0" in str(failures[0].exc_info[1])  # type: ignore[index]


async def test_a_listener_that_closes_the_connection(websockets_server: Any) -> None:
    closes: list[tuple[int, bool]] = []
    got: list[str] = []
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(websockets_server.url("/echo"), compression=None) as ws:

            def on_message(event: MessageEvent) -> None:
                got.append(event.data)
                ws.close(4000, "enough")

            ws.onmessage = on_message
            ws.onclose = lambda event: closes.append((event.code, event.wasClean))
            ws.send("one")
            await ws.wait_closed()
    assert got == ["one"]
    assert closes == [(4000, True)]


async def test_a_listener_may_use_anyio(websockets_server: Any) -> None:
    # Outside any task (an event loop callback on asyncio), anyio still knows its
    # library: a listener can make an event, start a task in a task group, read the clock.
    woken: list[str] = []
    got = anyio.Event()

    async def note(data: str) -> None:
        woken.append(data)
        got.set()

    with anyio.fail_after(TIMEOUT):
        async with (
            anyio.create_task_group() as group,
            WebSocket(websockets_server.url("/echo"), compression=None) as ws,
        ):

            def on_message(event: MessageEvent) -> None:
                anyio.Event()
                anyio.current_time()
                group.start_soon(note, event.data)

            ws.onmessage = on_message
            ws.send("hello")
            await got.wait()
    assert woken == ["hello"]


async def test_async_listeners_still_apply_backpressure(scripted_server: Any) -> None:
    # An async listener is awaited before the next message is dispatched, as before.
    count, calls, closed, done = 4, [], [], anyio.Event()
    server = scripted_server(burst(count, closed))
    running = threading.Lock()

    async def slow(event: MessageEvent) -> None:
        assert running.acquire(blocking=False), "two dispatches at once"
        try:
            calls.append(f"start {event.data}")
            await anyio.sleep(0.01)
            calls.append(f"end {event.data}")
        finally:
            running.release()
        if len(calls) == 2 * count:
            done.set()

    with anyio.fail_after(TIMEOUT):
        async with WebSocket(server.url(), compression=None, ping_interval=None) as ws:
            ws.onmessage = slow
            await done.wait()
    server.wait_scripts()
    assert calls == [f"{step} {i}" for i in range(count) for step in ("start", "end")]


async def test_messages_before_a_protocol_error_reach_the_listener(scripted_server: Any) -> None:
    # Valid messages, then invalid UTF-8, in one read: the listener gets the valid
    # ones in the callback, then the failure goes the usual way (error, close 1006;
    # 1007 on the wire).
    closed: list[tuple[int | None, str] | None] = []

    def script(conn: RawConnection) -> None:
        conn.accept()
        conn.send_raw(
            frame_bytes(Opcode.TEXT, b"0")
            + frame_bytes(Opcode.TEXT, b"1")
            + frame_bytes(Opcode.TEXT, b"caf\xc3\x28")
        )
        closed.append(conn.read_close(timeout=TIMEOUT))

    server = scripted_server(script)
    got: list[str] = []
    events: list[tuple[str, int | None]] = []
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(server.url(), compression=None, ping_interval=None) as ws:
            ws.onmessage = lambda event: got.append(event.data)
            ws.onerror = lambda event: events.append(("error", None))
            ws.onclose = lambda event: events.append(("close", event.code))
            await ws.wait_closed()
    server.wait_scripts()
    assert got == ["0", "1"]
    assert events == [("error", None), ("close", 1006)]
    assert closed and closed[0] is not None and closed[0][0] == 1007
