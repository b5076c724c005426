"""What a diagnosis returns: the stages' names, each stage's report, credentials redacted.

``StageReport`` and ``DoctorReport`` are plain data (``to_dict()`` for JSON): the
stages' checks fill them in, ``wsapi doctor`` renders them. ``redact_header`` keeps
credentials out of them, in the HTTP heads a stage shows too (``request_lines``,
``response_lines``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ..response import Response

__all__ = [
    "PROXY_STAGES",
    "SECRET_HEADERS",
    "STAGES",
    "UNIX_STAGES",
    "DoctorReport",
    "StageReport",
    "Status",
    "redact_header",
    "request_lines",
    "response_lines",
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


def request_lines(request: bytes) -> list[str]:
    """The head of ``request`` as a stage's details show it, credentials redacted."""
    head = request.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    lines = head.split("\r\n")
    shown = [f"> {lines[0]}"]
    for line in lines[1:]:
        name, _, value = line.partition(":")
        shown.append(f"> {name}: {redact_header(name, value.strip())}")
    return shown


def response_lines(response: Response) -> list[str]:
    """``response``'s status line and headers as a stage's details show them, redacted."""
    lines = [f"< {response.status_line}"]
    lines += [f"< {name}: {redact_header(name, value)}" for name, value in response.headers]
    return lines
