"""The DOM event model: events, EventTarget, onX handlers (wsapi.events)."""

from __future__ import annotations

import ast
import doctest
import gc
import inspect
import logging
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import wsapi.events
from wsapi.errors import DOMException
from wsapi.events import (
    CloseEvent,
    ErrorEvent,
    Event,
    EventHandler,
    EventTarget,
    MessageEvent,
)


class Target(EventTarget):
    """An EventTarget with handlers, the way the WebSocket declares them."""

    onping = EventHandler("ping")
    onpong = EventHandler("pong")


def recorder(calls: list[str], name: str) -> Callable[[Event], None]:
    def listener(event: Event) -> None:
        calls.append(name)

    listener.__qualname__ = name
    return listener


def async_recorder(calls: list[str], name: str, delay: float = 0) -> Callable[[Event], Any]:
    async def listener(event: Event) -> None:
        calls.append(f"{name} start")
        await anyio.sleep(delay)
        calls.append(f"{name} end")

    return listener


# Events


def test_event_defaults() -> None:
    before = time.time() * 1000
    event = Event("open")
    after = time.time() * 1000
    assert event.type == "open"
    assert event.target is None
    assert event.currentTarget is None
    assert event.isTrusted is False
    assert event.defaultPrevented is False
    assert event.cancelable is False
    assert event.bubbles is False
    assert event.composed is False
    assert isinstance(event.timeStamp, float)
    assert before <= event.timeStamp <= after


def test_event_subclasses_defaults() -> None:
    message = MessageEvent("message")
    assert (message.type, message.data, message.origin, message.lastEventId) == (
        "message",
        None,
        "",
        "",
    )
    close = CloseEvent("close")
    assert (close.type, close.code, close.reason, close.wasClean) == ("close", 0, "", False)
    error = ErrorEvent("error")
    assert (error.type, error.message, error.error) == ("error", "", None)
    for event in (message, close, error):
        assert isinstance(event, Event)
        assert event.target is None
        assert event.isTrusted is False


def test_event_subclasses_init_dict() -> None:
    message = MessageEvent("message", data=b"\x01", origin="wss://h", lastEventId="7")
    assert (message.data, message.origin, message.lastEventId) == (b"\x01", "wss://h", "7")
    close = CloseEvent("close", code=1000, reason="bye", wasClean=True)
    assert (close.code, close.reason, close.wasClean) == (1000, "bye", True)
    exc = OSError("reset")
    error = ErrorEvent("error", message="lost", error=exc)
    assert (error.message, error.error) == ("lost", exc)


@pytest.mark.parametrize(
    "build",
    [
        lambda: MessageEvent("message", "data"),  # type: ignore[call-arg]
        lambda: CloseEvent("close", 1000),  # type: ignore[call-arg]
        lambda: ErrorEvent("error", "message"),  # type: ignore[call-arg]
    ],
)
def test_event_init_is_keyword_only(build: Callable[[], Event]) -> None:
    with pytest.raises(TypeError):
        build()


@pytest.mark.parametrize(
    "event",
    [Event("open"), MessageEvent("message"), CloseEvent("close"), ErrorEvent("error")],
)
def test_events_are_slotted(event: Event) -> None:
    assert not hasattr(event, "__dict__")
    with pytest.raises(AttributeError):
        event.colour = "red"  # type: ignore[attr-defined]


def test_constant_attributes_are_read_only() -> None:
    event = Event("open")
    with pytest.raises(AttributeError):
        event.defaultPrevented = True  # type: ignore[misc]
    with pytest.raises(AttributeError):
        event.cancelable = True  # type: ignore[misc]


