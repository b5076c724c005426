"""The ``WebSocket`` facade, rule by rule of the API contract (API.md).

Peers: the embedded server (``wsapi.testing.serve``) and raw scripted servers, on loopback.
"""

from __future__ import annotations

import logging
import math
import ssl
import threading
from collections.abc import Callable
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread
import pytest

import wsapi
from tests.peers.scripted import Opcode, RawConnection
from wsapi import (
    CloseEvent,
    ConnectionClosed,
    ConnectionFailed,
    DOMException,
    ErrorEvent,
    Event,
    MessageEvent,
    WebSocket,
    WebSocketError,
)
from wsapi.testing import ServerConnection, echo, serve

TIMEOUT = 5.0


# -- helpers ---------------------------------------------------------------------------


class Recorder:
    """Records every event of a WebSocket as a short string, and keeps the events."""

    def __init__(self, ws: WebSocket) -> None:
        self.log: list[str] = []
        self.events: list[Event] = []
        self.states: list[int] = []
        for kind in ("open", "message", "error", "close"):
            ws.addEventListener(kind, self)

    def handleEvent(self, event: Event) -> None:
        self.events.append(event)
        target = event.target
        assert isinstance(target, WebSocket)
        self.states.append(target.readyState)
        if isinstance(event, MessageEvent):
            self.log.append(f"message:{event.data!r}")
        elif isinstance(event, CloseEvent):
            self.log.append(f"close:{event.code}:{event.wasClean}")
        else:
            self.log.append(event.type)

    def of_type(self, kind: str) -> list[Event]:
        return [event for event in self.events if event.type == kind]


class CloseSeen:
    """A handler that drains the client's messages and records how the client closed."""

    def __init__(self) -> None:
        self.messages: list[str | bytes] = []
        self.code: int | None = None
        self.reason: str | None = None
        self.done = anyio.Event()

    async def __call__(self, conn: ServerConnection) -> None:
        try:
            async for message in conn:
                self.messages.append(message)
            await conn.close()
            self.code, self.reason = conn.close_code, conn.close_reason
        finally:
            self.done.set()


def send_then_close(*messages: str | bytes, code: int = 1000, reason: str = "") -> Any:
    async def handler(conn: ServerConnection) -> None:
        for message in messages:
            await conn.send(message)
        await conn.close(code, reason)

    return handler


def dropping_script(*texts: str) -> Callable[[RawConnection], None]:
    """A raw server: accept, send text frames, then reset the TCP connection."""

    def script(conn: RawConnection) -> None:
        conn.accept()
        for text in texts:
            conn.send_frame(Opcode.TEXT, text.encode())
        conn.abort()

    return script


def delayed_answer_script(request_read: threading.Event) -> Callable[[RawConnection], None]:
    """A raw server that reads the upgrade request and never answers it."""

    def script(conn: RawConnection) -> None:
        conn.read_request()
        request_read.set()
        conn.wait_eof(timeout=TIMEOUT)

    return script


async def wait_for(flag: threading.Event) -> None:
    assert await anyio.to_thread.run_sync(flag.wait, TIMEOUT)


# -- the constructor: validation without I/O (plain sync tests, no event loop) ------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("ws://example.com/chat", "ws://example.com/chat"),
        ("http://example.com/chat", "ws://example.com/chat"),
        ("https://example.com/chat", "wss://example.com/chat"),
        ("HTTPS://Example.COM:443", "wss://example.com/"),
        ("wss://example.com:8443/a/../b?x=1", "wss://example.com:8443/b?x=1"),
        ("ws://[::1]:9000", "ws://[::1]:9000/"),
    ],
)
def test_constructor_normalises_url(given: str, expected: str) -> None:
    ws = WebSocket(given)
    assert ws.url == expected
    assert ws.readyState == WebSocket.CONNECTING == 0


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/",
        "file:///etc/passwd",
        "ws://example.com/#fragment",
        "ws://example.com/#",
        "wss://example.com/chat#top",
        "example.com/chat",
        "localhost:8080",
        "ws://",
        "ws://[::1/",
        "ws://example.com:99999/",
        "ws://exa mple.com/",
        "",
    ],
)
def test_constructor_rejects_bad_url_with_syntax_error(url: str) -> None:
    with pytest.raises(DOMException) as info:
        WebSocket(url)
    assert info.value.name == "SyntaxError"
    assert info.value.code == 12


def test_constructor_url_must_be_str() -> None:
    with pytest.raises(TypeError):
        WebSocket(b"ws://example.com/")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "protocols",
    [None, "chat", ["chat"], ("v2.chat", "v1.chat"), [], ["a", "A"]],
)
def test_constructor_accepts_protocols(protocols: Any) -> None:
    ws = WebSocket("ws://example.com/", protocols)
    assert ws.protocol == ""


@pytest.mark.parametrize(
    "protocols",
    [["chat", "chat"], "", [""], ["a b"], "chat, superchat", ["ch\u00e9"], ["a", "a"], ["x/y"]],
)
def test_constructor_rejects_bad_protocols_with_syntax_error(protocols: Any) -> None:
    with pytest.raises(DOMException) as info:
        WebSocket("ws://example.com/", protocols)
    assert info.value.name == "SyntaxError"


