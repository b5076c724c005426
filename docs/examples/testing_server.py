# docs/examples/testing_server.py
"""A scripted server from wsapi.testing: a handler, process_request, and what it sees."""

import anyio

from wsapi import InvalidStatus, WebSocket
from wsapi.testing import ClientClosed, HandshakeResponse, serve


def only_rooms(request):
    # Runs before the upgrade: return a HandshakeResponse to refuse it.
    if not request.path.startswith("/room/"):
        return HandshakeResponse(404, body=b"no such room\n")
    return None


async def main() -> None:
    left = anyio.Event()

    async def shout(conn):
        # One call per connection; the connection closes (1000) when it returns.
        print("server: path", conn.request.path, "subprotocol", conn.subprotocol)
        await conn.send("welcome")
        try:
            while True:
                message = await conn.recv()
                await conn.send(message.upper())
        except ClientClosed as closed:
            print("server: the client left with", closed.code, repr(closed.reason))
            left.set()

    async with serve(shout, subprotocols=["shout"], process_request=only_rooms) as server:
        async with WebSocket(server.url + "room/1?user=ada", ["shout"]) as ws:
            print("client:", await ws.recv())
            ws.send("hello")
            print("client:", await ws.recv())
            ws.close(1000, "bye")
        await left.wait()

        try:
            async with WebSocket(server.url + "lobby"):
                pass  # not reached
        except InvalidStatus as exc:
            print("client: refused with", exc.status, exc.response.text.strip())


anyio.run(main)
