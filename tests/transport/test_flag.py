"""The events the transport waits on (flag.py), and the inbox that uses them, on both backends.

On asyncio ``EventMaker`` makes ``FutureEvent``s (a future per waiting task)
instead of anyio's events; the behaviour must be anyio's: every waiter wakes,
a cancelled waiter does not disturb the others, and cancelling ``recv()`` over
and over keeps nothing.
"""

from __future__ import annotations

import anyio
import pytest

from wsapi.transport.flag import EventMaker, FutureEvent
from wsapi.transport.inbox import Inbox, InboxClosed

pytestmark = pytest.mark.anyio

TIMEOUT = 5.0


def test_the_event_class_follows_the_backend(anyio_backend: str) -> None:
    async def made() -> type:
        return type(EventMaker()._new_event())

    cls = anyio.run(made, backend=anyio_backend)
    if anyio_backend == "asyncio":
        assert cls is FutureEvent
    else:
        assert cls.__module__.startswith("anyio._backends._trio")


async def test_set_wakes_every_waiter_and_a_cancelled_one_disturbs_none() -> None:
    event = EventMaker()._new_event()
    woken: list[int] = []

    async def waiter(index: int) -> None:
        await event.wait()
        woken.append(index)

    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as group:
            for index in range(3):
                group.start_soon(waiter, index)
            await anyio.wait_all_tasks_blocked()
            async with anyio.create_task_group() as inner:
                inner.start_soon(waiter, 100)
                await anyio.wait_all_tasks_blocked()
                inner.cancel_scope.cancel()  # one waiter gives up
            await anyio.wait_all_tasks_blocked()
            assert not event.is_set() and woken == []
            event.set()
            event.set()  # twice is harmless
        assert sorted(woken) == [0, 1, 2]
        assert event.is_set()
        await event.wait()  # set already: returns (after a checkpoint)


async def test_a_cancelled_recv_keeps_nothing_and_the_next_one_gets_the_message() -> None:
    inbox = Inbox(4)
    with anyio.fail_after(TIMEOUT):
        for _ in range(1000):
            with anyio.move_on_after(0):
                await inbox.get()
        event = inbox._readable
        if isinstance(event, FutureEvent):
            # The futures of cancelled waiters are dropped, not kept to the end.
            assert event._waiters is None or len(event._waiters) <= 1
        async with anyio.create_task_group() as group:
            got: list[str | bytes] = []

            async def reader() -> None:
                got.append(await inbox.get())

            group.start_soon(reader)
            await anyio.wait_all_tasks_blocked()
            assert inbox.put_nowait("hello")
        assert got == ["hello"]
        inbox.close()
        with pytest.raises(InboxClosed):
            await inbox.get()
