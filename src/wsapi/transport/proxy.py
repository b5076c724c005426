"""Reaching the server through a proxy: the ``proxy`` stage of opening.

``open_tunnel`` resolves and connects to the proxy (happy eyeballs, as for
a server), does TLS with an ``https://`` proxy, then lets the sans-IO
``HTTPTunnel`` (``CONNECT``) or ``SOCKS5Tunnel`` negotiate the tunnel; the
stream it returns leads to the server, and TLS for ``wss://`` runs over it.
Every failure is a ``ProxyError`` naming the proxy (without credentials) and
where it was configured; a timeout is an ``OpenTimeout`` at stage ``proxy``.

The steps of ``open_tunnel`` are public (``lookup_proxy``, ``connect_proxy``,
``start_proxy_tls``, ``tunnel_for``, ``negotiate``) so that ``wsapi doctor`` runs
exactly the code a connection runs, one step at a time.
"""

from __future__ import annotations

import ipaddress
import ssl
import sys
from typing import TYPE_CHECKING, Protocol

import anyio
import anyio.to_thread
from anyio.abc import ByteStream
from anyio.streams.tls import TLSStream

from ..errors import (
    ConnectionFailed,
    ProxyError,
    ProxyRefused,
    ProxyTLSError,
    ProxyUnreachable,
)
from ..protocol.proxy import (
    HTTPTunnel,
    InvalidProxyURL,
    ProxySetting,
    ProxyURL,
    proxy_from_environment,
)
from ..protocol.url import WebSocketURL
from .connect import (
    AttemptsFailed,
    Stage,
    connect_addresses,
    is_refusal,
    lookup,
    os_reason,
    resolve,
    root_error,
)
from .tls import default_ssl_context

if TYPE_CHECKING:
    from ..protocol.socks import SOCKS5Tunnel

__all__ = [
    "Tunnel",
    "choose_proxy",
    "connect_proxy",
    "lookup_proxy",
    "negotiate",
    "open_tunnel",
    "require_socksio",
    "resolves_here",
    "start_proxy_tls",
    "tunnel_for",
]

#: How much one read of the proxy's answer asks for.
_READ_SIZE = 64 * 1024

