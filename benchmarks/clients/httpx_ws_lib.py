"""httpx-ws on asyncio: ``aconnect_ws`` over one shared ``httpx.AsyncClient``."""

from __future__ import annotations

from typing import Any

import httpx
from httpx_ws import aconnect_ws

from .base import BaseClient, Message, version_of


class Client(BaseClient):
    name = "httpx-ws"
    backend = "asyncio"
    deflate = False

    @staticmethod
    def version() -> str:
        return version_of("httpx-ws")

    async def setup(self) -> None:
        # No pool limit: the default (100) would also cap open WebSockets.
        self.http = httpx.AsyncClient(limits=httpx.Limits(max_connections=None))

    async def teardown(self) -> None:
        await self.http.aclose()

    async def connect(self, url: str, compression: bool = False) -> Any:
        if compression:
            raise NotImplementedError("httpx-ws has no permessage-deflate")
        manager = aconnect_ws(
            url,
            self.http,
            max_message_size_bytes=64 * 2**20,
            keepalive_ping_interval_seconds=None,
        )
        ws = await manager.__aenter__()
        return manager, ws

    async def send(self, conn: Any, data: Message) -> None:
        if isinstance(data, str):
            await conn[1].send_text(data)
        else:
            await conn[1].send_bytes(data)

    async def recv(self, conn: Any) -> Message:
        event = await conn[1].receive()
        return event.data  # type: ignore[no-any-return]

    async def close(self, conn: Any) -> None:
        await conn[0].__aexit__(None, None, None)
