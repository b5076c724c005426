"""How a connection ends: cut short (and why), or by the closing handshake within its deadline.

``Ending`` is the state both sides of the end share: the ``Transport``
(``close()``, ``abort()``, a cancelled task) decides, the reader task (see
reader.py) carries it out. It holds the reader task's cancel scope, which
``abort()`` cancels and whose deadline is the closing handshake's
``close_timeout``, and the reason the connection was cut, if it was, which the
application is told at the end. ``Ending.close_stream()`` is the last thing
done on the socket.
"""

from __future__ import annotations

import anyio
from anyio.abc import ByteStream, SocketStream

from ..errors import CloseTimeout, ConnectionLost, WebSocketError
from ..protocol.connection import ClientProtocol
from .flag import Flag
from .reader import READ_SIZE
from .writer import Writer

__all__ = ["Ending"]


class Ending:
    """The reader task's cancel scope, the closing deadline on it, and why it was cut."""

    __slots__ = ("_deadline_set", "abort_error", "close_timeout", "closed", "scope")

    def __init__(self, close_timeout: float | None, closed: Flag) -> None:
        self.close_timeout = close_timeout
        #: Set once the connection is over (the transport's flag, which the writer shares).
        self.closed = closed
        #: What the application is told if the connection is cut (None: it was not).
        self.abort_error: WebSocketError | None = None
        self._deadline_set = False
        #: Cancelled by ``abort()``; given ``close_timeout`` once the closing starts.
        #: (anyio's cancel scopes need a running event loop: ``Transport.open()`` makes it.)
        self.scope: anyio.CancelScope

    def set_abort_reason(self, error: WebSocketError) -> None:
        """What the application will be told if the connection is cut now (the first one wins)."""
        if self.abort_error is None:
            self.abort_error = error

    def task_cancelled(self) -> None:
        """The task running the connection was cancelled: that is why it is cut."""
        self.set_abort_reason(
            ConnectionLost("the connection was cut because its task was cancelled")
        )

    def start_close_deadline(self) -> None:
        """Give the closing handshake ``close_timeout``: a deadline on the reader's scope.

        (Not a timer task: a task per connection, and cancelling it, cost more
        than the rest of the closing handshake.) The reader reports the
        deadline passing with ``close_timed_out()``.
        """
        if self._deadline_set or self.close_timeout is None or self.closed.is_set():
            return
        self._deadline_set = True
        deadline = anyio.current_time() + self.close_timeout
        if deadline < self.scope.deadline:
            self.scope.deadline = deadline

    def close_timed_out(self) -> None:
        """The reader's scope was cancelled: by ``abort()``, which said why, or by the deadline."""
        if self.abort_error is None:
            assert self.close_timeout is not None
            self.abort_error = CloseTimeout(
                f"the server did not complete the closing handshake within "
                f"close_timeout ({self.close_timeout:g} s)"
            )

    async def close_stream(
        self, stream: ByteStream, protocol: ClientProtocol, writer: Writer
    ) -> None:
        """End the byte stream, then the protocol, with the reason it was cut if it was."""
        if protocol.failed or self.abort_error is not None:
            # A live server that broke the protocol gets our Close frame and
            # then our end of TCP (RFC 6455 7.1.7) within close_timeout; a
            # connection cut for a timeout gets one brief try.
            graceful = self.abort_error is None
            with anyio.move_on_after(self.close_timeout if graceful else 1.0):
                try:
                    await writer.send_pending()
                    if graceful:
                        await _half_close_and_drain(stream)
                except Exception:
                    pass
        if isinstance(stream, SocketStream):
            await stream.aclose()  # plain TCP closes at once (and skips a cancel scope)
        else:
            await anyio.aclose_forcefully(stream)  # TLS must not wait for close_notify
        protocol.abort(self.abort_error)  # (a task may have cut it meanwhile)


async def _half_close_and_drain(stream: ByteStream) -> None:
    """Send FIN, then read until the server closes too.

    Closing with unread input makes the kernel send a reset, which can destroy
    the Close frame before the server reads it.
    """
    try:
        await stream.send_eof()
    except NotImplementedError:
        pass  # TLS cannot half-close; reading until EOF still helps
    while True:
        try:
            await stream.receive(READ_SIZE)
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            return
