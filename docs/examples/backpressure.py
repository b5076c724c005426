# docs/examples/backpressure.py
"""Flow control in both directions: bufferedAmount for sending, max_queue for receiving."""

import asyncio

from wsapi import WebSocket
from wsapi.testing import echo, serve


async def send_politely(ws, chunks, high_water=256 * 1024):
    """send() never blocks: watch bufferedAmount so memory stays bounded."""
    for chunk in chunks:
        while ws.bufferedAmount > high_water:
            await asyncio.sleep(0.001)  # let the writer drain the queue
        ws.send(chunk)


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

        await send_politely(ws, [b"\x01" * 100_000] * 20)
        sizes = [len(await ws.recv()) for _ in range(20)]
        print("echoed back:", sum(sizes), "bytes")

    async with serve(count_to) as server, WebSocket(server.url, max_queue=4) as ws:
        # Nobody reads for a while: 4 messages wait in the queue, and the reader
        # stops reading the socket until recv() makes room.
        await asyncio.sleep(0.2)
        received = [int(await ws.recv()) for _ in range(50)]
        print("received in order:", received == list(range(50)))


asyncio.run(main())
