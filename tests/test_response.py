"""Response: the record of a server's answer to the upgrade request."""

from __future__ import annotations

import dataclasses

import pytest

from wsapi.response import MAX_BODY_SIZE, Response


def test_defaults() -> None:
    response = Response(404)
    assert response.status == 404
    assert response.reason == ""
    assert response.headers == ()
    assert response.body == b""
    assert response.http_version == "1.1"
    assert response.truncated is False
    assert MAX_BODY_SIZE == 64 * 1024


def test_frozen_and_comparable() -> None:
    response = Response(200, "OK", (("A", "1"),))
    with pytest.raises(dataclasses.FrozenInstanceError):
        response.status = 500  # type: ignore[misc]
    assert response == Response(200, "OK", (("A", "1"),))
    assert response != Response(200, "OK", (("a", "1"),))


class TestHeader:
    response = Response(
        200,
        "OK",
        (
            ("Content-Type", "text/plain"),
            ("Set-Cookie", "a=1"),
            ("set-cookie", "b=2"),
            ("X-Empty", ""),
        ),
    )

    @pytest.mark.parametrize("name", ["Content-Type", "content-type", "CONTENT-TYPE"])
    def test_case_insensitive(self, name: str) -> None:
        assert self.response.header(name) == "text/plain"

    def test_several_values_joined(self) -> None:
        assert self.response.header("Set-Cookie") == "a=1, b=2"

    def test_missing(self) -> None:
        assert self.response.header("Location") is None
        assert self.response.header("Location", "default") == "default"

    def test_empty_value_is_not_missing(self) -> None:
        assert self.response.header("X-Empty", "default") == ""

    def test_headers_keep_order_and_spelling(self) -> None:
        assert [name for name, _ in self.response.headers] == [
            "Content-Type",
            "Set-Cookie",
            "set-cookie",
            "X-Empty",
        ]


class TestBody:
    def test_text(self) -> None:
        assert Response(200, body="héllo".encode()).text == "héllo"

    def test_text_replaces_invalid_utf8(self) -> None:
        assert Response(200, body=b"ok \xff\xfe").text == "ok \ufffd\ufffd"

    def test_json(self) -> None:
        assert Response(400, body=b'{"error": "nope", "n": [1, 2]}').json() == {
            "error": "nope",
            "n": [1, 2],
        }

    @pytest.mark.parametrize("body", [b"", b"<html>", b"{", b"\xff"])
    def test_json_invalid(self, body: bytes) -> None:
        with pytest.raises(ValueError):
            Response(400, body=body).json()

    def test_excerpt_collapses_whitespace(self) -> None:
        response = Response(500, body=b"\n  <h1>Internal\r\n\tError</h1>  \n")
        assert response.body_excerpt() == "<h1>Internal Error</h1>"

    def test_excerpt_empty(self) -> None:
        assert Response(500).body_excerpt() == ""
        assert Response(500, body=b" \n\t ").body_excerpt() == ""

    def test_excerpt_limit(self) -> None:
        response = Response(500, body=b"a" * 300)
        excerpt = response.body_excerpt()
        assert len(excerpt) == 200
        assert excerpt == "a" * 199 + "…"
        assert response.body_excerpt(10) == "a" * 9 + "…"

    def test_excerpt_exactly_at_the_limit(self) -> None:
        assert Response(500, body=b"b" * 200).body_excerpt() == "b" * 200

    def test_excerpt_of_invalid_utf8(self) -> None:
        assert Response(500, body=b"bad \xff").body_excerpt() == "bad \ufffd"


class TestStatusLine:
    def test_with_reason(self) -> None:
        assert Response(404, "Not Found").status_line == "HTTP/1.1 404 Not Found"

    def test_without_reason(self) -> None:
        assert Response(404).status_line == "HTTP/1.1 404"

    def test_http_1_0(self) -> None:
        assert Response(200, "OK", http_version="1.0").status_line == "HTTP/1.0 200 OK"
