"""``Transport``: one WebSocket connection driven over an anyio byte stream.

A protocol-blind pump around ``ClientProtocol``: it opens the stream, writes
what the protocol queues and feeds it what the socket reads, and hands every
protocol event, in order, to the ``deliver`` callback of the layer above.

This module is the connection's lifetime and the surface the ``WebSocket``
uses: the opening within ``open_timeout`` (the handshake itself is in
opening.py), which task runs what and when, ``close()``, ``abort()`` and the
end. The work is done by the parts it owns, each in a module of its own:

- the reader (reader.py) reads, feeds the protocol, delivers events; when the
  connection ends it closes the stream and delivers ``Closed``. On asyncio's
  plain TCP it reads without a task until something needs awaiting, and the
  task starts then (``_start_reader()``);
- the writer (writer.py) sends everything queued since its last write in one
  ``send()``: messages sent in the same moment share one system call;
- keepalive (keepalive.py) pings every ``ping_interval`` and fails the
  connection when no pong comes within ``ping_timeout``.

Their tasks run in the task group of the ``async with`` that opened the
connection, and none of them ever raises (an error is recorded in the
protocol and ends the connection).

Closing is a handshake: ``close()`` queues the Close frame and sets a deadline
on the reader's cancel scope (closing.py); the reader reads until the server's
Close and its end of TCP, or until the deadline, ``close_timeout`` later, cuts
the connection. Once the connection is over, every task ends by itself.
"""

from __future__ import annotations

import math
import ssl

import anyio
from anyio.abc import ByteStream, TaskGroup

from ..errors import (
    ConnectionAborted,
    ConnectionFailed,
    RedirectReceived,
    WebSocketError,
    redact_url,
)
from ..protocol.connection import ClientProtocol
from ..protocol.events import Opened, ProtocolEvent
from ..protocol.proxy import ProxySetting
from ..protocol.redirects import next_url
from ..protocol.url import WebSocketURL
from ..trace import Tracer
from .closing import Ending
from .connect import Stage, open_stream, timeout_error
from .flag import Flag
from .keepalive import Keepalive
from .opening import handshake, redirected
from .reader import Deliver, DeliverNow, Reader, Settle
from .spawn import start_soon
from .tls import default_ssl_context
from .tracing import FrameTrace, TracedStage
from .writer import Writer

__all__ = ["Transport"]


