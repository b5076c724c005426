# docs/examples/reconnecting.py
"""reconnecting(): connect again each time the connection ends, on asyncio."""

import asyncio

import wsapi
from wsapi.testing import serve


async def restarting(conn):
    # Each connection gets two updates, then the server restarts (close code 1012).
    for number in (1, 2):
        await conn.send(f"update {number}")
    await conn.close(1012, "service restart")


async def main() -> None:
    async with serve(restarting) as server:
        count = 0
        async with wsapi.reconnecting(server.url, initial_delay=0.1) as connections:
            async for ws in connections:  # each ws is open; the body uses it
                count += 1
                try:
                    async for data in ws:  # ends when the connection closes
                        print(f"connection {count}: {data}")
                except wsapi.ConnectionClosed:
                    pass  # closed abnormally (1006): connect again all the same
                close = await ws.wait_closed()
                print(f"connection {count}: closed with {close.code} {close.reason!r}")
                if count == 3:
                    break  # leaving the loop (and the async with) stops reconnecting


asyncio.run(main())
