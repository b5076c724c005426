"""Scripted raw-socket WebSocket servers, for misbehaviour real servers won't produce.

A ``ScriptedServer(script)`` listens on 127.0.0.1 (or ::1), port 0, in a daemon
thread, and runs ``script(conn)`` in its own daemon thread for every accepted
connection. Scripts use the blocking helpers of ``RawConnection`` (plain
``socket`` module, no event loop), so the server works the same for tests on
asyncio and on trio::

    def script(conn: RawConnection) -> None:
        conn.accept()
        conn.send_frame(Opcode.TEXT, b"hello")
        assert conn.read_close() == (1000, "")

    with ScriptedServer(script) as server:
        ...  # connect a client to server.url("/")

Exceptions raised by scripts are collected in ``server.errors``; leaving the
``with`` block waits (up to ``stop_timeout``) for running scripts to finish and
raises ``ScriptError`` if any script failed or did not finish, so a test cannot
pass while its server script failed. When a script returns without closing
its connection, the server closes it gracefully (FIN, then waits for the
client's EOF) so that data the script sent is not lost to a TCP reset.
"""

from __future__ import annotations

import base64
import contextlib
import enum
import functools
import hashlib
import os
import selectors
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType

from tests.peers import check_loopback, url_host

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

#: Default timeout in seconds for blocking reads in scripts.
DEFAULT_TIMEOUT = 5.0

#: read_frame refuses frames announcing more than this many bytes (protects the test process).
MAX_READ_FRAME = 256 * 2**20

_MAX_REQUEST_HEAD = 64 * 1024


class Opcode(enum.IntEnum):
    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


@dataclass(frozen=True)
class Frame:
    """A frame read from the client; ``payload`` is already unmasked."""

    fin: bool
    opcode: int
    payload: bytes
    rsv1: bool = False
    rsv2: bool = False
    rsv3: bool = False
    masked: bool = False

    @property
    def text(self) -> str:
        return self.payload.decode("utf-8")


class ScriptError(Exception):
    """A scripted server's script raised an exception or did not finish in time."""


# Module-level helpers


def sec_websocket_accept(key: str) -> str:
    """The Sec-WebSocket-Accept value for a Sec-WebSocket-Key."""
    digest = hashlib.sha1((key + WS_GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def apply_mask(data: bytes, key: bytes) -> bytes:
    """XOR ``data`` with the 4-byte masking ``key`` (masking and unmasking are the same)."""
    if len(key) != 4:
        raise ValueError("a masking key is 4 bytes")
    if not data:
        return b""
    n = len(data)
    repeated = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big")


def frame_bytes(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv1: bool = False,
    rsv2: bool = False,
    rsv3: bool = False,
    mask: bool = False,
    mask_key: bytes | None = None,
    length: int | None = None,
    length_bits: int | None = None,
) -> bytes:
    """Encode one frame, valid or not.

    ``opcode`` may be any 4-bit value (reserved ones included). ``length`` overrides
    the announced payload length (e.g. ``2**63`` to lie about it); ``length_bits``
    (7, 16 or 64) forces the length encoding, e.g. a non-minimal 64-bit length for
    a short payload. Server frames are unmasked unless ``mask`` (random key unless
    ``mask_key``).
    """
    if not 0 <= opcode <= 0xF:
        raise ValueError(f"opcode must fit in 4 bits: {opcode}")
    announced = len(payload) if length is None else length
    if length_bits is None:
        length_bits = 7 if announced <= 125 else 16 if announced <= 0xFFFF else 64
    first = (fin << 7) | (rsv1 << 6) | (rsv2 << 5) | (rsv3 << 4) | opcode
    mask_bit = 0x80 if mask else 0
    if length_bits == 7:
        if announced > 125:
            raise ValueError("a 7-bit length is at most 125")
        header = bytes([first, mask_bit | announced])
    elif length_bits == 16:
        header = bytes([first, mask_bit | 126]) + announced.to_bytes(2, "big")
    elif length_bits == 64:
        header = bytes([first, mask_bit | 127]) + announced.to_bytes(8, "big")
    else:
        raise ValueError(f"length_bits must be 7, 16 or 64, not {length_bits}")
    if mask:
        key = os.urandom(4) if mask_key is None else mask_key
        return header + key + apply_mask(payload, key)
    return header + payload


def close_payload(code: int, reason: str | bytes = "") -> bytes:
    """Payload of a Close frame: 2-byte code then reason (bytes are sent as given)."""
    raw_reason = reason.encode("utf-8") if isinstance(reason, str) else reason
    return code.to_bytes(2, "big") + raw_reason


def deflate_payload(data: bytes, *, window_bits: int = 15) -> bytes:
    """Compress one message as permessage-deflate does (raw deflate, no context takeover).

    The trailing ``00 00 ff ff`` of the sync flush is stripped, as RFC 7692 requires.
    Send the result in a frame with ``rsv1=True``.
    """
    compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -window_bits)
    compressed = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert compressed.endswith(b"\x00\x00\xff\xff")
    return compressed[:-4]


@functools.lru_cache(maxsize=8)
def deflate_bomb(size: int = 100 * 2**20, *, fill: int = 0, chunk_size: int = 2**20) -> bytes:
    """A permessage-deflate payload (trailer stripped) that inflates to ``size`` bytes.

    Every byte is ``fill`` (zeros by default). Built by streaming ``chunk_size``
    blocks through ``zlib.compressobj(wbits=-15)``, so it never holds ``size``
    bytes in memory; 100 MiB compresses to about 100 KiB. Results are cached.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = memoryview(bytes([fill]) * min(chunk_size, size))
    parts: list[bytes] = []
    remaining = size
    while remaining:
        n = min(remaining, len(block))
        parts.append(compressor.compress(block[:n]))
        remaining -= n
    parts.append(compressor.flush(zlib.Z_SYNC_FLUSH))
    compressed = b"".join(parts)
    assert compressed.endswith(b"\x00\x00\xff\xff")
    return compressed[:-4]


def _parse_close(payload: bytes) -> tuple[int | None, str]:
    if not payload:
        return None, ""
    if len(payload) == 1:
        raise ValueError(f"Close frame with a 1-byte payload: {payload!r}")
    return int.from_bytes(payload[:2], "big"), payload[2:].decode("utf-8", "replace")


class RawConnection:
    """One accepted TCP connection, driven by a script with blocking helpers.

    Reads take a ``timeout`` (seconds) and raise ``TimeoutError`` when it expires.
    A TCP reset from the client counts as EOF (``reset`` is then True).
    """

    def __init__(self, sock: socket.socket, address: tuple[str, int]) -> None:
        self.sock = sock
        self.address = address
        self.request_line: str | None = None
        self.headers: dict[str, str] | None = None
        #: Non-Close frames that read_close() skipped while waiting for the Close frame.
        self.skipped_frames: list[Frame] = []
        self.eof = False
        self.reset = False
        self.closed = False
        self.send_timeout = 10.0
        self.script_done = threading.Event()
        self._buffer = bytearray()
        self._lock = threading.Lock()

    # Reading

    def _recv_some(self, deadline: float) -> bool:
        """Receive more bytes into the buffer; False on EOF (or reset)."""
        if self.eof:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("timed out waiting for data from the client")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            self.reset = True
            data = b""
        except TimeoutError:
            raise TimeoutError("timed out waiting for data from the client") from None
        if not data:
            self.eof = True
            return False
        self._buffer += data
        return True

    def _read_exactly(self, n: int, deadline: float) -> bytes | None:
        """``n`` bytes, or None on EOF before the first of them; EOFError if cut short."""
        while len(self._buffer) < n:
            if not self._recv_some(deadline):
                if not self._buffer:
                    return None
                raise EOFError(f"EOF after {len(self._buffer)} of {n} expected bytes")
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    def read_request(self, timeout: float = DEFAULT_TIMEOUT) -> tuple[str, dict[str, str]]:
        """Read the HTTP request head: ``(request_line, headers)``, names lower-cased.

        Repeated headers are joined with ``", "``. Bytes after the head stay
        buffered for read_frame().
        """
        deadline = time.monotonic() + timeout
        while (end := self._buffer.find(b"\r\n\r\n")) < 0:
            if len(self._buffer) > _MAX_REQUEST_HEAD:
                raise ValueError("request head larger than 64 KiB")
            if not self._recv_some(deadline):
                raise EOFError(f"EOF before the end of the request head: {bytes(self._buffer)!r}")
        head = bytes(self._buffer[:end]).decode("latin-1")
        del self._buffer[: end + 4]
        request_line, *lines = head.split("\r\n")
        headers: dict[str, str] = {}
        for line in lines:
            name, sep, value = line.partition(":")
            if not sep:
                raise ValueError(f"malformed header line: {line!r}")
            key = name.strip().lower()
            value = value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        self.request_line, self.headers = request_line, headers
        return request_line, headers

    @property
    def path(self) -> str:
        """Request target of the request line (after read_request())."""
        if self.request_line is None:
            raise RuntimeError("read_request() first")
        parts = self.request_line.split(" ")
        return parts[1] if len(parts) > 1 else ""

    def read_frame(self, timeout: float = DEFAULT_TIMEOUT) -> Frame | None:
        """Read one frame, unmasking it; None on EOF between frames, EOFError within one."""
        deadline = time.monotonic() + timeout
        head = self._read_exactly(2, deadline)
        if head is None:
            return None

        def more(n: int) -> bytes:
            data = self._read_exactly(n, deadline)
            if data is None:
                raise EOFError("EOF in the middle of a frame")
            return data

        first, second = head
        length = second & 0x7F
        if length == 126:
            length = int.from_bytes(more(2), "big")
        elif length == 127:
            length = int.from_bytes(more(8), "big")
        if length > MAX_READ_FRAME:
            raise ValueError(f"client frame announces {length} bytes; refusing to read it")
        masked = bool(second & 0x80)
        key = more(4) if masked else b""
        payload = more(length) if length else b""
        if masked:
            payload = apply_mask(payload, key)
        return Frame(
            fin=bool(first & 0x80),
            opcode=first & 0x0F,
            payload=payload,
            rsv1=bool(first & 0x40),
            rsv2=bool(first & 0x20),
            rsv3=bool(first & 0x10),
            masked=masked,
        )

    def read_close(self, timeout: float = DEFAULT_TIMEOUT) -> tuple[int | None, str] | None:
        """Read frames until a Close frame: ``(code, reason)``; code None if it had no payload.

        Returns None on EOF before a Close frame. Other frames go to ``skipped_frames``.
        """
        deadline = time.monotonic() + timeout
        while True:
            frame = self.read_frame(max(deadline - time.monotonic(), 0.0))
            if frame is None:
                return None
            if frame.opcode == Opcode.CLOSE:
                return _parse_close(frame.payload)
            self.skipped_frames.append(frame)

    def wait_eof(self, timeout: float = DEFAULT_TIMEOUT) -> bytes:
        """Read until the client closes its side; returns the bytes that came before EOF."""
        deadline = time.monotonic() + timeout
        while self._recv_some(deadline):
            pass
        data = bytes(self._buffer)
        self._buffer.clear()
        return data

    # Writing

    def send_raw(self, data: bytes) -> None:
        self.sock.settimeout(self.send_timeout)
        self.sock.sendall(data)

    def accept(
        self,
        extra_headers: Iterable[tuple[str, str]] = (),
        subprotocol: str | None = None,
        extensions: str | None = None,
        accept_key: str | None = None,
    ) -> None:
        """Send a 101 response (reading the request first if needed).

        Sec-WebSocket-Accept is computed from the request's key unless ``accept_key``
        is given (to send a wrong one). ``subprotocol`` and ``extensions`` become
        Sec-WebSocket-Protocol and Sec-WebSocket-Extensions.
        """
        if self.headers is None:
            self.read_request()
        assert self.headers is not None
        if accept_key is None:
            accept_key = sec_websocket_accept(self.headers.get("sec-websocket-key", ""))
        lines = [
            "HTTP/1.1 101 Switching Protocols",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Accept: {accept_key}",
        ]
        if subprotocol is not None:
            lines.append(f"Sec-WebSocket-Protocol: {subprotocol}")
        if extensions is not None:
            lines.append(f"Sec-WebSocket-Extensions: {extensions}")
        lines.extend(f"{name}: {value}" for name, value in extra_headers)
        self.send_raw(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def respond(
        self,
        status: int,
        reason: str = "Error",
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> None:
        """Send a plain HTTP response (e.g. a refusal) with a Content-Length header."""
        if self.headers is None:
            self.read_request()
        lines = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}"]
        lines.extend(f"{name}: {value}" for name, value in headers)
        self.send_raw(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    def send_frame(
        self,
        opcode: int,
        payload: bytes = b"",
        fin: bool = True,
        rsv1: bool = False,
        rsv2: bool = False,
        rsv3: bool = False,
        mask: bool = False,
        length: int | None = None,
    ) -> None:
        """Send one frame; see frame_bytes() (``length`` lies about the payload length)."""
        self.send_raw(
            frame_bytes(
                opcode, payload, fin=fin, rsv1=rsv1, rsv2=rsv2, rsv3=rsv3, mask=mask, length=length
            )
        )

    def send_close(self, code: int | None = 1000, reason: str | bytes = "") -> None:
        """Send a Close frame; ``code=None`` sends one with an empty payload."""
        payload = b"" if code is None else close_payload(code, reason)
        self.send_frame(Opcode.CLOSE, payload)

    def close_handshake(
        self, code: int | None = 1000, reason: str = "", timeout: float = DEFAULT_TIMEOUT
    ) -> tuple[int | None, str] | None:
        """Send a Close frame and return the client's (see read_close())."""
        self.send_close(code, reason)
        return self.read_close(timeout)

    # Ending the connection

    def shutdown_write(self) -> None:
        """Half-close: send FIN, keep reading."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        """Close the socket (idempotent)."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
        self.sock.close()

    def abort(self) -> None:
        """Close with a TCP reset (SO_LINGER 0) instead of a FIN."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def _finish(self, linger: float) -> None:
        """After the script: FIN, wait for the client's EOF, close (unless already closed)."""
        if self.closed:
            return
        self.shutdown_write()
        with contextlib.suppress(OSError, TimeoutError):
            self.wait_eof(linger)
        self.close()

    def _interrupt(self) -> None:
        """Wake a script blocked on this socket (from another thread) without closing the fd."""
        if not self.closed:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)


