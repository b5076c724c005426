"""The opening handshake: the HTTP Upgrade request and the checks on its answer.

wsproto's own handshake drops the headers it consumed and reports every fault
as one ``RemoteProtocolError``; wsapi speaks HTTP through h11 directly so that
it keeps the whole response for the error and names each fault precisely.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import h11

from ..errors import (
    InvalidAccept,
    InvalidUpgrade,
    NotHTTP,
    TLSRequired,
    UnexpectedExtension,
    UnexpectedSubprotocol,
    redact_url,
)
from ..response import Response
from .extensions import DEFLATE_OFFER, BoundedDeflate, parse_deflate_response
from .status import PROXY_CONFIG

__all__ = [
    "HandshakeRequest",
    "accept_key",
    "as_response",
    "build_request",
    "check_accept",
    "generate_key",
    "not_http_error",
    "request_fields",
    "with_scheme",
]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_FORBIDDEN_HEADERS = frozenset(
    {
        "host",
        "upgrade",
        "connection",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-protocol",
        "sec-websocket-extensions",
    }
)


def generate_key() -> bytes:
    """A fresh random ``Sec-WebSocket-Key`` (16 random bytes, base64)."""
    return base64.b64encode(os.urandom(16))


def accept_key(key: bytes) -> str:
    """The ``Sec-WebSocket-Accept`` value a server must answer to ``key``.

    >>> accept_key(b"dGhlIHNhbXBsZSBub25jZQ==")  # RFC 6455 section 1.3
    's3pPLMBiTxaQ9kYGzzhZRbK+xOo='
    """
    return base64.b64encode(hashlib.sha1(key + _GUID).digest()).decode("ascii")


@dataclass(frozen=True)
class HandshakeRequest:
    """What goes into the upgrade request."""

    url: str  # for error messages
    host: str  # the Host header value
    resource: str  # path and query
    subprotocols: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    origin: str | None = None
    user_agent: str | None = None
    compression: bool = True
    key: bytes = field(default_factory=generate_key)


def build_request(request: HandshakeRequest) -> h11.Request:
    """The h11 request for the upgrade; user headers may not replace the protocol's own."""
    return h11.Request(method="GET", target=request.resource, headers=request_fields(request))


def request_fields(request: HandshakeRequest) -> list[tuple[str, str]]:
    """The upgrade request's headers, in order (``Host`` first).

    Raises ``ValueError`` for a user header that would replace the protocol's own
    or is not ASCII; h11 (or ``http.write_request_head``) checks the rest.
    """
    headers: list[tuple[str, str]] = [
        ("Host", request.host),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", request.key.decode("ascii")),
        ("Sec-WebSocket-Version", "13"),
    ]
    if request.subprotocols:
        headers.append(("Sec-WebSocket-Protocol", ", ".join(request.subprotocols)))
    if request.compression:
        headers.append(("Sec-WebSocket-Extensions", DEFLATE_OFFER))
    if request.origin is not None:
        headers.append(("Origin", request.origin))
    names = {name.lower() for name, _ in request.headers}
    if request.user_agent is not None and "user-agent" not in names:
        headers.append(("User-Agent", request.user_agent))
    for name, value in request.headers:
        if name.lower() in _FORBIDDEN_HEADERS:
            raise ValueError(f"the {name!r} header is set by wsapi and cannot be given")
        if not (name.isascii() and value.isascii()):
            raise ValueError(
                f"header {name!r} is not ASCII: HTTP headers carry bytes; encode the value "
                "first (for example with urllib.parse.quote)"
            )
        headers.append((name, value))
    return headers


def _tokens(value: str | None) -> list[str]:
    if value is None:
        return []
    return [token.strip() for token in value.split(",") if token.strip()]


