# docs/examples/redirects.py
"""follow_redirects: a WebSocket endpoint that moved, on asyncio."""

import asyncio

from wsapi import RedirectReceived, WebSocket
from wsapi.testing import HandshakeResponse, echo, serve


def moved(request):
    # The old path answers 301 with a relative Location; the new one accepts.
    if request.path == "/chat":
        return HandshakeResponse(301, [("Location", "/v2/chat")])
    return None


async def main() -> None:
    async with serve(echo, process_request=moved) as server:
        url = server.url + "chat"

        # By default, as in browsers, a redirect fails the connection.
        try:
            async with WebSocket(url):
                pass  # not reached
        except RedirectReceived as exc:
            print(f"{type(exc).__name__}: {exc.status} to {exc.location}")

        # follow_redirects=True follows up to 10 of them.
        async with WebSocket(url, follow_redirects=True) as ws:
            print("url:      ", ws.url)  # what was asked for, as the standard says
            print("final_url:", ws.final_url)  # where the connection went
            ws.send("Hello!")
            print("received: ", await ws.recv())


asyncio.run(main())
