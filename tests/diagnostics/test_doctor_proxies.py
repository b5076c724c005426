"""``diagnose()`` and ``wsapi doctor`` through proxies and to Unix sockets.

Real peers on loopback: tinyproxy (HTTP CONNECT, and behind a TLS front as an
``https://`` proxy), microsocks (SOCKS5), the ``websockets`` server on TCP and
on a Unix socket. Through a proxy the stages are the proxy's (which proxy, its
DNS, TCP, TLS, the tunnel) before TLS to the server; to a Unix socket, one
``unix`` stage replaces DNS and TCP.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import wsapi
from tests.diagnostics.helpers import TIMEOUT, free_port, server_context
from tests.peers.microsocks import MicrosocksServer
from tests.peers.scripted import RawConnection, ScriptedServer
from tests.peers.tinyproxy import TinyproxyServer
from tests.peers.tls_relay import TLSRelay
from tests.peers.websockets_server import WebsocketsServer
from tests.peers.websockets_unix import WebsocketsUnixServer
from tests.proxies.helpers import TLSTarget, tls_target
from wsapi.cli.main import main
from wsapi.diagnostics import DoctorReport, diagnose

StartServer = Callable[..., ScriptedServer]

#: The stages through an HTTP or socks5h:// proxy, and to a Unix socket.
THROUGH_PROXY = [
    "url", "proxy", "proxy-dns", "proxy-tcp", "proxy-tls", "tunnel",
    "tls", "http", "open", "ping", "close",
]  # fmt: skip
TO_UNIX_SOCKET = ["url", "unix", "tls", "http", "open", "ping", "close"]


@pytest.fixture(scope="module")
def tls_server() -> Iterator[TLSTarget]:
    with tls_target() as target:
        yield target


@pytest.fixture(scope="module")
def https_proxy(tinyproxy_server: TinyproxyServer, tls_server: TLSTarget) -> Iterator[str]:
    """tinyproxy behind TLS: an https:// proxy URL (certificate from tls_server's CA)."""
    cert = tls_server.ca.issue_cert("localhost", "127.0.0.1")
    with TLSRelay(tinyproxy_server.port, server_context(cert)) as relay:
        yield f"https://localhost:{relay.port}"


async def check(url: str, **options: Any) -> DoctorReport:
    with anyio.fail_after(TIMEOUT):
        report = await diagnose(url, **options)
    json.dumps(report.to_dict())  # serialisable as it is
    return report


def names(report: DoctorReport) -> list[str]:
    return [stage.name for stage in report.stages]


def statuses(report: DoctorReport) -> dict[str, str]:
    return {stage.name: stage.status for stage in report.stages}


def assert_failed_at(report: DoctorReport, name: str) -> wsapi.WebSocketError:
    """``name`` failed, with a fix; the stages before it passed (or were not needed),
    those after it were not reached. Returns the error a WebSocket raises."""
    failure = report.failure
    assert failure is not None and failure.name == name, statuses(report)
    assert failure.fix
    index = names(report).index(name)
    assert all(s.status in ("ok", "skipped") for s in report.stages[:index])
    assert all(s.status == "skipped" and s.seconds is None for s in report.stages[index + 1 :])
    assert isinstance(failure.error, wsapi.WebSocketError), failure.error
    return failure.error


# -- through an HTTP proxy ---------------------------------------------------------------


