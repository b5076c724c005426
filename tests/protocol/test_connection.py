"""ClientProtocol once open: messages, control frames, failures and the closing handshake.

Bytes only. Well-formed traffic comes from wsproto's server (``ServerPeer``);
what wsproto will not produce (masked server frames, reserved bits, bad
lengths, invalid UTF-8, compressed bombs) is built by hand (``helpers.frame``).
"""

from __future__ import annotations

import itertools
import struct
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage
from wsproto.extensions import PerMessageDeflate

from wsapi.errors import (
    ConnectionLost,
    InvalidUTF8,
    KeepaliveTimeout,
    MessageTooBig,
    ProtocolError,
    WebSocketError,
)
from wsapi.protocol.connection import MAX_PENDING_PONGS, ClientProtocol, State
from wsapi.protocol.events import (
    Closed,
    CloseReceived,
    Failed,
    MessageReceived,
    Opened,
    PingReceived,
    PongReceived,
    ProtocolEvent,
)

from .helpers import (
    BINARY,
    CLOSE,
    CONT,
    PING,
    PONG,
    TEXT,
    Deflater,
    ServerPeer,
    binary_frame,
    close_frame,
    close_payload,
    drain_events,
    feed,
    frame,
    make_client,
    open_client,
    parse_frames,
    sent_close,
    sent_frames,
    text_frame,
)

DEFLATE = "permessage-deflate"
MiB = 2**20


def peer(**kwargs: Any) -> ServerPeer:
    """A ServerPeer whose handshake succeeded."""
    server = ServerPeer(**kwargs)
    assert len(server.opened) == 1 and isinstance(server.opened[0], Opened), server.opened
    return server


def deflate_peer(**deflate: Any) -> ServerPeer:
    return peer(extensions=[PerMessageDeflate(**deflate)])


def assert_no_more_output(client: ClientProtocol) -> None:
    """Nothing can be sent any more, and nothing was queued."""
    assert client.send_text("x") is False
    assert client.send_binary(b"x") is False
    assert client.send_ping(b"x") is False
    assert client.send_pong(b"x") is False
    assert client.send_close(1000) is False
    assert client.data_to_send() == b""
    assert not client.has_data_to_send


def test_state_values_are_the_ready_state_constants() -> None:
    assert [State.CONNECTING, State.OPEN, State.CLOSING, State.CLOSED] == [0, 1, 2, 3]


# -- messages ----------------------------------------------------------------------------

SIZES = [0, 1, 125, 126, 65535, 65536, MiB]


