"""The opening handshake: the upgrade request, the checks on a 101, and refusals.

Bytes only: the request is read back with h11's server side, the answers are
written byte by byte, and the client is a ``ClientProtocol`` in CONNECTING.
"""

from __future__ import annotations

import base64
import doctest
from typing import Any

import h11
import pytest

import wsapi.protocol.connection
import wsapi.protocol.handshake
from wsapi.errors import (
    ConnectionAborted,
    ConnectionFailed,
    ConnectionLost,
    InvalidAccept,
    InvalidHandshake,
    InvalidStatus,
    InvalidUpgrade,
    NotHTTP,
    OpenTimeout,
    ProtocolError,
    RedirectReceived,
    TLSRequired,
    UnexpectedExtension,
    UnexpectedSubprotocol,
    WebSocketError,
)
from wsapi.protocol.connection import MAX_HEADER_SIZE, ClientProtocol, State
from wsapi.protocol.events import (
    Closed,
    CloseReceived,
    Failed,
    HandshakeFailed,
    MessageReceived,
    Opened,
)
from wsapi.protocol.extensions import DEFLATE_OFFER, BoundedDeflate
from wsapi.protocol.handshake import (
    HandshakeRequest,
    accept_key,
    as_response,
    build_request,
    check_accept,
    generate_key,
)
from wsapi.response import Response

from .helpers import (
    ACCEPT,
    HOST,
    KEY,
    RESOURCE,
    URL,
    accept_response,
    close_frame,
    drain_events,
    http_response,
    make_client,
    make_request,
    parse_request,
    sent_close,
    text_frame,
)


def request_headers(client: ClientProtocol) -> list[tuple[str, str]]:
    """The request's headers as sent (names as spelled, in order)."""
    request = parse_request(client.data_to_send())
    return [(name.decode(), value.decode()) for name, value in request.headers.raw_items()]


def header_values(headers: list[tuple[str, str]], name: str) -> list[str]:
    return [value for key, value in headers if key.lower() == name.lower()]


def handshake_error(client: ClientProtocol) -> ConnectionFailed:
    """The single HandshakeFailed event's error; checks the state it leaves."""
    events = client.events_received()
    assert len(events) == 1 and isinstance(events[0], HandshakeFailed), events
    assert client.state is State.CLOSING
    assert client.failed
    assert client.error is events[0].error
    # Nothing goes on the wire: there is no WebSocket connection to close.
    assert client.data_to_send() == b""
    return events[0].error


def assert_closed_after_eof(client: ClientProtocol, error: WebSocketError) -> None:
    client.receive_eof()
    assert client.events_received() == [Closed(1006, "", False, error)]
    assert client.state is State.CLOSED
    client.receive_eof()
    client.abort()
    assert client.events_received() == []


# -- the request ------------------------------------------------------------------------


