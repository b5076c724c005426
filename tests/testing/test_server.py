"""Tests for wsapi.testing, the embedded server, driven by a tiny wsproto client.

The wsapi client is deliberately not used: the server must stand on its own as an
independent peer, so a bug shared by both could not go unnoticed.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import anyio
import anyio.lowlevel
import pytest
from anyio.abc import SocketStream
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    TextMessage,
)
from wsproto.events import Request as WSRequest
from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import FrameProtocol

from wsapi.testing import (
    ClientClosed,
    HandshakeResponse,
    Request,
    Server,
    ServerConnection,
    echo,
    serve,
)

pytestmark = pytest.mark.anyio

# Generous bound for everything that should be instant: a hang fails instead of stalling.
TIMEOUT = 5.0


# -- a minimal client ---------------------------------------------------------------


class ServerClosed(Exception):
    """The test client saw the server's Close frame (or 1006 for a bare EOF)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(code, reason)
        self.code, self.reason = code, reason


class Rejected(Exception):
    """The server answered the upgrade with a plain HTTP response."""

    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        super().__init__(status)
        self.status, self.headers, self.body = status, headers, body

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


class Client:
    """Just enough of a WebSocket client to poke the server: raw wsproto events."""

    def __init__(self, stream: SocketStream, ws: WSConnection) -> None:
        self.stream = stream
        self.ws = ws
        self.pending: deque[Event] = deque()
        self.accept: AcceptConnection | None = None
        self.bytes_received = 0
        self.auto_pong = True
        self.pings: list[bytes] = []
        self.pongs: list[bytes] = []
        self.got_eof = False

    async def _fill(self) -> bool:
        try:
            data = await self.stream.receive(2**18)
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            self.got_eof = True
            return False
        self.bytes_received += len(data)
        if self.ws.state is not ConnectionState.CLOSED:
            self.ws.receive_data(data)
            self.pending.extend(self.ws.events())
        return True

    async def next_event(self) -> Event | None:
        """The next wsproto event, or None at EOF."""
        while not self.pending:
            if not await self._fill():
                return None
        return self.pending.popleft()

    async def send_event(self, event: Event) -> None:
        await self.stream.send(self.ws.send(event))

    async def send(self, data: str | bytes) -> None:
        event = TextMessage(data=data) if isinstance(data, str) else BytesMessage(data=data)
        await self.send_event(event)

    async def recv(self) -> str | bytes:
        """Next message; answers pings; raises ServerClosed after a Close and EOF."""
        text: list[str] = []
        binary: list[bytes] = []
        while True:
            event = await self.next_event()
            if event is None:
                raise ServerClosed(1006, "")
            if isinstance(event, TextMessage):
                text.append(event.data)
                if event.message_finished:
                    return "".join(text)
            elif isinstance(event, BytesMessage):
                binary.append(bytes(event.data))
                if event.message_finished:
                    return b"".join(binary)
            elif isinstance(event, Ping):
                self.pings.append(bytes(event.payload))
                if self.auto_pong:
                    await self.send_event(event.response())
            elif isinstance(event, Pong):
                self.pongs.append(bytes(event.payload))
            elif isinstance(event, CloseConnection):
                if self.ws.state is ConnectionState.REMOTE_CLOSING:
                    await self.send_event(event.response())
                await self.wait_eof()
                raise ServerClosed(event.code, event.reason or "")

    async def wait_eof(self) -> None:
        """Read until the server closes TCP, then close our side, as clients do."""
        while await self._fill():
            pass
        await self.stream.aclose()

    async def close(self, code: int = 1000, reason: str = "") -> CloseConnection:
        """Closing handshake from our side; returns the server's Close after its EOF."""
        await self.send_event(CloseConnection(code=code, reason=reason))
        while True:
            event = await self.next_event()
            assert event is not None, "EOF before the server's Close"
            if isinstance(event, CloseConnection):
                await self.wait_eof()
                return event