def test_prevent_default_is_a_no_op() -> None:
    target = EventTarget()
    target.addEventListener("open", lambda event: event.preventDefault())
    event = Event("open")
    assert target.dispatchEvent(event) is True
    assert event.defaultPrevented is False


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (Event("open"), "Event(type='open')"),
        (MessageEvent("message", data="hi"), "MessageEvent(type='message', data='hi')"),
        (MessageEvent("message", data=b"\x00"), "MessageEvent(type='message', data=b'\\x00')"),
        (MessageEvent("message", data=""), "MessageEvent(type='message', data='')"),
        (MessageEvent("message"), "MessageEvent(type='message', data=None)"),
        (
            MessageEvent("message", data="hi", origin="wss://h", lastEventId="1"),
            "MessageEvent(type='message', data='hi', origin='wss://h', lastEventId='1')",
        ),
        (
            CloseEvent("close", code=1006),
            "CloseEvent(type='close', code=1006, wasClean=False)",
        ),
        (
            CloseEvent("close", code=1000, reason="bye", wasClean=True),
            "CloseEvent(type='close', code=1000, reason='bye', wasClean=True)",
        ),
        (
            ErrorEvent("error", message="lost", error=ValueError("x")),
            "ErrorEvent(type='error', message='lost', error=ValueError('x'))",
        ),
        (ErrorEvent("error"), "ErrorEvent(type='error', error=None)"),
    ],
)
def test_repr(event: Event, expected: str) -> None:
    assert repr(event) == expected


@pytest.mark.parametrize(("data", "unit"), [("x" * 10**6, "chars"), (b"x" * 10**6, "bytes")])
def test_repr_truncates_long_data(data: str | bytes, unit: str) -> None:
    text = repr(MessageEvent("message", data=data))
    assert len(text) < 120
    assert text.startswith("MessageEvent(type='message', data=")
    assert f"...(1000000 {unit})" in text


# Registration


def test_listeners_called_in_order_with_the_event() -> None:
    target = EventTarget()
    calls: list[tuple[str, Event]] = []
    target.addEventListener("x", lambda event: calls.append(("a", event)))
    target.addEventListener("x", lambda event: calls.append(("b", event)))
    target.addEventListener("y", lambda event: calls.append(("y", event)))
    event = Event("x")
    assert target.dispatchEvent(event) is True
    assert calls == [("a", event), ("b", event)]


def test_same_listener_registered_once() -> None:
    target = EventTarget()
    calls: list[str] = []
    listener = recorder(calls, "a")
    target.addEventListener("x", listener)
    target.addEventListener("x", listener)
    target.addEventListener("x", listener, once=True)  # the first registration stands
    target.dispatchEvent(Event("x"))
    target.dispatchEvent(Event("x"))
    assert calls == ["a", "a"]


def test_equal_bound_methods_are_the_same_listener() -> None:
    class Counter:
        def __init__(self) -> None:
            self.count = 0

        def on_event(self, event: Event) -> None:
            self.count += 1

    counter = Counter()
    target = EventTarget()
    target.addEventListener("x", counter.on_event)
    target.addEventListener("x", counter.on_event)  # a new, equal bound method object
    target.dispatchEvent(Event("x"))
    assert counter.count == 1
    target.removeEventListener("x", counter.on_event)
    assert not target._has_listeners("x")


def test_same_listener_for_two_types() -> None:
    target = EventTarget()
    types: list[str] = []
    listener = lambda event: types.append(event.type)  # noqa: E731
    target.addEventListener("x", listener)
    target.addEventListener("y", listener)
    target.dispatchEvent(Event("x"))
    target.dispatchEvent(Event("y"))
    assert types == ["x", "y"]


def test_remove_event_listener() -> None:
    target = EventTarget()
    calls: list[str] = []
    a, b = recorder(calls, "a"), recorder(calls, "b")
    target.addEventListener("x", a)
    target.addEventListener("x", b)
    target.removeEventListener("x", a)
    target.dispatchEvent(Event("x"))
    assert calls == ["b"]
    target.removeEventListener("x", b, {"capture": False})
    assert not target._has_listeners("x")


