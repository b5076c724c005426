"""The write path of one connection: from the protocol's queued bytes to the socket.

``send()`` queues frames in the protocol and calls ``queued()``; what one event
loop turn queued goes out in one write. On plain TCP the bytes go straight to the
socket when it takes them all (see direct.py); otherwise, or for what it did not
take, the writer task (``run()``) writes through the stream. The accounting the
application sees lives here too: ``buffered_amount`` (bytes of message data not
yet written), ``drain()``, and ``unsent_messages`` once the connection is over.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, cast

import anyio
from anyio.abc import ByteStream, TaskGroup

from ..errors import ConnectionLost, WebSocketError
from ..protocol.connection import ClientProtocol
from ..protocol.framing import count_data_frames
from .direct import direct_writer, ready_queue, soon_caller
from .flag import EventMaker, Flag, Waitable
from .spawn import start_soon

__all__ = ["Writer"]

logger = logging.getLogger("wsapi")


class Writer(EventMaker):
    """Writes one connection's frames in order, and keeps count of what was written."""

    __slots__ = (
        "_call_soon",
        "_closed",
        "_direct",
        "_flush_handle",
        "_flush_owner",
        "_leftover",
        "_leftover_sent",
        "_lock_",
        "_loop",
        "_on_error",
        "_progress",
        "_ready",
        "_stream",
        "_task_group",
        "_task_started",
        "_torn",
        "_unwritten",
        "_wanted",
        "_writing",
        "buffered_amount",
        "protocol",
        "unsent_messages",
    )

    def __init__(
        self,
        protocol: ClientProtocol,
        stream: ByteStream,
        *,
        closed: Flag,
        on_error: Callable[[WebSocketError], None],
    ) -> None:
        super().__init__()
        self.protocol = protocol
        self._stream = stream
        self._closed = closed
        self._on_error = on_error
        #: Bytes of application data accepted by ``send()`` and not yet written.
        self.buffered_amount = 0
        self._unwritten = 0  # the part of buffered_amount queued since the last write
        #: Messages passed to send() that were not known to be written, at the end.
        self.unsent_messages = 0
        # The writer task starts the first time it is needed (on asyncio's plain TCP,
        # maybe never), and waits on ``_wanted``, made when needed.
        self._wanted: Waitable | None = None
        self._task_group: TaskGroup | None = None
        self._task_started = False
        self._progress: Waitable | None = None  # set when bytes are written (drain)
        # trio forbids two tasks sending on one stream at once: the writer task and
        # the shutdown take turns (made when first needed: an idle connection has none).
        self._lock_: anyio.Lock | None = None
        # Synchronous writes (see direct.py), and the end-of-turn callback on asyncio.
        self._direct = direct_writer(stream)
        self._call_soon = soon_caller(stream)
        self._flush_handle: asyncio.Handle | None = None
        self._flush_owner: asyncio.Task[Any] | None = None  # the task that scheduled it
        self._ready = ready_queue() if self._call_soon is not None else None
        # Given to current_task(): looking the loop up is a getpid() on Python <= 3.11.
        self._loop = asyncio.get_running_loop() if self._ready is not None else None
        self._writing = False  # awaiting the stream's send()
        # Whole frames a write left unfinished, and how many of their bytes went out.
        self._leftover = b""
        self._leftover_sent = 0
        self._torn = False  # a write was cut short: the stream's framing is lost

    # -- called by send(), the reader and the keepalive -------------------------------

    def queued(self, amount: int) -> None:
        """``send()`` queued ``amount`` bytes of application data in the protocol."""
        self.buffered_amount += amount
        self._unwritten += amount
        self.flush_soon()

    def attach(self, task_group: TaskGroup) -> None:
        """Where the writer task runs; it starts now if a write is already waiting."""
        self._task_group = task_group
        if self._wanted is not None:
            self._start_task()

    def _wake(self) -> None:
        """The writer task has work: start it if needed, and wake it."""
        if self._wanted is None:
            self._wanted = self._new_event()
        self._wanted.set()
        if not self._task_started and self._task_group is not None:
            self._start_task()

    def _start_task(self) -> None:
        assert self._task_group is not None
        self._task_started = True
        start_soon(self._task_group, self.run, "wsapi writer")

    def flush_soon(self) -> None:
        """The protocol has bytes to write: at the end of this event loop turn."""
        if self._call_soon is None:
            self._wake()
        elif self._flush_handle is None:
            self._flush_handle = self._call_soon(self._flush)
            if self._ready is not None:
                self._flush_owner = asyncio.current_task(self._loop)

    @property
    def flush_scheduled(self) -> bool:
        """An end-of-turn write is scheduled (asyncio)."""
        return self._flush_handle is not None

    def flush_before_waiting(self) -> None:
        """The task that queued this turn's frames is about to wait (in ``recv()``): write now.

        (Also called as an inline receiver's callback returns: a callback's turn ends
        there, and there is no current task on either side of the comparison below.)

        Its turn ends here, so writing now is what the end-of-turn callback would do
        (and ``bufferedAmount`` falls as the turn ends, as the standard says); taking
        the callback off asyncio's ready queue saves the event loop an iteration
        per round trip. Only a callback this task step scheduled is taken: it is
        then the queue's last entry, after everything the loop is running this
        iteration. (One scheduled in an earlier step of the same task has run
        already, the queue being first in, first out.)
        """
        handle, ready = self._flush_handle, self._ready
        if (
            handle is None
            or not ready
            or ready[-1] is not handle
            or self._flush_owner is not asyncio.current_task(self._loop)
        ):
            return
        ready.pop()
        self._flush()

    def _flush(self) -> None:
        """Write what the turn queued, without the writer task if the socket takes it all."""
        self._flush_handle = self._flush_owner = None
        if self._writing or self._leftover or self._torn or self._closed.is_set():
            self._wake()
            return
        data = self.protocol.data_to_send()
        if not data:
            return
        assert self._direct is not None
        written = self._direct(data)
        if written == len(data):
            self._written(self._unwritten)
            self._unwritten = 0
        else:
            self._leftover, self._leftover_sent = data, written
            self._wake()

    def _written(self, amount: int) -> None:
        """``amount`` bytes of application data reached the socket."""
        self.buffered_amount -= amount
        progress = self._progress
        if progress is not None:
            self._progress = None
            progress.set()

    async def drain(self, limit: int) -> bool:
        """Wait until at most ``limit`` bytes of application data are unwritten.

        False when the connection closed first (the rest will never be written).
        """
        while self.buffered_amount > limit:
            if self._closed.is_set():
                return False
            if self._progress is None:
                self._progress = self._new_event()
            await self._progress.wait()
        return True

    def closed(self) -> None:
        """The connection is over: wake ``drain()``, and the writer task so that it ends."""
        if self._progress is not None:
            self._progress.set()
        if self._wanted is not None:
            self._wanted.set()

    # -- the writer task and the shutdown ----------------------------------------------

    @property
    def _lock(self) -> anyio.Lock:
        if self._lock_ is None:
            self._lock_ = anyio.Lock(fast_acquire=True)
        return self._lock_

    async def run(self) -> None:
        """The writer task: write what was queued each time it is woken."""
        try:
            while not self._closed.is_set():
                wanted = self._wanted
                if wanted is None:
                    wanted = self._wanted = self._new_event()
                await wanted.wait()
                if self._closed.is_set():
                    return
                self._wanted = None
                async with self._lock:
                    data = self._take_output()
                    written, self._unwritten = self._unwritten, 0
                    if data and not self._torn:
                        await self._write(data)
                    # Not kept while the task waits for the next write: a large
                    # message would stay in memory after it was sent.
                    del data
                self._written(written)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            self._on_error(ConnectionLost(f"the connection was lost while sending ({exc!r})"))
        except Exception as exc:
            logger.exception("wsapi: unexpected error in the writer task")
            self._on_error(ConnectionLost(f"internal error: {exc!r}"))

    async def send_pending(self) -> None:
        """Write what is queued now (the shutdown's Close frame), in order with the task."""
        # Taking the bytes inside the lock keeps frames in order between the
        # writer task and the shutdown path.
        async with self._lock:
            data = self._take_output()
            if data and not self._torn:
                await self._write(data)

    def count_unsent(self) -> None:
        """The messages not known to be written: what a write left, and what was never tried."""
        unsent = self._leftover + self.protocol.data_to_send()
        self.unsent_messages = count_data_frames(unsent, after=self._leftover_sent)

    async def _write(self, data: bytes) -> None:
        """Write ``data`` (whole frames, ``_leftover_sent`` of them already out).

        The socket directly if it takes it all, else through the stream. Until
        the write is done, ``data`` stays in ``_leftover``: if it fails, its
        messages are counted as unsent (a failed ``send()`` may have written
        some of it, which the kernel does not say).
        """
        start = self._leftover_sent
        self._leftover = data
        if self._direct is not None:
            start += self._direct(memoryview(data)[start:] if start else data)
            self._leftover_sent = start
        if start < len(data):
            self._writing = True
            try:
                # The rest as a view, not a copy: after a partial write of a large
                # message, a slice of bytes would copy megabytes. (anyio types the
                # item as bytes; every stream wsapi writes to passes it to
                # socket.send(), a transport's write() or an SSL object's write(),
                # which take any buffer.)
                rest = cast(bytes, memoryview(data)[start:]) if start else data
                await self._stream.send(rest)
            except BaseException:
                # Cut short (an error, or cancelled): how much went out is unknown,
                # so nothing more may be written, not even a Close frame.
                self._torn = True
                raise
            finally:
                self._writing = False
        self._leftover, self._leftover_sent = b"", 0

    def _take_output(self) -> bytes:
        """What a write left unfinished, then what the protocol queued since."""
        data = self.protocol.data_to_send()
        if self._leftover:
            data = self._leftover + data
        return data
