"""``wsapi doctor``: a line per stage, the fix, the exit status, --json, redaction.

The command runs its own event loop (``--backend asyncio`` or ``trio``), so
these tests are synchronous and parametrised on the backend.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from tests.diagnostics.helpers import free_port
from tests.peers.nginx import NginxServer
from tests.peers.websockets_server import WebsocketsServer
from wsapi.cli.doctor import escape, render
from wsapi.cli.main import main
from wsapi.diagnostics import DoctorReport, StageReport

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


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "ws://127.0.0.1:1/", "-H", "no colon"]) == 2
    assert "-H needs 'Name: value'" in capsys.readouterr().err
    assert main(["doctor", "ws://127.0.0.1:1/", "--timeout", "0"]) == 2
    assert main(["doctor", "ws://127.0.0.1:1/", "--cafile", "/nonexistent.pem"]) == 2
    with pytest.raises(SystemExit) as info:
        main(["doctor"])
    assert info.value.code == 2


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