@pytest.mark.anyio
async def test_ws_through_an_http_proxy(
    tinyproxy_server: TinyproxyServer, websockets_server: WebsocketsServer
) -> None:
    url = websockets_server.url("/echo")
    report = await check(url, proxy=tinyproxy_server.url())
    assert report.ok, statuses(report)
    assert names(report) == THROUGH_PROXY
    port = tinyproxy_server.port
    proxy = report.stage("proxy")
    assert proxy.summary == f"http://127.0.0.1:{port}"
    assert proxy.details == ["HTTP proxy: a CONNECT tunnel to the server"]
    assert report.stage("proxy-dns").summary == "127.0.0.1 (an IP address: nothing to resolve)"
    assert report.stage("proxy-tcp").summary == f"connected to 127.0.0.1:{port}"
    assert report.stage("proxy-tls").summary == "not used: http:// proxy"
    tunnel = report.stage("tunnel")
    target = f"127.0.0.1:{websockets_server.port}"
    assert tunnel.summary == f"CONNECT {target}: HTTP/1.0 200 Connection established"
    assert tunnel.details[:2] == [f"> CONNECT {target} HTTP/1.1", f"> Host: {target}"]
    assert "< HTTP/1.0 200 Connection established" in tunnel.details
    assert tunnel.facts == {"target": target, "status": 200}
    assert report.stage("tls").summary == "not used: ws:// URL"
    assert report.stage("close").summary == "closed cleanly with code 1000"
    for stage in report.stages:
        assert stage.status == "skipped" or stage.seconds is not None


@pytest.mark.anyio
async def test_wss_through_an_http_proxy(
    tinyproxy_server: TinyproxyServer, tls_server: TLSTarget
) -> None:
    report = await check(
        tls_server.url("localhost"), proxy=tinyproxy_server.url(), ssl_context=tls_server.context
    )
    assert report.ok, statuses(report)
    tls = report.stage("tls")
    assert "verified: trusted by the ssl context given, valid for localhost" in tls.details
    assert report.stage("tunnel").facts["target"] == f"localhost:{tls_server.port}"


@pytest.mark.anyio
async def test_the_certificate_is_fetched_again_through_the_proxy(
    tinyproxy_server: TinyproxyServer, tls_server: TLSTarget
) -> None:
    # Not trusted (certifi's roots): the doctor shows it, read through a second tunnel.
    report = await check(tls_server.url(), proxy=tinyproxy_server.url())
    error = assert_failed_at(report, "tls")
    assert isinstance(error, wsapi.CertificateUntrusted)
    assert any(line.startswith("issuer: O=trustme") for line in report.stage("tls").details)


@pytest.mark.anyio
async def test_credentials_are_sent_and_never_shown(
    tinyproxy_auth_server: TinyproxyServer, websockets_server: WebsocketsServer
) -> None:
    report = await check(websockets_server.url("/echo"), proxy=tinyproxy_auth_server.url())
    assert report.ok, statuses(report)
    assert "credentials in the proxy URL: sent as Proxy-Authorization (not shown)" in (
        report.stage("proxy").details
    )
    assert "> Proxy-Authorization: Basic <redacted>" in report.stage("tunnel").details
    text = json.dumps(report.to_dict())
    assert "s3cret" not in text and "YWxpY2U6czNjcmV0" not in text


@pytest.mark.anyio
async def test_407_fails_the_tunnel_stage(
    tinyproxy_auth_server: TinyproxyServer, websockets_server: WebsocketsServer
) -> None:
    proxy = f"http://127.0.0.1:{tinyproxy_auth_server.port}"
    report = await check(websockets_server.url("/echo"), proxy=proxy)
    error = assert_failed_at(report, "tunnel")
    assert isinstance(error, wsapi.ProxyAuthRequired)
    tunnel = report.stage("tunnel")
    assert "< HTTP/1.0 407 Proxy Authentication Required" in tunnel.details
    assert tunnel.facts["status"] == 407
    assert f"http://user:password@127.0.0.1:{tinyproxy_auth_server.port}" in tunnel.fix


@pytest.mark.anyio
async def test_a_proxy_that_cannot_reach_the_server(tinyproxy_server: TinyproxyServer) -> None:
    report = await check(f"ws://127.0.0.1:{free_port()}/", proxy=tinyproxy_server.url())
    error = assert_failed_at(report, "tunnel")
    assert isinstance(error, wsapi.ProxyTunnelFailed) and error.status == 500
    assert "could not reach the server" in report.stage("tunnel").fix


@pytest.mark.anyio
async def test_proxy_refused() -> None:
    port = free_port()
    report = await check("ws://127.0.0.1:8080/", proxy=f"http://127.0.0.1:{port}")
    error = assert_failed_at(report, "proxy-tcp")
    assert isinstance(error, wsapi.ProxyRefused)
    [line] = report.stage("proxy-tcp").details
    assert line.startswith(f"127.0.0.1:{port}  ") and line.endswith("Connection refused")