class TestMessages:
    @pytest.mark.parametrize("size", SIZES)
    @pytest.mark.parametrize("chunk", [None, 4096])
    def test_text(self, size: int, chunk: int | None) -> None:
        server = peer()
        data = ("abcdefghi" * (size // 9 + 1))[:size]
        assert server.send(TextMessage(data=data), chunk=chunk) == [MessageReceived(data)]

    @pytest.mark.parametrize("size", SIZES)
    @pytest.mark.parametrize("chunk", [None, 4096])
    def test_binary(self, size: int, chunk: int | None) -> None:
        server = peer()
        data = bytes(range(256)) * (size // 256) + bytes(size % 256)
        [event] = server.send(BytesMessage(data=data), chunk=chunk)
        assert event == MessageReceived(data)
        assert type(event.data) is bytes

    @pytest.mark.parametrize(("size", "extended"), [(125, 0), (126, 2), (65535, 2), (65536, 8)])
    def test_length_encodings(self, size: int, extended: int) -> None:
        client = open_client()
        data = b"\x07" * size
        raw = binary_frame(data)
        assert len(raw) == 2 + extended + size
        assert feed(client, raw) == [MessageReceived(data)]

    def test_text_with_multibyte_characters(self) -> None:
        server = peer()
        data = "héllo wörld € 𝄞 ✓ 日本語" * 100
        assert server.send(TextMessage(data=data), chunk=7) == [MessageReceived(data)]

    def test_fragmented_text(self) -> None:
        server = peer()
        events = server.send(
            TextMessage(data="ab", message_finished=False),
            TextMessage(data="cd", message_finished=False),
            TextMessage(data="ef"),
        )
        assert events == [MessageReceived("abcdef")]

    def test_fragmented_binary(self) -> None:
        server = peer()
        events = server.send(
            BytesMessage(data=b"\x00\x01", message_finished=False),
            BytesMessage(data=b"\x02"),
        )
        assert events == [MessageReceived(b"\x00\x01\x02")]

    @pytest.mark.parametrize(
        ("frames", "expected"),
        [
            pytest.param([(TEXT, b""), (CONT, b"abc")], "abc", id="text-empty-first"),
            pytest.param([(BINARY, b""), (CONT, b"abc")], b"abc", id="binary-empty-first"),
            pytest.param([(TEXT, b""), (CONT, b""), (CONT, b"")], "", id="text-all-empty"),
            pytest.param([(BINARY, b""), (CONT, b"")], b"", id="binary-all-empty"),
            pytest.param([(TEXT, b"a"), (CONT, b""), (CONT, b"b")], "ab", id="empty-middle"),
            pytest.param([(TEXT, b"ab"), (CONT, b"")], "ab", id="empty-last"),
            pytest.param(
                [(TEXT, b"\xe2"), (CONT, b"\x82"), (CONT, b"\xac!")], "€!", id="utf8-split"
            ),
        ],
    )
    def test_fragments_edge_cases(self, frames: list[tuple[int, bytes]], expected: Any) -> None:
        client = open_client()
        last = len(frames) - 1
        data = b"".join(
            frame(opcode, payload, fin=index == last)
            for index, (opcode, payload) in enumerate(frames)
        )
        [event] = feed(client, data)
        assert event == MessageReceived(expected)
        assert type(event.data) is type(expected)

    def test_control_frames_between_fragments(self) -> None:
        client = open_client()
        data = (
            frame(TEXT, b"Hel", fin=False)
            + frame(PING, b"p1")
            + frame(CONT, b"lo, ", fin=False)
            + frame(PONG, b"q1")
            + frame(PING, b"")
            + frame(CONT, b"world")
        )
        assert feed(client, data) == [
            PingReceived(b"p1"),
            PongReceived(b"q1"),
            PingReceived(b""),
            MessageReceived("Hello, world"),
        ]
        assert sent_frames(client) == [
            (PONG, b"p1", True, False, False, False, True),
            (PONG, b"", True, False, False, False, True),
        ]

    def test_many_messages_in_one_read(self) -> None:
        client = open_client()
        expected: list[ProtocolEvent] = []
        data = b""
        for index in range(200):
            if index % 3:
                data += text_frame(f"message {index}")
                expected.append(MessageReceived(f"message {index}"))
            else:
                data += binary_frame(index.to_bytes(2, "big") * index)
                expected.append(MessageReceived(index.to_bytes(2, "big") * index))
        assert feed(client, data) == expected

    def test_split_byte_by_byte(self) -> None:
        client = open_client()
        data = (
            text_frame("zürich €")
            + binary_frame(b"\xff" * 300)
            + frame(TEXT, "日本".encode(), fin=False)
            + frame(PING, b"!")
            + frame(CONT, "語".encode())
            + frame(PONG, b"?")
        )
        events = feed(client, data, chunk=1)
        assert events == [
            MessageReceived("zürich €"),
            MessageReceived(b"\xff" * 300),
            PingReceived(b"!"),
            MessageReceived("日本語"),
            PongReceived(b"?"),
        ]

    def test_messages_are_immutable_bytes_and_str(self) -> None:
        client = open_client()
        events = feed(client, binary_frame(b"x" * 200, fin=False) + frame(CONT, b"y"))
        [event] = events
        assert isinstance(event, MessageReceived)
        assert type(event.data) is bytes

    def test_no_size_limit(self) -> None:
        client = open_client(max_message_size=None)
        data = b"z" * (2 * MiB)
        assert feed(client, binary_frame(data), chunk=65536) == [MessageReceived(data)]


class TestControlFrames:
    @pytest.mark.parametrize("payload", [b"", b"abc", bytes(range(125))])
    def test_auto_pong_echoes_the_payload(self, payload: bytes) -> None:
        client = open_client()
        assert feed(client, frame(PING, payload)) == [PingReceived(payload)]
        [pong] = sent_frames(client)
        assert pong.opcode == PONG
        assert pong.payload == payload
        assert pong.fin and pong.masked

    def test_pong_decoded_by_the_server(self) -> None:
        server = peer()
        assert server.send(Ping(payload=b"hello")) == [PingReceived(b"hello")]
        assert server.receive() == [Pong(payload=b"hello")]

    def test_one_pong_per_ping(self) -> None:
        client = open_client()
        events = feed(client, frame(PING, b"1") + frame(PING, b"2") + frame(PING, b"3"))
        assert events == [PingReceived(b"1"), PingReceived(b"2"), PingReceived(b"3")]
        assert [sent.payload for sent in sent_frames(client)] == [b"1", b"2", b"3"]

    def test_unsolicited_pong(self) -> None:
        client = open_client()
        assert feed(client, frame(PONG, b"unsolicited")) == [PongReceived(b"unsolicited")]
        assert client.data_to_send() == b""
        assert client.state is State.OPEN

    def test_pong_to_our_ping(self) -> None:
        server = peer()
        assert server.client.send_ping(b"token") is True
        assert server.receive() == [Ping(payload=b"token")]
        assert server.send(Pong(payload=b"token")) == [PongReceived(b"token")]


class TestSending:
    def test_send_text_and_binary(self) -> None:
        server = peer()
        client = server.client
        assert client.send_text("héllo") is True
        assert client.send_binary(b"\x00\xff") is True
        assert client.send_text("") is True
        assert client.send_binary(b"") is True
        assert client.has_data_to_send
        assert server.receive() == [
            TextMessage(data="héllo"),
            BytesMessage(data=b"\x00\xff"),
            TextMessage(data=""),
            BytesMessage(data=b""),
        ]

    def test_frames_are_masked(self) -> None:
        client = open_client()
        client.send_text("abc")
        client.send_binary(b"def")
        client.send_ping(b"p")
        client.send_pong(b"q")
        frames = sent_frames(client)
        assert [(sent.opcode, sent.payload) for sent in frames] == [
            (TEXT, b"abc"),
            (BINARY, b"def"),
            (PING, b"p"),
            (PONG, b"q"),
        ]
        assert all(sent.masked and sent.fin and not sent.rsv1 for sent in frames)

    def test_big_message(self) -> None:
        server = peer()
        data = bytes(range(256)) * 4096
        server.client.send_binary(data)
        assert server.receive() == [BytesMessage(data=data)]

    def test_compressed_send(self) -> None:
        server = deflate_peer()
        client = server.client
        data = "compress me " * 1000
        client.send_text(data)
        client.send_text(data)
        raw = client.data_to_send()
        frames = parse_frames(raw)
        assert all(sent.rsv1 for sent in frames)
        assert sum(len(sent.payload) for sent in frames) < len(data) // 10
        server.server.receive_data(raw)
        assert list(server.server.events()) == [TextMessage(data=data), TextMessage(data=data)]


# -- compression ---------------------------------------------------------------------------


class TestCompression:
    def test_negotiated(self) -> None:
        server = deflate_peer()
        [opened] = server.opened
        assert isinstance(opened, Opened)
        assert opened.extensions.startswith("permessage-deflate")
        assert server.client.extensions == opened.extensions

    def test_context_takeover(self) -> None:
        server = deflate_peer()
        data = "the same words again and again " * 50
        raw = server.serialise(*(TextMessage(data=data) for _ in range(3)))
        frames = parse_frames(raw)
        assert all(sent.rsv1 for sent in frames)
        # The second message refers back to the first one's window.
        assert len(frames[1].payload) < len(frames[0].payload)
        assert feed(server.client, raw) == [MessageReceived(data)] * 3

    def test_server_no_context_takeover(self) -> None:
        server = deflate_peer(server_no_context_takeover=True)
        [opened] = server.opened
        assert isinstance(opened, Opened)
        assert "server_no_context_takeover" in opened.extensions
        data = b"xyz" * 1000
        events = server.send(*(BytesMessage(data=data) for _ in range(3)), chunk=100)
        assert events == [MessageReceived(data)] * 3

    def test_server_no_context_takeover_resets_the_decompressor(self) -> None:
        # The server promised not to refer to previous messages; one that does
        # cannot be decompressed by a client that honours the promise.
        client = open_client(extensions=f"{DEFLATE}; server_no_context_takeover")
        deflater = Deflater()
        data = b"0123456789abcdef" * 64
        assert feed(client, deflater.message(BINARY, data)) == [MessageReceived(data)]
        [failed] = feed(client, deflater.message(BINARY, data))
        assert isinstance(failed, Failed)
        assert isinstance(failed.error, ProtocolError)
        assert failed.error.code == 1007
        assert sent_close(client)[0] == 1007

    @pytest.mark.parametrize("wbits", [9, 10, 15])
    def test_server_max_window_bits(self, wbits: int) -> None:
        client = open_client(extensions=f"{DEFLATE}; server_max_window_bits={wbits}")
        deflater = Deflater(wbits=wbits)
        data = bytes(range(256)) * 64
        assert feed(client, deflater.message(BINARY, data)) == [MessageReceived(data)]
        assert feed(client, deflater.message(BINARY, data)) == [MessageReceived(data)]

    def test_window_bits_8_is_read_with_9(self) -> None:
        client = open_client(extensions=f"{DEFLATE}; server_max_window_bits=8")
        deflater = Deflater(wbits=9)
        data = b"abc" * 1000
        assert feed(client, deflater.message(TEXT, data)) == [MessageReceived(data.decode())]

    def test_empty_compressed_message(self) -> None:
        client = open_client(extensions=DEFLATE)
        deflater = Deflater()
        assert feed(client, deflater.message(TEXT, b"")) == [MessageReceived("")]
        assert feed(client, frame(BINARY, b"\x00", rsv1=True)) == [MessageReceived(b"")]

    def test_uncompressed_message_on_a_compressed_connection(self) -> None:
        client = open_client(extensions=DEFLATE)
        deflater = Deflater()
        events = feed(
            client,
            deflater.message(TEXT, b"one") + text_frame("two") + deflater.message(TEXT, b"three"),
        )
        assert events == [MessageReceived("one"), MessageReceived("two"), MessageReceived("three")]

    def test_fragmented_compressed_message(self) -> None:
        client = open_client(extensions=DEFLATE)
        data = "fragmented and compressed " * 200
        payload = Deflater().compress(data.encode())
        third = len(payload) // 3
        raw = (
            frame(TEXT, payload[:third], fin=False, rsv1=True)
            + frame(CONT, payload[third : 2 * third], fin=False)
            + frame(CONT, payload[2 * third :])
        )
        assert feed(client, raw, chunk=5) == [MessageReceived(data)]

    def test_ping_between_fragments_of_a_compressed_message(self) -> None:
        # wsproto's own PerMessageDeflate resets the message state on the ping.
        client = open_client(extensions=DEFLATE)
        deflater = Deflater()
        data = b"ping in the middle " * 100
        payload = deflater.compress(data)
        half = len(payload) // 2
        raw = (
            frame(BINARY, payload[:half], fin=False, rsv1=True)
            + frame(PING, b"mid")
            + frame(PONG, b"pong")
            + frame(CONT, payload[half:])
        )
        events = feed(client, raw)
        assert events == [PingReceived(b"mid"), PongReceived(b"pong"), MessageReceived(data)]
        [pong] = sent_frames(client)
        assert (pong.opcode, pong.payload, pong.rsv1) == (PONG, b"mid", False)
        # The next message still uses the shared context.
        assert feed(client, deflater.message(BINARY, data)) == [MessageReceived(data)]

    @pytest.mark.parametrize(
        "before",
        [
            pytest.param([frame(PING, b"keepalive")], id="ping-first"),
            pytest.param([frame(PONG, b"")], id="pong-first"),
            pytest.param([b"compressed", frame(PING, b"")], id="ping-between-messages"),
        ],
    )
    def test_control_frame_before_a_compressed_message(self, before: list[bytes]) -> None:
        client = open_client(extensions=DEFLATE)
        deflater = Deflater()
        raw = b"".join(
            deflater.message(TEXT, b"first") if part == b"compressed" else part for part in before
        )
        events = feed(client, raw + deflater.message(TEXT, b"hello"))
        assert events[-1] == MessageReceived("hello")

    def test_uncompressed_message_after_a_ping(self) -> None:
        client = open_client(extensions=DEFLATE)
        events = feed(client, frame(PING, b"") + text_frame("plain") + text_frame("again"))
        assert events == [PingReceived(b""), MessageReceived("plain"), MessageReceived("again")]

    @pytest.mark.parametrize(
        "payload", [b"\xff\xff\xff\xff", b"\x07" + b"\x00" * 10], ids=["bad-block", "bad-type"]
    )
    def test_corrupt_compressed_data(self, payload: bytes) -> None:
        client = open_client(extensions=DEFLATE)
        [failed] = feed(client, frame(BINARY, payload, rsv1=True))
        assert isinstance(failed, Failed)
        assert isinstance(failed.error, ProtocolError)
        assert failed.error.code == 1007
        assert sent_close(client)[0] == 1007


# -- failures ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bad:
    """Server bytes that must fail the connection."""

    data: bytes
    error: type[ProtocolError]
    code: int
    extensions: str | None = None
    max_message_size: int | None = 16 * MiB
    #: What the client reports before the bad frame.
    before: tuple[ProtocolEvent, ...] = ()


def _failures() -> Iterator[Any]:
    def case(id_: str, *args: Any, **kwargs: Any) -> Any:
        return pytest.param(Bad(*args, **kwargs), id=id_)

    yield case("rsv1-no-deflate", frame(TEXT, b"hi", rsv1=True), ProtocolError, 1002)
    yield case("rsv2", frame(TEXT, b"hi", rsv2=True), ProtocolError, 1002)
    yield case("rsv3", frame(BINARY, b"hi", rsv3=True), ProtocolError, 1002)
    yield case("rsv2-deflate", frame(TEXT, b"hi", rsv2=True), ProtocolError, 1002, DEFLATE)
    yield case("rsv1-ping-deflate", frame(PING, b"", rsv1=True), ProtocolError, 1002, DEFLATE)
    yield case(
        "rsv1-continuation-deflate",
        frame(TEXT, b"a", fin=False) + frame(CONT, b"b", rsv1=True),
        ProtocolError,
        1002,
        DEFLATE,
    )
    yield case("rsv1-ping", frame(PING, b"", rsv1=True), ProtocolError, 1002)
    for opcode in (3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF):
        yield case(f"opcode-{opcode:#x}", frame(opcode, b"x"), ProtocolError, 1002)
    yield case("masked-text", frame(TEXT, b"hi", mask=b"abcd"), ProtocolError, 1002)
    yield case("masked-ping", frame(PING, b"", mask=b"\0\0\0\0"), ProtocolError, 1002)
    yield case("masked-close", frame(CLOSE, b"\x03\xe8", mask=b"wxyz"), ProtocolError, 1002)
    yield case("ping-126", frame(PING, b"p" * 126), ProtocolError, 1002)
    yield case("pong-126", frame(PONG, b"p" * 126), ProtocolError, 1002)
    yield case("close-126", frame(CLOSE, b"\x03\xe8" + b"r" * 124), ProtocolError, 1002)
    yield case("ping-fragmented", frame(PING, b"a", fin=False), ProtocolError, 1002)
    yield case(
        "ping-fragmented-mid-message",
        frame(TEXT, b"a", fin=False) + frame(PING, b"a", fin=False),
        ProtocolError,
        1002,
    )
    yield case("close-fragmented", frame(CLOSE, b"", fin=False), ProtocolError, 1002)
    yield case("continuation-first", frame(CONT, b"x"), ProtocolError, 1002)
    yield case(
        "continuation-after-message",
        text_frame("done") + frame(CONT, b"x"),
        ProtocolError,
        1002,
        before=(MessageReceived("done"),),
    )
    yield case(
        "text-inside-text",
        frame(TEXT, b"a", fin=False) + frame(TEXT, b"b"),
        ProtocolError,
        1002,
    )
    yield case(
        "binary-inside-text",
        frame(TEXT, b"a", fin=False) + frame(BINARY, b"b"),
        ProtocolError,
        1002,
    )
    yield case(
        "text-inside-binary",
        frame(BINARY, b"a", fin=False) + frame(CONT, b"b", fin=False) + frame(TEXT, b"c"),
        ProtocolError,
        1002,
    )
    yield case("length-2-for-5", frame(TEXT, b"12345", length_size=2), ProtocolError, 1002)
    yield case("length-8-for-5", frame(TEXT, b"12345", length_size=8), ProtocolError, 1002)
    yield case(
        "length-8-for-65535",
        frame(BINARY, b"b" * 65535, length_size=8),
        ProtocolError,
        1002,
    )
    yield case("length-2**63", frame(BINARY, b"", length=2**63), ProtocolError, 1002)
    yield case("length-2**64-1", frame(BINARY, b"", length=2**64 - 1), ProtocolError, 1002)
    for name, raw in [
        ("ff", b"\xff"),
        ("fe", b"ok\xfe"),
        ("lone-continuation", b"\x80"),
        ("overlong-nul", b"\xc0\x80"),
        ("overlong-slash", b"\xe0\x80\xaf"),
        ("surrogate", b"\xed\xa0\x80"),
        ("over-max", b"\xf4\x90\x80\x80"),
        ("truncated-at-end", b"ok\xe2\x82"),
    ]:
        yield case(f"utf8-{name}", frame(TEXT, raw), InvalidUTF8, 1007)
    yield case(
        "utf8-invalid-across-fragments",
        frame(TEXT, b"\xe2\x82", fin=False) + frame(CONT, b"("),
        InvalidUTF8,
        1007,
    )
    yield case(
        "utf8-truncated-across-fragments",
        frame(TEXT, b"ok", fin=False) + frame(CONT, b"\xe2", fin=False) + frame(CONT, b"\x82"),
        InvalidUTF8,
        1007,
    )
    yield case(
        "utf8-invalid-in-a-later-fragment",
        frame(TEXT, b"fine", fin=False)
        + frame(CONT, b"still fine", fin=False)
        + frame(CONT, b"\xff"),
        InvalidUTF8,
        1007,
    )
    yield case("utf8-close-reason", close_frame(1000, b"bad \xff reason"), InvalidUTF8, 1007)
    yield case("utf8-close-reason-truncated", close_frame(1000, b"\xe2\x82"), InvalidUTF8, 1007)
    yield case(
        "utf8-compressed",
        Deflater().message(TEXT, b"\xff\xfe"),
        InvalidUTF8,
        1007,
        DEFLATE,
    )
    yield case("close-1-byte", frame(CLOSE, b"\x03"), ProtocolError, 1002)
    for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535):
        yield case(f"close-code-{code}", close_frame(code), ProtocolError, 1002)
    yield case("too-big", binary_frame(b"x" * 1001), MessageTooBig, 1009, None, 1000)
    yield case("too-big-text", text_frame("x" * 1001), MessageTooBig, 1009, None, 1000)
    yield case(
        "too-big-fragments",
        frame(BINARY, b"x" * 600, fin=False) + frame(CONT, b"x" * 401),
        MessageTooBig,
        1009,
        None,
        1000,
    )
    yield case(
        "too-big-many-small-fragments",
        frame(TEXT, b"", fin=False) + frame(CONT, b"x" * 100, fin=False) * 11,
        MessageTooBig,
        1009,
        None,
        1000,
    )
    yield case(
        "too-big-compressed",
        Deflater().message(BINARY, b"x" * 1001),
        MessageTooBig,
        1009,
        DEFLATE,
        1000,
    )
    yield case(
        "too-big-compressed-fragments",
        frame(BINARY, Deflater().compress(b"x" * 1001), fin=False, rsv1=True) + frame(CONT, b""),
        MessageTooBig,
        1009,
        DEFLATE,
        1000,
    )
    yield case(
        "too-big-header-2**63-1",
        frame(BINARY, b"", length=2**63 - 1),
        MessageTooBig,
        1009,
        None,
        MiB,
    )


FAILURES = list(_failures())


class TestFailures:
    @pytest.mark.parametrize("bad", FAILURES)
    @pytest.mark.parametrize("chunk", [None, 1], ids=["whole", "bytewise"])
    def test_failure(self, bad: Bad, chunk: int | None) -> None:
        client = open_client(extensions=bad.extensions, max_message_size=bad.max_message_size)
        # Anything after the bad frame, even in the same read, is ignored.
        events = feed(client, bad.data + text_frame("after") + frame(PING, b"after"), chunk)
        assert tuple(events[:-1]) == bad.before
        failed = events[-1]
        assert isinstance(failed, Failed)
        error = failed.error
        assert type(error) is bad.error
        assert error.code == bad.code
        assert client.error is error
        # The Close frame with the RFC 6455 code is queued.
        code, reason = sent_close(client)
        assert code == bad.code
        assert len(reason.encode()) <= 123
        assert client.state.name == "CLOSING"  # (a comparison mypy does not narrow on)
        assert client.failed
        assert not client.closing_handshake_done
        # Data after the failure is ignored; nothing more can be sent.
        client.receive_data(text_frame("ignored") + close_frame(1000) + frame(PING, b"x"))
        assert client.events_received() == []
        assert_no_more_output(client)
        # The application sees 1006.
        client.receive_eof()
        assert client.events_received() == [Closed(1006, "", False, error)]
        assert client.state is State.CLOSED
        client.abort()
        client.receive_eof()
        assert client.events_received() == []

    def test_abort_after_failure_keeps_the_protocol_error(self) -> None:
        client = open_client()
        [failed] = feed(client, frame(TEXT, b"x", rsv2=True))
        assert isinstance(failed, Failed)
        client.abort(ConnectionLost("reset by peer"))
        assert client.events_received() == [Closed(1006, "", False, failed.error)]

    def test_events_before_the_bad_frame_are_kept(self) -> None:
        client = open_client()
        events = feed(client, text_frame("good") + frame(PING, b"p") + frame(CONT, b"bad"))
        assert events[:2] == [MessageReceived("good"), PingReceived(b"p")]
        assert isinstance(events[2], Failed)
        frames = sent_frames(client)
        assert (frames[0].opcode, frames[0].payload) == (PONG, b"p")
        assert frames[1].opcode == CLOSE
        assert close_payload(frames[1].payload)[0] == 1002

    def test_failure_after_messages_waits_for_commit(self) -> None:
        # Messages before a bad frame come first; the failure waits so that the
        # application's replies to them are queued ahead of the Close frame.
        client = open_client()
        client.receive_data(text_frame("one") + binary_frame(b"two") + frame(TEXT, b"x", rsv2=True))
        assert client.events_received() == [MessageReceived("one"), MessageReceived(b"two")]
        assert client.failure_pending and not client.failed
        assert client.state is State.OPEN
        assert client.events_received() == []  # nothing more until the commit
        # Later bytes are not parsed meanwhile.
        client.receive_data(text_frame("ignored"))
        assert client.events_received() == []
        assert client.send_text("one") and client.send_binary(b"two")
        client.commit_failure()
        assert not client.failure_pending and client.failed
        [failed] = client.events_received()
        assert isinstance(failed, Failed) and failed.code == 1002
        frames = sent_frames(client)
        assert [(f.opcode, f.payload) for f in frames[:2]] == [(TEXT, b"one"), (BINARY, b"two")]
        assert frames[2].opcode == CLOSE and close_payload(frames[2].payload)[0] == 1002
        client.commit_failure()  # a second commit does nothing
        assert client.events_received() == []

    def test_eof_commits_a_pending_failure(self) -> None:
        client = open_client()
        client.receive_data(text_frame("one") + frame(5, b""))
        assert client.events_received() == [MessageReceived("one")]
        client.receive_eof()
        failed, closed = client.events_received()
        assert isinstance(failed, Failed) and isinstance(failed.error, ProtocolError)
        assert closed == Closed(1006, "", False, failed.error)

    def test_abort_commits_a_pending_failure(self) -> None:
        client = open_client()
        client.receive_data(text_frame("one") + frame(5, b""))
        client.events_received()
        client.abort(ConnectionLost("reset"))
        failed, closed = client.events_received()
        assert isinstance(failed, Failed) and isinstance(failed.error, ProtocolError)
        assert closed.error is failed.error

    def test_another_failure_replaces_a_pending_one(self) -> None:
        client = open_client()
        client.receive_data(text_frame("one") + frame(5, b""))
        client.events_received()
        timeout = KeepaliveTimeout("no pong")
        client.fail(timeout, 1011)
        assert not client.failure_pending
        assert client.events_received() == [Failed(timeout, 1011)]
        assert sent_close(client)[0] == 1011

    def test_closing_while_a_failure_is_pending(self) -> None:
        client = open_client()
        client.receive_data(text_frame("one") + frame(5, b""))
        client.events_received()
        assert client.send_close(1000)
        client.commit_failure()
        [failed] = client.events_received()
        # Our Close frame (1000) already went: no second one.
        assert isinstance(failed, Failed) and failed.code is None
        assert sent_close(client)[0] == 1000

    def test_error_messages(self) -> None:
        client = open_client(max_message_size=10)
        [failed] = feed(client, binary_frame(b"x" * 11))
        assert isinstance(failed, Failed)
        assert "max_message_size (10 bytes)" in str(failed.error)
        client = open_client()
        [failed] = feed(client, frame(5, b""))
        assert isinstance(failed, Failed)
        assert "broke the WebSocket protocol" in str(failed.error)
        assert "opcode" in str(failed.error).lower()

    def test_failure_while_closing_sends_no_second_close(self) -> None:
        client = open_client()
        assert client.send_close(1000, "bye")
        assert sent_close(client) == (1000, "bye")
        [failed] = feed(client, frame(TEXT, b"\xff"))
        assert isinstance(failed, Failed)
        assert isinstance(failed.error, InvalidUTF8)
        assert client.data_to_send() == b""
        assert client.state is State.CLOSING
        client.receive_eof()
        assert client.events_received() == [Closed(1006, "", False, failed.error)]

    def test_huge_length_header_refused_before_any_payload(self) -> None:
        client = open_client(max_message_size=MiB)
        header = frame(BINARY, b"", length=2**63 - 1)
        assert len(header) == 10
        [failed] = feed(client, header)
        assert isinstance(failed, Failed)
        assert isinstance(failed.error, MessageTooBig)
        assert sent_close(client)[0] == 1009

    def test_length_header_just_over_the_limit_refused_early(self) -> None:
        client = open_client(max_message_size=1000)
        [failed] = feed(client, frame(BINARY, b"", length=1001))
        assert isinstance(failed, Failed)
        assert isinstance(failed.error, MessageTooBig)

    def test_huge_length_header_without_limit_waits(self) -> None:
        client = open_client(max_message_size=None)
        assert feed(client, frame(BINARY, b"x" * 100, length=2**63 - 1)) == []
        assert client.state is State.OPEN

    @pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011])
    def test_valid_close_codes_rfc_6455(self, code: int) -> None:
        client = open_client()
        assert feed(client, close_frame(code)) == [CloseReceived(code, "")]
        assert sent_close(client)[0] == code

    @pytest.mark.parametrize("code", [1012, 1013, 3000, 3999, 4000, 4999])
    def test_valid_close_codes_registered_and_private(self, code: int) -> None:
        client = open_client()
        assert feed(client, close_frame(code, "r")) == [CloseReceived(code, "r")]

    def test_close_code_1014(self) -> None:
        client = open_client()
        assert feed(client, close_frame(1014)) == [CloseReceived(1014, "")]


