"""A small embedded WebSocket server (wsproto + h11 + anyio) for demos and tests.

Deliberately independent of the rest of wsapi: a client bug must not be able to hide
behind a matching server bug, so nothing here imports the client's code.
"""

from __future__ import annotations

import inspect
import ipaddress
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import cast

import anyio
import h11
from anyio.abc import SocketAttribute, SocketStream, TaskGroup
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    Pong,
    TextMessage,
)
from wsproto.events import Request as _WSRequest
from wsproto.extensions import Extension, PerMessageDeflate
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

logger = logging.getLogger("wsapi.testing")

# Large reads keep multi-megabyte messages cheap: wsproto's per-call cost dominates
# with small ones.
_RECEIVE_SIZE = 256 * 1024
# Bounds the HTTP upgrade so that a silent TCP client cannot pin a task forever.
_HANDSHAKE_TIMEOUT = 10.0
_STREAM_ERRORS = (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream, OSError)


class ClientClosed(Exception):
    """The connection is closed; raised by `recv`, `send`, `ping` and `send_raw`.

    `code` and `reason` are what the client sent in its Close frame, or 1006 and ""
    when the connection ended without one (dropped, or failed on a protocol error).
    """

    def __init__(self, code: int, reason: str = "") -> None:
        code = int(code)  # wsproto's IntEnum prints its name on Python 3.10
        super().__init__(f"WebSocket connection closed (code {code}, reason {reason!r})")
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class Request:
    """The client's HTTP upgrade request, as seen by `process_request` and handlers.

    `path` is the request target, query included (``"/chat?room=1"``); `headers` are
    all the headers in order, names spelled as the client sent them.
    """

    path: str
    headers: list[tuple[str, str]]

    def header(self, name: str) -> str | None:
        """Return the value of header `name` (any case), repeated headers joined by ", "."""
        wanted = name.lower()
        values = [value for key, value in self.headers if key.lower() == wanted]
        return ", ".join(values) if values else None


@dataclass(frozen=True)
class HandshakeResponse:
    """An HTTP response that refuses the upgrade; return it from `process_request`.

    ``content-length`` and ``connection: close`` are added unless given.
    """

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


Handler = Callable[["ServerConnection"], Awaitable[None]]
ProcessRequest = Callable[[Request], HandshakeResponse | Awaitable[HandshakeResponse | None] | None]


