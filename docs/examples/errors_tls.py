# docs/examples/errors_tls.py
"""wss:// to a plain ws:// server: a TLSError that names the likely slip."""

import asyncio

from wsapi import TLSError, WebSocket
from wsapi.testing import echo, serve


async def main() -> None:
    async with serve(echo) as server:  # plain ws://, no TLS
        url = server.url.replace("ws://", "wss://")
        try:
            async with WebSocket(url):
                pass  # not reached
        except TLSError as exc:
            print(exc)
            print("stage:", exc.stage)


asyncio.run(main())