class Transport:
    """Drives one ``ClientProtocol`` over TCP (and TLS)."""

    # Slots: an instance with more than 30 attributes gets a dict of its own
    # (~1.5 KB; CPython shares the keys of up to 30), per connection.
    __slots__ = (
        "_closed",
        "_ending",
        "_frames_trace",
        "_keepalive",
        "_open_cancelled",
        "_open_scope",
        "_reader",
        "_reader_in_caller",
        "_reader_started",
        "_stream",
        "_task_group",
        "_trace",
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
        self._open_scope: anyio.CancelScope | None = None
        self._reader_started = False
        self._reader_in_caller = False  # close(caller_waits=True): wait_closed() reads
        self._open_cancelled = False
        #: We sent the first Close frame (``close()``).
        self.close_started = False
        # What the trace shows of the frames and the end (see tracing.py).
        self._frames_trace = None if trace is None else FrameTrace(trace)
        self._closed = Flag()
        # Why and when the connection ends (closing.py): abort() and close() set it.
        self._ending = Ending(close_timeout, self._closed)
        #: The write path (writer.py), made once the connection is open.
        self.writer: Writer | None = None
        # The read path (reader.py), made once the connection is open; keepalive
        # (keepalive.py), made when the tasks start if ping_interval is set.
        self._reader: Reader | None = None
        self._keepalive: Keepalive | None = None

    # -- opening ---------------------------------------------------------------

    async def open(self) -> Opened:
        """Connect and do the opening handshake within ``open_timeout``.

        Raises ``ConnectionFailed``; the protocol and the stream are closed then.
        """
        self._ending.scope = anyio.CancelScope()
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
                opened, pending = await self._open_following(stage)
                stream = self._stream
                assert stream is not None
                self.writer = Writer(
                    self.protocol, stream, closed=self._closed, on_error=self.abort
                )
                self._reader = Reader(
                    self.protocol,
                    stream,
                    self.writer,
                    self._ending,
                    pending,
                    self._frames_trace,
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

    async def _open_following(self, stage: Stage) -> tuple[Opened, list[ProtocolEvent]]:
        """Open the stream and do the handshake, again at each redirect followed.

        Each redirect gets a fresh protocol and stream: ``protocol``, ``url`` and
        ``_stream`` end as those of the last request sent (a failure closes that
        stream). Returns ``Opened`` and the events that came after it.
        """
        history = [self.url]
        while True:
            self._stream = await open_stream(
                self.url,
                self.ssl_context,
                stage,
                proxy=self.proxy,
                proxy_ssl=self.proxy_ssl,
                unix_socket=self.unix_socket,
            )
            stage.name = "http"
            try:
                return await handshake(self._stream, self.protocol, self._trace)
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
                await anyio.aclose_forcefully(self._stream)
                self._stream = None
                self._redirect(target)
                history.append(target)

    def _redirect(self, target: WebSocketURL) -> None:
        """Aim at ``target``: a new protocol, with the same options and a new key."""
        self.protocol = redirected(self.protocol, self.url, target)
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
        ``deliver_now`` (if given) takes a message at once when it can: with it
        the reader may read without its task (see reader.py).
        """
        task_group, reader, writer = self._task_group, self._reader, self.writer
        assert task_group is not None and reader is not None and writer is not None
        writer.attach(task_group)
        if self.protocol.has_data_to_send:
            # Answers to frames that came in the same read as the 101.
            writer.flush_soon()
        # The reader task starts now if something needs awaiting already; else the
        # inline receiver reads, and starts it when something does (see inline.py),
        # and so do close() and abort().
        reader.start(
            deliver, settle, deliver_now, self._start_reader, traced=self._trace is not None
        )
        if self.ping_interval is not None:
            keepalive = Keepalive(
                self.protocol,
                writer,
                reader,
                self._closed,
                self.abort,
                interval=self.ping_interval,
                timeout=self.ping_timeout,
                trace=self._trace,
            )
            # The reader tells it of pongs, and of the end.
            self._keepalive = reader.keepalive = keepalive
            keepalive.start(task_group)

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

    # -- closing -----------------------------------------------------------------

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
        self._ending.start_close_deadline()
        if (
            caller_waits
            and not self._reader_started
            and self._task_group is not None
            and self._reader is not None
            and self._reader.started
        ):
            # Reserve the reader's work for wait_closed(): a task spawned only
            # to be awaited at once costs more than the rest of the closing.
            self._reader_started = self._reader_in_caller = True
            assert self._reader is not None
            self._reader.task_coming()
            return
        self._start_reader()  # it sees the closing handshake through

    async def wait_closed(self) -> None:
        if self._reader_in_caller:
            self._reader_in_caller = False
            assert self._reader is not None
            await self._reader.run()
        await self._closed.wait()

    @property
    def is_closed(self) -> bool:
        return self._closed.is_set()

    @property
    def tasks_end_by_themselves(self) -> bool:
        """The connection is over and no task of it sleeps: no need to cancel them."""
        keepalive = self._keepalive
        return self._closed.is_set() and (keepalive is None or not keepalive.running)

    def set_abort_reason(self, error: WebSocketError) -> None:
        """What the application will be told if the connection is cut now."""
        self._ending.set_abort_reason(error)

    def set_task_cancelled(self) -> None:
        """The task running the connection was cancelled: that is why it is cut."""
        self._ending.task_cancelled()

    def abort(self, error: WebSocketError) -> None:
        """Cut the connection now (keepalive or close timeout, a write error)."""
        self._ending.set_abort_reason(error)
        self._ending.scope.cancel()
        self._start_reader()  # it shuts the connection down

    def _start_reader(self) -> None:
        """Start the reader task, once.

        On asyncio's plain TCP an open connection needs no task while it is
        idle: the inline receiver parses and queues messages as they come. A
        task, its cancel scopes and its coroutine cost about 2 KB per idle
        connection, so it starts when there is something to await: an async listener,
        a full inbox, the closing handshake, a failure.
        """
        reader = self._reader
        if self._reader_started or self._task_group is None or reader is None:
            return
        if not reader.started:
            # An `open` listener closed the connection before start(): start()
            # starts the task, seeing the closing handshake under way.
            return
        self._reader_started = True
        reader.task_coming()
        start_soon(self._task_group, reader.run, "wsapi reader")

    async def finish(self) -> None:
        """End the connection in the caller's task if the reader task never started.

        The ``async with`` calls this before cancelling the connection's task
        group: a task cancelled before its first step would not run its clean-up.
        """
        reader = self._reader
        if self._reader_started or self._closed.is_set() or reader is None or not reader.started:
            return
        self._reader_started = True
        await reader.shutdown()
