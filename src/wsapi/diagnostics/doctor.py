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
"""

from __future__ import annotations

import base64
import os
import ssl
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
from anyio.abc import ByteStream
from anyio.streams.tls import TLSAttribute, TLSStream

from ..errors import (
    CertificateRejected,
    CloseTimeout,
    ConnectionFailed,
    DOMException,
    InvalidHandshake,
    KeepaliveTimeout,
    ProxyError,
    WebSocketError,
    redact_url,
)
from ..protocol.connection import ClientProtocol, State
from ..protocol.events import (
    Closed,
    CloseReceived,
    Failed,
    HandshakeFailed,
    MessageReceived,
    Opened,
    PongReceived,
    ProtocolEvent,
)
from ..protocol.handshake import HandshakeRequest
from ..protocol.proxy import (
    EXPLICIT,
    HTTPTunnel,
    ProxyURL,
    proxy_option,
    unix_socket_option,
)
from ..protocol.url import WebSocketURL, parse_url, validate_protocols
from ..response import Response
from ..transport.connect import (
    Attempt,
    Stage,
    connect,
    os_reason,
    resolve,
    start_tls,
    timeout_error,
)
from ..transport.proxy import (
    Tunnel,
    choose_proxy,
    connect_proxy,
    lookup_proxy,
    negotiate,
    open_tunnel,
    require_socksio,
    resolves_here,
    start_proxy_tls,
    tunnel_for,
)
from ..transport.tls import default_ssl_context
from ..transport.unix import connect_unix
from ..version import __version__
from .certificate import CertificateInfo, parse_certificate

__all__ = [
    "PROXY_STAGES",
    "STAGES",
    "UNIX_STAGES",
    "DoctorReport",
    "StageReport",
    "diagnose",
    "redact_header",
]

#: The stages of a direct connection, in order, and how they are called in reports.
STAGES: dict[str, str] = {
    "url": "URL",
    "dns": "DNS",
    "tcp": "TCP connect",
    "tls": "TLS",
    "http": "HTTP upgrade",
    "open": "WebSocket open",
    "ping": "ping round trip",
    "close": "closing handshake",
}

_AFTER_TCP = ("tls", "http", "open", "ping", "close")

#: The stages through a proxy (``dns`` only where the server's name is resolved here).
PROXY_STAGES: dict[str, str] = {
    "url": "URL",
    "proxy": "proxy",
    "dns": "DNS",
    "proxy-dns": "proxy DNS",
    "proxy-tcp": "proxy TCP connect",
    "proxy-tls": "proxy TLS",
    "tunnel": "proxy tunnel",
    **{name: STAGES[name] for name in _AFTER_TCP},
}

#: The stages to a Unix domain socket.
UNIX_STAGES: dict[str, str] = {
    "url": "URL",
    "unix": "Unix socket",
    **{name: STAGES[name] for name in _AFTER_TCP},
}

_TITLES = {**STAGES, **PROXY_STAGES, **UNIX_STAGES}

#: Headers whose values are credentials: reports show only their first word.
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"}
)

USER_AGENT = f"wsapi/{__version__} (Python {sys.version_info.major}.{sys.version_info.minor})"

PING_PAYLOAD = b"wsapi doctor"

_READ_SIZE = 64 * 1024

Status = Literal["ok", "failed", "skipped"]


def redact_header(name: str, value: str) -> str:
    """``value``, or its scheme and ``<redacted>`` when the header carries a credential.

    >>> redact_header("Authorization", "Bearer abc.def")
    'Bearer <redacted>'
    >>> redact_header("Cookie", "session=123")
    '<redacted>'
    >>> redact_header("Accept", "*/*")
    '*/*'
    """
    if name.lower() not in SECRET_HEADERS:
        return value
    scheme, _, rest = value.partition(" ")
    if rest and name.lower().endswith("authorization"):
        return f"{scheme} <redacted>"
    return "<redacted>"


@dataclass
class StageReport:
    """How one stage went.

    ``status`` is ``"ok"``, ``"failed"`` or ``"skipped"`` (not needed, as TLS for
    ``ws://``, or not reached after a failure). ``summary`` is one line;
    ``details`` more lines (addresses tried, headers, certificate); ``facts`` the
    same in machine-readable form. A failed stage has the ``fix`` and, when the
    library would raise one, the ``error``.
    """

    name: str
    status: Status = "skipped"
    seconds: float | None = None
    summary: str = ""
    details: list[str] = field(default_factory=list)
    fix: str = ""
    error: BaseException | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return _TITLES.get(self.name, self.name)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        error = None
        if self.error is not None:
            error = {"type": type(self.error).__name__, "message": str(self.error)}
        return {
            "name": self.name,
            "title": self.title,
            "status": self.status,
            "seconds": self.seconds,
            "summary": self.summary,
            "details": list(self.details),
            "fix": self.fix,
            "error": error,
            "facts": self.facts,
        }


@dataclass
class DoctorReport:
    """The stages of one diagnosis, in order; ``ok`` when none failed."""

    url: str  # without credentials
    stages: list[StageReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(stage.status == "failed" for stage in self.stages)

    @property
    def failure(self) -> StageReport | None:
        """The first stage that failed, if any."""
        return next((stage for stage in self.stages if stage.status == "failed"), None)

    def stage(self, name: str) -> StageReport:
        """The report of stage ``name`` (``"dns"``, ``"tls"``, ...)."""
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        failure = self.failure
        return {
            "url": self.url,
            "ok": self.ok,
            "failed_stage": failure.name if failure is not None else None,
            "fix": failure.fix if failure is not None else "",
            "stages": [stage.to_dict() for stage in self.stages],
        }


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
    route = _Route(proxy, proxy_ssl, unix_socket)
    doctor = _Doctor(url, stage_timeout, open_timeout, ping_timeout, close_timeout, route)
    try:
        await doctor.run(headers, protocols, origin, ssl_context, compression, user_agent)
    finally:
        await doctor.release()
    return doctor.report


class _Route:
    """The way to the server the options ask for: directly, through a proxy, or a Unix socket."""

    def __init__(
        self,
        proxy: object = True,
        proxy_ssl: ssl.SSLContext | None = None,
        unix_socket: object = None,
    ) -> None:
        self.proxy = proxy
        self.proxy_ssl = proxy_ssl
        self.unix_socket = unix_socket
        #: Once known: the proxy used, or the socket's path.
        self.chosen: ProxyURL | None = None
        self.unix_path: str | None = None


class _Doctor:
    def __init__(
        self,
        url: str,
        timeout: float,
        open_timeout: float | None = None,
        ping_timeout: float | None = None,
        close_timeout: float | None = None,
        route: _Route | None = None,
    ) -> None:
        self.timeout = timeout
        self.open_timeout = open_timeout
        self.open_deadline: float | None = None
        self.ping_timeout = timeout if ping_timeout is None else ping_timeout
        self.close_timeout = timeout if close_timeout is None else close_timeout
        self.report = DoctorReport(redact_url(url), [StageReport(name) for name in STAGES])
        self.raw_url = url
        self.url: WebSocketURL | None = None
        self.protocol: ClientProtocol | None = None
        self.stream: ByteStream | None = None
        self.pending: list[ProtocolEvent] = []
        self.read_error: BaseException | None = None
        self.route = route or _Route()
        self.connected: Attempt | None = None  # the TCP attempt that succeeded
        self.address = ""  # where the server was reached, for messages ("" via a proxy)

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

    async def release(self) -> None:
        if self.stream is not None:
            await anyio.aclose_forcefully(self.stream)
            self.stream = None

    def stage(self, name: str) -> StageReport:
        return self.report.stage(name)

    def lay_out(self, names: Sequence[str]) -> None:
        """The stages of the way taken, in order (those run so far are kept)."""
        done = {stage.name: stage for stage in self.report.stages}
        self.report.stages = [done.get(name) or StageReport(name) for name in names]

    def opening_limit(self) -> tuple[float, float]:
        """(how long this stage of the opening may take, the timeout its error names)."""
        if self.open_deadline is None or self.open_timeout is None:
            return self.timeout, self.timeout
        remaining = max(0.0, self.open_deadline - anyio.current_time())
        if remaining < self.timeout:
            return remaining, self.open_timeout
        return self.timeout, self.timeout

    def fail(
        self,
        stage: StageReport,
        error: BaseException | None,
        summary: str = "",
        fix: str = "",
    ) -> bool:
        stage.status = "failed"
        stage.error = error
        if isinstance(error, ConnectionFailed):
            stage.summary = summary or error.cause
            stage.fix = fix or error.fix
        else:
            stage.summary = summary or str(error)
            stage.fix = fix
        return False

    # -- URL ---------------------------------------------------------------------

    def check_url(
        self,
        headers: Sequence[tuple[str, str]],
        protocols: str | Sequence[str] | None,
        origin: str | None,
        compression: bool,
        user_agent: str | None,
    ) -> bool:
        stage = self.stage("url")
        started = anyio.current_time()
        try:
            url = parse_url(self.raw_url)
        except DOMException as exc:
            stage.seconds = anyio.current_time() - started
            return self.fail(
                stage,
                exc,
                str(exc),
                "Use a ws:// or wss:// URL (http:// and https:// are accepted and become "
                "ws:// and wss://), with a host name and without a #fragment.",
            )
        try:
            subprotocols = validate_protocols(protocols)
        except DOMException as exc:
            stage.seconds = anyio.current_time() - started
            return self.fail(
                stage,
                exc,
                str(exc),
                "Offer each subprotocol once, as a token: letters, digits and "
                "!#$%&'*+-.^_`|~, without spaces.",
            )
        request_headers = list(headers)
        has_authorization = any(name.lower() == "authorization" for name, _ in request_headers)
        if (url.username or url.password) and not has_authorization:
            # As WebSocket does: credentials in the URL travel as HTTP Basic auth.
            token = base64.b64encode(f"{url.username}:{url.password}".encode()).decode("ascii")
            request_headers.append(("Authorization", f"Basic {token}"))
        request = HandshakeRequest(
            url=url.href,
            host=url.host,
            resource=url.resource,
            subprotocols=subprotocols,
            headers=tuple(request_headers),
            origin=origin,
            user_agent=user_agent,
            compression=compression,
        )
        try:
            self.protocol = ClientProtocol(request)
        except ValueError as exc:
            stage.seconds = anyio.current_time() - started
            return self.fail(stage, exc, str(exc), "Fix or remove that header.")
        stage.seconds = anyio.current_time() - started
        self.url = url
        stage.status = "ok"
        stage.summary = redact_url(url.href)
        stage.details = [
            f"{'wss (TLS)' if url.secure else 'ws (no TLS)'}, host {url.hostname}, "
            f"port {url.port}, path {url.resource}"
        ]
        if url.username or url.password:
            stage.details.append("credentials in the URL: sent as Basic auth (not shown)")
        if subprotocols:
            stage.details.append(f"subprotocols offered: {', '.join(subprotocols)}")
        stage.facts = {
            "secure": url.secure,
            "host": url.hostname,
            "port": url.port,
            "resource": url.resource,
            "subprotocols": list(subprotocols),
        }
        return True

    # -- DNS, TCP, TLS -------------------------------------------------------------

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
                return self.fail(stage, _chained(timeout_error(self.url, "proxy", named), exc))
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

    async def check_dns(self) -> list[str] | None:
        assert self.url is not None
        url = self.url
        return await self.resolve_stage("dns", url.hostname, "dns", lambda: resolve(url))

    async def resolve_stage(
        self,
        name: str,
        hostname: str,
        timeout_stage: str,
        lookup: Callable[[], Awaitable[list[str]]],
    ) -> list[str] | None:
        """Stage ``name``: ``lookup()`` resolves ``hostname``; None when it failed."""
        assert self.url is not None
        stage = self.stage(name)
        started = anyio.current_time()
        limit, named = self.opening_limit()
        try:
            with anyio.fail_after(limit):
                addresses = await lookup()
        except TimeoutError as exc:
            self.fail(stage, _chained(timeout_error(self.url, timeout_stage, named), exc))
            return None
        except ConnectionFailed as exc:
            self.fail(stage, exc)
            return None
        finally:
            stage.seconds = anyio.current_time() - started
        stage.status = "ok"
        stage.summary = f"{hostname} -> {', '.join(addresses)}"
        if addresses == [hostname]:
            stage.summary = f"{hostname} (an IP address: nothing to resolve)"
        stage.facts = {"addresses": addresses}
        return addresses

    async def check_tcp(self, addresses: list[str]) -> bool:
        assert self.url is not None
        url = self.url
        progress = Stage(name="tcp")
        if not await self.connect_stage(
            "tcp", "tcp", progress, lambda: connect(url, addresses, progress)
        ):
            return False
        self.connected = progress.attempts[-1]
        self.address = progress.address
        return True

    async def connect_stage(
        self,
        name: str,
        timeout_stage: str,
        progress: Stage,
        connect_to: Callable[[], Awaitable[ByteStream]],
    ) -> bool:
        """Stage ``name``: ``connect_to()`` connects (recording attempts in ``progress``)."""
        assert self.url is not None
        stage = self.stage(name)
        started = anyio.current_time()
        error: BaseException | None = None
        limit, named = self.opening_limit()
        try:
            with anyio.fail_after(limit):
                self.stream = await connect_to()
        except TimeoutError as exc:
            error = _chained(timeout_error(self.url, timeout_stage, named, progress.address), exc)
        except ConnectionFailed as exc:
            error = exc
        stage.seconds = anyio.current_time() - started
        attempts = []
        for attempt in progress.attempts:
            outcome = "connected" if attempt.error is None else os_reason(attempt.error)
            stage.details.append(f"{attempt.address}  {_ms(attempt.seconds)}  {outcome}")
            attempts.append(
                {
                    "address": attempt.address,
                    "seconds": attempt.seconds,
                    "error": None if attempt.error is None else os_reason(attempt.error),
                }
            )
        if error is not None and isinstance(error.__cause__, TimeoutError):
            stage.details.append(f"{progress.address}  no answer within {named:g} s")
        stage.facts = {"attempts": attempts}
        if error is not None:
            return self.fail(stage, error)
        stage.status = "ok"
        stage.summary = f"connected to {progress.address}"
        return True

    # -- a Unix socket ---------------------------------------------------------------

    async def check_unix(self) -> bool:
        assert self.url is not None
        url, route = self.url, self.route
        self.lay_out(list(UNIX_STAGES))
        try:
            path = unix_socket_option(route.unix_socket)
            proxy_option(route.proxy, unix_socket=path)  # a proxy URL: ValueError
        except (TypeError, ValueError, ImportError) as exc:
            stage = self.stage("unix")
            stage.seconds = 0.0
            return self.fail(stage, exc, fix="Give unix_socket= a path, and no proxy URL.")
        assert path is not None
        route.unix_path = path
        progress = Stage()
        if not await self.connect_stage(
            "unix", "tcp", progress, lambda: connect_unix(url, path, progress)
        ):
            return False
        self.address = progress.address
        return True

    # -- through a proxy ---------------------------------------------------------------

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
            return self.fail(stage, _chained(timeout_error(self.url, "proxy", named), exc))
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
            error = _chained(timeout_error(self.url, "proxy", named, address), exc)
        except ConnectionFailed as exc:
            error = exc
        stage.seconds = anyio.current_time() - started
        stage.facts = {"target": tunnel.target}
        if isinstance(tunnel, HTTPTunnel):
            stage.details.extend(_request_lines(bytes(sent.data)))
            if tunnel.response is not None:
                stage.details.extend(_response_lines(tunnel.response))
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

    async def check_tls(self, ssl_context: ssl.SSLContext | None) -> bool:
        assert self.url is not None and self.stream is not None
        stage = self.stage("tls")
        if not self.url.secure:
            stage.summary = "not used: ws:// URL"
            return True
        context = ssl_context or default_ssl_context()
        started = anyio.current_time()
        address = self.address
        limit, named = self.opening_limit()
        try:
            with anyio.fail_after(limit):
                tls = await start_tls(self.url, self.stream, context, address)
        except TimeoutError as exc:
            self.stream = None  # start_tls closed it
            stage.seconds = anyio.current_time() - started
            return self.fail(stage, _chained(timeout_error(self.url, "tls", named), exc))
        except ConnectionFailed as exc:
            self.stream = None
            stage.seconds = anyio.current_time() - started
            self.fail(stage, exc)
            if isinstance(exc, CertificateRejected):
                stage.details.append(
                    "certificate (fetched again without verification, to show it):"
                )
                der = await self.fetch_certificate()
                info = parse_certificate(der) if der else None
                self.describe_certificate(stage, info)
                stage.facts["verify_code"] = exc.verify_code
                stage.facts["verify_message"] = exc.verify_message
            return False
        stage.seconds = anyio.current_time() - started
        version, cipher_name = self.tls_passed(stage, tls)
        chain = _chain(tls)
        if chain:
            stage.details.append("chain: " + " <- ".join(chain))
        trusted = "the ssl context given" if ssl_context is not None else "certifi's roots"
        if context.verify_mode == ssl.CERT_NONE:
            stage.summary = f"{version} {cipher_name}, certificate NOT verified".strip()
            stage.details.append(
                "NOT verified: the ssl context given turns certificate verification off"
            )
        elif not context.check_hostname:
            stage.summary = f"{version} {cipher_name}, certificate verified but not its host name"
            stage.details.append(
                f"verified: trusted by {trusted}; the host name is NOT checked (the ssl "
                "context given turns the check off)"
            )
        else:
            stage.details.append(f"verified: trusted by {trusted}, valid for {self.url.hostname}")
        stage.facts.update(
            {
                "version": version,
                "cipher": cipher_name,
                "chain": chain,
                "verified": context.verify_mode != ssl.CERT_NONE,
                "hostname_checked": context.check_hostname,
            }
        )
        return True

    def tls_passed(self, stage: StageReport, tls: TLSStream) -> tuple[str, str]:
        """``stage`` passed with ``tls``, the stream from now on: its version and cipher."""
        self.stream = tls
        version = tls.extra(TLSAttribute.tls_version, "")
        cipher = tls.extra(TLSAttribute.cipher, None)
        cipher_name = cipher[0] if cipher else ""
        stage.status = "ok"
        stage.summary = f"{version} {cipher_name}, certificate verified".strip()
        stage.details.append(f"version {version}, cipher {cipher_name}")
        der = tls.extra(TLSAttribute.peer_certificate_binary, None)
        self.describe_certificate(stage, parse_certificate(der) if der else None)
        return version, cipher_name

    async def reconnect(self) -> ByteStream:
        """A new stream to the server, the same way (directly, Unix socket, proxy)."""
        assert self.url is not None
        route = self.route
        if route.unix_path is not None:
            return await anyio.connect_unix(route.unix_path)
        if route.chosen is not None:
            return await open_tunnel(self.url, route.chosen, Stage(), route.proxy_ssl)
        assert self.connected is not None
        return await anyio.connect_tcp(self.connected.host, self.url.port)

    async def fetch_certificate(self) -> bytes | None:
        """The server's certificate, from a handshake that does not verify it."""
        assert self.url is not None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with anyio.move_on_after(self.timeout):
            try:
                stream = await self.reconnect()
            except (OSError, ConnectionFailed):
                return None
            try:
                tls = await TLSStream.wrap(
                    stream,
                    hostname=self.url.hostname,
                    ssl_context=context,
                    standard_compatible=False,
                )
            except (ssl.SSLError, OSError, anyio.BrokenResourceError, anyio.EndOfStream):
                await anyio.aclose_forcefully(stream)
                return None
            try:
                der: bytes | None = tls.extra(TLSAttribute.peer_certificate_binary, None)
                return der
            finally:
                await anyio.aclose_forcefully(tls)
        return None

    def describe_certificate(self, stage: StageReport, info: CertificateInfo | None) -> None:
        if info is None:
            stage.details.append("certificate: could not be read")
            return
        stage.details.append(f"subject: {info.subject or '(empty)'}")
        issuer = "itself (self-signed)" if info.self_signed else info.issuer
        stage.details.append(f"issuer: {issuer}")
        if info.names:
            stage.details.append(f"names: {', '.join(info.names)}")
        stage.details.append(f"{info.validity()}; valid from {info.not_before:%Y-%m-%d}")
        stage.facts["certificate"] = {
            "subject": info.subject,
            "issuer": info.issuer,
            "names": list(info.names),
            "not_before": info.not_before.isoformat(),
            "not_after": info.not_after.isoformat(),
            "self_signed": info.self_signed,
        }

    # -- the upgrade ---------------------------------------------------------------

    async def check_upgrade(self) -> bool:
        assert self.url is not None and self.protocol is not None and self.stream is not None
        http, opening = self.stage("http"), self.stage("open")
        protocol = self.protocol
        request = protocol.data_to_send()
        http.details.extend(_request_lines(request))
        started = anyio.current_time()
        outcome: Opened | ConnectionFailed
        limit, named = self.opening_limit()
        try:
            with anyio.fail_after(limit):
                outcome = await self.exchange_upgrade(request)
        except TimeoutError as exc:
            http.seconds = anyio.current_time() - started
            return self.fail(http, _chained(timeout_error(self.url, "http", named), exc))
        http.seconds = anyio.current_time() - started
        response = protocol.response
        if response is not None:
            http.details.extend(_response_lines(response))
            http.facts = {
                "status": response.status,
                "reason": response.reason,
                "http_version": response.http_version,
                "headers": [[n, redact_header(n, v)] for n, v in response.headers],
            }
        if isinstance(outcome, ConnectionFailed):
            accepted = response is not None and response.status == 101
            if isinstance(outcome, InvalidHandshake) and accepted:
                http.status = "ok"
                http.summary = response.status_line if response else ""
                opening.seconds = 0.0
                return self.fail(opening, outcome)
            return self.fail(http, outcome)
        assert response is not None
        http.status = "ok"
        http.summary = response.status_line
        opening.status = "ok"
        opening.seconds = 0.0
        opening.summary = (
            f"subprotocol: {outcome.subprotocol or 'none'}; "
            f"extensions: {outcome.extensions or 'none'}"
        )
        opening.facts = {"subprotocol": outcome.subprotocol, "extensions": outcome.extensions}
        offered = protocol.request.subprotocols
        if offered and not outcome.subprotocol:
            opening.details.append(
                f"the server chose none of the subprotocols offered ({', '.join(offered)})"
            )
        return True

    async def exchange_upgrade(self, request: bytes) -> Opened | ConnectionFailed:
        assert self.protocol is not None and self.stream is not None
        try:
            await self.stream.send(request)
        except (anyio.BrokenResourceError, OSError) as exc:
            self.read_error = exc
            self.protocol.receive_eof()
        while True:
            events = self.protocol.events_received()
            for index, event in enumerate(events):
                if isinstance(event, Opened):
                    self.pending = events[index + 1 :]
                    return event
                if isinstance(event, HandshakeFailed):
                    error = event.error
                    if error.__cause__ is None and self.read_error is not None:
                        error.__cause__ = self.read_error
                    return error
            await self.receive()

    # -- after the opening -----------------------------------------------------------

    async def check_ping(self) -> bool:
        assert self.protocol is not None
        stage = self.stage("ping")
        protocol = self.protocol
        protocol.send_ping(PING_PAYLOAD)
        started = anyio.current_time()
        messages = 0
        try:
            with anyio.fail_after(self.ping_timeout):
                await self.flush()
                while True:
                    for event in self.take_events():
                        if isinstance(event, PongReceived) and event.data == PING_PAYLOAD:
                            stage.seconds = anyio.current_time() - started
                            stage.status = "ok"
                            stage.summary = "pong received"
                            if messages:
                                stage.details.append(
                                    f"the server sent {messages} message(s) before the pong"
                                )
                            return True
                        if isinstance(event, MessageReceived):
                            messages += 1
                        elif isinstance(event, CloseReceived | Closed | Failed):
                            stage.seconds = anyio.current_time() - started
                            return self.closed_early(stage, event)
                    await self.receive()
        except TimeoutError:
            stage.seconds = anyio.current_time() - started
            error = KeepaliveTimeout(
                f"the server did not answer a ping within {self.ping_timeout:g} s"
            )
            return self.fail(
                stage,
                error,
                fix="The server (or a proxy in front of it) does not answer pings: keepalive "
                "will close this connection after ping_timeout. Check the server, or pass "
                "ping_interval=None.",
            )

    def closed_early(self, stage: StageReport, event: CloseReceived | Closed | Failed) -> bool:
        fix = (
            "The server accepted the WebSocket, then closed it: servers do this to reject a "
            "client after the handshake (credentials, Origin, subprotocol, rate limits). "
            "The close code and reason say why; see also the server's logs."
        )
        if isinstance(event, CloseReceived):
            reason = f" ({event.reason!r})" if event.reason else ""
            return self.fail(
                stage,
                None,
                f"the server closed the WebSocket right after the handshake, with code "
                f"{event.code}{reason}",
                fix,
            )
        if isinstance(event, Failed):
            return self.fail(stage, event.error, fix="The server broke the WebSocket protocol.")
        return self.fail(
            stage,
            event.error,
            "the server closed the TCP connection right after the handshake, without a "
            "closing handshake",
            fix,
        )

    async def check_close(self) -> None:
        assert self.protocol is not None
        stage = self.stage("close")
        protocol = self.protocol
        protocol.send_close(1000)
        started = anyio.current_time()
        try:
            with anyio.fail_after(self.close_timeout):
                await self.flush()
                closed = await self.wait_closed()
        except TimeoutError:
            stage.seconds = anyio.current_time() - started
            error = CloseTimeout(
                f"the server did not complete the closing handshake within {self.close_timeout:g} s"
            )
            self.fail(
                stage,
                error,
                fix="The server does not answer a Close frame: connections to it end "
                "uncleanly (code 1006) after close_timeout. Check the server.",
            )
            return
        stage.seconds = anyio.current_time() - started
        stage.facts = {"code": closed.code, "reason": closed.reason, "clean": closed.was_clean}
        if not closed.was_clean:
            self.fail(
                stage,
                closed.error,
                fix="The server ended the connection without completing the closing handshake.",
            )
            return
        stage.status = "ok"
        reason = f" ({closed.reason!r})" if closed.reason else ""
        stage.summary = f"closed cleanly with code {closed.code}{reason}"

    async def wait_closed(self) -> Closed:
        assert self.protocol is not None
        while True:
            for event in self.take_events():
                if isinstance(event, Closed):
                    return event
            if self.protocol.closing_handshake_done:
                # The server should now close TCP; give it a moment, then do it.
                with anyio.move_on_after(min(self.close_timeout, 2.0)):
                    await self.receive()
                    continue
                self.protocol.abort()
                continue
            await self.receive()

    # -- I/O ---------------------------------------------------------------------

    def take_events(self) -> list[ProtocolEvent]:
        assert self.protocol is not None
        events, self.pending = self.pending + self.protocol.events_received(), []
        return events

    async def receive(self) -> None:
        assert self.protocol is not None and self.stream is not None
        if self.protocol.state is State.CLOSED:
            await anyio.sleep_forever()  # nothing more can happen: the timeout decides
        try:
            data = await self.stream.receive(_READ_SIZE)
        except anyio.EndOfStream:
            self.protocol.receive_eof()
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            self.read_error = exc
            self.protocol.receive_eof()
        else:
            self.protocol.receive_data(data)
        await self.flush()

    async def flush(self) -> None:
        assert self.protocol is not None and self.stream is not None
        data = self.protocol.data_to_send()
        if data:
            try:
                await self.stream.send(data)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
                self.read_error = exc


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


def _chained(error: WebSocketError, cause: BaseException) -> WebSocketError:
    error.__cause__ = cause
    return error


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _request_lines(request: bytes) -> list[str]:
    head = request.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    lines = head.split("\r\n")
    shown = [f"> {lines[0]}"]
    for line in lines[1:]:
        name, _, value = line.partition(":")
        shown.append(f"> {name}: {redact_header(name, value.strip())}")
    return shown


def _response_lines(response: Response) -> list[str]:
    lines = [f"< {response.status_line}"]
    lines += [f"< {name}: {redact_header(name, value)}" for name, value in response.headers]
    return lines


def _chain(tls: TLSStream) -> list[str]:
    """Subjects of the verified chain, leaf first (Python 3.13+; [] before)."""
    ssl_object = tls.extra(TLSAttribute.ssl_object, None)
    get_chain = getattr(ssl_object, "get_verified_chain", None)
    if get_chain is None:
        return []
    subjects = []
    try:
        chain = get_chain()
    except (ValueError, ssl.SSLError):
        return []
    for der in chain or ():
        info = parse_certificate(der) if isinstance(der, bytes) else None
        subjects.append(info.subject if info else "?")
    return subjects
