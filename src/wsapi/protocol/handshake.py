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

import h11

from ..errors import InvalidHandshake
from ..response import Response
from .extensions import DEFLATE_OFFER, BoundedDeflate, parse_deflate_response

__all__ = [
    "HandshakeRequest",
    "accept_key",
    "as_response",
    "build_request",
    "check_accept",
    "generate_key",
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
    return h11.Request(method="GET", target=request.resource, headers=headers)


def _tokens(value: str | None) -> list[str]:
    if value is None:
        return []
    return [token.strip() for token in value.split(",") if token.strip()]


def check_accept(
    request: HandshakeRequest, response: Response, max_message_size: int | None
) -> tuple[str, list[BoundedDeflate]]:
    """Validate a 101 answer; return the subprotocol ("" if none) and the extensions.

    Raises ``InvalidHandshake`` naming the header at fault and its value.
    """

    def fail(cause: str, fix: str) -> InvalidHandshake:
        return InvalidHandshake(request.url, cause, fix, response=response)

    upgrade = response.header("Upgrade")
    if upgrade is None or upgrade.strip().lower() != "websocket":
        got = "no Upgrade header" if upgrade is None else f"'Upgrade: {upgrade}'"
        return_fix = (
            "A proxy in front of the server may be dropping the Upgrade header; "
            "it must forward 'Upgrade' and 'Connection' (for nginx: proxy_http_version 1.1; "
            'proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection "upgrade").'
        )
        raise fail(
            f"the server answered 101 with {got} instead of 'Upgrade: websocket'", return_fix
        )
    if "upgrade" not in (token.lower() for token in _tokens(response.header("Connection"))):
        connection = response.header("Connection")
        shown = "no Connection header" if connection is None else f"'Connection: {connection}'"
        raise fail(
            f"the server answered 101 with {shown} instead of 'Connection: Upgrade'",
            "A proxy in front of the server may be rewriting the Connection header.",
        )
    expected = accept_key(request.key)
    got_accept = response.header("Sec-WebSocket-Accept")
    if got_accept != expected:
        shown = "no Sec-WebSocket-Accept header" if got_accept is None else repr(got_accept)
        raise fail(
            f"the server's Sec-WebSocket-Accept is wrong: expected {expected!r}, got {shown}",
            "The server (or a proxy) does not implement RFC 6455 correctly.",
        )

    subprotocol = ""
    chosen = _tokens(response.header("Sec-WebSocket-Protocol"))
    if len(chosen) > 1:
        raise fail(
            f"the server chose several subprotocols ({', '.join(chosen)}); it may choose one",
            "The server must select one of the offered subprotocols.",
        )
    if chosen:
        subprotocol = chosen[0]
        if subprotocol not in request.subprotocols:
            offered = ", ".join(request.subprotocols) or "none"
            raise fail(
                f"the server chose subprotocol {subprotocol!r}, which was not offered "
                f"(offered: {offered})",
                "Pass the subprotocol the server expects in `protocols`.",
            )

    extensions: list[BoundedDeflate] = []
    for value in _tokens(response.header("Sec-WebSocket-Extensions")):
        name = value.split(";", 1)[0].strip()
        if not request.compression or name.lower() != "permessage-deflate":
            raise fail(
                f"the server accepted extension {name!r}, which was not offered",
                "The server must only accept extensions the client offers.",
            )
        if extensions:
            raise fail(
                "the server accepted permessage-deflate twice",
                "The server must accept an extension at most once.",
            )
        try:
            extensions.append(parse_deflate_response(value, max_message_size))
        except ValueError as exc:
            raise fail(
                f"the server's permessage-deflate parameters are invalid ({exc}): {value!r}",
                "Connect with compression=None to work around this server.",
            ) from exc
    return subprotocol, extensions


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