Script = Callable[[RawConnection], None]


class ScriptedServer:
    """Listening socket on loopback, port 0; runs ``script(conn)`` per accepted connection.

    ``stop_timeout``: how long leaving the ``with`` block waits for running scripts
    (also how long a finished script's connection waits for the client's EOF).
    With ``raise_errors`` (default), leaving the block raises ``ScriptError`` when a
    script failed or was still running; otherwise inspect ``errors``.
    """

    def __init__(
        self,
        script: Script,
        *,
        host: str = "127.0.0.1",
        stop_timeout: float = 5.0,
        raise_errors: bool = True,
    ) -> None:
        self.script = script
        self.host = check_loopback(host)
        self.stop_timeout = stop_timeout
        self.raise_errors = raise_errors
        self.port = 0
        self.connections: list[RawConnection] = []
        self.errors: list[BaseException] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._listener: socket.socket | None = None
        self._wakeup_r: socket.socket | None = None
        self._wakeup_w: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self._stopped = False

    def url(self, path: str = "/") -> str:
        if not self.port:
            raise RuntimeError("the scripted server is not running")
        return f"ws://{url_host(self.host)}:{self.port}{path}"

    def __enter__(self) -> ScriptedServer:
        if self._stopped or self._listener is not None:
            raise RuntimeError("a ScriptedServer can only be started once")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            listener.bind((self.host, 0))
            listener.listen(16)
        except BaseException:
            listener.close()
            raise
        listener.setblocking(False)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._wakeup_r, self._wakeup_w = socket.socketpair()
        self._acceptor = threading.Thread(
            target=self._accept_loop, name=f"scripted-server-{self.port}", daemon=True
        )
        self._acceptor.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        if self.raise_errors and self.errors:
            error = self._script_error()
            if exc is None:
                raise error from self.errors[0]
            add_note = getattr(exc, "add_note", None)
            if add_note is not None:
                add_note(f"and the scripted server failed too: {error}")

    def stop(self) -> None:
        """Stop accepting, wait for scripts, close every connection (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        if self._acceptor is not None:
            assert self._wakeup_w is not None
            with contextlib.suppress(OSError):
                self._wakeup_w.send(b"x")
            self._acceptor.join(self.stop_timeout)
            self._acceptor = None
        for sock in (self._listener, self._wakeup_r, self._wakeup_w):
            if sock is not None:
                sock.close()
        self._listener = self._wakeup_r = self._wakeup_w = None

        deadline = time.monotonic() + self.stop_timeout
        with self._lock:
            connections = list(self.connections)
            threads = list(self._threads)
        for conn in connections:
            if not conn.script_done.wait(max(deadline - time.monotonic(), 0.0)):
                with self._lock:
                    self.errors.append(
                        TimeoutError(
                            f"script for {conn.address} still running {self.stop_timeout} s "
                            "after the server was asked to stop; its socket was shut down"
                        )
                    )
        for conn in connections:
            conn._interrupt()
        for thread in threads:
            thread.join(self.stop_timeout)
        for conn in connections:
            conn.close()
        self.port = 0

    def wait_connections(self, count: int = 1, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Block until ``count`` connections have been accepted."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.connections) >= count, timeout):
                raise TimeoutError(
                    f"{len(self.connections)} of {count} connections accepted in {timeout} s"
                )

    def wait_scripts(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Block until every accepted connection's script returned; then check()."""
        deadline = time.monotonic() + timeout
        with self._lock:
            connections = list(self.connections)
        for conn in connections:
            if not conn.script_done.wait(max(deadline - time.monotonic(), 0.0)):
                raise TimeoutError(f"script for {conn.address} still running after {timeout} s")
        self.check()

    def check(self) -> None:
        """Raise ScriptError if a script failed so far."""
        if self.errors:
            raise self._script_error() from self.errors[0]

    def _script_error(self) -> ScriptError:
        with self._lock:
            errors = list(self.errors)
        summary = "; ".join(f"{type(e).__name__}: {e}" for e in errors)
        return ScriptError(f"{len(errors)} scripted server error(s): {summary}")

    def _accept_loop(self) -> None:
        assert self._listener is not None and self._wakeup_r is not None
        listener = self._listener
        with selectors.DefaultSelector() as selector:
            selector.register(listener, selectors.EVENT_READ)
            selector.register(self._wakeup_r, selectors.EVENT_READ)
            while True:
                events = selector.select()
                if any(key.fileobj is self._wakeup_r for key, _ in events):
                    return
                try:
                    sock, address = listener.accept()
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError as exc:
                    with self._lock:
                        self.errors.append(exc)
                    return
                sock.setblocking(True)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conn = RawConnection(sock, address[:2])
                thread = threading.Thread(
                    target=self._run_script,
                    args=(conn,),
                    name=f"scripted-connection-{address[1]}",
                    daemon=True,
                )
                with self._changed:
                    self.connections.append(conn)
                    self._threads.append(thread)
                    self._changed.notify_all()
                thread.start()

    def _run_script(self, conn: RawConnection) -> None:
        try:
            self.script(conn)
        except BaseException as exc:
            with self._lock:
                self.errors.append(exc)
        finally:
            conn.script_done.set()
            conn._finish(self.stop_timeout)
