"""The handshake's HTTP fast path (protocol/http.py) behaves exactly as h11 did.

Every test compares the two routes: the fast one (the default) and h11 alone
(``opening._fast_http = False``, the code as it was). h11 is the oracle: the
request bytes, the events, the ``Response``, the state and every error must be
the same, whichever way the bytes arrive.
"""

from __future__ import annotations

import itertools
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Any

import anyio
import h11
import pytest
from h11 import _abnf
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from wsapi import WebSocket
from wsapi.protocol import handshake, http, opening
from wsapi.protocol.connection import MAX_HEADER_SIZE, ClientProtocol, State
from wsapi.protocol.events import Opened
from wsapi.protocol.handshake import HandshakeRequest, as_response, request_fields
from wsapi.response import Response
from wsapi.testing import echo, serve

from .helpers import (
    ACCEPT,
    PING,
    TEXT,
    accept_response,
    drain_events,
    frame,
    make_request,
    parse_frames,
)

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- the two routes ----------------------------------------------------------------


@contextmanager
def h11_clients() -> Iterator[list[object]]:
    """Record every client-side ``h11.Connection`` the wsapi client makes inside the block.

    (The embedded test server's wsproto makes one of its own, which does not count.)
    """
    made: list[object] = []
    original = h11.Connection.__init__

    def counting(self: h11.Connection, our_role: Any, *args: Any, **kwargs: Any) -> None:
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if our_role is h11.CLIENT and caller.startswith("wsapi.protocol."):
            made.append(self)
        original(self, our_role, *args, **kwargs)

    h11.Connection.__init__ = counting  # type: ignore[method-assign]
    try:
        yield made
    finally:
        h11.Connection.__init__ = original  # type: ignore[method-assign]


@contextmanager
def route(fast: bool) -> Iterator[None]:
    """Run the block on the fast path (the default) or through h11 alone (as before)."""
    saved = opening._fast_http
    opening._fast_http = fast
    try:
        yield
    finally:
        opening._fast_http = saved


def describe(value: object) -> object:
    """Errors compare by type, message and response (exceptions have no ``==``)."""
    if isinstance(value, BaseException):
        return (type(value).__name__, str(value), getattr(value, "response", None))
    return value


def summary(event: object) -> tuple[object, ...]:
    values = (describe(getattr(event, field.name)) for field in fields(event))  # type: ignore[arg-type]
    return (type(event).__name__, *values)


@dataclass
class Outcome:
    """Everything a handshake leaves behind that the transport or the user can see."""

    events: list[tuple[object, ...]]
    state: State
    response: Response | None
    error: object
    subprotocol: str
    extensions: str
    sent: list[tuple[int, bytes]]  # the frames sent after the request (pongs, closes)
    h11_made: int


def run(
    chunks: Sequence[bytes],
    *,
    fast: bool,
    eof: bool = False,
    request: HandshakeRequest | None = None,
) -> Outcome:
    """Feed ``chunks`` (then EOF if asked) to a fresh client on one route."""
    with route(fast), h11_clients() as made:
        client = ClientProtocol(request or make_request())
        client.data_to_send()
        events = []
        for chunk in chunks:
            client.receive_data(chunk)
            events += drain_events(client)
        if eof:
            client.receive_eof()
            events += drain_events(client)
    return Outcome(
        events=[summary(event) for event in events],
        state=client.state,
        response=client.response,
        error=describe(client.error),
        subprotocol=client.subprotocol,
        extensions=client.extensions,
        sent=[(sent.opcode, sent.payload) for sent in parse_frames(client.data_to_send())],
        h11_made=len(made),
    )


def compare(chunks: Sequence[bytes], *, eof: bool = False, **kwargs: Any) -> Outcome:
    """The fast route's outcome, checked equal to h11's (except for the h11 objects made)."""
    fast = run(chunks, fast=True, eof=eof, **kwargs)
    slow = run(chunks, fast=False, eof=eof, **kwargs)
    assert slow.h11_made == 1
    assert {**vars(fast), "h11_made": 1} == vars(slow)
    return fast


