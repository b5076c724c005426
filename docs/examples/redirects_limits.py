# docs/examples/redirects_limits.py
"""Redirects that go nowhere: a loop, and a chain longer than the limit, on trio."""

import trio

from wsapi import RedirectLoop, TooManyRedirects, WebSocket
from wsapi.testing import HandshakeResponse, echo, serve


def rules(request):
    if request.path == "/a":  # /a -> /b -> /a -> ...
        return HandshakeResponse(302, [("Location", "/b")])
    if request.path == "/b":
        return HandshakeResponse(302, [("Location", "/a")])
    if request.path.startswith("/step/"):  # /step/1 -> /step/2 -> /step/3 -> ...
        step = int(request.path.removeprefix("/step/"))
        return HandshakeResponse(307, [("Location", f"/step/{step + 1}")])
    return None


async def main() -> None:
    async with serve(echo, process_request=rules) as server:
        try:
            async with WebSocket(server.url + "a", follow_redirects=True):
                pass  # not reached
        except RedirectLoop as exc:  # caught at once, not after 10 redirects
            print(type(exc).__name__, exc.history)

        try:
            async with WebSocket(server.url + "step/1", follow_redirects=2):
                pass  # not reached
        except TooManyRedirects as exc:
            print(type(exc).__name__, exc.status, exc.location)
            print(exc)


trio.run(main)
