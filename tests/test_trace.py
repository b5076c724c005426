"""The trace hook: every stage, the upgrade and every frame, in order, on both backends."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

import wsapi
from tests.peers.scripted import Opcode, RawConnection, frame_bytes
from wsapi.testing import HandshakeResponse, Request, ServerConnection, echo, serve
from wsapi.trace import TraceEvent

pytestmark = pytest.mark.anyio


def kinds(events: list[TraceEvent]) -> list[str]:
    return [f"{event.direction}{event.kind}" for event in events if event.kind != "stage"]


async def test_a_session_is_traced_in_order() -> None:
    async def handler(conn: ServerConnection) -> None:
        await conn.ping(b"srv")
        await echo(conn)

    events: list[TraceEvent] = []
    async with serve(handler) as server:
        with anyio.fail_after(10):
            async with wsapi.WebSocket(server.url, trace=events.append) as ws:
                ws.send("hello")
                ws.send(b"\x00\x01")
                assert await ws.recv() == "hello"
                assert await ws.recv() == b"\x00\x01"
    assert kinds(events) == [
        ">request",
        "<response",
        "=open",
        ">text",
        ">binary",
        "<ping",
        ">pong",
        "<text",
        "<binary",
        ">close",
        "<close",
        "=closed",
    ]
    stages = [event.detail for event in events if event.kind == "stage"]
    assert stages[0] == "dns" and "tcp" in stages and stages[-1] == "http"
    times = [event.time for event in events]
    assert times == sorted(times) and times[0] >= 0
    request = next(event for event in events if event.kind == "request")
    assert ("Upgrade", "websocket") in request.headers and request.detail == "/"
    response = next(event for event in events if event.kind == "response")
    assert response.code == 101
    received = [event for event in events if event.direction == "<" and event.kind == "text"]
    assert received[0].data == "hello" and received[0].size == 5
    assert events[-1].code == 1000 and events[-1].kind == "closed"


async def test_a_server_close_is_traced_with_the_echo() -> None:
    async def handler(conn: ServerConnection) -> None:
        await conn.close(4000, "bye")

    events: list[TraceEvent] = []
    async with serve(handler) as server:
        with anyio.fail_after(10):
            async with wsapi.WebSocket(server.url, trace=events.append) as ws:
                await ws.wait_closed()
    closes = [(e.direction, e.code, e.reason, e.detail) for e in events if e.kind == "close"]
    assert closes == [("<", 4000, "bye", ""), (">", 4000, "bye", "echo")]


async def test_a_failure_is_traced() -> None:
    events: list[TraceEvent] = []

    async def refuse(request: Request) -> HandshakeResponse:
        return HandshakeResponse(403, body=b"no")

    async with serve(echo, process_request=refuse) as server:
        with anyio.fail_after(10), pytest.raises(wsapi.InvalidStatus):
            async with wsapi.WebSocket(server.url, trace=events.append):
                pass
    assert kinds(events) == [">request", "<response", "=error", "=closed"]
    assert events[-3].code == 403
    assert "403" in events[-2].detail
    assert events[-1].code == 1006


async def test_a_protocol_failure_is_traced_once_with_the_close_sent(
    scripted_server: Any,
) -> None:
    def script(conn: RawConnection) -> None:
        conn.accept()
        conn.send_raw(frame_bytes(Opcode.TEXT, b"x", rsv2=True))
        conn.read_close()
        conn.wait_eof()

    events: list[TraceEvent] = []
    server = scripted_server(script)
    with anyio.fail_after(10):
        async with wsapi.WebSocket(server.url(), trace=events.append) as ws:
            close = await ws.wait_closed()
    server.wait_scripts()
    assert close.code == 1006
    assert [e.kind for e in events].count("error") == 1
    [sent] = [e for e in events if e.kind == "close"]
    assert (sent.direction, sent.code) == (">", 1002)
    assert sent.reason == "Reserved bit set unexpectedly"


async def test_a_raising_callback_is_logged_and_ignored(caplog: pytest.LogCaptureFixture) -> None:
    def explode(event: TraceEvent) -> None:
        raise RuntimeError("boom")

    async with serve(echo) as server:
        with anyio.fail_after(10):
            async with wsapi.WebSocket(server.url, trace=explode) as ws:
                ws.send("still works")
                assert await ws.recv() == "still works"
    assert "Exception in a trace callback" in caplog.text


def test_trace_must_be_callable() -> None:
    with pytest.raises(TypeError):
        wsapi.WebSocket("ws://127.0.0.1:1/", trace="yes")  # type: ignore[arg-type]


def test_describe() -> None:
    event = TraceEvent(0.5, "<", "close", code=1000, reason="bye")
    assert event.describe() == "< 500.0 ms  close 1000 'bye'"


async def test_ping_is_sent_and_traced() -> None:
    events: list[TraceEvent] = []
    async with serve(echo) as server:
        with anyio.fail_after(10):
            async with wsapi.WebSocket(server.url, trace=events.append) as ws:
                ws.ping(b"abc")
                ws.ping("é")
                with pytest.raises(ValueError):
                    ws.ping(b"x" * 126)
                ws.send("sync")  # the echo comes after the pongs
                assert await ws.recv() == "sync"
            ws.ping(b"ignored once closed")
    sent = [event.data for event in events if event.kind == "ping" and event.direction == ">"]
    received = [event.data for event in events if event.kind == "pong"]
    assert sent == [b"abc", "é".encode()] and received == sent


def test_ping_while_connecting_is_an_invalid_state() -> None:
    with pytest.raises(wsapi.DOMException) as info:
        wsapi.WebSocket("ws://127.0.0.1:1/").ping()
    assert info.value.name == "InvalidStateError"