@pytest.mark.anyio
async def test_proxy_host_that_does_not_resolve() -> None:
    report = await check("ws://127.0.0.1:8080/", proxy="http://wsapi-proxy.invalid:3128")
    error = assert_failed_at(report, "proxy-dns")
    assert isinstance(error, wsapi.ProxyUnreachable)


@pytest.mark.anyio
async def test_a_proxy_that_never_answers(scripted_server: StartServer) -> None:
    def hang(conn: RawConnection) -> None:
        conn.read_request()
        conn.wait_eof(timeout=3.0)

    server = scripted_server(hang)
    proxy = f"http://127.0.0.1:{server.port}"
    report = await check("ws://127.0.0.1:8080/", proxy=proxy, stage_timeout=0.3)
    error = assert_failed_at(report, "tunnel")
    assert isinstance(error, wsapi.OpenTimeout) and error.stage == "proxy"
    assert f"while connecting through the proxy (127.0.0.1:{server.port})" in error.cause
    assert "> CONNECT 127.0.0.1:8080 HTTP/1.1" in report.stage("tunnel").details


@pytest.mark.anyio
async def test_https_proxy(https_proxy: str, tls_server: TLSTarget) -> None:
    report = await check(
        tls_server.url(),
        proxy=https_proxy,
        proxy_ssl=tls_server.context,
        ssl_context=tls_server.context,
    )
    assert report.ok, statuses(report)
    proxy_tls = report.stage("proxy-tls")
    assert proxy_tls.summary.startswith("TLSv1.")
    assert "names: localhost, 127.0.0.1" in proxy_tls.details
    assert "verified: trusted by proxy_ssl, valid for localhost" in proxy_tls.details


@pytest.mark.anyio
async def test_https_proxy_with_an_untrusted_certificate(https_proxy: str) -> None:
    report = await check("ws://127.0.0.1:8080/", proxy=https_proxy)
    error = assert_failed_at(report, "proxy-tls")
    assert isinstance(error, wsapi.ProxyTLSError)
    assert "proxy_ssl=" in report.stage("proxy-tls").fix


# -- which proxy: the environment, as WebSocket reads it ---------------------------------


@pytest.mark.anyio
async def test_the_proxy_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
    tinyproxy_server: TinyproxyServer,
    websockets_server: WebsocketsServer,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", tinyproxy_server.url())
    report = await check(websockets_server.url("/echo"))
    assert report.ok and names(report) == THROUGH_PROXY
    proxy = report.stage("proxy")
    assert proxy.summary == f"{tinyproxy_server.url()} (from HTTP_PROXY)"
    assert proxy.facts["source"] == "HTTP_PROXY"


