"""picows: a ``WSListener`` callback per frame; ``recv()`` is a future the callback resolves.

The pipelined helper is picows's natural shape: the frame callback itself sends the next
message, no task in between. picows has no permessage-deflate.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from picows import WSCloseCode, WSListener, WSMsgType, ws_connect

from .base import CLOCK_EVERY, BaseClient, Message, version_of

BINARY, TEXT, CLOSE = WSMsgType.BINARY, WSMsgType.TEXT, WSMsgType.CLOSE


class _Listener(WSListener):  # type: ignore[misc]
    def __init__(self) -> None:
        self.messages: deque[Message] = deque()
        self.waiter: asyncio.Future[Message] | None = None
        self.callback: Callable[[Message], None] | None = None

    def on_ws_frame(self, transport: Any, frame: Any) -> None:
        msg_type = frame.msg_type
        if msg_type is BINARY:
            data: Message = frame.get_payload_as_bytes()
        elif msg_type is TEXT:
            data = frame.get_payload_as_utf8_text()
        elif msg_type is CLOSE:
            transport.disconnect()
            return
        else:
            return
        if self.callback is not None:
            self.callback(data)
            return
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(data)
                return
        self.messages.append(data)


class Client(BaseClient):
    name = "picows"
    backend = "asyncio"
    deflate = False

    @staticmethod
    def version() -> str:
        return version_of("picows")

    async def connect(self, url: str, compression: bool = False) -> Any:
        if compression:
            raise NotImplementedError("picows has no permessage-deflate")
        transport, listener = await ws_connect(_Listener, url, max_frame_size=64 * 2**20)
        return transport, listener

    async def send(self, conn: Any, data: Message) -> None:
        transport, _ = conn
        if isinstance(data, str):
            transport.send(TEXT, data.encode())
        else:
            transport.send(BINARY, data)

    async def recv(self, conn: Any) -> Message:
        _, listener = conn
        if listener.messages:
            return listener.messages.popleft()  # type: ignore[no-any-return]
        listener.waiter = asyncio.get_running_loop().create_future()
        return await listener.waiter  # type: ignore[no-any-return]

    async def close(self, conn: Any) -> None:
        transport, _ = conn
        transport.send_close(WSCloseCode.OK)
        await transport.wait_disconnected()

    async def roundtrips(self, conn: Any, message: Message, count: int, deadline: float) -> int:
        transport = conn[0]
        send, recv = transport.send, self.recv
        msg_type = TEXT if isinstance(message, str) else BINARY
        clock = time.perf_counter
        done = 0
        while done < count:
            send(msg_type, message)
            await recv(conn)
            done += 1
            if done % CLOCK_EVERY == 0 and clock() > deadline:
                break
        return done

    async def pipelined(
        self, conn: Any, messages: Sequence[Message], count: int, window: int, deadline: float
    ) -> int:
        transport, listener = conn
        send = transport.send
        msg_type = TEXT if isinstance(messages[0], str) else BINARY
        clock = time.perf_counter
        n = len(messages)
        finished = asyncio.get_running_loop().create_future()
        state = [0, 0, count]  # sent, received, count

        def on_message(_: Message) -> None:
            sent, received, limit = state
            received += 1
            if sent < limit:
                if sent % CLOCK_EVERY or clock() < deadline:
                    send(msg_type, messages[sent % n])
                    sent += 1
                else:
                    limit = sent
            state[0], state[1], state[2] = sent, received, limit
            if received >= sent and not finished.done():
                finished.set_result(received)

        listener.callback = on_message
        try:
            while state[0] < window and state[0] < count:
                send(msg_type, messages[state[0] % n])
                state[0] += 1
            return await finished  # type: ignore[no-any-return]
        finally:
            listener.callback = None
