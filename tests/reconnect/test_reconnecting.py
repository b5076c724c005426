"""``reconnecting()`` against real servers that stop, restart, refuse and misbehave.

Every test runs on asyncio and on trio. The servers: ``WebsocketsThread`` (the
``websockets`` library's server, tests/redirects/servers.py), stopped and started
again on the same port; ``websockets_server`` (tests/conftest.py) for refusals;
scripted raw-socket servers for answers and closes on cue. Delays are configured
small; timings are only ever checked from below (a sleep never ends early).
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread
import pytest
import trustme
from websockets.exceptions import ConnectionClosed as ServerConnectionClosed
from websockets.sync.server import ServerConnection

from tests.peers.scripted import RawConnection, ScriptedServer
from tests.peers.websockets_server import WebsocketsServer
from tests.redirects.servers import RedirectServer, WebsocketsThread
from wsapi import (
    CertificateUntrusted,
    CloseEvent,
    ConnectionClosed,
    ConnectionRefused,
    ErrorEvent,
    Event,
    InvalidStatus,
    MessageEvent,
    RedirectReceived,
    UnexpectedSubprotocol,
    WebSocket,
    reconnecting,
)

pytestmark = pytest.mark.anyio

StartServer = Callable[..., ScriptedServer]

TIMEOUT = 15.0

#: Small delays keep the tests fast.
FAST: dict[str, Any] = {"initial_delay": 0.01, "factor": 2.0, "max_delay": 0.05}


def closed_port() -> int:
    """A loopback port with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Attempts:
    """The open, error and close events of every connection, from the iterator's listeners."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def attach(self, target: Any) -> None:
        for kind in ("open", "error", "close"):
            target.addEventListener(kind, self)

    @property
    def types(self) -> list[str]:
        return [event.type for event in self.events]

    def count(self, kind: str) -> int:
        return self.types.count(kind)


def accept_then(action: Callable[[RawConnection], None]) -> Callable[[RawConnection], None]:
    def script(conn: RawConnection) -> None:
        conn.accept()
        action(conn)

    return script


def by_connection(*scripts: Callable[[RawConnection], None]) -> Callable[[RawConnection], None]:
    """Connection n runs ``scripts[n]`` (the last one for every later connection)."""
    counter = itertools.count()
    lock = threading.Lock()

    def script(conn: RawConnection) -> None:
        with lock:
            number = next(counter)
        scripts[min(number, len(scripts) - 1)](conn)

    return script


def echo_until_close(conn: RawConnection) -> None:
    conn.accept()
    while True:
        frame = conn.read_frame(timeout=TIMEOUT)
        if frame is None:
            return
        if frame.opcode == 0x8:
            conn.send_frame(0x8, frame.payload)
            return
        conn.send_frame(frame.opcode, frame.payload)


# -- restarts: nothing sent after a reconnect is lost ---------------------------------------


class SequenceServer(WebsocketsThread):
    """Acknowledges ``seq:N`` messages with ``ack:N``; logs (connection number, N)."""

    def __init__(self) -> None:
        super().__init__(self._acknowledge)
        self.log: list[tuple[int, int]] = []
        self._numbers = itertools.count()

    def _acknowledge(self, connection: ServerConnection) -> None:
        number = next(self._numbers)
        try:
            for message in connection:
                assert isinstance(message, str)
                seq = int(message.removeprefix("seq:"))
                self.log.append((number, seq))
                connection.send(f"ack:{seq}")
        except ServerConnectionClosed:
            pass

    def received(self, number: int) -> list[int]:
        return [seq for n, seq in self.log if n == number]


async def test_restarts_lose_no_message_sent_after_a_reconnect() -> None:
    total = 90
    restarts = {total // 3: "close", 2 * total // 3: "drop"}  # a 1001 close, then a dropped TCP
    server = SequenceServer()
    server.start()
    acked = -1
    sent: list[list[int]] = []
    closes: list[int] = []
    sockets: list[WebSocket] = []

    async def restart(how: Any) -> None:
        await anyio.to_thread.run_sync(server.stop, how)
        await anyio.sleep(0.2)  # the client finds nothing listening meanwhile
        await anyio.to_thread.run_sync(server.start)

    try:
        with anyio.fail_after(TIMEOUT):
            async with (
                anyio.create_task_group() as restarter,
                reconnecting(server.url("/"), **FAST) as connections,
            ):
                async for ws in connections:
                    sockets.append(ws)
                    sent.append([])
                    try:
                        while acked < total - 1:
                            seq = acked + 1  # resume after the last acknowledged
                            ws.send(f"seq:{seq}")
                            sent[-1].append(seq)
                            reply = await ws.recv()
                            assert reply == f"ack:{seq}"
                            acked = seq
                            if seq in restarts:
                                restarter.start_soon(restart, restarts.pop(seq))
                    except ConnectionClosed as closed:
                        closes.append(closed.code)
                        continue
                    break
    finally:
        server.stop()
    assert server.errors == []
    assert acked == total - 1
    assert {seq for _, seq in server.log} == set(range(total))
    assert len(sent) == 3 and len({id(ws) for ws in sockets}) == 3
    assert closes == [1001, 1006]
    assert sent[0][0] == 0
    for number in range(1, len(sent)):
        # Each connection resumed after the last acknowledged message...
        previous, first = sent[number - 1], sent[number][0]
        if first == previous[-1] + 1:
            assert server.received(number - 1) == previous
        else:  # ... the one in flight when the server went away was sent again.
            assert first == previous[-1]
            assert server.received(number - 1) in (previous, previous[:-1])
    # Nothing sent after the last reconnect was lost.
    assert server.received(len(sent) - 1) == sent[-1]
    assert all(ws.readyState == WebSocket.CLOSED for ws in sockets)


async def test_waits_for_a_server_that_is_not_up_yet() -> None:
    port = closed_port()
    server = WebsocketsThread(lambda connection: connection.send("hello"), port=port)
    attempts = Attempts()
    connections = reconnecting(f"ws://127.0.0.1:{port}/", **FAST)
    attempts.attach(connections)

    async def start_later() -> None:
        await anyio.sleep(0.3)
        await anyio.to_thread.run_sync(server.start)

    try:
        with anyio.fail_after(TIMEOUT):
            async with anyio.create_task_group() as tg:
                tg.start_soon(start_later)
                async with connections:
                    async for ws in connections:
                        assert await ws.recv() == "hello"
                        break
    finally:
        server.stop()
    failed = attempts.count("error")
    assert failed >= 2  # refused while the server was down, retried
    assert attempts.types == ["error", "close"] * failed + ["open", "close"]
    refused = attempts.events[0]
    assert isinstance(refused, ErrorEvent) and isinstance(refused.error, ConnectionRefused)


# -- giving up ---------------------------------------------------------------------------------


async def test_max_attempts_then_the_last_error() -> None:
    port = closed_port()
    attempts = Attempts()
    connections = reconnecting(f"ws://127.0.0.1:{port}/", max_attempts=3, **FAST)
    attempts.attach(connections)
    with anyio.fail_after(TIMEOUT), pytest.raises(ConnectionRefused) as caught:
        async with connections:
            async for _ in connections:
                pytest.fail("connected to a closed port")
    assert attempts.count("error") == 3
    if sys.version_info >= (3, 11):
        assert caught.value.__notes__ == ["wsapi.reconnecting() gave up after 3 failed attempts"]
    assert str(caught.value).startswith(f"WebSocket connection to 'ws://127.0.0.1:{port}/' failed")


@pytest.mark.parametrize("status", [400, 401, 403, 404])
async def test_a_4xx_stops_at_once(websockets_server: WebsocketsServer, status: int) -> None:
    attempts = Attempts()
    connections = reconnecting(websockets_server.url(f"/reject?status={status}"), **FAST)
    attempts.attach(connections)
    with anyio.fail_after(TIMEOUT), pytest.raises(InvalidStatus) as caught:
        async with connections:
            async for _ in connections:
                pytest.fail("connected")
    assert caught.value.status == status
    assert attempts.count("error") == 1


async def test_after_a_fatal_error_the_iteration_is_over(
    websockets_server: WebsocketsServer,
) -> None:
    connections = reconnecting(websockets_server.url("/reject?status=403"), **FAST)
    async with connections:
        with pytest.raises(InvalidStatus):
            async for _ in connections:
                pass
        async for _ in connections:
            pytest.fail("iterated again after the error")


async def test_a_redirect_stops_unless_followed() -> None:
    with RedirectServer() as server:
        server.redirect("/old", 301, "/echo")
        with anyio.fail_after(TIMEOUT), pytest.raises(RedirectReceived):
            async with reconnecting(server.url("/old"), **FAST) as connections:
                async for _ in connections:
                    pytest.fail("connected")
        assert server.paths == ["/old"]
        # WebSocket's options carry over: follow_redirects among them.
        async with reconnecting(server.url("/old"), follow_redirects=True) as connections:
            async for ws in connections:
                assert ws.final_url == server.url("/echo")
                break


async def test_a_subprotocol_mismatch_stops(scripted_server: StartServer) -> None:
    def choose_another(conn: RawConnection) -> None:
        conn.accept(subprotocol="other")
        conn.wait_eof()

    peer = scripted_server(choose_another)
    attempts = Attempts()
    connections = reconnecting(peer.url("/"), ["chat"], **FAST)
    attempts.attach(connections)
    with anyio.fail_after(TIMEOUT), pytest.raises(UnexpectedSubprotocol):
        async with connections:
            async for _ in connections:
                pytest.fail("connected")
    assert attempts.count("error") == 1


async def test_a_certificate_error_stops() -> None:
    ca = trustme.CA()  # which the client does not trust
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with RedirectServer(ssl_context=context) as server:
        attempts = Attempts()
        connections = reconnecting(server.url("/echo"), **FAST)
        attempts.attach(connections)
        with anyio.fail_after(TIMEOUT), pytest.raises(CertificateUntrusted):
            async with connections:
                async for _ in connections:
                    pytest.fail("connected")
    assert attempts.count("error") == 1


# -- transient refusals ------------------------------------------------------------------------


def refuse(status: int, *headers: tuple[str, str]) -> Callable[[RawConnection], None]:
    def script(conn: RawConnection) -> None:
        conn.respond(status, "Unavailable", list(headers), b"try again")
        conn.wait_eof()

    return script


async def test_5xx_is_retried(scripted_server: StartServer) -> None:
    peer = scripted_server(by_connection(refuse(503), refuse(502), echo_until_close))
    attempts = Attempts()
    connections = reconnecting(peer.url("/"), **FAST)
    attempts.attach(connections)
    with anyio.fail_after(TIMEOUT):
        async with connections:
            async for ws in connections:
                ws.send("made it")
                assert await ws.recv() == "made it"
                break
    statuses = [
        event.error.status
        for event in attempts.events
        if isinstance(event, ErrorEvent) and isinstance(event.error, InvalidStatus)
    ]
    assert statuses == [503, 502]
    assert len(peer.connections) == 3


async def test_429_waits_as_long_as_retry_after_says(scripted_server: StartServer) -> None:
    peer = scripted_server(by_connection(refuse(429, ("Retry-After", "1")), echo_until_close))
    connections = reconnecting(peer.url("/"), initial_delay=0.001, max_delay=0.001)
    started = time.monotonic()
    with anyio.fail_after(TIMEOUT):
        async with connections:
            async for _ in connections:
                waited = time.monotonic() - started
                break
    assert waited >= 0.9  # Retry-After: 1, although the backoff says 1 ms at most
    assert len(peer.connections) == 2


# -- connections that end --------------------------------------------------------------------


def close_with(code: int) -> Callable[[RawConnection], None]:
    def action(conn: RawConnection) -> None:
        conn.send_close(code, "bye")
        conn.read_close()

    return action


def drop(conn: RawConnection) -> None:
    conn.abort()


@pytest.mark.parametrize(
    ("first", "code", "clean"),
    [
        (close_with(1011), 1011, True),
        (close_with(1012), 1012, True),
        (close_with(1013), 1013, True),
        (close_with(1001), 1001, True),
        (close_with(1000), 1000, True),
        (drop, 1006, False),
    ],
    ids=["1011", "1012", "1013", "1001", "1000", "dropped-1006"],
)
async def test_a_closed_connection_comes_back(
    scripted_server: StartServer, first: Callable[[RawConnection], None], code: int, clean: bool
) -> None:
    peer = scripted_server(by_connection(accept_then(first), echo_until_close))
    closes: list[CloseEvent] = []
    with anyio.fail_after(TIMEOUT):
        async with reconnecting(peer.url("/"), **FAST) as connections:
            async for ws in connections:
                if not closes:  # the first connection: the server ends it
                    closes.append(await ws.wait_closed())
                    continue
                ws.send("again")
                assert await ws.recv() == "again"
                break
    assert [(close.code, close.wasClean) for close in closes] == [(code, clean)]
    assert len(peer.connections) == 2


async def test_the_body_ending_closes_with_1000_and_reconnects_at_once(
    scripted_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    codes: list[tuple[int | None, str] | None] = []

    def record_close(conn: RawConnection) -> None:
        conn.accept()
        codes.append(conn.read_close(timeout=TIMEOUT))
        conn.send_close(1000)

    peer = scripted_server(record_close)
    opened = 0
    caplog.set_level(logging.INFO, logger="wsapi")
    with anyio.fail_after(TIMEOUT):
        async with reconnecting(peer.url("/"), initial_delay=60.0) as connections:
            async for ws in connections:
                assert ws.readyState == WebSocket.OPEN
                opened += 1
                if opened == 3:
                    break
                # The body returns with the connection open: it is closed, and the next
                # one opens at once (a delay of up to 60 s would time the test out).
    peer.wait_scripts(TIMEOUT)
    assert codes == [(1000, "")] * 3  # the third one closed by leaving `async with`
    assert "reconnecting in" not in caplog.text


async def test_closing_in_the_body_reconnects_at_once(
    scripted_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    peer = scripted_server(echo_until_close)
    caplog.set_level(logging.INFO, logger="wsapi")
    codes: list[int] = []
    with anyio.fail_after(TIMEOUT):
        async with reconnecting(peer.url("/"), initial_delay=60.0) as connections:
            async for ws in connections:
                if len(codes) == 2:
                    break
                ws.close(4000, "switching rooms")
                codes.append((await ws.wait_closed()).code)
    assert codes == [4000, 4000]
    assert "reconnecting in" not in caplog.text


async def test_break_then_leaving_async_with_closes(scripted_server: StartServer) -> None:
    peer = scripted_server(echo_until_close)
    with anyio.fail_after(TIMEOUT):
        async with reconnecting(peer.url("/"), **FAST) as connections:
            async for ws in connections:
                assert ws.readyState == WebSocket.OPEN
                break
            assert ws.readyState == WebSocket.OPEN  # until the block ends
            assert connections.websocket is ws
        assert ws.readyState == WebSocket.CLOSED
        close = await ws.wait_closed()
    assert (close.code, close.wasClean) == (1000, True)
    assert connections.websocket is None
    assert len(peer.connections) == 1


async def test_an_exception_in_the_body_propagates_as_is(scripted_server: StartServer) -> None:
    peer = scripted_server(echo_until_close)
    with anyio.fail_after(TIMEOUT), pytest.raises(KeyError) as caught:
        async with reconnecting(peer.url("/"), **FAST) as connections:
            async for ws in connections:
                assert ws.readyState == WebSocket.OPEN
                raise KeyError("the application's own")
    assert type(caught.value) is KeyError  # not an exception group
    close = await ws.wait_closed()
    assert (close.code, close.wasClean) == (1000, True)


async def test_cancelled_while_retrying() -> None:
    port = closed_port()
    with anyio.fail_after(TIMEOUT):
        with anyio.move_on_after(0.3) as scope:
            async with reconnecting(f"ws://127.0.0.1:{port}/", **FAST) as connections:
                async for _ in connections:
                    pytest.fail("connected to a closed port")
    assert scope.cancelled_caught


async def test_cancelled_while_connected(scripted_server: StartServer) -> None:
    peer = scripted_server(echo_until_close, raise_errors=False)
    with anyio.fail_after(TIMEOUT):
        with anyio.move_on_after(0.3) as scope:
            async with reconnecting(peer.url("/"), **FAST) as connections:
                async for ws in connections:
                    assert ws.readyState == WebSocket.OPEN
                    await anyio.sleep(TIMEOUT)
    assert scope.cancelled_caught
    assert ws.readyState == WebSocket.CLOSED


# -- the backoff -------------------------------------------------------------------------------

RETRYING = re.compile(r"retrying in (\d+\.\d+) s")


async def test_delays_grow_exponentially_up_to_max_delay(caplog: pytest.LogCaptureFixture) -> None:
    port = closed_port()
    caplog.set_level(logging.INFO, logger="wsapi")
    connections = reconnecting(
        f"ws://127.0.0.1:{port}/", initial_delay=0.02, factor=2.0, max_delay=0.08, max_attempts=6
    )
    connections._backoff.rand = lambda: 1.0  # no jitter: the delays are the ceilings
    started = time.monotonic()
    with anyio.fail_after(TIMEOUT), pytest.raises(ConnectionRefused):
        async with connections:
            async for _ in connections:
                pass
    delays = [float(value) for value in RETRYING.findall(caplog.text)]
    assert delays == [0.02, 0.04, 0.08, 0.08, 0.08]
    assert time.monotonic() - started >= sum(delays) - 0.01


async def test_delays_are_jittered_below_the_ceiling(caplog: pytest.LogCaptureFixture) -> None:
    port = closed_port()
    caplog.set_level(logging.INFO, logger="wsapi")
    connections = reconnecting(
        f"ws://127.0.0.1:{port}/", initial_delay=0.01, factor=2.0, max_delay=0.04, max_attempts=8
    )
    with anyio.fail_after(TIMEOUT), pytest.raises(ConnectionRefused):
        async with connections:
            async for _ in connections:
                pass
    delays = [float(value) for value in RETRYING.findall(caplog.text)]
    ceilings = [0.01, 0.02, 0.04, 0.04, 0.04, 0.04, 0.04]
    assert len(delays) == len(ceilings)
    assert all(0 <= delay <= ceiling for delay, ceiling in zip(delays, ceilings, strict=True))


async def test_a_flapping_server_is_backed_off(
    scripted_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    peer = scripted_server(accept_then(close_with(1011)))
    caplog.set_level(logging.INFO, logger="wsapi")
    connections = reconnecting(peer.url("/"), initial_delay=0.01, factor=2.0, max_delay=10.0)
    connections._backoff.rand = lambda: 1.0
    opened = 0
    with anyio.fail_after(TIMEOUT):
        async with connections:
            async for ws in connections:
                await ws.wait_closed()
                opened += 1
                if opened == 4:
                    break
    delays = [float(value) for value in re.findall(r"reconnecting in (\d+\.\d+) s", caplog.text)]
    assert delays == [0.01, 0.02, 0.04]  # each connection lasted less than max_delay


# -- listeners on the iterator ---------------------------------------------------------------


async def test_listeners_carry_over_to_every_connection(scripted_server: StartServer) -> None:
    def greet_then_close(conn: RawConnection) -> None:
        conn.accept()
        conn.send_frame(0x1, b"hello")
        conn.send_close(1001)
        conn.read_close()

    peer = scripted_server(by_connection(greet_then_close, greet_then_close, echo_until_close))
    connections = reconnecting(peer.url("/"), **FAST)
    seen: list[tuple[str, Any, Any]] = []
    once: list[Event] = []

    def on_event(event: Event) -> None:
        data = event.data if isinstance(event, MessageEvent) else None
        seen.append((event.type, event.target, data))
        assert event.currentTarget is connections

    async def on_message(event: MessageEvent) -> None:  # async listeners are awaited
        await anyio.lowlevel.checkpoint()
        seen.append(("async message", event.target, event.data))

    connections.onopen = on_event
    connections.onclose = on_event
    connections.addEventListener("message", on_event)
    connections.addEventListener("message", on_message)
    connections.addEventListener("open", once.append, once=True)
    sockets: list[WebSocket] = []
    with anyio.fail_after(TIMEOUT):
        async with connections:
            async for ws in connections:
                sockets.append(ws)
                if len(sockets) == 3:
                    break
                await ws.wait_closed()
    first, second, third = sockets
    assert seen == [
        ("open", first, None),
        ("message", first, "hello"),
        ("async message", first, "hello"),
        ("close", first, None),
        ("open", second, None),
        ("message", second, "hello"),
        ("async message", second, "hello"),
        ("close", second, None),
        ("open", third, None),
        ("close", third, None),
    ]
    assert len(once) == 1 and once[0].target is first


async def test_a_message_listener_on_the_iterator_takes_the_messages(
    scripted_server: StartServer,
) -> None:
    peer = scripted_server(echo_until_close)
    connections = reconnecting(peer.url("/"), **FAST)
    heard: list[object] = []
    heard_one = anyio.Event()

    def on_message(event: MessageEvent) -> None:
        heard.append(event.data)
        heard_one.set()

    with anyio.fail_after(TIMEOUT):
        async with connections:
            async for ws in connections:
                ws.send("to recv()")
                assert await ws.recv() == "to recv()"
                connections.onmessage = on_message  # from now on, to the listener
                ws.send("to the listener")
                await heard_one.wait()
                connections.onmessage = None  # and back to recv()
                ws.send("to recv() again")
                assert await ws.recv() == "to recv() again"
                break
    assert heard == ["to the listener"]


async def test_options_apply_to_every_connection(websockets_server: WebsocketsServer) -> None:
    seen: list[dict[str, str]] = []
    with anyio.fail_after(TIMEOUT):
        async with reconnecting(
            websockets_server.url("/headers"),
            headers={"X-Client": "wsapi"},
            user_agent="reconnecting-test",
            **FAST,
        ) as connections:
            async for ws in connections:
                message = await ws.recv()
                assert isinstance(message, str)
                seen.append(json.loads(message))
                if len(seen) == 2:
                    break
    assert [(h["x-client"], h["user-agent"]) for h in seen] == [("wsapi", "reconnecting-test")] * 2
    assert seen[0]["sec-websocket-key"] != seen[1]["sec-websocket-key"]
