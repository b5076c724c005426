"""A fast path for the opening handshake's HTTP: the request head and a plain 101.

Every open writes one upgrade request and reads one ``101 Switching Protocols``
answer. h11 does both in full generality (a state machine, header
normalization, an event object per step), which costs a noticeable share of an
open+close. This module does only the common, plain case and says so by
returning ``None`` for anything else: the caller then goes through h11 exactly
as before, so h11 keeps deciding every error and every edge case.

"Plain" is defined with h11's own grammar (``h11._abnf``, copied below because
that module is private; ``tests/protocol/test_http_fastpath.py`` checks that
the copies still agree with the installed h11), minus whatever h11 treats
specially: framing headers, HTTP versions other than 1.1, obsolete line
folding, bare LF line endings.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..response import Response

__all__ = ["parse_switching_protocols", "write_request_head"]

# -- h11's grammar (h11/_abnf.py) ---------------------------------------------------

#: ``token`` (RFC 7230 3.2.6): header names and the method.
TOKEN = r"[-!#$%&'*+.^_`|~0-9a-zA-Z]+"
#: A visible character or obs-text; h11 also lets control characters through,
#: but not NUL and not whitespace.
FIELD_VCHAR = r"[^\x00\s]"
FIELD_CONTENT = rf"{FIELD_VCHAR}+(?:[ \t]+{FIELD_VCHAR}+)*"
#: A header value without its surrounding whitespace (possibly empty).
FIELD_VALUE = rf"(?:{FIELD_CONTENT})?"
#: ``request-target``: any run of visible ASCII characters.
REQUEST_TARGET = r"[\x21-\x7e]+"
#: ``reason-phrase`` of a status line.
REASON_PHRASE = rf"(?:[ \t]|{FIELD_VCHAR})*"

# The request side works on str: re.ASCII makes \s mean [ \t\n\r\f\v] as in
# h11's bytes patterns (without it, str's \s also matches \x1c-\x1f). Only ASCII
# strings reach these patterns (see write_request_head).
_TOKEN_STR = re.compile(TOKEN, re.ASCII)
_VALUE_STR = re.compile(FIELD_VALUE, re.ASCII)
_TARGET_STR = re.compile(REQUEST_TARGET, re.ASCII)

# The response side works on the bytes received, as h11 does.
_STATUS_101 = re.compile(rf"HTTP/1\.1 101(?: (?P<reason>{REASON_PHRASE}))?".encode("ascii"))
_HEADER_LINE = re.compile(rf"(?P<name>{TOKEN}):[ \t]*(?P<value>{FIELD_VALUE})[ \t]*".encode())

# Headers h11 rewrites or rejects by their meaning (body framing, Host rules):
# a head carrying one of them is left to h11.
_SPECIAL_NAMES = frozenset({"host", "content-length", "transfer-encoding"})
_FRAMING_NAMES = frozenset({b"content-length", b"transfer-encoding"})


def write_request_head(target: str, headers: Sequence[tuple[str, str]]) -> bytes | None:
    """The head of ``GET target HTTP/1.1`` as h11 would write it, or None.

    ``headers`` must start with ``Host`` (as wsapi's request always does): h11
    writes the Host header first, so the order is then kept as given. None means
    "not plain, let h11 do it": a non-ASCII or non-str value, a name that is not
    a token, a value h11 would refuse, a second Host header, a framing header.

    >>> write_request_head("/", [("Host", "example.com"), ("Upgrade", "websocket")])
    b'GET / HTTP/1.1\\r\\nHost: example.com\\r\\nUpgrade: websocket\\r\\n\\r\\n'
    >>> write_request_head("/", [("Host", "example.com"), ("X-Bad", "a\\r\\nb")]) is None
    True
    """
    if type(target) is not str or not target.isascii() or not _TARGET_STR.fullmatch(target):
        return None
    if not headers or type(headers[0][0]) is not str or headers[0][0].lower() != "host":
        return None
    parts = [f"GET {target} HTTP/1.1\r\n"]
    for index, (name, value) in enumerate(headers):
        if not _plain_field(name, value) or (index and name.lower() in _SPECIAL_NAMES):
            return None
        parts.append(f"{name}: {value}\r\n")
    parts.append("\r\n")
    return "".join(parts).encode("ascii")


def _plain_field(name: str, value: str) -> bool:
    """``name: value`` is a header h11 would accept and write unchanged."""
    return (
        type(name) is str
        and type(value) is str
        and name.isascii()
        and value.isascii()
        and _TOKEN_STR.fullmatch(name) is not None
        and _VALUE_STR.fullmatch(value) is not None
    )


def parse_switching_protocols(head: bytes | bytearray) -> Response | None:
    """The ``Response`` for a plain ``HTTP/1.1 101`` head, or None.

    ``head`` is the status line and header lines, each ended by CRLF except the
    last (the blank line excluded). The record is the one ``as_response`` makes
    from h11's event: names as the server spelled them, values without the
    whitespace around them, the reason as sent. None for anything else (another
    status or version, a folded or malformed line, a framing header): h11 then
    parses it, or reports the error, as before.

    >>> parse_switching_protocols(b"HTTP/1.1 101 Switching Protocols\\r\\nUpgrade:  websocket ")
    Response(status=101, reason='Switching Protocols', headers=(('Upgrade', 'websocket'),), \
body=b'', http_version='1.1', truncated=False)
    >>> parse_switching_protocols(b"HTTP/1.1 200 OK\\r\\nContent-Length: 0") is None
    True
    """
    lines = head.split(b"\r\n")
    status = _STATUS_101.fullmatch(lines[0])
    if status is None:
        return None
    headers = []
    for line in lines[1:]:
        # A continuation line (obs-fold) starts with whitespace and fails here too.
        field = _HEADER_LINE.fullmatch(line)
        if field is None:
            return None
        name, value = field.group("name", "value")
        if name.lower() in _FRAMING_NAMES:
            return None
        headers.append((name.decode("latin-1"), value.decode("latin-1")))
    reason = status.group("reason") or b""
    return Response(
        status=101, reason=reason.decode("latin-1"), headers=tuple(headers), http_version="1.1"
    )
