"""A real WebSocket server for integration tests: the ``websockets`` library's asyncio server.

It runs its own event loop in a daemon thread, so tests on asyncio and on trio
can share it. One server, routed by request path (query strings carry the
parameters)::

    /echo                        echo text as text, binary as binary
    /subprotocol                 server supports ["chat.v2", "chat.v1"] and picks by websockets'
                                 default rule (the server's order; HTTP 400 when the client
                                 offers none or no common one); sends the selected name as a
                                 text message, then echoes
    /close?code=4000&reason=bye  closes with that code and reason right after the handshake
                                 (defaults: 1000, "")
    /close-no-code               sends a Close frame with an empty payload (no status code),
                                 then completes the closing handshake
    /ping?count=3                sends ``count`` pings with payloads b"ping 1", b"ping 2", ...,
                                 waits for every pong, sends text "pinged 3", then echoes
    /headers                     sends the request headers as one JSON text message
                                 {"lower-cased-name": "value", ...} (repeated headers joined
                                 with ", "), then echoes
    /reject?status=401&body=no   refuses the handshake with that status (default 403), a JSON
                                 body {"error": body} and Content-Type: application/json
    /send?count=N&size=M         sends N binary messages of M bytes (see ``send_payload``),
                                 then closes with 1000
    /compression                 sends the Sec-WebSocket-Extensions response header value
                                 ("" when none was negotiated) as a text message, then echoes
    /redirect?to=/echo&status=302
                                 refuses the handshake with that redirect status (default
                                 302) and Location: ``to``

Any other path is refused with HTTP 404. permessage-deflate is enabled (websockets'
default), ``max_size`` is ``MAX_SIZE`` and keepalive pings are off so tests see only
the frames they ask for.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import json
import ssl
import threading
from collections.abc import Awaitable, Callable, Iterator
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

import trustme
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import ServerConnection as SyncServerConnection
from websockets.sync.server import serve as sync_serve
from websockets.typing import Subprotocol

from tests.peers import check_loopback, url_host

#: Largest message the server accepts: 16 MiB plus room for tests that go a bit over.
MAX_SIZE = 32 * 2**20

#: Subprotocols supported on /subprotocol, in the server's order of preference.
SUBPROTOCOLS: tuple[str, ...] = ("chat.v2", "chat.v1")

_FILLER = bytes(range(256))

Query = dict[str, str]
Handler = Callable[[ServerConnection, Query], Awaitable[None]]


def send_payload(index: int, size: int) -> bytes:
    """Message number ``index`` (from 0) sent by the /send route.

    The first 4 bytes are ``index`` big-endian; the rest repeats bytes 0..255.
    ``size`` is at least 4.
    """
    if size < 4:
        raise ValueError("/send messages are at least 4 bytes long")
    filler_len = size - 4
    filler = _FILLER * (filler_len // len(_FILLER) + 1)
    return index.to_bytes(4, "big") + filler[:filler_len]


def _query(request_path: str) -> tuple[str, Query]:
    parts = urlsplit(request_path)
    return parts.path, {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}


def _int(query: Query, name: str, default: int) -> int:
    return int(query[name]) if query.get(name) else default


async def _echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


async def _route_echo(ws: ServerConnection, query: Query) -> None:
    await _echo(ws)


async def _route_subprotocol(ws: ServerConnection, query: Query) -> None:
    await ws.send(ws.subprotocol or "")
    await _echo(ws)


async def _route_close(ws: ServerConnection, query: Query) -> None:
    await ws.close(_int(query, "code", 1000), query.get("reason", ""))


async def _route_close_no_code(ws: ServerConnection, query: Query) -> None:
    # ServerConnection.close() always sends a status code. The sans-I/O protocol
    # object sends an empty Close frame when send_close() gets no code, and
    # send_context() is what close() itself uses to write the frame to the
    # transport and then wait (up to close_timeout) for the client's Close and the
    # end of the TCP connection.
    try:
        async with ws.send_context():
            ws.protocol.send_close()
    except ConnectionClosed:
        pass


async def _route_ping(ws: ServerConnection, query: Query) -> None:
    count = _int(query, "count", 1)
    waiters = [await ws.ping(f"ping {i}".encode()) for i in range(1, count + 1)]
    for waiter in waiters:
        await waiter
    await ws.send(f"pinged {count}")
    await _echo(ws)


async def _route_headers(ws: ServerConnection, query: Query) -> None:
    assert ws.request is not None
    headers: dict[str, str] = {}
    for name, value in ws.request.headers.raw_items():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    await ws.send(json.dumps(headers))
    await _echo(ws)


async def _route_send(ws: ServerConnection, query: Query) -> None:
    count = _int(query, "count", 1)
    size = _int(query, "size", 4)
    for index in range(count):
        await ws.send(send_payload(index, size))
    await ws.close(1000)


async def _route_compression(ws: ServerConnection, query: Query) -> None:
    assert ws.response is not None
    await ws.send(ws.response.headers.get("Sec-WebSocket-Extensions", ""))
    await _echo(ws)


ROUTES: dict[str, Handler] = {
    "/echo": _route_echo,
    "/subprotocol": _route_subprotocol,
    "/close": _route_close,
    "/close-no-code": _route_close_no_code,
    "/ping": _route_ping,
    "/headers": _route_headers,
    "/send": _route_send,
    "/compression": _route_compression,
}


def _json_response(status: int, body: object) -> Response:
    try:
        reason = http.HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    data = json.dumps(body).encode()
    headers = Headers(
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(data))),
            ("Connection", "close"),
        ]
    )
    return Response(status, reason, headers, data)


class WebsocketsServer:
    """The ``websockets`` asyncio server on loopback, in a daemon thread with its own loop.

    Use as a context manager; ``url(path)`` gives ``ws://127.0.0.1:PORT/path``.
    Unexpected exceptions from route handlers are collected in ``errors``.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        *,
        max_size: int = MAX_SIZE,
        close_timeout: float = 5.0,
        startup_timeout: float = 10.0,
    ) -> None:
        self.host = check_loopback(host)
        self.max_size = max_size
        self.close_timeout = close_timeout
        self.startup_timeout = startup_timeout
        self.port = 0
        self.errors: list[BaseException] = []
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    def url(self, path: str = "/echo") -> str:
        if not self.port:
            raise RuntimeError("the server is not running")
        return f"ws://{url_host(self.host)}:{self.port}{path}"

    def __enter__(self) -> WebsocketsServer:
        self._thread = threading.Thread(target=self._run, name="websockets-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(self.startup_timeout):
            raise RuntimeError(f"websockets server did not start within {self.startup_timeout} s")
        if self._startup_error is not None:
            raise RuntimeError("websockets server failed to start") from self._startup_error
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self, timeout: float = 15.0) -> None:
        """Close the server (open connections get 1001) and join its thread."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:  # the loop closed in between
                pass
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise RuntimeError(f"websockets server thread did not stop within {timeout} s")
            self._thread = None
        self.port = 0

    def check(self) -> None:
        """Raise if any route handler failed unexpectedly."""
        if self.errors:
            raise AssertionError(f"websockets server handler errors: {self.errors!r}") from (
                self.errors[0]
            )

    # Server thread

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            if not self._ready.is_set():
                self._startup_error = exc
            else:
                self.errors.append(exc)
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with serve(
            self._handler,
            self.host,
            0,
            process_request=self._process_request,
            compression="deflate",
            max_size=self.max_size,
            ping_interval=None,
            close_timeout=self.close_timeout,
        ) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            self._loop = asyncio.get_running_loop()
            self._ready.set()
            await self._stop.wait()

    def _process_request(self, ws: ServerConnection, request: Request) -> Response | None:
        path, query = _query(request.path)
        if path == "/reject":
            return _json_response(_int(query, "status", 403), {"error": query.get("body", "")})
        if path == "/redirect":
            response = _json_response(_int(query, "status", 302), {"location": query["to"]})
            response.headers["Location"] = query["to"]
            return response
        if path not in ROUTES:
            return _json_response(404, {"error": f"no route {path}"})
        if path == "/subprotocol":
            # Subprotocols are a server-wide setting in websockets; enabling them on
            # this connection's protocol object keeps websockets' default selection
            # rule (ServerProtocol.select_subprotocol) for /subprotocol only.
            ws.protocol.available_subprotocols = [Subprotocol(s) for s in SUBPROTOCOLS]
        return None

    async def _handler(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        path, query = _query(ws.request.path)
        try:
            await ROUTES[path](ws, query)
        except ConnectionClosed:
            pass
        except Exception as exc:
            self.errors.append(exc)
            raise


# -- a TLS echo server, in a thread ----------------------------------------------------------


@contextlib.contextmanager
def tls_echo_server(context: ssl.SSLContext, timeout: float = 5.0) -> Iterator[int]:
    """The ``websockets`` sync echo server behind TLS with ``context``; yields its port."""

    def handler(conn: SyncServerConnection) -> None:
        for message in conn:
            conn.send(message)

    with sync_serve(handler, "127.0.0.1", 0, ssl=context) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield int(server.socket.getsockname()[1])
        finally:
            server.shutdown()
            thread.join(timeout)


def certificate_context(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    """A server TLS context with a certificate from ``ca`` for ``names``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return context
