# docs/examples/options_headers.py
"""What some constructor options put in the upgrade request."""

import asyncio

from wsapi import WebSocket
from wsapi.testing import echo, serve


def show_request(request):
    for name in ("Authorization", "Origin", "User-Agent", "Sec-WebSocket-Extensions"):
        print(f"{name}: {request.header(name)}")
    return None  # accept the upgrade


async def main() -> None:
    async with serve(echo, process_request=show_request) as server:
        ws = WebSocket(
            server.url,
            headers={"Authorization": "Bearer 1234"},
            origin="https://app.example",
            user_agent="my-app/1.0",
            compression=None,  # do not offer permessage-deflate
        )
        async with ws:
            print("extensions:", repr(ws.extensions))


asyncio.run(main())
