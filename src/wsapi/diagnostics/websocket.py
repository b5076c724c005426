"""The stages over the stream: the HTTP upgrade, the WebSocket open, a ping, the close.

``ClientProtocol`` does the protocol, as in a ``WebSocket``; the reads and writes
here feed it and send what it has to send.
"""

from __future__ import annotations

import anyio

from ..errors import CloseTimeout, ConnectionFailed, InvalidHandshake, KeepaliveTimeout
from ..protocol.connection import State
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
from ..transport.connect import timeout_error
from .diagnosis import Diagnosis, chained
from .report import StageReport, redact_header, request_lines, response_lines

__all__ = ["PING_PAYLOAD", "WebSocketChecks"]


PING_PAYLOAD = b"wsapi doctor"

_READ_SIZE = 64 * 1024


class WebSocketChecks(Diagnosis):
    """The stages ``http``, ``open``, ``ping`` and ``close``."""

    # -- the upgrade ---------------------------------------------------------------

    async def check_upgrade(self) -> bool:
        assert self.url is not None and self.protocol is not None and self.stream is not None
        http, opening = self.stage("http"), self.stage("open")
        protocol = self.protocol
        request = protocol.data_to_send()
        http.details.extend(request_lines(request))
        started = anyio.current_time()
        outcome: Opened | ConnectionFailed
        limit, named = self.opening_limit()
        try:
            with anyio.fail_after(limit):
                outcome = await self.exchange_upgrade(request)
        except TimeoutError as exc:
            http.seconds = anyio.current_time() - started
            return self.fail(http, chained(timeout_error(self.url, "http", named), exc))
        http.seconds = anyio.current_time() - started
        response = protocol.response
        if response is not None:
            http.details.extend(response_lines(response))
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
