"""Real servers for the redirect and reconnection tests: the ``websockets`` library's sync server.

``WebsocketsThread`` runs ``websockets.sync.server.serve`` on 127.0.0.1 in a thread (TLS
with ``ssl_context``) and can be stopped, by a closing handshake (1001) or by dropping
every connection, and started again on the same port. ``RedirectServer`` answers the
paths listed in ``redirects`` with a 3xx and a ``Location``, serves ``.../echo`` and
``.../headers`` (the request headers as one JSON text message, then echo), and records
every request it gets.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Literal

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from tests.peers import check_loopback

Handler = Callable[[ServerConnection], None]

#: How long stopping waits for the server's threads.
STOP_TIMEOUT = 10.0


class WebsocketsThread:
    """The ``websockets`` sync server on loopback; ``start()``, ``stop()``, start again."""

    def __init__(
        self,
        handler: Handler,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host = check_loopback(host)
        self.port = port
        self.ssl_context = ssl_context
        self.handler = handler
        self.errors: list[BaseException] = []
        self.connections: set[ServerConnection] = set()
        self._lock = threading.Lock()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    def url(self, path: str = "/") -> str:
        scheme = "wss" if self.ssl_context is not None else "ws"
        return f"{scheme}://{self.host}:{self.port}{path}"

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        return None

    def start(self) -> None:
        """Listen (on the same port as before, after a ``stop()``)."""
        assert self._server is None, "already running"
        self._server = serve(
            self._handle,
            self.host,
            self.port,
            ssl=self.ssl_context,
            process_request=self.process_request,
        )
        self.port = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"websockets-{self.port}", daemon=True
        )
        self._thread.start()

    def stop(self, how: Literal["close", "drop"] = "close") -> None:
        """Stop listening and end every connection: a 1001 closing handshake, or a dropped TCP."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._server = self._thread = None
        server.socket.close()  # no new connections from now on
        with self._lock:
            connections = list(self.connections)
        for connection in connections:
            if how == "close":
                connection.close(1001, "restarting")
            else:
                try:
                    connection.socket.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        server.shutdown()
        thread.join(STOP_TIMEOUT)

    def __enter__(self) -> WebsocketsThread:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _handle(self, connection: ServerConnection) -> None:
        with self._lock:
            self.connections.add(connection)
        try:
            self.handler(connection)
        except Exception as exc:  # the tests look at errors
            self.errors.append(exc)
        finally:
            with self._lock:
                self.connections.discard(connection)


def echo(connection: ServerConnection) -> None:
    try:
        for message in connection:
            connection.send(message)
    except ConnectionClosed:
        pass


class RedirectServer(WebsocketsThread):
    """Redirects the paths in ``redirects``; ``/echo``, ``/headers``; records ``requests``."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None) -> None:
        super().__init__(self._route, ssl_context=ssl_context)
        #: path (query included) -> (status, Location)
        self.redirects: dict[str, tuple[int, str]] = {}
        #: (path, {lower-cased header name: value}) of every request, in order
        self.requests: list[tuple[str, dict[str, str]]] = []

    def redirect(self, path: str, status: int, location: str) -> None:
        self.redirects[path] = (status, location)

    @property
    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        headers = _headers(request)
        self.requests.append((request.path, headers))
        if request.path in self.redirects:
            status, location = self.redirects[request.path]
            response = connection.respond(status, f"moved to {location}\n")
            response.headers["Location"] = location
            return response
        if _endpoint(request.path) not in ("echo", "headers"):
            return connection.respond(404, "no such path\n")
        return None

    def _route(self, connection: ServerConnection) -> None:
        assert connection.request is not None
        if _endpoint(connection.request.path) == "headers":
            connection.send(json.dumps(_headers(connection.request)))
        echo(connection)


def _endpoint(path: str) -> str:
    """The last segment of the path: ``/app/echo?x=1`` is served by ``echo``."""
    return path.split("?")[0].rsplit("/", 1)[-1]


def _headers(request: Request) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in request.headers.raw_items():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers
