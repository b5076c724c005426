"""A bounded queue of received messages, for ``recv()`` and ``async for``.

When it holds ``max_size`` messages, ``put()`` waits: the reader stops reading
the socket, TCP's window fills, and the server slows down. Memory stays
bounded by ``max_size`` messages of at most ``max_message_size`` bytes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from .flag import EventMaker, Waitable

__all__ = ["Inbox", "InboxClosed"]


class InboxClosed(Exception):
    """``get()`` on a closed, drained inbox."""


class Inbox(EventMaker):
    """A FIFO of messages with a bound; ``close()`` lets readers drain then stop."""

    def __init__(self, max_size: int) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        super().__init__()
        self.max_size = max_size
        # Made on the first message: an empty deque costs 760 bytes, per idle connection.
        self._items: deque[str | bytes] | None = None
        self._closed = False
        self._discarding = False
        # Made when a task has to wait, and dropped once set: an idle connection
        # holds none (an asyncio Event costs about 400 bytes).
        self._readable: Waitable | None = None
        self._writable: Waitable | None = None
        self._settled: Waitable | None = None
        self._readers = 0  # tasks waiting in get() on an empty inbox
        self._bystanders = 0  # tasks waiting for the end without reading

    def __len__(self) -> int:
        return len(self._items) if self._items is not None else 0

    @property
    def closed(self) -> bool:
        return self._closed

    async def put(self, item: str | bytes) -> None:
        """Append ``item``, waiting while the inbox is full."""
        if self._discarding:
            return
        while len(self) >= self.max_size and not self._closed:
            if self._discarding:
                return
            if self._writable is None:
                self._writable = self._new_event()
            await self._writable.wait()
        self._append(item)

    def put_nowait(self, item: str | bytes) -> bool:
        """Append ``item`` if there is room (True); False when ``put()`` would wait."""
        # (Once per message received: written out, not through __len__ and _append.)
        if self._discarding:
            return True
        items = self._items
        if items is None:
            items = self._items = deque()
        elif len(items) >= self.max_size and not self._closed:
            return False
        items.append(item)
        if self._readable is not None:
            self._wake_readers()
        return True

    def _append(self, item: str | bytes) -> None:
        items = self._items
        if items is None:
            items = self._items = deque()
        items.append(item)
        self._wake_readers()

    async def get(self) -> str | bytes:
        """The oldest item; waits for one; ``InboxClosed`` once closed and drained."""
        while not self._items:  # (None or empty)
            if self._closed:
                raise InboxClosed
            if self._readable is None:
                self._readable = self._new_event()
            self._readers += 1
            if self._settled is not None:
                self._wake_settled()
            try:
                await self._readable.wait()
            finally:
                self._readers -= 1
        item = self._items.popleft()
        if self._writable is not None:
            self._wake_writers()
        return item

    # Each wakes the tasks waiting on its event, and forgets the event.

    def _wake_readers(self) -> None:
        event, self._readable = self._readable, None
        if event is not None:
            event.set()

    def _wake_writers(self) -> None:
        event, self._writable = self._writable, None
        if event is not None:
            event.set()

    def _wake_settled(self) -> None:
        event, self._settled = self._settled, None
        if event is not None:
            event.set()

    async def settled(self) -> None:
        """Wait until every item was taken and a reader asks for the next one.

        The reader has then handled what it took (or nobody will read: the
        inbox is closed or discarding).
        """
        while not (
            self._closed
            or self._discarding
            or self._bystanders
            or (self._readers and not self._items)
        ):
            if self._settled is None:
                self._settled = self._new_event()
            await self._settled.wait()

    @contextmanager
    def not_reading(self) -> Iterator[None]:
        """The application waits for the end without reading: ``settled()`` need not wait."""
        self._bystanders += 1
        self._wake_settled()
        try:
            yield
        finally:
            self._bystanders -= 1

    def discard_new(self) -> None:
        """Nobody will read any more: drop new items instead of waiting for room.

        Items already queued stay readable.
        """
        self._discarding = True
        self._wake_writers()
        self._wake_settled()

    def close(self) -> None:
        """No more items will come; waiting readers wake up and drain."""
        self._closed = True
        self._wake_readers()
        self._wake_writers()
        self._wake_settled()
