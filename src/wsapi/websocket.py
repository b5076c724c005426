"""``WebSocket``: the browser's WebSocket API, on asyncio and trio.

The facade holds no protocol logic: the constructor validates its arguments
(no I/O), ``async with`` opens a task group and the transport, and the
transport's events become DOM events here, in the order they happened:
``open``, ``message``..., (``error``), ``close``.
"""

from __future__ import annotations

import base64
import functools
import logging
import math
import ssl as _ssl
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from os import PathLike
from types import TracebackType
from typing import Literal

import anyio
from anyio.abc import TaskGroup

from .errors import (
    ConnectionClosed,
    ConnectionFailed,
    ConnectionLost,
    DOMException,
    WebSocketError,
    redact_url,
)
from .events import (
    CloseEvent,
    ErrorEvent,
    Event,
    EventHandler,
    EventTarget,
    MessageEvent,
    close_awaitable,
)
from .protocol.connection import ClientProtocol
from .protocol.events import (
    Closed,
    CloseReceived,
    Failed,
    MessageReceived,
    ProtocolEvent,
)
from .protocol.handshake import HandshakeRequest
from .protocol.proxy import proxy_option, unix_socket_option
from .protocol.redirects import redirect_limit
from .protocol.url import WebSocketURL, parse_url, validate_protocols
from .trace import TraceEvent, Tracer
from .transport.connection import Transport
from .transport.flag import Flag
from .transport.inbox import Inbox, InboxClosed
from .transport.library import in_asyncio_context, library_known
from .transport.tls import default_ssl_context
from .version import __version__

__all__ = ["WebSocket"]

logger = logging.getLogger("wsapi")

HeadersLike = Mapping[str, str] | Iterable[tuple[str, str]]

_BINARY_TYPES = frozenset({"bytes", "arraybuffer", "blob"})
_STATE_NAMES = ("CONNECTING", "OPEN", "CLOSING", "CLOSED")
DEFAULT_USER_AGENT = (
    f"wsapi/{__version__} (Python {sys.version_info.major}.{sys.version_info.minor})"
)


