"""The rules of following a redirect (``wsapi.protocol.redirects``): pure functions, no I/O."""

from __future__ import annotations

import base64
import copy
import pickle

import pytest

import wsapi
from wsapi import (
    DOMException,
    InsecureRedirect,
    InvalidStatus,
    RedirectLoop,
    RedirectReceived,
    TooManyRedirects,
    WebSocket,
)
from wsapi.protocol.redirects import (
    DEFAULT_LIMIT,
    FOLLOWED_STATUSES,
    next_url,
    redirect_headers,
    redirect_limit,
    resolve_location,
    same_origin,
)
from wsapi.protocol.url import WebSocketURL, parse_url
from wsapi.response import Response

START = "ws://example.com/app/socket?room=1"


def redirect(status: int, location: str | None, url: str = START) -> RedirectReceived:
    headers = () if location is None else (("Location", location),)
    error = InvalidStatus(url, "moved", response=Response(status, "Moved", headers))
    assert isinstance(error, RedirectReceived)
    return error


def urls(*hrefs: str) -> list[WebSocketURL]:
    return [parse_url(href) for href in hrefs]


# -- follow_redirects ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "limit"), [(False, 0), (True, DEFAULT_LIMIT), (0, 0), (1, 1), (25, 25)]
)
def test_redirect_limit(value: bool | int, limit: int) -> None:
    assert redirect_limit(value) == limit


def test_default_limit_is_sensible() -> None:
    assert 5 <= DEFAULT_LIMIT <= 20


@pytest.mark.parametrize(
    ("value", "error"), [(-1, ValueError), ("yes", TypeError), (2.5, TypeError), (None, TypeError)]
)
def test_redirect_limit_rejects(value: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="follow_redirects"):
        redirect_limit(value)


def test_websocket_checks_follow_redirects_without_io() -> None:
    with pytest.raises(ValueError, match="follow_redirects"):
        WebSocket("ws://example.com/", follow_redirects=-3)
    with pytest.raises(TypeError, match="follow_redirects"):
        WebSocket("ws://example.com/", follow_redirects="10")  # type: ignore[arg-type]
    ws = WebSocket("ws://example.com/", follow_redirects=True)
    assert ws._transport.max_redirects == DEFAULT_LIMIT
    assert WebSocket("ws://example.com/")._transport.max_redirects == 0


def test_final_url_is_url_before_opening() -> None:
    ws = WebSocket("HTTP://Example.com/a", follow_redirects=True)
    assert ws.url == ws.final_url == "ws://example.com/a"


def test_ssl_for_a_ws_url_only_with_follow_redirects() -> None:
    import ssl

    context = ssl.create_default_context()
    with pytest.raises(ValueError, match="use wss://"):
        WebSocket("ws://example.com/", ssl=context)
    ws = WebSocket("ws://example.com/", ssl=context, follow_redirects=True)
    assert ws._transport.ssl_context is context  # for the wss:// URLs it may redirect to


# -- the next URL ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("/v2/socket", "ws://example.com/v2/socket"),
        ("other", "ws://example.com/app/other"),
        ("../up", "ws://example.com/up"),
        ("?room=2", "ws://example.com/app/socket?room=2"),
        ("//cdn.example.com/ws", "ws://cdn.example.com/ws"),
        ("http://other.example/ws", "ws://other.example/ws"),
        ("https://other.example/ws", "wss://other.example/ws"),
        ("ws://other.example:8080/ws", "ws://other.example:8080/ws"),
        ("wss://other.example:443/ws", "wss://other.example/ws"),
        ("HTTPS://Other.Example/a/./b/../c", "wss://other.example/a/c"),
        ("  /padded  ", "ws://example.com/padded"),
        ("/with#fragment", "ws://example.com/with"),
        ("/caf\u00e9", "ws://example.com/caf%C3%A9"),
    ],
)
def test_resolve_location(location: str, expected: str) -> None:
    assert resolve_location(parse_url(START), location).href == expected


def test_resolve_location_keeps_credentials_of_a_relative_location() -> None:
    base = parse_url("wss://user:pw@example.com/a")
    assert resolve_location(base, "/b").href == "wss://user:pw@example.com/b"
    assert resolve_location(base, "//other.example/b").href == "wss://other.example/b"


