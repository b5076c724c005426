"""The receiving side of a connection: from the socket, through the protocol, to the layer above.

``Reader`` feeds ``ClientProtocol`` what the socket brings and hands every
event it returns, in order, to the ``deliver`` callback of the layer above.
Two paths share that order:

- inline (asyncio's plain TCP, see inline.py): the event loop's protocol
  callback parses the bytes at once (``take_inline()``) and gives messages to
  ``deliver_now``, without a task; what needs awaiting (an async listener, a full
  queue, the closing handshake, a failure) is left, in order, for the task;
- the reader task (``run()``): waits for the inline receiver, or reads the
  stream itself (on trio's plain TCP, the raw socket: see trio_reader.py),
  delivers, and once the connection is over shuts it down (``shutdown()``):
  closes the stream and delivers what is left, ``Closed`` last.

The ``Transport`` decides when the task starts and which task runs it (see
``Transport._start_reader()``); the closing handshake's deadline and the reason
for a cut are the ``Ending``'s (closing.py).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import anyio
from anyio.abc import ByteStream

from ..errors import ConnectionLost
from ..protocol.connection import ClientProtocol, State
from ..protocol.events import (
    Closed,
    CloseReceived,
    Failed,
    MessageReceived,
    PingReceived,
    PongReceived,
    ProtocolEvent,
)
from .inline import InlineReceiver, inline_receiver
from .tracing import FrameTrace
from .trio_reader import TrioSocketReader, trio_socket_reader
from .writer import Writer

if TYPE_CHECKING:  # (types only: closing.py and keepalive.py refer to this module too)
    from .closing import Ending
    from .keepalive import Keepalive

__all__ = ["CLOSE_ECHO_GRACE", "READ_SIZE", "Deliver", "DeliverNow", "Reader", "Settle"]

logger = logging.getLogger("wsapi")

Deliver = Callable[[ProtocolEvent], Awaitable[None]]
#: Takes a received message at once if it can (no listener to await, room in the queue).
DeliverNow = Callable[[str | bytes], bool]
#: Waits until the application has handled the messages delivered so far.
Settle = Callable[[], Awaitable[None]]

#: Longest wait for the application to answer messages that came before the
#: server's Close frame, before echoing it (the server is waiting for it).
CLOSE_ECHO_GRACE = 1.0

#: How much one read asks for: large reads parse many frames per wake-up.
READ_SIZE = 256 * 1024

#: Events that begin the closing handshake (or end it at once): it gets its deadline.
#: (A tuple made once: ``CloseReceived | Failed`` would make a union at every event.)
CLOSING_EVENTS = (CloseReceived, Failed)


class Reader:
    """Reads one open connection and hands its events up, in order; shuts it down at the end."""

    __slots__ = (
        "_deliver",
        "_deliver_now",
        "_ending",
        "_frames_trace",
        "_inline_events",
        "_protocol",
        "_settle",
        "_stream",
        "_trio_reader",
        "_writer",
        "delivering",
        "inline",
        "keepalive",
        "pending",
    )

    def __init__(
        self,
        protocol: ClientProtocol,
        stream: ByteStream,
        writer: Writer,
        ending: Ending,
        pending: list[ProtocolEvent],
        frames_trace: FrameTrace | None,
    ) -> None:
        # (All positional: keyword arguments to a class cost a dict, at every opening.)
        self._protocol, self._stream, self._writer = protocol, stream, writer
        # How the connection ends, and the flag set once it has (closing.py).
        self._ending = ending
        #: Events the handshake's last read brought after the 101, for the task.
        self.pending = pending
        # What the trace shows of the frames and the end (see tracing.py).
        self._frames_trace = frames_trace
        # The layer above's callbacks, given by start().
        self._deliver: Deliver | None = None
        self._settle: Settle | None = None
        self._deliver_now: DeliverNow | None = None
        #: Receiving without the reader task (see inline.py), and what it left for the task.
        self.inline: InlineReceiver | None = None
        self._inline_events: list[ProtocolEvent] = []
        # Reading a large frame into place on trio (see inplace.py).
        self._trio_reader: TrioSocketReader | None = None
        #: The task is waiting for the application (keepalive forgives a late pong then).
        self.delivering = False
        #: Told of pongs and of the end (set by the transport when it pings).
        self.keepalive: Keepalive | None = None

    def start(
        self,
        deliver: Deliver,
        settle: Settle | None,
        deliver_now: DeliverNow | None,
        start_task: Callable[[], None],
        *,
        traced: bool,
    ) -> None:
        """Take the layer above's callbacks, and read without the task where the stream allows.

        ``start_task`` starts the reader task: called now if it is needed already
        (no inline receiver, or something to await), else by the inline receiver
        when something needs awaiting. A trace sees every event through the task.
        """
        self._deliver = deliver
        self._settle = settle
        self._deliver_now = deliver_now
        if deliver_now is not None and not traced:
            self.inline = inline_receiver(self._stream, self.take_inline, start_task)
        if not traced:
            self._trio_reader = trio_socket_reader(self._stream)
        protocol = self._protocol
        if (
            self.inline is None
            or self.pending
            or protocol.failure_pending
            or protocol.close_pending
            or protocol.state is not State.OPEN
        ):
            start_task()

    @property
    def started(self) -> bool:
        """``start()`` was called: there is someone to deliver to."""
        return self._deliver is not None

    def task_coming(self) -> None:
        """The reader task (or the caller in its stead) will read: bytes that come wait for it."""
        if self.inline is not None:
            self.inline.reader_idle = False

    # -- the inline receiver's callbacks (per message: keep them lean) --------------

    def take_inline(self, data: bytes) -> bool:
        """Parse ``data`` as it arrives (the reader is idle); False leaves it to the reader."""
        if self._inline_events:
            return False  # the reader has events to deliver first
        self._protocol.receive_data(data)
        self._after_inline()
        writer = self._writer
        if writer.flush_scheduled:
            # What this callback queued (listeners' answers, a pong) goes out as it
            # returns, its turn being over, rather than in the next loop iteration.
            writer.flush_before_waiting()
        buffer = self._protocol.receive_buffer()
        if buffer is not None and len(buffer) >= READ_SIZE and not self._inline_events:
            # Only for what one read could not bring anyway: a smaller rest comes
            # with the frames after it in the next read (one wake-up, not two).
            assert self.inline is not None
            self.inline.read_in_place(self._protocol.receive_buffer, self._took_in_place)
        return True

    def _took_in_place(self, count: int) -> None:
        """``count`` bytes of a large frame were read into place (see inplace.py)."""
        self._protocol.received_into(count)
        self._after_inline()

    def _after_inline(self) -> None:
        """Deliver what the inline receiver parsed, or leave it to the reader task."""
        protocol = self._protocol
        if protocol.has_data_to_send:
            self._writer.flush_soon()
        events = protocol.events_received()
        deliver_now = self._deliver_now
        assert deliver_now is not None and self.inline is not None
        for index, event in enumerate(events):
            kind = type(event)
            if kind is MessageReceived and deliver_now(event.data):  # type: ignore[union-attr]
                continue
            if kind is PingReceived:
                continue  # answered already; only a trace would show it
            self._inline_events = events[index:]
            self.inline.wake()
            return
        if protocol.failure_pending or protocol.close_pending:
            self.inline.wake()

    # -- the reader task ------------------------------------------------------------

    async def run(self) -> None:
        """The reader task (or the caller, in ``wait_closed()``): read and deliver until the end."""
        assert self._deliver is not None
        protocol, stream, deliver = self._protocol, self._stream, self._deliver
        ending = self._ending
        try:
            with ending.scope:
                # What the handshake's read left, then what the inline receiver
                # could not deliver (it started this task for them).
                events = self.pending + self._inline_events
                self.pending, self._inline_events = [], []
                for event in events:
                    await self._handle(event, deliver)
                await self._commit_when_settled()
                while protocol.state is not State.CLOSED:
                    if protocol.failed:
                        break
                    if self.inline is not None:
                        await self._receive_inline(deliver)
                    else:
                        try:
                            data = await self._receive(stream)
                        except anyio.EndOfStream:
                            protocol.receive_eof()
                        except (
                            anyio.BrokenResourceError,
                            anyio.ClosedResourceError,
                            OSError,
                        ) as exc:
                            protocol.abort(ConnectionLost(f"the connection was lost ({exc!r})"))
                        else:
                            protocol.receive_data(data)
                    if protocol.has_data_to_send:
                        self._writer.flush_soon()
                    for event in protocol.events_received():
                        await self._handle(event, deliver)
                    await self._commit_when_settled()
            if ending.scope.cancelled_caught:
                # Cut by abort() (which says why) or by the close deadline.
                ending.close_timed_out()
        except Exception as exc:  # a bug, or a listener's BaseException-free error
            logger.exception("wsapi: unexpected error in the reader task")
            ending.abort_error = ending.abort_error or ConnectionLost(f"internal error: {exc!r}")
        except BaseException as exc:
            # A cancellation from outside (the reader's own scope catches abort()'s):
            # the task group's, or the caller's when wait_closed() reads.
            if isinstance(exc, anyio.get_cancelled_exc_class()):
                ending.task_cancelled()
            raise
        finally:
            await self.shutdown()

    async def _receive(self, stream: ByteStream) -> bytes:
        """Read (on trio's plain TCP, from the socket directly: see trio_reader.py)."""
        if self._trio_reader is not None:
            return await self._trio_reader.receive(self._protocol, READ_SIZE)
        return await stream.receive(READ_SIZE)

    async def _receive_inline(self, deliver: Deliver) -> None:
        """Wait for the inline receiver; deliver what it left; parse what it held."""
        inline, protocol = self.inline, self._protocol
        assert inline is not None
        if not (
            self._inline_events
            or inline.chunks
            or inline.eof
            or inline.lost
            or protocol.failure_pending
            or protocol.close_pending
        ):
            await inline.wait()
        events, self._inline_events = self._inline_events, []
        for event in events:
            await self._handle(event, deliver)
        if inline.chunks:
            protocol.receive_data(inline.take())
        elif inline.error is not None:
            protocol.abort(ConnectionLost(f"the connection was lost ({inline.error!r})"))
        elif inline.eof or inline.lost:
            protocol.receive_eof()

    async def _commit_when_settled(self) -> None:
        """Act on a pending protocol error or Close frame once the application answered.

        Both come after messages the application has yet to read; its answers to
        them go out first. A failure waits up to ``close_timeout``; the echo of
        the server's Close at most ``CLOSE_ECHO_GRACE``, since the server is
        waiting for it.
        """
        protocol = self._protocol
        if not (protocol.failure_pending or protocol.close_pending):
            return
        if self._settle is not None:
            limit = self._ending.close_timeout
            if not protocol.failure_pending:
                limit = CLOSE_ECHO_GRACE if limit is None else min(limit, CLOSE_ECHO_GRACE)
            with anyio.move_on_after(limit):
                await self._settle()
        protocol.commit_failure()
        protocol.commit_close()
        if protocol.has_data_to_send:
            self._writer.flush_soon()
        for event in protocol.events_received():
            assert self._deliver is not None
            await self._handle(event, self._deliver)

    async def _handle(self, event: ProtocolEvent, deliver: Deliver) -> None:
        """Hand ``event`` up; first what the transport itself does with it."""
        if self._frames_trace is not None:
            self._frames_trace.event(event, self._protocol.state is State.OPEN)
        if isinstance(event, PongReceived):
            if self.keepalive is not None:
                self.keepalive.pong_received(event.data)
        elif isinstance(event, CLOSING_EVENTS):
            self._ending.start_close_deadline()
        elif isinstance(event, Closed):
            # Whatever is still queued, or was being written, never (surely) left.
            self._writer.count_unsent()
        self.delivering = True
        try:
            await deliver(event)
        finally:
            self.delivering = False

    # -- the end ----------------------------------------------------------------------

    async def shutdown(self) -> None:
        """Close the stream, then deliver what is left, ``Closed`` last (shielded).

        The last step of the reader task, or of the caller's task if the task
        never started (``Transport.finish()``). The listeners get
        ``close_timeout`` for the last events: one cancel scope, shielded from
        any cancellation outside and given that deadline at the end.
        """
        with anyio.CancelScope(shield=True) as scope:
            if self.inline is not None:
                self.inline.release()
                self.inline = None
            protocol, ending, deliver = self._protocol, self._ending, self._deliver
            await ending.close_stream(self._stream, protocol, self._writer)
            if ending.close_timeout is not None:
                scope.deadline = anyio.current_time() + ending.close_timeout
            assert deliver is not None
            for event in protocol.events_received():
                await self._handle(event, deliver)
        self._ending.closed.set()
        self._writer.closed()
        if self.keepalive is not None:
            self.keepalive.stop()  # its task ends
