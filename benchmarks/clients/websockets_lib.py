"""websockets (its asyncio implementation): ``await ws.send(x)``, ``await ws.recv()``."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from websockets.asyncio.client import connect

from .base import CLOCK_EVERY, BaseClient, Message, version_of


class Client(BaseClient):
    name = "websockets"
    backend = "asyncio"
    deflate = True

    @staticmethod
    def version() -> str:
        return version_of("websockets")

    async def connect(self, url: str, compression: bool = False) -> Any:
        return await connect(
            url,
            compression="deflate" if compression else None,
            ping_interval=None,
            max_size=64 * 2**20,
        )

    async def send(self, conn: Any, data: Message) -> None:
        await conn.send(data)

    async def recv(self, conn: Any) -> Message:
        return await conn.recv()  # type: ignore[no-any-return]

    async def close(self, conn: Any) -> None:
        await conn.close()

    async def roundtrips(self, conn: Any, message: Message, count: int, deadline: float) -> int:
        send, recv = conn.send, conn.recv
        clock = time.perf_counter
        done = 0
        while done < count:
            await send(message)
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
            await send(messages[sent % n])
            sent += 1
        while received < sent:
            await recv()
            received += 1
            if sent < count and (sent % CLOCK_EVERY or clock() < deadline):
                await send(messages[sent % n])
                sent += 1
            elif sent < count:
                count = sent
        return received
