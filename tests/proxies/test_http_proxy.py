"""Through an HTTP proxy (tinyproxy, a real one) with CONNECT, for ws:// and wss://.

Credentials from the proxy URL, the environment variables and NO_PROXY end to end,
and every way a proxy fails: refused, unknown host, 407, 401, another status, a
proxy that never answers (stage ``proxy`` times out), ``https://`` proxies (TLS to
the proxy, through a TLS front for tinyproxy) and their certificate failures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

import wsapi
from tests.diagnostics.helpers import fail_to_connect, free_port, server_context
from tests.peers.scripted import RawConnection, ScriptedServer
from tests.peers.tinyproxy import TinyproxyServer
from tests.peers.tls_relay import TLSRelay
from tests.peers.websockets_server import WebsocketsServer
from tests.proxies.helpers import (
    DIRECT,
    TLS_TUNNEL,
    TUNNEL,
    TLSTarget,
    credentials_refused,
    echo_through,
    round_trip,
)

pytestmark = pytest.mark.anyio

StartServer = Callable[..., ScriptedServer]


@pytest.fixture(scope="module")
def https_proxy(tinyproxy_server: TinyproxyServer, tls_server: TLSTarget) -> Iterator[TLSRelay]:
    """tinyproxy behind TLS: an https:// proxy (certificate from tls_server's CA)."""
    cert = tls_server.ca.issue_cert("localhost", "127.0.0.1")
    with TLSRelay(tinyproxy_server.port, server_context(cert)) as relay:
        yield relay


# -- tunnels that work -------------------------------------------------------------------


async def test_ws_through_tinyproxy(
    tinyproxy_server: TinyproxyServer, websockets_server: WebsocketsServer
) -> None:
    url = websockets_server.url("/echo")
    assert await round_trip(url, proxy=tinyproxy_server.url()) == TUNNEL
    assert await round_trip(url, proxy=None) == DIRECT


async def test_wss_through_tinyproxy(
    tinyproxy_server: TinyproxyServer, tls_server: TLSTarget
) -> None:
    stages = await round_trip(
        tls_server.url(), proxy=tinyproxy_server.url(), ssl=tls_server.context
    )
    assert stages == TLS_TUNNEL


async def test_host_names_are_resolved_by_the_proxy(
    tinyproxy_server: TinyproxyServer, tls_server: TLSTarget
) -> None:
    # No dns stage here: CONNECT names the host, and the certificate is checked for it.
    url = tls_server.url("localhost")
    stages = await round_trip(url, proxy=tinyproxy_server.url(), ssl=tls_server.context)
    assert stages == TLS_TUNNEL


@pytest.mark.parametrize("secure", [False, True], ids=["ws", "wss"])
async def test_basic_credentials_from_the_proxy_url(
    tinyproxy_auth_server: TinyproxyServer,
    websockets_server: WebsocketsServer,
    tls_server: TLSTarget,
    secure: bool,
) -> None:
    proxy = tinyproxy_auth_server.url()
    assert "alice:s3cret@" in proxy
    stages = await echo_through(
        proxy, secure=secure, ws_server=websockets_server, wss_server=tls_server
    )
    assert stages == (TLS_TUNNEL if secure else TUNNEL)


async def test_percent_encoded_credentials(
    tinyproxy_auth_server: TinyproxyServer, websockets_server: WebsocketsServer
) -> None:
    # tinyproxy's BasicAuth takes [-a-z0-9._] only: encode letters to see them decoded.
    url = f"http://%61lice:s3cr%65t@127.0.0.1:{tinyproxy_auth_server.port}"
    assert await round_trip(websockets_server.url("/echo"), proxy=url) == TUNNEL


async def test_https_proxy(https_proxy: TLSRelay, tls_server: TLSTarget) -> None:
    # TLS to the proxy, then TLS to the server inside the tunnel.
    proxy = f"https://localhost:{https_proxy.port}"
    options = {"proxy": proxy, "proxy_ssl": tls_server.context, "ssl": tls_server.context}
    assert await round_trip(tls_server.url(), **options) == TLS_TUNNEL


