# docs/examples/errors_timeout.py
"""A server that never answers the upgrade: OpenTimeout says which stage ran out of time."""

import asyncio

from wsapi import OpenTimeout, WebSocket
from wsapi.testing import echo, serve


async def never_answer(request):
    await asyncio.sleep(5)  # longer than the client's open_timeout


async def main() -> None:
    async with serve(echo, process_request=never_answer) as server:
        try:
            async with WebSocket(server.url, open_timeout=2):
                pass  # not reached
        except OpenTimeout as exc:
            print(exc)
            print("stage:", exc.stage)


asyncio.run(main())
