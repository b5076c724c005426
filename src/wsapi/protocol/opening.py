"""The opening handshake's HTTP: the upgrade request written, the server's answer read.

``OpeningHandshake`` has one job: while the connection is CONNECTING, turn the
bytes the server sends into one outcome. ``Accepted``: the server switched
protocols (a ``101``); here are its response and the bytes that came after
the head (frames the server sent at once). ``Failure``: a refusal, an answer
that is not HTTP or never ends, the connection closed first. Until then
``receive_data()`` returns None. What the ``101`` says (subprotocol,
extensions, the accept key) is ``ClientProtocol``'s to check
(``handshake.check_accept``): it sets up the frames. ``OpeningHandshake``
knows nothing of frames or of the connection's state; ``ClientProtocol`` feeds
it, acts on the outcome and drops it (an open connection keeps no HTTP state).

The HTTP is spoken through h11 (see ``handshake``), except for the plain case
every open takes: the request head is written and a plain ``101`` answer
parsed by ``http`` (no h11 object is made then). Anything else, from a refusal
to a malformed or oversized head, is handed to h11 as it arrives, so h11 still
decides every error.
"""

from __future__ import annotations

from dataclasses import dataclass

import h11

from ..errors import ConnectionAborted, ConnectionFailed, InvalidHandshake, InvalidStatus
from ..response import Response
from .handshake import (
    HandshakeRequest,
    as_response,
    build_request,
    not_http_error,
    request_fields,
)
from .http import parse_switching_protocols, write_request_head
from .status import explain_status

__all__ = ["MAX_HEADER_SIZE", "Accepted", "Failure", "OpeningHandshake"]

#: Largest response head (status line and headers) accepted from the server.
MAX_HEADER_SIZE = 16 * 1024

# False sends every handshake through h11 (the tests compare both routes).
_fast_http = True


#: The server switched protocols: its ``101`` response, and the bytes that came
#: after the head. (A pair rather than a class: it is made at every open, and a
#: tuple costs a fraction of an object with an ``__init__``.)
Accepted = tuple[Response, bytes]


@dataclass(frozen=True, slots=True)
class Failure:
    """The opening handshake failed: ``error`` says why.

    ``response`` is the server's refusal when it gave a whole one; None
    otherwise. A refusal cut short by the end of the connection is only in the
    error.
    """

    error: ConnectionFailed
    response: Response | None = None


