"""Writing to a plain TCP socket without a task switch or an await.

A task switch per message is most of what a small message costs. On plain TCP
the transport writes the protocol's bytes with a non-blocking ``socket.send()``
and hands only what the kernel did not take to ``await stream.send()``:

- on asyncio, from a callback scheduled with ``loop.call_soon()`` by the first
  ``send()`` of an event loop turn: every message queued in that turn goes out in
  one write (as the standard says, ``bufferedAmount`` falls once the event loop
  has turned). anyio's stream wraps an asyncio transport that owns the socket; a
  direct write is done only while that transport's buffer is empty, so the order
  of bytes and asyncio's flow control are kept;
- on trio, from the writer task, which then skips the checkpoints of
  ``send_all()``.

TLS streams get no direct writer: their bytes must go through the TLS object.
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from collections.abc import Callable

from anyio.abc import ByteStream, SocketAttribute, SocketStream

__all__ = ["DirectWrite", "direct_writer", "ready_queue", "soon_caller"]

#: ``write(data)`` -> how many bytes were taken (0 when the caller must use the task).
DirectWrite = Callable[[bytes | memoryview], int]


def direct_writer(stream: ByteStream) -> DirectWrite | None:
    """A synchronous writer for ``stream``, or None when only ``await send()`` is safe."""
    if not isinstance(stream, SocketStream):
        return None  # TLS, or a stream of another kind
    transport = getattr(stream, "_transport", None)
    if isinstance(transport, asyncio.WriteTransport):
        return _asyncio_writer(transport)
    if type(stream).__module__.startswith("anyio._backends._trio"):
        sock = stream.extra(SocketAttribute.raw_socket, None)
        if isinstance(sock, socket.socket):
            return _socket_writer(sock)
    return None


def soon_caller(stream: ByteStream) -> Callable[[Callable[[], object]], asyncio.Handle] | None:
    """``loop.call_soon`` when ``stream`` runs on asyncio with a direct writer, else None."""
    if direct_writer(stream) is None or not isinstance(
        getattr(stream, "_transport", None), asyncio.WriteTransport
    ):
        return None
    return asyncio.get_running_loop().call_soon


def ready_queue() -> deque[asyncio.Handle] | None:
    """asyncio's queue of callbacks to run in the next iteration, if this loop has one.

    The loops of the standard library keep it as a deque (``_ready``); uvloop and
    others do not expose theirs, and get None (the writer then simply waits for
    its end-of-turn callback).
    """
    ready = getattr(asyncio.get_running_loop(), "_ready", None)
    return ready if isinstance(ready, deque) else None


def _asyncio_writer(transport: asyncio.WriteTransport) -> DirectWrite | None:
    # asyncio hands out a TransportSocket, which has no send(): reach the socket.
    wrapper = transport.get_extra_info("socket")
    raw = getattr(wrapper, "_sock", wrapper)
    if not isinstance(raw, socket.socket):
        return None
    send = raw.send

    def write(data: bytes | memoryview) -> int:
        # Bytes waiting in asyncio's buffer go first: leave this write to the
        # writer task, which goes through the transport.
        if transport.is_closing() or transport.get_write_buffer_size():
            return 0
        try:
            return send(data)
        except OSError:
            return 0  # as _socket_writer's: the writer task retries, or reports

    return write


def _socket_writer(sock: socket.socket) -> DirectWrite:
    def write(data: bytes | memoryview) -> int:
        try:
            return sock.send(data)
        except OSError:
            # Would block, or the connection broke: the writer task retries and
            # reports a broken connection the usual way.
            return 0

    return write
