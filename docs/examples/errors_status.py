# docs/examples/errors_status.py
"""A server that refuses the upgrade: InvalidStatus keeps its answer."""

import asyncio

from wsapi import InvalidStatus, WebSocket
from wsapi.testing import HandshakeResponse, echo, serve


def check_token(request):
    # Refuse every client without a token (return None to accept).
    if request.header("Authorization") is None:
        headers = [("Content-Type", "text/plain")]
        return HandshakeResponse(403, headers, b"Forbidden: no token\n")
    return None


async def main() -> None:
    async with serve(echo, process_request=check_token) as server:
        try:
            async with WebSocket(server.url):
                pass  # not reached
        except InvalidStatus as exc:
            print(exc)
            print("stage:", exc.stage)
            print("status:", exc.status)
            print("content-type:", exc.response.header("content-type"))
            print("body:", exc.response.text.strip())

        token = {"Authorization": "Bearer 1234"}
        async with WebSocket(server.url, headers=token) as ws:
            print("with a token, readyState is", ws.readyState)


asyncio.run(main())