class OpeningHandshake:
    """The upgrade request's head (``request_head``), and the reading of its answer.

    >>> from wsapi.protocol.handshake import HandshakeRequest
    >>> request = HandshakeRequest("ws://example.com/", "example.com", "/")
    >>> opening = OpeningHandshake(request, max_body_size=1000)
    >>> opening.request_head.startswith(b"GET / HTTP/1.1\\r\\nHost: example.com\\r\\n")
    True
    >>> opening.receive_data(b"HTTP/1.1 404 Not Found\\r\\n") is None  # more to come
    True
    >>> outcome = opening.receive_data(b"Content-Length: 2\\r\\n\\r\\nno")
    >>> type(outcome).__name__, outcome.response.status, outcome.response.body
    ('Failure', 404, b'no')
    """

    # One per connection attempt: slots keep it small (see ClientProtocol).
    __slots__ = (
        "_body",
        "_eof",
        "_first_bytes",
        "_h11",
        "_head",
        "_refusal",
        "max_body_size",
        "request",
        "request_head",
    )

    def __init__(self, request: HandshakeRequest, max_body_size: int) -> None:
        self.request = request
        self.max_body_size = max_body_size  # a refusal's body is cut there
        # The first bytes the server sent, to recognise "not HTTP at all".
        self._first_bytes = b""
        # The server closed the connection: h11's errors may only mean a cut answer.
        self._eof = False
        # A refusal being read: its head, and the body so far (a bytearray from
        # the head on: most answers are no refusal, and need none).
        self._refusal: h11.Response | None = None
        self._body: bytes | bytearray = b""
        # The request's head: written directly when plain, else by h11. Both give
        # the same bytes; h11 also raises the errors for invalid input.
        head = write_request_head(request.resource, request_fields(request)) if _fast_http else None
        if head is not None:
            # The answer is read on the fast path (see receive_data): its head so far.
            self._head: bytearray | None = bytearray()
            # h11's connection, made only if the answer leaves the fast path.
            self._h11: h11.Connection | None = None
        else:
            self._head = None  # h11 reads the answer too: it knows this request
            self._h11 = conn = _new_h11()
            try:
                head = conn.send(build_request(request)) or b""
            except h11.LocalProtocolError as exc:
                raise ValueError(f"invalid request header: {exc}") from exc
        #: The request's head, for the caller to send (and keep, as sent).
        self.request_head = head

    # -- input -----------------------------------------------------------------

    def receive_data(self, data: bytes) -> Accepted | Failure | None:
        """Read ``data`` (not empty) from the server: the outcome, or None until there is one.

        Nothing may be fed once there is an outcome.
        """
        first = self._first_bytes
        if len(first) < 64:
            first = self._first_bytes = first + data[: 64 - len(first)]
            if not _http_prefix(first):
                # Not HTTP at all (a TLS alert, an SSH or SMTP banner): say so
                # now rather than wait for a blank line that will never come.
                return Failure(self._not_http("no HTTP status line"))
        conn = self._h11
        if conn is not None:
            conn.receive_data(data)
            return self._read_h11(conn)
        # The fast path (the code is here, not in a method of its own: it runs
        # at every open). The head is buffered until its blank line, then judged
        # if it is a plain 101. Anything else goes to h11 (_start_h11), which then
        # sees every byte received: a head that is not a plain 101 (a refusal,
        # say), or contains a bare LF (h11 ends lines there), or is larger than
        # h11 accepts unfinished.
        head = self._head
        assert head is not None
        start = len(head)
        head += data
        # Every LF must end a CRLF; the count looks only at the bytes not yet seen.
        if len(head) > MAX_HEADER_SIZE or data.count(b"\n") != head.count(
            b"\r\n", max(start - 1, 0)
        ):
            return self._read_h11(self._start_h11())
        end = head.find(b"\r\n\r\n", max(start - 3, 0))
        if end < 0:
            return None
        response = parse_switching_protocols(head[:end])
        if response is None:
            return self._read_h11(self._start_h11())
        self._head = None
        return response, bytes(head[end + 4 :])

    def receive_eof(self) -> Accepted | Failure:
        """The server closed the connection: how the handshake ended.

        A refusal whose body runs to the end of the connection (no length given)
        is complete now; anything else unfinished is a failure.
        """
        self._eof = True
        conn = self._h11 or self._start_h11()
        conn.receive_data(b"")
        outcome = self._read_h11(conn)
        if outcome is None:
            outcome = Failure(self._eof_during_handshake())
        return outcome

    # -- reading -----------------------------------------------------------------

    def _start_h11(self) -> h11.Connection:
        """Hand the handshake over to h11, in the state our request left it in.

        The request is sent to it again (only to set its state: the same bytes
        went out already), then everything received so far is fed to it.
        """
        conn = self._h11 = _new_h11()
        conn.send(build_request(self.request))
        if self._head:
            conn.receive_data(bytes(self._head))
        self._head = None
        return conn

    def _read_h11(self, conn: h11.Connection) -> Accepted | Failure | None:
        """Read h11's events up to the outcome; None when h11 needs more data first."""
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                if self._eof and (self._refusal is not None or _http_prefix(self._first_bytes)):
                    # h11 reports a premature end of stream as a protocol error.
                    return Failure(self._eof_during_handshake())
                if exc.error_status_hint == 431:
                    return Failure(self._head_too_large())
                return Failure(self._not_http(exc))
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return None
            if isinstance(event, h11.InformationalResponse):
                if event.status_code == 101:
                    return as_response(event), conn.trailing_data[0]
                return self._reject(as_response(event))
            if isinstance(event, h11.Response):
                self._refusal = event
                self._body = bytearray()
            elif isinstance(event, h11.Data):
                room = self.max_body_size - len(self._body)
                self._body += event.data[:room]
                if len(event.data) > room:
                    return self._end_refusal(truncated=True)
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                if self._refusal is None:
                    return Failure(self._eof_during_handshake())
                return self._end_refusal(truncated=False)

    # -- the outcomes ------------------------------------------------------------

    def _end_refusal(self, *, truncated: bool) -> Failure:
        assert self._refusal is not None
        return self._reject(as_response(self._refusal, bytes(self._body), truncated))

    def _reject(self, response: Response) -> Failure:
        cause, fix = explain_status(response)
        return Failure(InvalidStatus(self.request.url, cause, fix, response=response), response)

    def _not_http(self, exc: Exception | str) -> ConnectionFailed:
        return not_http_error(self.request.url, self._first_bytes, exc)

    def _head_too_large(self) -> ConnectionFailed:
        return InvalidHandshake(
            self.request.url,
            f"the server's response head (status line and headers) is larger than "
            f"{MAX_HEADER_SIZE // 1024} KiB, or never ends",
            "A WebSocket server answers the upgrade with a few hundred bytes of headers: "
            "check that the URL points at a WebSocket server and that no proxy in between "
            "adds endless headers.",
        )

    def _eof_during_handshake(self) -> ConnectionFailed:
        if self._refusal is not None:
            return InvalidStatus(
                self.request.url,
                *explain_status(as_response(self._refusal, bytes(self._body), True)),
                response=as_response(self._refusal, bytes(self._body), True),
            )
        if self._first_bytes:
            return InvalidHandshake(
                self.request.url,
                "the server closed the connection in the middle of its answer to the upgrade",
                "The server may have crashed or a proxy may have cut the connection.",
            )
        return ConnectionAborted(
            self.request.url,
            "the server closed the connection without answering the upgrade request",
            "Check that the URL points at a WebSocket server; a wss:// server may also "
            "close plain connections, and a server may drop clients it does not accept.",
        )


def _new_h11() -> h11.Connection:
    return h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEADER_SIZE)


def _http_prefix(head: bytes) -> bool:
    """``head`` is empty or starts like an HTTP status line."""
    return head.startswith(b"HTTP/") or b"HTTP/".startswith(head)
