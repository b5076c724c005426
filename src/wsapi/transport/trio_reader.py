"""Reading a plain TCP socket under trio without the socket layers in between.

Under trio the reader task waits for every connection, idle ones included, and
what it waits through is kept alive as long as it waits: anyio's
``SocketStream.receive()``, trio's ``socket.recv()`` and its non-blocking
helper, each a coroutine frame (about 1 KB together per idle connection).
``TrioSocketReader`` waits with ``trio.lowlevel.wait_readable()`` on the raw
socket and reads it without blocking, as trio's own ``recv()`` does; while a
large frame arrives it reads straight into the message (see
``protocol/bigframe.py``). Like trio's ``recv()``, each read is a checkpoint,
so a server that floods cannot starve other tasks.
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from anyio.abc import ByteStream, SocketAttribute

from ..protocol.connection import ClientProtocol

__all__ = ["TrioSocketReader", "trio_socket_reader"]


class TrioSocketReader:
    """``receive()`` on a trio stream's raw socket, for the reader task."""

    __slots__ = ("_checkpoint", "_closed_error", "_if_cancelled", "_sock", "_wait_readable")

    def __init__(self, sock: socket.socket, trio: Any) -> None:
        self._sock = sock
        self._wait_readable: Callable[[socket.socket], Awaitable[None]] = (
            trio.lowlevel.wait_readable
        )
        self._if_cancelled: Callable[[], Awaitable[None]] = trio.lowlevel.checkpoint_if_cancelled
        self._checkpoint: Callable[[], Awaitable[None]] = trio.lowlevel.cancel_shielded_checkpoint
        self._closed_error: type[Exception] = trio.ClosedResourceError

    async def receive(self, protocol: ClientProtocol, max_bytes: int) -> bytes:
        """Read up to ``max_bytes``; or, while a large frame comes, into it (b"" then).

        Raises ``anyio.EndOfStream`` at the end of the stream, ``OSError`` when the
        connection broke, ``anyio.ClosedResourceError`` when the socket was closed.
        """
        # A checkpoint as trio's recv() makes it: cancellation is checked before
        # reading (so no bytes are read and then lost), the schedule point after.
        await self._if_cancelled()
        sock = self._sock
        while True:
            data = _read_now(sock, protocol, max_bytes)
            if data is not None:
                await self._checkpoint()
                return data
            # (Waiting outside the except clause: the BlockingIOError and its
            # traceback would otherwise stay alive for as long as the wait.)
            try:
                await self._wait_readable(sock)
            except self._closed_error as exc:
                raise anyio.ClosedResourceError from exc


def _read_now(sock: socket.socket, protocol: ClientProtocol, max_bytes: int) -> bytes | None:
    """What the socket has now (None: nothing yet); b"" when it went into the message."""
    try:
        buffer = protocol.receive_buffer()
        if buffer is None:
            data = sock.recv(max_bytes)
            if not data:
                raise anyio.EndOfStream
            return data
        count = sock.recv_into(buffer)
    except BlockingIOError:
        return None
    if not count:
        raise anyio.EndOfStream
    protocol.received_into(count)
    return b""


def trio_socket_reader(stream: ByteStream) -> TrioSocketReader | None:
    """A reader for ``stream``'s socket under trio, or None (asyncio, TLS, another stream)."""
    if not type(stream).__module__.startswith("anyio._backends._trio"):
        return None
    sock = stream.extra(SocketAttribute.raw_socket, None)
    if not isinstance(sock, socket.socket):
        return None
    import trio

    return TrioSocketReader(sock, trio)
