"""``reconnecting()`` without a network: arguments, the backoff, what is worth a retry."""

from __future__ import annotations

import ssl

import pytest

import wsapi
from wsapi import (
    CertificateExpired,
    CertificateUntrusted,
    ConnectionAborted,
    ConnectionFailed,
    ConnectionRefused,
    DNSError,
    DOMException,
    HostUnreachable,
    InsecureRedirect,
    InvalidAccept,
    InvalidStatus,
    NetworkError,
    NotHTTP,
    NotTLS,
    OpenTimeout,
    Reconnecting,
    RedirectLoop,
    TLSError,
    TLSRequired,
    TooManyRedirects,
    UnexpectedSubprotocol,
    reconnecting,
)
from wsapi.reconnect import Backoff, is_transient, retry_after
from wsapi.response import Response

URL = "ws://127.0.0.1:9/feed"

pytestmark = pytest.mark.filterwarnings("error")


# -- the arguments ---------------------------------------------------------------------------


def test_reconnecting_is_exported() -> None:
    assert wsapi.reconnecting is reconnecting
    assert isinstance(reconnecting(URL), Reconnecting)
    assert "reconnecting" in dir(wsapi) and "Reconnecting" in dir(wsapi)


def test_checks_the_websocket_arguments_at_once_without_a_loop() -> None:
    with pytest.raises(DOMException) as caught:
        reconnecting("ftp://example.com/")
    assert caught.value.name == "SyntaxError"
    with pytest.raises(DOMException):
        reconnecting(URL, ["chat", "chat"])
    with pytest.raises(ValueError, match="open_timeout"):
        reconnecting(URL, open_timeout=-1)
    with pytest.raises(TypeError):
        reconnecting(URL, no_such_option=True)


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"initial_delay": -1}, ValueError, "initial_delay"),
        ({"initial_delay": "1"}, TypeError, "initial_delay"),
        ({"max_delay": float("inf")}, ValueError, "max_delay"),
        ({"factor": 0.5}, ValueError, "factor"),
        ({"factor": None}, TypeError, "factor"),
        ({"max_attempts": 0}, ValueError, "max_attempts"),
        ({"max_attempts": True}, ValueError, "max_attempts"),
        ({"max_attempts": 1.5}, ValueError, "max_attempts"),
    ],
)
def test_checks_the_backoff_arguments(
    options: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        reconnecting(URL, **options)  # type: ignore[arg-type]


def test_url_and_repr() -> None:
    connections = reconnecting("HTTP://user:secret@127.0.0.1:9/a/../feed", max_attempts=3)
    assert connections.url == "ws://user:secret@127.0.0.1:9/feed"
    assert repr(connections) == "<Reconnecting url='ws://127.0.0.1:9/feed'>"
    assert connections.max_attempts == 3
    assert connections.websocket is None


def test_async_for_needs_async_with() -> None:
    connections = reconnecting(URL)
    with pytest.raises(RuntimeError, match=r"async with wsapi.reconnecting\(url\) as connections"):
        connections.__aiter__()


def test_listener_attributes() -> None:
    connections = reconnecting(URL)

    def listener(event: object) -> None:
        pass

    for name in ("onopen", "onmessage", "onerror", "onclose"):
        assert getattr(connections, name) is None
        setattr(connections, name, listener)
        assert getattr(connections, name) is listener
    connections.addEventListener("message", listener)
    connections.removeEventListener("message", listener)


# -- the backoff -------------------------------------------------------------------------------


def test_ceilings_grow_exponentially_up_to_max_delay() -> None:
    backoff = Backoff(initial_delay=0.5, factor=3.0, max_delay=10.0)
    assert backoff.ceiling() == 0.0
    ceilings = []
    for _ in range(6):
        backoff.failed()
        ceilings.append(backoff.ceiling())
    assert ceilings == [0.5, 1.5, 4.5, 10.0, 10.0, 10.0]
    backoff.reset()
    assert (backoff.failures, backoff.ceiling(), backoff.delay()) == (0, 0.0, 0.0)


def test_full_jitter() -> None:
    draws = iter([0.0, 0.25, 0.999])
    backoff = Backoff(initial_delay=2.0, factor=2.0, max_delay=100.0, rand=lambda: next(draws))
    backoff.failed()
    backoff.failed()  # ceiling 4.0
    assert [backoff.delay() for _ in range(3)] == [0.0, 1.0, pytest.approx(3.996)]


def test_delays_stay_within_the_ceiling() -> None:
    backoff = Backoff(initial_delay=0.1, factor=2.0, max_delay=1.0)
    for _ in range(50):
        backoff.failed()
        assert 0.0 <= backoff.delay() <= backoff.ceiling() <= 1.0


def test_a_huge_number_of_failures_does_not_overflow() -> None:
    backoff = Backoff(initial_delay=1.0, factor=10.0, max_delay=30.0, failures=100_000)
    assert backoff.ceiling() == 30.0


def test_factor_one_is_a_constant_delay() -> None:
    backoff = Backoff(initial_delay=0.3, factor=1.0, max_delay=5.0, failures=20)
    assert backoff.ceiling() == 0.3


# -- what is worth a retry ---------------------------------------------------------------------


def status(code: int, *headers: tuple[str, str]) -> InvalidStatus:
    return InvalidStatus(URL, "refused", response=Response(code, "", headers))


TRANSIENT = [
    ConnectionRefused(URL, "refused"),
    DNSError(URL, "no such host"),
    NetworkError(URL, "reset"),
    HostUnreachable(URL, "no route"),
    OpenTimeout(URL, "slow", stage="http"),
    ConnectionAborted(URL, "the server closed the connection during the handshake"),
    status(429),
    status(500),
    status(502),
    status(503),
    status(504),
    status(599),
]

FATAL = [
    status(400),
    status(401),
    status(403),
    status(404),
    status(408),
    status(426),
    status(301),
    TooManyRedirects(URL, "too many", response=Response(302)),
    RedirectLoop(URL, "loop", response=Response(302)),
    InsecureRedirect(URL, "insecure", response=Response(301)),
    TLSError(URL, "handshake failure"),
    NotTLS(URL, "plain text"),
    CertificateExpired(URL, "expired"),
    CertificateUntrusted(URL, "self-signed"),
    InvalidAccept(URL, "wrong accept"),
    UnexpectedSubprotocol(URL, "not offered", offered=("a",), chosen=("b",)),
    NotHTTP(URL, "SSH banner"),
    TLSRequired(URL, "TLS answer"),
]


@pytest.mark.parametrize("error", TRANSIENT, ids=lambda e: f"{type(e).__name__}-{e.response}")
def test_transient(error: ConnectionFailed) -> None:
    assert is_transient(error)


@pytest.mark.parametrize("error", FATAL, ids=lambda e: type(e).__name__)
def test_fatal(error: ConnectionFailed) -> None:
    assert not is_transient(error)


def test_not_a_connection_failure_is_fatal() -> None:
    assert not is_transient(ValueError("a bug"))
    assert not is_transient(OSError("not translated"))


def test_a_certificate_refused_on_the_way_is_fatal() -> None:
    # As a proxy's TLS error would carry it: not a TLSError, but the cause says it all.
    error = NetworkError(URL, "the tunnel failed")
    error.__cause__ = ssl.SSLCertVerificationError("certificate verify failed")
    assert not is_transient(error)


# -- Retry-After -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("0", 0.0),
        ("7", 7.0),
        (" 30 ", 30.0),
        ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # in the past: at once
        ("-5", None),
        ("1.5", None),
        ("soon", None),
        ("", None),
        ("Wed, 21 Oct 2015 07:28:10", None),  # no zone: not an HTTP-date
    ],
)
def test_retry_after(value: str, seconds: float | None) -> None:
    response = Response(503, headers=(("Retry-After", value),))
    assert retry_after(response, now=1445412480.0) == seconds


def test_no_retry_after() -> None:
    assert retry_after(None) is None
    assert retry_after(Response(503)) is None