async def test_https_proxy_for_ws(
    https_proxy: TLSRelay, websockets_server: WebsocketsServer, tls_server: TLSTarget
) -> None:
    proxy = f"https://localhost:{https_proxy.port}"
    stages = await round_trip(
        websockets_server.url("/echo"), proxy=proxy, proxy_ssl=tls_server.context
    )
    assert stages == TUNNEL


# -- the environment ---------------------------------------------------------------------


async def test_http_proxy_variable(
    monkeypatch: pytest.MonkeyPatch,
    tinyproxy_server: TinyproxyServer,
    websockets_server: WebsocketsServer,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", tinyproxy_server.url())
    url = websockets_server.url("/echo")
    assert await round_trip(url) == TUNNEL
    assert await round_trip(url, proxy=None) == DIRECT


async def test_https_proxy_variable(
    monkeypatch: pytest.MonkeyPatch, tinyproxy_server: TinyproxyServer, tls_server: TLSTarget
) -> None:
    monkeypatch.setenv("https_proxy", tinyproxy_server.url())
    assert await round_trip(tls_server.url(), ssl=tls_server.context) == TLS_TUNNEL


async def test_https_proxy_variable_does_not_apply_to_ws(
    monkeypatch: pytest.MonkeyPatch, websockets_server: WebsocketsServer
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{free_port()}")
    assert await round_trip(websockets_server.url("/echo")) == DIRECT


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "*", "localhost,127.0.0.1", "127.0.0.1:{port}"])
async def test_no_proxy_connects_directly(
    monkeypatch: pytest.MonkeyPatch, websockets_server: WebsocketsServer, no_proxy: str
) -> None:
    monkeypatch.setenv("ALL_PROXY", f"http://127.0.0.1:{free_port()}")  # would be refused
    monkeypatch.setenv("NO_PROXY", no_proxy.format(port=websockets_server.port))
    assert await round_trip(websockets_server.url("/echo")) == DIRECT


async def test_no_proxy_on_another_port_uses_the_proxy(
    monkeypatch: pytest.MonkeyPatch,
    tinyproxy_server: TinyproxyServer,
    websockets_server: WebsocketsServer,
) -> None:
    monkeypatch.setenv("ALL_PROXY", tinyproxy_server.url())
    monkeypatch.setenv("NO_PROXY", f"127.0.0.1:{websockets_server.port + 1}")
    assert await round_trip(websockets_server.url("/echo")) == TUNNEL


async def test_an_invalid_variable_fails_the_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "ftp://alice:s3cret@127.0.0.1:21")
    error = await fail_to_connect(f"ws://127.0.0.1:{free_port()}/")
    assert type(error) is wsapi.ProxyError
    assert error.stage == "proxy"
    assert "the proxy in HTTP_PROXY is not usable" in str(error)
    assert "s3cret" not in str(error)
    assert "Set HTTP_PROXY to a URL such as http://proxy.example:3128" in error.fix


# -- failures ----------------------------------------------------------------------------


async def test_proxy_refused() -> None:
    port = free_port()
    error = await fail_to_connect("ws://127.0.0.1:8080/", proxy=f"http://u:pw@127.0.0.1:{port}")
    assert type(error) is wsapi.ProxyRefused
    assert (error.stage, error.proxy) == ("proxy", f"http://127.0.0.1:{port}")
    assert str(error) == (
        f"WebSocket connection to 'ws://127.0.0.1:8080/' failed: the connection to the proxy "
        f"http://127.0.0.1:{port} was refused: nothing is listening on 127.0.0.1:{port}. Check "
        f"that the proxy is running, and the host and port in proxy=; pass proxy=None to "
        f"connect without it."
    )
    assert isinstance(error.__cause__, ConnectionRefusedError)


async def test_proxy_from_the_environment_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{port}")
    error = await fail_to_connect("wss://127.0.0.1:8443/")
    assert type(error) is wsapi.ProxyRefused
    assert f"the proxy http://127.0.0.1:{port} (from HTTPS_PROXY) was refused" in error.cause
    assert "the HTTPS_PROXY environment variable" in error.fix
    assert "add the server's host to NO_PROXY or pass proxy=None" in error.fix