async def open_client(
    host: str,
    port: int,
    *,
    path: str = "/",
    subprotocols: Sequence[str] = (),
    compression: bool = False,
    headers: Sequence[tuple[str, str]] = (),
) -> Client:
    stream = await anyio.connect_tcp(host, port)
    ws = WSConnection(ConnectionType.CLIENT)
    request = WSRequest(
        host=f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        target=path,
        subprotocols=list(subprotocols),
        extensions=[PerMessageDeflate()] if compression else [],
        extra_headers=[(k.encode(), v.encode()) for k, v in headers],
    )
    await stream.send(ws.send(request))
    client = Client(stream, ws)
    event = await client.next_event()
    if isinstance(event, AcceptConnection):
        client.accept = event
        return client
    await stream.aclose()
    assert isinstance(event, RejectConnection), event
    body = b""
    while event.has_body:
        data = await client.next_event()
        assert isinstance(data, RejectData)
        body += data.data
        if data.body_finished:
            break
    pairs = [(k.decode(), v.decode()) for k, v in event.headers]
    raise Rejected(event.status_code, pairs, body)


@asynccontextmanager
async def connect(
    server: Server,
    *,
    path: str = "/",
    subprotocols: Sequence[str] = (),
    compression: bool = False,
    headers: Sequence[tuple[str, str]] = (),
) -> AsyncIterator[Client]:
    client = await open_client(
        server.host,
        server.port,
        path=path,
        subprotocols=subprotocols,
        compression=compression,
        headers=headers,
    )
    try:
        yield client
    finally:
        await client.stream.aclose()


def has_ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


# -- echo ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 2**20])
@pytest.mark.parametrize("kind", ["text", "binary"])
async def test_echo_sizes(kind: str, size: int) -> None:
    # 125/126 and 65535/65536 straddle the 7-bit / 16-bit / 64-bit length encodings.
    data: str | bytes = "a" * size if kind == "text" else os.urandom(size)
    with anyio.fail_after(TIMEOUT):
        async with serve(echo) as server, connect(server) as client:
            await client.send(data)
            assert await client.recv() == data


async def test_echo_keeps_text_and_binary_apart() -> None:
    with anyio.fail_after(TIMEOUT):
        async with serve(echo) as server, connect(server) as client:
            messages: list[str | bytes] = ["héllo ✓ 🎉", b"\x00\xff", "", b""]
            for message in messages:
                await client.send(message)
            assert [await client.recv() for _ in messages] == messages
            closing = await client.close(1000, "done")
            assert (closing.code, closing.reason) == (1000, "done")
            assert client.got_eof


async def test_fragmented_client_message_is_reassembled() -> None:
    with anyio.fail_after(TIMEOUT):
        async with serve(echo) as server, connect(server) as client:
            await client.send_event(TextMessage(data="frag", message_finished=False))
            # A control frame may sit between fragments (RFC 6455 5.4).
            await client.send_event(Ping(payload=b"mid"))
            await client.send_event(TextMessage(data="mented ✓", message_finished=False))
            await client.send_event(TextMessage(data="", message_finished=True))
            for part in (b"ab", b"cd", b"ef"):
                await client.send_event(BytesMessage(data=part, message_finished=part == b"ef"))
            assert await client.recv() == "fragmented ✓"
            assert await client.recv() == b"abcdef"
            assert client.pongs == [b"mid"]


async def test_frames_sent_with_the_request_are_not_lost() -> None:
    frame = bytes(FrameProtocol(client=True, extensions=[]).send_data("early", fin=True))
    with anyio.fail_after(TIMEOUT):
        async with serve(echo) as server, await anyio.connect_tcp(server.host, server.port) as s:
            ws = WSConnection(ConnectionType.CLIENT)
            request = ws.send(WSRequest(host=f"127.0.0.1:{server.port}", target="/"))
            await s.send(request + frame)  # one write: the frame trails the request
            client = Client(s, ws)
            assert isinstance(await client.next_event(), AcceptConnection)
            assert await client.recv() == "early"


