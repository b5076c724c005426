"""The small interface every client module implements, with generic helpers.

A client module defines ``Client``, a subclass of ``BaseClient``, with:

- ``name``, ``backend`` (``"asyncio"`` or ``"trio"``), ``transport`` (``"ws"`` or ``"tcp"``),
  ``deflate`` (True when it speaks permessage-deflate) and ``version()``;
- ``connect(url, compression)`` -> a connection handle, ``send(conn, data)``,
  ``recv(conn)`` -> ``bytes``/``str``, ``close(conn)``;
- ``setup()``/``teardown()`` around a whole workload (e.g. aiohttp's session);
- ``only``: the workloads it is measured on, when not all (the others are skipped).

``roundtrips()`` and ``pipelined()`` have generic versions here built on send/recv; a
module overrides them with the library's own idiom where it has a more natural one (a
synchronous ``send()``, a callback API). Every loop stops at ``count`` operations or at
the ``deadline`` (a ``time.perf_counter()`` value), whichever comes first.

Connections opened in one task are closed in reverse order (LIFO): anyio's and trio's
task groups, which some clients open per connection, must be exited that way.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

Message = bytes | str

#: How often (in operations) the sequential loops look at the clock.
CLOCK_EVERY = 32


class BaseClient:
    name = "?"
    backend = "asyncio"
    transport = "ws"
    deflate = False
    only: frozenset[str] | None = None

    @staticmethod
    def version() -> str:
        return ""

    async def setup(self) -> None:
        pass

    async def teardown(self) -> None:
        pass

    async def connect(self, url: str, compression: bool = False) -> Any:
        raise NotImplementedError

    async def send(self, conn: Any, data: Message) -> None:
        raise NotImplementedError

    async def recv(self, conn: Any) -> Message:
        raise NotImplementedError

    async def close(self, conn: Any) -> None:
        raise NotImplementedError

    # -- helpers (generic; override where the library has a natural way) -------------

    async def roundtrips(self, conn: Any, message: Message, count: int, deadline: float) -> int:
        """Send ``message`` and wait for its echo, ``count`` times or until ``deadline``."""
        send, recv = self.send, self.recv
        clock = time.perf_counter
        done = 0
        while done < count:
            await send(conn, message)
            await recv(conn)
            done += 1
            if done % CLOCK_EVERY == 0 and clock() > deadline:
                break
        return done

    async def pipelined(
        self, conn: Any, messages: Sequence[Message], count: int, window: int, deadline: float
    ) -> int:
        """Keep ``window`` messages in flight; return how many echoes came back.

        Sends ``messages`` in turn; stops sending at ``count`` or ``deadline`` and
        then drains what is in flight.
        """
        send, recv = self.send, self.recv
        clock = time.perf_counter
        n = len(messages)
        sent = received = 0
        while sent < window and sent < count:
            await send(conn, messages[sent % n])
            sent += 1
        while received < sent:
            await recv(conn)
            received += 1
            if sent < count and (sent % CLOCK_EVERY or clock() < deadline):
                await send(conn, messages[sent % n])
                sent += 1
            elif sent < count:
                count = sent  # the deadline passed: drain what is in flight
        return received

    async def open_close(self, url: str, count: int, deadline: float) -> int:
        """Open a connection and close it, ``count`` times or until ``deadline``."""
        clock = time.perf_counter
        done = 0
        while done < count:
            conn = await self.connect(url)
            await self.close(conn)
            done += 1
            if clock() > deadline:
                break
        return done


def version_of(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "?"
