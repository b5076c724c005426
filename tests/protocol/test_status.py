"""explain_status(): the cause and the fix for each status a server may refuse with."""

from __future__ import annotations

import doctest

import pytest

import wsapi.protocol.status
from wsapi.protocol.status import explain_status
from wsapi.response import Response

PROXY = "proxy_set_header Upgrade $http_upgrade"


@pytest.mark.parametrize(
    ("status", "reason", "fix"),
    [
        (400, "Bad Request", PROXY),
        (426, "Upgrade Required", PROXY),
        (401, "Unauthorized", "headers={'Authorization': ...}"),
        (403, "Forbidden", "origin=..."),
        (404, "Not Found", "check the URL's path"),
        (405, "Method Not Allowed", "does not accept GET"),
        (429, "Too Many Requests", "Retry-After"),
        (500, "Internal Server Error", "server's logs"),
        (502, "Bad Gateway", "backend is up"),
        (503, "Service Unavailable", "try again later"),
        (504, "Gateway Timeout", "timed out"),
        (505, "HTTP Version Not Supported", "proxy_http_version 1.1"),
    ],
)
def test_known_statuses(status: int, reason: str, fix: str) -> None:
    cause, got_fix = explain_status(Response(status, reason))
    assert (
        cause
        == f"the server answered the upgrade request with HTTP {status} {reason} instead of 101"
    )
    assert fix in got_fix


@pytest.mark.parametrize("status", [100, 102, 103, 200, 204, 299])
def test_informational_and_success(status: int) -> None:
    cause, fix = explain_status(Response(status, "Whatever"))
    assert f"HTTP {status} Whatever instead of 101" in cause
    assert fix == "The server must answer 101 Switching Protocols to accept a WebSocket."


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_name_the_location(status: int) -> None:
    response = Response(status, "Moved", (("location", "wss://new.example.com/ws"),))
    _, fix = explain_status(response)
    assert fix == (
        "The server redirects to wss://new.example.com/ws: connect to the new URL "
        "(WebSocket clients do not follow redirects unless asked: follow_redirects=True)."
    )


def test_redirect_without_location() -> None:
    _, fix = explain_status(Response(300, "Multiple Choices"))
    assert fix.startswith("The server redirects: connect to the new URL")


@pytest.mark.parametrize("status", [402, 406, 409, 410, 418, 451, 499])
def test_other_client_errors(status: int) -> None:
    _, fix = explain_status(Response(status))
    assert fix == "The server rejected the request: check the URL, headers and credentials."


@pytest.mark.parametrize("status", [501, 520, 599, 600, 999])
def test_other_server_errors(status: int) -> None:
    _, fix = explain_status(Response(status))
    assert fix == "The server failed: see the server's logs."


def test_no_reason_phrase() -> None:
    cause, _ = explain_status(Response(404))
    assert cause == "the server answered the upgrade request with HTTP 404 instead of 101"


def test_body_excerpt_in_the_cause() -> None:
    response = Response(403, "Forbidden", body=b"  Origin\n\n not   allowed \n")
    cause, _ = explain_status(response)
    assert cause.endswith("instead of 101 (body: 'Origin not allowed')")


def test_long_body_is_cut() -> None:
    response = Response(500, "Oops", body=b"x" * 10_000)
    cause, _ = explain_status(response)
    assert len(cause) < 400
    assert "…" in cause


def test_empty_body_is_not_mentioned() -> None:
    cause, _ = explain_status(Response(500, "Oops", body=b" \r\n "))
    assert "body" not in cause


def test_fixes_are_sentences() -> None:
    for status in (100, 200, 302, 400, 401, 403, 404, 405, 418, 426, 429, 500, 502, 503, 504, 599):
        _, fix = explain_status(Response(status, "R"))
        assert fix[0].isupper()
        assert fix.endswith(".")


def test_doctest() -> None:
    failures, _ = doctest.testmod(wsapi.protocol.status, verbose=False)
    assert failures == 0
