"""Receiving on plain TCP under asyncio without waking the reader task per message.

anyio's asyncio stream pauses and resumes the transport around every
``receive()`` (two ``epoll_ctl`` calls), and the reader task then wakes up to
parse what came. Under asyncio a plain TCP connection does better: once the
handshake is done the transport calls ``InlineReceiver.data_received()``
directly, which parses at once and hands messages straight to the
application's queue (``Reader.take_inline()``, reader.py). Only what needs the
reader task (a listener to await, a full queue, a trace, the closing handshake,
a failure) is passed on to it, in order, with the bytes that came while it was
busy.

The receiver stands in for anyio's protocol object on the asyncio transport and
forwards to it everything but the data, so anyio's ``send()``, ``send_eof()``
and ``aclose()`` keep working; ``release()`` gives the transport back to anyio
for the closing of the connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from anyio.abc import ByteStream

from ..protocol.bigframe import WritableBuffer
from .library import in_asyncio_context

__all__ = ["InlineReceiver", "inline_receiver"]

#: Bytes held for a busy reader before the transport stops reading (backpressure).
PAUSE_AT = 256 * 1024


class InlineReceiver(asyncio.Protocol):
    """The asyncio protocol of a connection whose data is parsed as it arrives."""

    def __init__(
        self,
        transport: asyncio.Transport,
        inner: asyncio.Protocol,
        on_data: Callable[[bytes], bool],
        start_reader: Callable[[], None],
    ) -> None:
        self._transport = transport
        self._inner = inner
        self._on_data = on_data
        self._start_reader = start_reader
        #: Bytes the reader task has to parse, in order; and whether the peer is done.
        self.chunks: list[bytes] = []  # (a list: an empty deque costs 600 bytes)
        self.held = 0
        self.eof = False
        self.lost = False
        self.error: Exception | None = None
        self._paused = False
        self._wakeup: asyncio.Future[None] | None = None
        #: True while the reader task waits in ``wait()`` with nothing to do, or
        #: has not started (the transport starts it lazily: see ``wake()``).
        self.reader_idle = True

    # -- the transport's calls -------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if not self.chunks and self.reader_idle and self._on_data(data):
            return
        self.chunks.append(bytes(data))
        self.held += len(data)
        if self.held > PAUSE_AT and not self._paused:
            self._paused = True
            self._transport.pause_reading()
        self.wake()

    def eof_received(self) -> bool | None:
        self.eof = True
        self.wake()
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.error = exc
        self.wake()
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    # -- the reader task's side --------------------------------------------------

    def wake(self) -> None:
        """The reader task has something to do (called by ``on_data`` too); start it if need be."""
        waiter = self._wakeup
        if waiter is not None:
            if not waiter.done():
                waiter.set_result(None)
        else:
            # (Once; it then finds the work waiting.)
            in_asyncio_context(self._start_reader)

    async def wait(self) -> None:
        """Wait until there are bytes to parse, events to deliver, or the end."""
        self._wakeup = asyncio.get_running_loop().create_future()
        self.reader_idle = True
        try:
            await self._wakeup
        finally:
            self.reader_idle = False
            self._wakeup = None

    def take(self) -> bytes:
        """All the bytes held, in one piece; reading resumes if it was paused."""
        data = b"".join(self.chunks) if len(self.chunks) != 1 else self.chunks[0]
        self.chunks.clear()
        self.held = 0
        if self._paused:
            self._paused = False
            self._transport.resume_reading()
        return data

    def read_in_place(
        self, buffer: Callable[[], WritableBuffer | None], filled: Callable[[int], None]
    ) -> None:
        """Let the socket read into ``buffer()`` until it is None (see inplace.py)."""
        from .inplace import InPlaceReader

        self._transport.set_protocol(InPlaceReader(self, buffer, filled))

    def take_over(self) -> None:
        """Be the transport's protocol again (after ``read_in_place()``)."""
        self._transport.set_protocol(self)

    def release(self) -> None:
        """Give the transport back to anyio's protocol (bytes still held are dropped)."""
        self._transport.set_protocol(self._inner)
        if self._paused:
            self._paused = False
            self._transport.resume_reading()


def inline_receiver(
    stream: ByteStream, on_data: Callable[[bytes], bool], start_reader: Callable[[], None]
) -> InlineReceiver | None:
    """Take over ``stream``'s asyncio transport, or None (trio, TLS, another stream)."""
    transport = getattr(stream, "_transport", None)
    inner = getattr(stream, "_protocol", None)
    if not isinstance(transport, asyncio.Transport) or not isinstance(inner, asyncio.Protocol):
        return None
    if getattr(inner, "read_queue", None):
        return None  # anyio holds bytes not read yet: keep its path for this connection
    receiver = InlineReceiver(transport, inner, on_data, start_reader)
    transport.set_protocol(receiver)
    # anyio pauses the transport after each receive(): from now on it stays on.
    transport.resume_reading()
    return receiver
