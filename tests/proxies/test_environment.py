"""Choosing the proxy: proxy URLs, the environment variables, NO_PROXY, the options' checks.

Pure functions: no loop, no sockets. NO_PROXY rules are checked against the standard
library's own ``urllib.request.proxy_bypass_environment()``: wsapi must agree with it.
"""

from __future__ import annotations

import ssl
import sys
import urllib.request
from pathlib import Path

import pytest

from wsapi import WebSocket
from wsapi.protocol.proxy import (
    InvalidProxyURL,
    ProxyURL,
    authority,
    basic_credentials,
    parse_proxy_url,
    proxy_from_environment,
    proxy_option,
    unix_socket_option,
)
from wsapi.protocol.url import parse_url

PROXY = "http://proxy.example:3128"


# -- proxy URLs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "href", "user", "password"),
    [
        ("http://proxy.example:3128", "http://proxy.example:3128", "", ""),
        ("http://proxy.example", "http://proxy.example:80", "", ""),
        ("https://proxy.example", "https://proxy.example:443", "", ""),
        ("socks5://proxy.example", "socks5://proxy.example:1080", "", ""),
        ("SOCKS5H://Proxy.Example:1081/", "socks5h://proxy.example:1081", "", ""),
        ("proxy.example:3128", "http://proxy.example:3128", "", ""),
        ("  http://proxy.example:3128  ", "http://proxy.example:3128", "", ""),
        ("http://[::1]:3128", "http://[::1]:3128", "", ""),
        ("http://alice:s3cret@proxy.example:3128", "http://proxy.example:3128", "alice", "s3cret"),
        ("http://al%40ice:p%3Aw%20d@proxy.example", "http://proxy.example:80", "al@ice", "p:w d"),
        ("socks5://bob@proxy.example", "socks5://proxy.example:1080", "bob", ""),
    ],
)
def test_parse_proxy_url(text: str, href: str, user: str, password: str) -> None:
    proxy = parse_proxy_url(text)
    assert (proxy.href, proxy.username, proxy.password) == (href, user, password)
    assert proxy.source == "proxy="
    assert "s3cret" not in repr(proxy)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("ftp://proxy.example", "the scheme must be http, https, socks5 or socks5h, not 'ftp'"),
        ("socks4://proxy.example", "SOCKS4 is not supported"),
        ("http://", "it has no host"),
        ("http://proxy.example:99999", "out of range"),
        ("http://proxy.example:port", "invalid proxy URL"),
        ("http://proxy.example:3128/path", "a proxy URL has no path"),
        ("http://proxy.example:3128?x=1", "a proxy URL has no path, query or fragment"),
        ("http://[::1:3128", "invalid proxy URL"),
    ],
)
def test_unusable_proxy_urls(text: str, words: str) -> None:
    with pytest.raises(InvalidProxyURL, match=words.replace("?", r"\?")):
        parse_proxy_url(text)


def test_invalid_proxy_url_hides_the_password() -> None:
    with pytest.raises(InvalidProxyURL) as info:
        parse_proxy_url("ftp://alice:s3cret@proxy.example")
    assert "s3cret" not in str(info.value)
    assert "ftp://proxy.example" in str(info.value)


def test_describe_names_the_source() -> None:
    assert parse_proxy_url(PROXY).describe() == "the proxy http://proxy.example:3128"
    from_env = parse_proxy_url(PROXY, "HTTPS_PROXY")
    assert from_env.describe() == "the proxy http://proxy.example:3128 (from HTTPS_PROXY)"
    assert from_env.setting == "the HTTPS_PROXY environment variable"
    assert "NO_PROXY" in from_env.bypass
    assert parse_proxy_url(PROXY).setting == "proxy="
    assert "NO_PROXY" not in parse_proxy_url(PROXY).bypass


def test_authority_and_credentials() -> None:
    assert authority("::1", 80) == "[::1]:80"
    assert authority("example.com", 443) == "example.com:443"
    proxy = parse_proxy_url("http://J%C3%BCrgen:p%C3%A4ss@proxy.example")
    # RFC 7617: UTF-8 is what servers that say anything say.
    assert basic_credentials(proxy) == "Basic SsO8cmdlbjpww6Rzcw=="


# -- the environment ---------------------------------------------------------------------


def chosen(url: str) -> str | None:
    proxy = proxy_from_environment(parse_url(url))
    return None if proxy is None else f"{proxy.href} {proxy.source}"