@pytest.mark.parametrize(
    "location", ["ftp://example.com/", "mailto:someone@example.com", "javascript:alert(1)"]
)
def test_resolve_location_refuses_what_is_no_websocket_url(location: str) -> None:
    with pytest.raises(DOMException) as caught:
        resolve_location(parse_url(START), location)
    assert caught.value.name == "SyntaxError"


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("ws://example.com/a", "ws://example.com:80/b?c", True),
        ("ws://example.com/", "wss://example.com/", False),
        ("ws://example.com/", "ws://example.com:8080/", False),
        ("ws://example.com/", "ws://www.example.com/", False),
        ("ws://EXAMPLE.com/", "http://example.com/", True),
        ("wss://u:p@example.com/", "wss://example.com/", True),
    ],
)
def test_same_origin(a: str, b: str, same: bool) -> None:
    assert same_origin(parse_url(a), parse_url(b)) is same
    assert same_origin(parse_url(b), parse_url(a)) is same


# -- the headers -------------------------------------------------------------------------------

HEADERS = (
    ("Authorization", "Bearer secret"),
    ("cookie", "session=1"),
    ("X-Trace", "abc"),
    ("Sec-Fetch-Thing", "kept"),
)


def test_same_origin_keeps_every_header() -> None:
    old, new = urls("ws://example.com/a", "ws://example.com/b")
    assert redirect_headers(HEADERS, old, new) == HEADERS


@pytest.mark.parametrize(
    "target", ["ws://other.example/", "wss://example.com/", "ws://example.com:81/"]
)
def test_another_origin_gets_no_secrets(target: str) -> None:
    old, new = urls("ws://example.com/a", target)
    assert redirect_headers(HEADERS, old, new) == (
        ("X-Trace", "abc"),
        ("Sec-Fetch-Thing", "kept"),
    )


def test_credentials_in_the_location_become_basic_auth() -> None:
    old, new = urls("ws://example.com/", "ws://alice:s3cret@other.example/")
    headers = redirect_headers(HEADERS, old, new)
    token = base64.b64encode(b"alice:s3cret").decode()
    assert headers[-1] == ("Authorization", f"Basic {token}")
    assert ("Authorization", "Bearer secret") not in headers


def test_an_explicit_authorization_wins_over_credentials_on_the_same_origin() -> None:
    old, new = urls("ws://example.com/", "ws://alice:pw@example.com/b")
    assert redirect_headers(HEADERS, old, new) == HEADERS


# -- next_url: followed, and each reason not to ----------------------------------------------


@pytest.mark.parametrize("status", sorted(FOLLOWED_STATUSES))
def test_followed_statuses(status: int) -> None:
    target = next_url(redirect(status, "/next"), urls(START), limit=1)
    assert target.href == "ws://example.com/next"


def test_followed_statuses_are_the_redirects_with_one_target() -> None:
    assert frozenset({301, 302, 303, 307, 308}) == FOLLOWED_STATUSES


@pytest.mark.parametrize("status", [300, 304, 305, 306, 399])
def test_other_3xx_are_not_followed(status: int) -> None:
    with pytest.raises(RedirectReceived) as caught:
        next_url(redirect(status, "/elsewhere"), urls(START), limit=10)
    error = caught.value
    assert type(error) is RedirectReceived
    assert f"HTTP {status} Moved" in error.cause
    assert "only 301, 302, 303, 307 and 308" in str(error)
    assert "/elsewhere" in error.fix
    assert error.response is not None and error.response.status == status


def test_no_location() -> None:
    with pytest.raises(RedirectReceived) as caught:
        next_url(redirect(302, None), urls(START), limit=10)
    assert type(caught.value) is RedirectReceived
    assert str(caught.value).startswith(
        f"WebSocket connection to '{START}' failed: the server answered the upgrade request "
        "with HTTP 302 Moved without a Location header. "
    )


def test_location_that_is_no_websocket_url() -> None:
    with pytest.raises(RedirectReceived) as caught:
        next_url(redirect(301, "ftp://files.example/"), urls(START), limit=10)
    error = caught.value
    assert type(error) is RedirectReceived
    assert "'ftp://files.example/', which is not a WebSocket URL" in error.cause
    assert isinstance(error.__cause__, DOMException)
    assert error.location == "ftp://files.example/"


