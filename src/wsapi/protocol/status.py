"""Why a server answers an upgrade request with a status other than 101, and what to do.

One table, read by ``InvalidStatus`` messages (and later by ``wsapi doctor``).
"""

from __future__ import annotations

from ..response import Response

__all__ = ["explain_status"]

_PROXY_FIX = (
    "A reverse proxy in front of the server is probably not forwarding the upgrade: it must "
    "speak HTTP/1.1 to the backend and pass the Upgrade and Connection headers (for nginx: "
    "proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; "
    'proxy_set_header Connection "upgrade").'
)

_FIXES: dict[int, str] = {
    400: _PROXY_FIX,
    426: _PROXY_FIX,
    401: "The server wants credentials: pass them with headers={'Authorization': ...} "
    "(or a cookie or token in the URL, as the API documents).",
    403: "The server refused this client: check the credentials and the Origin header "
    "(origin=...); many servers only accept the origins they know.",
    404: "No WebSocket endpoint at this path: check the URL's path.",
    405: "The server does not accept GET at this path: check the URL's path.",
    429: "The server is rate-limiting: wait (see its Retry-After header) and try again.",
    500: "The server failed while handling the upgrade: see the server's logs.",
    502: "A proxy could not reach the WebSocket server behind it: check that the backend is up.",
    503: "The server is unavailable for now: try again later.",
    504: "A proxy timed out waiting for the WebSocket server behind it: check the backend.",
}


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
    excerpt = response.body_excerpt()
    if excerpt:
        cause += f" (body: {excerpt!r})"
    if 300 <= status < 400:
        location = response.header("Location")
        where = f" to {location}" if location else ""
        fix = (
            f"The server redirects{where}: connect to the new URL "
            "(WebSocket clients do not follow redirects)."
        )
    elif status in _FIXES:
        fix = _FIXES[status]
    elif 400 <= status < 500:
        fix = "The server rejected the request: check the URL, headers and credentials."
    elif status >= 500:
        fix = "The server failed: see the server's logs."
    else:
        fix = "The server must answer 101 Switching Protocols to accept a WebSocket."
    return cause, fix
