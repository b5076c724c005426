"""trio-websocket: ``open_websocket_url`` (its defaults but the message size limit)."""

from __future__ import annotations

from typing import Any

from trio_websocket import open_websocket_url

from .base import BaseClient, Message, version_of


class Client(BaseClient):
    name = "trio-websocket"
    backend = "trio"
    deflate = False

    @staticmethod
    def version() -> str:
        return version_of("trio-websocket")

    async def connect(self, url: str, compression: bool = False) -> Any:
        if compression:
            raise NotImplementedError("trio-websocket has no permessage-deflate")
        manager = open_websocket_url(url, max_message_size=64 * 2**20)
        ws = await manager.__aenter__()
        return manager, ws

    async def send(self, conn: Any, data: Message) -> None:
        await conn[1].send_message(data)

    async def recv(self, conn: Any) -> Message:
        return await conn[1].get_message()  # type: ignore[no-any-return]

    async def close(self, conn: Any) -> None:
        await conn[0].__aexit__(None, None, None)
