"""``reconnecting()``: a WebSocket that comes back when the connection drops.

Shape
-----
::

    async with wsapi.reconnecting(url) as connections:
        async for ws in connections:
            ...  # ws is open; the block runs while you use this connection

Each ``ws`` is a ``WebSocket`` already inside its own ``async with``: it runs in
a task of the task group that ``async with reconnecting(...)`` opens, so no
task outlives that block, whichever way it ends. The body of the loop is the
body of that connection's ``async with``: when it ends, the connection is closed
(1000, if still open) and the next iteration connects again. So the body
usually runs until the connection closes: ``async for data in ws`` (which raises
``ConnectionClosed`` on an abnormal close: catch it and ``continue``) or
``await ws.wait_closed()`` with listeners. ``break`` leaves the loop, and the
connection is closed when the ``async with`` block ends.

Python gives an ``async for`` no way to notice a ``break``, and a connection
needs running tasks: that is why the loop runs inside ``async with``, and
``async for`` over a ``reconnecting()`` that was not entered is an error.

Retries
-------
Opening is retried, after a delay, when a retry can help: refused, unreachable,
DNS failures, timeouts, a connection closed during the handshake, HTTP 429 and
5xx (a ``Retry-After`` header is honoured). It stops, raising the error, when
it cannot: other 4xx answers, redirects, TLS and certificate errors, an answer
that is not a WebSocket accept (a subprotocol mismatch included). The delay is
exponential with full jitter: a random duration between 0 and
``min(max_delay, initial_delay * factor ** (n - 1))`` before the n-th retry.

A connection that closes (however it closes: the body sees how and can
``break``) is followed by a reconnection after such a delay, n counting the
connections in a row that lasted less than ``max_delay``; after a longer one,
n starts again at 1. The delay keeps a fleet of clients from coming back all
at once after a server restart. When your code ended the connection (the
body ended while it was open, or called ``ws.close()``), the next one opens
at once.
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import anyio
from anyio.abc import TaskGroup, TaskStatus

from .errors import (
    ConnectionFailed,
    InvalidHandshake,
    ProxyAuthRequired,
    ProxyTLSError,
    SOCKSError,
    TLSError,
    redact_url,
)
from .events import Event, EventHandler, EventTarget, _Entry, _Listener
from .response import Response
from .websocket import WebSocket

__all__ = ["Backoff", "Reconnecting", "is_transient", "reconnecting", "retry_after"]

logger = logging.getLogger("wsapi")

#: The events a ``WebSocket`` fires: listeners for them on ``Reconnecting`` carry over.
_EVENT_TYPES = ("open", "message", "error", "close")


def reconnecting(
    url: str,
    protocols: str | Sequence[str] | None = None,
    *,
    initial_delay: float = 1.0,
    factor: float = 2.0,
    max_delay: float = 60.0,
    max_attempts: int | None = None,
    **options: Any,
) -> Reconnecting:
    """Connect to ``url``, and connect again each time the connection ends.

    Takes ``WebSocket``'s arguments and keyword options (checked now, without
    I/O), and the backoff's: ``initial_delay``, ``factor`` and ``max_delay`` in
    seconds, ``max_attempts`` (failed attempts in a row before giving up with
    the last error; ``None`` retries for ever). Use it as::

        async with reconnecting(url) as connections:
            async for ws in connections:
                ...

    >>> connections = reconnecting("ws://127.0.0.1:8765/feed", initial_delay=0.5)
    >>> connections.url
    'ws://127.0.0.1:8765/feed'
    """
    return Reconnecting(
        url,
        protocols,
        initial_delay=initial_delay,
        factor=factor,
        max_delay=max_delay,
        max_attempts=max_attempts,
        **options,
    )


@dataclass
class Backoff:
    """How long to wait before the next attempt: exponential, with full jitter.

    ``failures`` counts the attempts in a row that failed; the next delay is a
    random duration between 0 and ``ceiling()``.

    >>> backoff = Backoff(initial_delay=1.0, factor=2.0, max_delay=5.0)
    >>> ceilings = []
    >>> for _ in range(5):
    ...     backoff.failed()
    ...     ceilings.append(backoff.ceiling())
    >>> ceilings
    [1.0, 2.0, 4.0, 5.0, 5.0]
    >>> backoff.reset()
    >>> backoff.ceiling()
    0.0
    """

    initial_delay: float = 1.0
    factor: float = 2.0
    max_delay: float = 60.0
    rand: Callable[[], float] = field(default=random.random, repr=False)
    failures: int = 0

    def failed(self) -> None:
        """One more failure in a row."""
        self.failures += 1

    def reset(self) -> None:
        """A success: the next attempt goes at once."""
        self.failures = 0

    def ceiling(self) -> float:
        """The longest the next delay may be (0 after a success)."""
        if self.failures == 0:
            return 0.0
        try:
            ceiling = self.initial_delay * self.factor ** (self.failures - 1)
        except OverflowError:
            return self.max_delay
        return min(self.max_delay, ceiling)

    def delay(self) -> float:
        """The next delay: uniformly random between 0 and ``ceiling()`` ("full jitter")."""
        return self.rand() * self.ceiling()


#: SOCKS5 replies a retry cannot change: not allowed by the ruleset, command or address
#: type not supported (RFC 1928 section 6).
_SOCKS_REFUSALS = frozenset({0x02, 0x07, 0x08})


def is_transient(error: BaseException) -> bool:
    """Whether another attempt may succeed where ``error`` failed to open a connection.

    Yes for network failures, timeouts, and HTTP 429 and 5xx answers; no for
    other statuses (4xx, redirects), TLS and certificate errors, and answers
    that are not a valid WebSocket accept.

    >>> from wsapi.errors import ConnectionRefused, InvalidStatus
    >>> is_transient(ConnectionRefused("ws://a/", "refused"))
    True
    >>> is_transient(InvalidStatus("ws://a/", "no", response=Response(503)))
    True
    >>> is_transient(InvalidStatus("ws://a/", "no", response=Response(403)))
    False
    >>> from wsapi.errors import ProxyAuthRequired
    >>> is_transient(ProxyAuthRequired("ws://a/", "wrong password", proxy="socks5://p:1080"))
    False
    """
    if not isinstance(error, ConnectionFailed):
        return False
    if error.response is not None and error.response.status != 101:
        status = error.response.status
        return status == 429 or 500 <= status <= 599
    if isinstance(error, TLSError | InvalidHandshake | ProxyAuthRequired | ProxyTLSError):
        return False  # credentials, certificates and protocols do not fix themselves
    if isinstance(error, SOCKSError) and error.reply_code in _SOCKS_REFUSALS:
        return False
    cause: BaseException | None = error
    while cause is not None:  # a certificate refused on the way (by a proxy, say)
        if isinstance(cause, ssl.SSLCertVerificationError):
            return False
        cause = cause.__cause__
    return True


def retry_after(response: Response | None, now: float | None = None) -> float | None:
    """The seconds a ``Retry-After`` header asks to wait (``None`` when absent or invalid).

    >>> retry_after(Response(429, headers=(("Retry-After", "120"),)))
    120.0
    >>> retry_after(Response(503, headers=(("Retry-After", "Wed, 21 Oct 2015 07:28:10 GMT"),)),
    ...             now=1445412480.0)
    10.0
    """
    if response is None:
        return None
    value = (response.header("Retry-After") or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass(eq=False)
class _Connection:
    """One ``WebSocket``, run by ``Reconnecting._run`` in the task group."""

    ws: WebSocket
    release: anyio.Event = field(default_factory=anyio.Event)  # the body is over
    done: anyio.Event = field(default_factory=anyio.Event)  # ``async with ws`` has ended
    opened_at: float = 0.0  # time.time() when it opened


class Reconnecting(EventTarget):
    """The connections of ``reconnecting()``: enter it, then iterate over it.

    Listeners added here (``addEventListener()``, ``onopen``, ``onmessage``,
    ``onerror``, ``onclose``) are called for the events of every connection,
    failed attempts included, after the connection's own listeners;
    ``event.target`` is that connection's ``WebSocket``. While a ``message``
    listener is registered here, messages go to listeners, not to ``recv()``.
    """

    onopen = EventHandler("open")
    onmessage = EventHandler("message")
    onerror = EventHandler("error")
    onclose = EventHandler("close")

    def __init__(
        self,
        url: str,
        protocols: str | Sequence[str] | None = None,
        *,
        initial_delay: float = 1.0,
        factor: float = 2.0,
        max_delay: float = 60.0,
        max_attempts: int | None = None,
        **options: Any,
    ) -> None:
        super().__init__()
        for name, value in (("initial_delay", initial_delay), ("max_delay", max_delay)):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"{name} must be a number of seconds")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be 0 or more seconds, not {value!r}")
        if isinstance(factor, bool) or not isinstance(factor, int | float):
            raise TypeError("factor must be a number")
        if not math.isfinite(factor) or factor < 1:
            raise ValueError(f"factor must be 1 or more, not {factor!r}")
        if max_attempts is not None and (
            isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1
        ):
            raise ValueError(f"max_attempts must be a positive int or None, not {max_attempts!r}")
        # The first WebSocket checks the arguments now, as the constructor does.
        self._next: WebSocket | None = WebSocket(url, protocols, **options)
        self._href = self._next.url
        self._url = url
        self._protocols = protocols
        self._options = options
        self.max_attempts = max_attempts
        self._backoff = Backoff(initial_delay, factor, max_delay)
        self._failed_opens = 0  # attempts in a row that failed to open
        self._delay: float = 0.0  # before the next attempt
        self._task_group: TaskGroup | None = None
        self._entered = False
        self._finished = False
        self._current: _Connection | None = None
        self._sockets: list[WebSocket] = []  # connecting or connected: they get the listeners

    @property
    def url(self) -> str:
        """The URL connected to, normalised: the ``url`` of every ``WebSocket``."""
        return self._href

    @property
    def websocket(self) -> WebSocket | None:
        """The connection yielded last while its iteration runs; ``None`` between connections."""
        return None if self._current is None else self._current.ws

    def __repr__(self) -> str:
        return f"<Reconnecting url={redact_url(self.url)!r}>"

    # -- async with ------------------------------------------------------------

    async def __aenter__(self) -> Reconnecting:
        if self._entered:
            raise RuntimeError("reconnecting() is entered once: create a new one")
        self._entered = True
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        task_group = self._task_group
        assert task_group is not None
        self._finished = True
        current, self._current = self._current, None
        try:
            if current is not None and not isinstance(exc, anyio.get_cancelled_exc_class()):
                # The closing handshake, bounded by the connection's close_timeout.
                current.release.set()
                await current.done.wait()
        finally:
            # As WebSocket does: end the tasks without wrapping the body's exception.
            task_group.cancel_scope.shield = True
            task_group.cancel_scope.cancel()
            await task_group.__aexit__(None, None, None)

    # -- async for -------------------------------------------------------------

    def __aiter__(self) -> Reconnecting:
        if self._task_group is None:
            raise RuntimeError(
                "reconnecting() runs its connections in a task group: use "
                "`async with wsapi.reconnecting(url) as connections:`, then "
                "`async for ws in connections:` inside the block"
            )
        return self

    async def __anext__(self) -> WebSocket:
        if self._task_group is None:
            self.__aiter__()  # raises the explanation
        if self._finished:
            raise StopAsyncIteration
        if self._current is not None:
            await self._end(self._current)
        while True:
            if self._delay > 0:
                await anyio.sleep(self._delay)
            connection = _Connection(self._new_websocket())
            try:
                await self._open(connection)
            except ConnectionFailed as exc:
                self._retry_or_raise(exc)
                continue
            self._failed_opens = 0
            self._delay = 0.0
            self._current = connection
            return connection.ws

    def _new_websocket(self) -> WebSocket:
        ws, self._next = self._next, None
        if ws is None:
            ws = WebSocket(self._url, self._protocols, **self._options)
        for type in _EVENT_TYPES:
            if self._has_listeners(type):
                ws.addEventListener(type, self._forward)
        return ws

    async def _open(self, connection: _Connection) -> None:
        assert self._task_group is not None
        self._sockets.append(connection.ws)  # _run() takes it off the list when done
        await self._task_group.start(self._run, connection)

    async def _run(
        self, connection: _Connection, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """The connection's ``async with``, in a task of its own: the body runs in the caller's."""
        try:
            async with connection.ws:
                connection.opened_at = time.time()
                task_status.started()
                await connection.release.wait()
        finally:
            connection.done.set()
            if connection.ws in self._sockets:
                self._sockets.remove(connection.ws)

    async def _end(self, connection: _Connection) -> None:
        """The body is over: close the connection if it is open, and choose the next delay."""
        self._current = None
        ws = connection.ws
        # Still open (leaving ``async with ws`` closes it with 1000), or closed by ws.close().
        ended_by_body = ws.readyState == WebSocket.OPEN or ws._transport.close_started
        connection.release.set()
        await connection.done.wait()
        close = await connection.ws.wait_closed()
        backoff = self._backoff
        if ended_by_body:
            backoff.reset()
        else:
            lasted = close.timeStamp / 1000 - connection.opened_at
            if lasted >= backoff.max_delay:
                backoff.reset()  # a stable connection: start the backoff again
            backoff.failed()
        self._delay = backoff.delay()
        if self._delay > 0:
            logger.info(
                "wsapi: connection to %s closed (%d); reconnecting in %.2f s",
                redact_url(connection.ws.url),
                close.code,
                self._delay,
            )

    def _retry_or_raise(self, error: ConnectionFailed) -> None:
        """After a failed attempt: raise ``error`` unless a retry may help; set the delay."""
        self._failed_opens += 1
        if not is_transient(error):
            self._finished = True
            raise error
        if self.max_attempts is not None and self._failed_opens >= self.max_attempts:
            self._finished = True
            note = f"wsapi.reconnecting() gave up after {self._failed_opens} failed attempts"
            add_note = getattr(error, "add_note", None)
            if add_note is not None:  # Python 3.11+
                add_note(note)
            raise error
        self._backoff.failed()
        self._delay = self._backoff.delay()
        wait = retry_after(error.response)
        if wait is not None:
            self._delay = max(self._delay, wait)
        logger.info("wsapi: %s; retrying in %.2f s", error, self._delay)

    # -- listeners ---------------------------------------------------------------

    async def _forward(self, event: Event) -> None:
        """A connection's event, to the listeners registered here."""
        entries = self._listeners.get(event.type)
        if not entries:
            return
        current_target = event.currentTarget
        event.currentTarget = self
        try:
            await self._call_listeners(event, entries)
        finally:
            event.currentTarget = current_target

    def _sync_listeners(self) -> None:
        """A listener came or went: the live connections forward exactly the types listened to."""
        for ws in self._sockets:
            for type in _EVENT_TYPES:
                if self._has_listeners(type):
                    ws.addEventListener(type, self._forward)
                else:
                    ws.removeEventListener(type, self._forward)

    def addEventListener(
        self,
        type: str,
        listener: _Listener | None,
        options: bool | Mapping[str, Any] | None = None,
        *,
        once: bool = False,
    ) -> None:
        """As ``WebSocket.addEventListener()``, for the events of every connection."""
        super().addEventListener(type, listener, options, once=once)
        self._sync_listeners()

    def removeEventListener(
        self,
        type: str,
        listener: _Listener | None,
        options: bool | Mapping[str, Any] | None = None,
    ) -> None:
        super().removeEventListener(type, listener, options)
        self._sync_listeners()

    def _set_handler(self, type: str, handler: Callable[..., object] | None) -> None:
        super()._set_handler(type, handler)
        self._sync_listeners()

    def _remove(self, type: str, entry: _Entry) -> None:
        super()._remove(type, entry)
        self._sync_listeners()

    def _spawn(self, awaitable: Awaitable[object]) -> None:
        """Async listeners called through ``dispatchEvent()`` run in the task group."""
        if self._task_group is None or self._finished:
            super()._spawn(awaitable)
            return
        self._task_group.start_soon(self._await_listener, awaitable)
