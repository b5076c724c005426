"""The CLI's pure parts, in process: timeline formatting, commands, records, options."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import types
from pathlib import Path

import pytest

from tests.cli.helpers import wsapi, wsapi_all
from tests.peers.websockets_server import WebsocketsServer
from wsapi.cli import exit_codes
from wsapi.cli.commands import Close, CommandError, Help, Outgoing, parse_line
from wsapi.cli.interactive import have_prompt_toolkit
from wsapi.cli.options import headers_from, ssl_context, with_query
from wsapi.cli.timeline import (
    INDENT,
    Style,
    Timeline,
    escape,
    fold,
    hexdump,
    pretty_json,
    quiet_line,
)
from wsapi.cli.transcript import (
    TranscriptError,
    dumps,
    event_record,
    read_transcript,
    redact_headers,
    session_record,
)
from wsapi.trace import TraceEvent

# -- timeline ------------------------------------------------------------------------------


def show(event: TraceEvent, **options: object) -> str:
    text = Timeline(**options).format(event)  # type: ignore[arg-type]
    assert text is not None
    return text


@pytest.mark.parametrize(
    "event, expected",
    [
        (TraceEvent(0.0123, "<", "text", "hi", 2), "     12.3 ms  < text     2 B  hi"),
        (TraceEvent(1.5, ">", "text", "", 0), "   1500.0 ms  > text     0 B"),
        (
            TraceEvent(0.001, ">", "ping", b"\x00\xff", 2, detail="keepalive"),
            "      1.0 ms  > ping     2 B  00 ff (keepalive)",
        ),
        (TraceEvent(0.001, "<", "pong", b"ok", 2), "      1.0 ms  < pong     2 B  ok"),
        (TraceEvent(0.001, ">", "ping", b"", 0), "      1.0 ms  > ping     0 B"),
        (
            TraceEvent(0.002, "<", "close", code=1011, reason="db down"),
            '      2.0 ms  < close    1011 internal error "db down"',
        ),
        (
            TraceEvent(0.002, ">", "close", code=4000, reason="", detail="echo"),
            "      2.0 ms  > close    4000 (echo)",
        ),
        (TraceEvent(0.002, "<", "close"), "      2.0 ms  < close    (no code)"),
        (
            TraceEvent(0.003, "=", "closed", code=1006),
            "      3.0 ms  = closed   1006 abnormal closure",
        ),
        (
            TraceEvent(0.0, "=", "error", detail="boom\x1b[2J"),
            "      0.0 ms  = error    boom\\x1b[2J",
        ),
        (TraceEvent(0.0, ">", "request", detail="/x?y=1"), "      0.0 ms  > request  GET /x?y=1"),
        (
            TraceEvent(0.0, "<", "response", code=404, reason="Not Found"),
            "      0.0 ms  < response 404 Not Found",
        ),
    ],
)
def test_timeline_lines(event: TraceEvent, expected: str) -> None:
    assert show(event) == expected


def test_open_shows_protocol_and_extensions() -> None:
    timeline = Timeline()
    event = TraceEvent(0.0, "=", "open")
    assert timeline.format(event) == "      0.0 ms  = open"
    assert timeline.format(event, protocol="chat", extensions="permessage-deflate") == (
        "      0.0 ms  = open     protocol=chat  extensions=permessage-deflate"
    )


def test_stages_and_headers_only_when_verbose() -> None:
    stage = TraceEvent(0.0, "=", "stage", detail="dns")
    assert Timeline().format(stage) is None
    assert Timeline(verbose=True).format(stage) == "      0.0 ms  = stage    dns"
    headers = (("Host", "h"), ("Authorization", "Basic dXNlcjpwdw=="), ("Cookie", "a=1; b=2"))
    request = TraceEvent(0.0, ">", "request", headers=headers, detail="/")
    assert show(request) == "      0.0 ms  > request  GET /"
    assert show(request, verbose=True).splitlines()[1:] == [
        "                Host: h",
        "                Authorization: Basic <redacted>",
        "                Cookie: a=<redacted>; b=<redacted>",
    ]
    assert "Basic dXNlcjpwdw==" in show(request, verbose=True, show_secrets=True)


def test_binary_is_a_hex_dump() -> None:
    data = bytes(range(0x3E, 0x3E + 20))
    assert show(TraceEvent(0.0, "<", "binary", data, 20)).splitlines()[1:] == [
        INDENT + "0000  3e 3f 40 41 42 43 44 45  46 47 48 49 4a 4b 4c 4d  |>?@ABCDEFGHIJKLM|",
        INDENT + "0010  4e 4f 50 51                                       |NOPQ|",
    ]


def test_json_is_pretty_printed_and_long_text_wrapped() -> None:
    assert show(TraceEvent(0.0, "<", "text", "[]", 2)) == "      0.0 ms  < text     2 B  []"
    assert show(TraceEvent(0.0, "<", "text", '{"a":1}', 7)).splitlines()[1:] == [
        "                {",
        '                  "a": 1',
        "                }",
    ]
    # Duplicate keys are shown as sent, not merged by the pretty-printer.
    assert show(TraceEvent(0.0, "<", "text", '{"a":1,"a":2}', 13)).endswith('{"a":1,"a":2}')
    long = "x" * 150
    lines = show(TraceEvent(0.0, "<", "text", long, 150), width=100).splitlines()
    assert lines[1:] == ["                " + "x" * 84, "                " + "x" * 66]


def test_helpers() -> None:
    assert escape("a\nb\tc\x00\x7f\x85\u2028") == "a\\nb\\tc\\x00\\x7f\\x85\\u2028"
    assert escape("a\nb", newlines=True) == "a\nb"
    assert hexdump(b"") == []
    assert fold(["1", "2", "3"], 2, 9) == ["1", "2", "... 1 more line of 9 B (--fold 0 shows all)"]
    assert fold(["1", "2"], 0, 9) == ["1", "2"]
    assert pretty_json("42") is None and pretty_json("{nope") is None
    assert quiet_line(TraceEvent(0, "<", "binary", b"\x01\x02", 2)) == "0102"
    assert quiet_line(TraceEvent(0, ">", "text", "x", 1)) is None
    assert quiet_line(TraceEvent(0, "<", "text", "a\nb", 3)) == "a\\nb"


def test_colours() -> None:
    style = Style(True)
    text = show(TraceEvent(0.0125, "<", "text", "hi", 2), style=style)
    assert text == "\x1b[2m     12.5 ms\x1b[0m  \x1b[32m< text    \x1b[0m 2 B  hi"
    error = show(TraceEvent(0.0, "=", "error", detail="no"), style=style)
    assert "\x1b[1;31m" in error
    assert Style(False).paint("x", "31") == "x"


def test_colour_option(websockets_server: WebsocketsServer) -> None:
    url = websockets_server.url("/close")
    always, never, auto = wsapi_all(
        ["connect", url, "--color", "always"],
        ["connect", url, "--color", "never"],
        ["connect", url],
    )
    assert "\x1b[" in always.stdout
    assert "\x1b[" not in never.stdout
    assert "\x1b[" not in auto.stdout  # not a terminal


# -- commands ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line, action",
    [
        ("hi there", Outgoing("text", "hi there")),
        ("", Outgoing("text", "")),
        ("//etc", Outgoing("text", "/etc")),
        ("/text  two spaces", Outgoing("text", " two spaces")),
        ('/json  {"a": 1} ', Outgoing("text", '{"a": 1}')),
        ("/xml <a/>", Outgoing("text", "<a/>")),
        ("/hex 0x01 0x02:03,04", Outgoing("binary", b"\x01\x02\x03\x04")),
        ("/HEX ff", Outgoing("binary", b"\xff")),
        ("/base64 -_8=", Outgoing("binary", b"\xfb\xff")),
        ("/ping", Outgoing("ping", b"")),
        ("/ping é", Outgoing("ping", "é".encode())),
        ("/close", Close(1000, "")),
        ("/close 1000", Close(1000, "")),
        ("/close 3000 a b", Close(3000, "a b")),
        ("/quit", Close(1000, "")),
        ("/exit", Close(1000, "")),
        ("/help", Help()),
    ],
)
def test_parse_line(line: str, action: object) -> None:
    assert parse_line(line) == action


@pytest.mark.parametrize(
    "line, message",
    [
        ("/json", "/json needs an argument"),
        ("/json [1,", "not valid JSON"),
        ("/xml <a>", "not well-formed XML"),
        ("/hex abc", "not hex bytes"),
        ("/base64 !!", "not base64"),
        ("/file /nonexistent", "cannot read /nonexistent"),
        ("/ping " + "x" * 126, "at most 125 bytes"),
        ("/close x", "must be a number"),
        ("/close 1001", "must be 1000 or 3000-4999"),
        ("/close 1000 " + "r" * 124, "123 bytes"),
        ("/frobnicate", "unknown command /frobnicate"),
    ],
)
def test_parse_line_errors(line: str, message: str) -> None:
    with pytest.raises(CommandError, match=message):
        parse_line(line)


def test_file_commands(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    path.write_bytes(b'{"from": "file"}')
    assert parse_line(f"/file {path}") == Outgoing("binary", b'{"from": "file"}')
    assert parse_line(f"/textfile {path}") == Outgoing("text", '{"from": "file"}')
    path.write_bytes(b"\xff")
    with pytest.raises(CommandError, match="not UTF-8"):
        parse_line(f"/textfile {path}")


# -- records ----------------------------------------------------------------------------------


def test_event_records() -> None:
    assert event_record(TraceEvent(0.0015, ">", "binary", b"\x00", 1)) == {
        "ms": 1.5,
        "dir": ">",
        "kind": "binary",
        "size": 1,
        "base64": "AA==",
    }
    assert event_record(TraceEvent(0.0, "<", "pong", b"p", 1, detail="x"))["detail"] == "x"
    assert event_record(TraceEvent(0.0, "=", "closed", code=1006))["clean"] is False
    assert event_record(TraceEvent(0.0, "=", "open"), protocol="p", extensions="e") == {
        "ms": 0.0,
        "dir": "=",
        "kind": "open",
        "protocol": "p",
        "extensions": "e",
    }
    request = TraceEvent(0.0, ">", "request", headers=(("Cookie", "a=b"),), detail="/")
    assert event_record(request)["headers"] == [["Cookie", "a=<redacted>"]]
    assert event_record(request, show_secrets=True)["headers"] == [["Cookie", "a=b"]]


def test_session_record_redacts_url_credentials() -> None:
    record = session_record("wss://ada:pw@example.com/x", show_secrets=False)
    assert record["url"] == "wss://example.com/x"
    assert session_record("wss://ada:pw@example.com/x", show_secrets=True)["url"].startswith(
        "wss://ada:pw@"
    )


def test_dumps_escapes_terminal_controls_and_stays_json() -> None:
    record = {"text": "\x1b[31m\x9b\u202e é"}
    line = dumps(record)
    assert "\x1b" not in line and "\x9b" not in line and "\u202e" not in line and "é" in line
    assert json.loads(line) == record


def test_redact_headers() -> None:
    assert redact_headers([("authorization", "token"), ("Proxy-Authorization", "Basic x")]) == (
        ("authorization", "<redacted>"),
        ("Proxy-Authorization", "Basic <redacted>"),
    )


def test_read_transcript_errors(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"kind": "session", "format": 99, "url": "ws://x/"}\n')
    with pytest.raises(TranscriptError, match="format 99 is newer"):
        read_transcript(str(path))
    path.write_text('{"kind": "session", "url": "ws://x/"}\n[1]\n')
    with pytest.raises(TranscriptError, match=r"line 2: .*must be a JSON object"):
        read_transcript(str(path))
    path.write_text(
        '{"ms": 1, "dir": "=", "kind": "open"}\n'
        '{"ms": 2, "dir": ">", "kind": "binary", "base64": "!!"}\n'
    )
    with pytest.raises(TranscriptError, match="line 2"):
        read_transcript(str(path))


def test_read_transcript_skips_what_was_not_the_users(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    records = [
        {"ms": 1, "dir": "=", "kind": "open"},
        {"ms": 2, "dir": ">", "kind": "ping", "base64": "AA==", "detail": "keepalive"},
        {"ms": 3, "dir": ">", "kind": "pong", "base64": "AA==", "detail": "automatic"},
        {"ms": 4, "dir": ">", "kind": "ping", "base64": "AQ=="},
        {"ms": 5, "dir": "=", "kind": "error", "message": "bad frame"},
        {"ms": 6, "dir": ">", "kind": "close", "code": 1002, "reason": ""},
        {"ms": 7, "dir": "=", "kind": "closed", "code": 1006, "reason": ""},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    recording = read_transcript(str(path))
    assert recording.url is None
    assert recording.messages == [Outgoing("ping", b"\x01", 0.003)]
    assert recording.close is None  # the 1002 was wsapi failing the connection
    assert recording.end == pytest.approx(0.006)


# -- options and exit statuses ----------------------------------------------------------------


def test_with_query_and_headers() -> None:
    assert with_query("ws://h/p", []) == "ws://h/p"
    assert with_query("ws://h/p", ["q=a&b", "e="]) == "ws://h/p?q=a%26b&e="
    assert headers_from([], []) == ()
    assert headers_from([("cookie", "x=1")], ["y=2"]) == (("cookie", "x=1; y=2"),)


def test_ssl_context_for_cacert(tmp_path: Path) -> None:
    import trustme

    pem = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(pem))
    notes: list[str] = []
    context = ssl_context("wss://h/", str(pem), False, notes.append)
    assert context is not None and context.check_hostname and notes == []
    assert ssl_context("wss://h/", None, False, notes.append) is None
    assert ssl_context("ws://h/", str(pem), False, notes.append) is None
    assert notes == ["wsapi: note: --cacert has no effect on a ws:// URL (no TLS)"]


def test_exit_status_table() -> None:
    assert [exit_codes.exit_status(code, True) for code in (1000, 1001, 1005)] == [0, 0, 0]
    assert exit_codes.exit_status(1006, False) == exit_codes.ABNORMAL
    assert exit_codes.exit_status(1000, False) == exit_codes.ABNORMAL
    assert exit_codes.exit_status(1008, True) == exit_codes.CLOSE_CODE
    assert exit_codes.signal_status(2) == exit_codes.INTERRUPTED == 130


def test_help_lists_the_commands() -> None:
    run = wsapi("connect", "--help")
    assert run.returncode == 0
    for option in ("--header", "--query", "--cookie", "--subprotocol", "--origin", "--cacert",
                   "--insecure", "--no-compression", "--open-timeout", "--send-json", "--count",
                   "--wait", "--jsonl", "--save", "--show-secrets", "exit status"):  # fmt: skip
        assert option in run.stdout
    replay = wsapi("replay", "--help")
    assert replay.returncode == 0 and "--timing" in replay.stdout


def test_have_prompt_toolkit(monkeypatch: pytest.MonkeyPatch) -> None:
    assert have_prompt_toolkit() == (importlib.util.find_spec("prompt_toolkit") is not None)
    monkeypatch.setitem(sys.modules, "prompt_toolkit", None)  # not installed
    assert not have_prompt_toolkit()
    old = types.ModuleType("prompt_toolkit")
    old.__version__ = "2.0.10"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "prompt_toolkit", old)
    patch = types.ModuleType("prompt_toolkit.patch_stdout")
    monkeypatch.setitem(sys.modules, "prompt_toolkit.patch_stdout", patch)
    assert not have_prompt_toolkit()  # the extra asks for prompt_toolkit 3


def test_argparse_namespace_is_what_handlers_get() -> None:
    from wsapi.cli.main import _parser

    args = _parser().parse_args(["replay", "f.jsonl", "--timing", "ws://h/"])
    assert isinstance(args, argparse.Namespace)
    assert (args.file, args.url, args.timing) == ("f.jsonl", "ws://h/", True)
