"""The exception tree of issue 5, the status explanations and the certificate reader.

Pure functions and classes: no loop, no sockets.
"""

from __future__ import annotations

import copy
import datetime
import pickle
import ssl

import pytest
import trustme

import wsapi
from tests.diagnostics.helpers import future, past
from wsapi.diagnostics.certificate import parse_certificate
from wsapi.protocol.handshake import not_http_error, with_scheme
from wsapi.protocol.status import body_excerpt, explain_status
from wsapi.protocol.url import parse_url
from wsapi.response import Response
from wsapi.transport.connect import certificate_error, timeout_error

URL = "wss://example.com/chat"

TREE: list[tuple[type[Exception], type[Exception]]] = [
    (wsapi.HostUnreachable, wsapi.NetworkError),
    (wsapi.NotTLS, wsapi.TLSError),
    (wsapi.CertificateRejected, wsapi.TLSError),
    (wsapi.CertificateExpired, wsapi.CertificateRejected),
    (wsapi.CertificateNotYetValid, wsapi.CertificateRejected),
    (wsapi.CertificateHostMismatch, wsapi.CertificateRejected),
    (wsapi.CertificateUntrusted, wsapi.CertificateRejected),
    (wsapi.RedirectReceived, wsapi.InvalidStatus),
    (wsapi.InvalidUpgrade, wsapi.InvalidHandshake),
    (wsapi.InvalidAccept, wsapi.InvalidHandshake),
    (wsapi.UnexpectedSubprotocol, wsapi.InvalidHandshake),
    (wsapi.UnexpectedExtension, wsapi.InvalidHandshake),
    (wsapi.NotHTTP, wsapi.InvalidHandshake),
    (wsapi.TLSRequired, wsapi.NotHTTP),
    (wsapi.CloseTimeout, wsapi.ConnectionLost),
]


@pytest.mark.parametrize(("child", "parent"), TREE, ids=lambda cls: cls.__name__)
def test_tree(child: type[Exception], parent: type[Exception]) -> None:
    assert issubclass(child, parent)
    assert issubclass(child, wsapi.WebSocketError)
    assert child.__name__ in wsapi.__all__
    assert getattr(wsapi, child.__name__) is child


@pytest.mark.parametrize(
    ("cls", "stage"),
    [
        (wsapi.HostUnreachable, "tcp"),
        (wsapi.NotTLS, "tls"),
        (wsapi.CertificateExpired, "tls"),
        (wsapi.RedirectReceived, "http"),
        (wsapi.InvalidUpgrade, "http"),
        (wsapi.TLSRequired, "http"),
    ],
)
def test_subclasses_keep_the_message_shape(cls: type[wsapi.ConnectionFailed], stage: str) -> None:
    error = cls("wss://u:pw@example.com/", "it failed", "Do this.", response=Response(302))
    assert str(error) == "WebSocket connection to 'wss://example.com/' failed: it failed. Do this."
    assert error.stage == stage


def test_invalid_status_with_a_redirect_is_a_redirect() -> None:
    response = Response(307, "Temporary Redirect", (("Location", "wss://b.example/"),))
    error = wsapi.InvalidStatus(URL, "moved", "Go there.", response=response)
    assert type(error) is wsapi.RedirectReceived
    assert error.location == "wss://b.example/"
    assert type(wsapi.InvalidStatus(URL, "no", response=Response(404))) is wsapi.InvalidStatus
    assert wsapi.RedirectReceived(URL, "moved", response=Response(301)).location == ""


@pytest.mark.parametrize(
    ("headers", "body", "decoded"),
    [
        ((("Content-Type", "application/json"),), b'{"a": [1]}', {"a": [1]}),
        ((), b'  {"looks": "json"}', {"looks": "json"}),
        ((("Content-Type", "application/problem+json"),), b"[1, 2]", [1, 2]),
        ((("Content-Type", "application/json"),), b"{not json", "{not json"),
        ((), b"plain \xff text", "plain \ufffd text"),
    ],
)
def test_invalid_status_body_is_decoded(
    headers: tuple[tuple[str, str], ...], body: bytes, decoded: object
) -> None:
    error = wsapi.InvalidStatus(URL, "refused", response=Response(400, "", headers, body))
    assert error.body == decoded
    assert error.headers == headers