def cut(data: bytes, points: Sequence[int]) -> list[bytes]:
    """``data`` split at ``points`` (positions, any order, duplicates ignored)."""
    bounds = sorted({0, len(data), *(point % (len(data) + 1) for point in points)})
    return [data[start:end] for start, end in itertools.pairwise(bounds)]


# -- the grammar is h11's ---------------------------------------------------------------


def test_the_copied_grammar_is_h11s() -> None:
    # http.py copies h11._abnf (a private module): fail if the installed h11 changed it.
    assert _abnf.token == http.TOKEN
    assert _abnf.vchar_or_obs_text == http.FIELD_VCHAR
    assert _abnf.field_content == http.FIELD_CONTENT
    assert _abnf.field_value == f"({http.FIELD_CONTENT})?"
    assert _abnf.request_target == http.REQUEST_TARGET
    assert _abnf.reason_phrase == http.REASON_PHRASE.replace("(?:", "(")
    assert _abnf.OWS == r"[ \t]*"


# -- the request ------------------------------------------------------------------------

ASCII = st.characters(codec="ascii")
TOKENS = st.from_regex(http.TOKEN, fullmatch=True)
VALUES = st.from_regex(re.compile(http.FIELD_VALUE, re.ASCII), fullmatch=True, alphabet=ASCII)
TARGETS = st.from_regex(http.REQUEST_TARGET, fullmatch=True)
USER_HEADERS = st.lists(
    st.tuples(
        TOKENS.filter(lambda name: name.lower() not in handshake._FORBIDDEN_HEADERS),
        VALUES,
    ),
    max_size=6,
)


def h11_request_head(request: HandshakeRequest) -> bytes:
    """The oracle: the head h11 writes for this request."""
    event = h11.Request(method="GET", target=request.resource, headers=request_fields(request))
    return h11.Connection(h11.CLIENT).send(event)


@SETTINGS
@given(
    host=VALUES,
    resource=TARGETS,
    subprotocols=st.lists(TOKENS, max_size=3),
    origin=st.none() | VALUES,
    user_agent=st.none() | VALUES,
    headers=USER_HEADERS,
    compression=st.booleans(),
)
@example(  # framing headers are left to h11 (which lowercases "Chunked")
    host="h",
    resource="/",
    subprotocols=[],
    origin=None,
    user_agent=None,
    headers=[("Content-Length", "0"), ("transfer-encoding", "Chunked")],
    compression=True,
)
def test_valid_requests_are_written_as_h11_writes_them(
    host: str,
    resource: str,
    subprotocols: list[str],
    origin: str | None,
    user_agent: str | None,
    headers: list[tuple[str, str]],
    compression: bool,
) -> None:
    request = make_request(
        host=host,
        resource=resource,
        subprotocols=tuple(subprotocols),
        origin=origin,
        user_agent=user_agent,
        headers=tuple(headers),
        compression=compression,
    )
    framing = {"content-length", "transfer-encoding"} & {name.lower() for name, _ in headers}
    try:
        expected = h11_request_head(request)
    except h11.LocalProtocolError:
        # Only framing headers with values h11 refuses (Content-Length: x) get here.
        assert framing
        return
    with h11_clients() as made:
        client = ClientProtocol(request)
    assert client.data_to_send() == expected
    assert len(made) == (1 if framing else 0)
    fields = request_fields(request)
    assert http.write_request_head(resource, fields) == (None if framing else expected)
    # What is derived from the head sent is unchanged too.
    assert client.request_target == resource
    assert client.request_headers[0] == ("Host", host)


TEXT_ANY = st.text(st.characters(codec="utf-8"), max_size=8) | st.sampled_from(
    ["", " ", "a b", "a\tb", " a", "a ", "a\r\nb", "a\nb", "a\x00b", "a\x0bb", "a\x1cb", "é"]
)


