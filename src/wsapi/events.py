"""The DOM event model of the WebSocket facade: events, listeners and ``onX`` handlers.

WHATWG DOM semantics for a target without a tree. Listeners may be async: the WebSocket
runs ``await target._dispatch(event)``, which awaits them in order, so this module needs
no event loop of its own and serves asyncio and trio alike.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Awaitable, Callable, Mapping
from inspect import isawaitable, iscoroutinefunction
from typing import Any, ClassVar, Protocol, TypeAlias, overload

from .errors import DOMException

__all__ = ["Event", "MessageEvent", "CloseEvent", "ErrorEvent", "EventTarget", "EventHandler"]

logger = logging.getLogger("wsapi")

# repr() shows this much of a message: a message can be megabytes, and repr() ends up in logs.
_REPR_LIMIT = 40


def _short(value: object) -> str:
    """``repr(value)``, with text or bytes longer than ``_REPR_LIMIT`` cut short."""
    if isinstance(value, (str, bytes, bytearray)) and len(value) > _REPR_LIMIT:
        unit = "chars" if isinstance(value, str) else "bytes"
        return f"{value[:_REPR_LIMIT]!r}...({len(value)} {unit})"
    return repr(value)


class Event:
    """Something that happened to an :class:`EventTarget`, as the DOM's ``Event``.

    ``type`` names it; ``target`` and ``currentTarget`` are ``None`` until it is
    dispatched; ``timeStamp`` is its creation time in milliseconds since the epoch;
    ``isTrusted`` is True only for events wsapi itself dispatches.

    >>> event = Event("open")
    >>> event, event.target, event.isTrusted
    (Event(type='open'), None, False)
    """

    __slots__ = ("_active", "_stop", "currentTarget", "isTrusted", "target", "timeStamp", "type")

    # The WebSocket's events neither bubble nor can be cancelled (WHATWG WebSockets).
    bubbles: ClassVar[bool] = False
    cancelable: ClassVar[bool] = False
    composed: ClassVar[bool] = False
    defaultPrevented: ClassVar[bool] = False
    # (attribute, shown even when it is "") for __repr__.
    _repr_fields: ClassVar[tuple[tuple[str, bool], ...]] = ()

    def __init__(self, type: str) -> None:
        self.type = type
        self.target: EventTarget | None = None
        self.currentTarget: EventTarget | None = None
        self.timeStamp = time.time() * 1000
        self.isTrusted = False
        self._stop = False  # stopImmediatePropagation() was called during this dispatch
        self._active = False  # being dispatched: the DOM's "dispatch flag"

    def preventDefault(self) -> None:
        """Do nothing: the WebSocket's events are not cancelable."""

    def stopPropagation(self) -> None:
        """Do nothing: a target without a tree has nowhere to propagate to."""

    def stopImmediatePropagation(self) -> None:
        """Skip the listeners not yet called for this dispatch."""
        self._stop = True

    def __repr__(self) -> str:
        fields = [f"type={self.type!r}"]
        for name, always in self._repr_fields:
            value = getattr(self, name)
            if always or (value != "" and value != 0):
                fields.append(f"{name}={_short(value)}")
        return f"{self.__class__.__name__}({', '.join(fields)})"


class MessageEvent(Event):
    """A message arrived: ``data`` is a ``str`` for text, ``bytes`` for binary.

    >>> MessageEvent("message", data="hi")
    MessageEvent(type='message', data='hi')
    >>> MessageEvent("message", data=b"ab" * 40, origin="wss://example.com")  # doctest: +ELLIPSIS
    MessageEvent(type='message', data=b'abab...abab'...(80 bytes), origin='wss://example.com')
    """

    __slots__ = ("data", "lastEventId", "origin")
    _repr_fields = (("data", True), ("origin", False), ("lastEventId", False))

    def __init__(
        self, type: str, *, data: Any = None, origin: str = "", lastEventId: str = ""
    ) -> None:
        Event.__init__(self, type)  # a quarter faster than super(): one per message
        self.data = data
        self.origin = origin
        self.lastEventId = lastEventId


