"""``Flag``: a one-way event whose anyio ``Event`` exists only while a task waits.

A connection has a few "it is over" conditions that most connections never see
anyone wait for; an asyncio ``Event`` costs about 400 bytes. A thousand idle
connections should not pay for events nobody waits on.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Protocol

import anyio

__all__ = ["EventMaker", "Flag", "FutureEvent", "Waitable"]

_ANYIO_ASYNCIO = "anyio._backends._asyncio"


class Waitable(Protocol):
    """What wsapi uses of ``anyio.Event``."""

    def set(self) -> None: ...

    def is_set(self) -> bool: ...

    def wait(self) -> Awaitable[None]: ...


class FutureEvent:
    """``anyio.Event`` on asyncio, lighter: each waiting task awaits a future of its own.

    anyio's event wraps an ``asyncio.Event``, which looks the loop up and
    makes a waiter deque; its ``wait()`` is two coroutines deep. Here
    ``wait()`` returns the future itself. This is what wakes ``recv()`` for each
    message, so it is paid per round trip. A cancelled waiter's future is
    cancelled with it (it is its own); cancelled ones are dropped at the next
    ``wait()``, so repeated cancellations cannot pile up.

    The loop is given, not looked up: on Python 3.11 and earlier each lookup
    is a ``getpid()`` system call.
    """

    __slots__ = ("_loop", "_set", "_waiters")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._set = False
        self._waiters: list[asyncio.Future[None]] | None = None

    def set(self) -> None:
        if self._set:
            return
        self._set = True
        waiters, self._waiters = self._waiters, None
        if waiters:
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    def is_set(self) -> bool:
        return self._set

    def wait(self) -> Awaitable[None]:
        if self._set:
            return asyncio.sleep(0)  # a checkpoint, as anyio's event gives
        waiter: asyncio.Future[None] = self._loop.create_future()
        waiters = self._waiters
        if waiters is None:
            self._waiters = [waiter]
        else:
            waiters[:] = [w for w in waiters if not w.done()]
            waiters.append(waiter)
        return waiter


class EventMaker:
    """Makes anyio events cheaply: ``anyio.Event()`` looks the backend up at every
    call, the class it returns does not. The class is learnt from the first event,
    made when first needed (most connections never wait on one); on asyncio it is
    ``FutureEvent``, on the running loop."""

    __slots__ = ("_make_event",)

    def __init__(self) -> None:
        self._make_event: Callable[[], Waitable] | None = None

    def _new_event(self) -> Waitable:
        make = self._make_event
        if make is None:
            event = anyio.Event()
            if type(event).__module__ == _ANYIO_ASYNCIO:
                make = self._make_event = functools.partial(FutureEvent, asyncio.get_running_loop())
                return make()
            self._make_event = type(event)
            return event
        return make()


class Flag:
    """Set once; ``wait()`` returns once it is set (at once if it is)."""

    __slots__ = ("_event", "_set")

    def __init__(self) -> None:
        self._set = False
        self._event: anyio.Event | None = None

    def set(self) -> None:
        self._set = True
        if self._event is not None:
            self._event.set()

    def is_set(self) -> bool:
        return self._set

    async def wait(self) -> None:
        if self._set:
            return
        if self._event is None:
            self._event = anyio.Event()
        await self._event.wait()
