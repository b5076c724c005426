"""The exception tree: types, attributes, and messages that read as sentences."""

from __future__ import annotations

import doctest

import pytest

import wsapi.errors
from wsapi.errors import (
    ConnectionAborted,
    ConnectionClosed,
    ConnectionFailed,
    ConnectionLost,
    ConnectionRefused,
    DNSError,
    DOMException,
    InvalidHandshake,
    InvalidStatus,
    InvalidUTF8,
    KeepaliveTimeout,
    MessageTooBig,
    NetworkError,
    OpenTimeout,
    ProtocolError,
    TLSError,
    WebSocketError,
    redact_url,
)
from wsapi.response import Response

URL = "wss://example.com/socket"

FAILED_CLASSES = [
    (ConnectionFailed, "connect"),
    (DNSError, "dns"),
    (ConnectionRefused, "tcp"),
    (NetworkError, "tcp"),
    (OpenTimeout, "open"),
    (TLSError, "tls"),
    (InvalidStatus, "http"),
    (InvalidHandshake, "http"),
    (ConnectionAborted, "http"),
]


class TestHierarchy:
    @pytest.mark.parametrize("cls", [cls for cls, _ in FAILED_CLASSES])
    def test_connection_failed_subclasses(self, cls: type[ConnectionFailed]) -> None:
        assert issubclass(cls, ConnectionFailed)
        assert issubclass(cls, WebSocketError)
        assert not issubclass(cls, DOMException)

    def test_protocol_errors(self) -> None:
        assert issubclass(InvalidUTF8, ProtocolError)
        assert issubclass(MessageTooBig, ProtocolError)
        assert issubclass(ProtocolError, WebSocketError)
        assert not issubclass(ProtocolError, ConnectionFailed)

    @pytest.mark.parametrize("cls", [KeepaliveTimeout, ConnectionLost, ConnectionClosed])
    def test_other_errors(self, cls: type[WebSocketError]) -> None:
        assert issubclass(cls, WebSocketError)
        assert not issubclass(cls, ConnectionFailed)
        assert not issubclass(cls, ProtocolError)

    def test_dom_exception_is_not_a_websocket_error(self) -> None:
        assert issubclass(DOMException, Exception)
        assert not issubclass(DOMException, WebSocketError)

    def test_all(self) -> None:
        for name in wsapi.errors.__all__:
            assert hasattr(wsapi.errors, name)


class TestConnectionFailed:
    @pytest.mark.parametrize(("cls", "stage"), FAILED_CLASSES)
    def test_message_format(self, cls: type[ConnectionFailed], stage: str) -> None:
        error = cls(URL, "the thing went wrong", "Do this to fix it.")
        assert str(error) == (
            "WebSocket connection to 'wss://example.com/socket' failed: "
            "the thing went wrong. Do this to fix it."
        )
        assert error.args == (str(error),)
        assert error.url == URL
        assert error.cause == "the thing went wrong"
        assert error.fix == "Do this to fix it."
        assert error.stage == stage
        assert error.response is None

    def test_cause_final_period_not_doubled(self) -> None:
        error = ConnectionFailed(URL, "it broke.", "Fix it.")
        assert str(error) == f"WebSocket connection to '{URL}' failed: it broke. Fix it."
        assert error.cause == "it broke"

    def test_without_fix(self) -> None:
        error = DNSError("ws://nowhere.invalid/", "the host name did not resolve")
        assert str(error) == (
            "WebSocket connection to 'ws://nowhere.invalid/' failed: the host name did not resolve."
        )

    def test_stage_override(self) -> None:
        error = OpenTimeout(URL, "TLS took longer than open_timeout (10 s)", stage="tls")
        assert error.stage == "tls"

    def test_credentials_redacted(self) -> None:
        error = InvalidStatus(
            "wss://user:s3cret@example.com/ws?x=1",
            "401",
            "Fix.",
            response=Response(401, "Unauthorized"),
        )
        assert error.url == "wss://example.com/ws?x=1"
        assert "s3cret" not in str(error)
        assert "user" not in str(error)
        assert "s3cret" not in repr(error)

    def test_invalid_status_keeps_the_response(self) -> None:
        response = Response(403, "Forbidden", (("X", "y"),), b"no")
        error = InvalidStatus(URL, "refused", response=response)
        assert error.response is response
        assert error.status == 403

    def test_invalid_handshake_keeps_the_response(self) -> None:
        response = Response(101, "Switching Protocols")
        error = InvalidHandshake(URL, "bad accept", response=response)
        assert error.response is response

    def test_raisable_and_catchable_by_base(self) -> None:
        with pytest.raises(ConnectionFailed) as info:
            raise TLSError(URL, "certificate verify failed", "Pass ssl=...")
        assert info.value.stage == "tls"