class CloseEvent(Event):
    """The connection closed with ``code`` and ``reason``; ``wasClean`` if by a closing handshake.

    ``unsent`` (a wsapi addition) counts the messages ``send()`` accepted that
    were never written to the network: 0 after a clean close.

    >>> CloseEvent("close", code=1000, wasClean=True)
    CloseEvent(type='close', code=1000, wasClean=True)
    """

    __slots__ = ("code", "reason", "unsent", "wasClean")
    _repr_fields = (("code", True), ("reason", False), ("wasClean", True), ("unsent", False))

    def __init__(
        self,
        type: str,
        *,
        code: int = 0,
        reason: str = "",
        wasClean: bool = False,
        unsent: int = 0,
    ) -> None:
        super().__init__(type)
        self.code = code
        self.reason = reason
        self.wasClean = wasClean
        #: wsapi: how many messages passed to ``send()`` were never written to
        #: the network (the standard has no such field; ``bufferedAmount`` has
        #: their size).
        self.unsent = unsent


class ErrorEvent(Event):
    """Something failed: ``message`` says what, ``error`` is the exception.

    >>> ErrorEvent("error", message="connection lost", error=OSError("reset"))
    ErrorEvent(type='error', message='connection lost', error=OSError('reset'))
    """

    __slots__ = ("error", "message")
    _repr_fields = (("message", False), ("error", True))

    def __init__(self, type: str, *, message: str = "", error: BaseException | None = None) -> None:
        super().__init__(type)
        self.message = message
        self.error = error


class _EventListenerObject(Protocol):
    def handleEvent(self, event: Any, /) -> object: ...


_Listener: TypeAlias = "Callable[[Any], object] | _EventListenerObject"


class _Entry:
    """A registered listener; ``removed`` tells a dispatch under way to skip it (DOM)."""

    __slots__ = ("callback", "direct", "handler", "once", "removed")

    def __init__(self, callback: Any, once: bool = False, handler: bool = False) -> None:
        self.callback = callback
        # Else an object whose handleEvent is looked up at each call, as in the DOM.
        self.direct = callable(callback)
        self.once = once
        self.handler = handler  # the listener of an onX attribute (HTML "event handler")
        self.removed = False


def _report(event_type: str, listener: object) -> None:
    # The DOM "reports the exception" and goes on; logging is Python's console.
    logger.error("Exception in %r listener %r", event_type, listener, exc_info=True)


def _dispatch_over(event: Event) -> None:
    """The end of ``event``'s dispatch: it may be dispatched again, and has no current target."""
    event._active = event._stop = False
    event.currentTarget = None


def close_awaitable(awaitable: Awaitable[object]) -> None:
    """Close a coroutine that will never be awaited (no "never awaited" warning later)."""
    close = getattr(awaitable, "close", None)
    if callable(close):
        close()


