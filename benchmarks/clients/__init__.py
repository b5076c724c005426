"""One module per client; ``CLIENTS`` maps the command-line name to its module."""

from __future__ import annotations

import importlib
from typing import Any

#: name -> module under ``clients``; the order is the order of the table's columns.
CLIENTS = {
    "wsapi-asyncio": "wsapi_asyncio",
    "wsapi-trio": "wsapi_trio",
    "wsapi-onmessage": "wsapi_onmessage",
    "websockets": "websockets_lib",
    "aiohttp": "aiohttp_lib",
    "picows": "picows_lib",
    "trio-websocket": "trio_websocket_lib",
    "httpx-ws": "httpx_ws_lib",
    "raw-tcp": "raw_tcp",
    "raw-tcp-trio": "raw_tcp_trio",
}

#: The client every ratio is taken against.
BASELINE = "websockets"


def load(name: str) -> Any:
    """The ``Client`` class of client ``name``."""
    module = importlib.import_module(f"clients.{CLIENTS[name]}")
    return module.Client
