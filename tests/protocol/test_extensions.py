"""BoundedDeflate, SizeLimit and parse_deflate_response, plugged straight into wsproto.

These tests drive a bare ``wsproto.connection.Connection`` (client side) with
the extensions installed, as ``ClientProtocol`` does, and read its events; the
end-to-end behaviour (Failed events, close codes) is in test_connection.py.
"""

from __future__ import annotations

import random
import zlib
from typing import Any

import pytest
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Event, Ping, TextMessage
from wsproto.extensions import Extension, PerMessageDeflate
from wsproto.frame_protocol import CloseReason, Opcode, RsvBits

from wsapi.protocol.extensions import (
    DEFLATE_OFFER,
    BoundedDeflate,
    SizeLimit,
    parse_deflate_response,
)

from .helpers import BINARY, CONT, PING, TEXT, Deflater, frame

MiB = 2**20


def connection(*extensions: Extension) -> Connection:
    return Connection(ConnectionType.CLIENT, list(extensions))


def deflate(max_size: int | None, params: str = "") -> BoundedDeflate:
    return parse_deflate_response("permessage-deflate" + params, max_size)


def receive(conn: Connection, data: bytes) -> list[Event]:
    conn.receive_data(data)
    return list(conn.events())


def messages(events: list[Event]) -> list[bytes | str]:
    """The whole messages among ``events`` (fragments joined)."""
    out: list[bytes | str] = []
    parts: list[Any] = []
    for event in events:
        if isinstance(event, TextMessage | BytesMessage):
            parts.append(event.data)
            if event.message_finished:
                joined = "".join(parts) if isinstance(parts[0], str) else b"".join(parts)
                out.append(joined)
                parts = []
    return out


def close_code(events: list[Event]) -> int | None:
    closes = [event for event in events if isinstance(event, CloseConnection)]
    return int(closes[-1].code) if closes else None


# -- parse_deflate_response -----------------------------------------------------------------


class TestParseDeflateResponse:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("permessage-deflate", (False, False, 15, 15)),
            ("PerMessage-Deflate", (False, False, 15, 15)),
            ("permessage-deflate; server_no_context_takeover", (True, False, 15, 15)),
            ("permessage-deflate; client_no_context_takeover", (False, True, 15, 15)),
            ("permessage-deflate;server_max_window_bits=10", (False, False, 10, 15)),
            ("permessage-deflate; client_max_window_bits=12", (False, False, 15, 12)),
            ('permessage-deflate; client_max_window_bits="9"', (False, False, 15, 9)),
            ("permessage-deflate; server_max_window_bits = 11 ", (False, False, 11, 15)),
            ("permessage-deflate; SERVER_NO_CONTEXT_TAKEOVER", (True, False, 15, 15)),
            # zlib cannot use an 8-bit window for raw deflate: 9 reads the same data.
            ("permessage-deflate; server_max_window_bits=8", (False, False, 9, 15)),
            ("permessage-deflate; client_max_window_bits=8", (False, False, 15, 9)),
            (
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
                "server_max_window_bits=15; client_max_window_bits=15",
                (True, True, 15, 15),
            ),
        ],
    )
    def test_valid(self, value: str, expected: tuple[bool, bool, int, int]) -> None:
        ext = parse_deflate_response(value, 1000)
        assert isinstance(ext, BoundedDeflate)
        assert ext.enabled()
        assert (
            ext.server_no_context_takeover,
            ext.client_no_context_takeover,
            ext.server_max_window_bits,
            ext.client_max_window_bits,
        ) == expected

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            ("x-webkit-deflate-frame", "unknown extension 'x-webkit-deflate-frame'"),
            ("permessage-deflate; foo", "unknown parameter 'foo'"),
            ("permessage-deflate; foo=bar", "unknown parameter 'foo'"),
            ("permessage-deflate; ", "unknown parameter ''"),
            ("permessage-deflate; server_max_window_bits=7", "server_max_window_bits='7'"),
            ("permessage-deflate; server_max_window_bits=16", "server_max_window_bits='16'"),
            ("permessage-deflate; client_max_window_bits=0", "client_max_window_bits='0'"),
            ("permessage-deflate; server_max_window_bits=x", "server_max_window_bits='x'"),
            ("permessage-deflate; server_max_window_bits=-9", "server_max_window_bits='-9'"),
            ("permessage-deflate; server_max_window_bits=9.5", "server_max_window_bits='9.5'"),
            ("permessage-deflate; server_max_window_bits", "server_max_window_bits=''"),
            ("permessage-deflate; client_max_window_bits", "client_max_window_bits=''"),
            ("permessage-deflate; server_no_context_takeover=1", "takes no value"),
            ('permessage-deflate; client_no_context_takeover="x"', "takes no value"),
            (
                "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
                "'client_no_context_takeover' given twice",
            ),
            (
                "permessage-deflate; server_max_window_bits=9; SERVER_MAX_WINDOW_BITS=9",
                "'server_max_window_bits' given twice",
            ),
        ],
    )
    def test_invalid(self, value: str, message: str) -> None:
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
            parse_deflate_response(value, 1000)

    def test_window_is_a_number_from_8_to_15(self) -> None:
        for bits in range(8, 16):
            parse_deflate_response(f"permessage-deflate; server_max_window_bits={bits}", None)
        for bits in (0, 1, 7, 16, 99, 1000):
            with pytest.raises(ValueError, match="from 8 to 15"):
                parse_deflate_response(f"permessage-deflate; server_max_window_bits={bits}", None)

    def test_offer(self) -> None:
        assert DEFLATE_OFFER == "permessage-deflate; client_max_window_bits"
        # wsproto's server accepts it.
        accepted = PerMessageDeflate().accept(DEFLATE_OFFER)
        assert accepted == "client_max_window_bits=15"