#: ssl.SSLError reasons that mean "this port answered in plain text".
_PLAIN_TEXT_REASONS = frozenset({"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "HTTP_REQUEST"})


async def choose_proxy(url: WebSocketURL, setting: ProxySetting) -> ProxyURL | None:
    """The proxy for ``url``: the one given, none, or (``True``) the environment's."""
    if setting is not True:
        return setting
    try:
        if sys.platform in ("darwin", "win32"):
            # Without variables, urllib reads the system's settings there, and its
            # bypass rules may resolve names: not on the event loop's thread.
            return await anyio.to_thread.run_sync(proxy_from_environment, url)
        return proxy_from_environment(url)
    except InvalidProxyURL as exc:
        where = exc.source
        raise ProxyError(
            url.href,
            f"the proxy in {where} is not usable ({exc})",
            f"Set {where} to a URL such as http://proxy.example:3128 (or https://, socks5://, "
            "socks5h://), or unset it; proxy=None ignores the environment.",
        ) from exc


async def open_tunnel(
    url: WebSocketURL, proxy: ProxyURL, stage: Stage, proxy_ssl: ssl.SSLContext | None = None
) -> ByteStream:
    """A stream to ``url``'s host and port through ``proxy``; raise a ``ConnectionFailed``."""
    host = url.hostname
    if proxy.is_socks:
        require_socksio(url, proxy)
        if resolves_here(url, proxy):
            stage.name = "dns"
            host = (await resolve(url))[0]
    stage.name = "proxy"
    stream = await connect_proxy(url, proxy, await lookup_proxy(url, proxy), stage)
    try:
        if proxy.scheme == "https":
            stream = await start_proxy_tls(url, proxy, stream, proxy_ssl or default_ssl_context())
        await negotiate(stream, tunnel_for(url, proxy, host))
    except BaseException:
        # Failure, timeout or cancellation: the connection must not outlive the attempt.
        await anyio.aclose_forcefully(stream)
        raise
    return stream


class Tunnel(Protocol):
    """What ``negotiate`` drives: ``HTTPTunnel`` or ``SOCKS5Tunnel`` (sans-IO)."""

    def data_to_send(self) -> bytes: ...

    def receive_data(self, data: bytes) -> bool: ...


def resolves_here(url: WebSocketURL, proxy: ProxyURL) -> bool:
    """Whether the server's host name is resolved here, not by the proxy.

    ``socks5://`` resolves here and sends an address; ``socks5h://`` and HTTP
    proxies send the name. An IP address needs no resolving.
    """
    return proxy.scheme == "socks5" and not _is_address(url.hostname)


def tunnel_for(url: WebSocketURL, proxy: ProxyURL, host: str) -> HTTPTunnel | SOCKS5Tunnel:
    """The sans-IO handshake that opens a tunnel to ``host`` (``url``'s port) through ``proxy``."""
    if proxy.is_socks:
        from ..protocol.socks import SOCKS5Tunnel

        return SOCKS5Tunnel(url, proxy, host)
    return HTTPTunnel(url, proxy)


def require_socksio(url: WebSocketURL, proxy: ProxyURL) -> None:
    """Raise the ``ProxyError`` that says to install the ``socks`` extra, when it is missing."""
    try:
        import socksio  # noqa: F401
    except ImportError as exc:
        raise ProxyError(
            url.href,
            f"{proxy.describe()} is a SOCKS proxy, and SOCKS support is not installed",
            f"Install it with pip install 'wsapi[socks]' (the socksio package), or {proxy.bypass}.",
            proxy=proxy.href,
        ) from exc


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def lookup_proxy(url: WebSocketURL, proxy: ProxyURL) -> list[str]:
    """The addresses of the proxy's host name; raise ``ProxyUnreachable``."""
    try:
        return await lookup(proxy.hostname, proxy.port)
    except OSError as exc:
        raise ProxyUnreachable(
            url.href,
            f"the host name of {proxy.describe()} could not be resolved ({exc.strerror or exc})",
            f"Check the proxy's host name in {proxy.setting}, and that this machine can "
            f"resolve it; {proxy.bypass}.",
            proxy=proxy.href,
        ) from exc


async def connect_proxy(
    url: WebSocketURL, proxy: ProxyURL, addresses: list[str], stage: Stage
) -> ByteStream:
    """Connect to the proxy at one of ``addresses`` (happy eyeballs, attempts in ``stage``)."""
    try:
        return await connect_addresses(addresses, proxy.port, stage)
    except AttemptsFailed as exc:
        raise _connect_error(url, proxy, exc.errors) from root_error(exc.errors[0][1])


def _connect_error(
    url: WebSocketURL, proxy: ProxyURL, errors: list[tuple[str, OSError]]
) -> ConnectionFailed:
    roots = [root_error(exc) for _, exc in errors]
    if all(is_refusal(root) for root in roots):
        tried = ", ".join(shown for shown, _ in errors)
        return ProxyRefused(
            url.href,
            f"the connection to {proxy.describe()} was refused: nothing is listening on {tried}",
            f"Check that the proxy is running, and the host and port in {proxy.setting}; "
            f"{proxy.bypass}.",
            proxy=proxy.href,
        )
    shown = ", ".join(f"{address} ({os_reason(root_error(exc))})" for address, exc in errors)
    return ProxyUnreachable(
        url.href,
        f"could not reach {proxy.describe()} at {shown}",
        f"Check the network path to the proxy (connection, VPN, firewall) and its address in "
        f"{proxy.setting}; {proxy.bypass}.",
        proxy=proxy.href,
    )


async def start_proxy_tls(
    url: WebSocketURL, proxy: ProxyURL, stream: ByteStream, context: ssl.SSLContext
) -> TLSStream:
    """TLS with an ``https://`` proxy over ``stream``; raise ``ProxyTLSError``."""
    try:
        return await TLSStream.wrap(
            stream, hostname=proxy.hostname, ssl_context=context, standard_compatible=False
        )
    except (ssl.SSLError, anyio.BrokenResourceError, anyio.EndOfStream, OSError) as exc:
        cause, fix = _tls_failure(proxy, exc)
        raise ProxyTLSError(url.href, cause, fix, proxy=proxy.href) from exc


def _tls_failure(proxy: ProxyURL, exc: BaseException) -> tuple[str, str]:
    """(cause, fix) for a failed TLS handshake with an ``https://`` proxy."""
    other = "Check that the proxy speaks TLS on this port; if it does not, use http://."
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or str(exc)
        return (
            f"the TLS certificate of {proxy.describe()} was rejected ({reason})",
            "An https:// proxy must present a certificate this client trusts: pass "
            "proxy_ssl=ssl.create_default_context(cafile='proxy-ca.pem') with its CA.",
        )
    if isinstance(exc, ssl.SSLError) and exc.reason in _PLAIN_TEXT_REASONS:
        return (
            f"{proxy.describe()} does not speak TLS (it answered in plain text)",
            "An https:// proxy URL means TLS to the proxy itself, which most proxies do not "
            "speak: use http:// (a wss:// connection is still encrypted end to end).",
        )
    if isinstance(exc, ssl.SSLError):
        return f"the TLS handshake with {proxy.describe()} failed ({exc.reason or exc})", other
    return f"{proxy.describe()} closed the connection during the TLS handshake", other


async def negotiate(stream: ByteStream, tunnel: Tunnel) -> None:
    """Run the tunnel's handshake over ``stream`` until it is open (or raises)."""
    while True:
        outgoing = tunnel.data_to_send()
        if outgoing:
            try:
                await stream.send(outgoing)
            except (anyio.BrokenResourceError, OSError):
                pass  # the proxy hung up: what it said before, if anything, is read next
        try:
            data = await stream.receive(_READ_SIZE)
        except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
            data = b""
        if tunnel.receive_data(data):
            return