class TestRequest:
    def test_request_line_and_host(self) -> None:
        client = make_client()
        request = parse_request(client.data_to_send())
        assert request.method == b"GET"
        assert request.target == RESOURCE.encode()
        assert request.http_version == b"1.1"
        assert request.headers.raw_items()[0] == (b"Host", HOST.encode())

    def test_resource_with_query_and_host_with_port(self) -> None:
        client = make_client(host="example.com:8080", resource="/a/b?x=1&y=%20")
        request = parse_request(client.data_to_send())
        assert request.target == b"/a/b?x=1&y=%20"
        assert dict(request.headers.raw_items())[b"Host"] == b"example.com:8080"

    def test_protocol_headers_in_order(self) -> None:
        headers = request_headers(make_client(compression=False))
        assert headers == [
            ("Host", HOST),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", KEY.decode()),
            ("Sec-WebSocket-Version", "13"),
        ]

    def test_the_request_is_queued_once(self) -> None:
        client = make_client()
        assert client.has_data_to_send
        assert client.data_to_send().startswith(b"GET /chat HTTP/1.1\r\n")
        assert not client.has_data_to_send
        assert client.data_to_send() == b""
        assert client.state is State.CONNECTING

    def test_generated_key_is_16_random_bytes_in_base64(self) -> None:
        keys = {generate_key() for _ in range(8)}
        assert len(keys) == 8
        for key in keys:
            assert len(base64.b64decode(key, validate=True)) == 16

    def test_default_key_is_fresh_for_each_request(self) -> None:
        first = HandshakeRequest(URL, HOST, RESOURCE)
        second = HandshakeRequest(URL, HOST, RESOURCE)
        assert first.key != second.key
        sent = header_values(request_headers(ClientProtocol(first)), "Sec-WebSocket-Key")
        assert sent == [first.key.decode()]

    def test_accept_key_rfc_example(self) -> None:
        assert accept_key(KEY) == ACCEPT

    def test_doctests(self) -> None:
        for module in (wsapi.protocol.handshake, wsapi.protocol.connection):
            failures, _ = doctest.testmod(module, verbose=False)
            assert failures == 0

    def test_subprotocols_header(self) -> None:
        headers = request_headers(make_client(subprotocols=("chat", "superchat")))
        assert header_values(headers, "Sec-WebSocket-Protocol") == ["chat, superchat"]

    def test_no_subprotocols_no_header(self) -> None:
        headers = request_headers(make_client())
        assert header_values(headers, "Sec-WebSocket-Protocol") == []

    def test_deflate_offered_by_default(self) -> None:
        headers = request_headers(make_client())
        assert header_values(headers, "Sec-WebSocket-Extensions") == [DEFLATE_OFFER]
        assert DEFLATE_OFFER == "permessage-deflate; client_max_window_bits"

    def test_deflate_not_offered_without_compression(self) -> None:
        headers = request_headers(make_client(compression=False))
        assert header_values(headers, "Sec-WebSocket-Extensions") == []

    def test_origin(self) -> None:
        headers = request_headers(make_client(origin="https://app.example.com"))
        assert header_values(headers, "Origin") == ["https://app.example.com"]

    def test_no_origin_by_default(self) -> None:
        assert header_values(request_headers(make_client()), "Origin") == []

    def test_user_agent(self) -> None:
        headers = request_headers(make_client(user_agent="wsapi/0.1 Python/3"))
        assert header_values(headers, "User-Agent") == ["wsapi/0.1 Python/3"]

    def test_no_user_agent_by_default(self) -> None:
        assert header_values(request_headers(make_client()), "User-Agent") == []

    @pytest.mark.parametrize("name", ["User-Agent", "user-agent", "USER-AGENT"])
    def test_user_agent_header_given_by_the_user_wins(self, name: str) -> None:
        client = make_client(user_agent="wsapi/0.1", headers=((name, "mine/1.0"),))
        headers = request_headers(client)
        assert header_values(headers, "User-Agent") == ["mine/1.0"]
        assert (name, "mine/1.0") in headers

    def test_extra_headers_kept_in_order_after_the_protocol_headers(self) -> None:
        extra = (
            ("X-B", "2"),
            ("Authorization", "Bearer t0k3n"),
            ("X-A", "1"),
            ("x-b", "3"),
            ("Cookie", "a=1; b=2"),
        )
        client = make_client(
            subprotocols=("chat",), origin="http://o", user_agent="ua", headers=extra
        )
        headers = request_headers(client)
        assert headers[:5] == [
            ("Host", HOST),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", KEY.decode()),
            ("Sec-WebSocket-Version", "13"),
        ]
        assert headers[5:] == [
            ("Sec-WebSocket-Protocol", "chat"),
            ("Sec-WebSocket-Extensions", DEFLATE_OFFER),
            ("Origin", "http://o"),
            ("User-Agent", "ua"),
            *extra,
        ]

    @pytest.mark.parametrize(
        "name",
        [
            "Host",
            "host",
            "Upgrade",
            "CONNECTION",
            "Sec-WebSocket-Key",
            "sec-websocket-version",
            "Sec-WebSocket-Protocol",
            "Sec-WebSocket-Extensions",
        ],
    )
    def test_forbidden_headers(self, name: str) -> None:
        with pytest.raises(ValueError, match=name):
            make_client(headers=(("X-Ok", "1"), (name, "value")))
        with pytest.raises(ValueError, match="set by wsapi"):
            build_request(make_request(headers=((name, "value"),)))

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("X-Test", "a\r\nInjected: 1"),
            ("X-Test", "a\nb"),
            ("X-Test", "a\rb"),
            ("X-Test", "a\x00b"),
            ("X-Test", " leading space"),
            ("X-Test", "trailing space "),
            ("X-Test", "caf\u00e9"),
            ("Bad Name", "v"),
            ("Bad:Name", "v"),
            ("", "v"),
            ("X-Test\r\n", "v"),
        ],
    )
    def test_invalid_header_values(self, name: str, value: str) -> None:
        with pytest.raises(ValueError):
            make_client(headers=((name, value),))

    def test_tab_inside_a_value_is_allowed(self) -> None:
        headers = request_headers(make_client(headers=(("X-Test", "a\tb"),)))
        assert header_values(headers, "X-Test") == ["a\tb"]


# -- accepting -------------------------------------------------------------------------


