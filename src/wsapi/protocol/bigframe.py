"""A message whose single frame spans many reads, received into its final buffer.

A 1 MiB message arrives in a dozen reads. Through wsproto each read is appended
to its frame buffer, sliced out again as a piece of the message, and appended
to the message being assembled, which is copied once more at the end; each of
those large buffers is fresh memory that the kernel has to map page by page.
When the frame is a "simple" one (final, unmasked, uncompressed, no RSV bit,
text or binary, within ``max_message_size``: see ``read_simple_frames``) its
header says how long the message is, so wsapi allocates the message once and
copies each read into place, or lets the socket read straight into it
(``writable()`` / ``advance()``).

Text is checked as it comes, by an incremental UTF-8 decoder: invalid UTF-8
fails the connection as soon as it arrives (RFC 6455 8.1 allows failing fast,
and Autobahn's cases 6.4.3 and 6.4.4 look for it), not after the last byte.

>>> frame = FrameInProgress.start(b"\\x82\\x7e\\x10\\x00" + b"x" * 100, 0, None)
>>> frame.remaining
3996
>>> frame.feed(b"y" * 4000)
3996
>>> message = frame.message()
>>> frame.done, len(message), message[-1:]
(True, 4096, b'y')
"""

from __future__ import annotations

import codecs
import os
from typing import TYPE_CHECKING, Protocol, TypeAlias

if TYPE_CHECKING:
    from .._speedups import BytesBuilder

__all__ = ["FrameInProgress", "WritableBuffer"]

#: Where the socket may read to: a ``memoryview``, or wsapi._speedups's ``BytesBuilder``.
WritableBuffer: TypeAlias = "memoryview | BytesBuilder"

#: Frames shorter than this stay with wsproto when they span reads: not worth the set-up.
MIN_LENGTH = 4096
#: Without ``max_message_size``, larger frames stay with wsproto, which allocates as
#: the bytes come rather than all at once on the word of a header.
MAX_UNLIMITED = 16 * 2**20

_utf8_decoder = codecs.getincrementaldecoder("utf-8")


class _Builder(Protocol):
    def write(self, data: bytes | memoryview, /) -> int: ...
    def advance(self, count: int, /) -> None: ...
    def take(self) -> bytes: ...


class _BytearrayBuilder:
    """``BytesBuilder`` in pure Python: a bytearray, copied into bytes at the end."""

    __slots__ = ("_buffer", "_filled")

    def __init__(self, size: int) -> None:
        self._buffer = bytearray(size)
        self._filled = 0

    def write(self, data: bytes | memoryview) -> int:
        filled = self._filled
        count = min(len(data), len(self._buffer) - filled)
        self._buffer[filled : filled + count] = data if count == len(data) else data[:count]
        self._filled = filled + count
        return count

    def advance(self, count: int) -> None:
        self._filled += count

    def view(self) -> memoryview:
        return memoryview(self._buffer)[self._filled :]

    def take(self) -> bytes:
        return bytes(self._buffer)


def _c_builder() -> type[BytesBuilder] | None:
    if os.environ.get("WSAPI_NO_SPEEDUPS"):
        return None
    try:
        from .._speedups import BytesBuilder
    except ImportError:
        return None
    return BytesBuilder


# With the C extension, the message is filled in its final bytes object (no copy
# at the end); else in a bytearray.
_CBuilder = _c_builder()


class FrameInProgress:
    """The payload of one simple data frame, filled in as the reads come."""

    __slots__ = ("_builder", "_decoder", "_pieces", "remaining", "text")

    def __init__(self, text: bool, length: int) -> None:
        #: A text message (decoded as it comes), or binary.
        self.text = text
        #: Payload bytes still to come.
        self.remaining = length
        # Binary: the message itself. Text: decoded pieces (the decoder keeps
        # the few bytes of a character cut between two reads).
        self._builder: _Builder | None = None
        if not text:
            self._builder = _CBuilder(length) if _CBuilder else _BytearrayBuilder(length)
        self._decoder = _utf8_decoder() if text else None
        self._pieces: list[str] = []

    @classmethod
    def start(cls, data: bytes, offset: int, limit: int | None) -> FrameInProgress | None:
        """The frame starting at ``data[offset]`` if it is simple and longer than the rest.

        ``data[offset:]`` is then all taken as the start of its payload. None
        means wsproto should parse what is there (anything else, a header cut
        short, a frame too small to bother or over ``limit``).

        Raises ``UnicodeDecodeError`` for a text frame whose first bytes are not
        UTF-8.
        """
        end = len(data)
        if end - offset < 4:
            return None
        first, length = data[offset], data[offset + 1]
        if first != 0x81 and first != 0x82:
            return None
        if length == 126:
            length, header = (data[offset + 2] << 8) | data[offset + 3], 4
            if length < 126:
                return None
        elif length == 127 and end - offset >= 10:
            length, header = int.from_bytes(data[offset + 2 : offset + 10], "big"), 10
            if length < 0x10000 or length >= 1 << 63:
                return None
        else:
            return None  # short, masked, or the 64-bit length is cut short
        start = offset + header
        if length < MIN_LENGTH or start + length <= end:
            return None
        if length > (MAX_UNLIMITED if limit is None else limit):
            return None
        frame = cls(first == 0x81, length)
        frame.feed(memoryview(data)[start:] if start else data)
        return frame

    @property
    def done(self) -> bool:
        return self.remaining == 0

    def feed(self, data: bytes | memoryview) -> int:
        """Copy the payload's next bytes from the front of ``data``; return how many.

        Raises ``UnicodeDecodeError`` when a text payload is not UTF-8.
        """
        used = min(len(data), self.remaining)
        if not used:
            return 0
        if self._decoder is not None:
            chunk = data if used == len(data) else data[:used]
            self.remaining -= used
            self._pieces.append(self._decoder.decode(chunk, self.remaining == 0))
        else:
            assert self._builder is not None
            self._builder.write(data)  # (copies at most what fits: used bytes)
            self.remaining -= used
        return used

    def writable(self) -> WritableBuffer | None:
        """Where the socket may read the rest of a binary payload to (None for text)."""
        builder = self._builder
        if builder is None or not self.remaining:
            return None
        if isinstance(builder, _BytearrayBuilder):
            return builder.view()
        return builder  # type: ignore[return-value]  # (the C BytesBuilder is a buffer)

    def advance(self, count: int) -> None:
        """``count`` bytes were read into ``writable()``."""
        assert self._builder is not None
        self._builder.advance(count)
        self.remaining -= count

    def message(self) -> str | bytes:
        """The whole message (once ``done``; once only: the bytes object is handed over)."""
        if self._builder is None:
            return "".join(self._pieces)
        return self._builder.take()
