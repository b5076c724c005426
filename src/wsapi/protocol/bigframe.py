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
>>> frame.done, len(frame.message()), frame.message()[-1:]
(True, 4096, b'y')
"""

from __future__ import annotations

import codecs

__all__ = ["FrameInProgress"]

#: Frames shorter than this stay with wsproto when they span reads: not worth the set-up.
MIN_LENGTH = 4096
#: Without ``max_message_size``, larger frames stay with wsproto, which allocates as
#: the bytes come rather than all at once on the word of a header.
MAX_UNLIMITED = 16 * 2**20

_utf8_decoder = codecs.getincrementaldecoder("utf-8")


class FrameInProgress:
    """The payload of one simple data frame, filled in as the reads come."""

    __slots__ = ("_buffer", "_decoder", "_filled", "_pieces", "remaining", "text")

    def __init__(self, text: bool, length: int) -> None:
        #: A text message (decoded as it comes), or binary.
        self.text = text
        #: Payload bytes still to come.
        self.remaining = length
        self._filled = 0
        # Binary: the message itself. Text: decoded pieces (the decoder keeps
        # the few bytes of a character cut between two reads).
        self._buffer = bytearray(0 if text else length)
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
            filled = self._filled
            self._buffer[filled : filled + used] = data if used == len(data) else data[:used]
            self._filled = filled + used
            self.remaining -= used
        return used

    def writable(self) -> memoryview | None:
        """Where the socket may read the rest of a binary payload to (None for text)."""
        if self.text or not self.remaining:
            return None
        return memoryview(self._buffer)[self._filled :]

    def advance(self, count: int) -> None:
        """``count`` bytes were read into ``writable()``."""
        self._filled += count
        self.remaining -= count

    def message(self) -> str | bytes:
        """The whole message (once ``done``)."""
        if self.text:
            return "".join(self._pieces)
        return bytes(self._buffer)
