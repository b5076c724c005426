"""Integration cases shared by the real peers (websockets' server and Node's ws).

Each case is an async function taking ``url_for``, the peer's URL builder
(``url_for("/echo")`` -> ``ws://127.0.0.1:PORT/echo``), and drives wsapi through its
public API only. The test modules call them on asyncio and trio; each case bounds
itself with ``anyio.fail_after`` so that a hang fails the test instead of blocking.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

import anyio
import anyio.lowlevel
import pytest

from tests.peers.websockets_server import send_payload
from wsapi import (
    CloseEvent,
    ConnectionClosed,
    ConnectionFailed,
    DOMException,
    ErrorEvent,
    Event,
    InvalidStatus,
    MessageEvent,
    MessageTooBig,
    WebSocket,
    WebSocketError,
)

UrlFor = Callable[[str], str]

#: Bound for one case on loopback; big transfers get BIG_TIMEOUT.
TIMEOUT = 10.0
BIG_TIMEOUT = 30.0

MiB = 2**20

#: Payload sizes around the frame-length encodings (7-bit, 16-bit, 64-bit) and beyond.
SIZES = [0, 1, 125, 126, 127, 65535, 65536, MiB, 16 * MiB]


def origin_of(url: str) -> str:
    """``ws://127.0.0.1:PORT``: what MessageEvent.origin must be for ``url``."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class Recorder:
    """Records the events a WebSocket fires, in order, through addEventListener."""

    def __init__(self, ws: WebSocket, *, messages: bool = False) -> None:
        self.events: list[Event] = []
        self.ready_states: list[int] = []  # ws.readyState as each event was dispatched
        self._ws = ws
        types = ["open", "error", "close"] + (["message"] if messages else [])
        for type_ in types:
            ws.addEventListener(type_, self.record)

    def record(self, event: Event) -> None:
        self.events.append(event)
        self.ready_states.append(self._ws.readyState)

    @property
    def types(self) -> list[str]:
        return [event.type for event in self.events]

    def only(self, cls: type[Any]) -> Any:
        """The one recorded event of class ``cls``."""
        found = [event for event in self.events if type(event) is cls]
        assert len(found) == 1, self.events
        return found[0]


_ASCII = "".join(chr(code) for code in range(0x21, 0x7F))


