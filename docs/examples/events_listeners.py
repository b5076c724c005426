# docs/examples/events_listeners.py
"""Every kind of listener, and the order in which events arrive."""

import asyncio

from wsapi import WebSocket
from wsapi.testing import echo, serve


class Recorder:
    """An object with handleEvent, as the DOM's EventListener interface."""

    def handleEvent(self, event):
        print(f"  Recorder.handleEvent: {event.type}")


async def main() -> None:
    async with serve(echo) as server:
        ws = WebSocket(server.url)
        done = asyncio.Event()

        def log(event):  # a plain function
            if event.type == "message":
                print(f"message: {event.data}")
            else:
                print(event.type)

        async def slow(event):  # a coroutine function: awaited in order
            await asyncio.sleep(0.01)
            print(f"  async listener done with {event.data!r}")
            if event.data == "second":
                done.set()

        for kind in ("open", "message", "close"):
            ws.addEventListener(kind, log)
        ws.addEventListener("message", log)  # already there: not added twice
        ws.addEventListener("message", slow)
        ws.addEventListener("message", lambda e: print("  once only"), once=True)
        ws.addEventListener("message", Recorder())
        ws.onmessage = lambda event: print("  onmessage")  # runs after the others

        async with ws:
            ws.send("first")
            ws.send("second")
            await done.wait()
            ws.removeEventListener("message", slow)
        print("readyState:", ws.readyState)


asyncio.run(main())
