"""The first stages: the URL parses, then a stream to the server, by DNS and TCP or a Unix socket.

The stages run the code a ``WebSocket`` runs (``parse_url``, ``ClientProtocol``,
``transport.connect``, ``transport.unix``); ``resolve_stage`` and ``connect_stage``
also serve the proxy's own DNS and TCP stages (``proxy``).
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Sequence

import anyio
from anyio.abc import ByteStream

from ..errors import ConnectionFailed, DOMException, redact_url
from ..protocol.connection import ClientProtocol
from ..protocol.handshake import HandshakeRequest
from ..protocol.proxy import proxy_option, unix_socket_option
from ..protocol.url import parse_url, validate_protocols
from ..transport.connect import Stage, connect, os_reason, resolve, timeout_error
from ..transport.unix import connect_unix
from .diagnosis import Diagnosis, chained
from .report import UNIX_STAGES

__all__ = ["NetworkChecks"]


class NetworkChecks(Diagnosis):
    """The stages ``url``, ``dns``, ``tcp`` and ``unix``."""

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

    # -- DNS, TCP -----------------------------------------------------------------

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
            self.fail(stage, chained(timeout_error(self.url, timeout_stage, named), exc))
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
            error = chained(timeout_error(self.url, timeout_stage, named, progress.address), exc)
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


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"
