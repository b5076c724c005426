# docs/examples/reconnecting_gives_up.py
"""When reconnecting() stops: errors a retry cannot fix, and max_attempts, on asyncio."""

import asyncio
import socket

import wsapi
from wsapi.testing import HandshakeResponse, echo, serve


def forbidden(request):
    return HandshakeResponse(403, [("Content-Type", "text/plain")], b"no token\n")


async def main() -> None:
    # A 403 will not change on the next attempt: the error is raised at once.
    async with serve(echo, process_request=forbidden) as server:
        try:
            async with wsapi.reconnecting(server.url) as connections:
                async for _ in connections:
                    pass  # not reached
        except wsapi.InvalidStatus as exc:
            print(f"{type(exc).__name__} {exc.status}: no retry")

    # Nothing listens on this port: refused, retried, refused... up to max_attempts.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"ws://127.0.0.1:{sock.getsockname()[1]}/"
    connections = wsapi.reconnecting(url, initial_delay=0.05, max_attempts=3)
    connections.onerror = lambda event: print("attempt failed:", type(event.error).__name__)
    try:
        async with connections:
            async for _ in connections:
                pass  # not reached
    except wsapi.ConnectionRefused as exc:
        print(exc)


asyncio.run(main())