async def test_many_clients_at_once() -> None:
    async def talk(server: Server, n: int) -> None:
        async with connect(server) as client:
            for i in range(20):
                await client.send(f"{n}:{i}")
                assert await client.recv() == f"{n}:{i}"
            await client.close()

    with anyio.fail_after(TIMEOUT):
        async with serve(echo) as server, anyio.create_task_group() as tg:
            for n in range(10):
                tg.start_soon(talk, server, n)


# -- handshake ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offered", "expected"),
    [(["x", "chat.v2", "chat.v1"], "chat.v2"), (["x"], None), ([], None)],
)
async def test_subprotocol_selection(offered: list[str], expected: str | None) -> None:
    async def report(conn: ServerConnection) -> None:
        await conn.send(json.dumps(conn.subprotocol))

    with anyio.fail_after(TIMEOUT):
        async with (
            serve(report, subprotocols=["chat.v1", "chat.v2"]) as server,
            connect(server, subprotocols=offered) as client,
        ):
            assert client.accept is not None
            assert client.accept.subprotocol == expected
            assert json.loads(await client.recv()) == expected


async def test_request_reaches_handler() -> None:
    seen: list[Request] = []

    async def keep(conn: ServerConnection) -> None:
        seen.append(conn.request)
        assert conn.remote_address[0] == "127.0.0.1"

    with anyio.fail_after(TIMEOUT):
        async with serve(keep) as server:
            headers = [("X-Token", "abc"), ("x-multi", "1"), ("X-Multi", "2")]
            async with connect(server, path="/chat?room=1", headers=headers) as client:
                with pytest.raises(ServerClosed) as closed:
                    await client.recv()
                assert closed.value.code == 1000
    (request,) = seen
    assert request.path == "/chat?room=1"
    assert ("X-Token", "abc") in request.headers
    assert request.header("x-token") == "abc"
    assert request.header("X-MULTI") == "1, 2"
    assert request.header("upgrade") == "websocket"
    assert request.header("absent") is None


@pytest.mark.parametrize("is_async", [False, True])
async def test_process_request_refuses_upgrade(is_async: bool) -> None:
    called: list[ServerConnection] = []

    async def handler(conn: ServerConnection) -> None:
        called.append(conn)

    def check(request: Request) -> HandshakeResponse | None:
        if request.header("Authorization") == "Bearer good":
            return None
        body = json.dumps({"error": "unauthorized"}).encode()
        return HandshakeResponse(
            401, [("Content-Type", "application/json"), ("WWW-Authenticate", "Bearer")], body
        )

    async def acheck(request: Request) -> HandshakeResponse | None:
        await anyio.lowlevel.checkpoint()
        return check(request)

    with anyio.fail_after(TIMEOUT):
        async with serve(handler, process_request=acheck if is_async else check) as server:
            with pytest.raises(Rejected) as refused:
                await open_client(server.host, server.port)
            assert refused.value.status == 401
            assert refused.value.header("content-type") == "application/json"
            assert refused.value.header("www-authenticate") == "Bearer"
            assert json.loads(refused.value.body) == {"error": "unauthorized"}
            assert not called

            auth = [("Authorization", "Bearer good")]
            async with connect(server, headers=auth) as client:
                with pytest.raises(ServerClosed):
                    await client.recv()
            assert len(called) == 1


async def test_process_request_failure_is_a_500(caplog: pytest.LogCaptureFixture) -> None:
    def broken(request: Request) -> None:
        raise RuntimeError("oops")

    with anyio.fail_after(TIMEOUT):
        async with serve(echo, process_request=broken) as server:
            with pytest.raises(Rejected) as refused:
                await open_client(server.host, server.port)
    assert refused.value.status == 500
    assert any("process_request" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "raw",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",  # plain HTTP, no upgrade
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        b"NOT HTTP AT ALL\r\n\r\n",
    ],
)
async def test_non_websocket_requests_get_400(raw: bytes) -> None:
    with anyio.fail_after(TIMEOUT):
        async with serve(echo) as server, await anyio.connect_tcp(server.host, server.port) as s:
            await s.send(raw)
            response = b""
            try:
                while True:
                    response += await s.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                pass
            assert response.startswith(b"HTTP/1.1 400 "), response
            assert server.connections == []


