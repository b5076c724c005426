"""Following a redirect of the upgrade request: the rules, without I/O.

The WHATWG standard fails a WebSocket connection on a redirect, and so does
wsapi by default (``RedirectReceived``). ``WebSocket(url, follow_redirects=True)``
opts in; the transport then asks :func:`next_url` where to go after each 3xx
answer, and :func:`redirect_headers` what to send there:

- 301, 302, 303, 307 and 308 are followed, when they carry a ``Location``;
  other 3xx answers still fail with ``RedirectReceived``;
- ``Location`` is resolved against the URL that answered (a relative one
  included); ``http``/``https`` become ``ws``/``wss``; a fragment is dropped;
- a redirect from ``wss://`` to ``ws://`` is never followed (``InsecureRedirect``);
- a URL already requested means a loop (``RedirectLoop``), and more redirects
  than the limit are ``TooManyRedirects``;
- ``Authorization`` and ``Cookie`` (and the URL's credentials) are not sent to
  another origin (scheme, host and port), as browsers do for HTTP.

Sans-IO: standard library, :mod:`wsapi.errors` and :mod:`wsapi.protocol.url` only.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from urllib.parse import urldefrag, urljoin

from ..errors import (
    DOMException,
    InsecureRedirect,
    RedirectLoop,
    RedirectReceived,
    TooManyRedirects,
    redact_url,
)
from .url import WebSocketURL, parse_url

__all__ = [
    "DEFAULT_LIMIT",
    "FOLLOWED_STATUSES",
    "next_url",
    "redirect_headers",
    "redirect_limit",
    "resolve_location",
    "same_origin",
]

#: The redirects that are followed: the others (300, 304, 305...) say no single place to go.
FOLLOWED_STATUSES = frozenset({301, 302, 303, 307, 308})

#: How many redirects ``follow_redirects=True`` follows (browsers stop HTTP at 20).
DEFAULT_LIMIT = 10

#: The headers that carry the user's secrets: never sent to another origin.
_SECRET_HEADERS = frozenset({"authorization", "cookie"})


def redirect_limit(follow_redirects: object) -> int:
    """The most redirects to follow: ``False`` is 0, ``True`` is ``DEFAULT_LIMIT``, an int itself.

    >>> redirect_limit(False), redirect_limit(True), redirect_limit(3)
    (0, 10, 3)
    """
    if isinstance(follow_redirects, bool):
        return DEFAULT_LIMIT if follow_redirects else 0
    if isinstance(follow_redirects, int):
        if follow_redirects < 0:
            raise ValueError(
                f"follow_redirects must be True, False or the most redirects to follow "
                f"(0 or more), not {follow_redirects}"
            )
        return follow_redirects
    raise TypeError(
        "follow_redirects must be a bool or an int (the most redirects to follow), "
        f"not {type(follow_redirects).__name__}"
    )


def resolve_location(base: WebSocketURL, location: str) -> WebSocketURL:
    """``location`` resolved against ``base``, as a WebSocket URL.

    Raises ``DOMException("SyntaxError")`` when the result is not a WebSocket URL.

    >>> base = parse_url("wss://example.com/app/socket?v=1")
    >>> resolve_location(base, "../v2/socket").href
    'wss://example.com/v2/socket'
    >>> resolve_location(base, "http://other.example:8080/ws#top").href
    'ws://other.example:8080/ws'
    """
    # Resolve as the http(s) URL it maps to: the relative forms are HTTP's.
    scheme = "https" if base.secure else "http"
    http_base = scheme + base.href[base.href.index(":") :]
    target, _ = urldefrag(urljoin(http_base, location.strip()))
    return parse_url(target)


def same_origin(a: WebSocketURL, b: WebSocketURL) -> bool:
    """Whether ``a`` and ``b`` have the same origin: scheme, host and port.

    >>> same_origin(parse_url("ws://example.com/a"), parse_url("ws://example.com:80/b"))
    True
    >>> same_origin(parse_url("ws://example.com/"), parse_url("wss://example.com/"))
    False
    """
    return (a.secure, a.hostname, a.port) == (b.secure, b.hostname, b.port)


def redirect_headers(
    headers: Sequence[tuple[str, str]], current: WebSocketURL, target: WebSocketURL
) -> tuple[tuple[str, str], ...]:
    """The extra headers of the request to ``target``, after a redirect from ``current``.

    To another origin, ``Authorization`` and ``Cookie`` are dropped. Credentials
    in ``target`` itself become Basic auth, as for the URL given to ``WebSocket``.

    >>> old = parse_url("wss://example.com/")
    >>> sent = (("Authorization", "Bearer t"), ("X-Trace", "1"))
    >>> redirect_headers(sent, old, parse_url("wss://example.com/new"))
    (('Authorization', 'Bearer t'), ('X-Trace', '1'))
    >>> redirect_headers(sent, old, parse_url("wss://other.example/"))
    (('X-Trace', '1'),)
    """
    result = list(headers)
    if not same_origin(current, target):
        result = [(name, value) for name, value in result if name.lower() not in _SECRET_HEADERS]
    has_authorization = any(name.lower() == "authorization" for name, _ in result)
    if (target.username or target.password) and not has_authorization:
        token = base64.b64encode(f"{target.username}:{target.password}".encode()).decode("ascii")
        result.append(("Authorization", f"Basic {token}"))
    return tuple(result)


def next_url(
    redirect: RedirectReceived,
    history: Sequence[WebSocketURL],
    limit: int,
    *,
    unix_socket: str | None = None,
) -> WebSocketURL:
    """Where to send the upgrade request after ``redirect``; or raise why not.

    ``history`` holds the URLs requested so far, the one given to ``WebSocket``
    first and the one that answered ``redirect`` last; ``limit`` is the most
    redirects to follow. Raises ``RedirectReceived`` (an answer that cannot be
    followed), ``InsecureRedirect``, ``RedirectLoop`` or ``TooManyRedirects``.
    Over a ``unix_socket``, only redirects within the first URL's origin are
    followed: the socket leads to that server, not to another origin's.

    >>> from wsapi.response import Response
    >>> start = parse_url("ws://example.com/old")
    >>> moved = RedirectReceived(
    ...     start.href, "moved", response=Response(301, headers=(("Location", "/new"),))
    ... )
    >>> next_url(moved, [start], limit=10).href
    'ws://example.com/new'
    """
    current = history[-1]
    response = redirect.response
    assert response is not None
    answer = f"HTTP {response.status}{' ' + response.reason if response.reason else ''}"
    location = redirect.location
    if response.status not in FOLLOWED_STATUSES:
        raise RedirectReceived(
            current.href,
            f"the server answered the upgrade request with {answer}, a redirect that "
            "follow_redirects does not follow (only 301, 302, 303, 307 and 308)",
            "Connect to the URL the server means directly"
            + (f" (its Location header says {location})." if location else "."),
            response=response,
        )
    if not location:
        raise RedirectReceived(
            current.href,
            f"the server answered the upgrade request with {answer} without a Location header",
            "The server (or a proxy in front of it) must say where to go: check its redirect "
            "rules, or connect to the right URL directly.",
            response=response,
        )
    try:
        target = resolve_location(current, location)
    except DOMException as exc:
        raise RedirectReceived(
            current.href,
            f"the server redirects ({answer}) to {location!r}, which is not a WebSocket URL "
            f"({exc.message})",
            "The server's Location header must be a ws://, wss://, http:// or https:// URL, "
            "or a path: fix the redirect rule of the server (or of a proxy in front of it).",
            response=response,
        ) from exc
    if current.secure and not target.secure:
        shown = redact_url(target.href)
        raise InsecureRedirect(
            current.href,
            f"the server redirects ({answer}) from {redact_url(current.href)} to {shown}, "
            "which is not encrypted",
            "wsapi never follows a redirect from wss:// to ws://, which would carry the "
            f"connection in clear text: connect to {shown} yourself if you trust it, or have "
            "the server redirect to a wss:// URL.",
            response=response,
        )
    first = history[0]
    if unix_socket is not None and not same_origin(first, target):
        shown = redact_url(target.href)
        raise RedirectReceived(
            current.href,
            f"the server redirects ({answer}) to {shown}, another origin than the one "
            f"unix_socket={unix_socket!r} was given for "
            f"({'wss' if first.secure else 'ws'}://{first.host})",
            "A Unix socket leads to one server: wsapi follows redirects over it only within "
            f"the URL's origin. Connect to {shown} yourself, over the network or its own "
            "socket, if it is where the server means.",
            response=response,
        )
    chain = (*(url.href for url in history), target.href)
    shown_chain = " -> ".join(redact_url(href) for href in chain)
    if target.href in chain[:-1]:
        raise RedirectLoop(
            history[0].href,
            f"the redirects go round in a loop: {redact_url(current.href)} redirects back to "
            f"{redact_url(target.href)} ({shown_chain})",
            "Following more redirects cannot help: fix the redirect rules of the server (or of "
            "a proxy in front of it), or connect to the right URL directly.",
            response=response,
            history=chain,
        )
    if len(history) > limit:
        raise TooManyRedirects(
            history[0].href,
            f"the server redirected more than follow_redirects={limit} times ({shown_chain})",
            "Check the redirect rules of the server (or of a proxy in front of it) and connect "
            "to the final URL directly; if the chain is intended, pass a larger "
            "follow_redirects.",
            response=response,
            history=chain,
        )
    return target
