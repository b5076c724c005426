"""Exit statuses, failure messages and TLS options of ``wsapi connect``, as a subprocess."""

from __future__ import annotations

import json
import shlex
import signal
import ssl
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest
import trustme

from tests.cli.helpers import TIMEOUT, free_port, start, tls_echo_server, wsapi, wsapi_all
from tests.peers.scripted import Opcode, RawConnection, ScriptedServer
from tests.peers.websockets_server import WebsocketsServer
from wsapi import ConnectionFailed, WebSocket
from wsapi.cli import exit_codes


def library_message(url: str, **options: object) -> str:
    """What the library itself says when ``url`` cannot be opened."""

    async def attempt() -> str:
        try:
            async with WebSocket(url, **options):  # type: ignore[arg-type]
                pass
        except ConnectionFailed as exc:
            return str(exc)
        raise AssertionError(f"{url} opened")

    return anyio.run(attempt)


def test_a_normal_close_exits_0(websockets_server: WebsocketsServer) -> None:
    run = wsapi("connect", websockets_server.url("/close"))
    assert run.returncode == exit_codes.OK == 0
    assert run.stderr == ""


def test_a_close_without_code_exits_0(websockets_server: WebsocketsServer) -> None:
    run = wsapi("connect", websockets_server.url("/close-no-code"))
    assert run.returncode == 0, run.stderr
    assert "< close    (no code)" in run.stdout
    assert "= closed   1005 no status code" in run.stdout


def test_the_close_code_decides(websockets_server: WebsocketsServer) -> None:
    codes = [1001, 1011, 4000]
    runs = wsapi_all(
        *(["connect", websockets_server.url(f"/close?code={code}&reason=why")] for code in codes)
    )
    for code, run in zip(codes, runs, strict=True):
        assert run.returncode == (exit_codes.OK if code == 1001 else exit_codes.CLOSE_CODE)
        assert f"= closed   {code} " in run.stdout and '"why"' in run.stdout
        assert run.stderr == ""  # the timeline already says it


def test_a_refused_connection_exits_3_with_the_library_message() -> None:
    url = f"ws://127.0.0.1:{free_port()}/"
    run = wsapi("connect", url)
    assert run.returncode == exit_codes.CONNECT_FAILED == 3
    assert run.stdout == ""
    lines = run.stderr.splitlines()
    assert lines[0] == f"wsapi: {library_message(url)}"
    assert lines[1] == (
        f"wsapi: hint: `wsapi doctor {url}` checks each stage of the connection "
        "(DNS, TCP, TLS, HTTP upgrade) and says which one fails."
    )


def hinted_doctor(stderr: str) -> list[str]:
    """The ``wsapi doctor`` command line the hint suggests, as arguments."""
    [hint] = [line for line in stderr.splitlines() if line.startswith("wsapi: hint: ")]
    command = hint.split("`")[1]
    words = shlex.split(command)
    assert words[:2] == ["wsapi", "doctor"]
    return words[2:]


def test_the_doctor_hint_repeats_the_connection_options(tmp_path: Path) -> None:
    pem = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(pem))
    port = free_port()
    run = wsapi(
        "connect", f"wss://bob:hunter2@127.0.0.1:{port}/chat", "--query", "room=the lobby",
        "-H", "X-Tenant: blue", "-H", "Authorization: Bearer s3cret", "--cookie", "sid=42",
        "-s", "chat.v1", "-s", "chat.v2", "--origin", "https://app.example",
        "--user-agent", "", "--no-compression", "--cacert", str(pem),
    )  # fmt: skip
    assert run.returncode == 3
    for secret in ("bob", "hunter2", "s3cret", "sid=42"):
        assert secret not in run.stderr
    assert hinted_doctor(run.stderr) == [
        f"wss://127.0.0.1:{port}/chat?room=the+lobby",
        "-H", "X-Tenant: blue", "-s", "chat.v1", "-s", "chat.v2",
        "--origin", "https://app.example", "--user-agent", "", "--no-compression",
        "--cacert", str(pem),
    ]  # fmt: skip
    assert run.stderr.rstrip().endswith(
        "and says which one fails (add the URL's user:password, the Authorization header "
        "and the Cookie header to it: secrets are not shown here)."
    )
    # The hint is a command line wsapi doctor takes: it checks, and fails at TCP.
    doctor = wsapi("doctor", *hinted_doctor(run.stderr))
    assert doctor.returncode == 1, doctor.stderr
    assert "  FAIL  TCP connect" in doctor.stdout


def test_the_doctor_hint_with_show_secrets_and_insecure() -> None:
    url = f"wss://127.0.0.1:{free_port()}/"
    run = wsapi("connect", url, "-H", "Authorization: Bearer s3cret", "-k", "--show-secrets")
    assert run.returncode == 3
    assert hinted_doctor(run.stderr) == [url, "-H", "Authorization: Bearer s3cret", "--insecure"]
    assert "secrets are not shown" not in run.stderr


