"""Why a server answers an upgrade request with a status other than 101, and what to do.

One table, read by ``InvalidStatus`` messages and by ``wsapi doctor``. The fix
uses the evidence in the answer where it helps: the ``Location`` of a redirect,
the ``WWW-Authenticate`` challenge of a 401, the ``Server`` that answered (often
the reverse proxy in front of the WebSocket server), an HTTP/1.0 status line.
"""

from __future__ import annotations

import re

from ..response import Response

__all__ = ["PROXY_CONFIG", "body_excerpt", "explain_status"]

#: The nginx lines that forward a WebSocket upgrade to the backend.
PROXY_CONFIG = (
    "proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; "
    'proxy_set_header Connection "upgrade";'
)

_PROXY_FIX = (
    "A reverse proxy in front of the server is probably not forwarding the upgrade: it must "
    "speak HTTP/1.1 to the backend and pass the Upgrade and Connection headers, which are "
    "hop-by-hop and dropped unless set explicitly (for nginx, in the location block: "
    f"{PROXY_CONFIG})."
)

_HTTP10_FIX = (
    "The server does not accept the request's HTTP version, and a WebSocket upgrade needs "
    "HTTP/1.1 end to end: a reverse proxy in front of it probably speaks HTTP/1.0 to its "
    "backend (nginx does by default). Make it speak HTTP/1.1 and forward the Upgrade and "
    f"Connection headers (for nginx, in the location block: {PROXY_CONFIG})."
)

_FIXES: dict[int, str] = {
    400: _PROXY_FIX,
    426: _PROXY_FIX,
    401: "The server wants credentials: pass them with headers={'Authorization': ...} "
    "(or a cookie or token in the URL, as the API documents).",
    403: "The server refused this client: check the credentials (headers={'Authorization': "
    "...}) and the Origin header: wsapi sends none unless you pass origin=..., and many "
    "servers only accept the origins they know.",
    404: "No WebSocket endpoint at this path: check the URL's path.",
    405: "The server does not accept GET at this path: check the URL's path.",
    429: "The server is rate-limiting: wait (see its Retry-After header) and try again.",
    500: "The server failed while handling the upgrade: see the server's logs.",
    502: "A proxy could not reach the WebSocket server behind it: check that the backend is up "
    "and listening where the proxy sends the requests (for nginx: proxy_pass).",
    503: "The server is unavailable for now: try again later.",
    504: "A proxy timed out waiting for the WebSocket server behind it: check the backend "
    "(and the proxy's timeouts, for nginx: proxy_connect_timeout, proxy_read_timeout).",
    505: _HTTP10_FIX,
}

_PLAIN_TO_TLS = "plain http request was sent to https port"


def explain_status(response: Response) -> tuple[str, str]:
    """The cause and the fix for a refused upgrade.

    >>> explain_status(Response(404, "Not Found"))[0]
    'the server answered the upgrade request with HTTP 404 Not Found instead of 101'
    """
    status = response.status
    cause = (
        f"the server answered the upgrade request with HTTP {status}"
        f"{' ' + response.reason if response.reason else ''} instead of 101"
    )
    if response.http_version == "1.0":
        cause += " in HTTP/1.0, which cannot upgrade"
    excerpt = body_excerpt(response)
    if excerpt:
        cause += f" (body: {excerpt!r})"
    return cause, _fix(response, excerpt)


def _fix(response: Response, excerpt: str) -> str:
    status = response.status
    server = _server(response)
    if 300 <= status < 400:
        location = response.header("Location")
        where = f" to {location}" if location else ""
        fix = (
            f"The server redirects{where}: connect to the new URL "
            "(WebSocket clients do not follow redirects unless asked: "
            "follow_redirects=True)."
        )
        scheme, _, rest = (location or "").partition("://")
        if scheme.lower() in ("http", "https") and rest:
            fix += f" As a WebSocket URL it reads {_ws_scheme(scheme)}://{rest}."
        return fix
    if status == 400 and _PLAIN_TO_TLS in excerpt.lower():
        return "The server says this port speaks TLS: use wss:// instead of ws://."
    if status in _FIXES:
        fix = _FIXES[status]
        if status in (400, 426, 505) and server:
            fix += f" The answer came from {server}."
    elif 400 <= status < 500:
        fix = "The server rejected the request: check the URL, headers and credentials."
    elif status >= 500:
        fix = "The server failed: see the server's logs."
    else:
        fix = "The server must answer 101 Switching Protocols to accept a WebSocket."
    if status == 401:
        challenge = response.header("WWW-Authenticate")
        if challenge:
            fix += f" It asks for: WWW-Authenticate: {_short(challenge)}."
    elif status == 404 and _is_proxy(server):
        fix += (
            f" The answer came from {server}, usually a reverse proxy: check that one of its "
            "locations matches this path and forwards it to the WebSocket server."
        )
    elif status == 502 and server:
        fix += f" The proxy is {server}."
    elif response.http_version == "1.0" and status != 505:
        fix += (
            " The answer is HTTP/1.0: if a proxy sits in front of the server, make it speak "
            "HTTP/1.1 (for nginx: proxy_http_version 1.1)."
        )
    return fix


#: ``Server`` headers of the usual reverse proxies and load balancers.
_PROXIES = (
    "nginx",
    "openresty",
    "apache",
    "caddy",
    "envoy",
    "haproxy",
    "traefik",
    "cloudflare",
    "awselb",
    "google frontend",
    "microsoft-iis",
    "varnish",
)


def _is_proxy(server: str) -> bool:
    lowered = server.lower()
    return any(name in lowered for name in _PROXIES)


def _ws_scheme(scheme: str) -> str:
    return "wss" if scheme.lower() == "https" else "ws"


def _server(response: Response) -> str:
    server = response.header("Server")
    return _short(server) if server else ""


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


_DROP_BLOCKS = re.compile(r"<(head|script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")


def body_excerpt(response: Response, limit: int = 200) -> str:
    """A one-line excerpt of the body for messages; an HTML page is reduced to its text.

    >>> page = b"<html><head><title>502</title></head><body><h1>502 Bad Gateway</h1></body>"
    >>> body_excerpt(Response(502, "Bad Gateway", (("Content-Type", "text/html"),), page))
    '502 Bad Gateway'
    """
    kind = (response.header("Content-Type") or "").lower()
    text = response.text
    if "html" in kind or text.lstrip()[:1] == "<":
        text = _TAG.sub(" ", _DROP_BLOCKS.sub(" ", text))
        text = " ".join(text.split())
        if len(text) > limit:
            text = text[: limit - 1] + "…"
        return text
    return response.body_excerpt(limit)
