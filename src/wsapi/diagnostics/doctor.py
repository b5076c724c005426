"""``diagnose(url)``: check a WebSocket URL stage by stage, and say what to fix.

The stages are the ones a connection goes through, run with the same code
(``transport.connect`` for DNS, TCP and TLS, ``transport.proxy`` and
``transport.unix`` for the other ways to the server, ``ClientProtocol`` for the
upgrade and the frames), one at a time, each timed and described::

    url    the URL parses (the constructor's SyntaxError otherwise)
    dns    the host name resolves (the addresses)
    tcp    an address accepts the connection (time per address tried)
    tls    wss:// only: version, cipher, certificate, verification
    http   the upgrade request and the server's answer (status, headers)
    open   the 101 is a valid WebSocket accept (subprotocol, extensions)
    ping   a ping comes back as a pong
    close  the closing handshake completes

Through a proxy (``proxy=``, or the environment as ``WebSocket`` reads it), DNS
and TCP are the proxy's, and the tunnel comes before TLS to the server::

    proxy      which proxy applies, and where it is set
    dns        socks5:// only: the server's name resolves here
    proxy-dns  the proxy's host name resolves
    proxy-tcp  the proxy accepts the connection (time per address tried)
    proxy-tls  https:// proxies only: TLS with the proxy
    tunnel     CONNECT and the proxy's answer, or the SOCKS5 reply

To a Unix socket (``unix_socket=``), one stage, ``unix``, replaces DNS and TCP.

The first stage that fails carries the error a ``WebSocket`` would raise (its
text is the message users see) and the fix; the stages after it are skipped.
When a certificate fails verification, the doctor connects a second time
without verifying, only to show the certificate (subject, issuer, names and
dates); nothing is ever sent over that connection.

Nothing here prints: ``diagnose`` returns a ``DoctorReport``; ``wsapi doctor``
(``wsapi.cli.doctor``) renders it.

The checks live in the modules named after their stages: ``network`` (url,
dns, tcp, unix), ``proxy``, ``tls`` and ``websocket`` (http, open, ping,
close), on the shared state of ``diagnosis``; ``report`` holds the report.
This module runs them in order, and chooses the way to the server.
"""

from __future__ import annotations

import os
import ssl
import sys
from collections.abc import Sequence

import anyio

from ..errors import ProxyError
from ..protocol.proxy import proxy_option
from ..transport.connect import timeout_error
from ..transport.proxy import choose_proxy
from ..version import __version__
from .diagnosis import Route, chained
from .network import NetworkChecks
from .proxy import ProxyChecks
from .report import (
    PROXY_STAGES,
    STAGES,
    UNIX_STAGES,
    DoctorReport,
    StageReport,
    redact_header,
)
from .report import SECRET_HEADERS as SECRET_HEADERS
from .report import Status as Status
from .tls import TLSChecks
from .websocket import PING_PAYLOAD as PING_PAYLOAD
from .websocket import WebSocketChecks

__all__ = [
    "PROXY_STAGES",
    "STAGES",
    "UNIX_STAGES",
    "DoctorReport",
    "StageReport",
    "diagnose",
    "redact_header",
]

USER_AGENT = f"wsapi/{__version__} (Python {sys.version_info.major}.{sys.version_info.minor})"


async def diagnose(
    url: str,
    *,
    headers: Sequence[tuple[str, str]] = (),
    protocols: str | Sequence[str] | None = None,
    origin: str | None = None,
    ssl_context: ssl.SSLContext | None = None,
    stage_timeout: float = 10.0,
    compression: bool = True,
    user_agent: str | None = USER_AGENT,
    open_timeout: float | None = None,
    ping_timeout: float | None = None,
    close_timeout: float | None = None,
    proxy: str | bool | None = True,
    proxy_ssl: ssl.SSLContext | None = None,
    unix_socket: str | os.PathLike[str] | None = None,
) -> DoctorReport:
    """Check ``url`` stage by stage; never raises for a connection problem.

    The options are those of ``WebSocket`` (``ssl_context`` is its ``ssl=``);
    ``proxy`` (a proxy URL, ``True`` for the environment's, None for none),
    ``proxy_ssl`` and ``unix_socket`` choose the way to the server, and its stages.
    ``stage_timeout`` bounds each stage, in seconds. ``open_timeout``, when
    given, also bounds the stages of the opening (DNS, TCP, TLS and the
    upgrade) together, as ``WebSocket``'s does, and a stage that runs out of it
    fails with the ``OpenTimeout`` a ``WebSocket`` raises; ``ping_timeout`` and
    ``close_timeout``, when given, bound the ping round trip and the closing
    handshake instead of ``stage_timeout``. ``math.inf`` sets no limit.
    """
    route = Route(proxy, proxy_ssl, unix_socket)
    doctor = _Doctor(url, stage_timeout, open_timeout, ping_timeout, close_timeout, route)
    try:
        await doctor.run(headers, protocols, origin, ssl_context, compression, user_agent)
    finally:
        await doctor.release()
    return doctor.report


# One class, its stages' checks written as mixins on ``Diagnosis``, one module a
# group of stages; ProxyChecks builds on NetworkChecks and TLSChecks, so it comes first.
class _Doctor(ProxyChecks, NetworkChecks, TLSChecks, WebSocketChecks):
    """All the stages' checks, run in order on one diagnosis."""

    # -- the run -----------------------------------------------------------------

    async def run(
        self,
        headers: Sequence[tuple[str, str]],
        protocols: str | Sequence[str] | None,
        origin: str | None,
        ssl_context: ssl.SSLContext | None,
        compression: bool,
        user_agent: str | None,
    ) -> None:
        if not self.check_url(headers, protocols, origin, compression, user_agent):
            return
        if self.open_timeout is not None:
            self.open_deadline = anyio.current_time() + self.open_timeout
        if not await self.check_way():
            return
        if not await self.check_tls(ssl_context):
            return
        if not await self.check_upgrade():
            return
        if not await self.check_ping():
            return
        await self.check_close()

    # -- the way to the server ----------------------------------------------------

    async def check_way(self) -> bool:
        """The stages that make a stream to the server: DNS and TCP, a Unix socket, a proxy."""
        assert self.url is not None
        route = self.route
        if route.unix_socket is not None:
            return await self.check_unix()
        started = anyio.current_time()
        limit, named = self.opening_limit()
        try:
            setting = proxy_option(route.proxy, unix_socket=None)
            with anyio.fail_after(limit):
                route.chosen = await choose_proxy(self.url, setting)
        except (TypeError, ValueError, ImportError, ProxyError, TimeoutError) as exc:
            self.lay_out(self.proxy_stages(None))
            stage = self.stage("proxy")
            stage.seconds = anyio.current_time() - started
            if isinstance(exc, TimeoutError):
                return self.fail(stage, chained(timeout_error(self.url, "proxy", named), exc))
            if isinstance(exc, ProxyError):  # a proxy variable that is not a proxy URL
                return self.fail(stage, exc)
            fix = (
                "Install SOCKS support: pip install 'wsapi[socks]'."
                if isinstance(exc, ImportError)
                else "Give a proxy URL such as http://proxy.example:3128 (or https://, "
                "socks5://, socks5h://), or no proxy."
            )
            return self.fail(stage, exc, fix=fix)
        if route.chosen is not None:
            return await self.check_proxy(route.chosen, anyio.current_time() - started)
        addresses = await self.check_dns()
        return addresses is not None and await self.check_tcp(addresses)
