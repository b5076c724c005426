"""Helpers for the diagnostics tests: failing on purpose, TLS servers, stuck listeners.

``fail_to_connect(url, ...)`` opens a ``WebSocket`` that must fail and checks
what every failure must do: ``async with`` raises a ``ConnectionFailed``; the
``error`` event's ``message`` is the exception's text and its ``error`` the
exception; ``close`` says 1006, not clean; the text reads
``WebSocket connection to '<url>' failed: <cause>. <fix>``.
"""

from __future__ import annotations

import contextlib
import datetime
import socket
import ssl
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.peers.websockets_server import tls_echo_server as tls_echo_server
from wsapi import CloseEvent, ConnectionFailed, ErrorEvent, WebSocket

#: Bound on every test's wait (seconds).
TIMEOUT = 5.0


# -- failing on purpose --------------------------------------------------------------------


class Recorder:
    """The error and close events of one WebSocket."""

    def __init__(self, ws: WebSocket) -> None:
        self.types: list[str] = []
        self.error: ErrorEvent | None = None
        self.close: CloseEvent | None = None
        ws.addEventListener("open", lambda event: self.types.append("open"))
        ws.addEventListener("error", self._on_error)
        ws.addEventListener("close", self._on_close)

    def _on_error(self, event: ErrorEvent) -> None:
        self.types.append("error")
        self.error = event

    def _on_close(self, event: CloseEvent) -> None:
        self.types.append("close")
        self.close = event


async def fail_to_connect(url: str, **options: Any) -> ConnectionFailed:
    """Connect to ``url``, which must fail; check the events and the message's shape."""
    ws = WebSocket(url, **options)
    recorder = Recorder(ws)
    with anyio.fail_after(TIMEOUT), pytest.raises(ConnectionFailed) as info:
        async with ws:
            pytest.fail("the connection opened")
    error = info.value
    assert recorder.types == ["error", "close"]
    assert recorder.error is not None
    assert recorder.error.error is error
    assert recorder.error.message == str(error)
    assert recorder.close is not None
    assert (recorder.close.code, recorder.close.wasClean) == (1006, False)
    message = str(error)
    assert message.startswith(f"WebSocket connection to '{error.url}' failed: {error.cause}.")
    assert error.fix, "every failure says what to do"
    assert message.endswith(error.fix)
    return error


def assert_says(error: BaseException, *facts: str, fix: tuple[str, ...] = ()) -> None:
    """The message names every fact; the fix (``error.fix``) names every ``fix`` phrase."""
    message = str(error)
    for fact in facts:
        assert fact in message, f"{fact!r} not in {message!r}"
    for phrase in fix:
        assert phrase in getattr(error, "fix", ""), f"{phrase!r} not in the fix of {message!r}"


# -- TLS ---------------------------------------------------------------------------------


def past(days: int) -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=days)


def future(days: int) -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days)


def trusting(ca: trustme.CA) -> ssl.SSLContext:
    """A client context that trusts ``ca`` (and nothing else)."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def server_context(cert: trustme.LeafCert) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context


def self_signed_context(*names: str) -> ssl.SSLContext:
    """A server context with a self-signed certificate for ``names`` (made with cryptography)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(past(1))
        .not_valid_after(future(30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .sign(key, hashes.SHA256())
    )
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with trustme.Blob(cert_pem).tempfile() as cert_file, trustme.Blob(key_pem).tempfile() as key:
        context.load_cert_chain(cert_file, key)
    return context


# -- sockets -----------------------------------------------------------------------------


def free_port() -> int:
    """A loopback port where nothing listens (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def never_accepting_listener(*, full: bool) -> Iterator[int]:
    """A listener that never calls accept(); yields its port.

    With ``full``, its backlog is filled first, so the kernel drops new SYNs and a
    connect() hangs in the TCP stage; without, the kernel completes the TCP
    handshake into the backlog and the client waits for the HTTP answer.
    """
    with contextlib.ExitStack() as stack:
        listener = stack.enter_context(socket.socket())
        listener.bind(("127.0.0.1", 0))
        listener.listen(0 if full else 8)
        port = int(listener.getsockname()[1])
        if full:
            for _ in range(3):
                filler = stack.enter_context(socket.socket())
                filler.setblocking(False)
                filler.connect_ex(("127.0.0.1", port))
        yield port