@pytest.mark.parametrize("enabled", [True, False])
async def test_compression(enabled: bool) -> None:
    extensions: list[str] = []

    async def handler(conn: ServerConnection) -> None:
        extensions.append(conn.extensions)
        await echo(conn)

    text = "all work and no play makes jack a dull boy " * 5000  # ~215 kB, compresses well
    with anyio.fail_after(TIMEOUT):
        async with (
            serve(handler, compression=enabled) as server,
            connect(server, compression=True) as client,
        ):
            for _ in range(3):  # several messages: the shared window must stay in sync
                await client.send(text)
                assert await client.recv() == text
            assert client.accept is not None
            if enabled:
                assert extensions[0].startswith("permessage-deflate")
                assert [type(e) for e in client.accept.extensions] == [PerMessageDeflate]
                assert client.bytes_received < len(text) // 10
            else:
                assert extensions == [""]
                assert client.accept.extensions == []
                assert client.bytes_received > 3 * len(text)


# -- closing ------------------------------------------------------------------------


async def test_server_close_with_code_and_reason() -> None:
    done: list[ServerConnection] = []
    finished = anyio.Event()

    async def closer(conn: ServerConnection) -> None:
        await conn.close(4001, "custom reason ✓")
        done.append(conn)
        finished.set()

    with anyio.fail_after(TIMEOUT):
        async with serve(closer) as server, connect(server) as client:
            with pytest.raises(ServerClosed) as closed:
                await client.recv()
            # recv() only returns after EOF, and we had not closed our socket yet:
            # the server closed TCP first.
            assert (closed.value.code, closed.value.reason) == (4001, "custom reason ✓")
            assert client.got_eof
            await finished.wait()
    (conn,) = done
    assert conn.closed
    assert (conn.close_code, conn.close_reason) == (4001, "custom reason ✓")  # echoed
    with pytest.raises(ClientClosed):
        await conn.send("too late")


async def test_close_gives_up_on_a_silent_client() -> None:
    returned = anyio.Event()

    async def closer(conn: ServerConnection) -> None:
        await conn.close()
        assert conn.close_code == 1006
        returned.set()

    with anyio.fail_after(TIMEOUT):
        async with serve(closer, close_timeout=0.2) as server, connect(server) as client:
            # Read the raw bytes but never answer the Close frame.
            start = anyio.current_time()
            await client.wait_eof()
            await returned.wait()
            assert anyio.current_time() - start < 2


async def test_client_close_raises_client_closed_in_handler() -> None:
    caught: list[ClientClosed] = []
    conns: list[ServerConnection] = []
    finished = anyio.Event()

    async def handler(conn: ServerConnection) -> None:
        conns.append(conn)
        try:
            await conn.recv()
        except ClientClosed as exc:
            caught.append(exc)
            finished.set()
            raise

    with anyio.fail_after(TIMEOUT):
        async with serve(handler) as server, connect(server) as client:
            reply = await client.close(4000, "bye")
            assert (reply.code, reply.reason) == (4000, "bye")
            assert client.got_eof
            await finished.wait()
            assert server.connections == []
    assert [(c.code, c.reason) for c in caught] == [(4000, "bye")]
    assert (conns[0].close_code, conns[0].close_reason) == (4000, "bye")
    assert conns[0].closed


async def test_dropped_connection_is_1006_and_queued_messages_survive() -> None:
    got: list[object] = []
    finished = anyio.Event()

    async def handler(conn: ServerConnection) -> None:
        await anyio.sleep(0.1)  # let the message and the EOF arrive first
        got.append(await conn.recv())
        with pytest.raises(ClientClosed) as closed:
            await conn.recv()
        got.append(closed.value.code)
        finished.set()

    with anyio.fail_after(TIMEOUT):
        async with serve(handler) as server:
            client = await open_client(server.host, server.port)
            await client.send("last words")
            await client.stream.aclose()
            await finished.wait()
    assert got == ["last words", 1006]


