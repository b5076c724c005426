"""``wsapi doctor``: a line per stage, the fix, the exit status, --json, redaction, options.

The command runs its own event loop (``--backend asyncio`` or ``trio``), so
these tests are synchronous and parametrised on the backend.
"""

from __future__ import annotations

import argparse
import json
import re
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest
import trustme

from tests.cli.helpers import tls_echo_server
from tests.diagnostics.helpers import free_port
from tests.peers.nginx import NginxServer
from tests.peers.scripted import Opcode, RawConnection, ScriptedServer
from tests.peers.websockets_server import WebsocketsServer
from wsapi import ConnectionFailed, WebSocket
from wsapi.cli.doctor import escape, render
from wsapi.cli.main import _parser, main
from wsapi.diagnostics import DoctorReport, StageReport, diagnose

BACKENDS = pytest.mark.parametrize("backend", ["asyncio", "trio"])

STAGE_LINE = re.compile(r"^  (ok  |FAIL|skip)  (\S.*?)\s+(\d+\.\d ms)?\s+(.*)$")


def doctor(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    status = main(["doctor", *args])
    return status, capsys.readouterr().out


@BACKENDS
def test_good_url(
    capsys: pytest.CaptureFixture[str], websockets_server: WebsocketsServer, backend: str
) -> None:
    url = websockets_server.url("/echo")
    status, out = doctor(capsys, url, "--backend", backend)
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == f"wsapi doctor {url}"
    stages = [STAGE_LINE.match(line) for line in lines if STAGE_LINE.match(line)]
    assert [(m.group(1).strip(), m.group(2).strip()) for m in stages if m] == [
        ("ok", "URL"),
        ("ok", "DNS"),
        ("ok", "TCP connect"),
        ("skip", "TLS"),
        ("ok", "HTTP upgrade"),
        ("ok", "WebSocket open"),
        ("ok", "ping round trip"),
        ("ok", "closing handshake"),
    ]
    assert lines[-1] == "All 7 stages passed."
    assert "  < HTTP/1.1 101 Switching Protocols" in out


@BACKENDS
def test_failure_prints_the_fix_and_exits_1(
    capsys: pytest.CaptureFixture[str], nginx_server: NginxServer, backend: str
) -> None:
    status, out = doctor(capsys, nginx_server.url("/no-upgrade/echo"), "--backend", backend)
    assert status == 1
    assert re.search(r"^  FAIL  HTTP upgrade +\d+\.\d ms  the server answered", out, re.M)
    assert "The HTTP upgrade stage failed: a WebSocket raises wsapi.InvalidStatus." in out
    [fix] = [line for line in out.splitlines() if line.startswith("Fix: ")]
    assert 'proxy_set_header Connection "upgrade"' in fix
    assert re.search(r"^  skip  WebSocket open +not reached$", out, re.M)


@BACKENDS
def test_json(capsys: pytest.CaptureFixture[str], backend: str) -> None:
    port = free_port()
    status, out = doctor(capsys, f"ws://127.0.0.1:{port}/", "--json", "--backend", backend)
    assert status == 1
    report = json.loads(out)
    assert report["ok"] is False
    assert report["failed_stage"] == "tcp"
    assert "the server is running" in report["fix"]
    tcp = report["stages"][2]
    assert tcp["status"] == "failed"
    assert tcp["error"]["type"] == "ConnectionRefused"
    assert tcp["error"]["message"].startswith(f"WebSocket connection to 'ws://127.0.0.1:{port}/'")


@BACKENDS
def test_credentials_are_not_printed(
    capsys: pytest.CaptureFixture[str], websockets_server: WebsocketsServer, backend: str
) -> None:
    url = websockets_server.url("/reject?status=401").replace("ws://", "ws://bob:hunter2@")
    status, out = doctor(
        capsys, url, "-H", "Authorization: Bearer s3cr3t", "-H", "Cookie: id=c00k", "--json"
    )
    assert status == 1
    for secret in ("bob", "hunter2", "s3cr3t", "c00k"):
        assert secret not in out
    assert "Bearer <redacted>" in out


def usage_status(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """The exit status and standard error of ``wsapi doctor ARGS`` (argparse exits)."""
    try:
        status = main(["doctor", *args])
    except SystemExit as exc:
        status = int(exc.code or 0)
    return status, capsys.readouterr().err


@pytest.mark.parametrize(
    "args, message",
    [
        (["-H", "no colon"], "expected NAME:VALUE, not 'no colon'"),
        (["--cookie", "novalue"], "expected NAME=VALUE"),
        (["--query", "=x"], "expected NAME=VALUE"),
        (["--timeout", "0"], "must be more than 0 seconds"),
        (["--open-timeout", "soon"], "not a number of seconds"),
        (["--ping-interval", "1"], "unrecognized arguments: --ping-interval"),
        (["--max-size", "1"], "unrecognized arguments: --max-size"),
        (["-k", "--cacert", "x.pem"], "not allowed with argument"),
    ],
)
def test_usage_errors(capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    status, err = usage_status(capsys, "ws://127.0.0.1:1/", *args)
    assert status == 2
    assert message in err


def test_more_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    status, err = usage_status(capsys, "wss://127.0.0.1:1/", "--cafile", "/nonexistent.pem")
    assert status == 2
    assert err.startswith("wsapi doctor: error: cannot load CA certificates from /nonexistent.pem")
    status, _ = usage_status(capsys)
    assert status == 2


def test_invalid_url_is_a_failed_stage(capsys: pytest.CaptureFixture[str]) -> None:
    status, out = doctor(capsys, "ftp://example.com/")
    assert status == 1
    assert "  FAIL  URL" in out
    assert "a WebSocket raises wsapi.DOMException" in out


def test_server_text_is_escaped() -> None:
    report = DoctorReport(
        "ws://example.com/",
        [StageReport("url", "failed", 0.0, "evil \x1b[2J reason", ["\x07bell"], "Fix it.")],
    )
    lines = render(report)
    assert "evil \\x1b[2J reason" in lines[1]
    assert lines[2].endswith("\\x07bell")
    assert all("\x1b" not in line and "\x07" not in line for line in lines)
    assert escape("a\nb\u202e") == "a\\x0ab\\u202e"


def test_python_m_wsapi_doctor() -> None:
    # The documented entry point, in a fresh interpreter (a closed port: no peer needed).
    port = free_port()
    done = subprocess.run(
        [sys.executable, "-m", "wsapi", "doctor", f"ws://127.0.0.1:{port}/"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "  FAIL  TCP connect" in done.stdout
    assert "Fix: Check that the server is running" in done.stdout


# -- the connection options: wsapi connect's, parsed by the same code ------------------------


def connection_actions(command: str) -> dict[str, argparse.Action]:
    """The ``connection`` options of ``wsapi COMMAND``, by option string."""
    parser = _parser()
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    subparser = commands.choices[command]
    [group] = [g for g in subparser._action_groups if g.title == "connection"]
    return {flag: action for action in group._group_actions for flag in action.option_strings}


def test_doctor_takes_the_connection_options_of_connect() -> None:
    connect, doctor_ = connection_actions("connect"), connection_actions("doctor")
    assert {"-H", "--query", "--cookie", "-s", "--origin", "--cacert", "--insecure"} <= set(connect)
    not_for_doctor = {"--ping-interval", "--max-size"}  # one ping, no message
    doctor_only = {"--timeout", "--protocol"}  # --protocol: the doctor's first spelling of -p
    assert set(connect) - not_for_doctor == set(doctor_) - doctor_only
    for flag in set(connect) - not_for_doctor:
        same, ours = connect[flag], doctor_[flag]
        assert (ours.dest, ours.type, ours.nargs, type(ours)) == (
            same.dest, same.type, same.nargs, type(same),
        ), flag  # fmt: skip
    assert doctor_["--protocol"].dest == connect["-s"].dest


def handshake_recorder(seen: list[dict[str, str]]) -> Callable[[RawConnection], None]:
    """A server that records the request, picks the last subprotocol offered, pongs, closes."""

    def script(conn: RawConnection) -> None:
        _, headers = conn.read_request()
        seen.append({"path": conn.path, **headers})
        offered = headers.get("sec-websocket-protocol")
        conn.accept(subprotocol=offered.split(", ")[-1] if offered else None)
        ping = conn.read_frame()
        assert ping is not None and ping.opcode == Opcode.PING
        conn.send_frame(Opcode.PONG, ping.payload)
        assert conn.read_close() == (1000, "")
        conn.send_close(1000)

    return script


def test_connection_options_go_into_the_request(
    capsys: pytest.CaptureFixture[str], scripted_server: Callable[..., ScriptedServer]
) -> None:
    seen: list[dict[str, str]] = []
    server = scripted_server(handshake_recorder(seen))
    status, out = doctor(
        capsys, server.url("/chat"),
        "-H", "X-Tenant: blue", "--header", "Authorization: Bearer s3cret",
        "--cookie", "sid=42", "--cookie", "theme=dark",
        "--query", "room=the lobby",
        "-s", "chat.v1", "--subprotocol", "chat.v2", "-p", "chat.v3", "--protocol", "chat.v4",
        "--origin", "https://app.example", "--user-agent", "probe/1.0", "--no-compression",
    )  # fmt: skip
    assert status == 0, out
    [request] = seen
    assert request["path"] == "/chat?room=the+lobby"
    assert request["x-tenant"] == "blue"
    assert request["authorization"] == "Bearer s3cret"
    assert request["cookie"] == "sid=42; theme=dark"
    assert request["sec-websocket-protocol"] == "chat.v1, chat.v2, chat.v3, chat.v4"
    assert request["origin"] == "https://app.example"
    assert request["user-agent"] == "probe/1.0"
    assert "sec-websocket-extensions" not in request
    assert "subprotocol: chat.v4; extensions: none" in out
    assert "        > GET /chat?room=the+lobby HTTP/1.1" in out
    for secret in ("s3cret", "sid=42", "dark"):
        assert secret not in out


def test_compression_and_user_agent_defaults(
    capsys: pytest.CaptureFixture[str], scripted_server: Callable[..., ScriptedServer]
) -> None:
    seen: list[dict[str, str]] = []
    server = scripted_server(handshake_recorder(seen))
    no_limits = ["--open-timeout", "0", "--ping-timeout", "0", "--close-timeout", "0"]
    assert doctor(capsys, server.url(), "--compression", *no_limits)[0] == 0
    assert doctor(capsys, server.url(), "--user-agent", "")[0] == 0
    offered, no_agent = seen
    assert offered["sec-websocket-extensions"].startswith("permessage-deflate")
    assert offered["user-agent"].startswith("wsapi/")
    assert "user-agent" not in no_agent


def library_timeout_message(url: str, open_timeout: float) -> str:
    """What ``WebSocket(url, open_timeout=...)`` says when the opening times out."""

    async def attempt() -> str:
        try:
            async with WebSocket(url, open_timeout=open_timeout):
                pass
        except ConnectionFailed as exc:
            return str(exc)
        raise AssertionError(f"{url} opened")

    return anyio.run(attempt)


@pytest.mark.parametrize("option", ["--open-timeout", "--timeout"])
def test_open_timeout_is_the_librarys(
    capsys: pytest.CaptureFixture[str],
    scripted_server: Callable[..., ScriptedServer],
    option: str,
) -> None:
    def silent(conn: RawConnection) -> None:
        conn.read_request()
        conn.wait_eof(timeout=5)

    url = scripted_server(silent).url()
    started = time.monotonic()
    status, out = doctor(capsys, url, option, "0.3", "--json")
    assert time.monotonic() - started < 3
    assert status == 1
    report = json.loads(out)
    assert report["failed_stage"] == "http"
    [http] = [stage for stage in report["stages"] if stage["name"] == "http"]
    assert http["error"]["type"] == "OpenTimeout"
    assert http["error"]["message"] == library_timeout_message(url, 0.3)


def test_open_timeout_bounds_the_stages_together(
    capsys: pytest.CaptureFixture[str], scripted_server: Callable[..., ScriptedServer]
) -> None:
    # Each stage alone is within --timeout; --open-timeout counts them together.
    def silent(conn: RawConnection) -> None:
        conn.read_request()
        conn.wait_eof(timeout=5)

    url = scripted_server(silent).url()
    status, out = doctor(capsys, url, "--timeout", "5", "--open-timeout", "0.3")
    assert status == 1
    assert re.search(r"^  FAIL  HTTP upgrade +\d+\.\d ms  timed out after 0\.3 s while ", out, re.M)


@pytest.mark.parametrize(
    "options",
    [
        ["--ping-timeout", "0.3"],
        ["--timeout", "0.3"],
        ["--timeout", "5", "--ping-timeout", "0.3"],  # the one given wins
    ],
)
def test_ping_timeout(
    capsys: pytest.CaptureFixture[str],
    scripted_server: Callable[..., ScriptedServer],
    options: list[str],
) -> None:
    def never_pongs(conn: RawConnection) -> None:
        conn.accept()
        conn.wait_eof(timeout=5)

    status, out = doctor(capsys, scripted_server(never_pongs).url(), *options)
    assert status == 1
    assert re.search(
        r"^  FAIL  ping round trip +\d+\.\d ms  the server did not answer a ping within 0\.3 s$",
        out,
        re.M,
    )


def test_close_timeout(
    capsys: pytest.CaptureFixture[str], scripted_server: Callable[..., ScriptedServer]
) -> None:
    def answers_pings_only(conn: RawConnection) -> None:
        conn.accept()
        ping = conn.read_frame()
        assert ping is not None and ping.opcode == Opcode.PING
        conn.send_frame(Opcode.PONG, ping.payload)
        conn.wait_eof(timeout=5)

    url = scripted_server(answers_pings_only).url()
    status, out = doctor(capsys, url, "--close-timeout", "0.3", "--ping-timeout", "5")
    assert status == 1
    assert "the server did not complete the closing handshake within 0.3 s" in out


# -- TLS options ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def tls_url(ca: trustme.CA) -> Iterator[str]:
    with tls_echo_server(ca) as port:
        yield f"wss://127.0.0.1:{port}/"


def test_cacert_trusts_a_private_ca(
    capsys: pytest.CaptureFixture[str], ca: trustme.CA, tls_url: str, tmp_path: Path
) -> None:
    pem = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    for flag in ("--cacert", "--cafile"):
        status, out = doctor(capsys, tls_url, flag, str(pem))
        assert status == 0, out
        assert re.search(r"^  ok    TLS .*, certificate verified$", out, re.M)
        assert "verified: trusted by the ssl context given, valid for 127.0.0.1" in out


def test_insecure_passes_tls_and_says_so(capsys: pytest.CaptureFixture[str], tls_url: str) -> None:
    status, out = doctor(capsys, tls_url)
    assert status == 1
    assert "  FAIL  TLS" in out
    for flag in ("--insecure", "-k"):
        status = main(["doctor", tls_url, flag])
        captured = capsys.readouterr()
        assert status == 0, captured.out
        assert captured.err.startswith(
            "WARNING: --insecure: the server's TLS certificate is NOT checked."
        )
        assert re.search(r"^  ok    TLS .*, certificate NOT verified$", captured.out, re.M)
        assert "NOT verified: the ssl context given turns certificate verification off" in (
            captured.out
        )


def test_tls_options_are_noted_as_useless_on_ws(
    capsys: pytest.CaptureFixture[str], websockets_server: WebsocketsServer
) -> None:
    status = main(["doctor", websockets_server.url("/echo"), "-k"])
    captured = capsys.readouterr()
    assert status == 0
    assert captured.err == "wsapi: note: --insecure has no effect on a ws:// URL (no TLS)\n"


def test_a_context_without_host_name_checks_is_reported(ca: trustme.CA, tls_url: str) -> None:
    # What diagnose() says of an ssl= that verifies the certificate but not the host name.
    context = ssl.create_default_context()
    ca.configure_trust(context)
    context.check_hostname = False
    report = anyio.run(lambda: diagnose(tls_url, ssl_context=context))
    tls = report.stage("tls")
    assert tls.status == "ok", tls.summary
    assert tls.summary.endswith(", certificate verified but not its host name")
    assert any("the host name is NOT checked" in detail for detail in tls.details)
    assert (tls.facts["verified"], tls.facts["hostname_checked"]) == (True, False)
