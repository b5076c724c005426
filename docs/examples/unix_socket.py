# docs/examples/unix_socket.py
"""A server on a Unix domain socket: unix_socket= gives the path, the URL the Host and path."""

import asyncio
import tempfile
from pathlib import Path

import anyio

from wsapi import ConnectionRefused, WebSocket
from wsapi.testing import echo, serve


async def main() -> None:
    async with serve(echo) as server:
        # For the example, a Unix socket in front of the echo server, as a local
        # reverse proxy (nginx, a sidecar) would provide.
        async def relay(client):
            async with client, await anyio.connect_tcp("127.0.0.1", server.port) as upstream:
                async with anyio.create_task_group() as both:
                    both.start_soon(copy, client, upstream, both.cancel_scope)
                    both.start_soon(copy, upstream, client, both.cancel_scope)

        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "app.sock"
            async with await anyio.create_unix_listener(path) as listener:
                async with anyio.create_task_group() as relays:
                    relays.start_soon(listener.serve, relay)

                    async with WebSocket("ws://localhost/chat", unix_socket=path) as ws:
                        ws.send("Hello over a Unix socket!")
                        print("received:", await ws.recv())
                    relays.cancel_scope.cancel()

            try:  # nobody listens there any more
                async with WebSocket("ws://localhost/chat", unix_socket=path):
                    pass
            except ConnectionRefused as exc:
                print("ConnectionRefused:", exc.cause.replace(str(path), "PATH"))


async def copy(source, sink, done):
    try:
        async for chunk in source:
            await sink.send(chunk)
    except anyio.BrokenResourceError:
        pass
    done.cancel()


asyncio.run(main())