def request_outcome(request_changes: dict[str, Any], *, fast: bool) -> object:
    """The request head, or the error (type and message) the client raises."""
    with route(fast):
        try:
            return ClientProtocol(make_request(**request_changes)).data_to_send()
        except Exception as exc:
            return (type(exc).__name__, str(exc))


@SETTINGS
@given(
    host=TEXT_ANY,
    resource=TEXT_ANY | TARGETS,
    origin=st.none() | TEXT_ANY,
    user_agent=st.none() | TEXT_ANY,
    headers=st.lists(st.tuples(TEXT_ANY | TOKENS, TEXT_ANY | VALUES), max_size=3),
)
def test_any_request_gives_the_bytes_or_the_error_h11_gives(
    host: str,
    resource: str,
    origin: str | None,
    user_agent: str | None,
    headers: list[tuple[str, str]],
) -> None:
    changes = {
        "host": host,
        "resource": resource,
        "origin": origin,
        "user_agent": user_agent,
        "headers": tuple(headers),
    }
    assert request_outcome(changes, fast=True) == request_outcome(changes, fast=False)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"headers": (("Bad Name", "v"),)}, "invalid request header: Illegal header name"),
        ({"headers": (("X-Test", "a\r\nInjected: 1"),)}, "Illegal header value"),
        ({"headers": (("X-Test", "a\x00b"),)}, "Illegal header value"),
        ({"headers": (("X-Test", "trailing "),)}, "Illegal header value"),
        ({"headers": (("X-Test", "a\x0cb"),)}, "Illegal header value"),
        ({"headers": (("Content-Length", "x"),)}, "invalid request header: bad Content-Length"),
        ({"headers": (("Transfer-Encoding", "gzip"),)}, "Only Transfer-Encoding: chunked"),
        ({"resource": "/a b"}, "invalid request header: Illegal target characters"),
        ({"resource": ""}, "invalid request header: Illegal target characters"),
        ({"host": "a\nb"}, "invalid request header: Illegal header value"),
        ({"origin": " x"}, "invalid request header: Illegal header value"),
        ({"headers": (("X-Test", "café"),)}, "is not ASCII"),
        ({"headers": (("Upgrade", "h2c"),)}, "set by wsapi"),
    ],
)
def test_invalid_requests_raise_what_they_raised(changes: dict[str, Any], message: str) -> None:
    fast = request_outcome(changes, fast=True)
    assert fast == request_outcome(changes, fast=False)
    assert isinstance(fast, tuple) and fast[0] == "ValueError" and message in fast[1]


def test_the_writer_leaves_unusual_input_to_h11() -> None:
    host = ("Host", "example.com")
    oracle = h11.Connection(h11.CLIENT).send(h11.Request(method="GET", target="/", headers=[host]))
    assert (
        http.write_request_head("/", [host])
        == oracle
        == b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"
    )
    unusual: list[tuple[Any, Any]] = [
        ("/", []),  # no Host first: h11 says so
        ("/", [("X-A", "1"), host]),
        ("/", [host, ("host", "other")]),
        ("/", [host, ("Content-Length", "0")]),
        ("/", [host, ("TRANSFER-ENCODING", "chunked")]),
        ("/é", [host]),
        ("/", [("Host", "exämple.com")]),
        ("/", [host, (b"X-Bytes", b"1")]),  # not str: h11 takes bytes too
        (b"/", [host]),
    ]
    for target, headers in unusual:
        assert http.write_request_head(target, headers) is None, (target, headers)


# -- the 101 ----------------------------------------------------------------------------

HEADER_VALUES = st.from_regex(http.FIELD_CONTENT.encode(), fullmatch=True)
OWS = st.sampled_from([b"", b" ", b"  ", b"\t", b" \t "])


