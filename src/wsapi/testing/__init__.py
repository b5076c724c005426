"""An embedded WebSocket server for demos and tests, on asyncio or trio.

It speaks RFC 6455 through wsproto and h11 and shares no code with the wsapi client,
so it can serve as an independent peer in tests. It binds loopback addresses only,
unless told otherwise.

Example::

    import anyio
    from wsapi.testing import ClientClosed, ServerConnection, serve

    async def shout(conn: ServerConnection) -> None:
        try:
            while True:
                message = await conn.recv()
                await conn.send(message.upper() if isinstance(message, str) else message)
        except ClientClosed as closed:
            print("client left with", closed.code, closed.reason)

    async def main() -> None:
        async with serve(shout, subprotocols=["chat"]) as server:
            print("listening on", server.url)  # ws://127.0.0.1:54321/
            await anyio.sleep(60)
        # every connection has been closed (1001) and every handler task has ended

    anyio.run(main)

`echo` is a ready-made handler that sends every message back as it came.
"""

from __future__ import annotations

from wsapi.testing.server import (
    ClientClosed,
    Handler,
    HandshakeResponse,
    ProcessRequest,
    Request,
    Server,
    ServerConnection,
    echo,
    serve,
)

__all__ = [
    "ClientClosed",
    "Handler",
    "HandshakeResponse",
    "ProcessRequest",
    "Request",
    "Server",
    "ServerConnection",
    "echo",
    "serve",
]
