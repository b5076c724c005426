"""``diagnose()``: every stage reported, the first failure with its error and fix.

Real peers on loopback (the ``websockets`` server, nginx, trustme certificates,
scripted servers), on asyncio and on trio.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
import trustme

import wsapi
from tests.diagnostics.helpers import (
    TIMEOUT,
    free_port,
    never_accepting_listener,
    past,
    server_context,
    tls_echo_server,
    trusting,
)
from tests.peers.nginx import NginxServer
from tests.peers.scripted import Opcode, RawConnection
from tests.peers.websockets_server import WebsocketsServer
from wsapi.diagnostics import STAGES, DoctorReport, diagnose

pytestmark = pytest.mark.anyio

StartServer = Any


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


async def check(url: str, **options: Any) -> DoctorReport:
    with anyio.fail_after(TIMEOUT):
        report = await diagnose(url, **options)
    assert [stage.name for stage in report.stages] == list(STAGES)
    json.dumps(report.to_dict())  # serialisable as it is
    return report


def statuses(report: DoctorReport) -> dict[str, str]:
    return {stage.name: stage.status for stage in report.stages}


def assert_failed_at(report: DoctorReport, name: str) -> None:
    """Stages before ``name`` passed (or were not needed), ``name`` failed, the rest skipped."""
    assert not report.ok
    failure = report.failure
    assert failure is not None and failure.name == name, statuses(report)
    assert failure.fix
    names = list(STAGES)
    for stage in report.stages[: names.index(name)]:
        assert stage.status in ("ok", "skipped"), statuses(report)
    for stage in report.stages[names.index(name) + 1 :]:
        assert stage.status == "skipped"
        assert stage.seconds is None


async def test_good_url_passes_every_stage(websockets_server: WebsocketsServer) -> None:
    report = await check(websockets_server.url("/echo"), protocols=["chat"])
    assert report.ok and report.failure is None
    assert statuses(report) == {
        "url": "ok",
        "dns": "ok",
        "tcp": "ok",
        "tls": "skipped",
        "http": "ok",
        "open": "ok",
        "ping": "ok",
        "close": "ok",
    }
    port = websockets_server.port
    assert report.stage("dns").facts["addresses"] == ["127.0.0.1"]
    [attempt] = report.stage("tcp").facts["attempts"]
    assert attempt["address"] == f"127.0.0.1:{port}" and attempt["error"] is None
    http = report.stage("http")
    assert http.summary == "HTTP/1.1 101 Switching Protocols"
    assert "> GET /echo HTTP/1.1" in http.details
    assert "< HTTP/1.1 101 Switching Protocols" in http.details
    assert http.facts["status"] == 101
    opening = report.stage("open")
    assert "extensions: permessage-deflate" in opening.summary
    assert "none of the subprotocols offered (chat)" in opening.details[0]
    assert report.stage("ping").summary == "pong received"
    assert report.stage("close").summary == "closed cleanly with code 1000"
    for stage in report.stages:
        assert stage.status == "skipped" or stage.seconds is not None


async def test_good_wss_url_through_nginx(nginx_server: NginxServer) -> None:
    report = await check(
        nginx_server.tls_url("/good/echo"), ssl_context=nginx_server.client_context()
    )
    assert report.ok, statuses(report)
    tls = report.stage("tls")
    assert tls.facts["version"].startswith("TLSv1.")
    assert tls.facts["cipher"]
    certificate = tls.facts["certificate"]
    assert "localhost" in certificate["names"]
    assert not certificate["self_signed"]
    assert any(line.startswith("valid until ") for line in tls.details)
    assert "verified: trusted by the ssl context given, valid for localhost" in tls.details


async def test_invalid_url() -> None:
    report = await check("ftp://user:s3cret@example.com/")
    assert_failed_at(report, "url")
    failure = report.stage("url")
    assert isinstance(failure.error, wsapi.DOMException)
    assert "scheme" in failure.summary
    assert "ws://" in failure.fix
    assert "s3cret" not in json.dumps(report.to_dict())


@pytest.mark.parametrize(
    ("options", "words", "fix"),
    [
        ({"protocols": ["chat", "chat"]}, "more than once", "each subprotocol once"),
        ({"headers": [("Upgrade", "h2c")]}, "set by wsapi", "remove that header"),
    ],
)
async def test_invalid_options_fail_the_url_stage(
    options: dict[str, Any], words: str, fix: str
) -> None:
    report = await check("ws://127.0.0.1:9/", **options)
    assert_failed_at(report, "url")
    assert words in report.stage("url").summary
    assert fix in report.stage("url").fix


async def test_dns_failure() -> None:
    report = await check("wss://wsapi-doctor.invalid/")
    assert_failed_at(report, "dns")
    assert isinstance(report.stage("dns").error, wsapi.DNSError)
    assert "'wsapi-doctor.invalid'" in report.stage("dns").summary


async def test_tcp_refused() -> None:
    port = free_port()
    report = await check(f"ws://127.0.0.1:{port}/")
    assert_failed_at(report, "tcp")
    tcp = report.stage("tcp")
    assert isinstance(tcp.error, wsapi.ConnectionRefused)
    [line] = tcp.details
    assert line.startswith(f"127.0.0.1:{port}  ") and line.endswith("Connection refused")
    assert tcp.facts["attempts"][0]["error"] == "Connection refused"


async def test_tcp_timeout_names_the_address() -> None:
    with never_accepting_listener(full=True) as port:
        report = await check(f"ws://127.0.0.1:{port}/", stage_timeout=0.3)
    assert_failed_at(report, "tcp")
    tcp = report.stage("tcp")
    assert isinstance(tcp.error, wsapi.OpenTimeout) and tcp.error.stage == "tcp"
    assert isinstance(tcp.error.__cause__, TimeoutError)
    assert f"127.0.0.1:{port}  no answer within 0.3 s" in tcp.details


async def test_expired_certificate_is_shown(ca: trustme.CA) -> None:
    cert = ca.issue_cert("localhost", not_before=past(400), not_after=past(35))
    with tls_echo_server(server_context(cert)) as port:
        report = await check(f"wss://localhost:{port}/", ssl_context=trusting(ca))
    assert_failed_at(report, "tls")
    tls = report.stage("tls")
    assert isinstance(tls.error, wsapi.CertificateExpired)
    # Read by a second handshake that does not verify.
    assert any(line.startswith("expired on ") and "days ago" in line for line in tls.details)
    assert "names: localhost" in tls.details
    assert tls.facts["certificate"]["not_after"].startswith(past(35).strftime("%Y-%m-%d"))
    assert tls.facts["verify_code"] == 10


async def test_unknown_ca_is_shown(ca: trustme.CA) -> None:
    with tls_echo_server(server_context(ca.issue_cert("localhost"))) as port:
        report = await check(f"wss://localhost:{port}/")
    assert_failed_at(report, "tls")
    tls = report.stage("tls")
    assert isinstance(tls.error, wsapi.CertificateUntrusted)
    assert any(line.startswith("issuer: O=trustme") for line in tls.details)
    assert "certifi" in tls.fix


async def test_refused_upgrade_shows_the_exchange(websockets_server: WebsocketsServer) -> None:
    url = websockets_server.url("/reject?status=403&body=origin").replace("ws://", "ws://u:pw@")
    report = await check(url, headers=[("Authorization", "Bearer t0ken"), ("Cookie", "s=c00k")])
    assert_failed_at(report, "http")
    http = report.stage("http")
    assert isinstance(http.error, wsapi.InvalidStatus)
    assert http.facts["status"] == 403
    assert "< HTTP/1.1 403 Forbidden" in http.details
    assert "> Authorization: Bearer <redacted>" in http.details
    assert "> Cookie: <redacted>" in http.details
    text = json.dumps(report.to_dict())
    for secret in ("t0ken", "c00k", "u:pw"):
        assert secret not in text


async def test_nginx_misconfiguration_is_an_http_failure(nginx_server: NginxServer) -> None:
    report = await check(nginx_server.url("/no-upgrade/echo"))
    assert_failed_at(report, "http")
    assert "proxy_set_header Upgrade $http_upgrade" in report.stage("http").fix
    assert any(line.startswith("< Server: nginx/") for line in report.stage("http").details)


async def test_invalid_accept_fails_the_open_stage(scripted_server: StartServer) -> None:
    server = scripted_server(lambda conn: conn.accept(subprotocol="other"))
    report = await check(server.url(), protocols=["chat"])
    assert_failed_at(report, "open")
    assert report.stage("http").status == "ok"
    assert isinstance(report.stage("open").error, wsapi.UnexpectedSubprotocol)


async def test_server_closing_after_the_handshake_fails_the_ping(
    websockets_server: WebsocketsServer,
) -> None:
    report = await check(websockets_server.url("/close?code=4001&reason=bad%20token"))
    assert_failed_at(report, "ping")
    ping = report.stage("ping")
    assert "right after the handshake, with code 4001 ('bad token')" in ping.summary
    assert "reject a client after the handshake" in ping.fix


async def test_server_that_never_answers_pings(scripted_server: StartServer) -> None:
    def deaf(conn: RawConnection) -> None:
        conn.accept()
        conn.wait_eof(timeout=3.0)

    report = await check(scripted_server(deaf).url(), stage_timeout=0.3)
    assert_failed_at(report, "ping")
    assert isinstance(report.stage("ping").error, wsapi.KeepaliveTimeout)
    assert "ping_interval" in report.stage("ping").fix


async def test_server_that_never_completes_the_close(scripted_server: StartServer) -> None:
    def answers_pings_only(conn: RawConnection) -> None:
        conn.accept()
        frame = conn.read_frame()
        assert frame is not None and frame.opcode == Opcode.PING
        conn.send_frame(Opcode.PONG, frame.payload)
        conn.wait_eof(timeout=3.0)

    report = await check(scripted_server(answers_pings_only).url(), stage_timeout=0.3)
    assert_failed_at(report, "close")
    close = report.stage("close")
    assert type(close.error) is wsapi.CloseTimeout
    assert isinstance(close.error, wsapi.ConnectionLost)
    assert "within 0.3 s" in close.summary


async def test_doctor_is_cancellable(scripted_server: StartServer) -> None:
    server = scripted_server(lambda conn: conn.wait_eof(timeout=3.0))
    with anyio.fail_after(TIMEOUT):
        with anyio.move_on_after(0.2) as scope:
            await diagnose(server.url(), stage_timeout=30)
    assert scope.cancelled_caught