def casing(name: str) -> st.SearchStrategy[bytes]:
    """``name`` in any case (servers spell names as they like)."""
    return st.lists(st.booleans(), min_size=len(name), max_size=len(name)).map(
        lambda upper: bytes(
            (ord(char.upper()) if up else ord(char.lower()))
            for char, up in zip(name, upper, strict=True)
        )
    )


@st.composite
def switching_heads(draw: st.DrawFn) -> bytes:
    """A valid ``HTTP/1.1 101`` head (with its blank line), mostly one that opens."""
    reason = draw(st.none() | st.from_regex(http.REASON_PHRASE.encode(), fullmatch=True))
    status = b"HTTP/1.1 101" + (b"" if reason is None else b" " + reason)
    headers = [
        (draw(casing("Upgrade")), draw(st.sampled_from([b"websocket", b"WebSocket"]))),
        (draw(casing("Connection")), draw(st.sampled_from([b"Upgrade", b"upgrade, keep-alive"]))),
        (draw(casing("Sec-WebSocket-Accept")), ACCEPT.encode()),
    ]
    if draw(st.booleans()):
        headers.append((b"Sec-WebSocket-Extensions", b"permessage-deflate"))
    if draw(st.booleans()):
        headers.append((b"Sec-WebSocket-Protocol", draw(st.sampled_from([b"chat", b"x, y"]))))
    extra = st.tuples(TOKENS.map(str.encode), HEADER_VALUES)
    headers += draw(st.lists(extra, max_size=5))
    headers = draw(st.permutations(headers))
    if headers and draw(st.booleans()):  # a duplicate
        headers.append(draw(st.sampled_from(headers)))
    lines = [status]
    for name, value in headers:
        lines.append(name + b":" + draw(OWS) + value + draw(OWS))
    return b"\r\n".join(lines) + b"\r\n\r\n"


TRAILING = st.sampled_from(
    [b"", frame(TEXT, b"hello"), frame(TEXT, b"hel"), frame(PING, b"p") + frame(TEXT, b"x")]
)


@SETTINGS
@given(
    head=switching_heads(),
    trailing=TRAILING,
    points=st.lists(st.integers(min_value=0), max_size=6),
    eof=st.booleans(),
)
def test_a_valid_101_gives_what_h11_gave(
    head: bytes, trailing: bytes, points: list[int], eof: bool
) -> None:
    request = make_request(subprotocols=("chat",))
    fast = compare(cut(head + trailing, points), eof=eof, request=request)
    framing = re.search(rb"(?im)^(content-length|transfer-encoding):", head)
    if not framing:
        assert fast.h11_made == 0, "a plain 101 went through h11"


HEAD = accept_response()


@st.composite
def damaged_heads(draw: st.DrawFn) -> bytes:
    """A 101 head with bytes inserted, removed or replaced (often no longer valid)."""
    data = bytearray(draw(switching_heads()) if draw(st.booleans()) else HEAD)
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(data)))
        piece = draw(
            st.sampled_from([b"\r", b"\n", b"\r\n", b" ", b"\t", b"\x00", b":", b"\xff", b"0"])
            | st.binary(max_size=3)
        )
        action = draw(st.sampled_from(["insert", "replace", "delete"]))
        if action == "insert":
            data[position:position] = piece
        elif action == "replace":
            data[position : position + len(piece)] = piece
        else:
            del data[position : position + draw(st.integers(1, 3))]
    return bytes(data)


@SETTINGS
@given(
    head=damaged_heads(),
    trailing=TRAILING,
    points=st.lists(st.integers(min_value=0), max_size=4),
    eof=st.booleans(),
)
def test_a_damaged_101_gives_what_h11_gave(
    head: bytes, trailing: bytes, points: list[int], eof: bool
) -> None:
    assume(head)
    compare(cut(head + trailing, points), eof=eof)


def lines(*items: str, end: str = "\r\n\r\n") -> bytes:
    return ("\r\n".join(items) + end).encode("latin-1")