class ServerConnection:
    """One accepted WebSocket connection, handed to the handler.

    Attributes: `request` (the upgrade `Request`), `subprotocol` (None if none was
    agreed), `extensions` (the server's Sec-WebSocket-Extensions answer, "" if none),
    `remote_address` (the client's (host, port)), and `close_code` / `close_reason`
    from the client's Close frame (1006 and "" if none came; None while open).

    Incoming messages are queued without limit so that the server keeps reading (and
    answering pings and Close frames) even while the handler is busy sending.
    """

    def __init__(
        self,
        stream: SocketStream,
        ws: WSConnection,
        request: Request,
        subprotocol: str | None,
        extensions: str,
        server: Server,
        task_group: TaskGroup,
    ) -> None:
        self.request = request
        self.subprotocol = subprotocol
        self.extensions = extensions
        address = stream.extra(SocketAttribute.remote_address)
        self.remote_address: tuple[str, int] = (str(address[0]), int(address[1]))
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self._stream, self._ws, self._task_group = stream, ws, task_group
        self._max_message_size = server._max_message_size
        self._close_timeout = server._close_timeout
        # One writer at a time, and wsproto's send() under the same lock: with
        # permessage-deflate the compressor state must follow the order on the wire.
        self._send_lock = anyio.Lock()
        self._messages_in, self._messages_out = anyio.create_memory_object_stream[str | bytes](
            math.inf
        )
        self._closed_event = anyio.Event()
        self._pings: list[tuple[bytes, anyio.Event]] = []
        self._chunks: list[str | bytes | bytearray] = []
        self._size = 0

    def __repr__(self) -> str:
        state = "CLOSED" if self.closed else self._ws.state.name
        return f"<ServerConnection {self.request.path!r} from {self.remote_address} {state}>"

    @property
    def closed(self) -> bool:
        """True once the TCP connection is closed."""
        return self._closed_event.is_set()

    async def recv(self) -> str | bytes:
        """Return the next message: str for text, bytes for binary.

        Messages that arrived before the close are still delivered, then `ClientClosed`
        is raised.
        """
        try:
            return await self._messages_out.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise self._closed_error() from None

    def __aiter__(self) -> ServerConnection:
        return self

    async def __anext__(self) -> str | bytes:
        """Iteration ends quietly when the connection closes, whatever the code."""
        try:
            return await self.recv()
        except ClientClosed:
            raise StopAsyncIteration from None

    async def send(self, data: str | bytes | bytearray | memoryview) -> None:
        """Send a text (str) or binary (bytes-like) message."""
        event = TextMessage(data=data) if isinstance(data, str) else BytesMessage(data=bytes(data))
        await self._send(event)

    async def ping(self, payload: bytes = b"") -> None:
        """Send a Ping and return when the matching Pong arrives."""
        waiter = (bytes(payload), anyio.Event())
        self._pings.append(waiter)
        try:
            await self._send(Ping(payload=waiter[0]))
            await waiter[1].wait()
            # A Pong takes its waiters off the list; closing only wakes them up.
            if waiter in self._pings:
                raise self._closed_error()
        finally:
            if waiter in self._pings:
                self._pings.remove(waiter)

    async def send_raw(self, data: bytes) -> None:
        """Write `data` to the socket as is, bypassing the protocol (misbehaviour tests)."""
        await self._send(None, bytes(data))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Do the closing handshake and return once the TCP connection is closed.

        Sends Close, waits up to the server's `close_timeout` for the client's Close,
        then closes TCP (the server closes first, as RFC 6455 section 7.1.1 says).
        If a close is already under way, just waits for it to finish.
        """
        await self._start_close(code, reason)
        await self._closed_event.wait()

    def _closed_error(self) -> ClientClosed:
        return ClientClosed(self.close_code or 1006, self.close_reason or "")

    async def _send(self, event: Event | None, raw: bytes = b"") -> None:
        async with self._send_lock:
            if self.closed:
                raise self._closed_error()
            try:
                data = raw if event is None else self._ws.send(event)
            except LocalProtocolError:
                # wsproto refuses what the state forbids, e.g. a message after Close.
                raise self._closed_error() from None
            try:
                await self._stream.send(data)
            except _STREAM_ERRORS as exc:
                await self._abort()
                raise self._closed_error() from exc

    async def _start_close(self, code: int, reason: str) -> None:
        try:
            await self._send(CloseConnection(code=code, reason=reason))
        except ClientClosed:
            return  # already closing, either side, or gone: someone else finishes it
        self._task_group.start_soon(self._close_watchdog)

    async def _close_watchdog(self) -> None:
        # The reader closes TCP when the client's Close arrives; this is for clients
        # that never answer.
        with anyio.move_on_after(self._close_timeout):
            await self._closed_event.wait()
        await self._abort()

    async def _abort(self) -> None:
        await anyio.aclose_forcefully(self._stream)
        self._mark_closed()

    def _mark_closed(self) -> None:
        if not self._closed_event.is_set():
            if self.close_code is None:
                self.close_code, self.close_reason = 1006, self.close_reason or ""
            self._messages_in.close()
            for _, event in self._pings:
                event.set()
            self._closed_event.set()

    async def _shutdown_tcp(self) -> None:
        # Half-close rather than close: an abort could drop a Close frame still in
        # the send buffer. Then give the client a moment to close its side.
        if self.closed:
            return
        with anyio.move_on_after(self._close_timeout):
            try:
                async with self._send_lock:
                    await self._stream.send_eof()
                while True:
                    await self._stream.receive(_RECEIVE_SIZE)
            except _STREAM_ERRORS:
                pass
        await self._abort()

    async def _run_reader(self) -> None:
        try:
            # Frames that came along with the upgrade request are already fed in.
            while not await self._handle_events():
                try:
                    data = await self._stream.receive(_RECEIVE_SIZE)
                except _STREAM_ERRORS:
                    return  # dropped without a Close frame: 1006, as the RFC says
                self._ws.receive_data(data)
        finally:
            await self._abort()

    async def _handle_events(self) -> bool:
        """Act on wsproto's events; return True when reading is over."""
        for event in self._ws.events():
            if isinstance(event, TextMessage | BytesMessage):
                await self._on_data(event.data, event.message_finished)
            elif isinstance(event, Ping) and self._ws.state is ConnectionState.OPEN:
                try:
                    await self._send(event.response())
                except ClientClosed:
                    return True
            elif isinstance(event, Pong):
                self._on_pong(bytes(event.payload))
            elif isinstance(event, CloseConnection):
                await self._on_close(event)
                return True
        return False

    async def _on_data(self, chunk: str | bytes | bytearray, finished: bool) -> None:
        if self._ws.state is not ConnectionState.OPEN:
            return  # we sent Close: nobody will read it, so don't buffer it
        self._chunks.append(chunk)
        if isinstance(chunk, str) and not chunk.isascii():
            self._size += len(chunk.encode())
        else:
            self._size += len(chunk)
        if self._size > self._max_message_size:
            self._chunks.clear()
            with anyio.move_on_after(self._close_timeout) as scope:
                await self._start_close(1009, f"message over {self._max_message_size} bytes")
            if scope.cancelled_caught:
                await self._abort()  # stuck behind a blocked send: give up on politeness
        elif finished:
            # Join once: growing a str/bytes chunk by chunk would be quadratic.
            chunks, self._chunks, self._size = self._chunks, [], 0
            if isinstance(chunk, str):
                message: str | bytes = "".join(cast(list[str], chunks))
            else:
                message = b"".join(cast(list[bytes], chunks))
            try:
                self._messages_in.send_nowait(message)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                pass  # the handler is gone

    def _on_pong(self, payload: bytes) -> None:
        # A Pong answers the Ping with its payload and, by RFC 6455 5.5.3, may stand in
        # for earlier ones too.
        for index, (sent, _) in enumerate(self._pings):
            if sent == payload:
                answered, self._pings = self._pings[: index + 1], self._pings[index + 1 :]
                for _, event in answered:
                    event.set()
                return

    async def _on_close(self, event: CloseConnection) -> None:
        state = self._ws.state
        if state in (ConnectionState.OPEN, ConnectionState.LOCAL_CLOSING):
            # wsproto reports a protocol violation as a CloseConnection event without a
            # state change: fail the connection (RFC 6455 7.1.7), don't wait for replies.
            self.close_reason = event.reason or ""
            if state is ConnectionState.OPEN:
                with anyio.move_on_after(self._close_timeout), suppress(ClientClosed):
                    await self._send(CloseConnection(event.code, event.reason))
        else:
            self.close_code, self.close_reason = int(event.code), event.reason or ""
            if state is ConnectionState.REMOTE_CLOSING:
                # ClientClosed: a concurrent close() answered already, or the socket is gone.
                with suppress(ClientClosed):
                    await self._send(event.response())
        await self._shutdown_tcp()


