"""One diagnosis in progress: the report being filled, and the connection so far.

``Diagnosis`` holds what the stages share (the URL, the way to the server, the
stream, the protocol, the time left for the opening) and how a stage fails. The
stages' checks are mixins on it (``network``, ``tls``, ``proxy``, ``websocket``),
and ``doctor`` runs them in order.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence

import anyio
from anyio.abc import ByteStream

from ..errors import ConnectionFailed, WebSocketError, redact_url
from ..protocol.connection import ClientProtocol
from ..protocol.events import ProtocolEvent
from ..protocol.proxy import ProxyURL
from ..protocol.url import WebSocketURL
from ..transport.connect import Attempt
from .report import STAGES, DoctorReport, StageReport

__all__ = ["Diagnosis", "Route", "chained"]


class Route:
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


class Diagnosis:
    """The state the stages' checks share, and what they do with it."""

    def __init__(
        self,
        url: str,
        timeout: float,
        open_timeout: float | None = None,
        ping_timeout: float | None = None,
        close_timeout: float | None = None,
        route: Route | None = None,
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
        self.route = route or Route()
        self.connected: Attempt | None = None  # the TCP attempt that succeeded
        self.address = ""  # where the server was reached, for messages ("" via a proxy)

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


def chained(error: WebSocketError, cause: BaseException) -> WebSocketError:
    """``error``, with ``cause`` as its ``__cause__`` (as ``raise error from cause`` sets it)."""
    error.__cause__ = cause
    return error