UPGRADE = "Upgrade: websocket"
CONNECTION = "Connection: Upgrade"
ACCEPT_LINE = f"Sec-WebSocket-Accept: {ACCEPT}"
STATUS = "HTTP/1.1 101 Switching Protocols"
OPENING = (UPGRADE, CONNECTION, ACCEPT_LINE)  # the headers a 101 needs
BIG = "a" * MAX_HEADER_SIZE
CHUNKS = b"2\r\nhi\r\n0\r\n\r\n"

# (id, the bytes, whether the fast path reads them itself)
UNUSUAL = [
    ("plain", lines(STATUS, *OPENING), True),
    ("empty-reason", lines("HTTP/1.1 101", *OPENING), True),
    ("space-no-reason", lines("HTTP/1.1 101 ", *OPENING), True),
    ("tabs-in-values", lines(STATUS, "Upgrade:\twebsocket\t", CONNECTION, ACCEPT_LINE), True),
    ("tab-inside", lines(STATUS, *OPENING, "X-A: a\t b"), True),
    ("lowercase", lines(STATUS, UPGRADE.lower(), CONNECTION.lower(), ACCEPT_LINE), True),
    ("duplicate", lines(STATUS, UPGRADE, CONNECTION, CONNECTION, ACCEPT_LINE), True),
    ("obs-text", lines(STATUS + " \xe9", *OPENING, "X: \xff"), True),
    ("obs-fold", lines(STATUS, UPGRADE, "Connection:", " Upgrade", ACCEPT_LINE), False),
    ("obs-fold-tab", lines(STATUS, *OPENING, "X-A: 1", "\t2"), False),
    ("fold-first", lines(STATUS, " X: 1", *OPENING), False),
    ("http-1.0", lines("HTTP/1.0 101 Switching Protocols", *OPENING), False),
    ("http-2.0", lines("HTTP/2.0 101 Switching Protocols", *OPENING), False),
    ("bare-lf", lines(STATUS, *OPENING).replace(b"\r\n", b"\n"), False),
    ("one-bare-lf", lines(STATUS + "\n" + UPGRADE, CONNECTION, ACCEPT_LINE), False),
    ("lf-lf-end", lines(STATUS, *OPENING, end="\n\n"), False),
    ("lf-crlf-end", lines(STATUS, *OPENING, end="\n\r\n"), False),
    ("cr-cr-lf", lines(STATUS, UPGRADE + "\r", CONNECTION, ACCEPT_LINE), False),
    ("content-length", lines(STATUS, *OPENING, "Content-Length: 0"), False),
    ("cl-conflict", lines(STATUS, *OPENING, "Content-Length: 1, 2"), False),
    ("chunked", lines(STATUS, *OPENING, "Transfer-Encoding: Chunked"), False),
    ("space-before-colon", lines(STATUS, "Upgrade : websocket", CONNECTION, ACCEPT_LINE), False),
    ("nul-in-value", lines(STATUS, *OPENING, "X: a\x00b"), False),
    ("vt-in-value", lines(STATUS, *OPENING, "X: a\x0bb"), False),
    ("no-colon", lines(STATUS, *OPENING, "X"), False),
    ("empty-name", lines(STATUS, *OPENING, ": x"), False),
    ("bad-status", lines("HTTP/1.1 1010 X", *OPENING), False),
    ("no-space-status", lines("HTTP/1.1  101", *OPENING), False),
    ("100-continue", lines("HTTP/1.1 100 Continue"), False),
    ("200", lines("HTTP/1.1 200 OK", "Content-Length: 2") + b"hi", False),
    ("404-chunked", lines("HTTP/1.1 404 No", "Transfer-Encoding: chunked") + CHUNKS, False),
    ("404-until-close", lines("HTTP/1.0 404 No") + b"the body", False),
    ("wrong-accept", lines(STATUS, UPGRADE, CONNECTION, "Sec-WebSocket-Accept: x"), True),
    ("no-upgrade", lines(STATUS, CONNECTION, ACCEPT_LINE), True),
    ("unknown-extension", lines(STATUS, *OPENING, "Sec-WebSocket-Extensions: x"), True),
    ("unfinished", lines(STATUS, UPGRADE, end="\r\n"), True),
    ("not-http", b"SSH-2.0-OpenSSH_9.6\r\n", True),
    ("tls", b"\x15\x03\x01\x00\x02\x02\x46", True),
    ("http-prefix-only", b"HTTP/", True),
    ("too-large", lines(STATUS, *OPENING, "X: " + BIG), False),
    ("too-large-unfinished", lines(STATUS, "X: " + BIG, end=""), False),
    ("just-under-the-limit", lines(STATUS, *OPENING, "X: " + BIG[160:]), True),
]  # fmt: skip


