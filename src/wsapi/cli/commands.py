"""What a typed line means: a text message, or a ``/command`` (``/json``, ``/hex``, ``/ping``...).

The same words serve the interactive prompt, ``--commands`` on standard input
and the ``--send-*`` options, so each is checked once, here, before anything
is sent.

>>> parse_line("hello")
Outgoing(kind='text', data='hello', at=0.0)
>>> parse_line("/hex 00 01 ff")
Outgoing(kind='binary', data=b'\\x00\\x01\\xff', at=0.0)
>>> parse_line("/close 4000 done for today")
Close(code=4000, reason='done for today')
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "HELP",
    "Action",
    "Close",
    "CommandError",
    "Help",
    "Outgoing",
    "base64_bytes",
    "file_bytes",
    "file_text",
    "hex_bytes",
    "json_text",
    "parse_line",
    "xml_text",
]

HELP = """\
Type a line and press Enter to send it as a text message. Commands:
  /json JSON          send JSON text (checked first; shown pretty-printed)
  /xml XML            send XML text (checked to be well-formed)
  /hex HEX            send binary given in hex, e.g. /hex 00 01 ff
  /base64 DATA        send binary given in base64
  /file PATH          send a file's bytes as a binary message
  /textfile PATH      send a UTF-8 file as a text message
  /text TEXT          send TEXT as it is, even if it starts with /
  //TEXT              send /TEXT
  /ping [TEXT]        send a ping (the pong shows up in the timeline)
  /close [CODE [REASON]]  close the connection (default 1000) and exit
  /quit               close with 1000 and exit (Ctrl-D does the same)
  /help               show this help
Up and down arrows recall earlier lines."""


class CommandError(ValueError):
    """The line cannot be sent as it is; the message says why."""


@dataclass(frozen=True)
class Outgoing:
    """A message to send: ``kind`` is ``text``, ``binary`` or ``ping``.

    ``at`` is when to send it, in seconds after the connection opened (replay).
    """

    kind: str
    data: str | bytes
    at: float = 0.0


@dataclass(frozen=True)
class Close:
    """Close the connection with this code and reason."""

    code: int | None = 1000
    reason: str = ""


@dataclass(frozen=True)
class Help:
    """Show the commands."""


Action = Outgoing | Close | Help | None


def json_text(argument: str) -> str:
    """``argument`` if it is valid JSON (as typed, without surrounding blanks)."""
    text = argument.strip()
    try:
        json.loads(text)
    except ValueError as exc:
        raise CommandError(f"not valid JSON: {exc}") from None
    return text


def xml_text(argument: str) -> str:
    """``argument`` if it is a well-formed XML document."""
    text = argument.strip()
    try:
        ElementTree.fromstring(text)
    except ElementTree.ParseError as exc:
        raise CommandError(f"not well-formed XML: {exc}") from None
    return text


_HEX_SEPARATORS = re.compile(r"[\s:,]+|0x", re.IGNORECASE)


def hex_bytes(argument: str) -> bytes:
    """Bytes written in hex; blanks, colons and ``0x`` prefixes are allowed."""
    digits = _HEX_SEPARATORS.sub("", argument)
    try:
        return bytes.fromhex(digits)
    except ValueError:
        raise CommandError(f"not hex bytes: {argument.strip()!r}") from None


def base64_bytes(argument: str) -> bytes:
    """Bytes written in base64 (standard or URL-safe alphabet)."""
    text = "".join(argument.split())
    try:
        return base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise CommandError(f"not base64: {argument.strip()!r}") from None


def file_bytes(path: str) -> bytes:
    """The bytes of the file at ``path``."""
    try:
        return Path(path.strip()).expanduser().read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read {path.strip()}: {exc.strerror or exc}") from None


def file_text(path: str) -> str:
    """The text of the UTF-8 file at ``path``."""
    try:
        return file_bytes(path).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CommandError(
            f"{path.strip()} is not UTF-8 text ({exc}): send it with /file"
        ) from None


def _ping(argument: str) -> Outgoing:
    payload = argument.encode("utf-8")
    if len(payload) > 125:
        raise CommandError(f"a ping carries at most 125 bytes, not {len(payload)}")
    return Outgoing("ping", payload)


def _close(argument: str) -> Close:
    code_text, _, reason = argument.strip().partition(" ")
    if not code_text:
        return Close(1000, "")
    try:
        code = int(code_text)
    except ValueError:
        raise CommandError(f"the close code must be a number, not {code_text!r}") from None
    if code != 1000 and not 3000 <= code <= 4999:
        raise CommandError(f"the close code must be 1000 or 3000-4999, not {code}")
    reason = reason.strip()
    if len(reason.encode("utf-8")) > 123:
        raise CommandError("the close reason must fit in 123 bytes of UTF-8")
    return Close(code, reason)


_COMMANDS: dict[str, Callable[[str], Action]] = {
    "json": lambda argument: Outgoing("text", json_text(argument)),
    "xml": lambda argument: Outgoing("text", xml_text(argument)),
    "hex": lambda argument: Outgoing("binary", hex_bytes(argument)),
    "base64": lambda argument: Outgoing("binary", base64_bytes(argument)),
    "file": lambda argument: Outgoing("binary", file_bytes(argument)),
    "textfile": lambda argument: Outgoing("text", file_text(argument)),
    "text": lambda argument: Outgoing("text", argument),
    "ping": _ping,
    "close": _close,
    "quit": lambda argument: Close(1000, ""),
    "exit": lambda argument: Close(1000, ""),
    "help": lambda argument: Help(),
}


def parse_line(line: str) -> Action:
    """The action for a typed line; raises ``CommandError`` when it cannot be done."""
    if not line.startswith("/"):
        return Outgoing("text", line)
    if line.startswith("//"):
        return Outgoing("text", line[1:])
    name, _, argument = line[1:].partition(" ")
    command = _COMMANDS.get(name.lower())
    if command is None:
        raise CommandError(
            f"unknown command /{name} (/help lists them; /text or // sends a line that "
            "starts with /)"
        )
    if not argument.strip() and name.lower() in (
        "json",
        "xml",
        "hex",
        "base64",
        "file",
        "textfile",
    ):
        raise CommandError(f"/{name.lower()} needs an argument (/help lists the commands)")
    return command(argument)
