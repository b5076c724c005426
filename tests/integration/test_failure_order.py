"""A protocol error right after some messages: the application's replies go out first.

RFC 6455 processes frames in order, so an application that echoes every message
must get to echo the messages that came before a bad frame, and its echoes must
reach the server before the client's Close frame. Autobahn's strict cases 3.2,
4.1.3 and 5.15 check exactly this; here it is checked over real sockets against
scripted servers, both when the bad frame comes in the same TCP segment as the
messages and when it comes later.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio
import pytest

from tests.integration.test_misbehaving import (
    READY,
    TIMEOUT,
    Seen,
    accept_and_sync,
    summary,
    wait_scripts,
)
from tests.peers.scripted import Opcode, RawConnection, ScriptedServer, frame_bytes
from wsapi import ConnectionClosed, MessageEvent, ProtocolError, WebSocket

pytestmark = pytest.mark.anyio

StartServer = Callable[..., ScriptedServer]

MESSAGES = [frame_bytes(Opcode.TEXT, b"first"), frame_bytes(Opcode.BINARY, b"second")]
BAD_FRAME = frame_bytes(Opcode.TEXT, b"reserved bit", rsv2=True)
#: A close_timeout far above the test's duration: waiting for it would show.
PATIENT = 30.0


def messages_then_bad_frame(*, split: bool) -> Callable[[RawConnection, Seen], None]:
    """Script: two messages and a frame with a reserved bit set; record what comes back."""

    def script(conn: RawConnection, seen: Seen) -> None:
        accept_and_sync(conn)
        if split:
            conn.send_raw(b"".join(MESSAGES))
            time.sleep(0.2)  # the client reads the messages before the bad frame exists
            conn.send_raw(BAD_FRAME)
        else:
            conn.send_raw(b"".join(MESSAGES) + BAD_FRAME)
        seen.read_close_and_eof(conn)

    return script


def assert_echoes_then_1002(seen: Seen) -> None:
    assert [(frame.opcode, frame.payload) for frame in seen.frames] == [
        (Opcode.TEXT, b"first"),
        (Opcode.BINARY, b"second"),
    ]
    assert seen.close is not None and seen.close[0] == 1002
    assert seen.tail == b""


@pytest.mark.parametrize("split", [False, True], ids=["same-read", "later-read"])
async def test_async_for_echoes_before_the_close_frame(
    scripted_server: StartServer, split: bool
) -> None:
    seen = Seen()
    server = scripted_server(lambda conn: messages_then_bad_frame(split=split)(conn, seen))
    received: list[str | bytes] = []
    started = time.monotonic()
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(server.url(), close_timeout=PATIENT) as ws:
            ws.send(READY)
            with pytest.raises(ConnectionClosed) as info:
                async for message in ws:
                    received.append(message)
                    ws.send(message)
        await wait_scripts(server)
    assert received == ["first", b"second"]
    assert_echoes_then_1002(seen)
    assert summary(info.value) == (1006, "", False)
    assert isinstance(info.value.__cause__, ProtocolError)
    assert time.monotonic() - started < PATIENT / 3


@pytest.mark.parametrize("split", [False, True], ids=["same-read", "later-read"])
async def test_listener_echoes_before_the_close_frame(
    scripted_server: StartServer, split: bool
) -> None:
    seen = Seen()
    server = scripted_server(lambda conn: messages_then_bad_frame(split=split)(conn, seen))
    ws = WebSocket(server.url(), close_timeout=PATIENT)

    async def echo(event: MessageEvent) -> None:
        await anyio.sleep(0.05)  # an async listener that takes its time
        ws.send(event.data)

    ws.onmessage = echo
    started = time.monotonic()
    with anyio.fail_after(TIMEOUT):
        async with ws:
            ws.send(READY)
            close = await ws.wait_closed()
        await wait_scripts(server)
    assert_echoes_then_1002(seen)
    assert (close.code, close.wasClean) == (1006, False)
    assert time.monotonic() - started < PATIENT / 3


async def test_application_that_does_not_read_is_not_waited_for(
    scripted_server: StartServer,
) -> None:
    # Nobody reads the two messages: the failure is not held back for them.
    seen = Seen()
    server = scripted_server(lambda conn: messages_then_bad_frame(split=False)(conn, seen))
    started = time.monotonic()
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(server.url(), close_timeout=PATIENT) as ws:
            ws.send(READY)
            close = await ws.wait_closed()
            # What arrived before the failure stays readable.
            assert [await ws.recv(), await ws.recv()] == ["first", b"second"]
        await wait_scripts(server)
    assert seen.frames == []
    assert seen.close is not None and seen.close[0] == 1002
    assert (close.code, close.wasClean) == (1006, False)
    assert time.monotonic() - started < PATIENT / 3


async def test_replies_sent_after_the_failure_are_dropped(scripted_server: StartServer) -> None:
    # The application answers the first message only after the connection failed:
    # that reply is not sent and is counted in bufferedAmount, as the standard says.
    seen = Seen()
    server = scripted_server(lambda conn: messages_then_bad_frame(split=False)(conn, seen))
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(server.url(), close_timeout=PATIENT) as ws:
            ws.send(READY)
            first = await ws.recv()
            await ws.recv()
            # Asking for a third message lets the failure through.
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            ws.send(first)
            assert ws.bufferedAmount == len(b"first")
        await wait_scripts(server)
    assert seen.frames == []
    assert seen.close is not None and seen.close[0] == 1002