class TestSizeLimits:
    @pytest.mark.parametrize("fragmented", [False, True])
    def test_uncompressed_exactly_at_the_limit(self, fragmented: bool) -> None:
        client = open_client(max_message_size=MiB)
        data = b"\x01" * MiB
        if fragmented:
            raw = frame(BINARY, data[:1000], fin=False) + frame(CONT, data[1000:])
        else:
            raw = binary_frame(data)
        assert feed(client, raw) == [MessageReceived(data)]
        # The count starts again for the next message.
        assert feed(client, raw) == [MessageReceived(data)]

    def test_text_exactly_at_the_limit(self) -> None:
        client = open_client(max_message_size=1000)
        data = "é" * 500
        assert feed(client, text_frame(data)) == [MessageReceived(data)]

    def test_control_frames_do_not_count(self) -> None:
        client = open_client(max_message_size=100)
        raw = (
            frame(BINARY, b"a" * 50, fin=False)
            + frame(PING, b"p" * 125)
            + frame(PONG, b"q" * 125)
            + frame(CONT, b"b" * 50)
        )
        events = feed(client, raw)
        assert events[-1] == MessageReceived(b"a" * 50 + b"b" * 50)

    @pytest.mark.parametrize("fragmented", [False, True])
    def test_compressed_exactly_at_the_limit(self, fragmented: bool) -> None:
        client = open_client(extensions=DEFLATE, max_message_size=MiB)
        deflater = Deflater()
        data = bytes(range(256)) * (MiB // 256)
        payload = deflater.compress(data)
        if fragmented:
            raw = frame(BINARY, payload[:10], fin=False, rsv1=True) + frame(CONT, payload[10:])
        else:
            raw = frame(BINARY, payload, rsv1=True)
        assert feed(client, raw) == [MessageReceived(data)]
        assert feed(client, deflater.message(BINARY, data)) == [MessageReceived(data)]

    def test_compressed_one_byte_over_the_limit(self) -> None:
        client = open_client(extensions=DEFLATE, max_message_size=MiB)
        [failed] = feed(client, Deflater().message(BINARY, b"\x00" * (MiB + 1)))
        assert isinstance(failed, Failed)
        assert isinstance(failed.error, MessageTooBig)
        assert sent_close(client)[0] == 1009

    def test_compressed_bomb_stays_bounded(self, monkeypatch: pytest.MonkeyPatch) -> None:
        produced: list[int] = []
        original = zlib.decompressobj

        class Recorder:
            """A decompressor that records how much each call produced."""

            def __init__(self, *args: Any, **kwargs: Any) -> None:
                self._inner = original(*args, **kwargs)

            def decompress(self, data: bytes, max_length: int = 0) -> bytes:
                out = self._inner.decompress(data, max_length)
                produced.append(len(out))
                return out

            def flush(self, *args: Any) -> bytes:
                out = self._inner.flush(*args)
                produced.append(len(out))
                return out

            @property
            def unconsumed_tail(self) -> bytes:
                return self._inner.unconsumed_tail

            @property
            def eof(self) -> bool:
                return self._inner.eof

        monkeypatch.setattr(zlib, "decompressobj", Recorder)
        bomb = compressed_bomb()
        assert len(bomb) < 20 * 1024
        client = open_client(extensions=DEFLATE, max_message_size=MiB)
        raw = frame(BINARY, bomb, rsv1=True)
        tracemalloc.start()
        try:
            events = feed(client, raw, chunk=1024)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        [failed] = events
        assert isinstance(failed, Failed)
        assert isinstance(failed.error, MessageTooBig)
        assert sent_close(client)[0] == 1009
        assert produced, "the recorder was not used"
        assert sum(produced) <= MiB + 1
        assert peak < 4 * MiB

    def test_compressed_bomb_in_one_read(self) -> None:
        client = open_client(extensions=DEFLATE, max_message_size=MiB)
        raw = frame(BINARY, compressed_bomb(), rsv1=True)
        tracemalloc.start()
        try:
            events = feed(client, raw)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        [failed] = events
        assert isinstance(failed, Failed)
        assert isinstance(failed.error, MessageTooBig)
        assert peak < 4 * MiB


@cache
def compressed_bomb() -> bytes:
    """10 MiB of zeros, compressed (about 10 KiB), as one message's payload."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    payload = compressor.compress(bytes(10 * MiB)) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return payload[:-4]


# -- closing ----------------------------------------------------------------------------------


class TestClosing:
    def test_client_initiated(self) -> None:
        server = peer()
        client = server.client
        assert client.send_close(1000, "bye") is True
        assert client.state is State.CLOSING
        assert client.close_sent
        assert not client.closing_handshake_done
        assert_no_more_output_after_close(client, server)
        [close] = server.receive()
        assert close == CloseConnection(code=1000, reason="bye")
        assert server.send(close.response()) == [CloseReceived(1000, "bye")]
        assert client.closing_handshake_done
        assert client.close_received == (1000, "bye")
        assert client.data_to_send() == b""
        assert client.state is State.CLOSING
        client.receive_eof()
        assert client.events_received() == [Closed(1000, "bye", True)]
        assert client.state is State.CLOSED
        assert client.error is None
        assert not client.failed

    def test_client_initiated_server_answers_another_code(self) -> None:
        client = open_client()
        client.send_close(4000, "custom")
        assert sent_close(client) == (4000, "custom")
        assert feed(client, close_frame(1001, "going away")) == [CloseReceived(1001, "going away")]
        client.receive_eof()
        assert client.events_received() == [Closed(1001, "going away", True)]

    def test_messages_and_pings_while_closing(self) -> None:
        client = open_client()
        client.send_close(1000)
        sent_close(client)
        events = feed(client, text_frame("late") + frame(PING, b"p") + close_frame(1000))
        assert events == [MessageReceived("late"), PingReceived(b"p"), CloseReceived(1000, "")]
        # No pong after our Close (RFC 6455 5.5.1), and no echo of the answer.
        assert client.data_to_send() == b""
        assert client.closing_handshake_done

    def test_server_initiated(self) -> None:
        server = peer()
        client = server.client
        events = server.send(CloseConnection(code=1001, reason="going away"))
        assert events == [CloseReceived(1001, "going away")]
        assert client.state is State.CLOSING
        assert client.closing_handshake_done
        [echo] = server.receive()
        assert isinstance(echo, CloseConnection)
        assert echo.code == 1001
        assert_no_more_output(client)
        client.receive_eof()
        assert client.events_received() == [Closed(1001, "going away", True)]

    def test_server_close_echo_is_queued_at_once(self) -> None:
        client = open_client()
        feed(client, close_frame(3001, "app"))
        code, _ = sent_close(client)
        assert code == 3001

    def test_server_close_without_code(self) -> None:
        client = open_client()
        assert feed(client, close_frame()) == [CloseReceived(1005, "")]
        [echo] = sent_frames(client)
        assert echo.opcode == CLOSE
        assert echo.payload == b""
        client.receive_eof()
        assert client.events_received() == [Closed(1005, "", True)]

    def test_send_close_without_code(self) -> None:
        server = peer()
        client = server.client
        assert client.send_close(None) is True
        [sent] = parse_frames(client.data_to_send())
        assert (sent.opcode, sent.payload, sent.masked) == (CLOSE, b"", True)
        assert feed(client, close_frame()) == [CloseReceived(1005, "")]
        client.receive_eof()
        assert client.events_received() == [Closed(1005, "", True)]

    def test_send_close_reason_is_cut_to_123_bytes(self) -> None:
        client = open_client()
        client.send_close(1000, "é" * 100)
        code, reason = sent_close(client)
        assert code == 1000
        assert reason == "é" * 61

    def test_sends_after_close_return_false(self) -> None:
        client = open_client()
        client.send_close(1000)
        client.data_to_send()
        assert_no_more_output(client)

    def test_sends_after_server_close_return_false(self) -> None:
        client = open_client()
        feed(client, close_frame(1000))
        client.data_to_send()
        assert_no_more_output(client)

    def test_data_after_the_closing_handshake_is_ignored(self) -> None:
        client = open_client()
        feed(client, close_frame(1000) + text_frame("after close"))
        client.data_to_send()
        client.receive_data(text_frame("later") + frame(PING, b""))
        assert client.events_received() == []
        assert client.data_to_send() == b""

    def test_eof_without_closing_handshake(self) -> None:
        client = open_client()
        client.receive_eof()
        [closed] = client.events_received()
        assert isinstance(closed, Closed)
        assert (closed.code, closed.reason, closed.was_clean) == (1006, "", False)
        assert isinstance(closed.error, ConnectionLost)
        assert client.state is State.CLOSED
        assert client.error is closed.error

    def test_eof_after_our_close_without_answer(self) -> None:
        client = open_client()
        client.send_close(1000)
        client.receive_eof()
        [closed] = client.events_received()
        assert isinstance(closed, Closed)
        assert (closed.code, closed.was_clean) == (1006, False)
        assert isinstance(closed.error, ConnectionLost)

    def test_abort_keeps_its_error(self) -> None:
        client = open_client()
        error = KeepaliveTimeout("no pong")
        client.abort(error)
        assert client.events_received() == [Closed(1006, "", False, error)]
        assert client.error is error

    def test_abort_after_server_close_before_eof_is_clean(self) -> None:
        client = open_client()
        feed(client, close_frame(1000, "done"))
        client.abort()
        assert client.events_received() == [Closed(1000, "done", True)]

    def test_abort_during_client_close_is_not_clean(self) -> None:
        client = open_client()
        client.send_close(1000)
        error = ConnectionLost("close_timeout")
        client.abort(error)
        assert client.events_received() == [Closed(1006, "", False, error)]

    def test_close_after_messages_waits_for_commit(self) -> None:
        # The answer to a message read together with the server's Close goes out
        # before the echo of that Close.
        client = open_client()
        client.receive_data(text_frame("question") + close_frame(1000, "bye"))
        assert client.events_received() == [MessageReceived("question")]
        assert client.close_pending and client.state is State.OPEN
        client.receive_data(text_frame("ignored"))  # nothing may follow a Close frame
        assert client.events_received() == []
        assert not client.send_ping(b"p")  # wsproto cannot send one now
        assert client.send_text("answer")
        client.commit_close()
        assert client.events_received() == [CloseReceived(1000, "bye")]
        frames = sent_frames(client)
        assert [(f.opcode, f.payload) for f in frames[:1]] == [(TEXT, b"answer")]
        assert frames[1].opcode == CLOSE and close_payload(frames[1].payload) == (1000, "bye")
        assert client.closing_handshake_done
        client.receive_eof()
        assert client.events_received() == [Closed(1000, "bye", True)]

    def test_eof_commits_a_pending_close(self) -> None:
        client = open_client()
        client.receive_data(text_frame("question") + close_frame(1000))
        client.events_received()
        client.receive_eof()
        assert client.events_received() == [CloseReceived(1000, ""), Closed(1000, "", True)]

    def test_a_lone_close_is_echoed_at_once(self) -> None:
        client = open_client()
        client.receive_data(close_frame(1001))
        assert client.events_received() == [CloseReceived(1001, "")]
        assert not client.close_pending
        assert sent_close(client) == (1001, "")

    def test_fail_by_the_application(self) -> None:
        client = open_client()
        error = KeepaliveTimeout("no pong within ping_timeout")
        client.fail(error, 1011, "keepalive ping timeout")
        assert client.events_received() == [Failed(error, 1011, "keepalive ping timeout")]
        assert sent_close(client) == (1011, "keepalive ping timeout")
        assert client.state is State.CLOSING
        assert client.failed
        client.fail(KeepaliveTimeout("again"))
        assert client.events_received() == []
        assert client.data_to_send() == b""
        client.receive_eof()
        assert client.events_received() == [Closed(1006, "", False, error)]

    def test_fail_while_closing_queues_no_close(self) -> None:
        client = open_client()
        client.send_close(1000)
        client.data_to_send()
        error = KeepaliveTimeout("close timeout")
        client.fail(error)
        assert client.events_received() == [Failed(error)]
        assert client.data_to_send() == b""

    @pytest.mark.parametrize(
        "calls",
        [
            ["eof", "eof"],
            ["eof", "abort"],
            ["abort", "eof"],
            ["abort", "abort"],
            ["fail", "eof", "abort", "fail"],
            ["close", "eof", "eof"],
            ["server-close", "abort", "eof"],
        ],
    )
    def test_closed_exactly_once(self, calls: list[str]) -> None:
        client = open_client()
        actions: dict[str, Callable[[], object]] = {
            "eof": client.receive_eof,
            "abort": lambda: client.abort(ConnectionLost("x")),
            "fail": lambda: client.fail(KeepaliveTimeout("y")),
            "close": lambda: client.send_close(1000),
            "server-close": lambda: client.receive_data(close_frame(1000)),
        }
        events: list[ProtocolEvent] = []
        for call in calls:
            actions[call]()
            events += client.events_received()
        closed = [event for event in events if isinstance(event, Closed)]
        assert len(closed) == 1
        assert events[-1] is closed[0]
        assert client.state is State.CLOSED
        client.data_to_send()
        assert_no_more_output(client)

    @pytest.mark.parametrize("end", ["abort", "eof"])
    def test_nothing_after_closed(self, end: str) -> None:
        client = open_client()
        if end == "abort":
            client.abort()
        else:
            client.receive_eof()
        assert isinstance(client.events_received()[-1], Closed)
        client.receive_data(text_frame("ghost") + frame(PING, b""))
        assert client.events_received() == []
        assert client.data_to_send() == b""


def assert_no_more_output_after_close(client: ClientProtocol, server: ServerPeer) -> None:
    """After send_close(), other sends are refused but the Close stays queued."""
    assert client.send_text("x") is False
    assert client.send_binary(b"x") is False
    assert client.send_ping() is False
    assert client.send_pong() is False
    assert client.send_close(1000) is False
    # Only the Close frame is queued.
    assert client.has_data_to_send


# -- properties ---------------------------------------------------------------------------

# A message: its data, where its payload is cut into fragments, and after which
# fragments the server slips in a ping.
message_strategy = st.tuples(
    st.one_of(st.text(max_size=300), st.binary(max_size=300)),
    st.lists(st.integers(min_value=0, max_value=300), max_size=4),
    st.lists(st.binary(max_size=8), max_size=4),
)


@st.composite
def chunked(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """``data`` cut at arbitrary points (empty pieces included)."""
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=12)))
    bounds = [0, *cuts, len(data)]
    return [data[start:end] for start, end in itertools.pairwise(bounds)]


def serialise(
    messages: list[tuple[str | bytes, list[int], list[bytes]]], deflater: Deflater | None
) -> tuple[bytes, list[ProtocolEvent], list[bytes]]:
    """The frames for ``messages``, the events they must give, and the pongs they must get."""
    raw = b""
    expected: list[ProtocolEvent] = []
    pongs: list[bytes] = []
    for data, cuts, pings in messages:
        payload = data.encode() if isinstance(data, str) else data
        if deflater is not None:
            payload = deflater.compress(payload)
        bounds = [0, *sorted(min(cut, len(payload)) for cut in cuts), len(payload)]
        pieces = [payload[start:end] for start, end in itertools.pairwise(bounds)]
        for index, piece in enumerate(pieces):
            first, last = index == 0, index == len(pieces) - 1
            opcode = (TEXT if isinstance(data, str) else BINARY) if first else CONT
            raw += frame(opcode, piece, fin=last, rsv1=first and deflater is not None)
            if not last and index < len(pings):
                raw += frame(PING, pings[index])
                expected.append(PingReceived(pings[index]))
                pongs.append(pings[index])
        expected.append(MessageReceived(data))
    return raw, expected, pongs


PROPERTY = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@st.composite
def any_frame(draw: st.DrawFn) -> bytes:
    """A frame that may break any rule: opcode, reserved bits, mask, length, payload."""
    opcode = draw(st.sampled_from([TEXT, BINARY, TEXT, BINARY, CONT, PING, PONG, CLOSE, 3, 0xB]))
    payload = draw(
        st.one_of(
            st.binary(max_size=140),
            st.text(max_size=40).map(str.encode),
            st.builds(
                lambda code, reason: struct.pack("!H", code) + reason,
                st.integers(0, 65535),
                st.binary(max_size=10),
            ),
            st.binary(max_size=60).map(lambda data: Deflater().compress(data)),
        )
    )

    def rarely(one_in: int) -> bool:
        return draw(st.integers(1, one_in)) == 1

    return frame(
        opcode,
        payload,
        fin=not rarely(4),
        rsv1=rarely(3),
        rsv2=rarely(20),
        rsv3=rarely(20),
        mask=draw(st.binary(min_size=4, max_size=4)) if rarely(10) else None,
    )


soup = st.lists(
    st.one_of(any_frame(), any_frame(), any_frame(), st.binary(max_size=12)), max_size=8
).map(b"".join)


class TestProperties:
    @PROPERTY
    @given(
        messages=st.lists(message_strategy, max_size=6),
        compressed=st.booleans(),
        data=st.data(),
    )
    def test_valid_messages_in_any_chunks(
        self,
        messages: list[tuple[str | bytes, list[int], list[bytes]]],
        compressed: bool,
        data: st.DataObject,
    ) -> None:
        client = open_client(extensions=DEFLATE if compressed else None)
        raw, expected, pongs = serialise(messages, Deflater() if compressed else None)
        events: list[ProtocolEvent] = []
        for piece in data.draw(chunked(raw)):
            if piece:
                client.receive_data(piece)
            events += client.events_received()
        assert events == expected
        frames = sent_frames(client)
        # Nothing was written meanwhile: past MAX_PENDING_PONGS unanswered pings,
        # only the latest are answered (RFC 6455 5.5.3).
        answered = pongs[-((len(pongs) - 1) % MAX_PENDING_PONGS + 1) :] if pongs else []
        assert [(sent.opcode, sent.payload) for sent in frames] == [(PONG, p) for p in answered]
        assert client.state is State.OPEN

    @PROPERTY
    @given(
        garbage=st.one_of(st.binary(max_size=400), soup),
        compressed=st.booleans(),
        max_size=st.sampled_from([None, 64, 16 * MiB]),
        data=st.data(),
    )
    def test_arbitrary_bytes_after_101(
        self,
        garbage: bytes,
        compressed: bool,
        max_size: int | None,
        data: st.DataObject,
    ) -> None:
        client = open_client(extensions=DEFLATE if compressed else None, max_message_size=max_size)
        events: list[ProtocolEvent] = []
        for piece in data.draw(chunked(garbage)):
            if piece:
                client.receive_data(piece)
            events += drain_events(client)
        allowed = (MessageReceived, PingReceived, PongReceived, CloseReceived, Failed)
        assert all(isinstance(event, allowed) for event in events), events
        failures = [event for event in events if isinstance(event, Failed)]
        if failures:
            assert len(failures) == 1 and events[-1] is failures[0]
            error = failures[0].error
            assert isinstance(error, ProtocolError)
            assert type(error) in (ProtocolError, InvalidUTF8, MessageTooBig)
            assert error.code in (1002, 1007, 1009)
            assert client.failed
        closes = [event for event in events if isinstance(event, CloseReceived)]
        assert len(closes) <= 1
        # Whatever happened, the end is exactly one Closed.
        client.receive_eof()
        [closed] = client.events_received()
        assert isinstance(closed, Closed)
        if failures:
            assert closed == Closed(1006, "", False, failures[0].error)
        elif closes:
            assert closed == Closed(closes[0].code, closes[0].reason, True)
        else:
            assert closed.code == 1006
            assert isinstance(closed.error, WebSocketError)

    @PROPERTY
    @given(answer=st.binary(max_size=300), data=st.data())
    def test_arbitrary_bytes_as_the_answer(self, answer: bytes, data: st.DataObject) -> None:
        client = make_client()
        client.data_to_send()
        events: list[ProtocolEvent] = []
        for piece in data.draw(chunked(answer)):
            if piece:
                client.receive_data(piece)
            events += client.events_received()
        client.receive_eof()
        events += client.events_received()
        assert isinstance(events[-1], Closed)
        assert sum(isinstance(event, Closed) for event in events) == 1


def test_struct_helpers_roundtrip() -> None:
    """The raw parser reads what the raw builder writes, masked or not."""
    for payload in (b"", b"a" * 125, b"b" * 126, b"c" * 65536):
        for mask in (None, b"\x01\x02\x03\x04"):
            [parsed] = parse_frames(frame(BINARY, payload, fin=False, rsv3=True, mask=mask))
            assert parsed.payload == payload
            assert parsed.masked is (mask is not None)
            assert (parsed.fin, parsed.rsv3) == (False, True)
    assert close_payload(struct.pack("!H", 1000) + b"ok") == (1000, "ok")
