"""``Transport``: one WebSocket connection driven over an anyio byte stream.

A protocol-blind pump around ``ClientProtocol``: it opens the stream, writes
what the protocol queues and feeds it what the socket reads, and hands every
protocol event, in order, to the ``deliver`` callback of the layer above.

Three tasks run in the task group of the ``async with`` that opened the
connection, and none of them ever raises (an error is recorded in the
protocol and ends the connection):

- the reader reads, feeds the protocol, delivers events; when the connection
  ends it closes the stream and delivers ``Closed``;
- the writer sends everything queued since its last write in one
  ``send()``: messages sent in the same moment share one system call;
- keepalive pings every ``ping_interval`` and fails the connection when no
  pong comes within ``ping_timeout``.

Closing is a handshake: ``close()`` queues the Close frame and sets a deadline
on the reader's cancel scope; the reader reads until the server's Close and its
end of TCP, or until the deadline, ``close_timeout`` later, cuts the connection.
Once the connection is over, every task ends by itself.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import ssl
from collections.abc import Awaitable, Callable

import anyio
from anyio.abc import ByteStream, SocketStream, TaskGroup

from ..errors import (
    CloseTimeout,
    ConnectionAborted,
    ConnectionFailed,
    ConnectionLost,
    KeepaliveTimeout,
    RedirectReceived,
    WebSocketError,
    redact_url,
)
from ..protocol.connection import ClientProtocol, State
from ..protocol.events import (
    Closed,
    CloseReceived,
    Failed,
    HandshakeFailed,
    MessageReceived,
    Opened,
    PingReceived,
    PongReceived,
    ProtocolEvent,
)
from ..protocol.handshake import generate_key
from ..protocol.proxy import ProxySetting
from ..protocol.redirects import next_url, redirect_headers
from ..protocol.url import WebSocketURL
from ..trace import Tracer
from .connect import Stage, open_stream, timeout_error
from .flag import Flag
from .inline import InlineReceiver, inline_receiver
from .spawn import start_soon
from .tls import default_ssl_context
from .tracing import FrameTrace, TracedStage, trace_response
from .trio_reader import TrioSocketReader, trio_socket_reader
from .writer import Writer

__all__ = ["Transport"]

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


class Transport:
    """Drives one ``ClientProtocol`` over TCP (and TLS)."""

    # Slots: an instance with more than 30 attributes gets a dict of its own
    # (~1.5 KB; CPython shares the keys of up to 30), per connection.
    __slots__ = (
        "_abort_error",
        "_close_timer_armed",
        "_closed",
        "_deliver",
        "_deliver_now",
        "_delivering",
        "_frames_trace",
        "_inline",
        "_inline_events",
        "_keepalive_running",
        "_open_cancelled",
        "_open_scope",
        "_pending",
        "_pong_waiter",
        "_reader_in_caller",
        "_reader_scope",
        "_reader_started",
        "_settle",
        "_stream",
        "_task_group",
        "_trace",
        "_trio_reader",
        "close_started",
        "close_timeout",
        "max_redirects",
        "open_timeout",
        "ping_interval",
        "ping_timeout",
        "protocol",
        "proxy",
        "proxy_ssl",
        "ssl_context",
        "unix_socket",
        "url",
        "writer",
    )

    def __init__(
        self,
        protocol: ClientProtocol,
        url: WebSocketURL,
        *,
        ssl_context: ssl.SSLContext | None,
        open_timeout: float | None,
        close_timeout: float | None,
        ping_interval: float | None,
        ping_timeout: float | None,
        trace: Tracer | None = None,
        max_redirects: int = 0,
        proxy: ProxySetting = None,
        proxy_ssl: ssl.SSLContext | None = None,
        unix_socket: str | None = None,
    ) -> None:
        self.protocol = protocol
        #: A ``ProxyURL``, None, or True: ask the environment at each opening.
        self.proxy = proxy
        self.proxy_ssl = proxy_ssl
        self.unix_socket = unix_socket
        #: Redirects to follow while opening (0: a 3xx fails, as the standard says).
        self.max_redirects = max_redirects
        self._trace = trace
        self.url = url
        self.ssl_context = ssl_context
        self.open_timeout = open_timeout
        self.close_timeout = close_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self._stream: ByteStream | None = None
        self._task_group: TaskGroup | None = None
        self._deliver: Deliver | None = None
        self._settle: Settle | None = None
        self._pending: list[ProtocolEvent] = []
        self._open_scope: anyio.CancelScope | None = None
        self._abort_error: WebSocketError | None = None
        self._pong_waiter: tuple[bytes, anyio.Event] | None = None
        self._close_timer_armed = False
        self._keepalive_running = False
        self._reader_started = False
        self._reader_in_caller = False  # close(caller_waits=True): wait_closed() reads
        self._open_cancelled = False
        self._delivering = False  # the reader is waiting for the application
        #: We sent the first Close frame (``close()``).
        self.close_started = False
        # What the trace shows of the frames and the end (see tracing.py).
        self._frames_trace = None if trace is None else FrameTrace(trace)
        #: The write path (writer.py), made once the connection is open.
        self.writer: Writer | None = None
        # Receiving without the reader task (see inline.py), and what it left for the task.
        self._inline: InlineReceiver | None = None
        self._inline_events: list[ProtocolEvent] = []
        self._deliver_now: DeliverNow | None = None
        # Reading a large frame into place on trio (see inplace.py).
        self._trio_reader: TrioSocketReader | None = None
        self._closed = Flag()
        # anyio's cancel scopes need a running event loop: open() makes this one.
        self._reader_scope: anyio.CancelScope

    # -- opening ---------------------------------------------------------------

    async def open(self) -> Opened:
        """Connect and do the opening handshake within ``open_timeout``.

        Raises ``ConnectionFailed``; the protocol and the stream are closed then.
        """
        self._reader_scope = anyio.CancelScope()
        stage = Stage() if self._trace is None else TracedStage(self._trace)
        try:
            if self._open_cancelled:
                raise ConnectionAborted(
                    self.url.href, "close() was called before the connection was established"
                )
            # One scope for both ends of the opening, open_timeout and close() (two
            # nested scopes cost twice as much, at every opening).
            timeout = self.open_timeout
            deadline = math.inf if timeout is None else anyio.current_time() + timeout
            with anyio.CancelScope(deadline=deadline) as self._open_scope:
                opened = await self._open_following(stage)
                assert self._stream is not None
                self.writer = Writer(
                    self.protocol, self._stream, closed=self._closed, on_error=self.abort
                )
                return opened
            if self._open_cancelled:  # close() during the opening
                raise ConnectionAborted(
                    self.url.href,
                    "close() was called before the connection was established",
                    stage=stage.name,
                )
            raise TimeoutError
        except TimeoutError as exc:
            error = timeout_error(self.url, stage.name, self.open_timeout, stage.address)
            await self._fail_open(error, exc)
        except ConnectionFailed as exc:
            await self._fail_open(exc, exc.__cause__)
        except BaseException:
            # Cancelled from outside: the socket must not outlive the attempt.
            if self._stream is not None:
                await anyio.aclose_forcefully(self._stream)
            self._closed.set()
            raise
        finally:
            self._open_scope = None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _fail_open(self, error: ConnectionFailed, cause: BaseException | None) -> None:
        if error.__cause__ is None and cause is not None and cause is not error:
            error.__cause__ = cause
        self.protocol.abort(error)
        if self._stream is not None:
            await anyio.aclose_forcefully(self._stream)
        self._closed.set()
        raise error

    async def _open(self, stage: Stage) -> Opened:
        self._stream = await open_stream(
            self.url,
            self.ssl_context,
            stage,
            proxy=self.proxy,
            proxy_ssl=self.proxy_ssl,
            unix_socket=self.unix_socket,
        )
        stage.name = "http"
        protocol = self.protocol
        trace = self._trace
        if trace is not None:
            trace(">", "request", headers=protocol.request_headers, detail=protocol.request_target)
        cause: BaseException | None = None
        try:
            await self._stream.send(protocol.data_to_send())
        except (anyio.BrokenResourceError, OSError) as exc:
            cause = exc
            protocol.receive_eof()
        while True:
            if cause is None:
                try:
                    data = await self._stream.receive(READ_SIZE)
                except anyio.EndOfStream:
                    protocol.receive_eof()
                except (anyio.BrokenResourceError, OSError) as exc:
                    cause = exc
                    protocol.receive_eof()
                else:
                    protocol.receive_data(data)
            events = protocol.events_received()
            for index, event in enumerate(events):
                if isinstance(event, Opened):
                    self._pending = events[index + 1 :]
                    if trace is not None:
                        trace_response(trace, event.response)
                    return event
                if isinstance(event, HandshakeFailed):
                    if trace is not None and event.error.response is not None:
                        trace_response(trace, event.error.response)
                    if cause is not None:
                        raise event.error from cause
                    raise event.error

    async def _open_following(self, stage: Stage) -> Opened:
        """``_open()``, and again at each redirect followed: a fresh protocol and stream each time.

        ``protocol`` and ``url`` end as those of the last request sent.
        """
        history = [self.url]
        while True:
            try:
                return await self._open(stage)
            except RedirectReceived as redirect:
                if not self.max_redirects:
                    raise
                target = next_url(
                    redirect, history, self.max_redirects, unix_socket=self.unix_socket
                )
                if self._trace is not None:
                    self._trace(
                        "=", "redirect", code=redirect.status, detail=redact_url(target.href)
                    )
                assert self._stream is not None
                await anyio.aclose_forcefully(self._stream)
                self._stream = None
                self._redirect(target)
                history.append(target)

    def _redirect(self, target: WebSocketURL) -> None:
        """Aim at ``target``: a new protocol, with the same options and a new key."""
        old = self.protocol
        request = dataclasses.replace(
            old.request,
            url=target.href,
            host=target.host,
            resource=target.resource,
            headers=redirect_headers(old.request.headers, self.url, target),
            key=generate_key(),
        )
        self.protocol = ClientProtocol(
            request, max_message_size=old.max_message_size, max_body_size=old.max_body_size
        )
        if target.secure and self.ssl_context is None:
            self.ssl_context = default_ssl_context()
        self.url = target

    def cancel_open(self) -> None:
        """``close()`` while connecting: give up the attempt."""
        self._open_cancelled = True
        if self._open_scope is not None:
            self._open_scope.cancel()

    # -- running ---------------------------------------------------------------

    def attach(self, task_group: TaskGroup) -> None:
        """The task group the connection's tasks will run in."""
        self._task_group = task_group

    def start(
        self,
        deliver: Deliver,
        settle: Settle | None = None,
        deliver_now: DeliverNow | None = None,
    ) -> None:
        """Start the reader, writer and keepalive tasks in the attached task group.

        ``deliver`` takes each event in order; ``settle`` (if given) returns once
        the application has handled the messages delivered so far: a protocol
        error found after them waits for it, so replies precede the Close frame.
        """
        task_group = self._task_group
        assert task_group is not None
        self._deliver = deliver
        self._settle = settle
        assert self._stream is not None and self.writer is not None
        self._deliver_now = deliver_now
        if deliver_now is not None and self._trace is None:
            self._inline = inline_receiver(self._stream, self._take_inline, self._start_reader)
        if self._trace is None:
            self._trio_reader = trio_socket_reader(self._stream)
        self.writer.attach(task_group)
        if self.protocol.has_data_to_send:
            # Answers to frames that came in the same read as the 101.
            self.writer.flush_soon()
        protocol = self.protocol
        if (
            self._inline is None
            or self._pending
            or protocol.failure_pending
            or protocol.close_pending
            or protocol.state is not State.OPEN
        ):
            self._start_reader()
        # Else the inline receiver does the reading, and starts the reader task
        # when something needs awaiting (see inline.py); so do close() and abort().
        if self.ping_interval is not None:
            self._keepalive_running = True
            start_soon(task_group, self._keepalive, "wsapi keepalive")

    @property
    def buffered_amount(self) -> int:
        """Bytes of application data accepted by ``send()`` and not yet written."""
        return 0 if self.writer is None else self.writer.buffered_amount

    @property
    def unsent_messages(self) -> int:
        """Messages passed to ``send()`` not known to be written (set at the end)."""
        return 0 if self.writer is None else self.writer.unsent_messages

    def queued(self, amount: int) -> None:
        """``send()`` queued ``amount`` bytes of application data in the protocol."""
        assert self.writer is not None
        self.writer.queued(amount)

    def before_waiting(self) -> None:
        """The application's task is about to wait for a message: its turn ends."""
        if self.writer is not None:
            self.writer.flush_before_waiting()

    def flush_soon(self) -> None:
        """The protocol has bytes to write (a control frame)."""
        assert self.writer is not None
        self.writer.flush_soon()

    async def drain(self, limit: int) -> bool:
        """Wait until at most ``limit`` bytes are unwritten; False if it closed first."""
        assert self.writer is not None
        return await self.writer.drain(limit)

    def close(self, code: int | None, reason: str, *, caller_waits: bool = False) -> None:
        """Start the closing handshake (the caller checked the state).

        ``caller_waits``: the caller awaits ``wait_closed()`` next, which then
        reads the closing handshake itself if no reader task runs yet.
        """
        self.close_started = True
        if self._frames_trace is not None:
            self._frames_trace.close_started = True
        self.protocol.send_close(code, reason)
        if self._trace is not None:
            self._trace(">", "close", code=code, reason=reason)
        self.flush_soon()
        self._arm_close_timer()
        if caller_waits and not self._reader_started and self._task_group is not None:
            # Reserve the reader's work for wait_closed(): a task spawned only
            # to be awaited at once costs more than the rest of the closing.
            self._reader_started = self._reader_in_caller = True
            if self._inline is not None:
                self._inline.reader_idle = False  # bytes that come meanwhile wait for it
            return
        self._start_reader()  # it sees the closing handshake through

    async def wait_closed(self) -> None:
        if self._reader_in_caller:
            self._reader_in_caller = False
            await self._reader()
        await self._closed.wait()

    @property
    def is_closed(self) -> bool:
        return self._closed.is_set()

    @property
    def tasks_end_by_themselves(self) -> bool:
        """The connection is over and no task of it sleeps: no need to cancel them."""
        return self._closed.is_set() and not self._keepalive_running

    def set_abort_reason(self, error: WebSocketError) -> None:
        """What the application will be told if the connection is cut now."""
        if self._abort_error is None:
            self._abort_error = error

    def set_task_cancelled(self) -> None:
        """The task running the connection was cancelled: that is why it is cut."""
        self.set_abort_reason(
            ConnectionLost("the connection was cut because its task was cancelled")
        )

    def abort(self, error: WebSocketError) -> None:
        """Cut the connection now (keepalive or close timeout, a write error)."""
        if self._abort_error is None:
            self._abort_error = error
        self._reader_scope.cancel()
        self._start_reader()  # it shuts the connection down

    def _start_reader(self) -> None:
        """Start the reader task, once.

        On asyncio's plain TCP an open connection needs no task while it is
        idle: the inline receiver parses and queues messages as they come. A
        task, its cancel scopes and its coroutine cost about 2 KB per idle
        connection, so it starts when there is something to await: a listener,
        a full inbox, the closing handshake, a failure.
        """
        if self._reader_started or self._task_group is None:
            return
        self._reader_started = True
        if self._inline is not None:
            self._inline.reader_idle = False  # bytes that come meanwhile wait for it
        start_soon(self._task_group, self._reader, "wsapi reader")

    async def finish(self) -> None:
        """End the connection in the caller's task if the reader task never started.

        The ``async with`` calls this before cancelling the connection's task
        group: a task cancelled before its first step would not run its clean-up.
        """
        if self._reader_started or self._closed.is_set() or self._deliver is None:
            return
        self._reader_started = True
        await self._shutdown(self._deliver)

    # -- the tasks -------------------------------------------------------------

    async def _reader(self) -> None:
        assert self._stream is not None and self._deliver is not None
        protocol, stream, deliver = self.protocol, self._stream, self._deliver
        try:
            with self._reader_scope:
                # What the handshake's read left, then what the inline receiver
                # could not deliver (it started this task for them).
                events = self._pending + self._inline_events
                self._pending, self._inline_events = [], []
                for event in events:
                    await self._handle(event, deliver)
                await self._commit_when_settled()
                while protocol.state is not State.CLOSED:
                    if protocol.failed:
                        break
                    if self._inline is not None:
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
                        self.flush_soon()
                    for event in protocol.events_received():
                        await self._handle(event, deliver)
                    await self._commit_when_settled()
            if self._reader_scope.cancelled_caught:
                # Cut by abort() (which says why) or by the close deadline.
                self._close_timed_out()
        except Exception as exc:  # a bug, or a listener's BaseException-free error
            logger.exception("wsapi: unexpected error in the reader task")
            self._abort_error = self._abort_error or ConnectionLost(f"internal error: {exc!r}")
        except BaseException as exc:
            # A cancellation from outside (the reader's own scope catches abort()'s):
            # the task group's, or the caller's when wait_closed() reads.
            if isinstance(exc, anyio.get_cancelled_exc_class()):
                self.set_task_cancelled()
            raise
        finally:
            await self._shutdown(deliver)

    async def _receive(self, stream: ByteStream) -> bytes:
        """Read (on trio's plain TCP, from the socket directly: see trio_reader.py)."""
        if self._trio_reader is not None:
            return await self._trio_reader.receive(self.protocol, READ_SIZE)
        return await stream.receive(READ_SIZE)

    def _take_inline(self, data: bytes) -> bool:
        """Parse ``data`` as it arrives (the reader is idle); False leaves it to the reader."""
        if self._inline_events:
            return False  # the reader has events to deliver first
        self.protocol.receive_data(data)
        self._after_inline()
        buffer = self.protocol.receive_buffer()
        if buffer is not None and len(buffer) >= READ_SIZE and not self._inline_events:
            # Only for what one read could not bring anyway: a smaller rest comes
            # with the frames after it in the next read (one wake-up, not two).
            assert self._inline is not None
            self._inline.read_in_place(self.protocol.receive_buffer, self._took_in_place)
        return True

    def _took_in_place(self, count: int) -> None:
        """``count`` bytes of a large frame were read into place (see inplace.py)."""
        self.protocol.received_into(count)
        self._after_inline()

    def _after_inline(self) -> None:
        """Deliver what the inline receiver parsed, or leave it to the reader task."""
        protocol = self.protocol
        if protocol.has_data_to_send:
            self.flush_soon()
        events = protocol.events_received()
        deliver_now = self._deliver_now
        assert deliver_now is not None and self._inline is not None
        for index, event in enumerate(events):
            kind = type(event)
            if kind is MessageReceived and deliver_now(event.data):  # type: ignore[union-attr]
                continue
            if kind is PingReceived:
                continue  # answered already; only a trace would show it
            self._inline_events = events[index:]
            self._inline.wake()
            return
        if protocol.failure_pending or protocol.close_pending:
            self._inline.wake()

    async def _receive_inline(self, deliver: Deliver) -> None:
        """Wait for the inline receiver; deliver what it left; parse what it held."""
        inline, protocol = self._inline, self.protocol
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
        protocol = self.protocol
        if not (protocol.failure_pending or protocol.close_pending):
            return
        if self._settle is not None:
            limit = self.close_timeout
            if not protocol.failure_pending:
                limit = CLOSE_ECHO_GRACE if limit is None else min(limit, CLOSE_ECHO_GRACE)
            with anyio.move_on_after(limit):
                await self._settle()
        protocol.commit_failure()
        protocol.commit_close()
        if protocol.has_data_to_send:
            self.flush_soon()
        for event in protocol.events_received():
            assert self._deliver is not None
            await self._handle(event, self._deliver)

    async def _shutdown(self, deliver: Deliver) -> None:
        """Close the stream, then deliver what is left, ``Closed`` last (shielded).

        The listeners get ``close_timeout`` for the last events: one cancel scope,
        shielded from any cancellation outside and given that deadline at the end.
        """
        with anyio.CancelScope(shield=True) as scope:
            await self._close_and_deliver(deliver, scope)
        self._closed.set()
        if self.writer is not None:
            self.writer.closed()
        if self._pong_waiter is not None:
            self._pong_waiter[1].set()  # the keepalive task ends

    async def _close_and_deliver(self, deliver: Deliver, scope: anyio.CancelScope) -> None:
        protocol, stream = self.protocol, self._stream
        assert stream is not None
        if self._inline is not None:
            self._inline.release()
            self._inline = None
        if protocol.failed or self._abort_error is not None:
            # A live server that broke the protocol gets our Close frame and
            # then our end of TCP (RFC 6455 7.1.7) within close_timeout; a
            # connection cut for a timeout gets one brief try.
            graceful = self._abort_error is None
            with anyio.move_on_after(self.close_timeout if graceful else 1.0):
                try:
                    assert self.writer is not None
                    await self.writer.send_pending()
                    if graceful:
                        await _half_close_and_drain(stream)
                except Exception:
                    pass
        if isinstance(stream, SocketStream):
            await stream.aclose()  # plain TCP closes at once (and skips a cancel scope)
        else:
            await anyio.aclose_forcefully(stream)  # TLS must not wait for close_notify
        protocol.abort(self._abort_error)
        if self.close_timeout is not None:
            scope.deadline = anyio.current_time() + self.close_timeout
        for event in protocol.events_received():
            await self._handle(event, deliver)

    async def _handle(self, event: ProtocolEvent, deliver: Deliver) -> None:
        if self._frames_trace is not None:
            self._frames_trace.event(event, self.protocol.state is State.OPEN)
        if isinstance(event, PongReceived) and self._pong_waiter is not None:
            payload, answered = self._pong_waiter
            if event.data == payload:
                answered.set()
        elif isinstance(event, CloseReceived | Failed):
            self._arm_close_timer()
        elif isinstance(event, Closed) and self.writer is not None:
            # Whatever is still queued, or was being written, never (surely) left.
            self.writer.count_unsent()
        self._delivering = True
        try:
            await deliver(event)
        finally:
            self._delivering = False

    async def _keepalive(self) -> None:
        assert self.ping_interval is not None
        try:
            while True:
                # (anyio.sleep(): waiting on _closed would give every idle
                # connection an Event; cancelling this task at the end is cheaper.)
                await anyio.sleep(self.ping_interval)
                if self.protocol.state is not State.OPEN:
                    return
                payload = os.urandom(4)
                answered = anyio.Event()
                if not self.protocol.send_ping(payload):
                    return  # the closing handshake has begun
                self._pong_waiter = (payload, answered)
                self.flush_soon()
                if self._trace is not None:
                    self._trace(">", "ping", payload, detail="keepalive")
                with anyio.move_on_after(self.ping_timeout):
                    await answered.wait()  # (set by _shutdown too)
                self._pong_waiter = None
                if self._closed.is_set():
                    return
                if not answered.is_set() and self._delivering:
                    # The reader is held up by the application (a full inbox or
                    # a slow listener): the pong may be sitting unread.
                    continue
                if not answered.is_set():
                    error = KeepaliveTimeout(
                        f"the server did not answer a keepalive ping within "
                        f"ping_timeout ({self.ping_timeout:g} s)"
                    )
                    self.protocol.fail(error, 1011, "keepalive ping timeout")
                    self.abort(error)
                    return
        except Exception as exc:
            logger.exception("wsapi: unexpected error in the keepalive task")
            self.abort(ConnectionLost(f"internal error: {exc!r}"))
        finally:
            self._keepalive_running = False
        self._reader_started = False

    def _arm_close_timer(self) -> None:
        """Give the closing handshake ``close_timeout``: a deadline on the reader's scope.

        (Not a timer task: a task per connection, and cancelling it, cost more
        than the rest of the closing handshake.) ``_reader()`` reports the
        deadline passing as ``CloseTimeout``.
        """
        if self._close_timer_armed or self.close_timeout is None or self._closed.is_set():
            return
        self._close_timer_armed = True
        deadline = anyio.current_time() + self.close_timeout
        if deadline < self._reader_scope.deadline:
            self._reader_scope.deadline = deadline

    def _close_timed_out(self) -> None:
        if self._abort_error is None:
            assert self.close_timeout is not None
            self._abort_error = CloseTimeout(
                f"the server did not complete the closing handshake within "
                f"close_timeout ({self.close_timeout:g} s)"
            )


async def _half_close_and_drain(stream: ByteStream) -> None:
    """Send FIN, then read until the server closes too.

    Closing with unread input makes the kernel send a reset, which can destroy
    the Close frame before the server reads it.
    """
    try:
        await stream.send_eof()
    except NotImplementedError:
        pass  # TLS cannot half-close; reading until EOF still helps
    while True:
        try:
            await stream.receive(READ_SIZE)
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            return
