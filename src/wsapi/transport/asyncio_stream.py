"""A plain TCP stream on asyncio whose protocol wsapi owns: anyio's interface, less weight.

anyio's asyncio ``SocketStream`` gives each connection a protocol with a deque
and two ``asyncio.Event`` objects (about 2.3 KB together, per idle connection),
pauses and resumes the transport around every ``receive()`` (two ``epoll_ctl``
calls), and yields to the event loop before every ``send()``. wsapi reads with
the inline receiver (inline.py) once the connection is open, so that machinery
only ever serves the handshake and the closing. ``AsyncioTCPStream`` is the same
``anyio.abc.SocketStream`` (TLS, the writer and the diagnostics use it
unchanged) on a protocol that makes its futures only while a task waits.

Under trio, and for Unix sockets and proxies, anyio's own streams are used.
"""

from __future__ import annotations

import asyncio
import socket
from typing import cast

import anyio
from anyio.abc import SocketStream

__all__ = ["AsyncioTCPStream", "StreamProtocol"]

#: Bytes read ahead of ``receive()`` before the transport stops reading.
READ_AHEAD = 256 * 1024


class StreamProtocol(asyncio.Protocol):
    """Buffers what the transport reads for ``receive()``; tracks flow control for ``send()``."""

    __slots__ = (
        "_held",
        "_paused_reading",
        "_reader",
        "_transport",
        "_writable",
        "_writer",
        "eof",
        "error",
        "lost",
        "read_queue",
    )

    def __init__(self) -> None:
        #: Chunks read and not yet taken by ``receive()`` (a list: an empty deque is 600 bytes).
        self.read_queue: list[bytes] = []
        self.eof = False
        self.lost = False
        self.error: Exception | None = None
        self._held = 0
        self._paused_reading = False
        self._transport: asyncio.Transport | None = None
        self._writable = True
        # The future a task waits on in receive() / send(), made only then.
        self._reader: asyncio.Future[None] | None = None
        self._writer: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        # send() returns once the kernel has every byte, as anyio's does: the
        # writer's bufferedAmount counts what is not written yet.
        self._transport.set_write_buffer_limits(0)

    def data_received(self, data: bytes) -> None:
        self.read_queue.append(data)
        self._held += len(data)
        if self._held > READ_AHEAD and not self._paused_reading and self._transport is not None:
            self._paused_reading = True
            self._transport.pause_reading()
        self._wake_reader()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake_reader()
        return True  # keep the transport open: the client may still write (half-close)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.error = exc
        self._wake_reader()
        self._writable = True
        self._wake_writer()

    def pause_writing(self) -> None:
        self._writable = False

    def resume_writing(self) -> None:
        self._writable = True
        self._wake_writer()

    # -- for the stream ---------------------------------------------------------------

    def take(self, max_bytes: int) -> bytes:
        """The first ``max_bytes`` held (there must be some)."""
        chunk = self.read_queue[0]
        if len(chunk) > max_bytes:
            chunk, self.read_queue[0] = chunk[:max_bytes], chunk[max_bytes:]
        else:
            del self.read_queue[0]
        self._held -= len(chunk)
        if self._paused_reading and self._held <= READ_AHEAD and self._transport is not None:
            self._paused_reading = False
            self._transport.resume_reading()
        return chunk

    async def readable(self) -> None:
        """Wait until there are bytes, the end of the stream, or the end of the connection."""
        waiter = self._reader = asyncio.get_running_loop().create_future()
        try:
            await waiter
        finally:
            self._reader = None

    async def writable(self) -> None:
        """Wait until the transport's buffer is empty (or the connection is gone)."""
        waiter = self._writer = asyncio.get_running_loop().create_future()
        try:
            await waiter
        finally:
            self._writer = None

    @property
    def is_writable(self) -> bool:
        return self._writable

    def _wake_reader(self) -> None:
        waiter = self._reader
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _wake_writer(self) -> None:
        waiter = self._writer
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class AsyncioTCPStream(SocketStream):
    """``anyio.abc.SocketStream`` on an asyncio transport and a ``StreamProtocol``."""

    def __init__(self, transport: asyncio.Transport, protocol: StreamProtocol) -> None:
        # The names direct.py and inline.py look for on anyio's stream as well.
        self._transport = transport
        self._protocol = protocol
        self._closed = False

    @classmethod
    async def connect(cls, sock: socket.socket) -> AsyncioTCPStream:
        """Wrap a connected, non-blocking TCP socket (the stream owns it from now on)."""
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_connection(StreamProtocol, sock=sock)
        return cls(transport, protocol)

    @property
    def _raw_socket(self) -> socket.socket:
        return cast(socket.socket, self._transport.get_extra_info("socket"))

    async def receive(self, max_bytes: int = 65536) -> bytes:
        protocol = self._protocol
        while not protocol.read_queue:
            if self._closed:
                raise anyio.ClosedResourceError
            if protocol.lost:
                raise anyio.BrokenResourceError from protocol.error
            if protocol.eof:
                raise anyio.EndOfStream
            await protocol.readable()
        return protocol.take(max_bytes)

    async def send(self, item: bytes) -> None:
        if self._closed:
            raise anyio.ClosedResourceError
        protocol = self._protocol
        if protocol.lost or self._transport.is_closing():
            raise anyio.BrokenResourceError from protocol.error
        self._transport.write(item)
        while not protocol.is_writable:
            await protocol.writable()
        if self._closed:
            raise anyio.ClosedResourceError  # aclose() dropped what was not written
        if protocol.lost and protocol.error is not None:
            raise anyio.BrokenResourceError from protocol.error

    async def send_eof(self) -> None:
        if not self._transport.is_closing():
            self._transport.write_eof()

    async def aclose(self) -> None:
        """Close at once: what the kernel has not taken yet is dropped, as anyio does.

        (Without anyio's ``write_eof()`` first: closing the socket sends the FIN
        anyway, and a ``shutdown()`` call was a tenth of an open-and-close.)
        """
        if self._closed:
            return
        self._closed = True
        transport = self._transport
        if not transport.is_closing():
            transport.close()
        # The transport calls connection_lost() on the next loop turn; waiting for
        # it would only add a turn. abort() drops any bytes still buffered.
        transport.abort()