@pytest.mark.parametrize(
    "error",
    [
        wsapi.InvalidStatus(URL, "moved", "Go.", response=Response(302, "Found")),
        wsapi.CertificateExpired(URL, "expired", "Renew.", verify_code=10, hostname="a"),
        wsapi.UnexpectedSubprotocol(URL, "x", offered=("a",), chosen=("b",)),
        wsapi.OpenTimeout(URL, "slow", "Wait.", stage="tls"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_errors_survive_pickle_and_copy(error: wsapi.ConnectionFailed) -> None:
    for clone in (pickle.loads(pickle.dumps(error)), copy.copy(error)):
        assert type(clone) is type(error)
        assert str(clone) == str(error) and clone.args == error.args
        assert clone.__dict__ == error.__dict__


def test_subprotocol_and_extension_details() -> None:
    error = wsapi.UnexpectedSubprotocol(URL, "x", offered=("a", "b"), chosen=("c",))
    assert (error.offered, error.chosen) == (("a", "b"), ("c",))
    assert wsapi.UnexpectedExtension(URL, "x", extension="x-foo").extension == "x-foo"


# -- certificate errors by OpenSSL code ----------------------------------------------------


def verification_error(code: int, message: str) -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, f"certificate verify failed: {message}")
    error.verify_code = code
    error.verify_message = message
    return error


@pytest.mark.parametrize(
    ("code", "message", "cls", "words"),
    [
        (10, "certificate has expired", wsapi.CertificateExpired, "has expired"),
        (9, "certificate is not yet valid", wsapi.CertificateNotYetValid, "not valid yet"),
        (62, "Hostname mismatch", wsapi.CertificateHostMismatch, "not valid for 'example.com'"),
        (64, "IP address mismatch", wsapi.CertificateHostMismatch, "not valid for"),
        (18, "self-signed certificate", wsapi.CertificateUntrusted, "self-signed"),
        (19, "self-signed certificate in certificate chain", wsapi.CertificateUntrusted, "self"),
        (20, "unable to get local issuer certificate", wsapi.CertificateUntrusted, "unknown"),
        (2, "unable to get issuer certificate", wsapi.CertificateUntrusted, "unknown"),
        (23, "certificate revoked", wsapi.CertificateRejected, "rejected (certificate revoked)"),
    ],
)
def test_certificate_error_by_code(
    code: int, message: str, cls: type[wsapi.CertificateRejected], words: str
) -> None:
    error = certificate_error(parse_url(URL), verification_error(code, message))
    assert type(error) is cls
    assert (error.verify_code, error.verify_message, error.hostname) == (
        code,
        message,
        "example.com",
    )
    assert words in error.cause
    assert error.fix


def test_timeout_error_per_stage() -> None:
    url = parse_url(URL)
    tcp = timeout_error(url, "tcp", 2.5, "192.0.2.1:443")
    assert tcp.stage == "tcp"
    assert tcp.cause == "timed out after 2.5 s while connecting (192.0.2.1:443)"
    assert "firewall" in tcp.fix
    assert timeout_error(url, "tls", 1).cause == "timed out after 1 s while doing the TLS handshake"
    assert "resolver" in timeout_error(url, "dns", 1).fix
    assert "WebSocket endpoint" in timeout_error(url, "http", 1).fix


@pytest.mark.parametrize(
    ("url", "scheme", "expected"),
    [
        ("wss://example.com/a?b=c", "ws", "ws://example.com:443/a?b=c"),
        ("ws://example.com/", "wss", "wss://example.com:80/"),
        ("ws://u:p@example.com:8080/", "wss", "wss://example.com:8080/"),
        ("wss://[::1]:9000/", "ws", "ws://[::1]:9000/"),
    ],
)
def test_with_scheme(url: str, scheme: str, expected: str) -> None:
    assert with_scheme(url, scheme) == expected


def test_not_http_error() -> None:
    tls = not_http_error("ws://example.com:8443/x", b"\x16\x03\x03\x00\x2a", "detail")
    assert type(tls) is wsapi.TLSRequired
    assert "wss://example.com:8443/x" in tls.fix
    other = not_http_error("ws://example.com/", b"SSH-2.0-OpenSSH", "no status line")
    assert type(other) is wsapi.NotHTTP
    assert "SSH-2.0-OpenSSH" in other.cause and "no status line" in other.cause


# -- status explanations -------------------------------------------------------------------


def nginx(status: int, reason: str, body: bytes = b"", **extra: str) -> Response:
    headers = (("Server", "nginx/1.22.1"), ("Content-Type", "text/html"), *extra.items())
    return Response(status, reason, tuple(headers), body)


def test_proxy_fix_names_the_server_and_the_nginx_lines() -> None:
    _, fix = explain_status(nginx(426, "Upgrade Required"))
    assert "Upgrade and Connection headers" in fix
    assert 'proxy_set_header Connection "upgrade";' in fix
    assert fix.endswith("The answer came from nginx/1.22.1.")


def test_plain_http_to_a_tls_port() -> None:
    page = (
        b"<html><head><title>400 The plain HTTP request was sent to HTTPS port</title></head>"
        b"<body><center><h1>400 Bad Request</h1></center>"
        b"<center>The plain HTTP request was sent to HTTPS port</center></body></html>"
    )
    cause, fix = explain_status(nginx(400, "Bad Request", page))
    assert "(body: '400 Bad Request The plain HTTP request was sent to HTTPS port')" in cause
    assert fix == "The server says this port speaks TLS: use wss:// instead of ws://."


def test_html_is_reduced_to_text() -> None:
    page = b"<html><head><style>x{}</style></head><body><script>1</script><p>Gone</p></body>"
    assert body_excerpt(nginx(404, "Not Found", page)) == "Gone"


def test_404_from_a_proxy_mentions_its_locations() -> None:
    _, fix = explain_status(nginx(404, "Not Found"))
    assert "nginx/1.22.1, usually a reverse proxy" in fix
    _, plain = explain_status(Response(404, "Not Found", (("Server", "MyApp/1.0"),)))
    assert plain == "No WebSocket endpoint at this path: check the URL's path."


def test_401_quotes_the_challenge() -> None:
    response = Response(401, "Unauthorized", (("WWW-Authenticate", 'Bearer realm="api"'),))
    _, fix = explain_status(response)
    assert fix.endswith('It asks for: WWW-Authenticate: Bearer realm="api".')


def test_redirect_to_https_suggests_wss() -> None:
    response = Response(308, "Permanent Redirect", (("Location", "https://a.example/ws"),))
    _, fix = explain_status(response)
    assert "As a WebSocket URL it reads wss://a.example/ws." in fix


def test_http_1_0_answer() -> None:
    cause, fix = explain_status(Response(200, "OK", http_version="1.0"))
    assert cause == (
        "the server answered the upgrade request with HTTP 200 OK instead of 101 "
        "in HTTP/1.0, which cannot upgrade"
    )
    assert "proxy_http_version 1.1" in fix


# -- certificates --------------------------------------------------------------------------


def der(cert: trustme.LeafCert) -> bytes:
    return ssl.PEM_cert_to_DER_cert(cert.cert_chain_pems[0].bytes().decode("ascii"))


def test_parse_certificate() -> None:
    ca = trustme.CA(organization_name="Example CA")
    before, after = past(10), future(20)
    leaf = ca.issue_cert(
        "example.com", "192.0.2.7", "::1", common_name="example.com", not_before=before
    )
    info = parse_certificate(der(leaf))
    assert info is not None
    assert "CN=example.com" in info.subject
    assert info.issuer.startswith("O=Example CA")
    assert info.names == ("example.com", "192.0.2.7", "::1")
    assert info.not_before == before.replace(microsecond=0)
    assert not info.self_signed and not info.is_ca
    expired = parse_certificate(der(ca.issue_cert("a.example", not_after=after)))
    assert expired is not None
    assert expired.validity().startswith(f"valid until {after:%Y-%m-%d}")
    later = after + datetime.timedelta(days=3)
    assert expired.validity(later).startswith(f"expired on {after:%Y-%m-%d}")


def test_parse_ca_certificate() -> None:
    ca = trustme.CA()
    info = parse_certificate(ssl.PEM_cert_to_DER_cert(ca.cert_pem.bytes().decode("ascii")))
    assert info is not None and info.self_signed and info.is_ca


@pytest.mark.parametrize("data", [b"", b"\x30", b"\x30\x03\x02\x01", b"\x30\x84\xff\xff\xff\xff"])
def test_parse_garbage(data: bytes) -> None:
    assert parse_certificate(data) is None
