"""What the protocol core holds while a message arrives, measured with ``tracemalloc``.

``max_message_size`` bounds a message's bytes; the objects holding them must
stay within a small multiple of that too, however the server cuts the bytes
into reads. A server that writes a byte at a time makes every read tiny (see
docs/reliability.md for the same over loopback).
"""

from __future__ import annotations

import gc
import tracemalloc
import zlib
from collections.abc import Iterator

import pytest

from tests.protocol.helpers import (
    BINARY,
    CONT,
    PING,
    TEXT,
    Deflater,
    feed,
    frame,
    open_client,
)
from wsapi.errors import MessageTooBig
from wsapi.protocol.connection import ClientProtocol
from wsapi.protocol.events import Failed, MessageReceived

from .harness import buffer_sizes

KiB = 2**10
MiB = 2**20
LIMIT = 256 * KiB


def trickle(client: ClientProtocol, data: bytes, size: int) -> Iterator[int]:
    """Feed ``data`` in reads of ``size`` bytes; yields the traced memory after each."""
    for start in range(0, len(data), size):
        client.receive_data(data[start : start + size])
        yield tracemalloc.get_traced_memory()[0]


def peak_while_feeding(client: ClientProtocol, data: bytes, size: int) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        for _ in trickle(client, data, size):
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("size", [4 * KiB, 64 * KiB])
@pytest.mark.parametrize("opcode", [TEXT, BINARY], ids=["text", "binary"])
def test_message_in_ordinary_reads_costs_about_its_size(opcode: int, size: int) -> None:
    client = open_client(max_message_size=LIMIT)
    raw = frame(opcode, b"a" * LIMIT)
    peak = peak_while_feeding(client, raw[:-1], size)
    assert peak < 3 * LIMIT, f"{peak / LIMIT:.1f} times the message"
    client.receive_data(raw[-1:])
    [message] = client.events_received()
    assert isinstance(message, MessageReceived) and len(message.data) == LIMIT


def test_message_read_a_byte_at_a_time_stays_near_its_size() -> None:
    """Each read adds to one buffer: 1-byte reads of a message do not hold one object
    per read (a list of pieces held about 42 times the message)."""
    limit = 16 * KiB
    client = open_client(max_message_size=limit)
    raw = frame(BINARY, b"a" * limit)
    peak = peak_while_feeding(client, raw[:-1], 1)
    assert buffer_sizes(client)["fragments"] == limit - 1
    assert peak < 4 * limit, f"{peak / limit:.1f} times the message"


def test_compressed_bomb_a_byte_at_a_time_is_refused_in_bounded_memory() -> None:
    bomb = Deflater().compress(bytes(16 * MiB))
    client = open_client(extensions="permessage-deflate", max_message_size=LIMIT)
    gc.collect()
    tracemalloc.start()
    try:
        events = []
        for _ in trickle(client, frame(BINARY, bomb, rsv1=True), 1):
            events += feed(client, b"")
            if events:
                break
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    [failed] = events
    assert isinstance(failed, Failed) and isinstance(failed.error, MessageTooBig)
    assert peak < 4 * LIMIT, f"{peak / LIMIT:.1f} times the limit"


def test_endless_empty_fragments_hold_nothing() -> None:
    """A message that never ends, in empty frames and pings: nothing accumulates."""
    client = open_client(max_message_size=LIMIT)
    client.receive_data(frame(TEXT, b"start", fin=False))
    filler = (frame(CONT, b"", fin=False) + frame(PING, b"")) * 500
    gc.collect()
    tracemalloc.start()
    try:
        for _ in range(10):
            client.receive_data(filler)
            client.events_received()
            client.data_to_send()
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert buffer_sizes(client)["fragments"] == len(b"start")
    assert peak < 1 * MiB


def test_pongs_are_never_larger_than_three_times_the_pings() -> None:
    """Answers are proportional to what came in: the transport must drain them (see
    tests/robustness for a server that does not read them)."""
    client = open_client()
    pings = frame(PING, b"") * 10_000 + frame(PING, b"x" * 125) * 10_000
    events = feed(client, pings)
    assert len(events) == 20_000
    out = client.data_to_send()
    assert len(out) <= 3 * len(pings)


def test_decompression_output_per_read_is_bounded_by_the_limit() -> None:
    """One read of a compressed bomb never inflates more than the limit (plus one byte)."""
    produced: list[int] = []
    original = zlib.decompressobj

    class Recorder:
        def __init__(self, wbits: int) -> None:
            self._inner = original(wbits)

        def decompress(self, data: bytes, max_length: int = 0) -> bytes:
            out = self._inner.decompress(data, max_length)
            produced.append(len(out))
            return out

        def __getattr__(self, name: str) -> object:
            return getattr(self._inner, name)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(zlib, "decompressobj", Recorder)
        client = open_client(extensions="permessage-deflate", max_message_size=LIMIT)
        bomb = Deflater().compress(bytes(64 * MiB))
        events = feed(client, frame(BINARY, bomb, rsv1=True), chunk=16 * KiB)
    assert isinstance(events[-1], Failed) and isinstance(events[-1].error, MessageTooBig)
    assert produced and sum(produced) <= LIMIT + 1