def test_no_variables_no_proxy() -> None:
    assert chosen("ws://example.com/") is None
    assert chosen("wss://example.com/") is None


@pytest.mark.parametrize(
    ("variables", "url", "expected"),
    [
        ({"HTTP_PROXY": "http://h:1"}, "ws://example.com/", "http://h:1 HTTP_PROXY"),
        ({"HTTP_PROXY": "http://h:1"}, "wss://example.com/", None),
        ({"HTTPS_PROXY": "http://s:2"}, "wss://example.com/", "http://s:2 HTTPS_PROXY"),
        ({"HTTPS_PROXY": "http://s:2"}, "ws://example.com/", None),
        ({"ALL_PROXY": "socks5://a:3"}, "ws://example.com/", "socks5://a:3 ALL_PROXY"),
        ({"ALL_PROXY": "socks5://a:3"}, "wss://example.com/", "socks5://a:3 ALL_PROXY"),
        (
            {"ALL_PROXY": "socks5://a:3", "HTTPS_PROXY": "http://s:2"},
            "wss://example.com/",
            "http://s:2 HTTPS_PROXY",
        ),
        (
            {"HTTPS_PROXY": "http://s:2", "WSS_PROXY": "http://w:4"},
            "wss://example.com/",
            "http://w:4 WSS_PROXY",
        ),
        ({"WS_PROXY": "http://w:4"}, "ws://example.com/", "http://w:4 WS_PROXY"),
        ({"https_proxy": "http://lower:5"}, "wss://example.com/", "http://lower:5 https_proxy"),
        (
            {"https_proxy": "http://lower:5", "HTTPS_PROXY": "http://upper:6"},
            "wss://example.com/",
            "http://lower:5 https_proxy",
        ),
        (
            {"HTTPS_PROXY": "proxy.example:8080"},
            "wss://a/",
            "http://proxy.example:8080 HTTPS_PROXY",
        ),
    ],
)
def test_variables(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], url: str, expected: str | None
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert chosen(url) == expected


def test_http_url_schemes_use_their_websocket_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    # https:// URLs become wss:// and use HTTPS_PROXY, as the browser's proxy settings do.
    monkeypatch.setenv("HTTPS_PROXY", "http://s:2")
    assert chosen("https://example.com/") == "http://s:2 HTTPS_PROXY"


def test_an_invalid_variable_names_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "ftp://user:pw@proxy.example")
    with pytest.raises(InvalidProxyURL) as info:
        chosen("wss://example.com/")
    assert info.value.source == "HTTPS_PROXY"
    assert "pw@" not in str(info.value)


# NO_PROXY: (value, URL) pairs; wsapi must bypass exactly when urllib does.
NO_PROXY_CASES = [
    ("*", "wss://example.com/"),
    ("*", "ws://127.0.0.1:8080/"),
    ("example.com", "wss://example.com/"),
    ("example.com", "wss://api.example.com/"),
    ("example.com", "wss://notexample.com/"),
    ("example.com", "wss://example.com.evil.test/"),
    (".example.com", "wss://example.com/"),
    (".example.com", "wss://api.example.com/"),
    ("EXAMPLE.COM", "wss://example.com/"),
    ("example.com:8443", "wss://example.com:8443/"),
    ("example.com:8443", "wss://example.com/"),
    ("example.com:443", "wss://example.com/"),
    ("localhost, 127.0.0.1", "ws://127.0.0.1:9000/"),
    ("localhost,127.0.0.1", "ws://localhost:9000/"),
    ("localhost", "ws://127.0.0.2/"),
    ("10.0.0.1", "ws://10.0.0.1/"),
    ("10.0.0.0/8", "ws://10.0.0.1/"),
    ("other.test", "wss://example.com/"),
    ("", "wss://example.com/"),
    (" , ,", "wss://example.com/"),
]


