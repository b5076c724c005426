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

Closing is a handshake: ``close()`` queues the Close frame and arms a timer;
the reader reads until the server's Close and its end of TCP, or until the
timer gives up after ``close_timeout`` and cuts the connection.
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Awaitable, Callable

import anyio
from anyio.abc import ByteStream, TaskGroup

from ..errors import (
    CloseTimeout,
    ConnectionAborted,
    ConnectionFailed,
    ConnectionLost,
    KeepaliveTimeout,
    ProtocolError,
    WebSocketError,
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
from ..protocol.url import WebSocketURL
from ..response import Response
from ..trace import Tracer
from .connect import Stage, open_stream, timeout_error

__all__ = ["Transport"]

logger = logging.getLogger("wsapi")

Deliver = Callable[[ProtocolEvent], Awaitable[None]]
#: Waits until the application has handled the messages delivered so far.
Settle = Callable[[], Awaitable[None]]

#: How much one read asks for: large reads parse many frames per wake-up.
READ_SIZE = 256 * 1024


class Transport:
    """Drives one ``ClientProtocol`` over TCP (and TLS)."""

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
    ) -> None:
        self.protocol = protocol
        self._trace = trace
        self.url = url
        self.ssl_context = ssl_context
        self.open_timeout = open_timeout
        self.close_timeout = close_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        #: Bytes of application data accepted by ``send()`` and not yet written.
        self.buffered_amount = 0
        self._unwritten = 0  # the part of buffered_amount queued since the last write
        self._stream: ByteStream | None = None
        self._task_group: TaskGroup | None = None
        self._deliver: Deliver | None = None
        self._settle: Settle | None = None
        self._pending: list[ProtocolEvent] = []
        self._open_scope: anyio.CancelScope | None = None
        self._abort_error: WebSocketError | None = None
        self._pong_waiter: tuple[bytes, anyio.Event] | None = None
        self._close_timer_armed = False
        self._open_cancelled = False
        self._delivering = False  # the reader is waiting for the application
        self._close_started = False  # we sent the first Close frame
        # anyio's primitives need a running event loop: open() creates them.
        self._write_wanted: anyio.Event
        self._closed: anyio.Event
        self._reader_scope: anyio.CancelScope
        self._send_lock: anyio.Lock

    # -- opening ---------------------------------------------------------------

    async def open(self) -> Opened:
        """Connect and do the opening handshake within ``open_timeout``.

        Raises ``ConnectionFailed``; the protocol and the stream are closed then.
        """
        self._write_wanted = anyio.Event()
        self._closed = anyio.Event()
        self._reader_scope = anyio.CancelScope()
        # trio forbids two tasks sending on one stream at once.
        self._send_lock = anyio.Lock()
        stage = Stage() if self._trace is None else _TracedStage(self._trace)
        try:
            if self._open_cancelled:
                raise ConnectionAborted(
                    self.url.href, "close() was called before the connection was established"
                )
            with anyio.CancelScope() as self._open_scope:
                with anyio.fail_after(self.open_timeout):
                    opened = await self._open(stage)
                return opened
            # Only close() during the opening cancels _open_scope.
            raise ConnectionAborted(
                self.url.href,
                "close() was called before the connection was established",
                stage=stage.name,
            )
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
        self._stream = await open_stream(self.url, self.ssl_context, stage)
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
                        _trace_response(trace, event.response)
                    return event
                if isinstance(event, HandshakeFailed):
                    if trace is not None and event.error.response is not None:
                        _trace_response(trace, event.error.response)
                    if cause is not None:
                        raise event.error from cause
                    raise event.error

    def cancel_open(self) -> None:
        """``close()`` while connecting: give up the attempt."""
        self._open_cancelled = True
        if self._open_scope is not None:
            self._open_scope.cancel()

    # -- running ---------------------------------------------------------------

    def attach(self, task_group: TaskGroup) -> None:
        """The task group the connection's tasks (and close timer) will run in."""
        self._task_group = task_group

    def start(self, deliver: Deliver, settle: Settle | None = None) -> None:
        """Start the reader, writer and keepalive tasks in the attached task group.

        ``deliver`` takes each event in order; ``settle`` (if given) returns once
        the application has handled the messages delivered so far: a protocol
        error found after them waits for it, so replies precede the Close frame.
        """
        task_group = self._task_group
        assert task_group is not None
        self._deliver = deliver
        self._settle = settle
        if self.protocol.has_data_to_send:
            # Answers to frames that came in the same read as the 101.
            self._write_wanted.set()
        task_group.start_soon(self._reader, name="wsapi reader")
        task_group.start_soon(self._writer, name="wsapi writer")
        if self.ping_interval is not None:
            task_group.start_soon(self._keepalive, name="wsapi keepalive")

    def queued(self, amount: int) -> None:
        """``send()`` queued ``amount`` bytes of application data in the protocol."""
        self.buffered_amount += amount
        self._unwritten += amount
        self._write_wanted.set()

    def flush_soon(self) -> None:
        """The protocol has bytes to write (a control frame)."""
        self._write_wanted.set()

    def close(self, code: int | None, reason: str) -> None:
        """Start the closing handshake (the caller checked the state)."""
        self._close_started = True
        self.protocol.send_close(code, reason)
        if self._trace is not None:
            self._trace(">", "close", code=code, reason=reason)
        self.flush_soon()
        self._arm_close_timer()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    @property
    def is_closed(self) -> bool:
        return self._closed.is_set()

    def set_abort_reason(self, error: WebSocketError) -> None:
        """What the application will be told if the connection is cut now."""
        if self._abort_error is None:
            self._abort_error = error

    def abort(self, error: WebSocketError) -> None:
        """Cut the connection now (keepalive or close timeout, a write error)."""
        if self._abort_error is None:
            self._abort_error = error
        self._reader_scope.cancel()

    # -- the tasks -------------------------------------------------------------

    async def _reader(self) -> None:
        assert self._stream is not None and self._deliver is not None
        protocol, stream, deliver = self.protocol, self._stream, self._deliver
        try:
            with self._reader_scope:
                events, self._pending = self._pending, []
                for event in events:
                    await self._handle(event, deliver)
                await self._fail_when_settled()
                while protocol.state is not State.CLOSED:
                    if protocol.failed:
                        break
                    try:
                        data = await stream.receive(READ_SIZE)
                    except anyio.EndOfStream:
                        protocol.receive_eof()
                    except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
                        protocol.abort(ConnectionLost(f"the connection was lost ({exc!r})"))
                    else:
                        protocol.receive_data(data)
                    if protocol.has_data_to_send:
                        self._write_wanted.set()
                    for event in protocol.events_received():
                        await self._handle(event, deliver)
                    await self._fail_when_settled()
        except Exception as exc:  # a bug, or a listener's BaseException-free error
            logger.exception("wsapi: unexpected error in the reader task")
            self._abort_error = self._abort_error or ConnectionLost(f"internal error: {exc!r}")
        finally:
            with anyio.CancelScope(shield=True):
                await self._shutdown(deliver)

    async def _fail_when_settled(self) -> None:
        """Commit a pending protocol error once the application answered what came before."""
        protocol = self.protocol
        if not protocol.failure_pending:
            return
        if self._settle is not None:
            with anyio.move_on_after(self.close_timeout):
                await self._settle()
        protocol.commit_failure()
        for event in protocol.events_received():
            assert self._deliver is not None
            await self._handle(event, self._deliver)

    async def _shutdown(self, deliver: Deliver) -> None:
        """Close the stream, then deliver what is left, ``Closed`` last."""
        protocol, stream = self.protocol, self._stream
        assert stream is not None
        if protocol.failed or self._abort_error is not None:
            # A live server that broke the protocol gets our Close frame and
            # then our end of TCP (RFC 6455 7.1.7) within close_timeout; a
            # connection cut for a timeout gets one brief try.
            graceful = self._abort_error is None
            with anyio.move_on_after(self.close_timeout if graceful else 1.0):
                try:
                    await self._send_pending(stream)
                    if graceful:
                        await _half_close_and_drain(stream)
                except Exception:
                    pass
        await anyio.aclose_forcefully(stream)
        protocol.abort(self._abort_error)
        events = protocol.events_received()
        with anyio.move_on_after(self.close_timeout):
            for event in events:
                await self._handle(event, deliver)
        self._closed.set()

    async def _send_pending(self, stream: ByteStream) -> None:
        # Taking the bytes inside the lock keeps frames in order between the
        # writer and the shutdown path.
        async with self._send_lock:
            data = self.protocol.data_to_send()
            if data:
                await stream.send(data)

    async def _handle(self, event: ProtocolEvent, deliver: Deliver) -> None:
        if self._trace is not None:
            self._trace_event(self._trace, event)
        if isinstance(event, PongReceived) and self._pong_waiter is not None:
            payload, answered = self._pong_waiter
            if event.data == payload:
                answered.set()
        elif isinstance(event, CloseReceived | Failed):
            self._arm_close_timer()
        self._delivering = True
        try:
            await deliver(event)
        finally:
            self._delivering = False

    def _trace_event(self, trace: Tracer, event: ProtocolEvent) -> None:
        if isinstance(event, MessageReceived):
            kind = "text" if isinstance(event.data, str) else "binary"
            trace("<", kind, event.data)
        elif isinstance(event, PingReceived):
            trace("<", "ping", event.data)
            if self.protocol.state is State.OPEN:
                trace(">", "pong", event.data, detail="automatic")
        elif isinstance(event, PongReceived):
            trace("<", "pong", event.data)
        elif isinstance(event, CloseReceived):
            code = None if event.code == 1005 else event.code
            trace("<", "close", code=code, reason=event.reason)
            if not self._close_started:
                trace(">", "close", code=code, reason=event.reason, detail="echo")
        elif isinstance(event, Failed):
            trace("=", "error", detail=str(event.error))
            if event.code is not None:
                trace(">", "close", code=None if event.code == 1005 else event.code)
        elif isinstance(event, Closed):
            if event.error is not None and not isinstance(event.error, ProtocolError):
                trace("=", "error", detail=str(event.error))
            trace("=", "closed", code=event.code, reason=event.reason)

    async def _writer(self) -> None:
        assert self._stream is not None
        protocol, stream = self.protocol, self._stream
        try:
            while not self._closed.is_set():
                await self._write_wanted.wait()
                self._write_wanted = anyio.Event()
                async with self._send_lock:
                    data = protocol.data_to_send()
                    written, self._unwritten = self._unwritten, 0
                    if data:
                        await stream.send(data)
                self.buffered_amount -= written
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            self.abort(ConnectionLost(f"the connection was lost while sending ({exc!r})"))
        except Exception as exc:
            logger.exception("wsapi: unexpected error in the writer task")
            self.abort(ConnectionLost(f"internal error: {exc!r}"))

    async def _keepalive(self) -> None:
        assert self.ping_interval is not None
        try:
            while True:
                await anyio.sleep(self.ping_interval)
                if self.protocol.state is not State.OPEN:
                    return
                payload = os.urandom(4)
                answered = anyio.Event()
                self._pong_waiter = (payload, answered)
                self.protocol.send_ping(payload)
                self.flush_soon()
                if self._trace is not None:
                    self._trace(">", "ping", payload, detail="keepalive")
                with anyio.move_on_after(self.ping_timeout):
                    await answered.wait()
                self._pong_waiter = None
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

    def _arm_close_timer(self) -> None:
        if self._close_timer_armed or self._task_group is None or self._closed.is_set():
            return
        self._close_timer_armed = True
        self._task_group.start_soon(self._close_timer, name="wsapi close timer")

    async def _close_timer(self) -> None:
        if self.close_timeout is None:
            return
        await anyio.sleep(self.close_timeout)
        if not self._closed.is_set():
            self.abort(
                CloseTimeout(
                    f"the server did not complete the closing handshake within "
                    f"close_timeout ({self.close_timeout:g} s)"
                )
            )


class _TracedStage(Stage):
    """A ``Stage`` that reports each stage as it begins."""

    _trace: Tracer

    def __init__(self, trace: Tracer) -> None:
        object.__setattr__(self, "_trace", trace)
        super().__init__()

    def __setattr__(self, name: str, value: object) -> None:
        changed = self.__dict__.get(name) != value
        super().__setattr__(name, value)
        if changed and name == "name":
            self._trace("=", "stage", detail=str(value))
        elif changed and name == "address" and value:
            self._trace("=", "stage", detail=f"tcp connect {value}")


def _trace_response(trace: Tracer, response: Response) -> None:
    trace(
        "<",
        "response",
        code=response.status,
        reason=response.reason,
        headers=response.headers,
        detail=response.status_line,
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
