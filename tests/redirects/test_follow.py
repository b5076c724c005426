"""Following redirects against real servers: ``websockets``' server answering 3xx, scripted ones.

Every test runs on asyncio and on trio. The redirecting servers are ``RedirectServer``
(tests/redirects/servers.py), the ``websockets`` library's server answering the paths
it is told to with a 3xx; ``websockets_server`` (tests/conftest.py) echoes the request
headers on ``/headers``, which shows what crossed an origin; scripted raw-socket servers
answer what no real server would.
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import pytest
import trustme

from tests.peers.scripted import RawConnection, ScriptedServer
from tests.peers.websockets_server import WebsocketsServer
from tests.redirects.servers import RedirectServer
from wsapi import (
    CertificateUntrusted,
    CloseEvent,
    ConnectionFailed,
    ConnectionRefused,
    ErrorEvent,
    InsecureRedirect,
    InvalidStatus,
    MessageEvent,
    OpenTimeout,
    RedirectLoop,
    RedirectReceived,
    TooManyRedirects,
    TraceEvent,
    WebSocket,
)

pytestmark = pytest.mark.anyio

StartServer = Callable[..., ScriptedServer]

TIMEOUT = 10.0


@pytest.fixture
def server() -> Iterator[RedirectServer]:
    with RedirectServer() as running:
        yield running
    assert running.errors == []


@pytest.fixture
def other() -> Iterator[RedirectServer]:
    """A second server: another port, so another origin."""
    with RedirectServer() as running:
        yield running
    assert running.errors == []


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_server(ca: trustme.CA) -> Iterator[RedirectServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with RedirectServer(ssl_context=context) as running:
        yield running


@pytest.fixture
def client_ssl(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


class Events:
    """Every event of one WebSocket but messages (those stay for recv())."""

    def __init__(self, ws: WebSocket) -> None:
        self.events: list[Any] = []
        for kind in ("open", "error", "close"):
            ws.addEventListener(kind, self.events.append)

    @property
    def types(self) -> list[str]:
        return [event.type for event in self.events]


async def round_trip(ws: WebSocket) -> None:
    ws.send("ping?")
    assert await ws.recv() == "ping?"


async def fail(ws: WebSocket, kind: type[ConnectionFailed]) -> ConnectionFailed:
    events = Events(ws)
    with anyio.fail_after(TIMEOUT), pytest.raises(kind) as caught:
        async with ws:
            pytest.fail("the connection opened")
    assert events.types == ["error", "close"]  # once, whatever the number of hops
    error, close = events.events
    assert isinstance(error, ErrorEvent) and error.error is caught.value
    assert isinstance(close, CloseEvent) and (close.code, close.wasClean) == (1006, False)
    assert ws.readyState == WebSocket.CLOSED
    return caught.value


# -- without follow_redirects: the standard's behaviour ----------------------------------------


async def test_a_redirect_fails_by_default(server: RedirectServer, other: RedirectServer) -> None:
    server.redirect("/old", 301, other.url("/echo"))
    error = await fail(WebSocket(server.url("/old")), RedirectReceived)
    assert type(error) is RedirectReceived
    assert error.location == other.url("/echo")
    assert error.status == 301
    assert f"The server redirects to {other.url('/echo')}" in str(error)
    assert str(error).startswith(f"WebSocket connection to '{server.url('/old')}' failed: ")
    assert server.paths == ["/old"] and other.paths == []


async def test_follow_redirects_zero_is_off(server: RedirectServer) -> None:
    server.redirect("/old", 302, "/echo")
    await fail(WebSocket(server.url("/old"), follow_redirects=0), RedirectReceived)
    assert server.paths == ["/old"]


# -- followed ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_each_redirect_status_is_followed(
    server: RedirectServer, other: RedirectServer, status: int
) -> None:
    server.redirect("/old", status, other.url("/echo"))
    ws = WebSocket(server.url("/old"), follow_redirects=True)
    with anyio.fail_after(TIMEOUT):
        async with ws:
            await round_trip(ws)
            assert ws.url == server.url("/old")  # the standard's url: what was asked for
            assert ws.final_url == other.url("/echo")
            response = ws.response
            assert getattr(response, "status", None) == 101
    assert server.paths == ["/old"] and other.paths == ["/echo"]


async def test_relative_location(server: RedirectServer) -> None:
    server.redirect("/app/v1/start?x=1", 302, "../echo")
    ws = WebSocket(server.url("/app/v1/start?x=1"), follow_redirects=True)
    with anyio.fail_after(TIMEOUT):
        async with ws:
            await round_trip(ws)
    assert ws.final_url == server.url("/app/echo")
    assert server.paths == ["/app/v1/start?x=1", "/app/echo"]


async def test_absolute_path_location(server: RedirectServer) -> None:
    server.redirect("/start", 307, "/echo?from=start")
    ws = WebSocket(server.url("/start"), follow_redirects=True)
    with anyio.fail_after(TIMEOUT):
        async with ws:
            await round_trip(ws)
    assert server.paths == ["/start", "/echo?from=start"]


async def test_http_location_is_mapped_to_ws(server: RedirectServer, other: RedirectServer) -> None:
    location = other.url("/echo").replace("ws://", "http://")
    server.redirect("/start", 308, location)
    ws = WebSocket(server.url("/start"), follow_redirects=True)
    with anyio.fail_after(TIMEOUT):
        async with ws:
            await round_trip(ws)
    assert ws.final_url == other.url("/echo")


async def test_a_chain_across_servers(server: RedirectServer, other: RedirectServer) -> None:
    server.redirect("/1", 301, "/2")
    server.redirect("/2", 302, other.url("/3"))
    other.redirect("/3", 307, server.url("/echo"))
    ws = WebSocket(server.url("/1"), follow_redirects=3)  # exactly the limit
    with anyio.fail_after(TIMEOUT):
        async with ws:
            await round_trip(ws)
    assert server.paths == ["/1", "/2", "/echo"] and other.paths == ["/3"]
    assert ws.final_url == server.url("/echo")


async def test_after_redirects_the_origin_of_messages_is_the_final_one(
    server: RedirectServer, other: RedirectServer
) -> None:
    server.redirect("/start", 302, other.url("/echo"))
    ws = WebSocket(server.url("/start"), follow_redirects=True)
    received: list[MessageEvent] = []
    arrived = anyio.Event()

    def on_message(event: MessageEvent) -> None:
        received.append(event)
        arrived.set()

    ws.onmessage = on_message
    with anyio.fail_after(TIMEOUT):
        async with ws:
            ws.send("hello")
            await arrived.wait()
    assert received[0].origin == f"ws://127.0.0.1:{other.port}"


async def test_trace_shows_each_hop(server: RedirectServer, other: RedirectServer) -> None:
    server.redirect("/start", 301, "/middle")
    server.redirect("/middle", 307, other.url("/echo"))
    trace: list[TraceEvent] = []
    ws = WebSocket(server.url("/start"), follow_redirects=True, trace=trace.append)
    with anyio.fail_after(TIMEOUT):
        async with ws:
            pass
    seen = [
        (event.kind, event.code, event.detail)
        for event in trace
        if event.kind in ("request", "response", "redirect")
    ]
    assert seen == [
        ("request", None, "/start"),
        ("response", 301, "HTTP/1.1 301 Moved Permanently"),
        ("redirect", 301, server.url("/middle")),
        ("request", None, "/middle"),
        ("response", 307, "HTTP/1.1 307 Temporary Redirect"),
        ("redirect", 307, other.url("/echo")),
        ("request", None, "/echo"),
        ("response", 101, "HTTP/1.1 101 Switching Protocols"),
    ]
    assert [event.kind for event in trace].count("open") == 1


# -- headers across origins --------------------------------------------------------------------

SECRETS = {"Authorization": "Bearer s3cret", "Cookie": "session=42", "X-Custom": "kept"}


async def headers_seen(ws: WebSocket) -> dict[str, str]:
    with anyio.fail_after(TIMEOUT):
        async with ws:
            message = await ws.recv()
    assert isinstance(message, str)
    return dict(json.loads(message))


async def test_another_origin_gets_no_authorization_nor_cookie(
    server: RedirectServer, websockets_server: WebsocketsServer
) -> None:
    server.redirect("/start", 302, websockets_server.url("/headers"))
    ws = WebSocket(
        server.url("/start"), headers=SECRETS, origin="https://app.example", follow_redirects=True
    )
    seen = await headers_seen(ws)
    assert "authorization" not in seen and "cookie" not in seen
    assert seen["x-custom"] == "kept"
    assert seen["origin"] == "https://app.example"
    # The first server did get them.
    first = server.requests[0][1]
    assert first["authorization"] == "Bearer s3cret" and first["cookie"] == "session=42"


async def test_url_credentials_do_not_cross_origins(
    server: RedirectServer, websockets_server: WebsocketsServer
) -> None:
    server.redirect("/start", 301, websockets_server.url("/headers"))
    url = server.url("/start").replace("ws://", "ws://alice:pw@")
    seen = await headers_seen(WebSocket(url, follow_redirects=True))
    assert "authorization" not in seen
    token = base64.b64encode(b"alice:pw").decode()
    assert server.requests[0][1]["authorization"] == f"Basic {token}"


async def test_another_host_name_is_another_origin(server: RedirectServer) -> None:
    # Same server, same port, but "localhost" is not "127.0.0.1": another origin.
    server.redirect("/start", 302, f"ws://localhost:{server.port}/headers")
    seen = await headers_seen(WebSocket(server.url("/start"), headers=SECRETS, follow_redirects=1))
    assert "authorization" not in seen and "cookie" not in seen
    assert seen["host"] == f"localhost:{server.port}"


async def test_the_same_origin_gets_every_header(server: RedirectServer) -> None:
    server.redirect("/start", 307, "/headers")
    ws = WebSocket(server.url("/start"), headers=SECRETS, follow_redirects=True)
    seen = await headers_seen(ws)
    assert seen["authorization"] == "Bearer s3cret"
    assert seen["cookie"] == "session=42"
    assert seen["x-custom"] == "kept"
    # A fresh handshake for the new request: another key.
    keys = [headers["sec-websocket-key"] for _, headers in server.requests]
    assert len(set(keys)) == 2


async def test_credentials_in_the_location_are_used(
    server: RedirectServer, websockets_server: WebsocketsServer
) -> None:
    location = websockets_server.url("/headers").replace("ws://", "ws://bob:hunter2@")
    server.redirect("/start", 302, location)
    seen = await headers_seen(WebSocket(server.url("/start"), headers=SECRETS, follow_redirects=1))
    assert seen["authorization"] == "Basic " + base64.b64encode(b"bob:hunter2").decode()
    assert "cookie" not in seen


# -- TLS -------------------------------------------------------------------------------------


async def test_wss_to_ws_is_never_followed(
    tls_server: RedirectServer, other: RedirectServer, client_ssl: ssl.SSLContext
) -> None:
    tls_server.redirect("/secure", 301, other.url("/echo"))
    ws = WebSocket(tls_server.url("/secure"), ssl=client_ssl, follow_redirects=True)
    error = await fail(ws, InsecureRedirect)
    assert error.location == other.url("/echo")
    assert "which is not encrypted" in str(error)
    assert "never follows a redirect from wss:// to ws://" in str(error)
    assert other.paths == []  # not a single byte in clear text


async def test_wss_to_http_is_never_followed(
    tls_server: RedirectServer, other: RedirectServer, client_ssl: ssl.SSLContext
) -> None:
    tls_server.redirect("/secure", 302, other.url("/echo").replace("ws://", "http://"))
    ws = WebSocket(tls_server.url("/secure"), ssl=client_ssl, follow_redirects=True)
    await fail(ws, InsecureRedirect)
    assert other.paths == []


async def test_ws_to_wss_is_followed(
    server: RedirectServer, tls_server: RedirectServer, client_ssl: ssl.SSLContext
) -> None:
    server.redirect("/plain", 301, tls_server.url("/echo").replace("wss://", "https://"))
    ws = WebSocket(server.url("/plain"), ssl=client_ssl, follow_redirects=True)
    with anyio.fail_after(TIMEOUT):
        async with ws:
            await round_trip(ws)
    assert ws.final_url == tls_server.url("/echo")


async def test_ws_to_wss_checks_certificates_by_default(
    server: RedirectServer, tls_server: RedirectServer
) -> None:
    server.redirect("/plain", 301, tls_server.url("/echo"))
    error = await fail(WebSocket(server.url("/plain"), follow_redirects=True), CertificateUntrusted)
    assert error.url == tls_server.url("/echo")  # the hop that failed


async def test_wss_to_wss_keeps_the_ssl_context(
    tls_server: RedirectServer, client_ssl: ssl.SSLContext
) -> None:
    tls_server.redirect("/a", 308, "/echo")
    ws = WebSocket(tls_server.url("/a"), ssl=client_ssl, follow_redirects=True)
    with anyio.fail_after(TIMEOUT):
        async with ws:
            await round_trip(ws)
    assert tls_server.paths == ["/a", "/echo"]


# -- what ends the chain -------------------------------------------------------------------------


async def test_a_loop(server: RedirectServer) -> None:
    server.redirect("/x", 302, "/y")
    server.redirect("/y", 302, "/x")
    error = await fail(WebSocket(server.url("/x"), follow_redirects=True), RedirectLoop)
    assert isinstance(error, TooManyRedirects)
    assert error.history == (server.url("/x"), server.url("/y"), server.url("/x"))
    assert server.paths == ["/x", "/y"]  # stopped at once, not after the limit
    assert "the redirects go round in a loop" in str(error)


async def test_a_loop_across_servers(server: RedirectServer, other: RedirectServer) -> None:
    server.redirect("/a", 301, other.url("/b"))
    other.redirect("/b", 301, server.url("/a"))
    await fail(WebSocket(server.url("/a"), follow_redirects=True), RedirectLoop)


async def test_too_many_redirects(server: RedirectServer) -> None:
    for n in range(5):
        server.redirect(f"/{n}", 302, f"/{n + 1}")
    ws = WebSocket(server.url("/0"), follow_redirects=2)
    error = await fail(ws, TooManyRedirects)
    assert type(error) is TooManyRedirects
    assert server.paths == ["/0", "/1", "/2"]  # two redirects followed, the third refused
    assert error.history == tuple(server.url(f"/{n}") for n in range(4))
    assert str(error).startswith(
        f"WebSocket connection to '{server.url('/0')}' failed: the server redirected more than "
        "follow_redirects=2 times ("
    )
    assert ws.final_url == server.url("/2")
    assert error.status == 302


async def test_the_default_limit(server: RedirectServer) -> None:
    for n in range(30):
        server.redirect(f"/{n}", 307, f"/{n + 1}")
    await fail(WebSocket(server.url("/0"), follow_redirects=True), TooManyRedirects)
    assert len(server.paths) == 11  # 10 redirects followed


async def test_an_error_after_a_redirect_names_the_hop(
    server: RedirectServer, other: RedirectServer
) -> None:
    server.redirect("/start", 302, other.url("/missing"))
    ws = WebSocket(server.url("/start"), follow_redirects=True)
    error = await fail(ws, InvalidStatus)
    assert type(error) is InvalidStatus and error.status == 404
    assert error.url == other.url("/missing")
    assert ws.final_url == other.url("/missing")
    assert getattr(ws.response, "status", None) == 404


async def test_refused_after_a_redirect(server: RedirectServer) -> None:
    port = closed_port()
    server.redirect("/start", 302, f"ws://127.0.0.1:{port}/")
    error = await fail(WebSocket(server.url("/start"), follow_redirects=True), ConnectionRefused)
    assert error.stage == "tcp"
    assert error.url == f"ws://127.0.0.1:{port}/"


# -- scripted servers: answers no real server gives ---------------------------------------------


def redirecting(status: int, headers: list[tuple[str, str]]) -> Callable[[RawConnection], None]:
    def script(conn: RawConnection) -> None:
        conn.read_request()
        conn.respond(status, "Redirect", headers)
        conn.wait_eof()  # the client closes each redirect's connection

    return script


async def test_no_location(scripted_server: StartServer) -> None:
    peer = scripted_server(redirecting(302, []))
    error = await fail(WebSocket(peer.url("/"), follow_redirects=True), RedirectReceived)
    assert type(error) is RedirectReceived
    assert "HTTP 302 Redirect without a Location header" in str(error)


async def test_300_is_not_followed(scripted_server: StartServer) -> None:
    peer = scripted_server(redirecting(300, [("Location", "/a")]))
    error = await fail(WebSocket(peer.url("/"), follow_redirects=True), RedirectReceived)
    assert type(error) is RedirectReceived
    assert "only 301, 302, 303, 307 and 308" in str(error)
    peer.wait_scripts()
    assert len(peer.connections) == 1


async def test_a_location_that_is_no_websocket_url(scripted_server: StartServer) -> None:
    peer = scripted_server(redirecting(301, [("Location", "ftp://files.example/x")]))
    error = await fail(WebSocket(peer.url("/"), follow_redirects=True), RedirectReceived)
    assert "'ftp://files.example/x', which is not a WebSocket URL" in str(error)


async def test_each_hop_closes_its_connection(scripted_server: StartServer) -> None:
    def accept(conn: RawConnection) -> None:
        conn.accept()
        assert conn.read_close() == (1000, "")
        conn.send_close(1000)

    target = scripted_server(accept)
    first = scripted_server(redirecting(302, [("Location", target.url("/"))]))
    ws = WebSocket(first.url("/"), follow_redirects=True)
    with anyio.fail_after(TIMEOUT):
        async with ws:
            pass
    first.wait_scripts()  # its wait_eof() returned: the client closed the redirect's socket
    target.wait_scripts()


async def test_open_timeout_covers_every_hop(scripted_server: StartServer) -> None:
    """Each hop alone fits in open_timeout; together they do not."""

    def slow_accept(conn: RawConnection) -> None:
        conn.read_request()
        time.sleep(0.6)
        try:
            conn.accept()
            conn.read_close()
        except OSError:
            pass  # the client gave up, as it should

    target = scripted_server(slow_accept)

    def slow_redirect(conn: RawConnection) -> None:
        conn.read_request()
        time.sleep(0.6)
        conn.respond(302, "Found", [("Location", target.url("/"))])
        conn.wait_eof()

    first = scripted_server(slow_redirect)
    ws = WebSocket(first.url("/"), follow_redirects=True, open_timeout=1.0)
    error = await fail(ws, OpenTimeout)
    assert error.stage == "http"
    target.wait_connections(1)  # it failed at the second hop
    assert error.url == target.url("/")


def closed_port() -> int:
    """A loopback port with nothing listening on it (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
