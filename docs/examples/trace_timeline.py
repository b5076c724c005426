# docs/examples/trace_timeline.py
"""Print a timeline of one connection with the trace hook."""

import anyio

import wsapi
from wsapi.testing import echo, serve


def show(event: wsapi.TraceEvent) -> None:
    if event.kind != "stage":
        print(event.direction, event.kind, event.code or "", event.data or "")


async def main() -> None:
    async with serve(echo) as server:
        async with wsapi.WebSocket(server.url, trace=show) as ws:
            ws.send("hello")
            await ws.recv()


anyio.run(main)
