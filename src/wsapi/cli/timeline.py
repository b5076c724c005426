"""The timeline: one entry per ``TraceEvent``, for people (``Timeline``) or for scripts.

A line reads: time since the connection attempt started, direction (``>``
sent, ``<`` received, ``=`` a change of state, as in websockets' logs), kind,
then what there is to say::

        2.6 ms  = open     extensions=permessage-deflate; client_max_window_bits=15
        2.9 ms  > text     5 B  hello
        3.4 ms  < binary   4 B
                  0000  00 01 02 03                                       |....|
        3.6 ms  < close    1000 normal closure

Text comes out as it is, JSON pretty-printed, binary as a hex dump, and long
content is folded. Everything that came from the network is escaped first:
control characters (and bidi controls) never reach the terminal as such, so a
server cannot drive it.

>>> escape("red \\x1b[31m alert\\r")
'red \\\\x1b[31m alert\\\\r'
>>> hexdump(b"wsapi\\x00")
['0000  77 73 61 70 69 00                                 |wsapi.|']
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ..trace import TraceEvent
from .transcript import redact_headers

__all__ = [
    "Style",
    "Timeline",
    "close_code_name",
    "escape",
    "fold",
    "hexdump",
    "pretty_json",
    "quiet_line",
]

#: Close codes and their names (RFC 6455 section 7.4.1, and the IANA registry).
CLOSE_CODE_NAMES = {
    1000: "normal closure",
    1001: "going away",
    1002: "protocol error",
    1003: "unsupported data",
    1005: "no status code",
    1006: "abnormal closure",
    1007: "invalid payload data",
    1008: "policy violation",
    1009: "message too big",
    1010: "mandatory extension",
    1011: "internal error",
    1012: "service restart",
    1013: "try again later",
    1014: "bad gateway",
    1015: "TLS handshake",
}

_CONTROL = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
_CONTROL_BUT_NEWLINE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}

#: Where content blocks start, under the kind column.
INDENT = " " * 16


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape(text: str, *, newlines: bool = False) -> str:
    """``text`` with control characters written as escapes (``\\n`` kept when ``newlines``)."""
    pattern = _CONTROL_BUT_NEWLINE if newlines else _CONTROL
    return pattern.sub(_escape_char, text)


def close_code_name(code: int | None) -> str:
    """``"1000 normal closure"``, ``"4000"``, or ``"(no code)"``."""
    if code is None:
        return "(no code)"
    name = CLOSE_CODE_NAMES.get(code)
    return f"{code} {name}" if name else str(code)


def hexdump(data: bytes) -> list[str]:
    """``data`` as hex dump lines: offset, 16 bytes in hex, the printable ASCII."""
    width = 4 if len(data) <= 0x10000 else 8
    lines = []
    for offset in range(0, len(data), 16):
        chunk = data[offset : offset + 16]
        left = " ".join(f"{byte:02x}" for byte in chunk[:8])
        right = " ".join(f"{byte:02x}" for byte in chunk[8:])
        ascii_ = "".join(chr(byte) if 0x20 <= byte < 0x7F else "." for byte in chunk)
        lines.append(f"{offset:0{width}x}  {left:<23}  {right:<23}  |{ascii_}|")
    return lines


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate keys")  # shown as sent rather than silently merged
    return result


def pretty_json(text: str) -> str | None:
    """``text`` pretty-printed if it is a JSON object or array, else None.

    >>> print(pretty_json('{"a": [1, 2]}'))
    {
      "a": [
        1,
        2
      ]
    }
    """
    stripped = text.strip()
    if not stripped or stripped[0] not in "[{":
        return None
    try:
        value = json.loads(stripped, object_pairs_hook=_no_duplicates)
    except ValueError:
        return None
    return json.dumps(value, indent=2, ensure_ascii=False)


def fold(lines: list[str], limit: int, size: int) -> list[str]:
    """At most ``limit`` lines (0: no limit), and a line saying how much was left out."""
    if limit <= 0 or len(lines) <= limit:
        return lines
    hidden = len(lines) - limit
    return [
        *lines[:limit],
        f"... {hidden} more line{'s' if hidden != 1 else ''} of {size} B (--fold 0 shows all)",
    ]


def _wrap(line: str, width: int) -> list[str]:
    if width <= 0 or len(line) <= width:
        return [line]
    return [line[start : start + width] for start in range(0, len(line), width)]


def _payload(data: str | bytes | None) -> str:
    """A ping, pong or close payload on one line: text if it reads as text, else hex."""
    if not data:
        return ""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return data.hex(" ")
        if _CONTROL.search(text):
            return data.hex(" ")
        return text
    return escape(data)


def quiet_line(event: TraceEvent) -> str | None:
    """``--quiet``: a received message on one line (text escaped, binary in hex), else None."""
    if event.direction != "<" or event.kind not in ("text", "binary"):
        return None
    if isinstance(event.data, str):
        return escape(event.data)
    return (event.data or b"").hex()


@dataclass(frozen=True)
class Style:
    """ANSI colours, or none (``enabled`` False: off a terminal, or NO_COLOR)."""

    enabled: bool = False

    def paint(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.enabled and text else text

    def dim(self, text: str) -> str:
        return self.paint(text, "2")

    def direction(self, direction: str, text: str) -> str:
        return self.paint(text, {">": "36", "<": "32"}.get(direction, "33"))

    def error(self, text: str) -> str:
        return self.paint(text, "1;31")


class Timeline:
    """Formats ``TraceEvent``s for a person reading a terminal (or a log file)."""

    def __init__(
        self,
        *,
        style: Style | None = None,
        verbose: bool = False,
        show_secrets: bool = False,
        fold: int = 20,
        width: int = 100,
    ) -> None:
        self.style = style or Style()
        self.verbose = verbose
        self.show_secrets = show_secrets
        self.fold = fold
        self.width = max(width, 40)

    def format(self, event: TraceEvent, *, protocol: str = "", extensions: str = "") -> str | None:
        """The entry for ``event`` (possibly several lines), or None to show nothing."""
        kind = event.kind
        if kind == "stage" and not self.verbose:
            return None
        meta, inline, block = self._describe(event, protocol, extensions)
        style = self.style
        head = f"{style.dim(f'{event.time * 1000:9.1f} ms')}  "
        label = f"{event.direction} {kind:<8}"
        if not meta and not inline:
            label = label.rstrip()
        bad = kind == "error" or (kind == "closed" and event.code == 1006)
        head += style.error(label) if bad else style.direction(event.direction, label)
        if meta:
            head += " " + (style.error(meta) if bad else meta)
        if inline:
            head += "  " + inline
        lines = [head, *(INDENT + line for line in block)]
        return "\n".join(lines)

    def _describe(
        self, event: TraceEvent, protocol: str, extensions: str
    ) -> tuple[str, str, list[str]]:
        """(meta, inline content, block lines) for ``event``."""
        kind = event.kind
        if kind == "stage":
            return escape(event.detail), "", []
        if kind in ("request", "response"):
            if kind == "request":
                meta = f"GET {escape(event.detail)}"
            else:
                meta = escape(f"{event.code} {event.reason}".strip())
            block: list[str] = []
            if self.verbose:
                headers = event.headers if self.show_secrets else redact_headers(event.headers)
                block = [escape(f"{name}: {value}") for name, value in headers]
            return meta, "", block
        if kind == "open":
            parts = []
            if protocol:
                parts.append(f"protocol={escape(protocol)}")
            if extensions:
                parts.append(f"extensions={escape(extensions)}")
            return "  ".join(parts), "", []
        if kind in ("text", "binary"):
            inline, block = self._content(event.data, event.size)
            return f"{event.size} B", inline, block
        if kind in ("ping", "pong"):
            inline = _payload(event.data)
            if event.detail:
                inline = f"{inline} ({event.detail})".lstrip()
            return f"{event.size} B", inline, []
        if kind in ("close", "closed"):
            meta = close_code_name(event.code)
            if event.reason:
                meta += f' "{escape(event.reason)}"'
            if kind == "close" and event.detail:
                meta += f" ({event.detail})"
            return meta, "", []
        return escape(event.detail), "", []

    def _content(self, data: str | bytes | None, size: int) -> tuple[str, list[str]]:
        """A message's content: inline when short and on one line, else as a block."""
        if data is None or len(data) == 0:
            return "", []
        if isinstance(data, bytes):
            return "", fold(hexdump(data), self.fold, size)
        pretty = pretty_json(data)
        room = self.width - len(INDENT)
        if pretty is None and "\n" not in data and len(data) <= room:
            return escape(data), []
        source = pretty if pretty is not None else data
        lines: list[str] = []
        for line in escape(source, newlines=True).split("\n"):
            lines.extend(_wrap(line, room))
        if pretty is not None and len(lines) == 1:
            return lines[0], []
        return "", fold(lines, self.fold, size)