def test_remove_unknown_listener_does_nothing() -> None:
    target = EventTarget()
    calls: list[str] = []
    a = recorder(calls, "a")
    target.addEventListener("x", a)
    target.removeEventListener("x", recorder(calls, "other"))
    target.removeEventListener("y", a)
    target.removeEventListener("x", None)
    target.removeEventListener("nothing", a, True)
    target.dispatchEvent(Event("x"))
    assert calls == ["a"]


def test_none_listener_is_ignored() -> None:
    target = EventTarget()
    target.addEventListener("x", None)
    assert not target._has_listeners("x")
    assert target.dispatchEvent(Event("x")) is True


@pytest.mark.parametrize("listener", [42, "handler", object(), b"x"])
def test_bad_listener_raises_type_error(listener: Any) -> None:
    target = EventTarget()
    with pytest.raises(TypeError, match="callable or have a handleEvent"):
        target.addEventListener("x", listener)
    assert not target._has_listeners("x")


@pytest.mark.parametrize("options", ["once", 1, ["once"]])
def test_bad_options_raise_type_error(options: Any) -> None:
    target = EventTarget()
    with pytest.raises(TypeError, match="options"):
        target.addEventListener("x", lambda event: None, options)


def test_has_listeners() -> None:
    target = EventTarget()
    assert not target._has_listeners("x")
    listener = lambda event: None  # noqa: E731
    target.addEventListener("x", listener)
    assert target._has_listeners("x")
    assert not target._has_listeners("y")
    target.removeEventListener("x", listener)
    assert not target._has_listeners("x")


def test_dispatch_event_needs_an_event() -> None:
    with pytest.raises(TypeError, match="Event"):
        EventTarget().dispatchEvent("x")  # type: ignore[arg-type]


# once


def test_once_keyword() -> None:
    target = EventTarget()
    calls: list[str] = []
    target.addEventListener("x", recorder(calls, "once"), once=True)
    target.addEventListener("x", recorder(calls, "always"))
    target.dispatchEvent(Event("x"))
    target.dispatchEvent(Event("x"))
    assert calls == ["once", "always", "always"]


@pytest.mark.parametrize(
    ("options", "once", "expected"),
    [
        ({"once": True}, False, 1),
        ({"once": True, "capture": True, "passive": True}, False, 1),
        ({"once": False}, True, 1),
        ({"capture": True}, False, 2),
        ({}, False, 2),
        (True, False, 2),  # capture: meaningless without a tree
        (False, True, 1),
        (None, False, 2),
    ],
)
def test_options(options: Any, once: bool, expected: int) -> None:
    target = EventTarget()
    calls: list[str] = []
    target.addEventListener("x", recorder(calls, "a"), options, once=once)
    target.dispatchEvent(Event("x"))
    target.dispatchEvent(Event("x"))
    assert len(calls) == expected


def test_once_listener_removed_before_it_runs() -> None:
    target = EventTarget()
    seen: list[bool] = []

    def listener(event: Event) -> None:
        seen.append(target._has_listeners("x"))
        target.dispatchEvent(Event("x"))  # re-entrant: must not call this listener again

    target.addEventListener("x", listener, once=True)
    target.dispatchEvent(Event("x"))
    assert seen == [False]


def test_once_listener_can_be_added_again() -> None:
    target = EventTarget()
    calls: list[str] = []
    listener = recorder(calls, "a")
    target.addEventListener("x", listener, once=True)
    target.dispatchEvent(Event("x"))
    target.addEventListener("x", listener, once=True)
    target.dispatchEvent(Event("x"))
    target.dispatchEvent(Event("x"))
    assert calls == ["a", "a"]


# Mutation during dispatch


def test_listener_added_during_dispatch_runs_next_time() -> None:
    target = EventTarget()
    calls: list[str] = []
    late = recorder(calls, "late")

    def adder(event: Event) -> None:
        calls.append("adder")
        target.addEventListener("x", late)

    target.addEventListener("x", adder)
    target.dispatchEvent(Event("x"))
    assert calls == ["adder"]
    target.dispatchEvent(Event("x"))
    assert calls == ["adder", "adder", "late"]


