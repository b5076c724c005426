"""Every cause of a failed connection, reproduced on loopback with real parts.

Each test asserts the class, the facts the message names (address, status and
body, certificate problem, subprotocols...) and the fix. Peers: nginx as a
reverse proxy (tests/peers/nginx.py), certificates from trustme, the
``websockets`` server, Node's ``ws`` server, listeners that never accept, and
scripted servers for the rest. Every test runs on asyncio and on trio.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import ssl
from typing import Any

import anyio
import pytest
import trustme

import wsapi
from tests.diagnostics.helpers import (
    TIMEOUT,
    Recorder,
    assert_says,
    fail_to_connect,
    free_port,
    future,
    never_accepting_listener,
    past,
    self_signed_context,
    server_context,
    tls_echo_server,
    trusting,
)
from tests.peers.nginx import NginxServer
from tests.peers.node_server import NodeWsServer
from tests.peers.scripted import RawConnection, sec_websocket_accept
from tests.peers.websockets_server import WebsocketsServer
from wsapi import DOMException, WebSocket
from wsapi.testing import echo, serve
from wsapi.transport import connect as connect_module

pytestmark = pytest.mark.anyio

StartServer = Any  # the scripted_server fixture's factory

NGINX_LINES = (
    "proxy_http_version 1.1",
    "proxy_set_header Upgrade $http_upgrade",
    'proxy_set_header Connection "upgrade"',
)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


# -- the URL -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://example.com/", "scheme"),
        ("wss://example.com/chat#top", "fragment"),
        ("ws://", "Invalid WebSocket URL"),
    ],
)
async def test_invalid_url_is_a_syntax_error_at_construction(url: str, words: str) -> None:
    with pytest.raises(DOMException) as info:
        WebSocket(url)
    assert info.value.name == "SyntaxError"
    assert words in str(info.value)


async def test_credentials_in_an_invalid_url_are_not_shown() -> None:
    with pytest.raises(DOMException) as info:
        WebSocket("ftp://user:s3cret@example.com/")
    assert "s3cret" not in str(info.value)


# -- DNS, TCP ----------------------------------------------------------------------------


async def test_dns_failure_names_the_host() -> None:
    error = await fail_to_connect("ws://wsapi-test.invalid:8080/chat")
    assert type(error) is wsapi.DNSError
    assert error.stage == "dns"
    assert_says(error, "'wsapi-test.invalid'", "could not be resolved", fix=("host name",))
    assert isinstance(error.__cause__, socket.gaierror)


async def test_closed_port_is_refused_and_names_the_address() -> None:
    port = free_port()
    error = await fail_to_connect(f"ws://127.0.0.1:{port}/")
    assert type(error) is wsapi.ConnectionRefused
    assert error.stage == "tcp"
    assert_says(
        error, f"127.0.0.1:{port}", "refused", f"port {port}", fix=("the server is running",)
    )
    assert isinstance(error.__cause__, ConnectionRefusedError)


@pytest.mark.parametrize("code", [errno.EHOSTUNREACH, errno.ENETUNREACH])
async def test_unreachable_address(monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    # No route from loopback can be unreachable: the system call's answer is scripted.
    async def unreachable(host: str, port: int, **kwargs: Any) -> Any:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(connect_module, "connect_tcp", unreachable)
    port = free_port()
    error = await fail_to_connect(f"ws://127.0.0.1:{port}/")
    assert type(error) is wsapi.HostUnreachable
    assert isinstance(error, wsapi.NetworkError)
    assert_says(error, f"could not reach 127.0.0.1:{port}", fix=("no network route",))
    assert isinstance(error.__cause__, OSError) and error.__cause__.errno == code


async def test_other_network_errors_list_each_address(monkeypatch: pytest.MonkeyPatch) -> None:
    async def reset(host: str, port: int, **kwargs: Any) -> Any:
        raise ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")

    monkeypatch.setattr(connect_module, "connect_tcp", reset)
    error = await fail_to_connect(f"ws://127.0.0.1:{free_port()}/")
    assert type(error) is wsapi.NetworkError
    assert_says(error, "(Connection reset by peer)", fix=("firewalls",))


async def test_listener_that_never_accepts_with_a_full_backlog_times_out_in_tcp() -> None:
    with never_accepting_listener(full=True) as port:
        error = await fail_to_connect(f"ws://127.0.0.1:{port}/", open_timeout=0.3)
    assert type(error) is wsapi.OpenTimeout
    assert error.stage == "tcp"
    assert_says(
        error, "timed out after 0.3 s while connecting", f"127.0.0.1:{port}", fix=("firewall",)
    )


async def test_listener_that_never_accepts_times_out_waiting_for_http() -> None:
    with never_accepting_listener(full=False) as port:
        error = await fail_to_connect(f"ws://127.0.0.1:{port}/", open_timeout=0.3)
    assert type(error) is wsapi.OpenTimeout
    assert error.stage == "http"
    assert_says(error, "timed out after 0.3 s", "upgrade request", fix=("WebSocket endpoint",))


async def test_tls_handshake_that_never_ends_times_out_in_tls(
    scripted_server: StartServer,
) -> None:
    server = scripted_server(lambda conn: conn.wait_eof(timeout=3.0))
    url = server.url().replace("ws://", "wss://")
    error = await fail_to_connect(url, open_timeout=0.3)
    assert type(error) is wsapi.OpenTimeout
    assert error.stage == "tls"
    assert_says(error, "TLS handshake", fix=("speaks TLS",))


# -- TLS -----------------------------------------------------------------------------------


async def test_valid_certificate_positive_control(ca: trustme.CA) -> None:
    with tls_echo_server(server_context(ca.issue_cert("localhost"))) as port:
        with anyio.fail_after(TIMEOUT):
            async with WebSocket(f"wss://localhost:{port}/", ssl=trusting(ca)) as ws:
                ws.send("over TLS")
                assert await ws.recv() == "over TLS"


async def test_expired_certificate(ca: trustme.CA) -> None:
    cert = ca.issue_cert("localhost", not_before=past(400), not_after=past(35))
    with tls_echo_server(server_context(cert)) as port:
        error = await fail_to_connect(f"wss://localhost:{port}/", ssl=trusting(ca))
    assert type(error) is wsapi.CertificateExpired
    assert isinstance(error, wsapi.TLSError)
    assert error.stage == "tls"
    assert error.verify_code == 10
    assert_says(error, "has expired", fix=("renewed", "wsapi doctor"))
    assert isinstance(error.__cause__, ssl.SSLCertVerificationError)


async def test_certificate_not_yet_valid(ca: trustme.CA) -> None:
    cert = ca.issue_cert("localhost", not_before=future(30), not_after=future(400))
    with tls_echo_server(server_context(cert)) as port:
        error = await fail_to_connect(f"wss://localhost:{port}/", ssl=trusting(ca))
    assert type(error) is wsapi.CertificateNotYetValid
    assert error.verify_code == 9
    assert_says(error, "not valid yet", fix=("clocks",))


async def test_certificate_for_another_host(ca: trustme.CA) -> None:
    with tls_echo_server(server_context(ca.issue_cert("other.example"))) as port:
        error = await fail_to_connect(f"wss://localhost:{port}/", ssl=trusting(ca))
    assert type(error) is wsapi.CertificateHostMismatch
    assert error.hostname == "localhost"
    assert_says(error, "not valid for 'localhost'", fix=("host name it names",))


async def test_certificate_from_an_unknown_ca(ca: trustme.CA) -> None:
    with tls_echo_server(server_context(ca.issue_cert("localhost"))) as port:
        error = await fail_to_connect(f"wss://localhost:{port}/")  # certifi's roots
    assert type(error) is wsapi.CertificateUntrusted
    assert error.verify_code == 20
    assert_says(
        error, "unknown certificate authority", fix=("ssl=ssl.create_default_context", "certifi")
    )


async def test_self_signed_certificate() -> None:
    with tls_echo_server(self_signed_context("localhost")) as port:
        error = await fail_to_connect(f"wss://localhost:{port}/")
    assert type(error) is wsapi.CertificateUntrusted
    assert error.verify_code == 18
    assert_says(error, "self-signed", fix=("cafile=", "certifi"))


async def test_wss_to_a_plain_port() -> None:
    # The embedded server answers a ClientHello with a plain-text HTTP 400.
    async with serve(echo) as server:
        url = server.url.replace("ws://", "wss://")
        error = await fail_to_connect(url)
    assert type(error) is wsapi.NotTLS
    assert isinstance(error, wsapi.TLSError)
    plain = f"ws://127.0.0.1:{server.port}/"
    assert_says(error, f"127.0.0.1:{server.port}", "does not speak TLS", fix=(plain,))


async def test_ws_to_nginx_tls_port(nginx_server: NginxServer) -> None:
    url = nginx_server.tls_url("/good/echo", host="127.0.0.1").replace("wss://", "ws://")
    error = await fail_to_connect(url)
    assert type(error) is wsapi.InvalidStatus
    assert error.status == 400
    assert_says(error, "plain HTTP request was sent to HTTPS port", fix=("use wss://",))


async def test_ws_to_a_port_that_answers_in_tls(scripted_server: StartServer) -> None:
    def tls_alert(conn: RawConnection) -> None:
        conn.read_request()
        conn.send_raw(b"\x15\x03\x01\x00\x02\x02\x46")  # a TLS alert: protocol_version

    server = scripted_server(tls_alert)
    error = await fail_to_connect(server.url("/chat"))
    assert type(error) is wsapi.TLSRequired
    assert_says(error, "answered with TLS", fix=(f"wss://127.0.0.1:{server.port}/chat",))


# -- refused by HTTP status -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "reason", "fix"),
    [(401, "Unauthorized", "headers={'Authorization'"), (403, "Forbidden", "origin=")],
)
async def test_websockets_server_refuses_with_a_json_body(
    websockets_server: WebsocketsServer, status: int, reason: str, fix: str
) -> None:
    url = websockets_server.url(f"/reject?status={status}&body=token%20expired")
    error = await fail_to_connect(url)
    assert type(error) is wsapi.InvalidStatus
    assert error.stage == "http"
    assert (error.status, error.reason) == (status, reason)
    assert error.body == {"error": "token expired"}
    assert dict(error.headers)["Content-Type"] == "application/json"
    assert_says(error, f"HTTP {status}", '{"error": "token expired"}', fix=(fix,))


async def test_node_ws_rejects_the_origin(node_ws_server: NodeWsServer) -> None:
    url = node_ws_server.url("/origin-check?allow=https://app.example")
    error = await fail_to_connect(url)
    assert type(error) is wsapi.InvalidStatus
    assert error.status == 403
    assert_says(error, "HTTP 403 Forbidden", fix=("Origin", "origin=..."))
    # Positive control: the origin it allows.
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(url, origin="https://app.example") as ws:
            ws.send("hello")
            assert await ws.recv() == "hello"


async def test_redirect_carries_the_location(scripted_server: StartServer) -> None:
    def moved(conn: RawConnection) -> None:
        conn.respond(301, "Moved Permanently", [("Location", "https://new.example/socket")])

    server = scripted_server(moved)
    error = await fail_to_connect(server.url("/old"))
    assert type(error) is wsapi.RedirectReceived
    assert isinstance(error, wsapi.InvalidStatus)
    assert error.location == "https://new.example/socket"
    assert_says(
        error,
        "HTTP 301 Moved Permanently",
        fix=("redirects to https://new.example/socket", "wss://new.example/socket"),
    )


async def test_http_1_0_answer(scripted_server: StartServer) -> None:
    def old_server(conn: RawConnection) -> None:
        conn.read_request()
        conn.send_raw(b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<h1>Welcome</h1>")
        conn.close()

    server = scripted_server(old_server)
    error = await fail_to_connect(server.url())
    assert type(error) is wsapi.InvalidStatus
    assert error.response is not None and error.response.http_version == "1.0"
    assert_says(error, "HTTP 200 OK", "in HTTP/1.0", "Welcome", fix=("proxy_http_version 1.1",))


# -- nginx as a reverse proxy ------------------------------------------------------------------


async def test_nginx_correct_configuration_positive_control(nginx_server: NginxServer) -> None:
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(nginx_server.url("/good/echo")) as ws:
            ws.send("through nginx")
            assert await ws.recv() == "through nginx"
        tls = nginx_server.tls_url("/good/echo")
        async with WebSocket(tls, ssl=nginx_server.client_context()) as ws:
            ws.send("through nginx, over TLS")
            assert await ws.recv() == "through nginx, over TLS"


async def test_nginx_without_upgrade_forwarding(nginx_server: NginxServer) -> None:
    error = await fail_to_connect(nginx_server.url("/no-upgrade/echo"))
    assert type(error) is wsapi.InvalidStatus
    assert error.status == 426
    assert_says(
        error,
        "HTTP 426 Upgrade Required",
        "invalid Connection header",  # the backend's words, in the body excerpt
        fix=("Upgrade and Connection headers", *NGINX_LINES, "nginx/"),
    )


def skip_unless_backend_answers_http_1_0() -> None:
    """websockets < 17 (the newest on Python 3.10) crashes on an HTTP/1.0 request: nginx 502."""
    import websockets.version

    if int(websockets.version.version.split(".")[0]) < 17:
        pytest.skip("the websockets backend answers HTTP/1.0 with 505 only from version 17")


async def test_nginx_speaking_http_1_0_to_the_backend(nginx_server: NginxServer) -> None:
    skip_unless_backend_answers_http_1_0()
    error = await fail_to_connect(nginx_server.url("/http10/echo"))
    assert type(error) is wsapi.InvalidStatus
    assert error.status == 505
    assert_says(error, "HTTP 505", "HTTP/1.0", fix=("HTTP/1.1", "proxy_http_version 1.1"))


async def test_nginx_wrong_location(nginx_server: NginxServer) -> None:
    error = await fail_to_connect(nginx_server.url("/echo"))  # no location forwards /echo
    assert type(error) is wsapi.InvalidStatus
    assert error.status == 404
    # The HTML page is reduced to its text.
    assert_says(error, "(body: '404 Not Found nginx/", fix=("path", "nginx/", "location"))
    assert "<html>" not in str(error)


async def test_nginx_backend_down(nginx_server: NginxServer) -> None:
    error = await fail_to_connect(nginx_server.url("/down/echo"))
    assert type(error) is wsapi.InvalidStatus
    assert error.status == 502
    assert_says(error, "HTTP 502 Bad Gateway", fix=("backend is up", "proxy_pass", "nginx/"))


# -- the 101 answered wrongly ----------------------------------------------------------------


def _without(header: str) -> Any:
    def script(conn: RawConnection) -> None:
        _, headers = conn.read_request()
        lines = ["HTTP/1.1 101 Switching Protocols"]
        if header != "Upgrade":
            lines.append("Upgrade: websocket")
        if header != "Connection":
            lines.append("Connection: Upgrade")
        lines.append(f"Sec-WebSocket-Accept: {sec_websocket_accept(headers['sec-websocket-key'])}")
        conn.send_raw(("\r\n".join(lines) + "\r\n\r\n").encode())

    return script


@pytest.mark.parametrize("header", ["Upgrade", "Connection"])
async def test_missing_upgrade_or_connection(scripted_server: StartServer, header: str) -> None:
    error = await fail_to_connect(scripted_server(_without(header)).url())
    assert type(error) is wsapi.InvalidUpgrade
    assert error.response is not None and error.response.status == 101
    assert_says(error, f"no {header} header", fix=("proxy", *NGINX_LINES))


async def test_wrong_accept(scripted_server: StartServer) -> None:
    server = scripted_server(lambda conn: conn.accept(accept_key="bm90IHRoZSByaWdodCBrZXk="))
    error = await fail_to_connect(server.url())
    assert type(error) is wsapi.InvalidAccept
    assert_says(error, "'bm90IHRoZSByaWdodCBrZXk='", "expected", fix=("Sec-WebSocket-Key",))


async def test_subprotocol_that_was_not_offered(scripted_server: StartServer) -> None:
    server = scripted_server(lambda conn: conn.accept(subprotocol="graphql-ws"))
    error = await fail_to_connect(server.url(), protocols=["chat.v1", "chat.v2"])
    assert type(error) is wsapi.UnexpectedSubprotocol
    assert error.offered == ("chat.v1", "chat.v2")
    assert error.chosen == ("graphql-ws",)
    assert_says(
        error, "'graphql-ws'", "offered: chat.v1, chat.v2", fix=("protocols", "'graphql-ws'")
    )


async def test_extension_that_was_not_offered(scripted_server: StartServer) -> None:
    server = scripted_server(lambda conn: conn.accept(extensions="x-webkit-deflate-frame"))
    error = await fail_to_connect(server.url())
    assert type(error) is wsapi.UnexpectedExtension
    assert error.extension == "x-webkit-deflate-frame"
    assert_says(error, "'x-webkit-deflate-frame'", "offered: permessage-deflate", fix=("offers",))


async def test_answer_that_is_not_http(scripted_server: StartServer) -> None:
    def ssh(conn: RawConnection) -> None:
        conn.read_request()
        conn.send_raw(b"SSH-2.0-OpenSSH_9.6\r\n")

    error = await fail_to_connect(scripted_server(ssh).url())
    assert type(error) is wsapi.NotHTTP
    assert_says(error, "not valid HTTP", "SSH-2.0", fix=("WebSocket (HTTP) server",))


async def test_answer_that_is_not_http_says_what_came(scripted_server: StartServer) -> None:
    def ssh(conn: RawConnection) -> None:
        conn.read_request()
        conn.send_raw(b"SSH-2.0-OpenSSH_9.6\r\n")

    error = await fail_to_connect(scripted_server(ssh).url())
    assert isinstance(error, wsapi.InvalidHandshake)
    assert_says(error, "not valid HTTP", "SSH-2.0", fix=("WebSocket (HTTP) server",))


# -- the server closes ---------------------------------------------------------------------


async def test_server_closes_during_the_handshake(scripted_server: StartServer) -> None:
    def hang_up(conn: RawConnection) -> None:
        conn.read_request()
        conn.abort()  # a TCP reset

    error = await fail_to_connect(scripted_server(hang_up).url())
    assert type(error) is wsapi.ConnectionAborted
    assert_says(error, "without answering the upgrade request", fix=("wss://",))


async def test_server_closes_right_after_the_handshake(scripted_server: StartServer) -> None:
    def accept_then_leave(conn: RawConnection) -> None:
        conn.accept()
        conn.close()

    ws = WebSocket(scripted_server(accept_then_leave).url())
    recorder = Recorder(ws)
    with anyio.fail_after(TIMEOUT):
        async with ws:
            close = await ws.wait_closed()
    assert recorder.types == ["open", "error", "close"]
    assert (close.code, close.wasClean) == (1006, False)
    assert recorder.error is not None
    assert isinstance(recorder.error.error, wsapi.ConnectionLost)
    assert recorder.error.message == str(recorder.error.error)
    assert "without a closing handshake" in recorder.error.message


async def test_closing_handshake_timeout(scripted_server: StartServer) -> None:
    def ignore_close(conn: RawConnection) -> None:
        conn.accept()
        conn.wait_eof(timeout=3.0)

    ws = WebSocket(scripted_server(ignore_close).url(), close_timeout=0.3)
    recorder = Recorder(ws)
    with anyio.fail_after(TIMEOUT):
        async with ws:
            pass
    assert recorder.error is not None
    assert type(recorder.error.error) is wsapi.CloseTimeout
    assert "close_timeout (0.3 s)" in recorder.error.message


# -- credentials never appear --------------------------------------------------------------


async def test_credentials_are_redacted(websockets_server: WebsocketsServer) -> None:
    url = websockets_server.url("/reject?status=401&body=no").replace(
        "ws://", "ws://alice:pa55word@"
    )
    headers = {"Authorization": "Bearer t0ken-secret", "Cookie": "session=c00kie-secret"}
    ws = WebSocket(url, headers=headers)
    recorder = Recorder(ws)
    with anyio.fail_after(TIMEOUT), pytest.raises(wsapi.InvalidStatus) as info:
        async with ws:
            pytest.fail("the connection opened")
    assert recorder.error is not None
    for text in (str(info.value), repr(info.value), recorder.error.message, repr(ws)):
        for secret in ("alice", "pa55word", "t0ken-secret", "c00kie-secret"):
            assert secret not in text
    assert info.value.url == websockets_server.url("/reject?status=401&body=no")


async def test_sent_headers_reach_the_server_but_not_the_message(
    websockets_server: WebsocketsServer,
) -> None:
    # Positive control: the credential did travel (the /headers route echoes them).
    url = websockets_server.url("/headers")
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(url, headers={"Authorization": "Bearer t0ken"}) as ws:
            received = await ws.recv()
    assert isinstance(received, str)
    assert json.loads(received)["authorization"] == "Bearer t0ken"
