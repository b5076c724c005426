"""Helpers for the proxy tests: a TLS target, a round trip that says which way it went.

``round_trip(url, **options)`` connects, echoes one message and returns the stages
the connection went through (from its trace), so a test can tell a tunnel from a
direct connection: through a proxy, the stages are ``proxy`` (then ``tls``), then
``http``; directly, ``dns``, ``tcp``, (``tls``), ``http``.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anyio
import trustme

from tests.diagnostics.helpers import TIMEOUT, server_context, tls_echo_server, trusting
from wsapi import TraceEvent, WebSocket


@dataclass
class TLSTarget:
    """A wss:// echo server (websockets, behind TLS) whose certificate ``context`` trusts."""

    port: int
    context: ssl.SSLContext
    ca: trustme.CA

    def url(self, host: str = "127.0.0.1") -> str:
        return f"wss://{host}:{self.port}/"


@contextlib.contextmanager
def tls_target() -> Iterator[TLSTarget]:
    """A TLS echo server on 127.0.0.1 with a certificate for localhost and 127.0.0.1."""
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1", "::1")
    with tls_echo_server(server_context(cert)) as port:
        yield TLSTarget(port, trusting(ca), ca)


async def round_trip(url: str, message: str = "hello", **options: Any) -> list[str]:
    """Connect, send ``message``, check the echo, close; the stages the trace showed."""
    events: list[TraceEvent] = []
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(url, trace=events.append, **options) as ws:
            ws.send(message)
            assert await ws.recv() == message
    return stages(events)


def stages(events: list[TraceEvent]) -> list[str]:
    """The stage names in ``events``, in order (addresses left out)."""
    return [
        event.detail
        for event in events
        if event.kind == "stage" and not event.detail.startswith("tcp connect")
    ]


def addresses(events: list[TraceEvent]) -> list[str]:
    """The addresses connected to, in order."""
    prefix = "tcp connect "
    return [
        event.detail[len(prefix) :]
        for event in events
        if event.kind == "stage" and event.detail.startswith(prefix)
    ]