class WebSocket(EventTarget):
    """A WebSocket connection, as in the browser, opened by ``async with``.

    >>> ws = WebSocket("ws://127.0.0.1:8765/chat", ["chat.v1"])
    >>> ws.url, ws.readyState == WebSocket.CONNECTING
    ('ws://127.0.0.1:8765/chat', True)

    ``async with ws:`` connects (in the current asyncio or trio task), fires
    ``open`` and runs the body with ``readyState == OPEN``; leaving the block
    closes with 1000 and waits for the closing handshake.
    """

    CONNECTING: Literal[0] = 0
    OPEN: Literal[1] = 1
    CLOSING: Literal[2] = 2
    CLOSED: Literal[3] = 3

    onopen = EventHandler("open")
    onmessage = EventHandler("message")
    onerror = EventHandler("error")
    onclose = EventHandler("close")

    def __init__(
        self,
        url: str,
        protocols: str | Sequence[str] | None = None,
        *,
        headers: HeadersLike | None = None,
        origin: str | None = None,
        ssl: _ssl.SSLContext | None = None,
        open_timeout: float | None = 10.0,
        close_timeout: float | None = 10.0,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        max_message_size: int | None = 16 * 2**20,
        compression: Literal["deflate"] | None = "deflate",
        user_agent: str | None = None,
        max_queue: int = 16,
        trace: Callable[[TraceEvent], object] | None = None,
        proxy: str | Literal[True] | None = True,
        proxy_ssl: _ssl.SSLContext | None = None,
        unix_socket: str | PathLike[str] | None = None,
        follow_redirects: bool | int = False,
        write_limit: int = 64 * 1024,
    ) -> None:
        super().__init__()
        if not isinstance(url, str):
            raise TypeError(f"url must be a str, not {type(url).__name__}")
        parsed = parse_url(url)
        self._protocols = validate_protocols(protocols)
        for name, value in (
            ("open_timeout", open_timeout),
            ("close_timeout", close_timeout),
            ("ping_interval", ping_interval),
            ("ping_timeout", ping_timeout),
        ):
            _check_duration(name, value)
        if max_message_size is not None and (
            not isinstance(max_message_size, int) or max_message_size < 1
        ):
            raise ValueError("max_message_size must be a positive int or None")
        if compression not in ("deflate", None):
            raise ValueError(f"compression must be 'deflate' or None, not {compression!r}")
        if isinstance(write_limit, bool) or not isinstance(write_limit, int) or write_limit < 0:
            raise ValueError("write_limit must be an int >= 0 (bytes)")
        self._write_limit = write_limit
        if not isinstance(max_queue, int) or max_queue < 1:
            raise ValueError("max_queue must be a positive int")
        if ssl is not None and not isinstance(ssl, _ssl.SSLContext):
            raise TypeError("ssl must be an ssl.SSLContext or None")
        max_redirects = redirect_limit(follow_redirects)
        # With follow_redirects, ssl= may serve the wss:// URLs a ws:// one redirects to.
        if ssl is not None and not parsed.secure and not max_redirects:
            raise ValueError(f"ssl= was given for a ws:// URL ({parsed.href}): use wss://")
        unix_path = unix_socket_option(unix_socket)
        proxy_setting = proxy_option(proxy, unix_socket=unix_path)
        if proxy_ssl is not None and not isinstance(proxy_ssl, _ssl.SSLContext):
            raise TypeError("proxy_ssl must be an ssl.SSLContext or None")

        self._url = parsed
        self._origin = f"{'wss' if parsed.secure else 'ws'}://{parsed.host}"
        request = HandshakeRequest(
            url=parsed.href,
            host=parsed.host,
            resource=parsed.resource,
            subprotocols=self._protocols,
            headers=_headers(headers, parsed),
            origin=origin,
            user_agent=DEFAULT_USER_AGENT if user_agent is None else (user_agent or None),
            compression=compression is not None,
        )
        try:
            self._protocol = ClientProtocol(request, max_message_size=max_message_size)
        except ValueError as exc:
            raise ValueError(str(exc)) from None
        context = (ssl or default_ssl_context()) if parsed.secure else ssl
        if trace is not None and not callable(trace):
            raise TypeError("trace must be a callable taking a wsapi.trace.TraceEvent")
        self._tracer = None if trace is None else Tracer(trace, time.monotonic)
        self._transport = Transport(
            self._protocol,
            parsed,
            ssl_context=context,
            open_timeout=open_timeout,
            close_timeout=close_timeout,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            trace=self._tracer,
            proxy=proxy_setting,
            proxy_ssl=proxy_ssl,
            unix_socket=unix_path,
            max_redirects=max_redirects,
        )
        self._max_queue = max_queue
        # anyio's primitives need a running event loop: __aenter__ creates them.
        self._inbox: Inbox
        self._closed = Flag()
        self._ready_state: int = WebSocket.CONNECTING
        self._binary_type = "bytes"
        self._dropped = 0  # bytes passed to send() once closing: never sent
        self._dropped_messages = 0
        self._task_group: TaskGroup | None = None
        self._entered = False
        self._close_event: CloseEvent | None = None
        self._close_error: WebSocketError | None = None
        # Messages dispatched in an event loop callback (_deliver_now): the listeners
        # last checked, whether none of them is async, and a dispatch left half-done.
        self._checked_listeners: object = None
        self._listeners_synchronous = False
        self._dispatch_rest: tuple[str | bytes, Awaitable[None]] | None = None

    # -- attributes ------------------------------------------------------------

    @property
    def url(self) -> str:
        """The normalised URL (``http``/``https`` became ``ws``/``wss``)."""
        return self._url.href

    @property
    def final_url(self) -> str:
        """The URL of the last upgrade request: ``url``, unless redirects were followed.

        ``url`` stays the URL given to the constructor, as the standard says;
        with ``follow_redirects``, ``final_url`` is where the connection went.
        """
        return self._transport.url.href

    @property
    def readyState(self) -> int:
        """CONNECTING (0), OPEN (1), CLOSING (2) or CLOSED (3)."""
        return self._ready_state

    @property
    def protocol(self) -> str:
        """The subprotocol the server selected ("" until open, or if none)."""
        return self._protocol.subprotocol

    @property
    def extensions(self) -> str:
        """The extensions the server accepted ("" until open, or if none)."""
        return self._protocol.extensions

    @property
    def bufferedAmount(self) -> int:
        """Bytes of data passed to ``send()`` that have not been written to the socket."""
        return self._transport.buffered_amount + self._dropped

    @property
    def binaryType(self) -> str:
        """``"bytes"`` (default); ``"arraybuffer"`` and ``"blob"`` also deliver bytes."""
        return self._binary_type

    @binaryType.setter
    def binaryType(self, value: str) -> None:
        # The standard ignores values outside the enumeration rather than throwing.
        if value in _BINARY_TYPES:
            self._binary_type = value

    @property
    def response(self) -> object:
        """The server's HTTP answer to the upgrade (a ``wsapi.response.Response``), once known."""
        return self._protocol.response

    def __repr__(self) -> str:
        state = _STATE_NAMES[self._ready_state]
        return f"<WebSocket url={redact_url(self.url)!r} readyState={state}>"

    # -- sending and closing -------------------------------------------------------

    def send(self, data: str | bytes | bytearray | memoryview) -> None:
        """Queue a message: ``str`` as text, bytes-like as binary. Never blocks.

        Raises ``DOMException("InvalidStateError")`` while connecting; once the
        connection is closing or closed the data is dropped and only counted
        in ``bufferedAmount``, as the standard says.
        """
        if isinstance(data, str):
            if data.isascii():
                size = len(data)
            else:
                data = _usv(data)
                size = len(data.encode("utf-8"))
            if self._ready_state == WebSocket.CONNECTING:
                raise _not_open()
            if self._ready_state == WebSocket.OPEN and self._protocol.send_text(data):
                self._transport.queued(size)
                if self._tracer is not None:
                    self._tracer(">", "text", data, size=size)
                return
        elif isinstance(data, bytes | bytearray | memoryview):
            payload = bytes(data)
            size = len(payload)
            if self._ready_state == WebSocket.CONNECTING:
                raise _not_open()
            if self._ready_state == WebSocket.OPEN and self._protocol.send_binary(payload):
                self._transport.queued(size)
                if self._tracer is not None:
                    self._tracer(">", "binary", payload, size=size)
                return
        else:
            raise TypeError(f"send() takes str or bytes-like data, not {type(data).__name__}")
        self._dropped += size
        self._dropped_messages += 1

    def ping(self, data: str | bytes = b"") -> None:
        """Send a ping frame now (as Node's ``ws.ping()``); the pong is handled for you.

        ``data`` is at most 125 bytes (``ValueError`` otherwise); ``str`` is sent as
        UTF-8. Raises ``DOMException("InvalidStateError")`` while connecting;
        does nothing once the connection is closing or closed.
        """
        payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        if len(payload) > 125:
            raise ValueError(f"a ping carries at most 125 bytes, not {len(payload)}")
        if self._ready_state == WebSocket.CONNECTING:
            raise _not_open()
        if self._ready_state == WebSocket.OPEN and self._protocol.send_ping(payload):
            self._transport.flush_soon()
            if self._tracer is not None:
                self._tracer(">", "ping", payload)

    def close(self, code: int | None = None, reason: str = "") -> None:
        """Start the closing handshake (synchronous; ``wait_closed()`` waits for its end).

        ``code`` must be 1000 or 3000-4999 (``DOMException("InvalidAccessError")``),
        ``reason`` at most 123 bytes of UTF-8 (``DOMException("SyntaxError")``).
        """
        if code is not None:
            if isinstance(code, bool) or not isinstance(code, int):
                raise TypeError(f"code must be an int, not {type(code).__name__}")
            if code != 1000 and not 3000 <= code <= 4999:
                raise DOMException(
                    f"The close code must be either 1000, or between 3000 and 4999. "
                    f"{code} is neither.",
                    "InvalidAccessError",
                )
        if not isinstance(reason, str):
            raise TypeError(f"reason must be a str, not {type(reason).__name__}")
        reason = _usv(reason)
        if len(reason.encode("utf-8")) > 123:
            raise DOMException(
                "The close reason must not be greater than 123 UTF-8 bytes.", "SyntaxError"
            )
        if self._ready_state in (WebSocket.CLOSING, WebSocket.CLOSED):
            return
        if self._ready_state == WebSocket.CONNECTING:
            # The standard: fail the connection, readyState becomes CLOSING.
            self._ready_state = WebSocket.CLOSING
            self._transport.cancel_open()
            return
        self._ready_state = WebSocket.CLOSING
        if code is None and reason:
            code = 1000  # a reason cannot travel without a code (RFC 6455 5.5.1)
        self._transport.close(code, reason)

    # -- the connection's lifetime ---------------------------------------------------

    async def __aenter__(self) -> WebSocket:
        with library_known():  # (see transport/library.py: anyio's lookups, once)
            return await self._enter()

    async def _enter(self) -> WebSocket:
        if self._entered:
            raise RuntimeError("a WebSocket connects once: create a new one to reconnect")
        self._entered = True
        self._inbox = Inbox(self._max_queue)
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        try:
            await self._transport.open()
        except BaseException as exc:
            self._use_last_request()
            error: WebSocketError
            if isinstance(exc, ConnectionFailed):
                error = exc
                if self._tracer is not None:
                    self._tracer("=", "error", detail=str(exc))
                    self._tracer("=", "closed", code=1006)
            else:  # cancelled (or interrupted) while connecting
                error = ConnectionLost("the task opening the connection was cancelled")
                self._transport.set_abort_reason(error)
            with anyio.CancelScope(shield=True):
                await self._finish(1006, "", False, error)
            await self._close_task_group()
            raise
        self._use_last_request()
        self._transport.attach(self._task_group)
        if self._ready_state == WebSocket.CONNECTING:
            self._ready_state = WebSocket.OPEN
            if self._tracer is not None:
                self._tracer(
                    "=", "open", detail=f"protocol={self.protocol!r} extensions={self.extensions!r}"
                )
            await self._dispatch(Event("open"))
        self._transport.start(self._deliver, self._settle, self._deliver_now)
        return self

    def _use_last_request(self) -> None:
        """After redirects, the connection is the last request's: its protocol and origin."""
        self._protocol = self._transport.protocol
        final = self._transport.url
        self._origin = f"{'wss' if final.secure else 'ws'}://{final.host}"

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with library_known():
            await self._exit(exc)
        # Returning None lets the body's exception, if any, propagate as it is.

    async def _exit(self, exc: BaseException | None) -> None:
        if exc is not None and isinstance(exc, anyio.get_cancelled_exc_class()):
            self._transport.set_task_cancelled()
        else:
            # The body is over: nobody will read what arrives during the closing
            # handshake, and waiting for room in a full inbox would stall it.
            self._inbox.discard_new()
            try:
                if self._ready_state == WebSocket.OPEN:
                    self._ready_state = WebSocket.CLOSING
                    self._transport.close(1000, "", caller_waits=True)
                await self._transport.wait_closed()
            except BaseException:
                self._transport.set_task_cancelled()
                await self._close_task_group()
                raise
        await self._close_task_group()

    async def _close_task_group(self) -> None:
        """End the connection's tasks; never wraps the caller's exception in a group.

        The tasks never raise, and their clean-up is bounded, so waiting for
        them shielded from an outer cancellation is safe and prompt.
        """
        task_group = self._task_group
        assert task_group is not None
        # Shield the group's own scope: a scope opened here would have to be
        # exited before the group's, which the task group cannot allow.
        task_group.cancel_scope.shield = True
        await self._transport.finish()
        if not self._transport.tasks_end_by_themselves:
            # (Once closed, the tasks end by themselves: anyio's cancel() costs
            # a task's repr, a few percent of a whole open-and-close.)
            task_group.cancel_scope.cancel()
        await task_group.__aexit__(None, None, None)

    async def _deliver(self, event: ProtocolEvent) -> None:
        """The transport's events, in order, as DOM events (runs in the reader task)."""
        if type(event) is MessageReceived:
            rest = self._dispatch_rest
            if rest is not None and rest[0] is event.data:
                self._dispatch_rest = None
                await rest[1]  # this message's dispatch, begun in _deliver_now()
            elif self._has_listeners("message"):
                await self._dispatch(MessageEvent("message", data=event.data, origin=self._origin))
            else:
                await self._inbox.put(event.data)
        elif isinstance(event, CloseReceived | Failed):
            if self._ready_state == WebSocket.OPEN:
                self._ready_state = WebSocket.CLOSING
        elif isinstance(event, Closed):
            await self._finish(event.code, event.reason, event.was_clean, event.error)

    def _deliver_now(self, data: str | bytes) -> bool:
        """A message received in an event loop callback (asyncio's inline path).

        Queued for ``recv()``, or dispatched at once when no ``message`` listener is
        a coroutine function: the browser's way, no task woken per message, and an
        answer ``send()`` in a listener is written before the callback returns.
        False leaves the message (or the rest of its dispatch) to the reader task.
        """
        entries = self._listeners.get("message")
        if entries is None:
            return self._inbox.put_nowait(data)
        if entries is not self._checked_listeners:
            self._checked_listeners = entries
            self._listeners_synchronous = self._all_synchronous("message")
        if not self._listeners_synchronous:
            return False
        event = MessageEvent("message", data=data, origin=self._origin)
        # (Listeners may use anyio, which cannot tell asyncio runs outside a task.)
        rest = in_asyncio_context(functools.partial(self._dispatch_now, event))
        if rest is None:
            return True
        # A listener returned an awaitable: the reader task awaits it, then calls
        # the listeners after it, before anything else (see _deliver).
        self._dispatch_rest = (data, rest)
        return False

    async def _settle(self) -> None:
        """Return once the application has read and answered the messages delivered so far.

        Listeners have (``_deliver`` awaited them); ``recv()`` readers have once
        they ask for the next message, or stop reading.
        """
        if not self._inbox and self._has_listeners("message"):
            return
        await self._inbox.settled()

    async def _finish(
        self, code: int, reason: str, was_clean: bool, error: WebSocketError | None
    ) -> None:
        """Fire ``error`` (if not clean) and ``close``, exactly once."""
        if self._close_event is not None:
            return
        self._ready_state = WebSocket.CLOSED
        if self._dispatch_rest is not None:
            # The rest of a dispatch the reader task never got to (it was cut
            # first): it will not run, so close it rather than leave it unawaited.
            close_awaitable(self._dispatch_rest[1])
            self._dispatch_rest = None
        self._close_error = error
        self._inbox.close()
        unsent = self._transport.unsent_messages + self._dropped_messages
        close_event = CloseEvent(
            "close", code=code, reason=reason, wasClean=was_clean, unsent=unsent
        )
        self._close_event = close_event
        self._closed.set()
        if not was_clean:
            message = str(error) if error is not None else "WebSocket connection failed"
            await self._dispatch(ErrorEvent("error", message=message, error=error))
        await self._dispatch(close_event)

    def _spawn(self, awaitable: Awaitable[object]) -> None:
        """Async listeners called through ``dispatchEvent()`` run in the connection's task group."""
        if self._task_group is None or self._close_event is not None:
            super()._spawn(awaitable)
            return
        self._task_group.start_soon(self._await_listener, awaitable)

    # -- receiving -------------------------------------------------------------

    async def recv(self) -> str | bytes:
        """The next message: ``str`` (text) or ``bytes`` (binary).

        Raises ``ConnectionClosed`` once the connection is closed and every
        received message was read. Messages go to ``message`` listeners
        instead while at least one is registered.
        """
        if not self._entered:
            raise DOMException(
                "recv() needs an open connection: use `async with WebSocket(...) as ws:`",
                "InvalidStateError",
            )
        if not self._inbox:
            # The frames this turn queued go out now (a request and its answer:
            # one event loop iteration fewer per round trip).
            self._transport.before_waiting()
        try:
            return await self._inbox.get()
        except InboxClosed:
            raise self._connection_closed() from self._close_error

    def _connection_closed(self) -> ConnectionClosed:
        event = self._close_event
        assert event is not None
        return ConnectionClosed(event.code, event.reason, event.wasClean, unsent=event.unsent)

    def __aiter__(self) -> WebSocket:
        return self

    async def __anext__(self) -> str | bytes:
        try:
            return await self.recv()
        except ConnectionClosed as exc:
            if exc.wasClean:
                raise StopAsyncIteration from None
            raise

    async def drain(self) -> None:
        """Wait until ``bufferedAmount`` is at most ``write_limit`` (64 KiB by default).

        ``send()`` never blocks; a producer faster than the network awaits this
        after sending to keep memory bounded. Raises ``ConnectionClosed`` when
        the connection closes with data unsent (or ``send()`` dropped some), and
        ``DOMException("InvalidStateError")`` before ``async with``.
        """
        if not self._entered or self._ready_state == WebSocket.CONNECTING:
            raise _not_open()
        if await self._transport.drain(self._write_limit) and not self._dropped:
            return
        # Written never, or dropped by send() once closing: report it at the end.
        await self._closed.wait()
        raise self._connection_closed()

    async def wait_closed(self) -> CloseEvent:
        """Wait until the connection is closed; return the ``close`` event."""
        if not self._entered:
            raise DOMException(
                "wait_closed() needs a connection: use `async with WebSocket(...) as ws:`",
                "InvalidStateError",
            )
        with self._inbox.not_reading():
            await self._closed.wait()
        assert self._close_event is not None
        return self._close_event


def _check_duration(name: str, value: float | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds or None")
    if math.isnan(value) or value <= 0:
        raise ValueError(f"{name} must be positive (or None for no limit), not {value!r}")


def _headers(headers: HeadersLike | None, url: WebSocketURL) -> tuple[tuple[str, str], ...]:
    items = () if headers is None else headers.items() if isinstance(headers, Mapping) else headers
    result = []
    for name, value in items:
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError("header names and values must be str")
        result.append((name, value))
    has_authorization = any(name.lower() == "authorization" for name, _ in result)
    if (url.username or url.password) and not has_authorization:
        # Credentials in the URL travel as HTTP Basic auth, as in browsers and Node's ws.
        token = base64.b64encode(f"{url.username}:{url.password}".encode()).decode("ascii")
        result.append(("Authorization", f"Basic {token}"))
    return tuple(result)


def _usv(text: str) -> str:
    """Lone surrogates become U+FFFD, as WebIDL's USVString conversion does."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if 0xD800 <= ord(char) <= 0xDFFF else char for char in text)
    return text


def _not_open() -> DOMException:
    return DOMException(
        "send() was called before the connection was open: wait for the open event "
        "(or send inside `async with ws:`).",
        "InvalidStateError",
    )