@pytest.mark.parametrize("eof", [False, True])
@pytest.mark.parametrize("chunk", [None, 1, 7, 4096])
@pytest.mark.parametrize(
    ("data", "fast"), [item[1:] for item in UNUSUAL], ids=[i[0] for i in UNUSUAL]
)
def test_unusual_heads_give_what_h11_gave(
    data: bytes, fast: bool, chunk: int | None, eof: bool
) -> None:
    data += frame(TEXT, b"after")
    step = chunk or len(data)
    outcome = compare([data[start : start + step] for start in range(0, len(data), step)], eof=eof)
    if not eof:  # (EOF hands an unfinished head to h11 too)
        assert (outcome.h11_made == 0) == fast, "the head took the wrong route"


def test_the_plain_101_response_is_as_responses() -> None:
    head = lines("HTTP/1.1 101 Switching \t Protocols ", "upgrade:\t websocket \t", "X-Empty:")
    expected = Response(
        status=101,
        reason="Switching \t Protocols ",
        headers=(("upgrade", "websocket"), ("X-Empty", "")),
    )
    assert http.parse_switching_protocols(head[:-4]) == expected
    oracle = h11.Connection(h11.CLIENT)
    oracle.send(h11.Request(method="GET", target="/", headers=[("Host", "h"), ("Upgrade", "ws")]))
    oracle.receive_data(head)
    event = oracle.next_event()
    assert isinstance(event, h11.InformationalResponse)
    assert as_response(event) == expected


# -- no h11 on the way to OPEN -------------------------------------------------------------


def test_a_normal_open_makes_no_h11_connection() -> None:
    with h11_clients() as made:
        client = ClientProtocol(make_request(subprotocols=("chat",)))
        assert client.data_to_send().startswith(b"GET /chat HTTP/1.1\r\nHost: example.com\r\n")
        client.receive_data(accept_response(subprotocol="chat", extensions="permessage-deflate"))
        client.receive_data(frame(TEXT, b"hi"))
        [opened, _message] = client.events_received()
        assert isinstance(opened, Opened) and opened.subprotocol == "chat"
        assert client.send_close(1000)
        client.receive_eof()
    assert made == []
    assert client._opening is None  # nor its buffer, once open


def test_h11_is_made_when_the_answer_is_not_a_plain_101() -> None:
    with h11_clients() as made:
        client = ClientProtocol(make_request())
        reader = client._opening
        assert reader is not None
        client.receive_data(b"HTTP/1.1 101 Switching Protocols\r\n")
        assert made == [] and reader._head is not None
        client.receive_data(b"Upgrade: websocket\r\n Connection: Upgrade\r\n\r\n")
        assert len(made) == 1 and reader._h11 is made[0] and reader._head is None


@pytest.mark.anyio
async def test_an_open_through_the_transport_makes_no_h11_connection() -> None:
    async with serve(echo) as server:
        with h11_clients() as made, anyio.fail_after(10):
            async with WebSocket(server.url, compression=None) as ws:
                ws.send("ping")
                assert await ws.recv() == "ping"
    assert made == []