async def test_handler_exception_closes_with_1011(caplog: pytest.LogCaptureFixture) -> None:
    async def broken(conn: ServerConnection) -> None:
        if await conn.recv() == "boom":
            raise RuntimeError("handler bug")
        await conn.send("fine")

    with anyio.fail_after(TIMEOUT), caplog.at_level(logging.ERROR, "wsapi.testing"):
        async with serve(broken) as server:
            async with connect(server) as client:
                await client.send("boom")
                with pytest.raises(ServerClosed) as closed:
                    await client.recv()
                assert closed.value.code == 1011
            async with connect(server) as client:  # the server lives on
                await client.send("hi")
                assert await client.recv() == "fine"
    errors = [r for r in caplog.records if r.name == "wsapi.testing" and r.exc_info]
    assert len(errors) == 1
    assert "handler bug" in str(errors[0].exc_info[1])  # type: ignore[index]


@pytest.mark.parametrize("fragmented", [False, True])
async def test_max_message_size(fragmented: bool) -> None:
    with anyio.fail_after(TIMEOUT):
        async with serve(echo, max_message_size=1000) as server:
            async with connect(server) as client:
                await client.send(b"x" * 1000)
                assert await client.recv() == b"x" * 1000
                await client.send("é" * 500)  # 1000 bytes in UTF-8
                assert await client.recv() == "é" * 500
            async with connect(server) as client:
                if fragmented:
                    for _ in range(3):
                        part = BytesMessage(data=b"y" * 400, message_finished=False)
                        await client.send_event(part)
                    await client.send_event(BytesMessage(data=b"", message_finished=True))
                else:
                    await client.send("é" * 501)
                with pytest.raises(ServerClosed) as closed:
                    await client.recv()
                assert closed.value.code == 1009


async def test_protocol_error_fails_the_connection() -> None:
    caught: list[int] = []
    finished = anyio.Event()

    async def handler(conn: ServerConnection) -> None:
        with pytest.raises(ClientClosed) as closed:
            await conn.recv()
        caught.append(closed.value.code)
        finished.set()

    with anyio.fail_after(TIMEOUT):
        async with serve(handler) as server, connect(server) as client:
            await client.stream.send(b"\x81\x02hi")  # unmasked: forbidden from a client
            with pytest.raises(ServerClosed) as closed:
                await client.recv()
            assert closed.value.code == 1002
            await finished.wait()
    assert caught == [1006]


# -- ping / raw ---------------------------------------------------------------------


async def test_server_ping_waits_for_pong() -> None:
    async def pinger(conn: ServerConnection) -> None:
        await conn.ping(b"are you there")
        await conn.ping()
        await conn.send("both answered")

    with anyio.fail_after(TIMEOUT):
        async with serve(pinger) as server, connect(server) as client:
            assert await client.recv() == "both answered"
            assert client.pings == [b"are you there", b""]


async def test_ping_without_pong_ends_with_client_closed() -> None:
    outcome: list[int] = []
    finished = anyio.Event()

    async def pinger(conn: ServerConnection) -> None:
        with pytest.raises(ClientClosed) as closed:
            await conn.ping(b"?")
        outcome.append(closed.value.code)
        finished.set()

    with anyio.fail_after(TIMEOUT):
        async with serve(pinger) as server, connect(server) as client:
            client.auto_pong = False
            reply = await client.close(1000)
            assert reply.code == 1000
            await finished.wait()
    assert outcome == [1000]


async def test_server_answers_client_ping() -> None:
    with anyio.fail_after(TIMEOUT):
        async with serve(echo) as server, connect(server) as client:
            await client.send_event(Ping(payload=b"ping!"))
            await client.send("after")
            assert await client.recv() == "after"
            assert client.pongs == [b"ping!"]


async def test_send_raw() -> None:
    async def raw(conn: ServerConnection) -> None:
        await conn.send_raw(b"\x81\x05hello")  # an unmasked text frame, written by hand
        await conn.recv()

    with anyio.fail_after(TIMEOUT):
        async with serve(raw) as server, connect(server) as client:
            assert await client.recv() == "hello"