class TestAccept:
    def test_opened_event(self) -> None:
        client = make_client(subprotocols=("chat", "superchat"))
        client.data_to_send()
        data = accept_response(
            subprotocol="superchat",
            extensions="permessage-deflate; server_no_context_takeover",
            extra=[("X-Server", "test")],
        )
        client.receive_data(data)
        events = client.events_received()
        assert len(events) == 1
        opened = events[0]
        assert isinstance(opened, Opened)
        assert opened.subprotocol == "superchat"
        assert opened.extensions == "permessage-deflate; server_no_context_takeover"
        assert opened.response.status == 101
        assert opened.response.reason == "Switching Protocols"
        assert opened.response.header("x-server") == "test"
        assert client.state is State.OPEN
        assert not client.failed
        assert client.subprotocol == "superchat"
        assert client.extensions == opened.extensions
        assert client.response is opened.response
        assert client.error is None
        assert client.data_to_send() == b""

    def test_no_subprotocol_no_extension(self) -> None:
        client = make_client(subprotocols=("chat",))
        client.data_to_send()
        client.receive_data(accept_response())
        [opened] = client.events_received()
        assert isinstance(opened, Opened)
        assert (opened.subprotocol, opened.extensions) == ("", "")
        assert client.subprotocol == "" and client.extensions == ""

    def test_response_headers_kept_as_the_server_spelled_them(self) -> None:
        client = make_client()
        client.data_to_send()
        headers = [
            ("upgrade", "WebSocket"),
            ("CONNECTION", "keep-alive, upgrade"),
            ("sec-websocket-accept", ACCEPT),
            ("X-Multi", "1"),
            ("x-multi", "2"),
            ("Date", "Thu, 01 Jan 2026 00:00:00 GMT"),
        ]
        client.receive_data(http_response(101, "Switching Protocols", headers))
        [opened] = client.events_received()
        assert isinstance(opened, Opened)
        assert opened.response.headers == tuple(headers)
        assert opened.response.header("X-MULTI") == "1, 2"
        assert opened.response.http_version == "1.1"

    def test_reason_phrase_is_not_checked(self) -> None:
        client = make_client()
        client.data_to_send()
        client.receive_data(
            http_response(
                101,
                "Web Socket Protocol Handshake",
                [
                    ("Upgrade", "websocket"),
                    ("Connection", "Upgrade"),
                    ("Sec-WebSocket-Accept", ACCEPT),
                ],
            )
        )
        [opened] = client.events_received()
        assert isinstance(opened, Opened)
        assert opened.response.reason == "Web Socket Protocol Handshake"

    def test_frames_in_the_same_read_as_the_101_come_after_opened(self) -> None:
        client = make_client()
        client.data_to_send()
        client.receive_data(accept_response() + text_frame("first") + text_frame("second"))
        events = client.events_received()
        assert isinstance(events[0], Opened)
        assert events[1:] == [MessageReceived("first"), MessageReceived("second")]

    def test_partial_frame_in_the_same_read_as_the_101(self) -> None:
        client = make_client()
        client.data_to_send()
        data = text_frame("hello")
        client.receive_data(accept_response() + data[:3])
        events = client.events_received()
        assert len(events) == 1 and isinstance(events[0], Opened)
        client.receive_data(data[3:])
        assert client.events_received() == [MessageReceived("hello")]

    def test_bad_frame_in_the_same_read_as_the_101(self) -> None:
        client = make_client()
        client.data_to_send()
        client.receive_data(accept_response() + text_frame("masked", mask=b"abcd"))
        events = drain_events(client)
        assert isinstance(events[0], Opened)
        assert isinstance(events[1], Failed)
        assert isinstance(events[1].error, ProtocolError)
        assert sent_close(client)[0] == 1002
        assert client.state is State.CLOSING

    def test_close_in_the_same_read_as_the_101(self) -> None:
        client = make_client()
        client.data_to_send()
        client.receive_data(accept_response() + close_frame(1001, "bye"))
        events = client.events_received()
        assert isinstance(events[0], Opened)
        assert events[1:] == [CloseReceived(1001, "bye")]
        assert sent_close(client)[0] == 1001
        client.receive_eof()
        assert client.events_received() == [Closed(1001, "bye", True)]

    def test_101_fed_byte_by_byte(self) -> None:
        client = make_client(subprotocols=("chat",))
        client.data_to_send()
        data = accept_response(subprotocol="chat", extensions="permessage-deflate")
        data += text_frame("after")
        events = []
        for index in range(len(data)):
            client.receive_data(data[index : index + 1])
            events += client.events_received()
        assert len(events) == 2
        assert isinstance(events[0], Opened)
        assert events[0].subprotocol == "chat"
        assert events[0].extensions == "permessage-deflate"
        assert events[1] == MessageReceived("after")
        assert client.state is State.OPEN

    def test_nothing_happens_before_the_head_is_complete(self) -> None:
        client = make_client()
        client.data_to_send()
        data = accept_response()
        client.receive_data(data[:-1])
        assert client.events_received() == []
        assert client.state is State.CONNECTING
        client.receive_data(data[-1:])
        assert isinstance(client.events_received()[0], Opened)

    def test_sends_before_open_are_refused(self) -> None:
        client = make_client()
        client.data_to_send()
        assert client.send_text("x") is False
        assert client.send_binary(b"x") is False
        assert client.send_ping(b"x") is False
        assert client.send_pong(b"x") is False
        assert client.send_close(1000) is False
        assert client.data_to_send() == b""
        assert client.state is State.CONNECTING
        assert not client.close_sent

    def test_check_accept_directly(self) -> None:
        request = make_request(subprotocols=("a", "b"))
        response = Response(
            101,
            "Switching Protocols",
            (
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Accept", ACCEPT),
                ("Sec-WebSocket-Protocol", "b"),
                ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits=10"),
            ),
        )
        subprotocol, extensions = check_accept(request, response, 1000)
        assert subprotocol == "b"
        assert len(extensions) == 1
        assert isinstance(extensions[0], BoundedDeflate)
        assert extensions[0].client_max_window_bits == 10
        assert extensions[0].enabled()

    def test_as_response_keeps_raw_names(self) -> None:
        event = h11.Response(
            status_code=404, reason=b"Nope", headers=[("X-CaSe", "v"), ("Content-Length", "0")]
        )
        response = as_response(event, b"body", truncated=True)
        assert response == Response(
            404, "Nope", (("X-CaSe", "v"), ("Content-Length", "0")), b"body", "1.1", True
        )