# -- BoundedDeflate ------------------------------------------------------------------------


class TestBoundedDeflate:
    def test_is_a_per_message_deflate(self) -> None:
        ext = deflate(None)
        assert isinstance(ext, PerMessageDeflate)
        assert ext.name == "permessage-deflate"

    def test_decompresses(self) -> None:
        conn = connection(deflate(1000))
        deflater = Deflater()
        data = b"hello " * 100
        events = receive(conn, deflater.message(BINARY, data) + deflater.message(TEXT, b"again"))
        assert messages(events) == [data, "again"]

    def test_unlimited(self) -> None:
        conn = connection(deflate(None))
        data = bytes(8 * MiB)
        assert messages(receive(conn, Deflater().message(BINARY, data))) == [data]

    @pytest.mark.parametrize("size", [1, 100, 1000, 65536])
    def test_exactly_at_the_limit(self, size: int) -> None:
        conn = connection(deflate(size))
        deflater = Deflater()
        data = (b"0123456789" * (size // 10 + 1))[:size]
        assert messages(receive(conn, deflater.message(BINARY, data))) == [data]
        # The count is per message.
        assert messages(receive(conn, deflater.message(BINARY, data))) == [data]

    @pytest.mark.parametrize("size", [1, 100, 1000, 65536])
    def test_one_byte_over_the_limit(self, size: int) -> None:
        conn = connection(deflate(size))
        events = receive(conn, Deflater().message(BINARY, bytes(size + 1)))
        assert messages(events) == []
        assert close_code(events) == CloseReason.MESSAGE_TOO_BIG

    def test_limit_counts_the_whole_fragmented_message(self) -> None:
        conn = connection(deflate(1000))
        payload = Deflater().compress(bytes(1001))
        half = len(payload) // 2
        raw = frame(BINARY, payload[:half], fin=False, rsv1=True) + frame(CONT, payload[half:])
        assert close_code(receive(conn, raw)) == CloseReason.MESSAGE_TOO_BIG

    def test_every_byte_from_the_tail_counts(self) -> None:
        # The final flush (00 00 ff ff) may release the last bytes of a message.
        conn = connection(deflate(10))
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        payload = compressor.compress(b"x" * 11) + compressor.flush(zlib.Z_SYNC_FLUSH)
        events = receive(conn, frame(BINARY, payload[:-4], rsv1=True))
        assert close_code(events) == CloseReason.MESSAGE_TOO_BIG

    def test_bomb_is_bounded(self) -> None:
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        bomb = compressor.compress(bytes(64 * MiB)) + compressor.flush(zlib.Z_SYNC_FLUSH)
        conn = connection(deflate(MiB))
        events = receive(conn, frame(BINARY, bomb[:-4], rsv1=True))
        assert close_code(events) == CloseReason.MESSAGE_TOO_BIG
        # No partial message escaped past the limit.
        delivered = sum(len(event.data) for event in events if isinstance(event, BytesMessage))
        assert delivered <= MiB

    def test_corrupt_data_is_1007(self) -> None:
        conn = connection(deflate(1000))
        events = receive(conn, frame(BINARY, b"\xff\xff\xff", rsv1=True))
        assert close_code(events) == CloseReason.INVALID_FRAME_PAYLOAD_DATA

    def test_ping_between_fragments_keeps_the_message_state(self) -> None:
        conn = connection(deflate(MiB))
        deflater = Deflater()
        payload = deflater.compress(b"abc" * 1000)
        raw = (
            frame(TEXT, payload[:5], fin=False, rsv1=True)
            + frame(PING, b"1")
            + frame(CONT, payload[5:10], fin=False)
            + frame(PING, b"2")
            + frame(CONT, payload[10:])
        )
        events = receive(conn, raw)
        assert [event for event in events if isinstance(event, Ping)] == [
            Ping(payload=b"1"),
            Ping(payload=b"2"),
        ]
        assert messages(events) == ["abc" * 1000]

    def test_wsproto_per_message_deflate_loses_the_message_on_a_ping(self) -> None:
        # Why BoundedDeflate overrides frame_inbound_complete: wsproto's own
        # extension forgets that the message is compressed after the ping.
        ext = PerMessageDeflate()
        ext.finalize("permessage-deflate")
        conn = connection(ext)
        payload = Deflater().compress(b"abc" * 1000)
        raw = (
            frame(TEXT, payload[:5], fin=False, rsv1=True)
            + frame(PING, b"")
            + frame(CONT, payload[5:])
        )
        assert messages(receive(conn, raw)) != ["abc" * 1000]

    def test_ping_before_a_compressed_message(self) -> None:
        conn = connection(deflate(MiB))
        deflater = Deflater()
        events = receive(conn, frame(PING, b"") + deflater.message(BINARY, b"payload"))
        assert messages(events) == [b"payload"]

    def test_server_no_context_takeover_drops_the_window(self) -> None:
        conn = connection(deflate(MiB, "; server_no_context_takeover"))
        deflater = Deflater(no_context_takeover=True)
        data = b"repeat repeat repeat " * 50
        raw = deflater.message(BINARY, data) + deflater.message(BINARY, data)
        assert messages(receive(conn, raw)) == [data, data]

    def test_uncompressed_messages_pass_through(self) -> None:
        conn = connection(deflate(10))
        # Uncompressed data is not BoundedDeflate's to count.
        events = receive(conn, frame(BINARY, b"x" * 100))
        assert messages(events) == [b"x" * 100]


# -- SizeLimit -------------------------------------------------------------------------------


class TestSizeLimit:
    def test_never_offered_always_enabled(self) -> None:
        limit = SizeLimit(10)
        assert limit.enabled()
        assert limit.offer() is False
        assert limit.name == "wsapi-size-limit"

    def test_claims_no_reserved_bit(self) -> None:
        limit = SizeLimit(10)
        assert limit.frame_inbound_header(None, Opcode.TEXT, RsvBits(False, False, False), 5) == (  # type: ignore[arg-type]
            False,
            False,
            False,
        )
        conn = connection(SizeLimit(10))
        events = receive(conn, frame(TEXT, b"a", rsv1=True))
        assert close_code(events) == CloseReason.PROTOCOL_ERROR

    def test_exactly_at_the_limit(self) -> None:
        conn = connection(SizeLimit(100))
        raw = frame(BINARY, b"a" * 100) + frame(TEXT, b"b" * 40, fin=False) + frame(CONT, b"c" * 60)
        assert messages(receive(conn, raw)) == [b"a" * 100, "b" * 40 + "c" * 60]

    def test_refused_from_the_header(self) -> None:
        conn = connection(SizeLimit(100))
        # Only the header has arrived: no payload is buffered before the refusal.
        events = receive(conn, frame(BINARY, b"", length=101))
        assert close_code(events) == CloseReason.MESSAGE_TOO_BIG

    def test_refused_from_the_header_of_a_later_fragment(self) -> None:
        conn = connection(SizeLimit(100))
        events = receive(conn, frame(BINARY, b"a" * 60, fin=False) + frame(CONT, b"", length=41))
        assert close_code(events) == CloseReason.MESSAGE_TOO_BIG

    def test_huge_header(self) -> None:
        conn = connection(SizeLimit(MiB))
        events = receive(conn, frame(BINARY, b"", length=2**63 - 1))
        assert close_code(events) == CloseReason.MESSAGE_TOO_BIG

    def test_control_frames_do_not_count_nor_reset(self) -> None:
        conn = connection(SizeLimit(100))
        raw = frame(BINARY, b"a" * 60, fin=False) + frame(PING, b"p" * 125) + frame(CONT, b"b" * 40)
        assert messages(receive(conn, raw)) == [b"a" * 60 + b"b" * 40]
        raw = frame(BINARY, b"a" * 60, fin=False) + frame(PING, b"") + frame(CONT, b"b" * 41)
        assert close_code(receive(conn, raw)) == CloseReason.MESSAGE_TOO_BIG

    def test_count_resets_per_message(self) -> None:
        conn = connection(SizeLimit(100))
        raw = b"".join(frame(BINARY, b"z" * 100) for _ in range(50))
        assert len(messages(receive(conn, raw))) == 50

    def test_counts_decompressed_bytes_after_bounded_deflate(self) -> None:
        conn = connection(deflate(None), SizeLimit(1000))
        deflater = Deflater()
        ok = bytes(1000)
        assert messages(receive(conn, deflater.message(BINARY, ok))) == [ok]
        events = receive(conn, deflater.message(BINARY, bytes(5000)))
        assert close_code(events) == CloseReason.MESSAGE_TOO_BIG

    def test_compressed_frame_larger_than_its_content_is_allowed(self) -> None:
        # Incompressible data grows a little when deflated: the header must not be judged.
        conn = connection(deflate(1000), SizeLimit(1000))
        data = random.Random(6455).randbytes(1000)
        payload = Deflater().compress(data)
        assert len(payload) > 1000
        assert messages(receive(conn, frame(BINARY, payload, rsv1=True))) == [data]