def test_listener_removed_during_dispatch_is_not_called() -> None:
    target = EventTarget()
    calls: list[str] = []
    b = recorder(calls, "b")

    def remover(event: Event) -> None:
        calls.append("remover")
        target.removeEventListener("x", b)

    target.addEventListener("x", remover)
    target.addEventListener("x", b)
    target.addEventListener("x", recorder(calls, "c"))
    target.dispatchEvent(Event("x"))
    assert calls == ["remover", "c"]


def test_listener_removed_and_added_again_during_dispatch_is_not_called() -> None:
    target = EventTarget()
    calls: list[str] = []
    b = recorder(calls, "b")

    def readder(event: Event) -> None:
        target.removeEventListener("x", b)
        target.addEventListener("x", b)

    target.addEventListener("x", readder, once=True)
    target.addEventListener("x", b)
    target.dispatchEvent(Event("x"))
    assert calls == []  # the new registration was not in the snapshot
    target.dispatchEvent(Event("x"))
    assert calls == ["b"]


def test_listener_removing_itself_finishes() -> None:
    target = EventTarget()
    calls: list[str] = []

    def listener(event: Event) -> None:
        target.removeEventListener("x", listener)
        calls.append("self")

    target.addEventListener("x", listener)
    target.addEventListener("x", recorder(calls, "next"))
    target.dispatchEvent(Event("x"))
    target.dispatchEvent(Event("x"))
    assert calls == ["self", "next", "next"]


def test_stop_immediate_propagation() -> None:
    target = EventTarget()
    calls: list[str] = []

    def stopper(event: Event) -> None:
        calls.append("stopper")
        event.stopImmediatePropagation()

    target.addEventListener("x", recorder(calls, "a"))
    target.addEventListener("x", stopper)
    target.addEventListener("x", recorder(calls, "b"))
    event = Event("x")
    assert target.dispatchEvent(event) is True
    assert calls == ["a", "stopper"]
    target.removeEventListener("x", stopper)
    target.dispatchEvent(event)  # the flag does not outlive a dispatch
    assert calls == ["a", "stopper", "a", "b"]


def test_stop_propagation_is_a_no_op() -> None:
    target = EventTarget()
    calls: list[str] = []
    target.addEventListener("x", lambda event: event.stopPropagation())
    target.addEventListener("x", recorder(calls, "b"))
    target.dispatchEvent(Event("x"))
    assert calls == ["b"]


def test_redispatching_an_event_in_flight_is_an_invalid_state() -> None:
    target = EventTarget()
    errors: list[Exception] = []

    def listener(event: Event) -> None:
        try:
            target.dispatchEvent(event)
        except DOMException as exc:
            errors.append(exc)

    target.addEventListener("x", listener)
    event = Event("x")
    target.dispatchEvent(event)
    assert len(errors) == 1
    assert isinstance(errors[0], DOMException)
    assert errors[0].name == "InvalidStateError"
    target.removeEventListener("x", listener)
    assert target.dispatchEvent(event) is True  # done: it may be dispatched again


# Target, currentTarget, isTrusted


def test_dispatch_event_sets_targets_and_untrusted() -> None:
    target = EventTarget()
    seen: list[tuple[object, object, bool]] = []
    target.addEventListener(
        "x", lambda event: seen.append((event.target, event.currentTarget, event.isTrusted))
    )
    event = Event("x")
    event.isTrusted = True
    target.dispatchEvent(event)
    assert seen == [(target, target, False)]
    assert event.target is target
    assert event.currentTarget is None  # as in the DOM, once the dispatch is over
    assert event.isTrusted is False


