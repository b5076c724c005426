"""wsapi on asyncio: ``async with WebSocket(url) as ws: ws.send(x); await ws.recv()``."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from wsapi import WebSocket

from .base import CLOCK_EVERY, BaseClient, Message, version_of


class Client(BaseClient):
    name = "wsapi-asyncio"
    backend = "asyncio"
    deflate = True

    @staticmethod
    def version() -> str:
        return version_of("wsapi")

    async def connect(self, url: str, compression: bool = False) -> Any:
        ws = WebSocket(
            url,
            compression="deflate" if compression else None,
            ping_interval=None,
            max_message_size=64 * 2**20,
        )
        await ws.__aenter__()
        return ws

    async def send(self, conn: Any, data: Message) -> None:
        conn.send(data)

    async def recv(self, conn: Any) -> Message:
        return await conn.recv()  # type: ignore[no-any-return]

    async def close(self, conn: Any) -> None:
        await conn.__aexit__(None, None, None)

    # send() is synchronous: the loops call it directly.

    async def roundtrips(self, conn: Any, message: Message, count: int, deadline: float) -> int:
        send, recv = conn.send, conn.recv
        clock = time.perf_counter
        done = 0
        while done < count:
            send(message)
            await recv()
            done += 1
            if done % CLOCK_EVERY == 0 and clock() > deadline:
                break
        return done

    async def pipelined(
        self, conn: Any, messages: Sequence[Message], count: int, window: int, deadline: float
    ) -> int:
        send, recv = conn.send, conn.recv
        clock = time.perf_counter
        n = len(messages)
        sent = received = 0
        while sent < window and sent < count:
            send(messages[sent % n])
            sent += 1
        while received < sent:
            await recv()
            received += 1
            if sent < count and (sent % CLOCK_EVERY or clock() < deadline):
                send(messages[sent % n])
                sent += 1
            elif sent < count:
                count = sent
        return received
