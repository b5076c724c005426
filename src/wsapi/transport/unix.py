"""Connecting to a server on a Unix domain socket: ``WebSocket(url, unix_socket=PATH)``.

The socket replaces DNS and TCP; the URL still gives the Host header, the
path and, for ``wss://``, the TLS server name. A failure is typed as for TCP:
nothing listening (no socket file, or nobody accepting on it) is a
``ConnectionRefused``, anything else a ``NetworkError``; the stage is ``tcp``.
"""

from __future__ import annotations

import time

import anyio
from anyio.abc import ByteStream

from ..errors import ConnectionFailed, ConnectionRefused, NetworkError
from ..protocol.url import WebSocketURL
from .connect import Attempt, Stage, is_refusal, os_reason

__all__ = ["connect_unix"]


async def connect_unix(url: WebSocketURL, path: str, stage: Stage) -> ByteStream:
    """Connect to the Unix domain socket at ``path`` (stage ``tcp``); raise typed errors."""
    stage.name = "tcp"
    stage.address = f"unix:{path}"
    started = time.monotonic()
    try:
        stream = await anyio.connect_unix(path)
    except OSError as exc:
        elapsed = time.monotonic() - started
        stage.attempts.append(Attempt(stage.address, path, elapsed, exc))
        raise _unix_error(url, path, exc) from exc
    stage.attempts.append(Attempt(stage.address, path, time.monotonic() - started))
    return stream


def _unix_error(url: WebSocketURL, path: str, exc: OSError) -> ConnectionFailed:
    if isinstance(exc, FileNotFoundError) or is_refusal(exc):
        what = "does not exist" if isinstance(exc, FileNotFoundError) else "refused the connection"
        return ConnectionRefused(
            url.href,
            f"the Unix socket {path} {what}: nothing is listening on it",
            "Check that the server is running, and that unix_socket= is the path it listens "
            "on (it creates the socket file when it starts).",
        )
    if isinstance(exc, PermissionError):
        return NetworkError(
            url.href,
            f"no permission to connect to the Unix socket {path} ({os_reason(exc)})",
            "Connecting needs write permission on the socket file: run as a user (or group) "
            "the server allows, or change the socket's permissions.",
        )
    return NetworkError(
        url.href,
        f"could not connect to the Unix socket {path} ({os_reason(exc)})",
        "Check that unix_socket= is the path of the server's socket.",
    )
