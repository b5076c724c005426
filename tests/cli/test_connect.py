"""``wsapi connect`` as a subprocess against the websockets server: every option, both outputs.

The /headers route sends the request headers back as JSON, so the tests see
what really went over the wire.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.helpers import wsapi, wsapi_all
from tests.peers.scripted import RawConnection, ScriptedServer
from tests.peers.websockets_server import WebsocketsServer, send_payload
from wsapi.cli.main import main


def sent_headers(run_records: list[dict[str, object]]) -> dict[str, str]:
    """The JSON the /headers route sent: the request headers as the server saw them."""
    first = next(r for r in run_records if r.get("dir") == "<" and r["kind"] == "text")
    headers = json.loads(str(first["text"]))
    assert isinstance(headers, dict)
    return headers


def test_headers_cookies_origin_and_user_agent_are_sent(
    websockets_server: WebsocketsServer,
) -> None:
    run = wsapi(
        "connect",
        websockets_server.url("/headers"),
        "-H",
        "X-One: 1",
        "--header",
        "X-Two:two words ",
        "--cookie",
        "session=abc",
        "--cookie",
        "theme=dark",
        "--origin",
        "https://app.example",
        "--user-agent",
        "probe/1.0",
        "--count",
        "1",
        "--jsonl",
    )
    assert run.returncode == 0, run.stderr
    headers = sent_headers(run.records())
    assert headers["x-one"] == "1"
    assert headers["x-two"] == "two words"
    assert headers["cookie"] == "session=abc; theme=dark"
    assert headers["origin"] == "https://app.example"
    assert headers["user-agent"] == "probe/1.0"


def test_an_empty_user_agent_sends_none(websockets_server: WebsocketsServer) -> None:
    run = wsapi(
        "connect", websockets_server.url("/headers"), "--user-agent", "", "--count", "1", "--jsonl"
    )
    assert run.returncode == 0, run.stderr
    assert "user-agent" not in sent_headers(run.records())


def test_cookie_options_join_a_cookie_header(websockets_server: WebsocketsServer) -> None:
    run = wsapi(
        "connect",
        websockets_server.url("/headers"),
        "-H",
        "Cookie: a=1",
        "--cookie",
        "b=2",
        "--count",
        "1",
        "--jsonl",
    )
    assert run.returncode == 0, run.stderr
    assert sent_headers(run.records())["cookie"] == "a=1; b=2"


def test_query_parameters_are_added_url_encoded(websockets_server: WebsocketsServer) -> None:
    # /close reads its code and reason from the query string.
    run = wsapi(
        "connect",
        websockets_server.url("/close"),
        "--query",
        "code=4001",
        "--query",
        "reason=see you",
        "--jsonl",
    )
    assert run.returncode == 5, run.stderr
    request = next(r for r in run.records() if r["kind"] == "request")
    assert request["target"] == "/close?code=4001&reason=see+you"
    close = run.frames("<", "close")[0]
    assert (close["code"], close["reason"]) == (4001, "see you")
    assert 'closed with 4001 "see you"' in run.stderr


def test_query_parameters_join_an_existing_query(websockets_server: WebsocketsServer) -> None:
    run = wsapi(
        "connect", websockets_server.url("/close?code=4002"), "--query", "reason=x", "--jsonl"
    )
    request = next(r for r in run.records() if r["kind"] == "request")
    assert request["target"] == "/close?code=4002&reason=x"
    assert run.returncode == 5


def test_subprotocols_are_offered_in_order(websockets_server: WebsocketsServer) -> None:
    run = wsapi(
        "connect",
        websockets_server.url("/subprotocol"),
        "-s",
        "chat.v1",
        "--subprotocol",
        "chat.v2",
        "-p",
        "chat.v3",
        "--count",
        "1",
        "--jsonl",
    )
    assert run.returncode == 0, run.stderr
    records = run.records()
    request = next(r for r in records if r["kind"] == "request")
    assert ["Sec-WebSocket-Protocol", "chat.v1, chat.v2, chat.v3"] in request["headers"]
    opened = next(r for r in records if r["kind"] == "open")
    assert opened["protocol"] == "chat.v2"  # websockets picks by the server's preference
    assert run.frames("<", "text")[0]["text"] == "chat.v2"


def test_compression_option(websockets_server: WebsocketsServer) -> None:
    flags = [[], ["--compression"], ["--no-compression"]]
    args = ["connect", websockets_server.url("/compression"), "--count", "1", "--jsonl"]
    runs = wsapi_all(*([*args, *flag] for flag in flags))
    for flag, run in zip(flags, runs, strict=True):
        assert run.returncode == 0, run.stderr
        negotiated = run.frames("<", "text")[0]["text"]
        opened = next(r for r in run.records() if r["kind"] == "open")
        if flag == ["--no-compression"]:
            assert negotiated == "" and opened["extensions"] == ""
        else:
            assert negotiated.startswith("permessage-deflate")
            assert opened["extensions"].startswith("permessage-deflate")


def test_every_send_option_in_order(websockets_server: WebsocketsServer, tmp_path: Path) -> None:
    blob = tmp_path / "blob.bin"
    blob.write_bytes(b"\x00\xffFILE")
    run = wsapi(
        "connect",
        websockets_server.url("/echo"),
        "--send",
        "plain text",
        "--send-json",
        '{"op": "subscribe", "ids": [1, 2]}',
        "--send-hex",
        "de ad be ef",
        "--send-base64",
        "AAEC",
        "--send-file",
        str(blob),
        "--count",
        "5",
        "--jsonl",
    )
    assert run.returncode == 0, run.stderr
    sent = run.frames(">")[:5]
    received = run.frames("<")[:5]
    expected = [
        ("text", "plain text"),
        ("text", '{"op": "subscribe", "ids": [1, 2]}'),
        ("binary", b"\xde\xad\xbe\xef"),
        ("binary", b"\x00\x01\x02"),
        ("binary", b"\x00\xffFILE"),
    ]
    for records in (sent, received):
        got = [
            (r["kind"], r["text"] if "text" in r else base64.b64decode(r["base64"]))
            for r in records
        ]
        assert got == expected
    assert [r["size"] for r in received] == [10, 34, 4, 3, 6]


def main_status(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run ``wsapi.cli.main(argv)`` in this process (for errors found before any I/O)."""
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        status = int(exc.code or 0)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--send-json", "{nope", "not valid JSON"),
        ("--send-hex", "0g", "not hex bytes"),
        ("--send-base64", "A", "not base64"),
        ("--send-file", "/nonexistent/file", "cannot read"),
        ("--header", "no colon", "expected NAME:VALUE"),
        ("--cookie", "novalue", "expected NAME=VALUE"),
        ("--query", "=x", "expected NAME=VALUE"),
        ("--count", "0", "must be 1 or more"),
        ("--wait", "-1", "must be 0 or more seconds"),
        ("--open-timeout", "soon", "not a number of seconds"),
        ("--color", "sometimes", "invalid choice"),
    ],
)
def test_bad_option_values_are_usage_errors(
    option: str, value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = main_status(["connect", "ws://127.0.0.1:9/", option, value], capsys)
    assert status == 2
    assert message in err
    assert out == ""


@pytest.mark.parametrize(
    "args, message",
    [
        (["ftp://example.com/"], "'ftp' is not allowed"),
        (["ws://127.0.0.1:9/#fragment"], "fragment"),
        (["ws://127.0.0.1:9/", "-H", "Host: elsewhere"], "'Host' header is set by wsapi"),
        (["ws://127.0.0.1:9/", "-s", "bad protocol"], "Invalid WebSocket subprotocol"),
        (["wss://127.0.0.1:9/", "--cacert", "/nonexistent.pem"], "cannot load CA"),
        (["ws://127.0.0.1:9/", "--save", "/nonexistent/dir/t.jsonl"], "cannot write --save"),
    ],
)
def test_bad_arguments_found_before_connecting(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = main_status(["connect", *args], capsys)
    assert status == 2, err
    assert err.startswith("wsapi: error: ")
    assert message in err


def test_a_usage_error_exits_with_2_from_the_command_line() -> None:
    run = wsapi("connect", "ws://127.0.0.1:9/", "--count", "none")
    assert run.returncode == 2
    assert "usage: wsapi connect" in run.stderr
    assert run.stdout == ""


def test_stdin_lines_are_text_messages(websockets_server: WebsocketsServer) -> None:
    run = wsapi(
        "connect",
        websockets_server.url("/echo"),
        "--count",
        "4",
        "--jsonl",
        input="one\ntwo\r\n\nlast line without newline",
    )
    assert run.returncode == 0, run.stderr
    texts = [r["text"] for r in run.frames("<", "text")]
    assert texts == ["one", "two", "", "last line without newline"]


def test_end_of_input_closes_once_the_answers_came(websockets_server: WebsocketsServer) -> None:
    # No --count or --wait: after the last line, the session waits for quiet, then closes.
    run = wsapi("connect", websockets_server.url("/echo"), "--jsonl", input="a\nb\n")
    assert run.returncode == 0, run.stderr
    assert [r["text"] for r in run.frames("<", "text")] == ["a", "b"]
    closes = run.frames(">", "close")
    assert closes[0]["code"] == 1000 and "detail" not in closes[0]


def test_stdin_commands(websockets_server: WebsocketsServer) -> None:
    commands = "\n".join(
        [
            "/json [1, 2]",
            "/hex 00ff",
            "/base64 AQI=",
            "/ping are you there?",
            "//not a command",
            "/text /also not one",
            "/nonsense",
            "/json {broken",
            "",
            "/close 4003 bye now",
        ]
    )
    run = wsapi(
        "connect", websockets_server.url("/echo"), "--commands", "--jsonl", input=commands + "\n"
    )
    assert run.returncode == 5, run.stderr
    sent = [
        (r["kind"], r.get("text") or base64.b64decode(r.get("base64", ""))) for r in run.frames(">")
    ]
    assert sent == [
        ("text", "[1, 2]"),
        ("binary", b"\x00\xff"),
        ("binary", b"\x01\x02"),
        ("ping", b"are you there?"),
        ("text", "/not a command"),
        ("text", "/also not one"),
        ("close", b""),
    ]
    assert run.frames(">", "close")[0]["code"] == 4003
    assert run.frames(">", "close")[0]["reason"] == "bye now"
    assert "pong" in [r["kind"] for r in run.frames("<")]
    assert "unknown command /nonsense" in run.stderr
    assert "not valid JSON" in run.stderr


def test_no_stdin_sends_only_the_send_options(websockets_server: WebsocketsServer) -> None:
    run = wsapi(
        "connect",
        websockets_server.url("/echo"),
        "--no-stdin",
        "--send",
        "only this",
        "--count",
        "1",
        "--jsonl",
        input="not this\n",
    )
    assert run.returncode == 0, run.stderr
    assert [r["text"] for r in run.frames(">", "text")] == ["only this"]


def test_count_closes_after_n_messages(websockets_server: WebsocketsServer) -> None:
    run = wsapi(
        "connect",
        websockets_server.url("/send?count=50&size=4"),
        "--count",
        "2",
        "--jsonl",
    )
    # The server may finish sending before our Close reaches it: either way we
    # received at least 2 messages and the connection closed normally.
    assert run.returncode == 0, run.stderr
    assert len(run.frames("<", "binary")) >= 2


def test_count_closes_the_connection_itself(websockets_server: WebsocketsServer) -> None:
    run = wsapi(
        "connect",
        websockets_server.url("/echo"),
        "--send",
        "1",
        "--send",
        "2",
        "--count",
        "1",
        "--jsonl",
    )
    assert run.returncode == 0, run.stderr
    close = run.frames(">", "close")[0]
    assert close["code"] == 1000 and "detail" not in close  # ours, not an echo


def test_wait_closes_after_a_quiet_period(websockets_server: WebsocketsServer) -> None:
    started = time.monotonic()
    run = wsapi(
        "connect",
        websockets_server.url("/echo"),
        "--send",
        "hi",
        "--wait",
        "0.3",
        "--jsonl",
        input="",
    )
    elapsed = time.monotonic() - started
    assert run.returncode == 0, run.stderr
    records = run.records()
    received = next(r for r in records if r.get("dir") == "<" and r["kind"] == "text")
    close = next(r for r in records if r.get("dir") == ">" and r["kind"] == "close")
    assert close["ms"] - received["ms"] >= 290
    assert elapsed < 10


def test_keepalive_pings_with_ping_interval(websockets_server: WebsocketsServer) -> None:
    run = wsapi(
        "connect",
        websockets_server.url("/echo"),
        "--ping-interval",
        "0.1",
        "--ping-timeout",
        "5",
        "--wait",
        "0.45",
        "--jsonl",
    )
    assert run.returncode == 0, run.stderr
    pings = run.frames(">", "ping")
    assert len(pings) >= 2 and all(p["detail"] == "keepalive" for p in pings)
    assert len(run.frames("<", "pong")) >= 1


def test_keepalive_off_with_ping_interval_zero(websockets_server: WebsocketsServer) -> None:
    run = wsapi(
        "connect", websockets_server.url("/echo"), "--ping-interval", "0", "--wait", "0.3",
        "--jsonl",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.frames(">", "ping") == []


def test_ping_timeout(scripted_server: Callable[..., ScriptedServer]) -> None:
    def never_pongs(conn: RawConnection) -> None:
        conn.accept()
        conn.wait_eof(timeout=5)

    server = scripted_server(never_pongs)
    run = wsapi(
        "connect", server.url("/"), "--no-stdin", "--ping-interval", "0.1", "--ping-timeout",
        "0.2", "--count", "1", "--jsonl",
    )  # fmt: skip
    assert run.returncode == 4
    assert [r["detail"] for r in run.frames(">", "ping")] == ["keepalive"]
    assert "keepalive ping within ping_timeout (0.2 s)" in run.stderr


def test_a_keepalive_timeout_shows_the_close_code_sent(
    scripted_server: Callable[..., ScriptedServer],
) -> None:
    # The timeline shows the Close frame as it went on the wire: 1011, not "(no code)".
    wire: list[int | None] = []

    def never_pongs(conn: RawConnection) -> None:
        conn.accept()
        close = conn.read_close()
        assert close is not None
        wire.append(close[0])
        conn.wait_eof(timeout=5)

    server = scripted_server(never_pongs)
    args = ["connect", server.url("/"), "--ping-interval", "0.1", "--ping-timeout", "0.2"]
    jsonl, human = wsapi_all([*args, "--jsonl"], args)
    server.wait_scripts()
    assert wire == [1011, 1011]
    for run in (jsonl, human):
        assert run.returncode == 4, run.stderr
    assert [close["code"] for close in jsonl.frames(">", "close")] == [1011]
    assert re.search(r"^ +\d+\.\d ms  > close    1011 internal error", human.stdout, re.M)


def test_server_pings_are_answered_and_shown(websockets_server: WebsocketsServer) -> None:
    run = wsapi("connect", websockets_server.url("/ping?count=2"), "--count", "1", "--jsonl")
    assert run.returncode == 0, run.stderr
    pings = run.frames("<", "ping")
    assert [base64.b64decode(p["base64"]) for p in pings] == [b"ping 1", b"ping 2"]
    pongs = run.frames(">", "pong")
    assert [p["detail"] for p in pongs] == ["automatic", "automatic"]
    assert run.frames("<", "text")[0]["text"] == "pinged 2"


def test_max_size_fails_a_too_big_message(websockets_server: WebsocketsServer) -> None:
    run = wsapi(
        "connect", websockets_server.url("/send?count=1&size=2000"), "--max-size", "1000",
        "--jsonl",
    )  # fmt: skip
    assert run.returncode == 4
    assert run.frames(">", "close")[0]["code"] == 1009
    errors = [r for r in run.records() if r["kind"] == "error"]
    assert errors and "max_message_size" in errors[0]["message"]
    assert "closed abnormally (1006)" in run.stderr


def test_max_size_zero_means_no_limit(websockets_server: WebsocketsServer) -> None:
    size = 17 * 2**20  # over the default 16 MiB
    run = wsapi(
        "connect", websockets_server.url(f"/send?count=1&size={size}"), "--max-size", "0", "-q"
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == send_payload(0, size).hex()


def test_open_timeout(scripted_server: Callable[..., ScriptedServer]) -> None:
    def silent(conn: RawConnection) -> None:
        conn.read_request()
        conn.wait_eof(timeout=5)

    server = scripted_server(silent)
    started = time.monotonic()
    run = wsapi("connect", server.url("/"), "--open-timeout", "0.3")
    assert run.returncode == 3
    assert time.monotonic() - started < 5
    assert "timed out after 0.3 s" in run.stderr
    assert "wsapi doctor" in run.stderr


def test_close_timeout(scripted_server: Callable[..., ScriptedServer]) -> None:
    def ignores_close(conn: RawConnection) -> None:
        conn.accept()
        conn.wait_eof(timeout=5)

    server = scripted_server(ignores_close)
    run = wsapi(
        "connect", server.url("/"), "--no-stdin", "--wait", "0.1", "--close-timeout", "0.3",
        "--jsonl",
    )  # fmt: skip
    assert run.returncode == 4
    errors = [r["message"] for r in run.records() if r["kind"] == "error"]
    assert any("close_timeout (0.3 s)" in message for message in errors)


# -- the timeline -------------------------------------------------------------------------


def timeline_lines(stdout: str) -> list[str]:
    """The timeline without its time column."""
    return [re.sub(r"^ *\d+\.\d ms  ", "", line) for line in stdout.splitlines()]


def test_the_human_timeline(websockets_server: WebsocketsServer) -> None:
    run = wsapi(
        "connect",
        websockets_server.url("/echo"),
        "--no-compression",
        "--send",
        "hello",
        "--send-json",
        '{"a": [1, 2]}',
        "--send-hex",
        "00 01 41",
        "--count",
        "3",
    )
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    assert "\x1b" not in run.stdout  # no colours off a terminal
    assert re.match(r"^ +\d+\.\d ms  > request  GET /echo$", run.stdout.splitlines()[0])
    assert timeline_lines(run.stdout) == [
        "> request  GET /echo",
        "< response 101 Switching Protocols",
        "= open",
        "> text     5 B  hello",
        "> text     13 B",
        "                {",
        '                  "a": [',
        "                    1,",
        "                    2",
        "                  ]",
        "                }",
        "> binary   3 B",
        "                0000  00 01 41                                          |..A|",
        "< text     5 B  hello",
        "< text     13 B",
        "                {",
        '                  "a": [',
        "                    1,",
        "                    2",
        "                  ]",
        "                }",
        "< binary   3 B",
        "                0000  00 01 41                                          |..A|",
        "> close    1000 normal closure",
        "< close    1000 normal closure",
        "= closed   1000 normal closure",
    ]


def test_control_characters_are_escaped(websockets_server: WebsocketsServer) -> None:
    evil = "\x1b[2J\x1b]0;owned\x07bell\x9b31m\u202eevil"
    args = ["connect", websockets_server.url("/echo"), "--send", evil, "--count", "1"]
    run, quiet, jsonl = wsapi_all(args, [*args, "-q"], [*args, "--jsonl"])
    assert run.returncode == 0, run.stderr
    assert "\x1b" not in run.stdout and "\x07" not in run.stdout and "\x9b" not in run.stdout
    assert "\u202e" not in run.stdout
    shown = "\\x1b[2J\\x1b]0;owned\\x07bell\\x9b31m\\u202eevil"
    assert f"> text     {len(evil.encode())} B  {shown}" in run.stdout
    assert f"< text     {len(evil.encode())} B  {shown}" in run.stdout
    assert quiet.stdout == shown + "\n"
    assert "\x1b" not in jsonl.stdout and "\x9b" not in jsonl.stdout
    assert jsonl.frames("<", "text")[0]["text"] == evil  # escaped as JSON, not altered


def test_long_content_is_folded(websockets_server: WebsocketsServer) -> None:
    lines = "\n".join(f"line {n}" for n in range(1, 11))
    echo = ["connect", websockets_server.url("/echo"), "--count", "1"]
    run, unfolded, blob = wsapi_all(
        [*echo, "--send", lines, "--fold", "3"],
        [*echo, "--send", lines, "--fold", "0"],
        [*echo, "--send-hex", "00" * 100, "--fold", "5"],
    )
    assert run.returncode == 0, run.stderr
    out = timeline_lines(run.stdout)
    start = out.index("< text     70 B")
    assert out[start + 1 : start + 5] == [
        "                line 1",
        "                line 2",
        "                line 3",
        "                ... 7 more lines of 70 B (--fold 0 shows all)",
    ]
    assert "                line 10" in unfolded.stdout
    assert "                ... 2 more lines of 100 B (--fold 0 shows all)" in blob.stdout