async def test_proxy_host_that_does_not_resolve() -> None:
    error = await fail_to_connect("ws://127.0.0.1:8080/", proxy="http://proxy.example.invalid:3128")
    assert type(error) is wsapi.ProxyUnreachable
    assert "the host name of the proxy http://proxy.example.invalid:3128 could not be resolved" in (
        error.cause
    )


async def test_407_keeps_the_response(
    tinyproxy_auth_server: TinyproxyServer, websockets_server: WebsocketsServer
) -> None:
    proxy = tinyproxy_auth_server.url().replace("alice:s3cret@", "")
    error = await credentials_refused(websockets_server.url("/echo"), proxy)
    assert error.response is not None and error.response.status == 407
    assert error.challenge == 'Basic realm="Tinyproxy"'
    assert "requires credentials (HTTP 407 Proxy Authentication Required" in error.cause
    assert f"http://user:password@127.0.0.1:{tinyproxy_auth_server.port}" in error.fix


async def test_wrong_credentials(
    tinyproxy_auth_server: TinyproxyServer, websockets_server: WebsocketsServer
) -> None:
    proxy = tinyproxy_auth_server.url(credentials=("alice", "wrong"))
    error = await credentials_refused(websockets_server.url("/echo"), proxy)
    assert "rejected the credentials of the proxy URL" in error.cause


async def test_proxy_cannot_reach_the_server(tinyproxy_server: TinyproxyServer) -> None:
    url = f"ws://127.0.0.1:{free_port()}/"
    error = await fail_to_connect(url, proxy=tinyproxy_server.url())
    assert type(error) is wsapi.ProxyTunnelFailed
    assert (error.status, error.reason) == (500, "Unable to connect")
    assert "Tinyproxy was unable to connect" in error.body
    assert "could not reach the server" in error.fix


def _hang(conn: RawConnection) -> None:
    conn.read_request()
    conn.wait_eof(timeout=3.0)


async def test_proxy_that_never_answers_times_out_in_stage_proxy(
    scripted_server: StartServer,
) -> None:
    server = scripted_server(_hang)
    proxy = f"http://127.0.0.1:{server.port}"
    error = await fail_to_connect("ws://127.0.0.1:8080/", proxy=proxy, open_timeout=0.3)
    assert type(error) is wsapi.OpenTimeout
    assert error.stage == "proxy"
    assert error.cause == (
        f"timed out after 0.3 s while connecting through the proxy (127.0.0.1:{server.port})"
    )
    assert "names a running proxy" in error.fix
    request_line = server.connections[0].request_line
    assert request_line == "CONNECT 127.0.0.1:8080 HTTP/1.1"


async def test_proxy_that_closes_without_answering(scripted_server: StartServer) -> None:
    server = scripted_server(lambda conn: (conn.read_request(), conn.close()))
    error = await fail_to_connect("ws://127.0.0.1:8080/", proxy=f"http://127.0.0.1:{server.port}")
    assert type(error) is wsapi.ProxyInvalidResponse
    assert "closed the connection without answering CONNECT" in error.cause


async def test_https_proxy_with_an_untrusted_certificate(https_proxy: TLSRelay) -> None:
    proxy = f"https://localhost:{https_proxy.port}"
    error = await fail_to_connect("ws://127.0.0.1:8080/", proxy=proxy)
    assert type(error) is wsapi.ProxyTLSError
    assert f"the TLS certificate of the proxy {proxy} was rejected" in error.cause
    assert "proxy_ssl=" in error.fix


async def test_https_proxy_that_speaks_plain_http(scripted_server: StartServer) -> None:
    def plain(conn: RawConnection) -> None:
        conn.send_raw(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    server = scripted_server(plain)
    proxy = f"https://127.0.0.1:{server.port}"
    error = await fail_to_connect("ws://127.0.0.1:8080/", proxy=proxy)
    assert type(error) is wsapi.ProxyTLSError
    assert error.cause == f"the proxy {proxy} does not speak TLS (it answered in plain text)"
    assert "use http://" in error.fix