@pytest.mark.parametrize("location", ["ws://example.com/plain", "http://example.com/plain"])
def test_wss_to_ws_is_refused(location: str) -> None:
    start = "wss://user:pw@example.com/secure"
    with pytest.raises(InsecureRedirect) as caught:
        next_url(redirect(308, location, start), urls(start), limit=10)
    error = caught.value
    assert isinstance(error, RedirectReceived)
    assert error.url == "wss://example.com/secure"  # no credentials in messages
    assert error.location == location
    text = str(error)
    assert text.startswith(
        "WebSocket connection to 'wss://example.com/secure' failed: the server redirects "
        "(HTTP 308 Moved) from wss://example.com/secure to ws://example.com/plain, which is not "
        "encrypted. wsapi never follows a redirect from wss:// to ws://"
    )
    assert "pw" not in text


def test_ws_to_wss_is_followed() -> None:
    target = next_url(redirect(301, "https://example.com/tls"), urls(START), limit=10)
    assert (target.href, target.secure) == ("wss://example.com/tls", True)


def test_a_loop() -> None:
    history = urls(START, "ws://example.com/b")
    with pytest.raises(RedirectLoop) as caught:
        next_url(redirect(302, START, "ws://example.com/b"), history, limit=10)
    error = caught.value
    assert isinstance(error, TooManyRedirects) and isinstance(error, RedirectReceived)
    assert error.url == START  # the chain starts where the application asked
    assert error.history == (START, "ws://example.com/b", START)
    assert str(error) == (
        f"WebSocket connection to '{START}' failed: the redirects go round in a loop: "
        f"ws://example.com/b redirects back to {START} "
        f"({START} -> ws://example.com/b -> {START}). Following more redirects cannot help: "
        "fix the redirect rules of the server (or of a proxy in front of it), or connect to "
        "the right URL directly."
    )


def test_a_redirect_to_itself_is_a_loop() -> None:
    with pytest.raises(RedirectLoop):
        next_url(redirect(307, "/app/socket?room=1"), urls(START), limit=10)


def test_too_many() -> None:
    hops = [f"ws://example.com/{n}" for n in range(4)]
    history = urls(*hops)
    # Three redirects followed (0 -> 1 -> 2 -> 3): a fourth is one too many for 3.
    with pytest.raises(TooManyRedirects) as caught:
        next_url(redirect(302, "/4", hops[-1]), history, limit=3)
    error = caught.value
    assert type(error) is TooManyRedirects
    assert error.history == (*hops, "ws://example.com/4")
    assert error.url == hops[0]
    assert "more than follow_redirects=3 times" in str(error)
    assert " -> ".join(error.history) in str(error)
    assert "pass a larger follow_redirects" in error.fix
    assert error.stage == "http"
    # ... while the limit itself is allowed.
    assert next_url(redirect(302, "/4", hops[-1]), history, limit=4).href.endswith("/4")


def test_history_has_no_credentials() -> None:
    start = "ws://u:secret@example.com/a"
    with pytest.raises(TooManyRedirects) as caught:
        next_url(redirect(302, "/b", start), urls(start), limit=0)
    assert caught.value.history == ("ws://example.com/a", "ws://example.com/b")
    assert "secret" not in str(caught.value)


# -- the new errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("child", "parent"),
    [
        (TooManyRedirects, RedirectReceived),
        (RedirectLoop, TooManyRedirects),
        (InsecureRedirect, RedirectReceived),
    ],
)
def test_tree(child: type[Exception], parent: type[Exception]) -> None:
    assert issubclass(child, parent)
    assert issubclass(child, wsapi.ConnectionFailed)
    assert getattr(wsapi, child.__name__) is child
    assert child.__name__ in wsapi.__all__


@pytest.mark.parametrize(
    "error",
    [
        TooManyRedirects(START, "x", "Y.", response=Response(302), history=(START, START)),
        RedirectLoop(START, "x", response=Response(301), history=(START,)),
        InsecureRedirect(START, "x", response=Response(308)),
    ],
    ids=lambda error: type(error).__name__,
)
def test_errors_survive_pickle_and_copy(error: wsapi.ConnectionFailed) -> None:
    for clone in (pickle.loads(pickle.dumps(error)), copy.copy(error)):
        assert type(clone) is type(error)
        assert str(clone) == str(error)
        assert clone.__dict__ == error.__dict__
