"""The usual closing handshake without wsproto: our Close frame out, the server's echo in.

Most connections end the same way: the client sends a Close frame and the
server answers with one, alone in its packet. wsproto's connection object (its
frame parser and state, made on first use) costs more than that whole exchange,
so ``ClientProtocol`` encodes its Close frame here and reads the answer here
when it is one well-formed frame. Anything else, a Close frame split across
reads, a frame after it, a reserved code, a reason that is not UTF-8, goes to
wsproto, which decides and reports exactly as before.

>>> frame = encode_close(1000, "bye")
>>> frame[:2], len(frame)
(b'\\x88\\x85', 11)
>>> read_close(b"\\x88\\x02\\x03\\xe8")
(1000, '')
>>> read_close(b"\\x88\\x00")  # no status code: 1005, as RFC 6455 7.1.5 says
(1005, '')
>>> read_close(b"\\x88\\x02\\x03\\xec") is None  # 1004 is reserved: wsproto fails it
True
"""

from __future__ import annotations

from wsproto.frame_protocol import CloseReason

from .framing import encode_frame

__all__ = ["REGISTERED_CLOSE_CODES", "encode_close", "read_close"]

#: Registered codes wsproto's CloseReason lacks (IANA WebSocket Close Code Registry):
#: 1014, Bad Gateway. Browsers accept them; so does wsapi.
REGISTERED_CLOSE_CODES = frozenset({1014})

_LOCAL_ONLY = frozenset({1005, 1006, 1015})  # never sent on the wire (RFC 6455 7.4.1)

#: The codes wsproto's parser (with wsapi's registered additions) accepts from a server.
_ACCEPTED = (
    frozenset(int(code) for code in CloseReason if int(code) not in _LOCAL_ONLY)
    | REGISTERED_CLOSE_CODES
    | frozenset(range(3000, 5000))
)

_MAX_REASON = 123  # a control frame carries 125 bytes, two of them the code


def encode_close(code: int | None, reason: str) -> bytes | None:
    """Our Close frame, byte for byte what wsproto sends (with a fresh mask), or None.

    None (the caller asks wsproto, which raises) for a reason without a code.
    wsproto's rules: ``CloseReason.NO_STATUS_RCVD`` means no code at all, a
    local-only code becomes 1000, a reason is cut to 123 bytes of whole characters.
    """
    if code is CloseReason.NO_STATUS_RCVD:
        code = None
    if code is None:
        return None if reason else encode_frame(0x8, b"")
    if code in _LOCAL_ONLY:
        code = 1000
    encoded = reason.encode("utf-8")
    if len(encoded) > _MAX_REASON:
        encoded = encoded[:_MAX_REASON].decode("utf-8", errors="ignore").encode("utf-8")
    return encode_frame(0x8, code.to_bytes(2, "big") + encoded)


def read_close(data: bytes) -> tuple[int, str] | None:
    """The code and reason if ``data`` is exactly one valid unmasked Close frame, else None."""
    if len(data) < 2 or data[0] != 0x88:
        return None  # not a final Close frame without RSV bits
    length = data[1]
    if length > 125 or len(data) != 2 + length:
        return None  # masked, too long, incomplete, or followed by more
    if length == 0:
        return 1005, ""
    if length == 1:
        return None  # invalid: wsproto fails the connection with 1002
    code = (data[2] << 8) | data[3]
    if code not in _ACCEPTED:
        return None
    try:
        return code, data[4:].decode("utf-8")
    except UnicodeDecodeError:
        return None
