"""``--save`` transcripts and ``wsapi replay``, as subprocesses against the websockets server."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from tests.cli.helpers import Run, wsapi
from tests.peers.websockets_server import WebsocketsServer


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def payloads(records: list[dict[str, Any]], direction: str) -> list[tuple[str, object]]:
    return [
        (r["kind"], r["text"] if "text" in r else base64.b64decode(r["base64"]))
        for r in records
        if r.get("dir") == direction and r["kind"] in ("text", "binary", "ping")
    ]


def record_session(server: WebsocketsServer, path: Path, *extra: str) -> Run:
    """A session on /headers: three kinds of message, a ping, then the client closes."""
    return wsapi(
        "connect",
        server.url("/headers"),
        "--commands",
        "-H",
        "Authorization: Bearer s3cret",
        "-H",
        "X-Tenant: blue",
        "--cookie",
        "sid=42",
        "-s",
        "chat.v1",
        "--origin",
        "https://app.example",
        "--no-compression",
        "--save",
        str(path),
        *extra,
        input='hello\n/json {"n": 1}\n/hex 0001\n/ping p\n/close 4001 done\n',
    )


def test_save_writes_the_whole_session(websockets_server: WebsocketsServer, tmp_path: Path) -> None:
    path = tmp_path / "session.jsonl"
    run = record_session(websockets_server, path)
    assert run.returncode == 5, run.stderr
    records = read(path)
    session = records[0]
    assert session["kind"] == "session" and session["format"] == 1
    assert session["url"] == websockets_server.url("/headers")
    assert session["started"].endswith("Z")
    kinds = [f"{r['dir']}{r['kind']}" for r in records[1:] if r["kind"] != "stage"]
    assert kinds[:3] == [">request", "<response", "=open"]
    assert kinds[-2:] == ["<close", "=closed"] and ">close" in kinds
    request = next(r for r in records if r["kind"] == "request")
    assert ["Authorization", "Bearer <redacted>"] in request["headers"]
    assert ["Cookie", "sid=<redacted>"] in request["headers"]
    assert ["X-Tenant", "blue"] in request["headers"]
    response = next(r for r in records if r["kind"] == "response")
    assert response["status"] == 101 and response["headers"]
    assert payloads(records, ">") == [
        ("text", "hello"),
        ("text", '{"n": 1}'),
        ("binary", b"\x00\x01"),
        ("ping", b"p"),
    ]
    times = [r["ms"] for r in records[1:]]
    assert times == sorted(times)
    # Only the /headers route's own message, which the server sent, holds the secrets.
    assert "s3cret" not in json.dumps([r for r in records if r["kind"] != "text"])


def test_show_secrets_keeps_them(websockets_server: WebsocketsServer, tmp_path: Path) -> None:
    path = tmp_path / "session.jsonl"
    run = record_session(websockets_server, path, "--show-secrets", "-v")
    assert run.returncode == 5, run.stderr
    request = next(r for r in read(path) if r["kind"] == "request")
    assert ["Authorization", "Bearer s3cret"] in request["headers"]
    assert ["Cookie", "sid=42"] in request["headers"]
    assert "Authorization: Bearer s3cret" in run.stdout


def test_secrets_are_redacted_on_screen(
    websockets_server: WebsocketsServer, tmp_path: Path
) -> None:
    run = record_session(websockets_server, tmp_path / "s.jsonl", "-v")
    assert "                Authorization: Bearer <redacted>" in run.stdout
    assert "                Cookie: sid=<redacted>" in run.stdout
    jsonl = record_session(websockets_server, tmp_path / "t.jsonl", "--jsonl")
    request = next(r for r in jsonl.records() if r["kind"] == "request")
    assert ["Authorization", "Bearer <redacted>"] in request["headers"]
    assert "s3cret" not in jsonl.stdout.split('"kind": "response"')[0]


def test_replay_sends_the_recorded_messages(
    websockets_server: WebsocketsServer, tmp_path: Path
) -> None:
    path = tmp_path / "session.jsonl"
    assert record_session(websockets_server, path).returncode == 5
    run = wsapi("replay", str(path), websockets_server.url("/echo"), "--jsonl")
    assert run.returncode == 5, run.stderr  # the recorded Close: 4001
    records = run.records()
    assert payloads(records, ">") == payloads(read(path), ">")
    assert [p for p in payloads(records, "<") if p[0] != "ping"] == [
        ("text", "hello"),
        ("text", '{"n": 1}'),
        ("binary", b"\x00\x01"),
    ]
    assert [r["kind"] for r in run.frames("<", "pong")] == ["pong"]
    close = run.frames(">", "close")[0]
    assert (close["code"], close["reason"]) == (4001, "done")
    # The recorded request is reused: subprotocol, Origin, no compression, extra headers.
    request = next(r for r in records if r["kind"] == "request")
    headers = {name.lower(): value for name, value in request["headers"]}
    assert headers["sec-websocket-protocol"] == "chat.v1"
    assert headers["origin"] == "https://app.example"
    assert "sec-websocket-extensions" not in headers
    assert headers["x-tenant"] == "blue"
    # ... except the redacted secrets, which the user is told to give again.
    assert "authorization" not in headers and "cookie" not in headers
    assert "the recorded Authorization header was redacted" in run.stderr
    assert "the recorded Cookie header was redacted" in run.stderr


def test_replay_to_the_recorded_url_with_secrets_given_again(
    websockets_server: WebsocketsServer, tmp_path: Path
) -> None:
    path = tmp_path / "session.jsonl"
    assert record_session(websockets_server, path).returncode == 5
    run = wsapi(
        "replay", str(path), "-H", "Authorization: Bearer fresh", "--cookie", "sid=43",
        "--count", "4", "--jsonl",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr  # --count ends it (headers + 3 echoes), with 1000
    assert run.stderr == ""
    seen = json.loads(run.frames("<", "text")[0]["text"])  # /headers, the recorded URL
    assert seen["authorization"] == "Bearer fresh"
    assert seen["cookie"] == "sid=43"
    assert seen["x-tenant"] == "blue"


def test_replay_options_replace_the_recorded_request(
    websockets_server: WebsocketsServer, tmp_path: Path
) -> None:
    path = tmp_path / "session.jsonl"
    assert record_session(websockets_server, path).returncode == 5
    run = wsapi(
        "replay", str(path), "--timing", websockets_server.url("/headers"), "--query", "v=2",
        "-s", "chat.v2", "--origin", "https://other.example", "--compression",
        "-H", "X-Tenant: green", "--user-agent", "replayer/1", "--count", "1", "--jsonl",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    request = next(r for r in run.records() if r["kind"] == "request")
    assert request["target"] == "/headers?v=2"
    seen = json.loads(run.frames("<", "text")[0]["text"])
    assert seen["sec-websocket-protocol"] == "chat.v2"
    assert seen["origin"] == "https://other.example"
    assert seen["sec-websocket-extensions"].startswith("permessage-deflate")
    assert seen["x-tenant"] == "green"  # replaced, not sent twice
    assert seen["user-agent"] == "replayer/1"


def transcript(path: Path, messages: list[tuple[float, str]], close_at: float) -> None:
    """A hand-written transcript: the connection opens at 100 ms, texts at the given times."""
    lines: list[dict[str, Any]] = [
        {"kind": "session", "format": 1, "url": "ws://127.0.0.1:9/", "started": "x"},
        {"ms": 50.0, "dir": ">", "kind": "request", "target": "/", "headers": []},
        {"ms": 100.0, "dir": "=", "kind": "open", "protocol": "", "extensions": ""},
    ]
    for ms, text in messages:
        lines.append({"ms": ms, "dir": ">", "kind": "text", "size": len(text), "text": text})
        lines.append({"ms": ms + 1, "dir": "<", "kind": "text", "size": len(text), "text": text})
    lines.append({"ms": close_at, "dir": ">", "kind": "close", "code": 1000, "reason": ""})
    lines.append({"ms": close_at + 1, "dir": "<", "kind": "close", "code": 1000, "reason": ""})
    lines.append({"ms": close_at + 2, "dir": "=", "kind": "closed", "code": 1000, "reason": ""})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def sent_times(run: Run) -> list[float]:
    records = run.records()
    opened = next(r["ms"] for r in records if r["kind"] == "open")
    return [r["ms"] - opened for r in run.frames(">", "text")]


def test_replay_timing(websockets_server: WebsocketsServer, tmp_path: Path) -> None:
    path = tmp_path / "timed.jsonl"
    transcript(path, [(100.0, "now"), (400.0, "later"), (700.0, "last")], close_at=800.0)
    timed = wsapi("replay", str(path), websockets_server.url("/echo"), "--timing", "--jsonl")
    assert timed.returncode == 0, timed.stderr
    first, second, third = sent_times(timed)
    assert first < 150 and 250 <= second - first <= 450 and 250 <= third - second <= 450
    close = timed.frames(">", "close")[0]["ms"] - next(
        r["ms"] for r in timed.records() if r["kind"] == "open"
    )
    assert close >= 690
    at_once = wsapi("replay", str(path), websockets_server.url("/echo"), "--wait", "0.1",
                    "--jsonl")  # fmt: skip
    assert at_once.returncode == 0, at_once.stderr
    times = sent_times(at_once)
    assert [r["text"] for r in at_once.frames(">", "text")] == ["now", "later", "last"]
    assert times[-1] - times[0] < 200


def test_replay_reads_jsonl_output(websockets_server: WebsocketsServer, tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    first = wsapi(
        "connect", websockets_server.url("/echo"), "--send", "a", "--send-hex", "ff",
        "--count", "2", "--jsonl",
    )  # fmt: skip
    path.write_text(first.stdout)
    run = wsapi("replay", str(path), "--count", "2", "-q")
    assert run.returncode == 0, run.stderr
    assert run.stdout == "a\nff\n"


def test_replay_save_round_trip(websockets_server: WebsocketsServer, tmp_path: Path) -> None:
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    assert record_session(websockets_server, one).returncode == 5
    run = wsapi("replay", str(one), websockets_server.url("/echo"), "--save", str(two))
    assert run.returncode == 5, run.stderr
    assert payloads(read(two), ">") == payloads(read(one), ">")


def test_bad_transcripts_are_usage_errors(tmp_path: Path) -> None:
    missing = wsapi("replay", str(tmp_path / "missing.jsonl"))
    assert missing.returncode == 2
    assert "cannot read transcript" in missing.stderr
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text('{"kind": "session", "url": "ws://x/"}\nnot json\n')
    run = wsapi("replay", str(garbage))
    assert run.returncode == 2
    assert f"{garbage}, line 2: not a wsapi transcript record" in run.stderr
    never = tmp_path / "never.jsonl"
    never.write_text('{"kind": "session", "url": "ws://x/"}\n')
    run = wsapi("replay", str(never))
    assert run.returncode == 2
    assert "never opened" in run.stderr
