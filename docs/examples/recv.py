# docs/examples/recv.py
"""async with and recv(), on trio."""

import trio

from wsapi import ConnectionClosed, WebSocket
from wsapi.testing import echo, serve


async def chat(url: str) -> None:
    async with WebSocket(url, ["chat"]) as ws:
        ws.send("Hello!")
        print("received:", await ws.recv())  # str for text messages
        ws.send(b"\x00\x01")
        print("received:", await ws.recv())  # bytes for binary messages
        ws.close(1000, "bye")
        try:
            await ws.recv()
        except ConnectionClosed as exc:  # raised once closed and drained
            print("recv() raised:", exc)


async def main() -> None:
    async with serve(echo, subprotocols=["chat"]) as server:
        await chat(server.url)


trio.run(main)
