"""The HTTP response a server gave to the upgrade request.

Kept whole (status, reason, headers and the start of the body) when a handshake
is refused or answered wrongly, so that the error can show the evidence.
Standard library only: every layer may import this module.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MAX_BODY_SIZE", "Response"]

#: How much of a refusal's body is kept; the rest is dropped (and ``truncated`` set).
MAX_BODY_SIZE = 64 * 1024


@dataclass(frozen=True)
class Response:
    """An HTTP response to the WebSocket upgrade request.

    ``headers`` keeps the server's order and spelling; :meth:`header` looks a
    name up case-insensitively.
    """

    status: int
    reason: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    http_version: str = "1.1"
    truncated: bool = field(default=False)

    def header(self, name: str, default: str | None = None) -> str | None:
        """The value of header ``name`` (all values joined by ``, ``), or ``default``."""
        wanted = name.lower()
        values = [value for key, value in self.headers if key.lower() == wanted]
        if not values:
            return default
        return ", ".join(values)

    @property
    def text(self) -> str:
        """The body decoded as text (UTF-8, undecodable bytes replaced)."""
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON; raises ``ValueError`` when it is not JSON."""
        return json.loads(self.body)

    def body_excerpt(self, limit: int = 200) -> str:
        """A one-line excerpt of the body for error messages ("" if empty)."""
        text = " ".join(self.text.split())
        if len(text) > limit:
            text = text[: limit - 1] + "…"
        return text

    @property
    def status_line(self) -> str:
        """``HTTP/1.1 404 Not Found``."""
        reason = f" {self.reason}" if self.reason else ""
        return f"HTTP/{self.http_version} {self.status}{reason}"