@pytest.mark.parametrize("protocols", [b"chat", [b"chat"], 42, ["chat", 1]])
def test_constructor_rejects_protocols_of_wrong_type(protocols: Any) -> None:
    with pytest.raises(TypeError):
        WebSocket("ws://example.com/", protocols)


def test_constants_on_class_and_instance() -> None:
    ws = WebSocket("ws://example.com/")
    for name, value in (("CONNECTING", 0), ("OPEN", 1), ("CLOSING", 2), ("CLOSED", 3)):
        assert getattr(WebSocket, name) == value
        assert getattr(ws, name) == value


def test_initial_attributes() -> None:
    ws = WebSocket("wss://example.com/socket", ["chat"])
    assert ws.url == "wss://example.com/socket"
    assert ws.readyState == ws.CONNECTING
    assert ws.protocol == ""
    assert ws.extensions == ""
    assert ws.bufferedAmount == 0
    assert isinstance(ws.bufferedAmount, int)
    assert ws.binaryType == "bytes"
    assert (ws.onopen, ws.onmessage, ws.onerror, ws.onclose) == (None, None, None, None)


def test_binary_type_accepts_enumerated_values_and_ignores_others() -> None:
    ws = WebSocket("ws://example.com/")
    ws.binaryType = "arraybuffer"
    assert ws.binaryType == "arraybuffer"
    ws.binaryType = "blob"
    assert ws.binaryType == "blob"
    for ignored in ("text", "BYTES", "", None, 3):
        ws.binaryType = ignored  # type: ignore[assignment]
        assert ws.binaryType == "blob"
    ws.binaryType = "bytes"
    assert ws.binaryType == "bytes"


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"open_timeout": 0}, ValueError),
        ({"open_timeout": -1}, ValueError),
        ({"open_timeout": math.nan}, ValueError),
        ({"open_timeout": "10"}, TypeError),
        ({"open_timeout": True}, TypeError),
        ({"close_timeout": 0}, ValueError),
        ({"close_timeout": -0.5}, ValueError),
        ({"close_timeout": math.nan}, ValueError),
        ({"ping_interval": 0}, ValueError),
        ({"ping_interval": math.nan}, ValueError),
        ({"ping_timeout": -1}, ValueError),
        ({"ping_timeout": "1"}, TypeError),
        ({"max_message_size": 0}, ValueError),
        ({"max_message_size": -1}, ValueError),
        ({"max_message_size": 1.5}, ValueError),
        ({"compression": "gzip"}, ValueError),
        ({"compression": True}, ValueError),
        ({"ssl": ssl.create_default_context()}, ValueError),
        ({"ssl": True}, TypeError),
        ({"headers": {"Host": "evil.example"}}, ValueError),
        ({"headers": {"sec-websocket-key": "x"}}, ValueError),
        ({"headers": {"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}}, ValueError),
        ({"headers": [("Upgrade", "h2c")]}, ValueError),
        ({"headers": {"Sec-WebSocket-Protocol": "chat"}}, ValueError),
        ({"headers": {"X-Ok": 1}}, TypeError),
        ({"max_queue": 0}, ValueError),
    ],
    ids=repr,
)
def test_constructor_rejects_bad_options(options: dict[str, Any], error: type[Exception]) -> None:
    # ssl= is rejected for ws:// URLs; the URL here is ws://.
    with pytest.raises(error):
        WebSocket("ws://example.com/", **options)


def test_constructor_accepts_good_options() -> None:
    ws = WebSocket(
        "wss://example.com/",
        headers={"X-Token": "abc"},
        origin="https://app.example.com",
        ssl=ssl.create_default_context(),
        open_timeout=None,
        close_timeout=0.5,
        ping_interval=None,
        ping_timeout=None,
        max_message_size=None,
        compression=None,
        user_agent="test/1.0",
    )
    assert ws.readyState == WebSocket.CONNECTING


def test_repr_redacts_credentials() -> None:
    ws = WebSocket("wss://alice:s3cret@example.com/chat")
    text = repr(ws)
    assert "s3cret" not in text
    assert "alice" not in text
    assert "example.com/chat" in text
    assert "CONNECTING" in text


# -- send() ------------------------------------------------------------------------------


@pytest.mark.parametrize("data", ["hello", b"hello", bytearray(b"x"), memoryview(b"x")])
def test_send_while_connecting_raises_invalid_state_error(data: Any) -> None:
    ws = WebSocket("ws://example.com/")
    with pytest.raises(DOMException) as info:
        ws.send(data)
    assert info.value.name == "InvalidStateError"
    assert ws.bufferedAmount == 0


@pytest.mark.anyio
async def test_send_types_reach_the_server_as_text_or_binary() -> None:
    seen = CloseSeen()
    with anyio.fail_after(TIMEOUT):
        async with serve(seen) as server:
            async with WebSocket(server.url) as ws:
                ws.send("text \u00e9")
                ws.send(b"bytes")
                ws.send(bytearray(b"bytearray"))
                ws.send(memoryview(b"xmemoryviewx")[1:-1])
                ws.send("")
                ws.send(b"")
            await seen.done.wait()
    assert seen.messages == ["text \u00e9", b"bytes", b"bytearray", b"memoryview", "", b""]
    assert [type(m) for m in seen.messages] == [str, bytes, bytes, bytes, str, bytes]


@pytest.mark.anyio
@pytest.mark.parametrize("data", [42, None, 1.5, ["a"], {"a": 1}, object()])
async def test_send_other_types_raises_type_error(data: Any) -> None:
    with anyio.fail_after(TIMEOUT):
        async with serve(echo) as server, WebSocket(server.url) as ws:
            with pytest.raises(TypeError):
                ws.send(data)
            assert ws.readyState == WebSocket.OPEN
            ws.send("still works")
            assert await ws.recv() == "still works"


@pytest.mark.anyio
async def test_send_after_close_is_dropped_and_counted() -> None:
    seen = CloseSeen()
    with anyio.fail_after(TIMEOUT):
        async with serve(seen) as server:
            async with WebSocket(server.url) as ws:
                ws.send("before")
                ws.close()
                assert ws.readyState == WebSocket.CLOSING
                before = ws.bufferedAmount
                ws.send("h\u00e9llo \u20ac")  # 1 + 2 + 3 + 1 + 3 = 10 UTF-8 bytes
                assert ws.bufferedAmount == before + 10
                ws.send(b"12345")
                ws.send(bytearray(3))
                assert ws.bufferedAmount == before + 18
                await ws.wait_closed()
            assert ws.readyState == WebSocket.CLOSED
            closed = ws.bufferedAmount
            ws.send("abc")  # CLOSED: no exception either
            assert ws.bufferedAmount == closed + 3
            await seen.done.wait()
    assert seen.messages == ["before"]


# -- close() -----------------------------------------------------------------------------


@pytest.mark.parametrize("code", [0, 999, 1001, 1002, 1005, 1006, 1015, 2999, 5000, 65535, -1])
def test_close_rejects_codes_with_invalid_access_error(code: int) -> None:
    ws = WebSocket("ws://example.com/")
    with pytest.raises(DOMException) as info:
        ws.close(code)
    assert info.value.name == "InvalidAccessError"
    assert ws.readyState == WebSocket.CONNECTING  # nothing happened


@pytest.mark.parametrize(
    "reason",
    ["a" * 124, "\u00e9" * 62, "\u20ac" * 41 + "a", "\U0001f600" * 31, "a" * 1000],
)
def test_close_rejects_long_reason_with_syntax_error(reason: str) -> None:
    assert len(reason.encode()) > 123
    ws = WebSocket("ws://example.com/")
    with pytest.raises(DOMException) as info:
        ws.close(1000, reason)
    assert info.value.name == "SyntaxError"
    assert ws.readyState == WebSocket.CONNECTING


@pytest.mark.parametrize(
    "reason", ["a" * 123, "\u00e9" * 61 + "a", "\u20ac" * 41, "\U0001f600" * 30 + "abc"]
)
def test_close_accepts_reason_of_123_bytes(reason: str) -> None:
    assert len(reason.encode()) == 123
    ws = WebSocket("ws://example.com/")
    ws.close(1000, reason)  # valid: only the state changes (see the connecting tests)
    assert ws.readyState == WebSocket.CLOSING


@pytest.mark.parametrize("code", [1000, 3000, 3999, 4000, 4999])
def test_close_accepts_valid_codes(code: int) -> None:
    ws = WebSocket("ws://example.com/")
    ws.close(code)
    assert ws.readyState == WebSocket.CLOSING


@pytest.mark.anyio
async def test_close_argument_checks_come_before_state_checks() -> None:
    with anyio.fail_after(TIMEOUT):
        async with serve(echo) as server, WebSocket(server.url) as ws:
            pass
    assert ws.readyState == WebSocket.CLOSED
    with pytest.raises(DOMException) as info:
        ws.close(1001)
    assert info.value.name == "InvalidAccessError"
    with pytest.raises(DOMException) as info:
        ws.close(1000, "x" * 124)
    assert info.value.name == "SyntaxError"
    ws.close(1000, "fine")  # valid arguments on a CLOSED socket: nothing happens
    assert ws.readyState == WebSocket.CLOSED


@pytest.mark.anyio
async def test_close_on_closing_or_closed_socket_does_nothing() -> None:
    seen = CloseSeen()
    with anyio.fail_after(TIMEOUT):
        async with serve(seen) as server:
            async with WebSocket(server.url) as ws:
                recorder = Recorder(ws)
                ws.close(3001, "first")
                assert ws.readyState == WebSocket.CLOSING
                ws.close(3002, "second")
                ws.close()
                assert ws.readyState == WebSocket.CLOSING
                event = await ws.wait_closed()
                ws.close(3003, "third")
                assert ws.readyState == WebSocket.CLOSED
            await seen.done.wait()
    assert (seen.code, seen.reason) == (3001, "first")
    assert (event.code, event.reason, event.wasClean) == (3001, "first", True)
    assert len(recorder.of_type("close")) == 1


@pytest.mark.anyio
async def test_close_with_only_a_reason_sends_1000() -> None:
    seen = CloseSeen()
    with anyio.fail_after(TIMEOUT):
        async with serve(seen) as server:
            async with WebSocket(server.url) as ws:
                ws.close(reason="bye")
                event = await ws.wait_closed()
            await seen.done.wait()
    assert (seen.code, seen.reason) == (1000, "bye")
    assert (event.code, event.reason, event.wasClean) == (1000, "bye", True)


@pytest.mark.anyio
async def test_close_without_arguments_sends_no_code() -> None:
    seen = CloseSeen()
    with anyio.fail_after(TIMEOUT):
        async with serve(seen) as server:
            async with WebSocket(server.url) as ws:
                ws.close()
                event = await ws.wait_closed()
            await seen.done.wait()
    # An empty Close frame: the server reports 1005 "no status received".
    assert (seen.code, seen.reason) == (1005, "")
    assert event.wasClean is True


@pytest.mark.anyio
async def test_close_while_connecting_fails_the_connection(scripted_server: Any) -> None:
    request_read = threading.Event()
    server = scripted_server(delayed_answer_script(request_read))
    ws = WebSocket(server.url())
    recorder = Recorder(ws)
    states: list[int] = []

    async def closer() -> None:
        await wait_for(request_read)
        assert ws.readyState == WebSocket.CONNECTING
        ws.close(1000, "never mind")
        states.append(ws.readyState)

    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(closer)
            with pytest.raises(ConnectionFailed) as info:
                async with ws:
                    pytest.fail("the body must not run")
    assert states == [WebSocket.CLOSING]
    assert isinstance(info.value, wsapi.ConnectionAborted)
    assert "close()" in str(info.value)
    assert ws.readyState == WebSocket.CLOSED
    assert recorder.log == ["error", "close:1006:False"]
    close = recorder.of_type("close")[0]
    assert isinstance(close, CloseEvent)
    assert close.reason == ""


def test_close_before_entering_makes_entering_fail() -> None:
    ws = WebSocket("ws://127.0.0.1:9/")  # never contacted

    async def main() -> None:
        recorder = Recorder(ws)
        with pytest.raises(wsapi.ConnectionAborted):
            async with ws:
                pytest.fail("the body must not run")
        assert recorder.log == ["error", "close:1006:False"]

    ws.close()
    assert ws.readyState == WebSocket.CLOSING
    anyio.run(main)
    assert ws.readyState == WebSocket.CLOSED


# -- events ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_listener_kinds_on_a_live_websocket() -> None:
    calls: list[str] = []

    class Handler:
        def handleEvent(self, event: MessageEvent) -> None:
            calls.append(f"object:{event.data}")

    async def async_listener(event: MessageEvent) -> None:
        await anyio.lowlevel.checkpoint()
        calls.append(f"async:{event.data}")

    def sync_listener(event: MessageEvent) -> None:
        calls.append(f"sync:{event.data}")

    handler_object = Handler()
    with anyio.fail_after(TIMEOUT):
        async with serve(echo) as server, WebSocket(server.url) as ws:
            done = {"1": anyio.Event(), "2": anyio.Event()}

            def on_message(event: MessageEvent) -> None:
                calls.append(f"onmessage:{event.data}")
                done[event.data].set()

            ws.addEventListener("message", sync_listener)
            ws.addEventListener("message", async_listener)
            ws.addEventListener("message", handler_object)
            ws.onmessage = on_message
            assert ws.onmessage is on_message
            ws.send("1")
            await done["1"].wait()
            ws.removeEventListener("message", async_listener)
            ws.removeEventListener("message", handler_object)
            ws.send("2")
            await done["2"].wait()
            ws.onmessage = None
    assert calls == [
        "sync:1",
        "async:1",
        "object:1",
        "onmessage:1",
        "sync:2",
        "onmessage:2",
    ]


@pytest.mark.anyio
async def test_dispatch_event_on_a_live_websocket() -> None:
    seen: list[tuple[str, bool, object]] = []
    async_done = anyio.Event()

    async def async_listener(event: Event) -> None:
        await anyio.lowlevel.checkpoint()
        seen.append(("async", event.isTrusted, event.target))
        async_done.set()

    with anyio.fail_after(TIMEOUT):
        async with serve(echo) as server, WebSocket(server.url) as ws:
            ws.addEventListener("custom", lambda e: seen.append(("sync", e.isTrusted, e.target)))
            ws.addEventListener("custom", async_listener)
            assert ws.dispatchEvent(Event("custom")) is True
            assert seen == [("sync", False, ws)]  # synchronous, untrusted
            await async_done.wait()  # async listeners run in the connection's task group
            # A synthetic event of a WebSocket type is just an event: no state change.
            assert ws.dispatchEvent(CloseEvent("close", code=4000)) is True
            assert ws.readyState == WebSocket.OPEN
            ws.send("ok")
            assert await ws.recv() == "ok"
    assert seen == [("sync", False, ws), ("async", False, ws)]


@pytest.mark.anyio
async def test_on_attributes_for_every_event() -> None:
    calls: list[str] = []
    async with serve(send_then_close("hi", code=4000)) as server:
        ws = WebSocket(server.url)
        ws.onopen = lambda e: calls.append(e.type)
        ws.onmessage = lambda e: calls.append(f"{e.type}:{e.data}")
        ws.onerror = lambda e: calls.append(e.type)
        ws.onclose = lambda e: calls.append(f"{e.type}:{e.code}")
        with anyio.fail_after(TIMEOUT):
            async with ws:
                await ws.wait_closed()
    assert calls == ["open", "message:hi", "close:4000"]


@pytest.mark.anyio
async def test_same_listener_added_twice_is_called_once() -> None:
    calls: list[object] = []

    def listener(event: MessageEvent) -> None:
        calls.append(event.data)

    async with serve(send_then_close("a", "b")) as server:
        ws = WebSocket(server.url)
        ws.addEventListener("message", listener)
        ws.addEventListener("message", listener)
        ws.addEventListener("message", listener, once=False)
        with anyio.fail_after(TIMEOUT):
            async with ws:
                await ws.wait_closed()
    assert calls == ["a", "b"]


@pytest.mark.anyio
async def test_listener_exception_does_not_stop_others_nor_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[str] = []

    def broken(event: Event) -> None:
        calls.append(f"broken:{event.type}")
        raise RuntimeError(f"listener bug on {event.type}")

    async def broken_async(event: Event) -> None:
        await anyio.lowlevel.checkpoint()
        raise ValueError("async listener bug")

    fine_messages = [anyio.Event(), anyio.Event()]

    def fine(event: Event) -> None:
        calls.append(f"fine:{event.type}")
        if isinstance(event, MessageEvent):
            fine_messages[int(event.data)].set()

    caplog.set_level(logging.ERROR, logger="wsapi")
    async with serve(echo) as server:
        ws = WebSocket(server.url)
        for kind in ("open", "message", "close"):
            ws.addEventListener(kind, broken)
            ws.addEventListener(kind, broken_async)
            ws.addEventListener(kind, fine)
        with anyio.fail_after(TIMEOUT):
            async with ws:
                ws.send("0")
                await fine_messages[0].wait()
                assert ws.readyState == WebSocket.OPEN
                ws.send("1")
                await fine_messages[1].wait()
    assert calls == [
        "broken:open",
        "fine:open",
        "broken:message",
        "fine:message",
        "broken:message",
        "fine:message",
        "broken:close",
        "fine:close",
    ]
    assert ws.readyState == WebSocket.CLOSED
    wsapi_errors = [r for r in caplog.records if r.name == "wsapi" and r.levelno == logging.ERROR]
    messages = [str(r.exc_info[1]) for r in wsapi_errors if r.exc_info]
    assert "listener bug on open" in messages
    assert messages.count("listener bug on message") == 2
    assert messages.count("async listener bug") == 4


@pytest.mark.anyio
async def test_async_listeners_are_awaited_in_order() -> None:
    calls: list[str] = []
    count = 5

    async def slow(event: MessageEvent) -> None:
        calls.append(f"slow start {event.data}")
        await anyio.sleep(0.02 if event.data == "0" else 0)
        calls.append(f"slow end {event.data}")

    async def second(event: MessageEvent) -> None:
        calls.append(f"second {event.data}")

    async with serve(send_then_close(*map(str, range(count)))) as server:
        ws = WebSocket(server.url)
        ws.addEventListener("message", slow)
        ws.addEventListener("message", second)
        with anyio.fail_after(TIMEOUT):
            async with ws:
                await ws.wait_closed()
    expected: list[str] = []
    for i in range(count):
        expected += [f"slow start {i}", f"slow end {i}", f"second {i}"]
    assert calls == expected


@pytest.mark.anyio
async def test_once_listener_is_called_once() -> None:
    calls: list[str] = []
    async with serve(send_then_close("a", "b", "c")) as server:
        ws = WebSocket(server.url)
        ws.addEventListener("message", lambda e: calls.append(f"once:{e.data}"), once=True)
        ws.addEventListener("message", lambda e: calls.append(f"dict:{e.data}"), {"once": True})
        ws.addEventListener("message", lambda e: calls.append(f"all:{e.data}"))
        with anyio.fail_after(TIMEOUT):
            async with ws:
                await ws.wait_closed()
    assert calls == ["once:a", "dict:a", "all:a", "all:b", "all:c"]


# -- order, state and event objects ---------------------------------------------------------


@pytest.mark.anyio
async def test_event_order_and_states_on_a_server_close() -> None:
    messages: list[str | bytes] = ["one", b"\x00two", "three", b"", ""]
    async with serve(send_then_close(*messages, code=4000, reason="done")) as server:
        ws = WebSocket(server.url)
        recorder = Recorder(ws)
        with anyio.fail_after(TIMEOUT):
            async with ws:
                assert ws.readyState == WebSocket.OPEN
                event = await ws.wait_closed()
    assert recorder.log == [
        "open",
        "message:'one'",
        "message:b'\\x00two'",
        "message:'three'",
        "message:b''",
        "message:''",
        "close:4000:True",
    ]
    assert recorder.states[0] == WebSocket.OPEN
    assert recorder.states[-1] == WebSocket.CLOSED
    assert all(state in (WebSocket.OPEN, WebSocket.CLOSING) for state in recorder.states[1:-1])
    assert event is recorder.events[-1]
    assert (event.code, event.reason, event.wasClean) == (4000, "done", True)


@pytest.mark.anyio
async def test_message_event_attributes() -> None:
    async with serve(send_then_close("text", b"\xff\x00binary")) as server:
        ws = WebSocket(server.url)
        recorder = Recorder(ws)
        with anyio.fail_after(TIMEOUT):
            async with ws:
                await ws.wait_closed()
    text, binary = recorder.of_type("message")
    assert isinstance(text, MessageEvent) and isinstance(binary, MessageEvent)
    assert (text.data, type(text.data)) == ("text", str)
    assert (binary.data, type(binary.data)) == (b"\xff\x00binary", bytes)
    for event in (text, binary):
        assert event.type == "message"
        assert event.target is ws
        assert event.isTrusted is True
        assert event.origin == f"ws://127.0.0.1:{server.port}"


@pytest.mark.anyio
@pytest.mark.parametrize("binary_type", ["arraybuffer", "blob"])
async def test_binary_type_still_delivers_bytes(binary_type: str) -> None:
    async with serve(send_then_close(b"\x01\x02")) as server:
        ws = WebSocket(server.url)
        ws.binaryType = binary_type
        with anyio.fail_after(TIMEOUT):
            async with ws:
                assert await ws.recv() == b"\x01\x02"


@pytest.mark.anyio
async def test_open_listener_sees_open_state_and_can_send() -> None:
    states: list[int] = []
    async with serve(echo) as server:
        ws = WebSocket(server.url)

        def on_open(event: Event) -> None:
            states.append(ws.readyState)
            ws.send("from open")

        ws.onopen = on_open
        with anyio.fail_after(TIMEOUT):
            async with ws:
                assert ws.readyState == WebSocket.OPEN
                assert await ws.recv() == "from open"
    assert states == [WebSocket.OPEN]


@pytest.mark.anyio
async def test_close_fires_once_when_both_sides_close() -> None:
    async def handler(conn: ServerConnection) -> None:
        await conn.recv()
        await conn.close(4000, "server")

    for _ in range(5):
        async with serve(handler) as server:
            ws = WebSocket(server.url)
            recorder = Recorder(ws)
            with anyio.fail_after(TIMEOUT):
                async with ws:
                    ws.send("close now")
                    await anyio.lowlevel.checkpoint()
                    ws.close(3001, "client")
                    event = await ws.wait_closed()
                ws.close(3002)
        assert recorder.log.count("close:4000:True") + recorder.log.count("close:3001:True") == 1
        assert len(recorder.of_type("close")) == 1
        assert recorder.of_type("error") == []
        assert event.wasClean is True
        assert event.code in (3001, 4000)


@pytest.mark.anyio
async def test_error_then_close_once_when_the_server_drops(scripted_server: Any) -> None:
    server = scripted_server(dropping_script("last words"))
    ws = WebSocket(server.url())
    recorder = Recorder(ws)
    with anyio.fail_after(TIMEOUT):
        async with ws:
            event = await ws.wait_closed()
            ws.close()  # no-op: already closed
        await anyio.sleep(0.05)
    assert recorder.log == ["open", "message:'last words'", "error", "close:1006:False"]
    assert recorder.states[-2:] == [WebSocket.CLOSED, WebSocket.CLOSED]
    assert (event.code, event.reason, event.wasClean) == (1006, "", False)
    error = recorder.of_type("error")[0]
    assert isinstance(error, ErrorEvent)
    assert isinstance(error.error, WebSocketError)
    assert error.message == str(error.error)
    assert error.message


def bad_opcode_script(seen: list[tuple[int | None, str] | None]) -> Callable[[RawConnection], None]:
    """A raw server: accept, wait for the client's first message, send a reserved opcode."""

    def script(conn: RawConnection) -> None:
        conn.accept()
        # The bad frame comes in a read of its own, after the connection is open.
        frame = conn.read_frame()
        assert frame is not None and frame.opcode == Opcode.TEXT
        conn.send_frame(0x3, b"reserved opcode")
        seen.append(conn.read_close())

    return script


@pytest.mark.anyio
async def test_protocol_error_fails_with_error_then_1006(scripted_server: Any) -> None:
    seen: list[tuple[int | None, str] | None] = []
    server = scripted_server(bad_opcode_script(seen))
    ws = WebSocket(server.url())
    recorder = Recorder(ws)
    with anyio.fail_after(TIMEOUT):
        async with ws:
            ws.send("ready")
            event = await ws.wait_closed()
    server.wait_scripts()
    assert recorder.log == ["open", "error", "close:1006:False"]
    assert (event.code, event.wasClean) == (1006, False)
    error = recorder.of_type("error")[0]
    assert isinstance(error, ErrorEvent)
    assert isinstance(error.error, wsapi.ProtocolError)
    assert error.error.code == 1002
    assert error.message == str(error.error)


@pytest.mark.anyio
async def test_protocol_error_sends_1002_on_the_wire(scripted_server: Any) -> None:
    # Losing it was a race between the writer and the shutdown: 20 tries.
    seen: list[tuple[int | None, str] | None] = []
    server = scripted_server(bad_opcode_script(seen))
    for _ in range(20):
        with anyio.fail_after(TIMEOUT):
            async with WebSocket(server.url()) as ws:
                ws.send("ready")
                await ws.wait_closed()
    server.wait_scripts()
    assert len(seen) == 20
    assert [close and close[0] for close in seen] == [1002] * 20


@pytest.mark.anyio
async def test_server_close_without_code_gives_1005(scripted_server: Any) -> None:
    def script(conn: RawConnection) -> None:
        conn.accept()
        assert conn.read_frame() is not None  # the client's "ready"
        conn.send_close(None)
        assert conn.read_close() == (None, "")

    server = scripted_server(script)
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(server.url()) as ws:
            ws.send("ready")
            event = await ws.wait_closed()
    assert (event.code, event.reason, event.wasClean) == (1005, "", True)


@pytest.mark.anyio
async def test_connection_failure_fires_error_then_close(scripted_server: Any) -> None:
    def script(conn: RawConnection) -> None:
        conn.respond(403, "Forbidden", body=b"no")

    server = scripted_server(script)
    ws = WebSocket(server.url())
    recorder = Recorder(ws)
    with anyio.fail_after(TIMEOUT), pytest.raises(ConnectionFailed) as info:
        async with ws:
            pytest.fail("the body must not run")
    assert isinstance(info.value, wsapi.InvalidStatus)
    assert "403" in str(info.value)
    assert recorder.log == ["error", "close:1006:False"]
    assert recorder.states == [WebSocket.CLOSED, WebSocket.CLOSED]
    error = recorder.of_type("error")[0]
    assert isinstance(error, ErrorEvent)
    assert error.error is info.value
    assert error.message == str(info.value)
    assert ws.readyState == WebSocket.CLOSED


# -- delivery: listeners or recv() -------------------------------------------------------


@pytest.mark.anyio
async def test_messages_go_to_listeners_while_one_is_registered() -> None:
    received: list[object] = []
    async with serve(echo) as server:
        with anyio.fail_after(TIMEOUT):
            async with WebSocket(server.url) as ws:
                both = anyio.Event()

                def listener(event: MessageEvent) -> None:
                    received.append(event.data)
                    if len(received) == 2:
                        both.set()

                ws.addEventListener("message", listener)
                ws.send("a")
                ws.send("b")
                await both.wait()
                with anyio.move_on_after(0.2) as scope:
                    await ws.recv()  # nothing for recv(): the listener took them
                assert scope.cancelled_caught
                ws.removeEventListener("message", listener)
                ws.send("c")
                assert await ws.recv() == "c"
    assert received == ["a", "b"]


@pytest.mark.anyio
async def test_recv_and_async_for_without_listeners() -> None:
    async with serve(send_then_close("a", b"b", "c", "d")) as server:
        with anyio.fail_after(TIMEOUT):
            async with WebSocket(server.url) as ws:
                assert await ws.recv() == "a"
                assert await ws.recv() == b"b"
                rest = [message async for message in ws]
    assert rest == ["c", "d"]


@pytest.mark.anyio
async def test_listener_added_later_takes_over() -> None:
    received: list[object] = []
    async with serve(echo) as server:
        with anyio.fail_after(TIMEOUT):
            async with WebSocket(server.url) as ws:
                ws.send("first")
                assert await ws.recv() == "first"
                got = anyio.Event()

                def listener(event: MessageEvent) -> None:
                    received.append(event.data)
                    got.set()

                ws.onmessage = listener
                ws.send("second")
                await got.wait()
    assert received == ["second"]


# -- recv(), async for, wait_closed() ---------------------------------------------------


@pytest.mark.anyio
async def test_recv_drains_then_raises_connection_closed() -> None:
    async with serve(send_then_close("1", "2", code=4001, reason="bye")) as server:
        with anyio.fail_after(TIMEOUT):
            async with WebSocket(server.url) as ws:
                event = await ws.wait_closed()
                assert ws.readyState == WebSocket.CLOSED
                assert await ws.recv() == "1"
                assert await ws.recv() == "2"
                for _ in range(2):  # and again: it stays closed
                    with pytest.raises(ConnectionClosed) as info:
                        await ws.recv()
                    assert isinstance(info.value, WebSocketError)
                    assert (info.value.code, info.value.reason) == (4001, "bye")
                    assert info.value.wasClean is True
    assert (event.code, event.reason) == (4001, "bye")


@pytest.mark.anyio
async def test_recv_waiting_is_woken_by_the_close() -> None:
    async def handler(conn: ServerConnection) -> None:
        await anyio.sleep(0.1)
        await conn.close(4002)

    async with serve(handler) as server:
        with anyio.fail_after(TIMEOUT):
            async with WebSocket(server.url) as ws:
                with pytest.raises(ConnectionClosed) as info:
                    await ws.recv()
    assert info.value.code == 4002


@pytest.mark.anyio
async def test_async_for_ends_quietly_on_clean_close() -> None:
    async with serve(send_then_close("x", "y", code=1000)) as server:
        with anyio.fail_after(TIMEOUT):
            async with WebSocket(server.url) as ws:
                messages = [message async for message in ws]
                assert ws.readyState == WebSocket.CLOSED
    assert messages == ["x", "y"]


@pytest.mark.anyio
async def test_async_for_raises_after_a_failure(scripted_server: Any) -> None:
    server = scripted_server(dropping_script("a", "b"))
    messages: list[str | bytes] = []
    with anyio.fail_after(TIMEOUT):
        async with WebSocket(server.url()) as ws:
            with pytest.raises(ConnectionClosed) as info:
                async for message in ws:
                    messages.append(message)
    assert messages == ["a", "b"]
    assert (info.value.code, info.value.wasClean) == (1006, False)
    assert isinstance(info.value.__cause__, WebSocketError)


@pytest.mark.anyio
async def test_wait_closed_returns_the_close_event() -> None:
    events: list[CloseEvent] = []
    async with serve(echo) as server:
        ws = WebSocket(server.url)
        ws.addEventListener("close", events.append)
        with anyio.fail_after(TIMEOUT):
            async with ws:
                ws.close(3000, "done")
                event = await ws.wait_closed()
            assert await ws.wait_closed() is event  # after the block too
    assert events == [event]
    assert isinstance(event, CloseEvent)
    assert (event.type, event.code, event.reason, event.wasClean) == ("close", 3000, "done", True)
    assert event.target is ws


@pytest.mark.anyio
async def test_recv_and_wait_closed_before_entering_raise_invalid_state() -> None:
    ws = WebSocket("ws://127.0.0.1:9/")
    with pytest.raises(DOMException) as info:
        await ws.recv()
    assert info.value.name == "InvalidStateError"
    with pytest.raises(DOMException) as info:
        await ws.wait_closed()
    assert info.value.name == "InvalidStateError"
    with pytest.raises(DOMException) as info:
        await ws.__anext__()
    assert info.value.name == "InvalidStateError"


@pytest.mark.anyio
async def test_websocket_cannot_be_entered_twice() -> None:
    async with serve(echo) as server:
        ws = WebSocket(server.url)
        with anyio.fail_after(TIMEOUT):
            async with ws:
                with pytest.raises(RuntimeError):
                    async with ws:
                        pytest.fail("must not enter again")
                assert ws.readyState == WebSocket.OPEN
                ws.send("still open")
                assert await ws.recv() == "still open"
            with pytest.raises(RuntimeError):
                async with ws:
                    pytest.fail("must not enter again")


@pytest.mark.anyio
async def test_websocket_cannot_be_reentered_after_failure(scripted_server: Any) -> None:
    server = scripted_server(lambda conn: conn.respond(500, "Oops"))
    ws = WebSocket(server.url())
    with anyio.fail_after(TIMEOUT):
        with pytest.raises(wsapi.InvalidStatus):
            async with ws:
                pass
        with pytest.raises(RuntimeError):
            async with ws:
                pass


# -- leaving the block -------------------------------------------------------------------


@pytest.mark.anyio
async def test_leaving_the_block_closes_with_1000_and_waits() -> None:
    seen = CloseSeen()
    async with serve(seen) as server:
        ws = WebSocket(server.url)
        recorder = Recorder(ws)
        with anyio.fail_after(TIMEOUT):
            async with ws:
                ws.send("hello")
            # The closing handshake is complete when the block is left.
            assert ws.readyState == WebSocket.CLOSED
            assert recorder.log == ["open", "close:1000:True"]
            await seen.done.wait()
    assert (seen.code, seen.reason) == (1000, "")
    assert seen.messages == ["hello"]


@pytest.mark.anyio
async def test_exception_in_body_propagates_unchanged_after_the_close() -> None:
    seen = CloseSeen()

    class Boom(Exception):
        pass

    async with serve(seen) as server:
        ws = WebSocket(server.url)
        recorder = Recorder(ws)
        boom = Boom("boom")
        with anyio.fail_after(TIMEOUT):
            with pytest.raises(Boom) as info:
                async with ws:
                    raise boom
            assert info.value is boom
            assert info.type is Boom  # not an ExceptionGroup
            assert ws.readyState == WebSocket.CLOSED
            assert recorder.log == ["open", "close:1000:True"]
            await seen.done.wait()
    assert seen.code == 1000


@pytest.mark.anyio
async def test_connection_failed_is_not_wrapped(scripted_server: Any) -> None:
    server = scripted_server(lambda conn: conn.respond(404, "Not Found"))
    with anyio.fail_after(TIMEOUT):
        with pytest.raises(ConnectionFailed) as info:
            async with WebSocket(server.url()):
                pass
    assert info.type is wsapi.InvalidStatus
    assert f"WebSocket connection to '{server.url()}' failed" in str(info.value)
