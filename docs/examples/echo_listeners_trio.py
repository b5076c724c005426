# docs/examples/echo_listeners_trio.py
"""The browser's example, with listeners, on trio."""

import trio

from wsapi import WebSocket
from wsapi.testing import echo, serve


async def chat(url: str) -> None:
    ws = WebSocket(url, ["chat"])

    def on_open(event):
        print("open, protocol:", ws.protocol)
        ws.send("Hello!")

    def on_message(event):
        print("received:", event.data)
        ws.close(1000, "bye")

    def on_close(event):
        print("closed:", event.code, event.reason, event.wasClean)

    ws.onopen = on_open
    ws.onmessage = on_message
    ws.onclose = on_close
    async with ws:  # connects, fires "open", runs the block
        await ws.wait_closed()  # keeps the connection alive until "close"


async def main() -> None:
    # A local echo server from wsapi.testing (127.0.0.1, a free port).
    async with serve(echo, subprotocols=["chat"]) as server:
        await chat(server.url)


trio.run(main)
