"""The stages through a proxy: which proxy, its DNS, TCP and TLS, then the tunnel.

They run ``transport.proxy``'s code one step at a time; the proxy's DNS and TCP
stages are ``network``'s, and its TLS stage reports as ``tls``'s does.
"""

from __future__ import annotations

import anyio

from ..errors import ConnectionFailed, ProxyError
from ..protocol.proxy import EXPLICIT, HTTPTunnel, ProxyURL
from ..transport.connect import Stage, timeout_error
from ..transport.proxy import (
    Tunnel,
    connect_proxy,
    lookup_proxy,
    negotiate,
    require_socksio,
    resolves_here,
    start_proxy_tls,
    tunnel_for,
)
from ..transport.tls import default_ssl_context
from .diagnosis import chained
from .network import NetworkChecks
from .report import PROXY_STAGES, request_lines, response_lines
from .tls import TLSChecks

__all__ = ["ProxyChecks"]


class ProxyChecks(NetworkChecks, TLSChecks):
    """The stages ``proxy``, ``proxy-dns``, ``proxy-tcp``, ``proxy-tls`` and ``tunnel``."""

    def proxy_stages(self, proxy: ProxyURL | None) -> list[str]:
        assert self.url is not None
        local_dns = proxy is not None and resolves_here(self.url, proxy)
        return [name for name in PROXY_STAGES if name != "dns" or local_dns]

    async def check_proxy(self, proxy: ProxyURL, seconds: float) -> bool:
        assert self.url is not None
        url = self.url
        self.lay_out(self.proxy_stages(proxy))
        stage = self.stage("proxy")
        stage.seconds = seconds
        if proxy.is_socks:
            try:
                require_socksio(url, proxy)
            except ProxyError as exc:
                return self.fail(stage, exc)
        stage.status = "ok"
        given = proxy.source == EXPLICIT
        stage.summary = proxy.href if given else f"{proxy.href} (from {proxy.source})"
        stage.details.append(_PROXY_KINDS[proxy.scheme])
        if proxy.has_credentials:
            sent = "in a SOCKS5 login" if proxy.is_socks else "as Proxy-Authorization"
            stage.details.append(f"credentials in the proxy URL: sent {sent} (not shown)")
        stage.facts = {
            "proxy": proxy.href,
            "source": proxy.source,
            "credentials": proxy.has_credentials,
        }
        host = url.hostname
        if resolves_here(url, proxy):
            addresses = await self.check_dns()
            if addresses is None:
                return False
            host = addresses[0]
        found = await self.resolve_stage(
            "proxy-dns", proxy.hostname, "proxy", lambda: lookup_proxy(url, proxy)
        )
        if found is None:
            return False
        addresses = found
        progress = Stage(name="proxy")
        if not await self.connect_stage(
            "proxy-tcp", "proxy", progress, lambda: connect_proxy(url, proxy, addresses, progress)
        ):
            return False
        return await self.check_proxy_tls(proxy) and await self.check_tunnel(
            proxy, host, progress.address
        )

    async def check_proxy_tls(self, proxy: ProxyURL) -> bool:
        assert self.url is not None and self.stream is not None
        stage = self.stage("proxy-tls")
        if proxy.scheme != "https":
            stage.summary = f"not used: {'SOCKS5' if proxy.is_socks else 'http://'} proxy"
            return True
        context = self.route.proxy_ssl or default_ssl_context()
        started = anyio.current_time()
        limit, named = self.opening_limit()
        try:
            with anyio.fail_after(limit):
                tls = await start_proxy_tls(self.url, proxy, self.stream, context)
        except TimeoutError as exc:
            stage.seconds = anyio.current_time() - started
            return self.fail(stage, chained(timeout_error(self.url, "proxy", named), exc))
        except ConnectionFailed as exc:
            stage.seconds = anyio.current_time() - started
            return self.fail(stage, exc)
        stage.seconds = anyio.current_time() - started
        version, cipher_name = self.tls_passed(stage, tls)
        trusted = "proxy_ssl" if self.route.proxy_ssl is not None else "certifi's roots"
        stage.details.append(f"verified: trusted by {trusted}, valid for {proxy.hostname}")
        stage.facts.update({"version": version, "cipher": cipher_name})
        return True

    async def check_tunnel(self, proxy: ProxyURL, host: str, address: str) -> bool:
        assert self.url is not None and self.stream is not None
        stage = self.stage("tunnel")
        tunnel = tunnel_for(self.url, proxy, host)
        sent = _Sent(tunnel)
        started = anyio.current_time()
        error: BaseException | None = None
        limit, named = self.opening_limit()
        try:
            with anyio.fail_after(limit):
                await negotiate(self.stream, sent)
        except TimeoutError as exc:
            error = chained(timeout_error(self.url, "proxy", named, address), exc)
        except ConnectionFailed as exc:
            error = exc
        stage.seconds = anyio.current_time() - started
        stage.facts = {"target": tunnel.target}
        if isinstance(tunnel, HTTPTunnel):
            stage.details.extend(request_lines(bytes(sent.data)))
            if tunnel.response is not None:
                stage.details.extend(response_lines(tunnel.response))
                stage.facts["status"] = tunnel.response.status
        else:
            how = "an address" if resolves_here(self.url, proxy) else "a name the proxy resolves"
            stage.details.append(f"SOCKS5 CONNECT {tunnel.target} ({how})")
        if error is not None:
            return self.fail(stage, error)
        stage.status = "ok"
        if isinstance(tunnel, HTTPTunnel) and tunnel.response is not None:
            stage.summary = f"CONNECT {tunnel.target}: {tunnel.response.status_line}"
        else:
            stage.summary = f"SOCKS5 CONNECT {tunnel.target}: succeeded"
        return True


#: What each kind of proxy does, for the proxy stage's details.
_PROXY_KINDS = {
    "http": "HTTP proxy: a CONNECT tunnel to the server",
    "https": "HTTPS proxy: TLS with the proxy, then a CONNECT tunnel to the server",
    "socks5": "SOCKS5 proxy: the server's name is resolved here",
    "socks5h": "SOCKS5 proxy: the proxy resolves the server's name",
}


class _Sent:
    """A tunnel's handshake, keeping what it sends (the CONNECT request, to show it)."""

    def __init__(self, tunnel: Tunnel) -> None:
        self.tunnel = tunnel
        self.data = bytearray()

    def data_to_send(self) -> bytes:
        data = self.tunnel.data_to_send()
        self.data += data
        return data

    def receive_data(self, data: bytes) -> bool:
        return self.tunnel.receive_data(data)
