"""Reading the payload of a large message straight into the message (``recv_into``).

While a large binary message arrives in a single frame, the protocol core
offers the rest of its buffer (``ClientProtocol.receive_buffer()``). On plain
TCP the socket then reads into it directly: no bytes object per read, no copy
into the message, and no fresh pages to map for either (see
``protocol/bigframe.py``). Everything else is read the usual way.

- On asyncio, ``InPlaceReader`` stands in for the inline receiver (inline.py)
  as the transport's protocol while such a frame is incomplete: asyncio sees a
  ``BufferedProtocol`` and reads into ``get_buffer()``'s memory; once the frame
  is whole, the inline receiver is put back.
- On trio, the reader task reads the socket itself (trio_reader.py) and uses
  ``recv_into()`` then.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ..protocol.bigframe import WritableBuffer
from .inline import InlineReceiver

__all__ = ["InPlaceReader"]

#: What asyncio reads into if the protocol has no buffer to offer after all.
SPARE_SIZE = 64 * 1024


class InPlaceReader(asyncio.BufferedProtocol):
    """The asyncio protocol of a connection while a large frame is read into place."""

    def __init__(
        self,
        receiver: InlineReceiver,
        buffer: Callable[[], WritableBuffer | None],
        filled: Callable[[int], None],
    ) -> None:
        self._receiver = receiver
        self._buffer = buffer
        self._filled = filled
        # Where asyncio read to when the protocol had no buffer to offer (not expected).
        self._spare: bytearray | None = None

    def get_buffer(self, sizehint: int) -> WritableBuffer | bytearray:
        buffer = self._buffer()
        if buffer is not None:
            return buffer
        self._spare = bytearray(SPARE_SIZE)
        return self._spare

    def buffer_updated(self, nbytes: int) -> None:
        spare, self._spare = self._spare, None
        if spare is not None:
            self._receiver.take_over()
            self._receiver.data_received(bytes(spare[:nbytes]))
            return
        self._filled(nbytes)
        if self._buffer() is None:
            self._receiver.take_over()

    def eof_received(self) -> bool | None:
        return self._receiver.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._receiver.connection_lost(exc)

    def pause_writing(self) -> None:
        self._receiver.pause_writing()

    def resume_writing(self) -> None:
        self._receiver.resume_writing()
