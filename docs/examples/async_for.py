# docs/examples/async_for.py
"""async with, send(), async for: the Pythonic way, on asyncio."""

import asyncio

from wsapi import WebSocket
from wsapi.testing import echo, serve


async def chat(url: str) -> None:
    async with WebSocket(url, ["chat"]) as ws:
        print("open, protocol:", ws.protocol)
        for text in ["one", "two", "three"]:
            ws.send(text)  # never blocks: the frame is queued
        async for data in ws:  # ends without error after a clean close
            print("received:", data)
            if data == "three":
                ws.close(1000, "bye")
    close = await ws.wait_closed()
    print("closed:", close.code, close.reason, close.wasClean)


async def main() -> None:
    async with serve(echo, subprotocols=["chat"]) as server:
        await chat(server.url)


asyncio.run(main())