@pytest.mark.anyio
async def test_internal_dispatch_sets_targets_and_trusted() -> None:
    target = EventTarget()
    seen: list[tuple[object, object, bool]] = []
    target.addEventListener(
        "x", lambda event: seen.append((event.target, event.currentTarget, event.isTrusted))
    )
    event = Event("x")
    await target._dispatch(event)
    assert seen == [(target, target, True)]
    assert event.target is target
    assert event.currentTarget is None
    assert event.isTrusted is True


@pytest.mark.anyio
async def test_internal_dispatch_without_listeners() -> None:
    target = EventTarget()
    event = MessageEvent("message", data="hi")
    await target._dispatch(event)
    assert event.target is target
    assert event.isTrusted is True
    assert event.currentTarget is None


# handleEvent objects


def test_handle_event_object() -> None:
    class Listener:
        def __init__(self) -> None:
            self.events: list[Event] = []

        def handleEvent(self, event: Event) -> None:
            self.events.append(event)

    listener = Listener()
    target = EventTarget()
    target.addEventListener("x", listener)
    target.addEventListener("x", listener)
    event = Event("x")
    target.dispatchEvent(event)
    assert listener.events == [event]
    target.removeEventListener("x", listener)
    assert not target._has_listeners("x")


def test_handle_event_looked_up_at_each_call() -> None:
    class Listener:
        def handleEvent(self, event: Event) -> None:
            calls.append("first")

    calls: list[str] = []
    listener = Listener()
    target = EventTarget()
    target.addEventListener("x", listener)
    target.dispatchEvent(Event("x"))
    listener.handleEvent = lambda event: calls.append("second")  # type: ignore[method-assign]
    target.dispatchEvent(Event("x"))
    assert calls == ["first", "second"]


def test_callable_with_handle_event_is_called() -> None:
    class Both:
        def __call__(self, event: Event) -> None:
            calls.append("call")

        def handleEvent(self, event: Event) -> None:
            calls.append("handleEvent")

    calls: list[str] = []
    target = EventTarget()
    target.addEventListener("x", Both())
    target.dispatchEvent(Event("x"))
    assert calls == ["call"]  # as in the DOM, a function is called directly


@pytest.mark.anyio
async def test_async_handle_event_object_awaited() -> None:
    calls: list[str] = []

    class Listener:
        async def handleEvent(self, event: Event) -> None:
            await anyio.sleep(0.01)
            calls.append("handled")

    target = EventTarget()
    target.addEventListener("x", Listener())
    target.addEventListener("x", recorder(calls, "after"))
    await target._dispatch(Event("x"))
    assert calls == ["handled", "after"]


# Async listeners


@pytest.mark.anyio
async def test_async_listeners_awaited_in_order() -> None:
    target = EventTarget()
    calls: list[str] = []
    target.addEventListener("x", async_recorder(calls, "slow", 0.02))
    target.addEventListener("x", recorder(calls, "sync"))
    target.addEventListener("x", async_recorder(calls, "fast"))
    await target._dispatch(Event("x"))
    assert calls == ["slow start", "slow end", "sync", "fast start", "fast end"]


@pytest.mark.anyio
async def test_any_awaitable_is_awaited() -> None:
    calls: list[str] = []

    class Later:
        def __await__(self) -> Generator[Any, None, None]:
            yield from anyio.lowlevel.checkpoint().__await__()
            calls.append("awaited")

    target = EventTarget()
    target.addEventListener("x", lambda event: Later())
    target.addEventListener("x", recorder(calls, "after"))
    await target._dispatch(Event("x"))
    assert calls == ["awaited", "after"]


@pytest.mark.anyio
async def test_messages_dispatched_in_order() -> None:
    target = EventTarget()
    received: list[Any] = []

    async def listener(event: MessageEvent) -> None:
        await anyio.lowlevel.checkpoint()
        received.append(event.data)

    target.addEventListener("message", listener)
    for i in range(20):
        await target._dispatch(MessageEvent("message", data=i))
    assert received == list(range(20))


