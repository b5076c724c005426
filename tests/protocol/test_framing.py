"""The fast encoder of data frames and the masking routines (C and pure Python)."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wsproto.frame_protocol import FrameDecoder, Opcode

from tests.peers import require_peer
from wsapi.protocol import framing
from wsapi.protocol.framing import encode_frame, python_apply_mask, read_simple_frames

from .helpers import WsprotoOnly, drain_events, frame, open_client


def reference_mask(data: bytes, key: bytes) -> bytes:
    return bytes(byte ^ key[index % 4] for index, byte in enumerate(data))


def implementations() -> list[object]:
    found: list[object] = [python_apply_mask]
    try:
        from wsapi._speedups import apply_mask
    except ImportError:
        pass
    else:
        found.append(apply_mask)
    return found


@pytest.mark.parametrize("mask", implementations(), ids=lambda f: f.__module__)  # type: ignore[attr-defined]
# (Around 8 and 32: the C routine XORs 32 bytes at a time, then 8, then one.)
@pytest.mark.parametrize(
    "size",
    [
        0,
        1,
        3,
        4,
        5,
        7,
        8,
        9,
        15,
        16,
        17,
        31,
        32,
        33,
        39,
        40,
        41,
        63,
        64,
        65,
        511,
        512,
        513,
        4096,
        70_001,
    ],
)
def test_masking_matches_the_rfc(mask: object, size: int) -> None:
    data, key = os.urandom(size), os.urandom(4)
    assert mask(data, key) == reference_mask(data, key)  # type: ignore[operator]


@given(data=st.binary(max_size=2000), key=st.binary(min_size=4, max_size=4))
def test_masking_property(data: bytes, key: bytes) -> None:
    expected = reference_mask(data, key)
    for mask in implementations():
        assert mask(data, key) == expected  # type: ignore[operator]
        # Masking twice gives the data back.
        assert mask(mask(data, key), key) == data  # type: ignore[operator]


def test_masking_accepts_bytes_like() -> None:
    key = b"\x01\x02\x03\x04"
    for mask in implementations():
        assert mask(bytearray(b"abcd"), key) == reference_mask(b"abcd", key)  # type: ignore[operator]
        assert mask(memoryview(b"abcdefgh")[2:], key) == reference_mask(b"cdefgh", key)  # type: ignore[operator]


@pytest.mark.parametrize("offset", [1, 2, 3, 5, 17, 31])
def test_masking_unaligned_data(offset: int) -> None:
    # A payload that starts at an odd address (a slice of a larger buffer): the
    # wide loads and stores of the C routine must not assume alignment.
    buffer, key = os.urandom(offset + 1000), os.urandom(4)
    for mask in implementations():
        view = memoryview(buffer)[offset:]
        assert mask(view, key) == reference_mask(bytes(view), key)  # type: ignore[operator]


def test_c_masking_rejects_a_bad_key() -> None:
    speedups = pytest.importorskip("wsapi._speedups")
    with pytest.raises(ValueError, match="4 bytes"):
        speedups.apply_mask(b"data", b"abc")


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 200_000])
@pytest.mark.parametrize("opcode", [Opcode.TEXT, Opcode.BINARY])
def test_encoded_frames_parse_back(size: int, opcode: Opcode) -> None:
    payload = b"a" * size
    decoder = FrameDecoder(client=False)  # the server's side: expects masked frames
    decoder.receive_bytes(encode_frame(opcode, payload))
    frame = decoder.process_buffer()
    assert frame is not None
    assert frame.opcode is opcode
    assert frame.payload == payload
    assert frame.frame_finished and frame.message_finished


def test_each_frame_has_a_fresh_key() -> None:
    keys = {encode_frame(0x2, b"x")[2:6] for _ in range(50)}
    assert len(keys) > 45


def test_a_connections_keys_are_the_os_generators_bytes_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every key is four bytes os.urandom gave, each used once, in order; the
    # generator is asked once per KEYS_PER_READ frames.
    reads: list[bytes] = []

    def urandom(size: int) -> bytes:
        data = bytes(itertools.islice(counter, size))
        reads.append(data)
        return data

    counter = itertools.cycle(range(256))
    monkeypatch.setattr(framing.os, "urandom", urandom)
    client = open_client()
    count = 3 * framing.KEYS_PER_READ + 5
    for index in range(count):
        assert client.send_binary(b"payload %d" % index)
    sent = client.data_to_send()
    decoder = FrameDecoder(client=False)
    decoder.receive_bytes(sent)
    keys, payloads = [], []
    offset = 0
    while offset < len(sent):
        length = sent[offset + 1] & 0x7F
        keys.append(sent[offset + 2 : offset + 6])
        offset += 6 + length
        payload = decoder.process_buffer()
        assert payload is not None
        payloads.append(bytes(payload.payload))
    assert payloads == [b"payload %d" % index for index in range(count)]
    assert len(reads) == 4 and all(len(read) == 4 * framing.KEYS_PER_READ for read in reads)
    assert b"".join(keys) == b"".join(reads)[: 4 * count]


def test_rsv1_for_compressed_frames() -> None:
    assert encode_frame(0x1, b"x", rsv1=True)[0] == 0xC1
    assert encode_frame(0x1, b"x")[0] == 0x81


def test_speedups_are_built_here() -> None:
    # CI builds the C extension (pip install -e .); a silent fallback would hide
    # a broken build there. Without a compiler the pure-Python masking runs.
    if os.environ.get("WSAPI_NO_SPEEDUPS"):
        pytest.skip("WSAPI_NO_SPEEDUPS is set")
    require_peer(
        framing.SPEEDUPS,
        "wsapi._speedups is not built: install a C compiler (apt-get install gcc libc6-dev) "
        "and run `pip install -e .` again",
    )
    assert framing.apply_mask is not python_apply_mask


def test_no_speedups_environment_variable() -> None:
    code = "from wsapi.protocol import framing; print(framing.SPEEDUPS)"
    env = dict(os.environ, WSAPI_NO_SPEEDUPS="1")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("size", [0, 5, 125, 126, 70_001])
def test_mask_frame_is_head_key_and_masked_payload(size: int) -> None:
    head, key, payload = b"\x82\x7e\x00\x05", os.urandom(4), os.urandom(size)
    expected = head + key + reference_mask(payload, key)
    assert framing.python_mask_frame(head, key, payload) == expected
    assert framing.mask_frame(head, key, payload) == expected


# -- the receiving fast path ---------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        frame(0x1, b"\xff\xfe"),  # invalid UTF-8: wsproto reports it
        frame(0x1, b"hi", fin=False),  # a fragment
        frame(0x2, b"x", rsv1=True),  # a reserved bit
        frame(0x9, b"ping"),  # a control frame
        frame(0x3, b""),  # a reserved opcode
        frame(0x2, b"x" * 10, length_size=2),  # a length not in its shortest form
        frame(0x2, b"x" * 200, length_size=8),
        frame(0x2, b"masked", mask=b"abcd"),  # servers must not mask
        frame(0x2, b"x" * 200)[:100],  # incomplete
        frame(0x2, b"x" * 300)[:3],  # incomplete header
        frame(0x2, b"x" * 151),  # over the limit of 150
    ],
    ids=lambda data: data[:2].hex(),
)
def test_the_fast_path_stops_at_anything_unusual(data: bytes) -> None:
    before = frame(0x1, b"ok") + frame(0x2, b"\x00" * 130)
    messages, used = read_simple_frames(before + data + frame(0x1, b"after"), 150)
    assert messages == ["ok", b"\x00" * 130]
    assert used == len(before)


def test_the_fast_path_reads_every_simple_frame() -> None:
    data = frame(0x1, "é".encode()) + frame(0x2, b"") + frame(0x2, b"y" * 70_000)
    assert read_simple_frames(data, None) == (["é", b"", b"y" * 70_000], len(data))
    assert read_simple_frames(data, 69_999)[1] == len(data) - len(frame(0x2, b"y" * 70_000))


stream_item = st.one_of(
    st.tuples(st.just("text"), st.text(max_size=300)),
    st.tuples(st.just("binary"), st.binary(max_size=300)),
    st.tuples(st.just("ping"), st.binary(max_size=20)),
    st.tuples(st.just("fragmented"), st.binary(min_size=2, max_size=50)),
)


def encode_stream(items: list[tuple[str, Any]]) -> bytes:
    raw = b""
    for kind, value in items:
        if kind == "text":
            raw += frame(0x1, value.encode())
        elif kind == "binary":
            raw += frame(0x2, value)
        elif kind == "ping":
            raw += frame(0x9, value)
        else:
            half = len(value) // 2
            raw += frame(0x2, value[:half], fin=False) + frame(0x0, value[half:])
    return raw


@given(
    items=st.lists(stream_item, max_size=12),
    cuts=st.lists(st.integers(0, 4000), max_size=8),
    tail=st.binary(max_size=20),
)
def test_the_fast_path_gives_what_wsproto_gives(
    items: list[tuple[str, Any]], cuts: list[int], tail: bytes
) -> None:
    raw = encode_stream(items) + tail
    bounds = [0, *sorted(min(cut, len(raw)) for cut in cuts), len(raw)]
    pieces = [raw[a:b] for a, b in itertools.pairwise(bounds)]
    fast, slow = open_client(), open_client()
    slow.__class__ = WsprotoOnly
    got: dict[str, list[Any]] = {"fast": [], "slow": []}
    for name, client in (("fast", fast), ("slow", slow)):
        for piece in pieces:
            if piece:
                client.receive_data(piece)
            got[name] += drain_events(client)
    assert [repr(e) for e in got["fast"]] == [repr(e) for e in got["slow"]]
    assert fast.state is slow.state
