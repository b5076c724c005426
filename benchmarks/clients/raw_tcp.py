"""Raw TCP echo through anyio's ``SocketStream`` on asyncio: the transport limit.

No WebSocket framing: one task does ``await stream.send()`` / ``await stream.receive()``,
and the pipelined helper sends everything the window allows in one write. ``recv()``
reads exactly as many bytes as the oldest unanswered ``send()`` wrote.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import anyio

from .base import CLOCK_EVERY, BaseClient, Message, version_of

#: As wsapi's transport asks for.
READ_SIZE = 256 * 1024


class _Conn:
    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.pending: deque[int] = deque()
        self.buffer = bytearray()


class Client(BaseClient):
    name = "raw-tcp"
    backend = "asyncio"
    transport = "tcp"
    deflate = False

    @staticmethod
    def version() -> str:
        return "anyio " + version_of("anyio")

    async def connect(self, url: str, compression: bool = False) -> Any:
        if compression:
            raise NotImplementedError("raw TCP has no permessage-deflate")
        parts = urlsplit(url)
        return _Conn(await anyio.connect_tcp(parts.hostname, parts.port))

    async def send(self, conn: Any, data: Message) -> None:
        payload = data.encode() if isinstance(data, str) else data
        conn.pending.append(len(payload))
        await conn.stream.send(payload)

    async def recv(self, conn: Any) -> Message:
        size = conn.pending.popleft()
        while len(conn.buffer) < size:
            conn.buffer += await conn.stream.receive(READ_SIZE)
        data = bytes(conn.buffer[:size])
        del conn.buffer[:size]
        return data

    async def close(self, conn: Any) -> None:
        await conn.stream.aclose()

    async def roundtrips(self, conn: Any, message: Message, count: int, deadline: float) -> int:
        assert isinstance(message, bytes)
        send, receive = conn.stream.send, conn.stream.receive
        size = len(message)
        clock = time.perf_counter
        done = 0
        while done < count:
            await send(message)
            got = 0
            while got < size:
                got += len(await receive(READ_SIZE))
            done += 1
            if done % CLOCK_EVERY == 0 and clock() > deadline:
                break
        return done

    async def pipelined(
        self, conn: Any, messages: Sequence[Message], count: int, window: int, deadline: float
    ) -> int:
        message = messages[0]
        assert isinstance(message, bytes)
        send, receive = conn.stream.send, conn.stream.receive
        size = len(message)
        clock = time.perf_counter
        sent = min(window, count)
        await send(message * sent)
        received_bytes = received = 0
        while received < sent:
            received_bytes += len(await receive(READ_SIZE))
            echoed = received_bytes // size
            more = min(echoed - received, count - sent)
            received = echoed
            if more > 0:
                if clock() < deadline:
                    await send(message * more if more > 1 else message)
                    sent += more
                else:
                    count = sent
        return received