class Server:
    """A running server, as returned by ``async with serve(...)``.

    `host` and `port` are where it listens, `url` what clients connect to
    (``ws://127.0.0.1:54321/``).
    """

    def __init__(
        self,
        handler: Handler,
        host: str,
        subprotocols: Sequence[str],
        compression: bool,
        process_request: ProcessRequest | None,
        max_message_size: int,
        close_timeout: float,
    ) -> None:
        self.host = host
        self.port = 0  # known once bound
        self._handler, self._subprotocols = handler, tuple(subprotocols)
        self._compression, self._process_request = compression, process_request
        self._max_message_size, self._close_timeout = max_message_size, close_timeout
        self._connections: dict[ServerConnection, None] = {}

    @property
    def url(self) -> str:
        """The URL clients connect to."""
        host = f"[{self.host}]" if ":" in self.host else self.host  # IPv6 literal
        return f"ws://{host}:{self.port}/"

    @property
    def connections(self) -> list[ServerConnection]:
        """The open connections, oldest first (a snapshot)."""
        return [conn for conn in self._connections if not conn.closed]

    async def _serve_connection(self, stream: SocketStream) -> None:
        conn: ServerConnection | None = None
        try:
            accepted = None
            with anyio.move_on_after(_HANDSHAKE_TIMEOUT):
                accepted = await self._handshake(stream)
            if accepted is None:
                return
            ws, request, protocol, response = accepted
            ext = _header(response, b"sec-websocket-extensions")
            # Stream errors are all caught below this point: a task group would wrap
            # them in an ExceptionGroup.
            async with anyio.create_task_group() as task_group:
                conn = ServerConnection(stream, ws, request, protocol, ext, self, task_group)
                # Registered before the 101 goes out: a client that got it finds it.
                self._connections[conn] = None
                try:
                    await stream.send(response)
                except _STREAM_ERRORS:
                    return
                task_group.start_soon(conn._run_reader)
                await self._run_handler(conn)
        except _STREAM_ERRORS:
            logger.debug("connection lost during the handshake", exc_info=True)
        except Exception:
            logger.exception("unexpected error in the test server")
        finally:
            if conn is not None:
                self._connections.pop(conn, None)
                conn._mark_closed()
                conn._messages_out.close()
            await anyio.aclose_forcefully(stream)

    async def _handshake(
        self, stream: SocketStream
    ) -> tuple[WSConnection, Request, str | None, bytes] | None:
        """Answer the upgrade request: None if refused, else what the connection needs."""
        h11_conn = h11.Connection(h11.SERVER)
        event = await _read_request(stream, h11_conn)
        if event is None:
            return None
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in event.headers.raw_items()]
        request = Request(event.target.decode("latin-1"), headers)
        ws = WSConnection(ConnectionType.SERVER)
        response: HandshakeResponse | None = None
        offered: list[str] = []
        try:
            if event.method != b"GET":
                raise RemoteProtocolError("request method must be GET")
            # wsproto validates the upgrade, h11 keeps the raw request: all headers,
            # and the bytes after it, which wsproto would drop.
            ws.initiate_upgrade_connection(list(event.headers), event.target)
            offered = [p for e in ws.events() if isinstance(e, _WSRequest) for p in e.subprotocols]
        except (RemoteProtocolError, h11.LocalProtocolError) as exc:
            body = f"not a valid WebSocket upgrade request: {exc}\n".encode()
            response = HandshakeResponse(400, [("content-type", "text/plain")], body)
        if self._process_request is not None:
            # Called even for invalid upgrades, so that it can answer plain HTTP too.
            try:
                result = self._process_request(request)
                if inspect.isawaitable(result):
                    result = await result
                response = result or response
            except Exception:
                logger.exception("process_request failed for %s", request.path)
                response = HandshakeResponse(500, body=b"process_request raised an exception\n")
        if response is not None:
            await stream.send(_reject(h11_conn, response))
            return None
        subprotocol = next((p for p in offered if p in self._subprotocols), None)
        extensions: list[Extension] = [PerMessageDeflate()] if self._compression else []
        data = ws.send(AcceptConnection(subprotocol=subprotocol, extensions=extensions))
        ws.receive_data(h11_conn.trailing_data[0])  # frames sent right behind the request
        return ws, request, subprotocol, data

    async def _run_handler(self, conn: ServerConnection) -> None:
        code, reason = 1000, ""
        try:
            await self._handler(conn)
        except ClientClosed:
            pass  # the client went away: normal life for a handler
        except Exception:
            logger.exception("handler failed for %r", conn)
            code, reason = 1011, "handler raised an exception"
        await conn.close(code, reason)


