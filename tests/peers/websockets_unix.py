"""The ``websockets`` test server (same routes) listening on a Unix domain socket.

``WebsocketsUnixServer(path)`` serves tests/peers/websockets_server.py's routes on the
socket file ``path`` instead of a TCP port, with websockets' ``unix_serve``; clients
reach it with ``WebSocket(server.url("/echo"), unix_socket=server.path)``: the URL
still gives the Host header and the path.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from websockets.asyncio.server import unix_serve

from tests.peers.websockets_server import WebsocketsServer


def unix_sockets_available() -> bool:
    """Whether this platform has Unix domain sockets."""
    return hasattr(socket, "AF_UNIX")


class WebsocketsUnixServer(WebsocketsServer):
    """``WebsocketsServer`` on the Unix socket ``path``; ``url()`` is ``ws://localhost/...``."""

    def __init__(self, path: str | Path, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.path = str(path)

    def url(self, path: str = "/echo") -> str:
        if not self.port:
            raise RuntimeError("the server is not running")
        return f"ws://localhost{path}"

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with unix_serve(
            self._handler,
            self.path,
            process_request=self._process_request,
            compression="deflate",
            max_size=self.max_size,
            ping_interval=None,
            close_timeout=self.close_timeout,
        ):
            self.port = -1  # "running": there is no port
            self._loop = asyncio.get_running_loop()
            self._ready.set()
            await self._stop.wait()
