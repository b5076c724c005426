"""Encoding the client's data frames quickly: header, fresh mask, masked payload.

wsproto encodes every frame through a ``Frame``-free but general path that masks
with a pure-Python routine (about 1.4 ms per MiB). Data frames are the hot path
of a client, so ``ClientProtocol`` encodes them here instead, with the masking in
C when ``wsapi._speedups`` was built (about 27 us per MiB) and the fastest
pure-Python method for the size otherwise. Control frames and the closing
handshake stay with wsproto, which tracks the connection's state.

``SPEEDUPS`` says which masking runs; ``WSAPI_NO_SPEEDUPS=1`` in the environment
forces the pure-Python one (the tests run both).

>>> frame = encode_frame(0x1, b"hi")
>>> frame[:2], len(frame)
(b'\\x81\\x82', 8)
>>> apply_mask(frame[6:], frame[2:6])
b'hi'
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable

__all__ = [
    "KEYS_PER_READ",
    "SPEEDUPS",
    "MaskingKeys",
    "apply_mask",
    "count_data_frames",
    "encode_frame",
    "mask_frame",
    "python_apply_mask",
    "python_mask_frame",
    "read_simple_frames",
]

_PACK_16 = struct.Struct("!BBH").pack
_PACK_64 = struct.Struct("!BBQ").pack

#: Below this size XOR-ing one big int beats four ``translate()`` calls.
_INT_MASK_LIMIT = 512

#: ``bytes.translate`` tables: _XOR[k][b] == b ^ k.
_XOR = [bytes(b ^ k for b in range(256)) for k in range(256)]


def python_apply_mask(data: bytes, key: bytes) -> bytes:
    """``data`` XOR ``key`` repeated (RFC 6455 section 5.3), in pure Python.

    >>> python_apply_mask(b"abcdefghij", b"\\x01\\x02\\x03\\x04")
    b'````dddlhh'
    """
    n = len(data)
    if n < _INT_MASK_LIMIT:
        repeated = key * (n >> 2) + key[: n & 3]
        return (int.from_bytes(data, "little") ^ int.from_bytes(repeated, "little")).to_bytes(
            n, "little"
        )
    masked = bytearray(data)
    for offset in range(4):
        masked[offset::4] = masked[offset::4].translate(_XOR[key[offset]])
    return bytes(masked)


def python_mask_frame(head: bytes, key: bytes, payload: bytes) -> bytes:
    """``head + key + `` the masked payload."""
    return head + key + python_apply_mask(payload, key)


def _load_speedups() -> tuple[Callable[[bytes, bytes], bytes], _MaskFrame] | None:
    if os.environ.get("WSAPI_NO_SPEEDUPS"):
        return None
    try:
        from .._speedups import apply_mask as c_apply_mask
        from .._speedups import mask_frame as c_mask_frame
    except ImportError:
        return None
    return c_apply_mask, c_mask_frame


_MaskFrame = Callable[[bytes, bytes, bytes], bytes]
_speedups = _load_speedups()

#: True when the C masking routines are in use.
SPEEDUPS = _speedups is not None

#: ``apply_mask(data, key)``: the C routine if built, else the pure-Python one.
apply_mask: Callable[[bytes, bytes], bytes] = _speedups[0] if _speedups else python_apply_mask
#: ``mask_frame(head, key, payload)``: a whole frame in one allocation when in C.
mask_frame: _MaskFrame = _speedups[1] if _speedups else python_mask_frame


#: Masking keys read from the operating system at a time.
KEYS_PER_READ = 64


class MaskingKeys:
    """One connection's masking keys: four bytes each from ``os.urandom``, read 64 at a time.

    RFC 6455 5.3: each key must be unpredictable, from a strong source of
    entropy. Every key is still four bytes the operating system's generator
    gave, never reused; they are only read in one system call per 64 frames
    instead of one per frame (about 0.5 us each). A connection is used from
    one thread, so no lock.

    >>> keys = MaskingKeys()
    >>> first, second = keys(), keys()
    >>> len(first), first != second
    (4, True)
    """

    __slots__ = ("_at", "_pool")

    def __init__(self) -> None:
        self._pool = b""
        self._at = 0

    def __call__(self) -> bytes:
        at = self._at
        if at == len(self._pool):
            self._pool = os.urandom(4 * KEYS_PER_READ)
            at = 0
        self._at = at + 4
        return self._pool[at : at + 4]


def encode_frame(
    opcode: int, payload: bytes, *, rsv1: bool = False, key: bytes | None = None
) -> bytes:
    """One final client frame: header, a fresh random masking key, the masked payload.

    RFC 6455 5.3: the key must be unpredictable; it is four bytes from
    ``os.urandom``, or ``key`` (a connection's ``MaskingKeys`` gives them).
    """
    first = 0x80 | (0x40 if rsv1 else 0) | opcode
    length = len(payload)
    if length < 126:
        header = bytes((first, 0x80 | length))
    elif length < 0x10000:
        header = _PACK_16(first, 0xFE, length)
    else:
        header = _PACK_64(first, 0xFF, length)
    return mask_frame(header, os.urandom(4) if key is None else key, payload)


def count_data_frames(data: bytes, after: int = 0) -> int:
    """How many text and binary frames in ``data`` (client frames back to back) end after ``after``.

    Used when a connection fails, to count the messages that were not written
    (``after`` bytes of ``data`` were).

    >>> frames = encode_frame(0x1, b"a") + encode_frame(0x9, b"") + encode_frame(0x2, b"b")
    >>> count_data_frames(frames), count_data_frames(frames, after=6), count_data_frames(frames, 7)
    (2, 2, 1)
    """
    count, offset, end = 0, 0, len(data)
    while offset + 2 <= end:
        opcode, length = data[offset] & 0x0F, data[offset + 1] & 0x7F
        offset += 2
        if length == 126:
            length = int.from_bytes(data[offset : offset + 2], "big")
            offset += 2
        elif length == 127:
            length = int.from_bytes(data[offset : offset + 8], "big")
            offset += 8
        offset += 4 + length  # the masking key and the payload
        if opcode in (0x1, 0x2) and offset > after:
            count += 1
    return count


def read_simple_frames(data: bytes, limit: int | None) -> tuple[list[str | bytes], int]:
    """Messages from the front of ``data`` that are single unmasked final frames.

    The fast path of receiving: a text or binary frame with FIN set, no RSV bit,
    its length encoded the shortest way, at most ``limit`` bytes, and (for text)
    valid UTF-8 is a whole message that needs none of wsproto's state. The scan
    stops at the first frame that is anything else or incomplete, and returns the
    messages and how many bytes they took; wsproto parses the rest, and reports
    whatever is wrong with it.

    >>> read_simple_frames(b"\\x81\\x02hi\\x82\\x01\\x00\\x89\\x00", None)
    (['hi', b'\\x00'], 7)
    """
    messages: list[str | bytes] = []
    end, offset = len(data), 0
    while offset + 2 <= end:
        first, length = data[offset], data[offset + 1]
        if first != 0x81 and first != 0x82:
            break  # a control frame, a fragment, RSV bits, a bad opcode
        header = 2
        if length > 125:
            if length == 126 and offset + 4 <= end:
                length, header = (data[offset + 2] << 8) | data[offset + 3], 4
                if length < 126:
                    break
            elif length == 127 and offset + 10 <= end:
                length, header = int.from_bytes(data[offset + 2 : offset + 10], "big"), 10
                if length < 0x10000 or length >= 1 << 63:
                    break
            else:
                break  # masked, or the header is incomplete
        stop = offset + header + length
        if stop > end or (limit is not None and length > limit):
            break
        payload = data[offset + header : stop]
        if first == 0x81:
            try:
                messages.append(payload.decode("utf-8"))
            except UnicodeDecodeError:
                break
        else:
            messages.append(payload)
        offset = stop
    return messages, offset