# -- invalid 101 answers -----------------------------------------------------------------

DEFLATE = "permessage-deflate"

INVALID_ACCEPTS = [
    pytest.param({"upgrade": None}, ["no Upgrade header"], id="no-upgrade"),
    pytest.param({"upgrade": "h2c"}, ["'Upgrade: h2c'"], id="wrong-upgrade"),
    pytest.param({"upgrade": "websocket2"}, ["'Upgrade: websocket2'"], id="upgrade-prefix"),
    pytest.param({"connection": None}, ["no Connection header"], id="no-connection"),
    pytest.param(
        {"connection": "keep-alive"}, ["'Connection: keep-alive'"], id="connection-no-upgrade"
    ),
    pytest.param(
        {"connection": "upgraded"}, ["'Connection: upgraded'"], id="connection-token-prefix"
    ),
    pytest.param({"accept": None}, ["no Sec-WebSocket-Accept header", ACCEPT], id="no-accept"),
    pytest.param(
        {"accept": "dGhlIHNhbXBsZSBub25jZQ=="},
        ["Sec-WebSocket-Accept", "'dGhlIHNhbXBsZSBub25jZQ=='", ACCEPT],
        id="wrong-accept",
    ),
    pytest.param(
        {"accept": ACCEPT.lower()}, [repr(ACCEPT.lower()), ACCEPT], id="accept-wrong-case"
    ),
    pytest.param({"subprotocol": "other"}, ["'other'", "not offered", "chat"], id="subprotocol"),
    pytest.param(
        {"subprotocol": "chat, superchat"},
        ["several subprotocols", "chat, superchat"],
        id="several-subprotocols",
    ),
    pytest.param(
        {"extensions": "x-webkit-deflate-frame"},
        ["'x-webkit-deflate-frame'", "not offered"],
        id="extension-not-offered",
    ),
    pytest.param(
        {"extensions": "permessage-deflate, permessage-deflate"},
        ["permessage-deflate twice"],
        id="deflate-twice",
    ),
    pytest.param(
        {"extensions": "permessage-deflate; foo=1"},
        ["'foo'", "permessage-deflate; foo=1"],
        id="deflate-unknown-param",
    ),
    pytest.param(
        {"extensions": "permessage-deflate; server_max_window_bits=7"},
        ["server_max_window_bits='7'", "permessage-deflate; server_max_window_bits=7"],
        id="deflate-window-7",
    ),
    pytest.param(
        {"extensions": "permessage-deflate; client_max_window_bits=16"},
        ["client_max_window_bits='16'"],
        id="deflate-window-16",
    ),
    pytest.param(
        {"extensions": "permessage-deflate; server_max_window_bits=x"},
        ["server_max_window_bits='x'"],
        id="deflate-window-x",
    ),
    pytest.param(
        {"extensions": "permessage-deflate; server_max_window_bits"},
        ["server_max_window_bits=''"],
        id="deflate-window-no-value",
    ),
    pytest.param(
        {"extensions": "permessage-deflate; server_no_context_takeover=1"},
        ["'server_no_context_takeover' takes no value"],
        id="deflate-value-on-no-context-takeover",
    ),
    pytest.param(
        {"extensions": "permessage-deflate; client_no_context_takeover=true"},
        ["'client_no_context_takeover' takes no value"],
        id="deflate-value-on-client-no-context-takeover",
    ),
    pytest.param(
        {"extensions": f"{DEFLATE}; server_no_context_takeover; SERVER_NO_CONTEXT_TAKEOVER"},
        ["'server_no_context_takeover' given twice"],
        id="deflate-duplicate-param",
    ),
    pytest.param(
        {"extensions": "permessage-deflate; server_max_window_bits=10; server_max_window_bits=11"},
        ["'server_max_window_bits' given twice"],
        id="deflate-duplicate-window",
    ),
]