# Exceptions


def _errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "wsapi"]


def test_sync_exception_logged_and_others_run(caplog: pytest.LogCaptureFixture) -> None:
    target = EventTarget()
    calls: list[str] = []
    boom = ValueError("boom")

    def failing(event: Event) -> None:
        raise boom

    target.addEventListener("message", recorder(calls, "a"))
    target.addEventListener("message", failing)
    target.addEventListener("message", recorder(calls, "b"))
    assert target.dispatchEvent(MessageEvent("message")) is True
    assert calls == ["a", "b"]
    [record] = _errors(caplog)
    assert record.levelno == logging.ERROR
    assert record.getMessage().startswith("Exception in 'message' listener")
    assert "failing" in record.getMessage()
    assert record.exc_info is not None
    assert record.exc_info[1] is boom


@pytest.mark.anyio
async def test_exceptions_in_internal_dispatch_logged(caplog: pytest.LogCaptureFixture) -> None:
    target = EventTarget()
    calls: list[str] = []

    def sync_failing(event: Event) -> None:
        raise KeyError("sync")

    async def async_failing(event: Event) -> None:
        await anyio.lowlevel.checkpoint()
        raise RuntimeError("async")

    class Failing:
        def handleEvent(self, event: Event) -> None:
            raise LookupError("object")

    target.addEventListener("message", sync_failing)
    target.addEventListener("message", async_failing)
    target.addEventListener("message", Failing())
    target.addEventListener("message", recorder(calls, "last"))
    await target._dispatch(MessageEvent("message", data="hi"))
    assert calls == ["last"]
    records = _errors(caplog)
    assert [type(r.exc_info[1]) for r in records if r.exc_info] == [
        KeyError,
        RuntimeError,
        LookupError,
    ]
    assert all(r.getMessage().startswith("Exception in 'message' listener") for r in records)


def test_base_exception_propagates_from_sync_listener() -> None:
    target = EventTarget()
    calls: list[str] = []

    def interrupted(event: Event) -> None:
        raise KeyboardInterrupt

    target.addEventListener("x", interrupted)
    target.addEventListener("x", recorder(calls, "after"))
    event = Event("x")
    with pytest.raises(KeyboardInterrupt):
        target.dispatchEvent(event)
    assert calls == []
    assert event.currentTarget is None


class Stop(BaseException):
    """Stands for a cancellation exception."""


@pytest.mark.anyio
async def test_base_exception_propagates_from_async_listener() -> None:
    target = EventTarget()
    calls: list[str] = []

    async def stopping(event: Event) -> None:
        await anyio.lowlevel.checkpoint()
        raise Stop

    target.addEventListener("x", stopping)
    target.addEventListener("x", recorder(calls, "after"))
    with pytest.raises(Stop):
        await target._dispatch(Event("x"))
    assert calls == []


@pytest.mark.anyio
async def test_cancellation_propagates(caplog: pytest.LogCaptureFixture) -> None:
    target = EventTarget()
    calls: list[str] = []

    async def forever(event: Event) -> None:
        calls.append("forever")
        await anyio.sleep_forever()

    target.addEventListener("x", forever)
    target.addEventListener("x", recorder(calls, "after"))
    event = Event("x")
    with anyio.move_on_after(0.02) as scope:
        await target._dispatch(event)
    assert scope.cancelled_caught
    assert calls == ["forever"]
    assert _errors(caplog) == []
    assert event.currentTarget is None
    target.removeEventListener("x", forever)
    await target._dispatch(event)  # the event was not left "in flight"
    assert calls == ["forever", "after"]


# dispatchEvent and _spawn


class Spawner(EventTarget):
    onping = EventHandler("ping")

    def __init__(self) -> None:
        super().__init__()
        self.spawned: list[Any] = []

    def _spawn(self, awaitable: Any) -> None:
        self.spawned.append(awaitable)