def text_of_size(size: int) -> str:
    """ASCII text of ``size`` characters (and bytes)."""
    return (_ASCII * (size // len(_ASCII) + 1))[:size]


def non_ascii_text(size: int) -> str:
    """Text whose UTF-8 encoding is exactly ``size`` bytes, with 2-, 3- and 4-byte characters."""
    unit = "aé€🎉"  # 1 + 2 + 3 + 4 bytes
    text = unit * (size // 10) + "a" * (size % 10)
    assert len(text.encode("utf-8")) == size
    return text


def binary_of_size(size: int) -> bytes:
    """``size`` bytes: random (incompressible) up to 1 MiB, a pattern beyond (faster)."""
    if size <= MiB:
        return os.urandom(size)
    return send_payload(0xC0FFEE, size)


# -- echo ----------------------------------------------------------------------


async def echo_size(url_for: UrlFor, size: int, *, compression: Any) -> None:
    """Text and binary messages of ``size`` bytes come back equal and of the same type."""
    timeout = BIG_TIMEOUT if size > MiB else TIMEOUT
    with anyio.fail_after(timeout):
        async with WebSocket(url_for("/echo"), compression=compression) as ws:
            if compression is None:
                assert ws.extensions == ""
            else:
                assert ws.extensions.startswith("permessage-deflate")
            if size <= MiB:
                text = non_ascii_text(size) if size == MiB else text_of_size(size)
                ws.send(text)
                received = await ws.recv()
                assert type(received) is str
                assert received == text
            data = binary_of_size(size)
            ws.send(data)
            received = await ws.recv()
            assert type(received) is bytes
            assert len(received) == size
            assert received == data


async def echo_bytes_like(url_for: UrlFor) -> None:
    """bytearray and memoryview are sent as binary and come back as bytes."""
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(url_for("/echo")) as ws:
            ws.send(bytearray(b"from a bytearray"))
            ws.send(memoryview(b"0123456789")[2:5])
            ws.send(memoryview(bytearray(b"\x00\xff\x10")))
            ws.send("and text")
            assert await ws.recv() == b"from a bytearray"
            received = await ws.recv()
            assert type(received) is bytes
            assert received == b"234"
            received = await ws.recv()
            assert type(received) is bytes
            assert received == b"\x00\xff\x10"
            received = await ws.recv()
            assert type(received) is str
            assert received == "and text"
            # binaryType values ported from JavaScript still deliver bytes; others are ignored.
            for binary_type in ("arraybuffer", "blob", "nodebuffer"):
                ws.binaryType = binary_type
                ws.send(b"\x01\x02")
                received = await ws.recv()
                assert type(received) is bytes
                assert received == b"\x01\x02"
            assert ws.binaryType == "blob"


# -- many messages ------------------------------------------------------------------


async def burst_in_order(url_for: UrlFor, count: int = 2000) -> None:
    """``count`` messages sent at once come back in order, read with ``async for``."""
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(url_for("/echo")) as ws:
            sent: list[str | bytes] = [
                f"message {i}" if i % 2 else i.to_bytes(4, "big") for i in range(count)
            ]
            for message in sent:
                ws.send(message)
            received: list[str | bytes] = []
            async for message in ws:
                received.append(message)
                if len(received) == count:
                    break
            assert received == sent
            assert ws.readyState == WebSocket.OPEN


async def interleaved(url_for: UrlFor, count: int = 300) -> None:
    """send() then recv(), one message at a time, text and binary alternating."""
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(url_for("/echo")) as ws:
            for i in range(count):
                message: str | bytes = f"#{i} é" if i % 2 else bytes([i % 256]) * (i + 1)
                ws.send(message)
                assert await ws.recv() == message


async def send_route(url_for: UrlFor, count: int = 100, size: int = 1000) -> None:
    """/send: ``count`` numbered messages in order, then a clean close with 1000."""
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(url_for(f"/send?count={count}&size={size}")) as ws:
            received = [message async for message in ws]
            assert received == [send_payload(i, size) for i in range(count)]
            assert all(type(message) is bytes for message in received)
            event = await ws.wait_closed()
            assert (event.code, event.reason, event.wasClean) == (1000, "", True)
            assert ws.readyState == WebSocket.CLOSED


# -- message listeners -----------------------------------------------------------


async def message_listeners(url_for: UrlFor) -> None:
    """onmessage and addEventListener get MessageEvents; recv() gets nothing meanwhile."""
    url = url_for("/echo")
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(url) as ws:
            from_handler: list[MessageEvent] = []
            from_listener: list[MessageEvent] = []
            from_async: list[MessageEvent] = []
            all_in = anyio.Event()

            def handler(event: MessageEvent) -> None:
                from_handler.append(event)

            def listener(event: MessageEvent) -> None:
                from_listener.append(event)

            async def async_listener(event: MessageEvent) -> None:
                await anyio.lowlevel.checkpoint()
                from_async.append(event)
                if len(from_async) == 2:
                    all_in.set()

            ws.onmessage = handler
            ws.addEventListener("message", listener)
            ws.addEventListener("message", async_listener)
            ws.send("text é")
            ws.send(b"\x00binary")
            await all_in.wait()

            for events in (from_handler, from_listener, from_async):
                assert [type(event) for event in events] == [MessageEvent, MessageEvent]
                assert [event.data for event in events] == ["text é", b"\x00binary"]
                assert type(events[1].data) is bytes
                for event in events:
                    assert event.type == "message"
                    assert event.origin == origin_of(url)
                    assert event.target is ws
                    assert event.isTrusted
            # The listeners saw the same event objects.
            assert from_handler[0] is from_listener[0] is from_async[0]

            # The listeners took the messages: once they are gone, recv() gets only new ones.
            ws.onmessage = None
            ws.removeEventListener("message", listener)
            ws.removeEventListener("message", async_listener)
            ws.send("for recv")
            assert await ws.recv() == "for recv"
            assert len(from_handler) == len(from_listener) == len(from_async) == 2


# -- event order and closing -------------------------------------------------------


async def event_order_clean(url_for: UrlFor) -> None:
    """open, the messages in order, close (no error) for a clean close by the server."""
    with anyio.fail_after(TIMEOUT):
        ws = WebSocket(url_for("/send?count=3&size=8"))
        recorder = Recorder(ws, messages=True)
        async with ws:
            assert recorder.types == ["open"]
            event = await ws.wait_closed()
        assert recorder.types == ["open", "message", "message", "message", "close"]
        assert recorder.ready_states == [WebSocket.OPEN] * 4 + [WebSocket.CLOSED]
        messages = [e.data for e in recorder.events if isinstance(e, MessageEvent)]
        assert messages == [send_payload(i, 8) for i in range(3)]
        assert recorder.events[-1] is event
        assert event.wasClean


async def event_order_failure(url_for: UrlFor) -> None:
    """A failure after open: open, error, close (1006, not clean), each once."""
    with anyio.fail_after(TIMEOUT):
        ws = WebSocket(url_for("/echo"), max_message_size=1000)
        recorder = Recorder(ws)
        async with ws:
            ws.send(b"x" * 2000)  # echoed back: larger than max_message_size
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
            assert info.value.code == 1006
            assert not info.value.wasClean
            assert isinstance(info.value.__cause__, MessageTooBig)
            with pytest.raises(ConnectionClosed):
                async for _ in ws:  # an abnormal close ends `async for` with the error
                    pass
            ws.close()  # nothing: already closed
        assert recorder.types == ["open", "error", "close"]
        assert recorder.ready_states == [WebSocket.OPEN, WebSocket.CLOSED, WebSocket.CLOSED]
        error = recorder.only(ErrorEvent)
        assert isinstance(error.error, MessageTooBig)
        assert error.message == str(error.error)
        close = recorder.only(CloseEvent)
        assert (close.code, close.wasClean) == (1006, False)
        assert ws.readyState == WebSocket.CLOSED


async def server_close(url_for: UrlFor) -> None:
    """/close?code=4000&reason=bye: the app sees 4000 "bye", cleanly, once."""
    with anyio.fail_after(TIMEOUT):
        ws = WebSocket(url_for("/close?code=4000&reason=bye"))
        recorder = Recorder(ws)
        async with ws:
            event = await ws.wait_closed()
            assert (event.code, event.reason, event.wasClean) == (4000, "bye", True)
            assert ws.readyState == WebSocket.CLOSED
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
            assert (info.value.code, info.value.reason, info.value.wasClean) == (
                4000,
                "bye",
                True,
            )
            async for _ in ws:  # ends at once, without error
                raise AssertionError("no message was sent")
            ws.close(4001, "too late")  # does nothing on a closed socket
            assert ws.readyState == WebSocket.CLOSED
        assert recorder.types == ["open", "close"]
        assert recorder.events[-1] is event
        assert await ws.wait_closed() is event
        assert ws.readyState == WebSocket.CLOSED


async def server_close_code(url_for: UrlFor, code: int, reason: str) -> None:
    """The app sees the server's close code and reason as sent (reason up to 123 bytes)."""
    with anyio.fail_after(TIMEOUT):
        route = f"/close?code={code}&reason={quote(reason)}"
        async with WebSocket(url_for(route)) as ws:
            event = await ws.wait_closed()
        assert (event.code, event.reason, event.wasClean) == (code, reason, True)


async def close_race(url_for: UrlFor) -> None:
    """The server closes while the client closes too: one close event, clean."""
    with anyio.fail_after(TIMEOUT):
        ws = WebSocket(url_for("/close?code=4000&reason=bye"))
        recorder = Recorder(ws)
        async with ws:
            ws.close(4001, "mine")
            event = await ws.wait_closed()
        assert recorder.types == ["open", "close"]
        assert event.wasClean
        # Whichever Close frame reached the other side first, the app sees the server's.
        assert (event.code, event.reason) in ((4000, "bye"), (4001, "mine"))


async def server_close_no_code(url_for: UrlFor) -> None:
    """/close-no-code: a Close frame without a code reaches the app as 1005."""
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(url_for("/close-no-code")) as ws:
            event = await ws.wait_closed()
            assert (event.code, event.reason, event.wasClean) == (1005, "", True)
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
            assert info.value.code == 1005


async def client_close(url_for: UrlFor) -> None:
    """close(4001, "done"): CLOSING at once, then a clean close echoing 4001."""
    with anyio.fail_after(TIMEOUT):
        ws = WebSocket(url_for("/echo"))
        recorder = Recorder(ws)
        async with ws:
            ws.close(4001, "done")
            assert ws.readyState == WebSocket.CLOSING
            ws.close(4002, "again")  # closing already: nothing
            event = await ws.wait_closed()
            assert ws.readyState == WebSocket.CLOSED
            # As in the standard, these keep their values once closed.
            assert ws.extensions.startswith("permessage-deflate")
            assert ws.url == url_for("/echo")
        assert (event.code, event.reason, event.wasClean) == (4001, "done", True)
        assert recorder.types == ["open", "close"]


async def client_close_no_code(url_for: UrlFor) -> None:
    """close() sends no code; the server echoes none: a clean close with 1005."""
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(url_for("/echo")) as ws:
            ws.close()
            assert ws.readyState == WebSocket.CLOSING
            event = await ws.wait_closed()
        assert event.wasClean
        assert (event.code, event.reason) == (1005, "")


async def leave_async_with(url_for: UrlFor) -> None:
    """Leaving `async with` closes with 1000 and waits for the closing handshake."""
    with anyio.fail_after(TIMEOUT):
        ws = WebSocket(url_for("/echo"))
        recorder = Recorder(ws)
        async with ws:
            ws.send("bye")
            assert await ws.recv() == "bye"
        assert ws.readyState == WebSocket.CLOSED
        assert recorder.types == ["open", "close"]
        event = recorder.only(CloseEvent)
        assert (event.code, event.reason, event.wasClean) == (1000, "", True)
        assert await ws.wait_closed() is event


async def leave_async_with_by_exception(url_for: UrlFor) -> None:
    """An exception leaves `async with` as it is; the connection still closes with 1000."""
    with anyio.fail_after(TIMEOUT):
        ws = WebSocket(url_for("/echo"))
        recorder = Recorder(ws)
        with pytest.raises(KeyError, match="oops"):
            async with ws:
                ws.send("x")
                raise KeyError("oops")
        assert ws.readyState == WebSocket.CLOSED
        assert recorder.types == ["open", "close"]
        event = recorder.only(CloseEvent)
        assert (event.code, event.wasClean) == (1000, True)


async def recv_timeout_loses_nothing(url_for: UrlFor) -> None:
    """A recv() cancelled by a timeout leaves the connection open and loses no message."""
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(url_for("/echo")) as ws:
            for _ in range(3):
                with anyio.move_on_after(0.02) as scope:
                    await ws.recv()
                assert scope.cancelled_caught
            assert ws.readyState == WebSocket.OPEN
            ws.send("first")
            ws.send("second")
            assert await ws.recv() == "first"
            assert await ws.recv() == "second"


async def http_url(url_for: UrlFor) -> None:
    """An http:// URL is normalised to ws:// and connects."""
    url = url_for("/echo")
    with anyio.fail_after(TIMEOUT):
        ws = WebSocket("http" + url.removeprefix("ws"))
        assert ws.url == url
        async with ws:
            ws.send("over http://")
            assert await ws.recv() == "over http://"


# -- a busy event loop: frames that arrive in the same read as the 101 ---------------


class LoopHog:
    """Blocks the event loop for ``period`` seconds at each of its turns until stopped.

    Simulates a loaded application. While it runs, a peer has time to write its 101
    answer *and* the frames it sends right after it (a Close, pings) before wsapi reads
    the socket, so they all arrive in the read that completes the opening handshake.
    """

    def __init__(self, period: float = 0.05) -> None:
        self.period = period
        self.stopped = False

    async def run(self) -> None:
        while not self.stopped:
            time.sleep(self.period)  # noqa: ASYNC251 -- blocking is the point
            await anyio.lowlevel.checkpoint()

    def stop(self) -> None:
        self.stopped = True


async def close_in_the_101_read(url_for: UrlFor) -> None:
    """A Close that arrives with the 101 is answered at once: the server is not kept waiting.

    Both peers wait seconds for the client's Close (websockets 5 s, Node's ws 30 s) and
    the client gives up after close_timeout: a prompt close event means wsapi answered.
    """
    elapsed = float("inf")
    with anyio.fail_after(TIMEOUT):
        ws = WebSocket(url_for("/close?code=4000&reason=bye"), compression=None, close_timeout=2)
        hog = LoopHog()
        async with anyio.create_task_group() as tg:
            tg.start_soon(hog.run)
            try:
                async with ws:
                    hog.stop()
                    start = time.monotonic()
                    event = await ws.wait_closed()
                    elapsed = time.monotonic() - start
            finally:
                hog.stop()
    assert (event.code, event.reason, event.wasClean) == (4000, "bye", True)
    assert elapsed < 1.0, f"the closing handshake took {elapsed:.2f} s"


async def pings_in_the_101_read(url_for: UrlFor) -> None:
    """Pings that arrive with the 101 are answered at once (the server waits for the pongs)."""
    got: str | bytes | None = None
    with anyio.fail_after(TIMEOUT):
        ws = WebSocket(url_for("/ping?count=3"), compression=None)
        hog = LoopHog()
        async with anyio.create_task_group() as tg:
            tg.start_soon(hog.run)
            try:
                async with ws:
                    hog.stop()
                    # Keepalive pings (every 20 s) would flush the pongs eventually.
                    with anyio.move_on_after(2.0):
                        got = await ws.recv()
            finally:
                hog.stop()
    assert got == "pinged 3"


# -- subprotocols, pings, compression, headers -------------------------------------


async def subprotocol(url_for: UrlFor, offered: list[str] | None, expected: str) -> None:
    """ws.protocol is what the server selected, which the server also names in a message."""
    with anyio.fail_after(TIMEOUT):
        ws = WebSocket(url_for("/subprotocol"), offered)
        assert ws.protocol == ""
        async with ws:
            assert ws.protocol == expected
            assert await ws.recv() == expected
            ws.send("still echoing")
            assert await ws.recv() == "still echoing"


async def server_pings(url_for: UrlFor) -> None:
    """/ping?count=3: wsapi answers each ping, so the server goes on to say "pinged 3"."""
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(url_for("/ping?count=3")) as ws:
            assert await ws.recv() == "pinged 3"
            ws.send("after pings")
            assert await ws.recv() == "after pings"


async def compression_default(url_for: UrlFor) -> None:
    """permessage-deflate is negotiated by default; a 1 MiB text round-trips compressed."""
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(url_for("/compression")) as ws:
            assert ws.extensions.startswith("permessage-deflate")
            assert await ws.recv() == ws.extensions  # what the server answered
            text = non_ascii_text(MiB)  # repetitive: compresses well
            ws.send(text)
            assert await ws.recv() == text


async def compression_off(url_for: UrlFor) -> None:
    """compression=None: no extension offered nor negotiated; messages still flow."""
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(url_for("/compression"), compression=None) as ws:
            assert ws.extensions == ""
            assert await ws.recv() == ""
            ws.send("plain")
            assert await ws.recv() == "plain"


async def request_headers(url_for: UrlFor, **kwargs: Any) -> dict[str, str]:
    """The request headers the server saw on /headers (names lower-cased)."""
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(url_for("/headers"), **kwargs) as ws:
            message = await ws.recv()
            assert isinstance(message, str)
            headers: dict[str, str] = json.loads(message)
            return headers


async def headers_sent(url_for: UrlFor) -> None:
    """headers=, origin= and the default User-Agent reach the server."""
    headers = await request_headers(
        url_for, headers={"X-Token": "abc"}, origin="http://good.example"
    )
    assert headers["x-token"] == "abc"
    assert headers["origin"] == "http://good.example"
    assert headers["user-agent"].startswith("wsapi/")
    assert headers["upgrade"].lower() == "websocket"
    assert headers["sec-websocket-version"] == "13"


async def repeated_headers_sent(url_for: UrlFor) -> None:
    """headers= as (name, value) pairs may repeat a name; the server gets every value."""
    headers = await request_headers(url_for, headers=[("X-Multi", "one"), ("X-Multi", "two")])
    assert headers["x-multi"] == "one, two"


async def user_agent_sent(url_for: UrlFor) -> None:
    """user_agent= replaces the default User-Agent; no Origin unless asked for."""
    headers = await request_headers(url_for, user_agent="custom/1")
    assert headers["user-agent"] == "custom/1"
    assert "origin" not in headers


async def refused(url: str, **kwargs: Any) -> tuple[InvalidStatus, Recorder, WebSocket]:
    """Connect to ``url``, which refuses the upgrade; check what every refusal has in common."""
    with anyio.fail_after(TIMEOUT):
        ws = WebSocket(url, **kwargs)
        recorder = Recorder(ws)
        with pytest.raises(InvalidStatus) as info:
            async with ws:
                raise AssertionError("the connection should have been refused")
    exc = info.value
    assert isinstance(exc, ConnectionFailed)
    assert isinstance(exc, WebSocketError)
    assert exc.response is not None
    assert exc.status == exc.response.status
    assert str(exc).startswith("WebSocket connection to 'ws://127.0.0.1:")
    assert str(exc.response.status) in str(exc)
    assert recorder.types == ["error", "close"]
    error = recorder.only(ErrorEvent)
    assert error.error is exc
    assert error.message == str(exc)
    close = recorder.only(CloseEvent)
    assert (close.code, close.reason, close.wasClean) == (1006, "", False)
    assert ws.readyState == WebSocket.CLOSED
    assert ws.protocol == ""
    return exc, recorder, ws


# -- bufferedAmount and send() states ----------------------------------------------


async def buffered_amount_drains(url_for: UrlFor) -> None:
    """bufferedAmount counts what send() queued and returns to 0 once it is written."""
    size = 10 * MiB
    with anyio.fail_after(BIG_TIMEOUT):
        async with WebSocket(url_for("/echo")) as ws:
            assert ws.bufferedAmount == 0
            data = binary_of_size(size)
            ws.send(data)
            ws.send("é")
            assert ws.bufferedAmount == size + 2  # send() never writes by itself
            assert await ws.recv() == data
            assert await ws.recv() == "é"
            # The echo is back, so every byte was written; the writer task updates the
            # count after its write returns, which may be a scheduling step later.
            while ws.bufferedAmount:
                await anyio.lowlevel.checkpoint()
            assert ws.bufferedAmount == 0


async def send_while_connecting(url_for: UrlFor) -> None:
    """send() before the connection is open: InvalidStateError; the socket is still usable."""
    with anyio.fail_after(TIMEOUT):
        ws = WebSocket(url_for("/echo"))
        for data in ("text", b"bytes", bytearray(b"ba"), memoryview(b"mv")):
            with pytest.raises(DOMException) as info:
                ws.send(data)
            assert info.value.name == "InvalidStateError"
        assert ws.bufferedAmount == 0
        assert ws.readyState == WebSocket.CONNECTING
        async with ws:
            ws.send("now")
            assert await ws.recv() == "now"


async def send_after_close(url_for: UrlFor) -> None:
    """send() once closing or closed drops the data but counts it in bufferedAmount."""
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(url_for("/echo")) as ws:
            ws.close()
            assert ws.readyState == WebSocket.CLOSING
            before = ws.bufferedAmount
            ws.send(b"12345")
            assert ws.bufferedAmount == before + 5
            ws.send("é€")  # counted in UTF-8 bytes
            assert ws.bufferedAmount == before + 10
            await ws.wait_closed()
            assert ws.bufferedAmount == 10  # what was dropped is never "written"
            ws.send(bytearray(3))
            assert ws.bufferedAmount == 13
            with pytest.raises(ConnectionClosed):
                await ws.recv()  # nothing of it was sent, so nothing was echoed
