# docs/examples/dom_exceptions.py
"""The standard's exceptions: DOMException with .name, raised at once, without I/O."""

import asyncio

from wsapi import DOMException, WebSocket
from wsapi.testing import echo, serve


def show(call):
    try:
        call()
    except DOMException as exc:
        print(f"{exc.name} ({exc.code}): {exc.message}")


async def main() -> None:
    show(lambda: WebSocket("ftp://example.com/"))
    show(lambda: WebSocket("wss://example.com/chat#top"))
    show(lambda: WebSocket("wss://example.com/chat", ["chat", "chat"]))

    async with serve(echo) as server:
        ws = WebSocket(server.url)
        show(lambda: ws.send("too early"))  # still CONNECTING
        async with ws:
            show(lambda: ws.close(1001))  # 1001 is for servers and browsers
            show(lambda: ws.close(1000, "x" * 124))
        ws.send("too late")  # CLOSED: silently dropped, as in the browser
        print("bufferedAmount after the close:", ws.bufferedAmount)


asyncio.run(main())