def serve(
    handler: Handler,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    subprotocols: Sequence[str] = (),
    compression: bool = True,
    process_request: ProcessRequest | None = None,
    max_message_size: int = 16 * 2**20,
    allow_non_loopback: bool = False,
    close_timeout: float = 2.0,
) -> AbstractAsyncContextManager[Server]:
    """Serve WebSocket connections with `handler` inside an ``async with`` block.

    `handler(conn)` runs once per connection; when it returns the connection is closed
    with 1000, and if it raises it is logged and closed with 1011. `subprotocols`: the
    first protocol the client offers that is in this list is chosen. `process_request`
    (sync or async) may return a `HandshakeResponse` to refuse the upgrade.
    Messages over `max_message_size` bytes close the connection with 1009.
    `close_timeout` bounds each wait for a client's Close frame or FIN.

    `host` must be a loopback address ("localhost" means 127.0.0.1) unless
    `allow_non_loopback` is true: a test server should not be reachable from outside.
    Leaving the block closes every open connection with 1001 (waiting at most
    `close_timeout`), cancels the handlers and closes the listener.
    """
    bind = _check_host(host, allow_non_loopback)
    options = (subprotocols, compression, process_request, max_message_size, close_timeout)
    return _serve(Server(handler, bind, *options), port)


def _check_host(host: str, allow_non_loopback: bool) -> str:
    if host == "localhost":
        # Binding only IPv4 keeps a single port and a URL that every client can reach.
        return "127.0.0.1"
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and not allow_non_loopback:
        raise ValueError(
            f"refusing to serve on {host!r}: not a loopback address; "
            "pass allow_non_loopback=True to expose the test server"
        )
    return host


