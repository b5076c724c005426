"""The sans-IO tunnels: HTTP CONNECT (h11) and SOCKS5 (socksio), bytes in, typed errors out.

No loop, no sockets: every answer a proxy may give is fed as bytes, whole or one
byte at a time, and the typed error and its message are checked.
"""

from __future__ import annotations

import socket

import pytest

import wsapi
from wsapi.protocol.proxy import HTTPTunnel, ProxyURL, parse_proxy_url
from wsapi.protocol.socks import REPLIES, SOCKS5Tunnel, socks_error
from wsapi.protocol.url import parse_url

URL = parse_url("wss://example.com/chat")
HTTP = parse_proxy_url("http://127.0.0.1:3128", "HTTPS_PROXY")
HTTP_AUTH = parse_proxy_url("http://alice:s3cret@127.0.0.1:3128")
SOCKS = parse_proxy_url("socks5h://127.0.0.1:1080")
SOCKS_AUTH = parse_proxy_url("socks5://bob:pw@127.0.0.1:1080")


def feed(tunnel: HTTPTunnel | SOCKS5Tunnel, data: bytes, *, bytewise: bool = False) -> bool:
    """Feed ``data`` (whole, or a byte at a time); the last result."""
    chunks = [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
    done = False
    for chunk in chunks:
        done = tunnel.receive_data(chunk)
    return done


def http_failure(answer: bytes, proxy: ProxyURL = HTTP, eof: bool = True) -> wsapi.ProxyError:
    tunnel = HTTPTunnel(URL, proxy)
    tunnel.data_to_send()
    with pytest.raises(wsapi.ProxyError) as info:
        feed(tunnel, answer)
        if eof:
            tunnel.receive_data(b"")
    return info.value


# -- HTTP CONNECT ------------------------------------------------------------------------


def test_connect_request() -> None:
    tunnel = HTTPTunnel(URL, HTTP)
    assert tunnel.data_to_send() == (
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
    )
    assert tunnel.data_to_send() == b""


def test_connect_request_with_credentials_and_ipv6() -> None:
    tunnel = HTTPTunnel(parse_url("ws://[::1]:8080/"), HTTP_AUTH)
    assert tunnel.data_to_send() == (
        b"CONNECT [::1]:8080 HTTP/1.1\r\nHost: [::1]:8080\r\n"
        b"Proxy-Authorization: Basic YWxpY2U6czNjcmV0\r\n\r\n"
    )


@pytest.mark.parametrize("bytewise", [False, True])
def test_tunnel_opens_on_2xx(bytewise: bool) -> None:
    tunnel = HTTPTunnel(URL, HTTP)
    answer = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 Connection established\r\nVia: x\r\n\r\n"
    assert feed(tunnel, answer, bytewise=bytewise) is True
    assert tunnel.response is not None
    assert (tunnel.response.status, tunnel.response.reason) == (200, "Connection established")


def test_tunnel_answer_in_pieces_is_not_done_early() -> None:
    tunnel = HTTPTunnel(URL, HTTP)
    assert tunnel.receive_data(b"HTTP/1.0 200 OK\r\n") is False
    assert tunnel.receive_data(b"\r\n") is True


def test_407_without_credentials() -> None:
    answer = (
        b"HTTP/1.0 407 Proxy Authentication Required\r\n"
        b'Proxy-Authenticate: Basic realm="corp"\r\nConnection: close\r\n\r\n<html>no</html>'
    )
    error = http_failure(answer)
    assert type(error) is wsapi.ProxyAuthRequired
    assert error.challenge == 'Basic realm="corp"'
    assert error.response is not None and error.response.status == 407
    assert error.response.body == b"<html>no</html>"
    assert error.stage == "proxy"
    assert error.proxy == "http://127.0.0.1:3128"
    assert str(error) == (
        "WebSocket connection to 'wss://example.com/chat' failed: the proxy "
        "http://127.0.0.1:3128 (from HTTPS_PROXY) requires credentials (HTTP 407 Proxy "
        'Authentication Required; it asks for: Basic realm="corp"). Put them in the proxy URL, '
        "in the HTTPS_PROXY environment variable: http://user:password@127.0.0.1:3128."
    )


@pytest.mark.parametrize("status", [b"407 Proxy Authentication Required", b"401 Unauthorized"])
def test_wrong_credentials(status: bytes) -> None:
    error = http_failure(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\n\r\n", HTTP_AUTH, False)
    assert type(error) is wsapi.ProxyAuthRequired
    assert "rejected the credentials of the proxy URL" in error.cause
    assert "s3cret" not in str(error) and "alice" not in str(error)
    assert error.challenge == ""


@pytest.mark.parametrize(
    ("status", "fix"),
    [
        (403, "does not allow tunnels to example.com:443"),
        (405, "does not support CONNECT tunnels"),
        (502, "could not reach the server at example.com:443"),
        (418, "it must allow CONNECT to example.com:443"),
    ],
)
def test_other_statuses(status: int, fix: str) -> None:
    body = b'{"error": "denied"}'
    answer = b"HTTP/1.1 %d Nope\r\nContent-Type: application/json\r\n" % status
    answer += b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    error = http_failure(answer, eof=False)
    assert isinstance(error, wsapi.ProxyTunnelFailed)
    assert (error.status, error.reason, error.body) == (status, "Nope", {"error": "denied"})
    assert ("Content-Type", "application/json") in error.headers
    assert f"answered CONNECT example.com:443 with HTTP {status} Nope instead of 200" in str(error)
    assert '(body: \'{"error": "denied"}\')' in error.cause
    assert fix in error.fix


def test_html_bodies_are_not_quoted() -> None:
    answer = b"HTTP/1.1 500 Unable to connect\r\nConnection: close\r\n\r\n<?xml ?><html>x</html>"
    error = http_failure(answer)
    assert error.cause.endswith("with HTTP 500 Unable to connect instead of 200")


def test_long_bodies_are_cut() -> None:
    tunnel = HTTPTunnel(URL, HTTP, max_body_size=10)
    with pytest.raises(wsapi.ProxyTunnelFailed) as info:
        tunnel.receive_data(b"HTTP/1.1 503 Busy\r\nContent-Length: 100\r\n\r\n" + b"x" * 100)
    assert info.value.response is not None and info.value.response.truncated
    assert info.value.response.body == b"x" * 10


def test_eof_in_the_middle_of_the_body() -> None:
    error = http_failure(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 100\r\n\r\npartial")
    assert isinstance(error, wsapi.ProxyTunnelFailed) and error.status == 502


def test_no_answer() -> None:
    error = http_failure(b"")
    assert type(error) is wsapi.ProxyInvalidResponse
    assert "closed the connection without answering CONNECT" in error.cause
    assert "socks5://" in error.fix and "NO_PROXY" in error.fix


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (b"\x05\xff", "this looks like a SOCKS proxy"),
        (b"\x16\x03\x03\x00\x02\x02\x28", "this port speaks TLS"),
        (b"SSH-2.0-OpenSSH_9.6\r\n", "this is not an HTTP proxy"),
    ],
)
def test_answers_that_are_not_http(answer: bytes, hint: str) -> None:
    error = http_failure(answer)
    assert type(error) is wsapi.ProxyInvalidResponse
    assert "answered CONNECT with something that is not HTTP" in error.cause
    assert repr(answer[:40]) in error.cause
    assert hint in error.fix


def test_eof_in_the_middle_of_the_head() -> None:
    error = http_failure(b"HTTP/1.1 200 Connection est")
    assert type(error) is wsapi.ProxyInvalidResponse


def test_data_after_the_answer() -> None:
    tunnel = HTTPTunnel(URL, HTTP)
    with pytest.raises(wsapi.ProxyInvalidResponse, match="sent data after its answer"):
        tunnel.receive_data(b"HTTP/1.1 200 OK\r\n\r\nSSH-2.0")


# -- SOCKS5 ------------------------------------------------------------------------------


def socks_reply(code: int = 0, address: bytes = b"\x01\x7f\x00\x00\x01") -> bytes:
    return bytes([5, code, 0]) + address + b"\x1f\x90"


@pytest.mark.parametrize("bytewise", [False, True])
def test_socks5h_without_credentials(bytewise: bool) -> None:
    tunnel = SOCKS5Tunnel(URL, SOCKS, "example.com")
    assert tunnel.data_to_send() == b"\x05\x01\x00"
    assert feed(tunnel, b"\x05\x00", bytewise=bytewise) is False
    assert tunnel.data_to_send() == b"\x05\x01\x00\x03\x0bexample.com\x01\xbb"
    assert feed(tunnel, socks_reply(), bytewise=bytewise) is True


@pytest.mark.parametrize(
    "address",
    [
        b"\x01\x7f\x00\x00\x01",
        b"\x04" + socket.inet_pton(socket.AF_INET6, "::1"),
        b"\x03\x09localhost",
    ],
    ids=["ipv4", "ipv6", "name"],
)
def test_every_bound_address_type(address: bytes) -> None:
    tunnel = SOCKS5Tunnel(URL, SOCKS, "example.com")
    tunnel.receive_data(b"\x05\x00")
    assert feed(tunnel, socks_reply(0, address), bytewise=True) is True


def test_socks5_with_credentials_and_an_address() -> None:
    tunnel = SOCKS5Tunnel(parse_url("ws://[::1]:8080/"), SOCKS_AUTH, "::1")
    assert tunnel.data_to_send() == b"\x05\x02\x02\x00"
    assert tunnel.receive_data(b"\x05\x02") is False
    assert tunnel.data_to_send() == b"\x01\x03bob\x02pw"
    assert tunnel.receive_data(b"\x01\x00") is False
    request = tunnel.data_to_send()
    assert request == b"\x05\x01\x00\x04" + socket.inet_pton(socket.AF_INET6, "::1") + b"\x1f\x90"
    assert tunnel.receive_data(socks_reply()) is True


def socks_failure(proxy: ProxyURL, *answers: bytes) -> wsapi.ProxyError:
    tunnel = SOCKS5Tunnel(URL, proxy, "example.com")
    with pytest.raises(wsapi.ProxyError) as info:
        for answer in answers:
            tunnel.receive_data(answer)
    return info.value


def test_socks_requires_credentials() -> None:
    error = socks_failure(SOCKS, b"\x05\xff")
    assert type(error) is wsapi.ProxyAuthRequired and error.response is None
    assert error.cause == "the proxy socks5h://127.0.0.1:1080 requires a user name and password"
    assert "socks5h://user:password@127.0.0.1:1080" in error.fix


def test_socks_rejects_the_credentials() -> None:
    error = socks_failure(SOCKS_AUTH, b"\x05\x02", b"\x01\x01")
    assert type(error) is wsapi.ProxyAuthRequired
    assert "rejected the user name and password" in error.cause
    assert "bob" not in str(error) and "pw@" not in str(error)


def test_socks_accepts_no_method_offered_with_credentials() -> None:
    error = socks_failure(SOCKS_AUTH, b"\x05\xff")
    assert "accepts none of the authentication methods offered" in error.cause
    assert "RFC 1929" in error.fix


def test_socks_asks_for_gssapi() -> None:
    error = socks_failure(SOCKS, b"\x05\x01")
    assert type(error) is wsapi.ProxyAuthRequired
    assert "asks for GSSAPI authentication" in error.cause


@pytest.mark.parametrize("code", sorted(REPLIES))
def test_socks_replies(code: int) -> None:
    error = socks_failure(SOCKS, b"\x05\x00", socks_reply(code))
    assert type(error) is wsapi.SOCKSError
    assert error.reply_code == code
    assert error.cause == (
        f"the proxy socks5h://127.0.0.1:1080 could not connect to example.com:443: "
        f"{REPLIES[code]} (SOCKS5 reply {code})"
    )
    assert error.fix


def test_socks_reply_fixes_differ() -> None:
    url = parse_url("ws://127.0.0.1:8080/")
    fixes = {socks_error(url, SOCKS, "127.0.0.1:8080", code).fix for code in (1, 2, 4, 5, 7)}
    assert len(fixes) == 5
    assert "unknown reply code" in socks_error(url, SOCKS, "x:1", 99).cause


@pytest.mark.parametrize(
    ("answers", "words"),
    [
        ((b"",), "closed the connection during its greeting"),
        ((b"\x05\x00", b""), "closed the connection during the SOCKS5 handshake"),
        ((b"HTTP/1.1 400 Bad Request\r\n\r\n",), "this looks like an HTTP proxy (use http://)"),
        ((b"\x05\x00", b"\x05\x00\x00\x09\x00"), "not SOCKS5"),
        ((b"\x05\x00", socks_reply() + b"extra"), "sent data after its reply"),
    ],
)
def test_socks_answers_that_are_not_socks(answers: tuple[bytes, ...], words: str) -> None:
    error = socks_failure(SOCKS, *answers)
    assert type(error) is wsapi.ProxyInvalidResponse
    assert words in str(error)