class TestRedactUrl:
    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            ("wss://user:secret@example.com/", "wss://example.com/"),
            ("wss://user@example.com/", "wss://example.com/"),
            ("ws://:pw@example.com:8080/a?b=c#d", "ws://example.com:8080/a?b=c#d"),
            ("wss://a%40b:p%3Aw@host/", "wss://host/"),
            ("wss://u:p@[::1]:9000/x", "wss://[::1]:9000/x"),
            ("wss://weird@user:pw@host/", "wss://host/"),
            ("wss://example.com/", "wss://example.com/"),
            ("wss://example.com/path@with-at", "wss://example.com/path@with-at"),
            ("ws://example.com/?email=a@b.c", "ws://example.com/?email=a@b.c"),
            ("not a url", "not a url"),
            ("", ""),
            ("http://[::1", "http://[::1"),
        ],
    )
    def test_redact(self, url: str, expected: str) -> None:
        assert redact_url(url) == expected


class TestProtocolErrors:
    def test_protocol_error_default_code(self) -> None:
        error = ProtocolError("the server sent a masked frame")
        assert error.code == 1002
        assert str(error) == "the server sent a masked frame"

    def test_protocol_error_code(self) -> None:
        assert ProtocolError("x", 1011).code == 1011

    def test_invalid_utf8(self) -> None:
        error = InvalidUTF8("bad bytes")
        assert error.code == 1007
        assert str(error) == "bad bytes"

    def test_message_too_big(self) -> None:
        error = MessageTooBig("too big")
        assert error.code == 1009
        assert str(error) == "too big"


class TestDOMException:
    @pytest.mark.parametrize(
        ("name", "code"),
        [
            ("SyntaxError", 12),
            ("InvalidStateError", 11),
            ("InvalidAccessError", 15),
            ("NotSupportedError", 0),
            ("Error", 0),
        ],
    )
    def test_name_and_code(self, name: str, code: int) -> None:
        error = DOMException("message", name)
        assert error.name == name
        assert error.code == code
        assert error.message == "message"
        assert str(error) == f"{name}: message"

    def test_defaults(self) -> None:
        error = DOMException()
        assert error.name == "Error"
        assert error.code == 0
        assert error.message == ""
        assert str(error) == "Error"

    def test_name_without_message(self) -> None:
        assert str(DOMException(name="InvalidStateError")) == "InvalidStateError"


class TestConnectionClosed:
    def test_clean_with_reason(self) -> None:
        error = ConnectionClosed(1000, "bye", True)
        assert str(error) == "WebSocket connection closed cleanly with code 1000 (bye)"
        assert (error.code, error.reason, error.wasClean) == (1000, "bye", True)

    def test_abnormal(self) -> None:
        error = ConnectionClosed(1006)
        assert str(error) == "WebSocket connection closed abnormally with code 1006"
        assert (error.code, error.reason, error.wasClean) == (1006, "", False)

    def test_no_status(self) -> None:
        assert str(ConnectionClosed(1005, "", True)) == (
            "WebSocket connection closed cleanly with code 1005"
        )

    def test_cause(self) -> None:
        cause = ProtocolError("bad frame")
        try:
            try:
                raise cause
            except ProtocolError as exc:
                raise ConnectionClosed(1006) from exc
        except ConnectionClosed as closed:
            assert closed.__cause__ is cause


class TestSimpleErrors:
    def test_keepalive_timeout(self) -> None:
        assert str(KeepaliveTimeout("no pong within 20 s")) == "no pong within 20 s"

    def test_connection_lost(self) -> None:
        assert str(ConnectionLost("reset")) == "reset"


def test_doctests() -> None:
    failures, _ = doctest.testmod(wsapi.errors, verbose=False)
    assert failures == 0