@pytest.mark.anyio
async def test_dispatch_event_hands_awaitables_to_spawn(
    caplog: pytest.LogCaptureFixture,
) -> None:
    target = Spawner()
    calls: list[str] = []

    async def failing(event: Event) -> None:
        raise ValueError("late")

    target.addEventListener("ping", async_recorder(calls, "async"))
    target.addEventListener("ping", recorder(calls, "sync"))
    target.addEventListener("ping", failing)
    target.onping = async_recorder(calls, "handler")
    assert target.dispatchEvent(Event("ping")) is True
    assert calls == ["sync"]  # nothing awaited yet
    assert len(target.spawned) == 3
    assert all(inspect.iscoroutine(awaitable) for awaitable in target.spawned)
    for awaitable in target.spawned:
        await target._await_listener(awaitable)
    assert calls == ["sync", "async start", "async end", "handler start", "handler end"]
    [record] = _errors(caplog)
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ValueError)


def test_base_spawn_closes_and_warns() -> None:
    target = EventTarget()
    calls: list[str] = []
    coroutines: list[Any] = []

    async def listener(event: Event) -> None:
        calls.append("ran")

    def spy(event: Event) -> Any:
        coroutine = listener(event)
        coroutines.append(coroutine)
        return coroutine

    target.addEventListener("x", spy)
    target.addEventListener("x", recorder(calls, "sync"))
    with pytest.warns(RuntimeWarning, match="could not be run.*no running connection") as record:
        assert target.dispatchEvent(Event("x")) is True
    assert record[0].filename == __file__  # points at the dispatchEvent() call
    assert calls == ["sync"]
    assert inspect.getcoroutinestate(coroutines[0]) == inspect.CORO_CLOSED
    coroutines.clear()
    gc.collect()  # no "never awaited" warning (an error here) may follow


def test_base_spawn_warns_for_awaitable_without_close() -> None:
    class Awaitable:
        def __await__(self) -> Generator[Any, None, None]:
            yield

    target = EventTarget()
    target.addEventListener("x", lambda event: Awaitable())
    with pytest.warns(RuntimeWarning, match="no running connection"):
        target.dispatchEvent(Event("x"))


@pytest.mark.anyio
async def test_await_listener_lets_cancellation_through() -> None:
    async def forever() -> None:
        await anyio.sleep_forever()

    with anyio.move_on_after(0.01) as scope:
        await EventTarget()._await_listener(forever())
    assert scope.cancelled_caught


# onX handlers


def test_handler_default_and_class_access() -> None:
    target = Target()
    assert target.onping is None
    assert isinstance(Target.onping, EventHandler)
    assert Target.onping.type == "ping"
    assert not target._has_listeners("ping")


def test_handler_set_get_and_called() -> None:
    target = Target()
    events: list[Event] = []
    handler = events.append
    target.onping = handler
    assert target.onping == handler
    assert target._has_listeners("ping")
    event = Event("ping")
    target.dispatchEvent(event)
    assert events == [event]
    target.dispatchEvent(Event("pong"))
    assert len(events) == 1


def test_handler_position() -> None:
    target = Target()
    calls: list[str] = []
    target.addEventListener("ping", recorder(calls, "a"))
    target.onping = recorder(calls, "h1")
    target.addEventListener("ping", recorder(calls, "b"))
    target.dispatchEvent(Event("ping"))
    assert calls == ["a", "h1", "b"]

    calls.clear()
    target.onping = h2 = recorder(calls, "h2")  # replacing keeps the first one's place
    assert target.onping is h2
    target.dispatchEvent(Event("ping"))
    assert calls == ["a", "h2", "b"]

    calls.clear()
    target.onping = None
    assert target.onping is None
    target.dispatchEvent(Event("ping"))
    assert calls == ["a", "b"]

    calls.clear()
    target.onping = recorder(calls, "h3")  # a new first assignment: at the end
    target.dispatchEvent(Event("ping"))
    assert calls == ["a", "b", "h3"]