def test_a_refused_upgrade_exits_3_with_the_library_message(
    websockets_server: WebsocketsServer,
) -> None:
    url = websockets_server.url("/reject?status=401&body=who+are+you")
    run = wsapi("connect", url, "--jsonl")
    assert run.returncode == 3
    assert run.stderr.splitlines()[0] == f"wsapi: {library_message(url)}"
    records = run.records()
    response = next(r for r in records if r["kind"] == "response")
    assert response["status"] == 401
    assert records[-2]["kind"] == "error" and records[-2]["message"] == library_message(url)
    assert records[-1]["kind"] == "closed" and records[-1]["code"] == 1006


def test_a_dropped_connection_exits_4(scripted_server: Callable[..., ScriptedServer]) -> None:
    def drop(conn: RawConnection) -> None:
        conn.accept()
        conn.send_frame(Opcode.TEXT, b"bye")
        conn.abort()

    run = wsapi("connect", scripted_server(drop).url("/"), "--count", "5")
    assert run.returncode == exit_codes.ABNORMAL == 4
    assert "< text     3 B  bye" in run.stdout
    assert "= error    the connection was lost" in run.stdout
    assert "= closed   1006 abnormal closure" in run.stdout


def test_a_protocol_error_exits_4(scripted_server: Callable[..., ScriptedServer]) -> None:
    def invalid_utf8(conn: RawConnection) -> None:
        conn.accept()
        conn.send_frame(Opcode.TEXT, b"\xff\xfe")
        conn.read_close()

    run = wsapi("connect", scripted_server(invalid_utf8).url("/"), "-q")
    assert run.returncode == 4
    assert run.stdout == ""
    assert run.stderr.startswith("wsapi: the connection closed abnormally (1006): ")


def wait_open(process: subprocess.Popen[str]) -> None:
    """Read ``--jsonl`` lines from a running wsapi until the open event."""
    assert process.stdout is not None
    for line in process.stdout:
        if json.loads(line).get("kind") == "open":
            return
    raise AssertionError("the connection did not open")


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_closes_cleanly_and_exits_128_plus_signal(
    websockets_server: WebsocketsServer, signum: int, status: int
) -> None:
    process = start("connect", websockets_server.url("/echo"), "--jsonl")
    try:
        wait_open(process)
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == status
    assert "closing (press Ctrl-C again to stop at once)" in stderr
    records = [json.loads(line) for line in stdout.splitlines()]
    assert records[-1]["kind"] == "closed" and records[-1]["code"] == 1000


def test_a_second_signal_stops_at_once(scripted_server: Callable[..., ScriptedServer]) -> None:
    def never_closes(conn: RawConnection) -> None:
        conn.accept()
        conn.wait_eof(timeout=10)

    process = start("connect", scripted_server(never_closes).url("/"), "--jsonl")
    try:
        wait_open(process)
        process.send_signal(signal.SIGINT)
        assert process.stderr is not None
        assert "closing" in process.stderr.readline()
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=5)  # close_timeout is 10 s: this is the second signal
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130


# -- TLS ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def tls_port(ca: trustme.CA) -> Iterator[int]:
    with tls_echo_server(ca) as port:
        yield port


def test_cacert_trusts_a_private_ca(ca: trustme.CA, tls_port: int, tmp_path: Path) -> None:
    pem = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    url = f"wss://127.0.0.1:{tls_port}/"
    args = ["--send", "over TLS", "--count", "1", "-q"]
    run, alias = wsapi_all(
        ["connect", url, "--cacert", str(pem), *args], ["connect", url, "--cafile", str(pem), *args]
    )
    for each in (run, alias):
        assert each.returncode == 0, each.stderr
        assert each.stdout == "over TLS\n"
        assert each.stderr == ""


def test_an_unknown_ca_fails_with_the_library_message(tls_port: int) -> None:
    url = f"wss://127.0.0.1:{tls_port}/"
    run = wsapi("connect", url)
    assert run.returncode == 3
    assert run.stderr.splitlines()[0] == f"wsapi: {library_message(url)}"
    assert "certificate" in run.stderr


def test_insecure_connects_and_warns_loudly(tls_port: int) -> None:
    run = wsapi(
        "connect", f"wss://127.0.0.1:{tls_port}/", "--insecure", "--send", "unchecked",
        "--count", "1", "-q",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout == "unchecked\n"
    assert run.stderr.startswith(
        "WARNING: --insecure: the server's TLS certificate is NOT checked."
    )


def test_tls_options_are_noted_as_useless_on_ws(websockets_server: WebsocketsServer) -> None:
    run = wsapi("connect", websockets_server.url("/close"), "-k")
    assert run.returncode == 0
    assert run.stderr == "wsapi: note: --insecure has no effect on a ws:// URL (no TLS)\n"


def test_insecure_and_cacert_exclude_each_other() -> None:
    run = wsapi("connect", "wss://127.0.0.1:9/", "-k", "--cacert", "x.pem")
    assert run.returncode == 2
    assert "not allowed with argument" in run.stderr


def test_ssl_module_is_what_the_options_build() -> None:
    # --insecure's context, checked directly: no hostname check, no verification.
    from wsapi.cli.options import ssl_context

    notes: list[str] = []
    context = ssl_context("wss://x/", None, True, notes.append)
    assert context is not None
    assert context.check_hostname is False and context.verify_mode == ssl.CERT_NONE
    assert notes and "NOT checked" in notes[0]
