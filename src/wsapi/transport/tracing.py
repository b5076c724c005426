"""What a trace (``WebSocket(trace=...)``) shows of a connection: stages, answers, frames.

The transport calls these as things happen; they only format ``TraceEvent``
records for the ``Tracer``, and never change the connection.
"""

from __future__ import annotations

from ..errors import WebSocketError
from ..protocol import events
from ..response import Response
from ..trace import Tracer
from .connect import Stage

__all__ = ["FrameTrace", "TracedStage", "trace_response"]


class FrameTrace:
    """Traces the frames received, the automatic answers, the failure and the end."""

    def __init__(self, trace: Tracer) -> None:
        self._trace = trace
        #: We sent the first Close frame (so a server's Close is not echoed).
        self.close_started = False
        self._failure: WebSocketError | None = None

    def event(self, event: events.ProtocolEvent, open: bool) -> None:
        """Trace what ``event`` shows; ``open``: the connection was open when it came."""
        trace = self._trace
        if isinstance(event, events.MessageReceived):
            kind = "text" if isinstance(event.data, str) else "binary"
            trace("<", kind, event.data)
        elif isinstance(event, events.PingReceived):
            trace("<", "ping", event.data)
            if open:
                trace(">", "pong", event.data, detail="automatic")
        elif isinstance(event, events.PongReceived):
            trace("<", "pong", event.data)
        elif isinstance(event, events.CloseReceived):
            code = None if event.code == 1005 else event.code
            trace("<", "close", code=code, reason=event.reason)
            if not self.close_started:
                trace(">", "close", code=code, reason=event.reason, detail="echo")
        elif isinstance(event, events.Failed):
            self._failure = event.error
            trace("=", "error", detail=str(event.error))
            if event.code is not None:
                trace(">", "close", code=event.code, reason=event.reason)
        elif isinstance(event, events.Closed):
            # A failure was traced when it happened (Failed); other errors here.
            if event.error is not None and event.error is not self._failure:
                trace("=", "error", detail=str(event.error))
            trace("=", "closed", code=event.code, reason=event.reason)


class TracedStage(Stage):
    """A ``Stage`` that reports each stage as it begins."""

    _trace: Tracer

    def __init__(self, trace: Tracer) -> None:
        object.__setattr__(self, "_trace", trace)
        super().__init__()

    def __setattr__(self, name: str, value: object) -> None:
        changed = self.__dict__.get(name) != value
        super().__setattr__(name, value)
        if changed and name == "name":
            self._trace("=", "stage", detail=str(value))
        elif changed and name == "address" and value:
            self._trace("=", "stage", detail=f"tcp connect {value}")


def trace_response(trace: Tracer, response: Response) -> None:
    trace(
        "<",
        "response",
        code=response.status,
        reason=response.reason,
        headers=response.headers,
        detail=response.status_line,
    )
