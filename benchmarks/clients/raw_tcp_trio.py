"""Raw TCP echo through anyio's ``SocketStream`` on trio: the transport limit there."""

from __future__ import annotations

from . import raw_tcp


class Client(raw_tcp.Client):
    name = "raw-tcp-trio"
    backend = "trio"
