# docs/examples/errors_refused.py
"""A connection that cannot be established: the error says why, and what to do."""

import asyncio
import socket

from wsapi import ConnectionFailed, ConnectionRefused, WebSocket


async def main() -> None:
    # A loopback port that is reserved (bound) but where nothing listens.
    with socket.socket() as reserved:
        reserved.bind(("127.0.0.1", 0))
        port = reserved.getsockname()[1]

        ws = WebSocket(f"ws://127.0.0.1:{port}/")
        ws.onerror = lambda event: print("error event, then...")
        ws.onclose = lambda event: print("close event:", event.code, event.wasClean)
        try:
            async with ws:
                pass  # not reached
        except ConnectionFailed as exc:
            print(type(exc).__name__, "at stage", repr(exc.stage))
            print(exc)
            assert isinstance(exc, ConnectionRefused)


asyncio.run(main())
