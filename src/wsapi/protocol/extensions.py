"""Frame-level extensions plugged into wsproto: bounded permessage-deflate and the size limit.

wsproto decompresses without a bound, so a few kilobytes of "compressed bomb"
can expand to gigabytes in one call. ``BoundedDeflate`` decompresses with
``max_length`` and fails the connection with 1009 as soon as a message would
exceed ``max_message_size``; ``SizeLimit`` applies the same limit to messages
that are not compressed, refusing a frame whose header announces too much
before a single payload byte is buffered.
"""

from __future__ import annotations

import zlib

from wsproto.extensions import Extension, PerMessageDeflate
from wsproto.frame_protocol import CloseReason, FrameDecoder, FrameProtocol, Opcode, RsvBits

__all__ = ["BoundedDeflate", "SizeLimit", "parse_deflate_response", "DEFLATE_OFFER"]

#: What the client offers: the default windows, and it lets the server pick ours.
DEFLATE_OFFER = "permessage-deflate; client_max_window_bits"

_SYNC_TAIL = b"\x00\x00\xff\xff"
_NO_RSV = RsvBits(False, False, False)


class BoundedDeflate(PerMessageDeflate):
    """permessage-deflate (RFC 7692) whose decompression never exceeds ``max_size``."""

    def __init__(self, max_size: int | None) -> None:
        super().__init__()
        self._max_size = max_size
        self._inflated = 0  # bytes produced so far for the current message

    def frame_inbound_header(
        self,
        proto: FrameDecoder | FrameProtocol,
        opcode: Opcode,
        rsv: RsvBits,
        payload_length: int,
    ) -> CloseReason | RsvBits:
        # wsproto's version records a control frame's RSV1 (False) as the
        # state of the next message, which then goes undecompressed: a control
        # frame must leave the message state alone.
        if opcode.iscontrol():
            if rsv.rsv1:
                return CloseReason.PROTOCOL_ERROR
            self._inbound_is_compressible = False
            return RsvBits(True, False, False)
        return super().frame_inbound_header(proto, opcode, rsv, payload_length)

    def _inflate(self, data: bytes) -> bytes | CloseReason:
        assert self._decompressor is not None
        # 0 is zlib's "no limit"; one byte more than allowed tells "exactly at
        # the limit" from "past it".
        limit = 0 if self._max_size is None else self._max_size - self._inflated + 1
        try:
            out = self._decompressor.decompress(data, limit)
        except zlib.error:
            return CloseReason.INVALID_FRAME_PAYLOAD_DATA
        self._inflated += len(out)
        if self._max_size is not None and (
            self._inflated > self._max_size or self._decompressor.unconsumed_tail
        ):
            return CloseReason.MESSAGE_TOO_BIG
        return out

    def frame_inbound_payload_data(
        self, proto: FrameDecoder | FrameProtocol, data: bytes
    ) -> bytes | CloseReason:
        if not self._inbound_compressed or not self._inbound_is_compressible:
            return data
        return self._inflate(data)

    def frame_inbound_complete(
        self, proto: FrameDecoder | FrameProtocol, fin: bool
    ) -> bytes | CloseReason | None:
        # A control frame may arrive between the fragments of a compressed
        # message: it must not reset the message's state (wsproto's does).
        if not self._inbound_is_compressible or not fin:
            return None
        if not self._inbound_compressed:
            self._inbound_compressed = None
            return None
        result = self._inflate(_SYNC_TAIL)
        if isinstance(result, CloseReason):
            return result
        if self.server_no_context_takeover or (
            self._decompressor is not None and self._decompressor.eof
        ):
            # A message may end its deflate stream with a final block (RFC 7692
            # 7.2.3.4): the next one then starts a new stream.
            self._decompressor = None
        self._inbound_compressed = None
        self._inflated = 0
        return result


class SizeLimit(Extension):
    """Fails the connection with 1009 when a message exceeds ``max_size`` bytes.

    Never offered nor negotiated: wsapi installs it on every connection, after
    ``BoundedDeflate`` so that it counts decompressed bytes.
    """

    name = "wsapi-size-limit"

    def __init__(self, max_size: int) -> None:
        self._max_size = max_size
        self._received = 0  # payload bytes of the current message
        self._control = False
        self._compressed = False

    def enabled(self) -> bool:
        return True

    def offer(self) -> bool | str:
        return False

    def frame_inbound_header(
        self,
        proto: FrameDecoder | FrameProtocol,
        opcode: Opcode,
        rsv: RsvBits,
        payload_length: int,
    ) -> CloseReason | RsvBits:
        self._control = opcode.iscontrol()
        if self._control:
            return _NO_RSV
        if opcode is not Opcode.CONTINUATION:
            self._compressed = rsv.rsv1
        # A compressed frame may be a little larger than what it inflates to;
        # BoundedDeflate counts those exactly, so only plain frames are judged here.
        if not self._compressed and self._received + payload_length > self._max_size:
            return CloseReason.MESSAGE_TOO_BIG
        return _NO_RSV

    def frame_inbound_payload_data(
        self, proto: FrameDecoder | FrameProtocol, data: bytes
    ) -> bytes | CloseReason:
        if not self._control:
            self._received += len(data)
            if self._received > self._max_size:
                return CloseReason.MESSAGE_TOO_BIG
        return data

    def frame_inbound_complete(
        self, proto: FrameDecoder | FrameProtocol, fin: bool
    ) -> bytes | CloseReason | None:
        if fin and not self._control:
            self._received = 0
        return None


def parse_deflate_response(value: str, max_size: int | None) -> BoundedDeflate:
    """Check the server's permessage-deflate parameters and build the extension.

    Raises ``ValueError`` with a readable message for anything RFC 7692 forbids
    in a response to our offer.
    """
    name, *params = (part.strip() for part in value.split(";"))
    if name.lower() != PerMessageDeflate.name:
        raise ValueError(f"unknown extension {name!r}")
    ext = BoundedDeflate(max_size)
    seen: set[str] = set()
    for param in params:
        key, _, raw = param.partition("=")
        key = key.strip().lower()
        raw = raw.strip().strip('"')
        if key in seen:
            raise ValueError(f"parameter {key!r} given twice")
        seen.add(key)
        if key in ("server_no_context_takeover", "client_no_context_takeover"):
            if raw:
                raise ValueError(f"parameter {key!r} takes no value")
            setattr(ext, key, True)
        elif key in ("server_max_window_bits", "client_max_window_bits"):
            # RFC 7692 7.1.2.1: a decimal integer without leading zeroes.
            if not (raw.isascii() and raw.isdigit()) or raw[0] == "0" or not 8 <= int(raw) <= 15:
                raise ValueError(f"{key}={raw!r} is not a window size from 8 to 15")
            # zlib cannot use an 8-bit window for raw deflate; 9 is compatible.
            setattr(ext, key, max(9, int(raw)))
        else:
            raise ValueError(f"unknown parameter {key!r}")
    # Enables the extension; the parameters were validated above.
    ext.finalize("permessage-deflate")
    return ext
