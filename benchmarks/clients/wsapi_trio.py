"""wsapi on trio: the same code as on asyncio, run by ``trio.run``."""

from __future__ import annotations

from . import wsapi_asyncio


class Client(wsapi_asyncio.Client):
    name = "wsapi-trio"
    backend = "trio"
