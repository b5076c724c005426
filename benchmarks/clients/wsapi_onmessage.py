"""wsapi on asyncio, the browser's way: ``ws.onmessage = listener``, the listener sends.

A listener that is not a coroutine function runs in the event loop's callback that read
the message; what it sends is written before that callback returns: one loop iteration
per round trip, no task woken per message. Measured for the message workloads only: the
opening, the closing and the memory are ``wsapi-asyncio``'s.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from .base import CLOCK_EVERY, Message
from .wsapi_asyncio import Client as RecvClient


class Client(RecvClient):
    name = "wsapi-onmessage"
    only = frozenset({"rtt16", "pipe1k", "pipe64k", "msg1m", "deflate1k"})

    async def roundtrips(self, conn: Any, message: Message, count: int, deadline: float) -> int:
        send = conn.send
        clock = time.perf_counter
        finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done = [0]

        def on_message(_: Any) -> None:
            received = done[0] = done[0] + 1
            if received >= count or (received % CLOCK_EVERY == 0 and clock() > deadline):
                if not finished.done():
                    finished.set_result(None)
                return
            send(message)

        conn.onmessage = on_message
        try:
            send(message)
            await finished
        finally:
            conn.onmessage = None
        return done[0]

    async def pipelined(
        self, conn: Any, messages: Sequence[Message], count: int, window: int, deadline: float
    ) -> int:
        send = conn.send
        clock = time.perf_counter
        n = len(messages)
        finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        state = [0, 0, count]  # sent, received, count

        def on_message(_: Any) -> None:
            sent, received, limit = state
            received += 1
            if sent < limit:
                if sent % CLOCK_EVERY or clock() < deadline:
                    send(messages[sent % n])
                    sent += 1
                else:
                    limit = sent
            state[0], state[1], state[2] = sent, received, limit
            if received >= sent and not finished.done():
                finished.set_result(None)

        conn.onmessage = on_message
        try:
            while state[0] < window and state[0] < count:
                send(messages[state[0] % n])
                state[0] += 1
            await finished
        finally:
            conn.onmessage = None
        return state[1]
