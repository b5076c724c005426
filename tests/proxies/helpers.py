"""Helpers for the proxy tests: a TLS target, a round trip that says which way it went.

``round_trip(url, **options)`` connects, echoes one message and returns the stages
the connection went through (from its trace), so a test can tell a tunnel from a
direct connection: through a proxy, the stages are ``proxy`` (then ``tls``), then
``http`` (``TUNNEL``, ``TLS_TUNNEL``); directly, ``dns``, ``tcp``, (``tls``), ``http``
(``DIRECT``). ``echo_through(proxy, ...)`` is a round trip to the ws:// or the wss://
echo server; ``credentials_refused(url, proxy)`` is the ``ProxyAuthRequired`` that a
connection through a proxy that wants other credentials fails with.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import anyio
import trustme

from tests.diagnostics.helpers import (
    TIMEOUT,
    fail_to_connect,
    server_context,
    tls_echo_server,
    trusting,
)
from tests.peers.websockets_server import WebsocketsServer
from wsapi import ProxyAuthRequired, TraceEvent, WebSocket

#: The stages of a direct connection to a ws:// server.
DIRECT = ["dns", "tcp", "http"]
#: Through a proxy, the server's name is the proxy's to resolve: no dns stage.
TUNNEL = ["proxy", "http"]
TLS_TUNNEL = ["proxy", "tls", "http"]


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


async def echo_through(
    proxy: str, *, secure: bool, ws_server: WebsocketsServer, wss_server: TLSTarget
) -> list[str]:
    """``round_trip()`` through ``proxy`` to ``wss_server`` (``secure``) or ``ws_server``."""
    if secure:
        return await round_trip(wss_server.url(), proxy=proxy, ssl=wss_server.context)
    return await round_trip(ws_server.url("/echo"), proxy=proxy)


async def credentials_refused(url: str, proxy: str) -> ProxyAuthRequired:
    """The error of a connection through ``proxy`` that wants other credentials.

    Checked here: it is a ``ProxyAuthRequired`` at stage ``proxy``, and the message
    does not show the proxy URL's password.
    """
    error = await fail_to_connect(url, proxy=proxy)
    assert type(error) is ProxyAuthRequired
    assert error.stage == "proxy"
    password = urlsplit(proxy).password
    assert not password or password not in str(error)
    return error


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
