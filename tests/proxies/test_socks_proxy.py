"""Through a SOCKS5 proxy (microsocks, a real one), for ws:// and wss://.

``socks5://`` resolves the host here and sends an address; ``socks5h://`` sends the
name and lets the proxy resolve it. User name and password (RFC 1929) from the
proxy URL, ALL_PROXY, and every refusal with its reply code explained.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest

import wsapi
from tests.diagnostics.helpers import fail_to_connect, free_port
from tests.peers.microsocks import MicrosocksServer
from tests.peers.scripted import RawConnection, ScriptedServer
from tests.peers.websockets_server import WebsocketsServer
from tests.proxies.helpers import (
    TLS_TUNNEL,
    TUNNEL,
    TLSTarget,
    credentials_refused,
    echo_through,
    round_trip,
)

pytestmark = pytest.mark.anyio

StartServer = Callable[..., ScriptedServer]


@pytest.mark.parametrize("scheme", ["socks5", "socks5h"])
async def test_ws_through_microsocks(
    microsocks_server: MicrosocksServer, websockets_server: WebsocketsServer, scheme: str
) -> None:
    proxy = microsocks_server.url(scheme=scheme)
    assert await round_trip(websockets_server.url("/echo"), proxy=proxy) == TUNNEL


@pytest.mark.parametrize("scheme", ["socks5", "socks5h"])
async def test_wss_to_a_host_name_through_microsocks(
    microsocks_server: MicrosocksServer, tls_server: TLSTarget, scheme: str
) -> None:
    # socks5:// resolves localhost here (a dns stage before the proxy's); socks5h:// does not.
    proxy = microsocks_server.url(scheme=scheme)
    stages = await round_trip(tls_server.url("localhost"), proxy=proxy, ssl=tls_server.context)
    assert stages == (["dns", *TLS_TUNNEL] if scheme == "socks5" else TLS_TUNNEL)


@pytest.mark.parametrize("secure", [False, True], ids=["ws", "wss"])
async def test_user_name_and_password(
    microsocks_auth_server: MicrosocksServer,
    websockets_server: WebsocketsServer,
    tls_server: TLSTarget,
    secure: bool,
) -> None:
    proxy = microsocks_auth_server.url(scheme="socks5h")
    assert "bob:pw@" in proxy
    stages = await echo_through(
        proxy, secure=secure, ws_server=websockets_server, wss_server=tls_server
    )
    assert stages == (TLS_TUNNEL if secure else TUNNEL)


async def test_all_proxy_variable(
    monkeypatch: pytest.MonkeyPatch,
    microsocks_server: MicrosocksServer,
    websockets_server: WebsocketsServer,
    tls_server: TLSTarget,
) -> None:
    monkeypatch.setenv("ALL_PROXY", microsocks_server.url(scheme="socks5h"))
    assert await round_trip(websockets_server.url("/echo")) == TUNNEL
    assert await round_trip(tls_server.url(), ssl=tls_server.context) == TLS_TUNNEL


async def test_credentials_required(
    microsocks_auth_server: MicrosocksServer, websockets_server: WebsocketsServer
) -> None:
    proxy = microsocks_auth_server.url().replace("bob:pw@", "")
    error = await credentials_refused(websockets_server.url("/echo"), proxy)
    assert error.response is None and error.challenge == ""
    assert error.cause == f"the proxy {proxy} requires a user name and password"
    assert f"socks5://user:password@127.0.0.1:{microsocks_auth_server.port}" in error.fix


async def test_wrong_password(
    microsocks_auth_server: MicrosocksServer, websockets_server: WebsocketsServer
) -> None:
    proxy = microsocks_auth_server.url(credentials=("bob", "wrong"))
    error = await credentials_refused(websockets_server.url("/echo"), proxy)
    assert "rejected the user name and password of the proxy URL" in error.cause


async def test_server_refused_behind_the_proxy(microsocks_server: MicrosocksServer) -> None:
    port = free_port()
    error = await fail_to_connect(f"ws://127.0.0.1:{port}/", proxy=microsocks_server.url())
    assert type(error) is wsapi.SOCKSError
    assert (error.reply_code, error.stage) == (5, "proxy")
    assert error.cause == (
        f"the proxy {microsocks_server.url()} could not connect to 127.0.0.1:{port}: "
        "connection refused (SOCKS5 reply 5)"
    )


async def test_socks5_resolves_here(microsocks_server: MicrosocksServer) -> None:
    # socks5:// resolves the name itself: a name that does not resolve is a DNSError.
    proxy = microsocks_server.url(scheme="socks5")
    error = await fail_to_connect("ws://ws.example.invalid/", proxy=proxy)
    assert type(error) is wsapi.DNSError and error.stage == "dns"


async def test_http_proxy_url_for_a_socks_proxy(microsocks_server: MicrosocksServer) -> None:
    proxy = microsocks_server.url(scheme="http")
    error = await fail_to_connect("ws://127.0.0.1:8080/", proxy=proxy)
    assert type(error) is wsapi.ProxyInvalidResponse
    # microsocks reads "CONNECT" as a greeting and refuses every method it offers.
    assert "answered CONNECT with something that is not HTTP" in error.cause
    assert "it began with b'\\x05\\xff'" in error.cause
    assert "this looks like a SOCKS proxy (use socks5:// or socks5h://)" in error.fix


async def test_socks_url_for_an_http_proxy(scripted_server: StartServer) -> None:
    def http_proxy(conn: RawConnection) -> None:
        conn.send_raw(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    server = scripted_server(http_proxy)
    error = await fail_to_connect("ws://127.0.0.1:8080/", proxy=f"socks5://127.0.0.1:{server.port}")
    assert type(error) is wsapi.ProxyInvalidResponse
    assert "answered with something that is not SOCKS5; it began with b'HTTP/1.1 400" in error.cause
    assert "this looks like an HTTP proxy (use http://)" in error.fix


async def test_socks_proxy_that_never_answers(scripted_server: StartServer) -> None:
    server = scripted_server(lambda conn: conn.wait_eof(timeout=3.0))
    proxy = f"socks5h://127.0.0.1:{server.port}"
    error = await fail_to_connect("wss://example.com/", proxy=proxy, open_timeout=0.3)
    assert type(error) is wsapi.OpenTimeout and error.stage == "proxy"
    assert f"while connecting through the proxy (127.0.0.1:{server.port})" in error.cause


async def test_socks_from_the_environment_without_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "socksio", None)  # import socksio now raises
    monkeypatch.setenv("ALL_PROXY", "socks5h://127.0.0.1:1080")
    error = await fail_to_connect("ws://127.0.0.1:8080/")
    assert type(error) is wsapi.ProxyError
    assert error.cause == (
        "the proxy socks5h://127.0.0.1:1080 (from ALL_PROXY) is a SOCKS proxy, and SOCKS "
        "support is not installed"
    )
    assert "pip install 'wsapi[socks]'" in error.fix
    assert isinstance(error.__cause__, ImportError)
