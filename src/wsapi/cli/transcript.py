"""Session records: the ``--jsonl`` output, ``--save`` transcripts and what ``replay`` reads.

One JSON object per line. The first line describes the session; every other
line is one ``TraceEvent`` of the connection::

    {"kind": "session", "format": 1, "wsapi": "0.1.0", "url": "ws://...", "started": "..."}
    {"ms": 1.234, "dir": ">", "kind": "request", "target": "/chat", "headers": [["Host", "..."]]}
    {"ms": 2.345, "dir": "<", "kind": "response", "status": 101, "reason": "...", "headers": [...]}
    {"ms": 2.4, "dir": "=", "kind": "open", "protocol": "", "extensions": "..."}
    {"ms": 3.0, "dir": ">", "kind": "text", "size": 5, "text": "hello"}
    {"ms": 3.5, "dir": "<", "kind": "binary", "size": 2, "base64": "AAE="}

``ms`` is the time since the connection attempt started, in milliseconds.
Authorization, Proxy-Authorization, Cookie and Set-Cookie values are redacted
unless secrets are shown, and so are credentials in the URL.

>>> dumps(event_record(TraceEvent(0.0031, "<", "close", code=1000, reason="bye")))
'{"ms": 3.1, "dir": "<", "kind": "close", "code": 1000, "reason": "bye"}'
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from ..errors import redact_url
from ..trace import TraceEvent
from ..version import __version__
from .commands import Outgoing

__all__ = [
    "FORMAT",
    "REDACTED",
    "Recording",
    "TranscriptError",
    "TranscriptWriter",
    "dumps",
    "event_record",
    "read_transcript",
    "redact_headers",
    "redact_value",
    "session_record",
]

#: The version of the record format, in the session line.
FORMAT = 1

#: What replaces a secret.
REDACTED = "<redacted>"

#: Headers whose values are secrets (compared lower-cased).
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})

# Characters that json.dumps(ensure_ascii=False) leaves as they are but that a
# terminal may act on (DEL, C1 controls) or that reorder text (bidi controls).
# They can only occur inside JSON strings, so escaping them keeps the JSON valid.
_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def redact_value(name: str, value: str) -> str:
    """``value`` of header ``name`` with its secret parts replaced.

    What stays helps debugging without giving the secret away: the scheme of
    an Authorization, the names of cookies.

    >>> redact_value("Authorization", "Bearer abc.def")
    'Bearer <redacted>'
    >>> redact_value("Cookie", "session=42; theme=dark")
    'session=<redacted>; theme=<redacted>'
    >>> redact_value("Set-Cookie", "id=7; Path=/; HttpOnly")
    'id=<redacted>; Path=/; HttpOnly'
    """
    lower = name.lower()
    if lower not in SECRET_HEADERS:
        return value
    if lower in ("authorization", "proxy-authorization"):
        scheme, space, _ = value.strip().partition(" ")
        return f"{scheme} {REDACTED}" if space else REDACTED
    if lower == "cookie":
        return "; ".join(_redact_cookie(part) for part in value.split(";") if part.strip())
    first, semicolon, attributes = value.partition(";")
    return _redact_cookie(first) + (semicolon + attributes if semicolon else "")


def _redact_cookie(pair: str) -> str:
    cookie_name, equals, _ = pair.strip().partition("=")
    return f"{cookie_name}={REDACTED}" if equals else REDACTED


def redact_headers(headers: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """The headers with their secret values redacted."""
    return tuple((name, redact_value(name, value)) for name, value in headers)


def session_record(
    url: str, *, show_secrets: bool, started: datetime | None = None
) -> dict[str, Any]:
    """The first line of a transcript."""
    when = started or datetime.now(timezone.utc)
    return {
        "kind": "session",
        "format": FORMAT,
        "wsapi": __version__,
        "url": url if show_secrets else redact_url(url),
        "started": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }


def event_record(
    event: TraceEvent, *, show_secrets: bool = False, protocol: str = "", extensions: str = ""
) -> dict[str, Any]:
    """One ``TraceEvent`` as a JSON-ready dict (``protocol``/``extensions`` for ``open``)."""
    record: dict[str, Any] = {
        "ms": round(event.time * 1000, 3),
        "dir": event.direction,
        "kind": event.kind,
    }
    kind = event.kind
    headers = event.headers if show_secrets else redact_headers(event.headers)
    if kind == "stage":
        record["stage"] = event.detail
    elif kind == "request":
        record["target"] = event.detail
        record["headers"] = [list(pair) for pair in headers]
    elif kind == "response":
        record["status"] = event.code
        record["reason"] = event.reason
        record["headers"] = [list(pair) for pair in headers]
    elif kind in ("text", "binary", "ping", "pong"):
        record["size"] = event.size
        if isinstance(event.data, str):
            record["text"] = event.data
        else:
            record["base64"] = base64.b64encode(event.data or b"").decode("ascii")
    elif kind in ("close", "closed"):
        record["code"] = event.code
        record["reason"] = event.reason
        if kind == "closed":
            record["clean"] = event.code != 1006
    elif kind == "open":
        record["protocol"] = protocol
        record["extensions"] = extensions
    elif kind == "error":
        record["message"] = event.detail
    elif event.detail:
        record["detail"] = event.detail
    if event.detail and kind in ("ping", "pong", "close"):
        record["detail"] = event.detail
    return record


def dumps(record: dict[str, Any]) -> str:
    """One record as one line of JSON, safe to print on a terminal."""
    text = json.dumps(record, ensure_ascii=False)
    return _UNSAFE_IN_JSON.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


class TranscriptWriter:
    """Writes records to a ``--save`` file as they happen (a crash keeps what came before)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._file: IO[str] = open(path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115

    def write(self, record: dict[str, Any]) -> None:
        if self._file.closed:
            return
        self._file.write(dumps(record) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class TranscriptError(Exception):
    """A transcript could not be read; the message says where and why."""


@dataclass
class Recording:
    """What ``replay`` needs from a transcript."""

    url: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    messages: list[Outgoing] = field(default_factory=list)
    #: The client's own Close (code, reason, seconds after open), if it closed first.
    close: tuple[int | None, str, float] | None = None
    #: When the connection closed, in seconds after open.
    end: float | None = None
    #: The recorded connection failed (its last Close was not the user's).
    failed: bool = False


def read_transcript(path: str) -> Recording:
    """Parse a transcript (or ``--jsonl`` output) for replay."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise TranscriptError(f"cannot read transcript {path}: {exc}") from exc
    recording = Recording()
    opened_ms: float | None = None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("a record must be a JSON object")
            opened_ms = _read_record(record, recording, opened_ms)
        except (ValueError, TypeError, KeyError, binascii.Error) as exc:
            raise TranscriptError(
                f"{path}, line {number}: not a wsapi transcript record ({exc})"
            ) from exc
    if opened_ms is None:
        raise TranscriptError(
            f"{path}: the recorded connection never opened: there is nothing to replay"
        )
    return recording


def _read_record(
    record: dict[str, Any], recording: Recording, opened_ms: float | None
) -> float | None:
    kind = record["kind"]
    if kind == "session":
        if record.get("format", FORMAT) > FORMAT:
            raise ValueError(f"format {record['format']} is newer than this wsapi reads")
        recording.url = str(record["url"])
        return opened_ms
    direction = record["dir"]
    ms = float(record["ms"])
    if kind == "request":
        recording.headers = tuple((str(name), str(value)) for name, value in record["headers"])
        return opened_ms
    if kind == "open":
        return ms
    if opened_ms is None:
        return None
    at = max(0.0, (ms - opened_ms) / 1000)
    if direction == ">" and kind in ("text", "binary", "ping") and not record.get("detail"):
        data: str | bytes
        if "text" in record:
            data = str(record["text"]) if kind == "text" else str(record["text"]).encode()
        else:
            data = base64.b64decode(record["base64"], validate=True)
        recording.messages.append(Outgoing(kind, data, at))
    elif kind == "error":
        recording.failed = True
    elif direction == ">" and kind == "close" and record.get("detail") != "echo":
        if recording.close is None and not recording.failed:
            code = record.get("code")
            recording.close = (None if code is None else int(code), str(record["reason"]), at)
    elif kind == "closed":
        recording.end = at
    return opened_ms
