# docs/examples/message_too_big.py
"""max_message_size holds while decompressing: a few kilobytes cannot inflate to gigabytes."""

import asyncio

from wsapi import ConnectionClosed, MessageTooBig, WebSocket
from wsapi.testing import serve


async def send_zeros(conn):
    await conn.send("0" * 10_000_000)  # compresses to about 10 kB on the wire
    async for _ in conn:
        pass


async def receive(url, **options):
    async with WebSocket(url, **options) as ws:
        print("extensions:", ws.extensions)
        try:
            data = await ws.recv()
            print("received", len(data), "characters")
        except ConnectionClosed as exc:
            error = exc.__cause__  # what failed the connection
            assert isinstance(error, MessageTooBig)
            print("closed with", exc.code, "because:", error)


async def main() -> None:
    async with serve(send_zeros) as server:
        await receive(server.url)  # the default limit is 16 MiB
        await receive(server.url, max_message_size=1_000_000)


asyncio.run(main())
