"""Unix domain sockets, IPv6 literals, and happy eyeballs across several addresses.

The Unix socket and ::1 tests talk to the real ``websockets`` server; the happy eyeballs
tests replace ``wsapi.transport.connect.connect_tcp`` for the addresses that must not be reached (a
documentation address that would hang), and connect for real to 127.0.0.1.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import ByteStream

import wsapi
from tests.diagnostics.helpers import TIMEOUT, fail_to_connect, free_port
from tests.peers.microsocks import MicrosocksServer
from tests.peers.tinyproxy import TinyproxyServer
from tests.peers.websockets_server import WebsocketsServer
from tests.peers.websockets_unix import WebsocketsUnixServer
from tests.proxies.helpers import addresses, round_trip
from wsapi import TraceEvent, WebSocket
from wsapi.transport import connect as connect_module
from wsapi.transport.connect import (
    CONNECTION_ATTEMPT_DELAY,
    AttemptsFailed,
    Stage,
    connect_addresses,
)

pytestmark = pytest.mark.anyio

#: A documentation address (RFC 3849): never connected to, the fake makes it hang.
BLACKHOLE = "2001:db8::1"


async def headers_seen(url: str, **options: Any) -> dict[str, str]:
    """The request headers the /headers route saw."""
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(url, **options) as ws:
            data = await ws.recv()
    assert isinstance(data, str)
    headers: dict[str, str] = json.loads(data)
    return headers


# -- Unix sockets ------------------------------------------------------------------------


async def test_unix_socket(websockets_unix_server: WebsocketsUnixServer) -> None:
    server = websockets_unix_server
    events: list[TraceEvent] = []
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(
            server.url("/echo"), unix_socket=server.path, trace=events.append
        ) as ws:
            ws.send("over a Unix socket")
            assert await ws.recv() == "over a Unix socket"
    assert addresses(events) == [f"unix:{server.path}"]


async def test_unix_socket_follows_a_redirect_within_the_origin(
    websockets_unix_server: WebsocketsUnixServer,
) -> None:
    url = websockets_unix_server.url("/redirect?to=/echo")
    path = websockets_unix_server.path
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(url, unix_socket=path, follow_redirects=True) as ws:
            assert ws.final_url == "ws://localhost/echo"
            ws.send("hello")
            assert await ws.recv() == "hello"


@pytest.mark.parametrize(
    "target",
    ["ws://elsewhere.example/echo", "ws://localhost:8080/echo", "http://127.0.0.1/echo"],
)
async def test_unix_socket_does_not_follow_a_redirect_to_another_origin(
    websockets_unix_server: WebsocketsUnixServer, target: str
) -> None:
    # The socket leads to one server: another origin is somewhere else, and neither
    # this socket nor the network (which unix_socket= was given to avoid) is the way.
    url = websockets_unix_server.url(f"/redirect?to={target}")
    path = websockets_unix_server.path
    with anyio.fail_after(TIMEOUT):
        with pytest.raises(wsapi.RedirectReceived) as info:
            async with WebSocket(url, unix_socket=path, follow_redirects=True):
                pass
    error = info.value
    assert type(error) is wsapi.RedirectReceived
    assert error.location == target
    assert f"another origin than the one unix_socket={path!r} was given for" in error.cause
    assert "(ws://localhost)" in error.cause
    assert "Connect to" in error.fix


async def test_unix_socket_takes_a_path_object(
    websockets_unix_server: WebsocketsUnixServer,
) -> None:
    server = websockets_unix_server
    await round_trip(server.url("/echo"), unix_socket=Path(server.path))


async def test_the_url_still_gives_host_and_path(
    websockets_unix_server: WebsocketsUnixServer,
) -> None:
    server = websockets_unix_server
    headers = await headers_seen("ws://api.internal:8080/headers", unix_socket=server.path)
    assert headers["host"] == "api.internal:8080"


async def test_unix_socket_ignores_proxy_variables(
    monkeypatch: pytest.MonkeyPatch, websockets_unix_server: WebsocketsUnixServer
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")
    server = websockets_unix_server
    await round_trip(server.url("/echo"), unix_socket=server.path)


async def test_unix_socket_that_does_not_exist(tmp_path: Path) -> None:
    path = tmp_path / "missing.sock"
    error = await fail_to_connect("ws://localhost/", unix_socket=path)
    assert type(error) is wsapi.ConnectionRefused
    assert error.stage == "tcp"
    assert error.cause == f"the Unix socket {path} does not exist: nothing is listening on it"
    assert "unix_socket=" in error.fix
    assert isinstance(error.__cause__, FileNotFoundError)


async def test_unix_socket_nobody_listens_on(tmp_path: Path) -> None:
    path = tmp_path / "stale.sock"
    with socket.socket(socket.AF_UNIX) as stale:
        stale.bind(str(path))  # bound, never listening: a server that died
        error = await fail_to_connect("ws://localhost/", unix_socket=str(path))
    assert type(error) is wsapi.ConnectionRefused
    assert "refused the connection: nothing is listening on it" in error.cause


async def test_unix_socket_that_is_not_a_socket(tmp_path: Path) -> None:
    path = tmp_path / "file.txt"
    path.write_text("not a socket")
    error = await fail_to_connect("ws://localhost/", unix_socket=str(path))
    assert type(error) is wsapi.ConnectionRefused


# -- IPv6 --------------------------------------------------------------------------------


async def test_ipv6_literal(websockets_ipv6_server: WebsocketsServer) -> None:
    url = websockets_ipv6_server.url("/echo")
    assert url.startswith("ws://[::1]:")
    assert WebSocket(url).url == url
    assert await round_trip(url) == ["dns", "tcp", "http"]


async def test_ipv6_host_header(websockets_ipv6_server: WebsocketsServer) -> None:
    headers = await headers_seen(websockets_ipv6_server.url("/headers"))
    assert headers["host"] == f"[::1]:{websockets_ipv6_server.port}"


async def test_ipv6_refused_names_the_address(websockets_ipv6_server: WebsocketsServer) -> None:
    with socket.socket(socket.AF_INET6) as reserved:
        reserved.bind(("::1", 0))
        port = reserved.getsockname()[1]
        error = await fail_to_connect(f"ws://[::1]:{port}/")
    assert type(error) is wsapi.ConnectionRefused
    assert f"the connection to [::1]:{port} was refused" in error.cause


async def test_ipv6_through_socks(
    websockets_ipv6_server: WebsocketsServer, microsocks_server: MicrosocksServer
) -> None:
    # An IPv6 address in the SOCKS5 request (address type 4).
    url = websockets_ipv6_server.url("/echo")
    assert "proxy" in await round_trip(url, proxy=microsocks_server.url())


async def test_ipv6_through_connect(
    websockets_ipv6_server: WebsocketsServer, tinyproxy_server: TinyproxyServer
) -> None:
    # CONNECT [::1]:port, brackets included (RFC 9110 authority-form).
    url = websockets_ipv6_server.url("/echo")
    assert "proxy" in await round_trip(url, proxy=tinyproxy_server.url())


# -- happy eyeballs ----------------------------------------------------------------------


class FakeConnect:
    """Stands in for connect_tcp(): BLACKHOLE hangs, ``refused`` refuse, others connect."""

    def __init__(self, refused: tuple[str, ...] = ()) -> None:
        self.refused = refused
        self.started: list[tuple[str, float]] = []
        self.cancelled: list[str] = []
        self.real = connect_module.connect_tcp

    async def __call__(self, host: str, port: int, **kwargs: Any) -> ByteStream:
        self.started.append((host, anyio.current_time()))
        if host in self.refused:
            raise ConnectionRefusedError(111, "Connection refused")
        if host == BLACKHOLE:
            try:
                await anyio.sleep_forever()
            except BaseException:
                self.cancelled.append(host)
                raise
        return await self.real(host, port)


@pytest.fixture
def fake_connect(monkeypatch: pytest.MonkeyPatch) -> FakeConnect:
    fake = FakeConnect()
    monkeypatch.setattr(connect_module, "connect_tcp", fake)
    return fake


async def test_a_hanging_address_gets_a_head_start_then_the_next_wins(
    fake_connect: FakeConnect, websockets_server: WebsocketsServer
) -> None:
    stage = Stage(name="tcp")
    started = anyio.current_time()
    with anyio.fail_after(TIMEOUT):
        stream = await connect_addresses([BLACKHOLE, "127.0.0.1"], websockets_server.port, stage)
    elapsed = anyio.current_time() - started
    await stream.aclose()
    assert [host for host, _ in fake_connect.started] == [BLACKHOLE, "127.0.0.1"]
    delay = fake_connect.started[1][1] - fake_connect.started[0][1]
    assert delay >= CONNECTION_ATTEMPT_DELAY * 0.9  # (upper bounds: a loaded machine is slow)
    assert elapsed < TIMEOUT
    assert fake_connect.cancelled == [BLACKHOLE]  # the loser does not linger
    assert [attempt.host for attempt in stage.attempts] == ["127.0.0.1"]
    assert stage.address == f"127.0.0.1:{websockets_server.port}"


async def test_a_failed_address_starts_the_next_at_once(
    monkeypatch: pytest.MonkeyPatch, websockets_server: WebsocketsServer
) -> None:
    # With a head start of a minute, only "at once" can finish within TIMEOUT.
    monkeypatch.setattr(connect_module, "CONNECTION_ATTEMPT_DELAY", 60.0)
    fake = FakeConnect(refused=("::1",))
    monkeypatch.setattr(connect_module, "connect_tcp", fake)
    stage = Stage(name="tcp")
    with anyio.fail_after(TIMEOUT):
        stream = await connect_addresses(["::1", "127.0.0.1"], websockets_server.port, stage)
    await stream.aclose()
    assert [(a.host, a.error is None) for a in stage.attempts] == [
        ("::1", False),
        ("127.0.0.1", True),
    ]


async def test_every_address_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeConnect(refused=("::1", "127.0.0.1", "127.0.0.2"))
    monkeypatch.setattr(connect_module, "connect_tcp", fake)
    stage = Stage(name="tcp")
    with pytest.raises(AttemptsFailed) as info:
        await connect_addresses(["127.0.0.1", "127.0.0.2", "::1"], 8080, stage)
    # Families alternate: 127.0.0.1, ::1, 127.0.0.2; errors keep the order of the attempts.
    shown = [shown for shown, _ in info.value.errors]
    assert shown == ["127.0.0.1:8080", "[::1]:8080", "127.0.0.2:8080"]
    assert len(stage.attempts) == 3


async def test_websocket_races_the_resolved_addresses(
    monkeypatch: pytest.MonkeyPatch,
    fake_connect: FakeConnect,
    websockets_server: WebsocketsServer,
) -> None:
    async def resolve(url: Any) -> list[str]:
        return [BLACKHOLE, "127.0.0.1"]

    monkeypatch.setattr(connect_module, "resolve", resolve)
    events: list[TraceEvent] = []
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(websockets_server.url("/echo"), trace=events.append) as ws:
            ws.send("raced")
            assert await ws.recv() == "raced"
    port = websockets_server.port
    assert addresses(events) == [f"[{BLACKHOLE}]:{port}", f"127.0.0.1:{port}"]


async def test_every_address_refused_lists_them(monkeypatch: pytest.MonkeyPatch) -> None:
    async def resolve(url: Any) -> list[str]:
        return ["127.0.0.1", "::1"]

    monkeypatch.setattr(connect_module, "resolve", resolve)
    monkeypatch.setattr(connect_module, "connect_tcp", FakeConnect(refused=("127.0.0.1", "::1")))
    error = await fail_to_connect("ws://localhost:8080/")
    assert type(error) is wsapi.ConnectionRefused
    assert "the connection to 127.0.0.1:8080, [::1]:8080 was refused" in error.cause
