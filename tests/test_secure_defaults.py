"""Secure defaults: TLS verified against certifi's roots, TLS 1.2 at least, host names
checked, no fallback from wss to ws, and secrets kept out of repr(), logs and errors.

Other tests cover the same defaults in action: tests/diagnostics/test_causes.py (an untrusted
or mismatched certificate fails with CertificateUntrusted / CertificateHostMismatch) and
tests/redirects (a redirect from wss:// to ws:// is refused with InsecureRedirect).
"""

from __future__ import annotations

import logging
import ssl

import anyio
import certifi
import pytest

import wsapi
from wsapi import WebSocket
from wsapi.testing import HandshakeResponse, Request, echo, serve
from wsapi.transport.tls import default_ssl_context


def test_tls_context_verifies_with_certifi_roots_and_tls_1_2_at_least() -> None:
    context = default_ssl_context()
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    # The roots are certifi's: as many CA certificates as its bundle holds.
    reference = ssl.create_default_context(cafile=certifi.where())
    assert context.cert_store_stats()["x509_ca"] == reference.cert_store_stats()["x509_ca"] > 100


def test_wss_without_ssl_uses_the_default_context() -> None:
    ws = WebSocket("wss://127.0.0.1:9/")
    assert ws._transport.ssl_context is default_ssl_context()


def test_no_tls_options_on_a_plain_url() -> None:
    # A TLS context given for ws:// is a mistake, not a silent plain connection.
    with pytest.raises(ValueError, match="use wss://"):
        WebSocket("ws://127.0.0.1:9/", ssl=ssl.create_default_context())


def test_https_becomes_wss_never_ws() -> None:
    assert WebSocket("https://example.com/x").url.startswith("wss://")


@pytest.mark.anyio
async def test_secrets_stay_out_of_repr_errors_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    async def refuse(request: Request) -> HandshakeResponse:
        return HandshakeResponse(401, body=b"no")

    caplog.set_level(logging.DEBUG, logger="wsapi")
    async with serve(echo, process_request=refuse) as server:
        url = server.url.replace("ws://", "ws://alice:s3cret-pw@")
        ws = WebSocket(url, headers={"Cookie": "session=t0ken-value"})
        assert "s3cret-pw" not in repr(ws)
        with anyio.fail_after(10), pytest.raises(wsapi.InvalidStatus) as info:
            async with ws:
                pass
    error = info.value
    for text in (str(error), repr(error), caplog.text):
        assert "s3cret-pw" not in text
        assert "t0ken-value" not in text
    assert error.status == 401
