# docs/examples/close_codes.py
"""What the application sees when a connection ends, case by case."""

import asyncio

from wsapi import WebSocket
from wsapi.testing import echo, serve


async def server_closes(conn):
    await conn.close(4000, "server is done")


async def reserved_opcode(conn):
    await conn.send_raw(b"\x83\x00")  # a frame with opcode 3: reserved
    async for _ in conn:  # wait until the client is gone
        pass


async def invalid_utf8(conn):
    await conn.send_raw(b"\x81\x01\xff")  # a text frame that is not UTF-8
    async for _ in conn:
        pass


async def too_big(conn):
    await conn.send("x" * 2000)
    async for _ in conn:
        pass


async def case(title, handler, close=None, **options):
    print(f"{title}:")
    async with serve(handler) as server:
        ws = WebSocket(server.url, **options)

        def on_error(event):
            error = event.error
            print(f"  error  {type(error).__name__}, error.code={error.code}")

        def on_close(event):
            print(f"  close  code={event.code} reason={event.reason!r} wasClean={event.wasClean}")

        ws.onerror = on_error
        ws.onclose = on_close
        async with ws:
            if close is not None:
                ws.close(*close)
            await ws.wait_closed()


async def main() -> None:
    await case("ws.close(1000, 'bye')", echo, close=(1000, "bye"))
    await case("ws.close() without a code", echo, close=())
    await case("the server closes with 4000", server_closes)
    await case("the server sends a reserved opcode", reserved_opcode)
    await case("the server sends invalid UTF-8", invalid_utf8)
    await case("a message over max_message_size", too_big, max_message_size=1000)


asyncio.run(main())
