"""``wsapi demo``: an echo round trip against the embedded server, printed event by event.

It shows the API at work on a machine with nothing else installed: the
embedded server from ``wsapi.testing`` listens on 127.0.0.1, a ``WebSocket``
connects to it, and every event it sees is printed.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio

from ..events import CloseEvent, Event, MessageEvent
from ..testing import echo, serve
from ..websocket import WebSocket

__all__ = ["run_demo"]

MESSAGES: tuple[str | bytes, ...] = ("Hello from wsapi!", b"\x00\x01\x02\x03", '{"json": true}')


def _show(data: str | bytes) -> str:
    if isinstance(data, str):
        return f"text   {data!r}"
    return f"binary {len(data)} bytes {data!r}"


async def run_demo(out: Callable[[str], None] = print) -> int:
    """Run the demo; return the exit status (0 when the echo and close went as expected)."""
    async with serve(echo) as server:
        out(f"echo server   listening on {server.url}")
        ws = WebSocket(server.url)
        received: list[str | bytes] = []
        done = anyio.Event()

        def on_open(event: Event) -> None:
            out(f"open          protocol={ws.protocol!r} extensions={ws.extensions!r}")

        def on_message(event: MessageEvent) -> None:
            received.append(event.data)
            out(f"message       {_show(event.data)}")
            if len(received) == len(MESSAGES):
                done.set()

        def on_close(event: CloseEvent) -> None:
            out(
                f"close         code={event.code} reason={event.reason!r} wasClean={event.wasClean}"
            )

        ws.onopen = on_open
        ws.onmessage = on_message
        ws.onerror = lambda event: out(f"error         {event.message}")
        ws.onclose = on_close
        async with ws:
            for message in MESSAGES:
                out(f"send          {_show(message)}")
                ws.send(message)
            with anyio.fail_after(10):
                await done.wait()
            ws.close(1000, "demo done")
            close = await ws.wait_closed()
    ok = received == list(MESSAGES) and close.code == 1000 and close.wasClean
    out("demo finished: every message came back" if ok else "demo FAILED")
    return 0 if ok else 1