#: The class of the error each kind of change to a valid 101 answer raises.
INVALID_ACCEPT_KINDS: dict[str, type[InvalidHandshake]] = {
    "upgrade": InvalidUpgrade,
    "connection": InvalidUpgrade,
    "accept": InvalidAccept,
    "subprotocol": UnexpectedSubprotocol,
    "extensions": UnexpectedExtension,
}


def invalid_accept_client(changes: dict[str, Any], *, compression: bool = True) -> ClientProtocol:
    client = make_client(subprotocols=("chat",), compression=compression)
    client.data_to_send()
    client.receive_data(accept_response(**changes))
    return client


class TestInvalidAccept:
    @pytest.mark.parametrize(("changes", "needles"), INVALID_ACCEPTS)
    def test_invalid_101(self, changes: dict[str, Any], needles: list[str]) -> None:
        client = make_client(subprotocols=("chat",))
        client.data_to_send()
        client.receive_data(accept_response(**changes) + text_frame("never delivered"))
        error = handshake_error(client)
        [change] = changes
        assert type(error) is INVALID_ACCEPT_KINDS[change]
        assert isinstance(error, InvalidHandshake)
        message = str(error)
        assert message.startswith(f"WebSocket connection to '{URL}' failed: ")
        for needle in needles:
            assert needle in message
        assert error.stage == "http"
        assert error.response is not None
        assert error.response.status == 101
        assert client.response is error.response
        # Data after the failure is ignored.
        client.receive_data(text_frame("ignored"))
        assert client.events_received() == []
        assert client.send_text("x") is False
        assert client.data_to_send() == b""
        assert_closed_after_eof(client, error)

    def test_response_is_kept_whole(self) -> None:
        client = make_client()
        client.data_to_send()
        client.receive_data(accept_response(accept="bad", extra=[("Server", "nginx/1.2")]))
        error = handshake_error(client)
        assert error.response is not None
        assert error.response.header("Server") == "nginx/1.2"
        assert error.response.header("Sec-WebSocket-Accept") == "bad"
        assert error.response.status_line == "HTTP/1.1 101 Switching Protocols"

    def test_upgrade_fix_mentions_the_proxy(self) -> None:
        client = make_client()
        client.data_to_send()
        client.receive_data(accept_response(upgrade=None))
        error = handshake_error(client)
        assert "proxy" in error.fix
        assert "proxy_set_header Upgrade" in str(error)

    def test_deflate_accepted_although_not_offered(self) -> None:
        client = invalid_accept_client({"extensions": "permessage-deflate"}, compression=False)
        error = handshake_error(client)
        assert isinstance(error, UnexpectedExtension)
        assert error.extension == "permessage-deflate"
        assert "'permessage-deflate', which was not offered" in str(error)

    def test_deflate_accepted_twice_in_two_headers(self) -> None:
        client = make_client()
        client.data_to_send()
        client.receive_data(
            accept_response(
                extensions="permessage-deflate",
                extra=[("Sec-WebSocket-Extensions", "permessage-deflate")],
            )
        )
        assert "permessage-deflate twice" in str(handshake_error(client))

    def test_subprotocol_when_none_was_offered(self) -> None:
        client = make_client()
        client.data_to_send()
        client.receive_data(accept_response(subprotocol="chat"))
        error = handshake_error(client)
        assert "'chat', which was not offered (offered: none)" in str(error)

    def test_empty_subprotocol_header_means_none(self) -> None:
        client = make_client(subprotocols=("chat",))
        client.data_to_send()
        client.receive_data(accept_response(subprotocol=""))
        [opened] = client.events_received()
        assert isinstance(opened, Opened) and opened.subprotocol == ""

    def test_window_bits_with_leading_zero(self) -> None:
        client = invalid_accept_client(
            {"extensions": "permessage-deflate; server_max_window_bits=010"}
        )
        assert isinstance(handshake_error(client), InvalidHandshake)

    def test_every_check_through_check_accept_names_the_header(self) -> None:
        response = Response(101, "", (("Upgrade", "websocket"), ("Connection", "Upgrade")))
        with pytest.raises(InvalidAccept, match="no Sec-WebSocket-Accept header") as info:
            check_accept(make_request(), response, None)
        assert info.value.response is response


# -- refusals ---------------------------------------------------------------------------

