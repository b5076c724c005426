"""A record of everything that happens on a connection, for timelines and debugging.

``WebSocket(url, trace=callback)`` calls ``callback(TraceEvent)`` for every
stage of opening, the upgrade request and its answer, and every frame sent
or received (pings, pongs and Close frames included). The command line's
timeline is built on it. Callbacks run synchronously in the connection's
tasks: keep them quick, and never let them raise (an exception is logged and
otherwise ignored).

>>> event = TraceEvent(0.0125, ">", "text", data="hi", size=2)
>>> event.describe()
'>  12.5 ms  text 2 B'
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

__all__ = ["Direction", "TraceEvent", "Tracer"]

logger = logging.getLogger("wsapi")

#: ``">"`` sent, ``"<"`` received, ``"="`` a change of state (stages, open, close).
Direction = Literal[">", "<", "="]


@dataclass(frozen=True, slots=True)
class TraceEvent:
    """One thing that happened on the connection.

    ``kind`` is one of: ``stage`` (``detail`` names it: ``dns``, ``proxy``,
    ``tcp``, ``tls``, ``http``, as each begins, and ``tcp connect ADDRESS`` for
    each address tried; through a proxy the first is ``proxy``, or ``dns`` when
    a ``socks5://`` proxy has the server's name resolved here; to a Unix socket,
    ``tcp``), ``request`` and ``response`` (``headers``; ``code``
    is the HTTP status of a response), ``redirect`` (``follow_redirects`` followed
    one: ``code`` is its status, ``detail`` the next URL), ``text``, ``binary``, ``ping``,
    ``pong``, ``close`` (``code`` and ``reason``; ``code`` None for a Close
    without one), ``open``, ``error`` (``detail`` is the message) and
    ``closed`` (the code and reason the application sees).
    """

    time: float  # seconds since the connection attempt started
    direction: Direction
    kind: str
    data: str | bytes | None = None
    size: int = 0
    code: int | None = None
    reason: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    detail: str = ""

    def describe(self) -> str:
        """A one-line summary (the data itself is left to the caller)."""
        text = f"{self.direction} {self.time * 1000:5.1f} ms  {self.kind}"
        if self.kind in ("text", "binary", "ping", "pong"):
            text += f" {self.size} B"
        if self.code is not None:
            text += f" {self.code}"
        if self.reason:
            text += f" {self.reason!r}"
        if self.detail:
            text += f" {self.detail}"
        return text


class Tracer:
    """Timestamps events and hands them to the callback; absent callback, costs one check."""

    __slots__ = ("_callback", "_clock", "_start")

    def __init__(
        self, callback: Callable[[TraceEvent], object], clock: Callable[[], float]
    ) -> None:
        self._callback = callback
        self._clock = clock
        self._start = clock()

    def __call__(
        self,
        direction: Direction,
        kind: str,
        data: str | bytes | None = None,
        *,
        size: int | None = None,
        code: int | None = None,
        reason: str = "",
        headers: tuple[tuple[str, str], ...] = (),
        detail: str = "",
    ) -> None:
        if size is None:
            size = _size(data)
        event = TraceEvent(
            self._clock() - self._start, direction, kind, data, size, code, reason, headers, detail
        )
        try:
            self._callback(event)
        except Exception:
            logger.exception("Exception in a trace callback")


def _size(data: str | bytes | None) -> int:
    if data is None:
        return 0
    if isinstance(data, str):
        return len(data) if data.isascii() else len(data.encode("utf-8"))
    return len(data)