@pytest.mark.parametrize(("no_proxy", "url"), NO_PROXY_CASES)
def test_no_proxy_agrees_with_urllib(
    monkeypatch: pytest.MonkeyPatch, no_proxy: str, url: str
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", PROXY)
    monkeypatch.setenv("HTTP_PROXY", PROXY)
    monkeypatch.setenv("NO_PROXY", no_proxy)
    parsed = parse_url(url)
    bypassed = urllib.request.proxy_bypass_environment(f"{parsed.hostname}:{parsed.port}")
    assert (chosen(url) is None) == bool(bypassed)


@pytest.mark.parametrize(
    ("no_proxy", "url", "bypassed"),
    [
        ("*", "wss://example.com/", True),
        ("example.com", "wss://api.example.com/", True),
        ("example.com", "wss://notexample.com/", False),
        ("example.com:8443", "wss://example.com:8443/", True),
        ("example.com:8443", "wss://example.com/", False),
        ("::1", "ws://[::1]:8080/", True),
        ("[::1]", "ws://[::1]:8080/", True),
        ("::1", "ws://127.0.0.1:8080/", False),
    ],
)
def test_no_proxy_rules(
    monkeypatch: pytest.MonkeyPatch, no_proxy: str, url: str, bypassed: bool
) -> None:
    monkeypatch.setenv("ALL_PROXY", PROXY)
    monkeypatch.setenv("no_proxy", no_proxy)
    assert (chosen(url) is None) is bypassed


# -- the options -------------------------------------------------------------------------


def test_proxy_option_values() -> None:
    assert proxy_option(True, unix_socket=None) is True
    assert proxy_option(None, unix_socket=None) is None
    assert proxy_option(False, unix_socket=None) is None
    assert proxy_option(True, unix_socket="/run/app.sock") is None
    proxy = proxy_option(PROXY, unix_socket=None)
    assert isinstance(proxy, ProxyURL) and proxy.href == PROXY


@pytest.mark.parametrize("value", [3128, b"http://proxy.example", ["http://proxy.example"]])
def test_proxy_option_type(value: object) -> None:
    with pytest.raises(TypeError, match="proxy must be a proxy URL"):
        WebSocket("ws://example.com/", proxy=value)  # type: ignore[arg-type]


def test_proxy_option_bad_url() -> None:
    with pytest.raises(ValueError, match="not 'ftp'"):
        WebSocket("ws://example.com/", proxy="ftp://proxy.example")


def test_proxy_and_unix_socket_exclude_each_other() -> None:
    with pytest.raises(ValueError, match="cannot be used together"):
        WebSocket("ws://example.com/", proxy=PROXY, unix_socket="/run/app.sock")


def test_socks_proxy_without_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "socksio", None)  # import socksio now raises
    with pytest.raises(ImportError, match=r"pip install 'wsapi\[socks\]'"):
        WebSocket("ws://example.com/", proxy="socks5://127.0.0.1:1080")
    WebSocket("ws://example.com/", proxy=PROXY)  # HTTP proxies need nothing more


def test_proxy_ssl_option() -> None:
    context = ssl.create_default_context()
    WebSocket("wss://example.com/", proxy="https://proxy.example", proxy_ssl=context)
    with pytest.raises(TypeError, match=r"proxy_ssl must be an ssl\.SSLContext"):
        WebSocket("wss://example.com/", proxy_ssl="ca.pem")  # type: ignore[arg-type]


def test_unix_socket_option(tmp_path: Path) -> None:
    assert unix_socket_option(None) is None
    assert unix_socket_option("/run/app.sock") == "/run/app.sock"
    assert unix_socket_option(tmp_path / "app.sock") == str(tmp_path / "app.sock")
    with pytest.raises(ValueError, match="non-empty"):
        unix_socket_option("")
    with pytest.raises(TypeError, match="unix_socket must be a path"):
        WebSocket("ws://localhost/", unix_socket=3)  # type: ignore[arg-type]


def test_the_constructor_reads_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The environment is read when connecting: a bad variable cannot break the constructor.
    monkeypatch.setenv("HTTPS_PROXY", "ftp://nonsense")
    WebSocket("wss://example.com/")


# -- layers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement", ["import wsapi.protocol.proxy", "import wsapi.protocol.socks"]
)
def test_the_sans_io_proxy_modules_import_no_async_library(statement: str) -> None:
    from tests.test_layers import NONE_IMPORTED, imported_after

    assert imported_after(statement, bypass_init=True) == NONE_IMPORTED


def test_no_proxy_variable_skips_urllib(monkeypatch: pytest.MonkeyPatch) -> None:
    # The common case costs no import of urllib.request (and its http.client, email).
    from wsapi.protocol import proxy

    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(urllib.request, "getproxies", lambda: pytest.fail("urllib was asked"))
    assert proxy_from_environment(parse_url("wss://example.com/")) is None
    monkeypatch.setenv("Ftp_Proxy", "http://h:1")  # any *_proxy variable: ask urllib
    assert proxy._may_have_proxies()
