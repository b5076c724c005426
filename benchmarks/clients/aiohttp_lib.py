"""aiohttp: one ``ClientSession`` (no connection limit) shared by the connections of a run."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import aiohttp

from .base import CLOCK_EVERY, BaseClient, Message, version_of


class Client(BaseClient):
    name = "aiohttp"
    backend = "asyncio"
    deflate = True

    @staticmethod
    def version() -> str:
        return version_of("aiohttp")

    async def setup(self) -> None:
        # limit=0: the default pool holds at most 100 connections, WebSockets included.
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

    async def teardown(self) -> None:
        await self.session.close()

    async def connect(self, url: str, compression: bool = False) -> Any:
        return await self.session.ws_connect(
            url, compress=15 if compression else 0, max_msg_size=64 * 2**20
        )

    async def send(self, conn: Any, data: Message) -> None:
        if isinstance(data, str):
            await conn.send_str(data)
        else:
            await conn.send_bytes(data)

    async def recv(self, conn: Any) -> Message:
        msg = await conn.receive()
        if msg.type not in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT):
            raise ConnectionError(f"unexpected {msg.type!r}")
        return msg.data  # type: ignore[no-any-return]

    async def close(self, conn: Any) -> None:
        await conn.close()

    async def roundtrips(self, conn: Any, message: Message, count: int, deadline: float) -> int:
        send = conn.send_str if isinstance(message, str) else conn.send_bytes
        recv = conn.receive
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
        send = conn.send_str if isinstance(messages[0], str) else conn.send_bytes
        recv = conn.receive
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