def test_handler_set_to_none_removes_it() -> None:
    target = Target()
    target.onping = lambda event: None
    target.onping = None
    assert target.onping is None
    assert not target._has_listeners("ping")
    target.onping = None  # again: nothing to remove
    assert not target._has_listeners("ping")


@pytest.mark.parametrize("value", [42, "alert(1)", object()])
def test_non_callable_handler_is_none(value: Any) -> None:
    target = Target()
    target.onping = lambda event: None
    target.onping = value
    assert target.onping is None
    assert not target._has_listeners("ping")


def test_handler_and_same_listener_are_distinct() -> None:
    target = Target()
    calls: list[str] = []
    listener = recorder(calls, "f")
    target.onping = listener
    target.addEventListener("ping", listener)
    target.dispatchEvent(Event("ping"))
    assert calls == ["f", "f"]  # as in the DOM: the handler is not the function itself
    target.removeEventListener("ping", listener)
    target.dispatchEvent(Event("ping"))
    assert calls == ["f", "f", "f"]
    assert target.onping is listener


def test_handlers_are_per_instance_and_per_type() -> None:
    first, second = Target(), Target()
    calls: list[str] = []
    first.onping = recorder(calls, "first")
    second.onpong = recorder(calls, "second")
    assert second.onping is None
    assert first.onpong is None
    first.dispatchEvent(Event("ping"))
    second.dispatchEvent(Event("ping"))
    second.dispatchEvent(Event("pong"))
    assert calls == ["first", "second"]


def test_handler_replaced_during_dispatch_new_one_runs() -> None:
    target = Target()
    calls: list[str] = []

    def replacer(event: Event) -> None:
        target.onping = recorder(calls, "new")

    target.addEventListener("ping", replacer)
    target.onping = recorder(calls, "old")
    target.dispatchEvent(Event("ping"))
    assert calls == ["new"]


def test_handler_removed_during_dispatch_does_not_run() -> None:
    target = Target()
    calls: list[str] = []

    def remover(event: Event) -> None:
        target.onping = None

    target.addEventListener("ping", remover)
    target.onping = recorder(calls, "handler")
    target.dispatchEvent(Event("ping"))
    assert calls == []


def test_handler_exception_logged(caplog: pytest.LogCaptureFixture) -> None:
    target = Target()
    calls: list[str] = []

    def failing(event: Event) -> None:
        raise ValueError("handler")

    target.onping = failing
    target.addEventListener("ping", recorder(calls, "after"))
    target.dispatchEvent(Event("ping"))
    assert calls == ["after"]
    [record] = _errors(caplog)
    assert record.getMessage().startswith("Exception in 'ping' listener")


@pytest.mark.anyio
async def test_async_handler_awaited() -> None:
    target = Target()
    calls: list[str] = []
    target.onping = async_recorder(calls, "handler", 0.01)
    target.addEventListener("ping", recorder(calls, "after"))
    await target._dispatch(Event("ping"))
    assert calls == ["handler start", "handler end", "after"]


# The module


def test_exports() -> None:
    assert sorted(wsapi.events.__all__) == sorted(
        ["Event", "MessageEvent", "CloseEvent", "ErrorEvent", "EventTarget", "EventHandler"]
    )
    for name in wsapi.events.__all__:
        assert getattr(wsapi.events, name).__doc__


def test_imports_no_event_loop_or_socket() -> None:
    tree = ast.parse(Path(wsapi.events.__file__).read_text(encoding="utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or "").split(".")[0])
    assert imported <= {
        "__future__",
        "collections",
        "inspect",
        "logging",
        "time",
        "typing",
        "warnings",
        ".errors",
    }
    assert not imported & {"anyio", "asyncio", "trio", "socket"}


def test_doctests() -> None:
    result = doctest.testmod(wsapi.events, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
