# docs/examples/backpressure.py
"""Flow control in both directions: drain() for sending, max_queue for receiving."""

import asyncio

from wsapi import WebSocket
from wsapi.testing import echo, serve


async def send_all(ws, chunks):
    """send() never blocks: drain() waits while more than write_limit bytes are unsent."""
    for chunk in chunks:
        ws.send(chunk)
        await ws.drain()
        assert ws.bufferedAmount <= 64 * 1024  # the default write_limit


async def count_to(conn):
    for number in range(50):
        await conn.send(str(number))
    async for _ in conn:  # then wait for the client to leave
        pass


async def main() -> None:
    async with serve(echo) as server, WebSocket(server.url) as ws:
        ws.send(b"\x00" * 1_000_000)
        print("bufferedAmount right after send():", ws.bufferedAmount)
        await ws.recv()  # the echo: our message has long been written
        print("bufferedAmount once written:", ws.bufferedAmount)

        await send_all(ws, [b"\x01" * 100_000] * 20)
        sizes = [len(await ws.recv()) for _ in range(20)]
        print("echoed back:", sum(sizes), "bytes")

    async with serve(count_to) as server, WebSocket(server.url, max_queue=4) as ws:
        # Nobody reads for a while: 4 messages wait in the queue, and the reader
        # stops reading the socket until recv() makes room.
        await asyncio.sleep(0.2)
        received = [int(await ws.recv()) for _ in range(50)]
        print("received in order:", received == list(range(50)))


asyncio.run(main())