class EventTarget:
    """An object listeners can subscribe to, as the DOM's ``EventTarget``.

    Subclasses must call ``super().__init__()``.

    >>> target = EventTarget()
    >>> target.addEventListener("ping", lambda event: print("got", event.type))
    >>> target.dispatchEvent(Event("ping"))
    got ping
    True
    """

    def __init__(self) -> None:
        # Tuples are replaced, never mutated: a dispatch keeps iterating the one it
        # started with, which is the DOM's snapshot without a copy per event.
        self._listeners: dict[str, tuple[_Entry, ...]] = {}

    def addEventListener(
        self,
        type: str,
        listener: _Listener | None,
        options: bool | Mapping[str, Any] | None = None,
        *,
        once: bool = False,
    ) -> None:
        """Call ``listener(event)`` (or ``listener.handleEvent(event)``) for each ``type`` event.

        The listener may be sync or async; one already registered for ``type`` is not
        added again. ``options`` is the DOM's: a bool (capture, meaningless without a
        tree) or a mapping whose ``"once"`` is honoured.
        """
        if isinstance(options, Mapping):
            once = once or bool(options.get("once", False))
        elif options is not None and not isinstance(options, bool):
            raise TypeError(
                f"options must be a bool or a mapping, not {options.__class__.__name__}"
            )
        if listener is None:
            return
        if not callable(listener) and not hasattr(listener, "handleEvent"):
            raise TypeError(
                f"listener must be callable or have a handleEvent method, not {listener!r}"
            )
        entries = self._listeners.get(type, ())
        for entry in entries:
            if not entry.handler and entry.callback == listener:
                return
        self._listeners[type] = (*entries, _Entry(listener, once))

    def removeEventListener(
        self,
        type: str,
        listener: _Listener | None,
        options: bool | Mapping[str, Any] | None = None,
    ) -> None:
        """Stop calling ``listener`` for ``type`` events, even in a dispatch under way.

        ``options`` is ignored. ``onX`` handlers are removed by assigning ``None``.
        """
        for entry in self._listeners.get(type, ()):
            if not entry.handler and entry.callback == listener:
                self._remove(type, entry)
                return

    def dispatchEvent(self, event: Event) -> bool:
        """Call the listeners for ``event.type`` now, in order; return True (not cancelled).

        Synchronous as in the DOM: an awaitable a listener returns goes to :meth:`_spawn`.
        """
        if not isinstance(event, Event):
            raise TypeError(f"dispatchEvent() needs an Event, not {event.__class__.__name__}")
        if event._active:
            raise DOMException("The event is already being dispatched.", "InvalidStateError")
        event.isTrusted = False
        event.target = self
        entries = self._listeners.get(event.type)
        if entries:
            event.currentTarget = self
            event._active = True
            try:
                for entry in entries:
                    awaitable = self._invoke(event, entry)
                    if awaitable is not None:
                        self._spawn(awaitable)
            finally:
                _dispatch_over(event)
        return not event.defaultPrevented

    async def _dispatch(self, event: Event) -> None:
        """Call the listeners for ``event.type`` (trusted), awaiting awaitables in order."""
        event.isTrusted = True
        event.target = self
        entries = self._listeners.get(event.type)
        if not entries:  # the hot path for messages read by recv() instead
            return
        event.currentTarget = self
        event._active = True
        try:
            await self._call_listeners(event, entries)
        finally:
            _dispatch_over(event)

    def _dispatch_now(self, event: Event) -> Awaitable[None] | None:
        """Dispatch ``event`` (trusted) synchronously, as far as its listeners let it.

        Each listener is called in turn. If one returns an awaitable, the rest of the
        dispatch cannot happen here: a coroutine is returned that awaits it and calls
        the listeners after it, in order; the caller must await it before dispatching
        anything else. None when every listener has run.
        """
        event.isTrusted = True
        event.target = self
        entries = self._listeners.get(event.type)
        if not entries:
            return None
        event.currentTarget = self
        event._active = True
        try:
            for index, entry in enumerate(entries):
                awaitable = self._invoke(event, entry)
                if awaitable is not None:
                    return self._finish_dispatch(event, entry, awaitable, entries[index + 1 :])
        except BaseException:  # (not Exception: _invoke reports those)
            _dispatch_over(event)
            raise
        _dispatch_over(event)
        return None

    async def _finish_dispatch(
        self,
        event: Event,
        entry: _Entry,
        awaitable: Awaitable[object],
        rest: tuple[_Entry, ...],
    ) -> None:
        """The rest of a dispatch begun by :meth:`_dispatch_now`."""
        try:
            try:
                await awaitable
            except Exception:
                _report(event.type, entry.callback)
            await self._call_listeners(event, rest)
        finally:
            _dispatch_over(event)

    def _all_synchronous(self, type: str) -> bool:
        """Whether no listener for ``type`` is a coroutine function (or has an async handleEvent).

        Such listeners may be called where nothing can be awaited (an event loop
        callback); one that still returns an awaitable is handed on (see
        :meth:`_dispatch_now`).
        """
        for entry in self._listeners.get(type, ()):
            function = (
                entry.callback if entry.direct else getattr(entry.callback, "handleEvent", None)
            )
            if iscoroutinefunction(function):
                return False
        return True

    async def _call_listeners(self, event: Event, entries: tuple[_Entry, ...]) -> None:
        """Call ``entries`` in order, awaiting what they return; report their exceptions."""
        for entry in entries:
            awaitable = self._invoke(event, entry)
            if awaitable is not None:
                try:
                    await awaitable
                except Exception:
                    _report(event.type, entry.callback)

    def _invoke(self, event: Event, entry: _Entry) -> Awaitable[object] | None:
        """Call one listener of a dispatch; return the awaitable it returned, if any."""
        if event._stop or entry.removed:
            return None
        if entry.once:
            self._remove(event.type, entry)  # before the call, as the DOM says
        callback = entry.callback
        try:
            result = callback(event) if entry.direct else callback.handleEvent(event)
        except Exception:
            _report(event.type, callback)
            return None
        return result if result is not None and isawaitable(result) else None

    def _spawn(self, awaitable: Awaitable[object]) -> None:
        """Run ``awaitable``, returned by a listener that :meth:`dispatchEvent` called.

        A target with a running connection overrides this to start it in its task group,
        e.g. ``tg.start_soon(self._await_listener, awaitable)``; the base class has none.
        """
        description = repr(awaitable)
        # Nothing can run it: close it, so no "never awaited" warning comes later, and say so.
        close_awaitable(awaitable)
        warnings.warn(
            f"async listener {description} could not be run: "
            f"this {self.__class__.__name__} has no running connection",
            RuntimeWarning,
            stacklevel=3,  # the caller of dispatchEvent()
        )

    async def _await_listener(self, awaitable: Awaitable[object]) -> None:
        """Await ``awaitable``, logging its exception as :meth:`_dispatch` does."""
        try:
            await awaitable
        except Exception:
            logger.error("Exception in async listener %r", awaitable, exc_info=True)

    def _has_listeners(self, type: str) -> bool:
        """Whether a listener or an ``onX`` handler is registered for ``type``."""
        return type in self._listeners

    def _remove(self, type: str, entry: _Entry) -> None:
        entry.removed = True
        rest = tuple(e for e in self._listeners.get(type, ()) if e is not entry)
        if rest:
            self._listeners[type] = rest
        else:
            # An absent key is what makes _has_listeners() and _dispatch() cheap.
            self._listeners.pop(type, None)

    def _handler_entry(self, type: str) -> _Entry | None:
        for entry in self._listeners.get(type, ()):
            if entry.handler:
                return entry
        return None

    def _set_handler(self, type: str, handler: Callable[..., object] | None) -> None:
        entry = self._handler_entry(type)
        if handler is None:
            if entry is not None:
                self._remove(type, entry)
        elif entry is not None:
            entry.callback = handler  # HTML: a new value keeps the first one's place
        else:
            self._listeners[type] = (*self._listeners.get(type, ()), _Entry(handler, handler=True))


class EventHandler:
    """An ``onX`` attribute of an :class:`EventTarget`, as HTML's event handlers.

    The handler is called like a listener, at the place in the listener list where
    the first one was assigned; assigning another keeps that place. Assigning ``None``
    removes it, and so does anything not callable (HTML reads those as null).

    >>> class Bell(EventTarget):
    ...     onring = EventHandler("ring")
    >>> bell = Bell()
    >>> bell.onring = lambda event: print("ring!")
    >>> bell.dispatchEvent(Event("ring"))
    ring!
    True
    """

    __slots__ = ("type",)

    def __init__(self, type: str) -> None:
        self.type = type

    @overload
    def __get__(self, obj: None, owner: Any = None) -> EventHandler: ...
    @overload
    def __get__(self, obj: EventTarget, owner: Any = None) -> Callable[[Any], object] | None: ...
    def __get__(
        self, obj: EventTarget | None, owner: Any = None
    ) -> EventHandler | Callable[[Any], object] | None:
        if obj is None:
            return self
        entry = obj._handler_entry(self.type)
        return None if entry is None else entry.callback

    def __set__(self, obj: EventTarget, value: Callable[[Any], object] | None) -> None:
        obj._set_handler(self.type, value if callable(value) else None)
