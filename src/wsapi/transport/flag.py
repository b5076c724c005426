"""``Flag``: a one-way event whose anyio ``Event`` exists only while a task waits.

A connection has a few "it is over" conditions that most connections never see
anyone wait for; an asyncio ``Event`` costs about 400 bytes. A thousand idle
connections should not pay for events nobody waits on.
"""

from __future__ import annotations

import anyio

__all__ = ["EventMaker", "Flag"]


class EventMaker:
    """Makes anyio events cheaply: ``anyio.Event()`` looks the backend up at every
    call, the class it returns does not. The class is learnt from the first event,
    made when first needed (most connections never wait on one)."""

    __slots__ = ("_event_class",)

    def __init__(self) -> None:
        self._event_class: type[anyio.Event] | None = None

    def _new_event(self) -> anyio.Event:
        cls = self._event_class
        if cls is None:
            event = anyio.Event()
            self._event_class = type(event)
            return event
        return cls()


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
