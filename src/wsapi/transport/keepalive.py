"""Keepalive: a ping every ``ping_interval``; no pong within ``ping_timeout`` fails the connection.

The task runs beside the reader and the writer in the connection's task group
and never raises. The reader tells it of every pong (``pong_received()``) and
of the end (``stop()``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio
from anyio.abc import TaskGroup

from ..errors import ConnectionLost, KeepaliveTimeout, WebSocketError
from ..protocol.connection import ClientProtocol, State
from ..trace import Tracer
from .flag import Flag
from .spawn import start_soon
from .writer import Writer

if TYPE_CHECKING:  # (types only: reader.py refers to this module too)
    from .reader import Reader

__all__ = ["Keepalive"]

logger = logging.getLogger("wsapi")


class Keepalive:
    """Pings an open connection, and cuts it when a ping goes unanswered."""

    __slots__ = (
        "_abort",
        "_closed",
        "_pong_waiter",
        "_protocol",
        "_reader",
        "_trace",
        "_writer",
        "interval",
        "running",
        "timeout",
    )

    def __init__(
        self,
        protocol: ClientProtocol,
        writer: Writer,
        reader: Reader,
        closed: Flag,
        abort: Callable[[WebSocketError], None],
        *,
        interval: float,
        timeout: float | None,
        trace: Tracer | None,
    ) -> None:
        self._protocol = protocol
        self._writer = writer
        self._reader = reader  # (whether it waits for the application)
        self._closed = closed
        self._abort = abort  # Transport.abort(): cut the connection now
        self.interval = interval
        self.timeout = timeout
        self._trace = trace
        # The payload of the ping in flight, and what its pong sets.
        self._pong_waiter: tuple[bytes, anyio.Event] | None = None
        #: The task was started and has not ended (it sleeps: it must be cancelled).
        self.running = False

    def start(self, task_group: TaskGroup) -> None:
        self.running = True
        start_soon(task_group, self.run, "wsapi keepalive")

    def pong_received(self, payload: bytes) -> None:
        """The reader received a pong: the answer, if it carries the ping's payload."""
        if self._pong_waiter is not None:
            expected, answered = self._pong_waiter
            if payload == expected:
                answered.set()

    def stop(self) -> None:
        """The connection is over: a ping waiting for its pong stops waiting, and the task ends."""
        if self._pong_waiter is not None:
            self._pong_waiter[1].set()

    async def run(self) -> None:
        protocol = self._protocol
        try:
            while True:
                # (anyio.sleep(): waiting on the closed flag would give every idle
                # connection an Event; cancelling this task at the end is cheaper.)
                await anyio.sleep(self.interval)
                if protocol.state is not State.OPEN:
                    return
                payload = os.urandom(4)
                answered = anyio.Event()
                if not protocol.send_ping(payload):
                    return  # the closing handshake has begun
                self._pong_waiter = (payload, answered)
                self._writer.flush_soon()
                if self._trace is not None:
                    self._trace(">", "ping", payload, detail="keepalive")
                with anyio.move_on_after(self.timeout):
                    await answered.wait()  # (set by stop() too)
                self._pong_waiter = None
                if self._closed.is_set():
                    return
                if not answered.is_set() and self._reader.delivering:
                    # The reader is held up by the application (a full inbox or
                    # a slow listener): the pong may be sitting unread.
                    continue
                if not answered.is_set():
                    error = KeepaliveTimeout(
                        f"the server did not answer a keepalive ping within "
                        f"ping_timeout ({self.timeout:g} s)"
                    )
                    protocol.fail(error, 1011, "keepalive ping timeout")
                    self._abort(error)
                    return
        except Exception as exc:
            logger.exception("wsapi: unexpected error in the keepalive task")
            self._abort(ConnectionLost(f"internal error: {exc!r}"))
        finally:
            self.running = False