REFUSALS = [
    pytest.param(
        401,
        "Unauthorized",
        [("WWW-Authenticate", 'Bearer realm="api"')],
        b'{"error": "token required"}',
        "headers={'Authorization'",
        id="401",
    ),
    pytest.param(
        403, "Forbidden", [("X-Reason", "origin")], b"Forbidden origin", "Origin", id="403"
    ),
    pytest.param(
        404, "Not Found", [("Server", "nginx")], b"<h1>404 Not Found</h1>", "path", id="404"
    ),
    pytest.param(
        426, "Upgrade Required", [("Upgrade", "websocket")], b"", "proxy_http_version", id="426"
    ),
    pytest.param(
        500, "Internal Server Error", [], b"Traceback (most recent call last)", "logs", id="500"
    ),
    pytest.param(
        302,
        "Found",
        [("Location", "wss://example.com/new")],
        b"",
        "wss://example.com/new",
        id="302",
    ),
]


class TestRefusal:
    @pytest.mark.parametrize(("status", "reason", "headers", "body", "fix"), REFUSALS)
    def test_refusal(
        self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes, fix: str
    ) -> None:
        client = make_client()
        client.data_to_send()
        all_headers = [*headers, ("Content-Length", str(len(body)))]
        client.receive_data(http_response(status, reason, all_headers, body))
        error = handshake_error(client)
        assert type(error) is (RedirectReceived if 300 <= status < 400 else InvalidStatus)
        assert error.status == status
        assert error.stage == "http"
        response = error.response
        assert response is not None
        assert client.response is response
        assert response.status == status
        assert response.reason == reason
        assert response.headers == tuple(all_headers)
        assert response.body == body
        assert not response.truncated
        message = str(error)
        assert message.startswith(f"WebSocket connection to '{URL}' failed: ")
        assert f"HTTP {status} {reason} instead of 101" in message
        assert fix in message
        if body:
            assert "(body: " in message
        assert_closed_after_eof(client, error)

    def test_body_cut_at_max_body_size(self) -> None:
        client = make_client(max_body_size=100)
        client.data_to_send()
        body = bytes(range(256)) * 4
        head = http_response(403, "Forbidden", [("Content-Length", str(len(body)))])
        client.receive_data(head + body[:60])
        assert client.events_received() == []
        client.receive_data(body[60:])
        error = handshake_error(client)
        assert isinstance(error, InvalidStatus)
        assert error.response is not None
        assert error.response.body == body[:100]
        assert error.response.truncated
        # The rest of the body (and anything else) is ignored.
        client.receive_data(b"x" * 1000)
        assert client.events_received() == []
        assert_closed_after_eof(client, error)

    def test_body_cut_without_waiting_for_the_rest(self) -> None:
        client = make_client(max_body_size=10)
        client.data_to_send()
        head = http_response(500, "Oops", [("Content-Length", str(10**9))])
        client.receive_data(head + b"y" * 11)
        error = handshake_error(client)
        assert error.response is not None
        assert error.response.body == b"y" * 10
        assert error.response.truncated

    def test_body_exactly_max_body_size_is_not_truncated(self) -> None:
        client = make_client(max_body_size=10)
        client.data_to_send()
        client.receive_data(http_response(404, "Not Found", [("Content-Length", "10")], b"z" * 10))
        error = handshake_error(client)
        assert error.response is not None
        assert error.response.body == b"z" * 10
        assert not error.response.truncated

    def test_body_delimited_by_connection_close(self) -> None:
        client = make_client()
        client.data_to_send()
        client.receive_data(http_response(503, "Service Unavailable", [("Retry-After", "5")]))
        client.receive_data(b"come back ")
        client.receive_data(b"later")
        assert client.events_received() == []
        assert client.state.name == "CONNECTING"  # (a comparison mypy does not narrow on)
        client.receive_eof()
        events = client.events_received()
        assert len(events) == 2
        assert isinstance(events[0], HandshakeFailed)
        error = events[0].error
        assert isinstance(error, InvalidStatus)
        assert error.status == 503
        assert error.response is not None
        assert error.response.body == b"come back later"
        assert not error.response.truncated
        assert "try again later" in str(error)
        assert events[1] == Closed(1006, "", False, error)
        assert client.state is State.CLOSED

    def test_chunked_body(self) -> None:
        client = make_client()
        client.data_to_send()
        head = http_response(400, "Bad Request", [("Transfer-Encoding", "chunked")])
        client.receive_data(head + b"5\r\nmissi\r\n")
        assert client.events_received() == []
        client.receive_data(b"b\r\nng Upgrade!\r\n0\r\n\r\n")
        error = handshake_error(client)
        assert isinstance(error, InvalidStatus)
        assert error.response is not None
        assert error.response.body == b"missing Upgrade!"
        assert "proxy" in error.fix

    def test_chunked_body_cut_at_max_body_size(self) -> None:
        client = make_client(max_body_size=4)
        client.data_to_send()
        head = http_response(400, "Bad Request", [("Transfer-Encoding", "chunked")])
        client.receive_data(head + b"3\r\nabc\r\n3\r\ndef\r\n")
        error = handshake_error(client)
        assert error.response is not None
        assert error.response.body == b"abcd"
        assert error.response.truncated

    def test_refusal_json_body(self) -> None:
        client = make_client()
        client.data_to_send()
        body = b'{"error": "bad token", "code": 7}'
        client.receive_data(
            http_response(
                401,
                "Unauthorized",
                [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
                body,
            )
        )
        error = handshake_error(client)
        assert error.response is not None
        assert error.response.json() == {"error": "bad token", "code": 7}

    @pytest.mark.parametrize(("status", "reason"), [(100, "Continue"), (103, "Early Hints")])
    def test_informational_other_than_101(self, status: int, reason: str) -> None:
        client = make_client()
        client.data_to_send()
        client.receive_data(http_response(status, reason, [("Link", "</a>; rel=preload")]))
        error = handshake_error(client)
        assert type(error) is InvalidStatus
        assert error.status == status
        assert error.response is not None
        assert error.response.header("Link") == "</a>; rel=preload"
        assert "must answer 101" in str(error)

    def test_http_1_0_refusal(self) -> None:
        client = make_client()
        client.data_to_send()
        client.receive_data(http_response(404, "Not Found", [], b"gone", version="1.0"))
        assert client.events_received() == []
        client.receive_eof()
        events = client.events_received()
        assert isinstance(events[0], HandshakeFailed)
        response = events[0].error.response
        assert response is not None
        assert response.http_version == "1.0"
        assert response.status_line == "HTTP/1.0 404 Not Found"
        assert response.body == b"gone"

    def test_refusal_fed_byte_by_byte(self) -> None:
        client = make_client()
        client.data_to_send()
        data = http_response(404, "Not Found", [("Content-Length", "3")], b"abc")
        for index in range(len(data) - 1):
            client.receive_data(data[index : index + 1])
            assert client.events_received() == []
        client.receive_data(data[-1:])
        error = handshake_error(client)
        assert error.response is not None
        assert error.response.body == b"abc"


# -- answers that are not HTTP, and EOF -----------------------------------------------------


class TestNotHTTP:
    @pytest.mark.parametrize(
        "data",
        [
            b"hello world\r\n\r\n",
            b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
            b"HTTP/1.1 abc OK\r\n\r\n",
            b"HTTP/1.1 101 Switching Protocols\r\nBad Header Line\r\n\r\n",
            b"\x00\x01\x02\x03\r\n\r\n",
        ],
    )
    def test_garbage(self, data: bytes) -> None:
        client = make_client()
        client.data_to_send()
        client.receive_data(data)
        error = handshake_error(client)
        assert type(error) is NotHTTP
        message = str(error)
        assert "not valid HTTP" in message
        assert repr(data[:40]) in message
        assert "WebSocket (HTTP) server" in error.fix
        assert error.response is None
        assert_closed_after_eof(client, error)

    @pytest.mark.parametrize(
        "data",
        [
            b"\x15\x03\x01\x00\x02\x02\x46",  # a TLS alert (protocol_version)
            b"\x15\x03\x03\x00\x02\x02\x28",
            b"\x16\x03\x03\x00\x2a\x02\x00\x00\x26\x03\x03" + b"\x00" * 32,  # a ServerHello
        ],
    )
    def test_tls_answer_says_use_wss(self, data: bytes) -> None:
        client = make_client()
        client.data_to_send()
        client.receive_data(data + b"\r\n\r\n")
        error = handshake_error(client)
        assert type(error) is TLSRequired
        assert "TLS, not HTTP" in error.cause
        assert "use a wss:// URL" in str(error)

    def test_tls_alert_then_eof(self) -> None:
        client = make_client()
        client.data_to_send()
        client.receive_data(b"\x15\x03\x01\x00\x02\x02\x46")
        client.receive_eof()
        events = client.events_received()
        assert len(events) == 2
        assert isinstance(events[0], HandshakeFailed)
        assert "use a wss:// URL" in str(events[0].error)
        assert events[1] == Closed(1006, "", False, events[0].error)

    @pytest.mark.parametrize("chunk", [None, 1024])
    def test_headers_over_16_kib_fail(self, chunk: int | None) -> None:
        client = make_client()
        client.data_to_send()
        data = b"HTTP/1.1 101 Switching Protocols\r\nX-Big: " + b"a" * (4 * MAX_HEADER_SIZE)
        fed = 0
        step = chunk or len(data)
        while client.state is State.CONNECTING and fed < len(data):
            client.receive_data(data[fed : fed + step])
            fed += step
        if chunk:
            # The failure comes as soon as the head outgrows the limit, not later.
            assert fed <= MAX_HEADER_SIZE + 2 * chunk
        error = handshake_error(client)
        assert type(error) is InvalidHandshake
        assert "larger than 16 KiB" in str(error)
        # Later data is dropped, not buffered.
        for _ in range(100):
            client.receive_data(b"b" * 1024)
        assert client.events_received() == []

    def test_many_headers_just_under_the_limit_pass(self) -> None:
        client = make_client()
        client.data_to_send()
        filler = [(f"X-Filler-{index}", "v" * 100) for index in range(120)]
        data = accept_response(extra=filler)
        assert len(data) < MAX_HEADER_SIZE
        client.receive_data(data)
        [opened] = client.events_received()
        assert isinstance(opened, Opened)
        assert len(opened.response.headers) == 123


class TestEOFAndAbortWhileConnecting:
    def test_eof_before_any_answer_fails_the_handshake(self) -> None:
        client = make_client()
        client.data_to_send()
        client.receive_eof()
        events = client.events_received()
        assert len(events) == 2
        assert isinstance(events[0], HandshakeFailed)
        assert isinstance(events[0].error, ConnectionFailed)
        assert events[1] == Closed(1006, "", False, events[0].error)
        assert client.state is State.CLOSED

    def test_eof_before_any_answer_is_connection_aborted(self) -> None:
        client = make_client()
        client.data_to_send()
        client.receive_eof()
        [failed, _] = client.events_received()
        assert isinstance(failed, HandshakeFailed)
        assert type(failed.error) is ConnectionAborted
        assert "without answering the upgrade request" in str(failed.error)

    def test_eof_in_the_middle_of_headers_fails_the_handshake(self) -> None:
        client = make_client()
        client.data_to_send()
        client.receive_data(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: webs")
        assert client.events_received() == []
        client.receive_eof()
        events = client.events_received()
        assert len(events) == 2
        assert isinstance(events[0], HandshakeFailed)
        assert type(events[0].error) is InvalidHandshake
        assert events[1] == Closed(1006, "", False, events[0].error)

    def test_eof_in_the_middle_of_headers_says_so(self) -> None:
        client = make_client()
        client.data_to_send()
        client.receive_data(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: webs")
        client.receive_eof()
        failed = client.events_received()[0]
        assert isinstance(failed, HandshakeFailed)
        assert "in the middle of its answer" in str(failed.error)

    def test_eof_in_the_middle_of_a_refusal_body(self) -> None:
        client = make_client()
        client.data_to_send()
        client.receive_data(http_response(403, "Forbidden", [("Content-Length", "100")], b"no"))
        assert client.events_received() == []
        client.receive_eof()
        failed = client.events_received()[0]
        assert isinstance(failed, HandshakeFailed)
        assert isinstance(failed.error, InvalidStatus)
        assert failed.error.status == 403
        assert failed.error.response is not None
        assert failed.error.response.body == b"no"
        assert failed.error.response.truncated

    def test_empty_read_while_connecting_is_a_no_op(self) -> None:
        client = make_client()
        client.data_to_send()
        client.receive_data(b"")
        assert client.events_received() == []
        client.receive_data(accept_response())
        [opened] = client.events_received()
        assert isinstance(opened, Opened)

    def test_abort_with_error_while_connecting(self) -> None:
        client = make_client()
        client.data_to_send()
        error = OpenTimeout(URL, "the upgrade took too long", stage="http")
        client.abort(error)
        assert client.events_received() == [Closed(1006, "", False, error)]
        assert client.state is State.CLOSED
        assert client.error is error
        client.abort(error)
        client.receive_eof()
        assert client.events_received() == []

    def test_abort_without_error_while_connecting(self) -> None:
        client = make_client()
        client.data_to_send()
        client.receive_data(b"HTTP/1.1 10")
        client.abort()
        [closed] = client.events_received()
        assert isinstance(closed, Closed)
        assert (closed.code, closed.reason, closed.was_clean) == (1006, "", False)
        assert isinstance(closed.error, ConnectionLost)

    def test_fail_while_connecting_then_eof(self) -> None:
        client = make_client()
        client.data_to_send()
        error = OpenTimeout(URL, "too slow")
        client.fail(error)
        assert client.events_received() == []
        assert client.state is State.CLOSING
        assert client.failed
        assert client.data_to_send() == b""
        # A 101 arriving now is ignored.
        client.receive_data(accept_response())
        assert client.events_received() == []
        client.receive_eof()
        assert client.events_received() == [Closed(1006, "", False, error)]

    def test_refusal_then_abort_keeps_the_refusal(self) -> None:
        client = make_client()
        client.data_to_send()
        client.receive_data(http_response(404, "Not Found", [("Content-Length", "0")]))
        error = handshake_error(client)
        client.abort(OpenTimeout(URL, "late"))
        assert client.events_received() == [Closed(1006, "", False, error)]