@asynccontextmanager
async def _serve(server: Server, port: int) -> AsyncIterator[Server]:
    listener = await anyio.create_tcp_listener(local_host=server.host, local_port=port)
    server.port = listener.listeners[0].extra(SocketAttribute.local_port)
    accept_scope = anyio.CancelScope()

    async def accept(task_group: TaskGroup) -> None:
        # The listening socket is closed by `async with listener` once this task has
        # stopped: closing it under a pending accept() would fail the task instead.
        with accept_scope:
            await listener.serve(server._serve_connection, task_group)

    failure: BaseException | None = None
    async with listener, anyio.create_task_group() as task_group:
        task_group.start_soon(accept, task_group)
        try:
            yield server
        except anyio.get_cancelled_exc_class():
            task_group.cancel_scope.cancel()  # cancelled: get out now, no handshakes
            raise
        except BaseException as exc:
            # Re-raised below, outside the task group, so that the caller's own
            # exception (a failed assert...) does not come out in an ExceptionGroup.
            failure = exc
        with anyio.CancelScope(shield=True):
            accept_scope.cancel()
            with anyio.move_on_after(server._close_timeout):
                async with anyio.create_task_group() as closers:
                    for conn in server.connections:
                        closers.start_soon(conn.close, 1001, "server shutting down")
        task_group.cancel_scope.cancel()
    if failure is not None:
        raise failure


async def _read_request(stream: SocketStream, h11_conn: h11.Connection) -> h11.Request | None:
    """Read one HTTP request (any body is discarded); None if there is none."""
    request: h11.Request | None = None
    while True:
        try:
            event = h11_conn.next_event()
        except h11.RemoteProtocolError as exc:
            body = f"bad HTTP request: {exc}\n".encode()
            await stream.send(_reject(h11_conn, HandshakeResponse(400, body=body)))
            return None
        if event is h11.NEED_DATA:
            try:
                h11_conn.receive_data(await stream.receive(_RECEIVE_SIZE))
            except anyio.EndOfStream:
                h11_conn.receive_data(b"")
        elif isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.EndOfMessage):
            return request
        elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
            return None


def _reject(h11_conn: h11.Connection, response: HandshakeResponse) -> bytes:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    names = {name.lower() for name, _ in headers}
    if b"content-length" not in names and b"transfer-encoding" not in names:
        headers.append((b"content-length", str(len(response.body)).encode()))
    if b"connection" not in names:
        headers.append((b"connection", b"close"))
    try:
        phrase = HTTPStatus(response.status).phrase.encode()
    except ValueError:
        phrase = b""
    head = h11.Response(status_code=response.status, headers=headers, reason=phrase)
    data = h11_conn.send(head) or b""
    if response.body:
        data += h11_conn.send(h11.Data(data=response.body)) or b""
    return data + (h11_conn.send(h11.EndOfMessage()) or b"")


def _header(head: bytes, name: bytes) -> str:
    """Return header `name` of a serialized HTTP response head ("" if absent)."""
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip().decode("latin-1")
    return ""


async def echo(conn: ServerConnection) -> None:
    """Handler sending every message back unchanged (text as text) until the client closes."""
    async for message in conn:
        await conn.send(message)