def check_accept(
    request: HandshakeRequest, response: Response, max_message_size: int | None
) -> tuple[str, list[BoundedDeflate]]:
    """Validate a 101 answer; return the subprotocol ("" if none) and the extensions.

    Raises an ``InvalidHandshake`` subclass naming the header at fault and its value:
    ``InvalidUpgrade``, ``InvalidAccept``, ``UnexpectedSubprotocol`` or
    ``UnexpectedExtension``.
    """
    url = request.url
    upgrade = response.header("Upgrade")
    if upgrade is None or upgrade.strip().lower() != "websocket":
        got = "no Upgrade header" if upgrade is None else f"'Upgrade: {upgrade}'"
        raise InvalidUpgrade(
            url,
            f"the server answered 101 with {got} instead of 'Upgrade: websocket'",
            "A proxy in front of the server may be dropping the Upgrade header; it must "
            f"forward 'Upgrade' and 'Connection' (for nginx: {PROXY_CONFIG}).",
            response=response,
        )
    if "upgrade" not in (token.lower() for token in _tokens(response.header("Connection"))):
        connection = response.header("Connection")
        shown = "no Connection header" if connection is None else f"'Connection: {connection}'"
        raise InvalidUpgrade(
            url,
            f"the server answered 101 with {shown} instead of 'Connection: Upgrade'",
            "A proxy in front of the server may be rewriting the Connection header; it must "
            f"forward 'Upgrade' and 'Connection' (for nginx: {PROXY_CONFIG}).",
            response=response,
        )
    expected = accept_key(request.key)
    got_accept = response.header("Sec-WebSocket-Accept")
    if got_accept != expected:
        shown = "no Sec-WebSocket-Accept header" if got_accept is None else repr(got_accept)
        raise InvalidAccept(
            url,
            f"the server's Sec-WebSocket-Accept is wrong: expected {expected!r}, got {shown}",
            "The server (or a proxy, or a cache that replayed an old answer) does not "
            "implement RFC 6455 correctly: the accept value must be computed from this "
            "request's Sec-WebSocket-Key.",
            response=response,
        )

    subprotocol = ""
    chosen = tuple(_tokens(response.header("Sec-WebSocket-Protocol")))
    offered = ", ".join(request.subprotocols) or "none"
    if len(chosen) > 1:
        raise UnexpectedSubprotocol(
            url,
            f"the server chose several subprotocols ({', '.join(chosen)}); it may choose one "
            f"(offered: {offered})",
            "The server must select one of the offered subprotocols.",
            response=response,
            offered=request.subprotocols,
            chosen=chosen,
        )
    if chosen:
        subprotocol = chosen[0]
        if subprotocol not in request.subprotocols:
            fix = (
                f"Pass the subprotocol the server expects in `protocols`, e.g. "
                f"WebSocket(url, [{subprotocol!r}]), if your code speaks it."
            )
            raise UnexpectedSubprotocol(
                url,
                f"the server chose subprotocol {subprotocol!r}, which was not offered "
                f"(offered: {offered})",
                fix,
                response=response,
                offered=request.subprotocols,
                chosen=chosen,
            )

    extensions: list[BoundedDeflate] = []
    for value in _tokens(response.header("Sec-WebSocket-Extensions")):
        name = value.split(";", 1)[0].strip()
        if not request.compression or name.lower() != "permessage-deflate":
            offered_ext = "permessage-deflate" if request.compression else "none"
            raise UnexpectedExtension(
                url,
                f"the server accepted extension {name!r}, which was not offered "
                f"(offered: {offered_ext})",
                "The server must only accept extensions the client offers.",
                response=response,
                extension=name,
            )
        if extensions:
            raise UnexpectedExtension(
                url,
                "the server accepted permessage-deflate twice",
                "The server must accept an extension at most once; connect with "
                "compression=None to work around this server.",
                response=response,
                extension=name,
            )
        try:
            extensions.append(parse_deflate_response(value, max_message_size))
        except ValueError as exc:
            raise UnexpectedExtension(
                url,
                f"the server's permessage-deflate parameters are invalid ({exc}): {value!r}",
                "Connect with compression=None to work around this server.",
                response=response,
                extension=name,
            ) from exc
    return subprotocol, extensions


def with_scheme(url: str, scheme: str) -> str:
    """``url`` (credentials removed) with another scheme and the same port.

    >>> with_scheme("wss://user:pw@example.com/chat?room=1", "ws")
    'ws://example.com:443/chat?room=1'
    >>> with_scheme("ws://[::1]:8080/", "wss")
    'wss://[::1]:8080/'
    """
    parts = urlsplit(redact_url(url))
    netloc = parts.netloc
    try:
        explicit = parts.port is not None
    except ValueError:
        explicit = True
    if not explicit:
        netloc += ":443" if parts.scheme in ("wss", "https") else ":80"
    return urlunsplit((scheme, netloc, parts.path, parts.query, parts.fragment))


def not_http_error(url: str, head: bytes, detail: object) -> NotHTTP:
    """The error for an answer that is not HTTP; ``head`` is its first bytes.

    A TLS record (an alert or a ServerHello) means the port speaks TLS:
    ``TLSRequired``, whose fix is ``wss://``.

    >>> not_http_error("ws://example.com/chat", b"\\x15\\x03\\x01\\x00\\x02\\x02\\x46", "").fix
    'The port speaks TLS: use a wss:// URL (wss://example.com:80/chat).'
    """
    # A TLS record starts with its type: 0x15 (an alert) or 0x16 (a handshake).
    # The first byte is enough: an answer may arrive one byte at a time.
    if head[:1] in (b"\x15", b"\x16"):
        return TLSRequired(
            url,
            "the server answered with TLS, not HTTP",
            f"The port speaks TLS: use a wss:// URL ({with_scheme(url, 'wss')}).",
        )
    return NotHTTP(
        url,
        f"the server's answer is not valid HTTP ({detail}); it began with {head[:40]!r}",
        "Check that the URL points at a WebSocket (HTTP) server.",
    )


def as_response(
    event: h11.Response | h11.InformationalResponse, body: bytes = b"", truncated: bool = False
) -> Response:
    """A ``Response`` record from h11's event (header names as the server spelled them)."""
    headers = tuple(
        (raw_name.decode("latin-1"), value.decode("latin-1"))
        for raw_name, value in event.headers.raw_items()
    )
    return Response(
        status=event.status_code,
        reason=event.reason.decode("latin-1"),
        headers=headers,
        body=body,
        http_version=event.http_version.decode("ascii"),
        truncated=truncated,
    )