@pytest.mark.anyio
@pytest.mark.parametrize("bypass", ["proxy=None", "NO_PROXY"])
async def test_no_proxy_is_a_direct_connection(
    monkeypatch: pytest.MonkeyPatch, websockets_server: WebsocketsServer, bypass: str
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")  # would be refused
    options: dict[str, Any] = {}
    if bypass == "NO_PROXY":
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    else:
        options["proxy"] = None
    report = await check(websockets_server.url("/echo"), **options)
    assert report.ok
    assert names(report) == ["url", "dns", "tcp", "tls", "http", "open", "ping", "close"]


@pytest.mark.anyio
async def test_an_unusable_proxy_variable_fails_the_proxy_stage(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "ftp://alice:s3cret@127.0.0.1:21")
    report = await check("ws://127.0.0.1:8080/")
    error = assert_failed_at(report, "proxy")
    assert type(error) is wsapi.ProxyError
    assert "Set HTTP_PROXY to a URL such as http://proxy.example:3128" in report.stage("proxy").fix
    assert "s3cret" not in json.dumps(report.to_dict())


@pytest.mark.anyio
async def test_an_invalid_proxy_option_fails_the_proxy_stage() -> None:
    report = await check("ws://127.0.0.1:8080/", proxy="ftp://127.0.0.1:21")
    failure = report.failure
    assert failure is not None and failure.name == "proxy"
    assert isinstance(failure.error, ValueError)
    assert "the scheme must be http, https, socks5 or socks5h" in failure.summary


# -- through a SOCKS5 proxy --------------------------------------------------------------


@pytest.mark.anyio
async def test_ws_through_a_socks5h_proxy(
    microsocks_server: MicrosocksServer, websockets_server: WebsocketsServer
) -> None:
    report = await check(
        websockets_server.url("/echo"), proxy=microsocks_server.url(scheme="socks5h")
    )
    assert report.ok, statuses(report)
    assert names(report) == THROUGH_PROXY
    assert report.stage("proxy-tls").summary == "not used: SOCKS5 proxy"
    target = f"127.0.0.1:{websockets_server.port}"
    tunnel = report.stage("tunnel")
    assert tunnel.summary == f"SOCKS5 CONNECT {target}: succeeded"
    assert tunnel.details == [f"SOCKS5 CONNECT {target} (a name the proxy resolves)"]


@pytest.mark.anyio
async def test_socks5_resolves_the_server_name_here(
    microsocks_server: MicrosocksServer, websockets_server: WebsocketsServer
) -> None:
    url = f"ws://localhost:{websockets_server.port}/echo"
    report = await check(url, proxy=microsocks_server.url(scheme="socks5"))
    assert report.ok, statuses(report)
    assert names(report) == ["url", "proxy", "dns", *THROUGH_PROXY[2:]]
    assert report.stage("dns").summary.startswith("localhost -> ")
    assert report.stage("tunnel").details[0].endswith("(an address)")


@pytest.mark.anyio
async def test_socks5_credentials_required(
    microsocks_auth_server: MicrosocksServer, websockets_server: WebsocketsServer
) -> None:
    proxy = f"socks5://127.0.0.1:{microsocks_auth_server.port}"
    report = await check(websockets_server.url("/echo"), proxy=proxy)
    error = assert_failed_at(report, "tunnel")
    assert isinstance(error, wsapi.ProxyAuthRequired) and error.response is None


@pytest.mark.anyio
async def test_socks5_reply_refused(microsocks_server: MicrosocksServer) -> None:
    report = await check(f"ws://127.0.0.1:{free_port()}/", proxy=microsocks_server.url())
    error = assert_failed_at(report, "tunnel")
    assert isinstance(error, wsapi.SOCKSError) and error.reply_code == 5


# -- to a Unix socket --------------------------------------------------------------------


@pytest.mark.anyio
async def test_unix_socket(
    monkeypatch: pytest.MonkeyPatch, websockets_unix_server: WebsocketsUnixServer
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")  # ignored
    server = websockets_unix_server
    report = await check(server.url("/echo"), unix_socket=Path(server.path))
    assert report.ok, statuses(report)
    assert names(report) == TO_UNIX_SOCKET
    assert report.stage("unix").summary == f"connected to unix:{server.path}"
    assert "> Host: localhost" in report.stage("http").details


@pytest.mark.anyio
async def test_unix_socket_that_does_not_exist(tmp_path: Path) -> None:
    path = tmp_path / "missing.sock"
    report = await check("ws://localhost/", unix_socket=str(path))
    error = assert_failed_at(report, "unix")
    assert isinstance(error, wsapi.ConnectionRefused)
    assert f"the Unix socket {path} does not exist" in report.stage("unix").summary


@pytest.mark.anyio
async def test_unix_socket_and_a_proxy_url() -> None:
    report = await check("ws://localhost/", unix_socket="/tmp/x.sock", proxy="http://p:3128")
    failure = report.failure
    assert failure is not None and failure.name == "unix"
    assert isinstance(failure.error, ValueError)
    assert names(report) == TO_UNIX_SOCKET


# -- wsapi doctor --proxy / --unix-socket ------------------------------------------------

BACKENDS = pytest.mark.parametrize("backend", ["asyncio", "trio"])


def doctor(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    status = main(["doctor", *args])
    return status, capsys.readouterr().out


def stage_lines(out: str) -> list[tuple[str, str]]:
    """(mark, title) of each stage line."""
    found = re.findall(r"^  (ok  |FAIL|skip)  (\S.*?)  ", out, re.MULTILINE)
    return [(mark.strip(), title.strip()) for mark, title in found]


@BACKENDS
def test_doctor_through_a_proxy(
    capsys: pytest.CaptureFixture[str],
    tinyproxy_auth_server: TinyproxyServer,
    websockets_server: WebsocketsServer,
    backend: str,
) -> None:
    url = websockets_server.url("/echo")
    status, out = doctor(capsys, url, "--proxy", tinyproxy_auth_server.url(), "--backend", backend)
    assert status == 0, out
    assert stage_lines(out) == [
        ("ok", "URL"),
        ("ok", "proxy"),
        ("ok", "proxy DNS"),
        ("ok", "proxy TCP connect"),
        ("skip", "proxy TLS"),
        ("ok", "proxy tunnel"),
        ("skip", "TLS"),
        ("ok", "HTTP upgrade"),
        ("ok", "WebSocket open"),
        ("ok", "ping round trip"),
        ("ok", "closing handshake"),
    ]
    assert re.search(
        r"^  ok    proxy tunnel +\d+\.\d ms  CONNECT 127\.0\.0\.1:\d+: HTTP", out, re.M
    )
    assert "        > Proxy-Authorization: Basic <redacted>" in out
    assert "s3cret" not in out
    assert out.splitlines()[-1] == "All 9 stages passed."


@BACKENDS
def test_doctor_shows_the_fix_for_the_proxy_stage_that_failed(
    capsys: pytest.CaptureFixture[str],
    tinyproxy_auth_server: TinyproxyServer,
    websockets_server: WebsocketsServer,
    backend: str,
) -> None:
    proxy = f"http://127.0.0.1:{tinyproxy_auth_server.port}"
    status, out = doctor(
        capsys, websockets_server.url("/echo"), "--proxy", proxy, "--backend", backend
    )
    assert status == 1
    assert re.search(
        r"^  FAIL  proxy tunnel +\d+\.\d ms  the proxy .* requires credentials", out, re.M
    )
    assert "The proxy tunnel stage failed: a WebSocket raises wsapi.ProxyAuthRequired." in out
    assert "Fix: Put them in the proxy URL, in proxy=: http://user:password@127.0.0.1:" in out
    assert re.search(r"^  skip  HTTP upgrade +not reached$", out, re.M)


@BACKENDS
def test_doctor_reads_the_proxy_variables(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    microsocks_server: MicrosocksServer,
    websockets_server: WebsocketsServer,
    backend: str,
) -> None:
    monkeypatch.setenv("ALL_PROXY", microsocks_server.url(scheme="socks5h"))
    url = websockets_server.url("/echo")
    status, out = doctor(capsys, url, "--json", "--backend", backend)
    assert status == 0
    report = json.loads(out)
    assert [stage["name"] for stage in report["stages"]] == THROUGH_PROXY
    assert (
        report["stages"][1]["summary"]
        == f"{microsocks_server.url(scheme='socks5h')} (from ALL_PROXY)"
    )
    # --no-proxy: directly, whatever the environment says.
    status, out = doctor(capsys, url, "--no-proxy", "--json", "--backend", backend)
    assert status == 0
    assert "proxy" not in [stage["name"] for stage in json.loads(out)["stages"]]


@BACKENDS
def test_doctor_to_a_unix_socket(
    capsys: pytest.CaptureFixture[str],
    websockets_unix_server: WebsocketsUnixServer,
    backend: str,
) -> None:
    server = websockets_unix_server
    status, out = doctor(
        capsys, server.url("/echo"), "--unix-socket", server.path, "--backend", backend
    )
    assert status == 0, out
    assert [title for _, title in stage_lines(out)][:3] == ["URL", "Unix socket", "TLS"]
    assert re.search(
        rf"^  ok    Unix socket +\d+\.\d ms  connected to unix:{re.escape(server.path)}$", out, re.M
    )