# -- server lifetime ----------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1", "::", "example.com"])
def test_non_loopback_host_is_refused(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        serve(echo, host=host)


async def test_localhost_and_other_loopback_addresses() -> None:
    with anyio.fail_after(TIMEOUT):
        async with serve(echo, host="localhost") as server:
            assert (server.host, server.url) == ("127.0.0.1", f"ws://127.0.0.1:{server.port}/")
            assert server.port > 0
            async with connect(server) as client:
                await client.send("x")
                assert await client.recv() == "x"


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback on this machine")
async def test_ipv6_loopback() -> None:
    with anyio.fail_after(TIMEOUT):
        async with serve(echo, host="::1") as server:
            assert server.url == f"ws://[::1]:{server.port}/"
            async with connect(server) as client:
                await client.send(b"v6")
                assert await client.recv() == b"v6"
                assert server.connections[0].remote_address[0] == "::1"


async def test_leaving_serve_closes_open_connections() -> None:
    cancelled: list[bool] = []
    codes: list[int] = []

    async def forever(conn: ServerConnection) -> None:
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            cancelled.append(True)
            raise

    async def listen(client: Client) -> None:
        with pytest.raises(ServerClosed) as closed:
            await client.recv()
        codes.append(closed.value.code)

    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as tg:
            clients: list[Client] = []
            async with serve(forever) as server:
                for _ in range(3):
                    clients.append(await open_client(server.host, server.port))
                    tg.start_soon(listen, clients[-1])
                assert len(server.connections) == 3
            assert server.connections == []
        for client in clients:
            await client.stream.aclose()
    assert codes == [1001] * 3
    assert cancelled == [True] * 3
    with pytest.raises(OSError):  # the listener is gone too
        await anyio.connect_tcp(server.host, server.port)


async def test_leaving_serve_is_prompt_even_with_unresponsive_clients() -> None:
    with anyio.fail_after(TIMEOUT):
        async with serve(echo, close_timeout=0.3) as server:
            client = await open_client(server.host, server.port)  # never reads again
            half_open = await anyio.connect_tcp(server.host, server.port)  # no handshake
            start = anyio.current_time()
        assert anyio.current_time() - start < 2
        await client.stream.aclose()
        await half_open.aclose()


async def test_body_exception_propagates() -> None:
    with anyio.fail_after(TIMEOUT), pytest.raises(KeyError):
        async with serve(echo) as server, connect(server):
            raise KeyError("from the test body")


async def test_cancelled_body_exits_at_once() -> None:
    start = anyio.current_time()
    with anyio.move_on_after(0.1):
        async with serve(echo) as server, connect(server):
            await anyio.sleep_forever()
    assert anyio.current_time() - start < 1


# -- an independent client ----------------------------------------------------------


async def test_websockets_client_against_echo(anyio_backend: str) -> None:
    if anyio_backend != "asyncio":
        pytest.skip("the websockets library runs on asyncio only")
    from websockets.asyncio.client import connect as ws_connect
    from websockets.typing import Subprotocol

    big = os.urandom(4 * 2**20)
    with anyio.fail_after(TIMEOUT):
        async with serve(echo, subprotocols=["chat"]) as server:
            chat = [Subprotocol("chat")]
            async with ws_connect(server.url, subprotocols=chat, max_size=None) as ws:
                assert ws.subprotocol == "chat"
                assert ws.response is not None
                assert "permessage-deflate" in ws.response.headers["Sec-WebSocket-Extensions"]
                await ws.send("héllo")
                assert await ws.recv() == "héllo"
                await ws.send(b"\x00\x01")
                assert await ws.recv() == b"\x00\x01"
                await ws.send(["frag", "mented"])  # websockets fragments iterables
                assert await ws.recv() == "fragmented"
                await ws.send(big)
                assert await ws.recv() == big
                latency = await (await ws.ping(b"x"))
                assert latency >= 0
            assert ws.close_code == 1000
            async with ws_connect(server.url, compression=None) as ws:
                await ws.send("plain")
                assert await ws.recv() == "plain"
            ws = await ws_connect(server.url)
        await ws.wait_closed()
        assert ws.close_code == 1001
