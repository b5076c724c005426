"""parse_url() and validate_protocols(): the WebSocket constructor's checks.

Expected values follow the WHATWG URL Standard as browsers implement it
(``new WebSocket(url).url``), and the WebSocket cases of web-platform-tests
(websockets/Create-*.any.js, websockets/constructor/0xx.html).
"""

from __future__ import annotations

import dataclasses

import pytest

from wsapi.errors import DOMException
from wsapi.protocol.url import WebSocketURL, parse_url, validate_protocols

# (input, href, host, hostname, port, resource, secure)
# fmt: off
VALID = [
    # Schemes: ws/wss kept, http/https converted, any case.
    ("ws://example.com/", "ws://example.com/", "example.com", "example.com", 80, "/", False),
    ("wss://example.com/", "wss://example.com/", "example.com", "example.com", 443, "/", True),
    ("http://example.com/", "ws://example.com/", "example.com", "example.com", 80, "/", False),
    ("https://example.com/", "wss://example.com/", "example.com", "example.com", 443, "/", True),
    ("WS://Example.COM:80", "ws://example.com/", "example.com", "example.com", 80, "/", False),
    ("HtTpS://EXAMPLE.com", "wss://example.com/", "example.com", "example.com", 443, "/", True),
    # Ports: default dropped (for the converted scheme too), others kept.
    ("ws://example.com:8080", "ws://example.com:8080/", "example.com:8080", "example.com", 8080,
     "/", False),
    ("wss://example.com:443/x", "wss://example.com/x", "example.com", "example.com", 443, "/x",
     True),
    ("wss://example.com:80/", "wss://example.com:80/", "example.com:80", "example.com", 80, "/",
     True),
    ("ws://example.com:443/", "ws://example.com:443/", "example.com:443", "example.com", 443, "/",
     False),
    ("http://example.com:80/", "ws://example.com/", "example.com", "example.com", 80, "/", False),
    ("https://example.com:443/", "wss://example.com/", "example.com", "example.com", 443, "/",
     True),
    ("ws://example.com:0080/", "ws://example.com/", "example.com", "example.com", 80, "/", False),
    ("ws://example.com:/", "ws://example.com/", "example.com", "example.com", 80, "/", False),
    ("ws://example.com:0/", "ws://example.com:0/", "example.com:0", "example.com", 0, "/", False),
    ("ws://h:65535", "ws://h:65535/", "h:65535", "h", 65535, "/", False),
    # IPv6: validated, compressed, lower-cased; brackets in host, not in hostname.
    ("ws://[::1]:8080/path?q", "ws://[::1]:8080/path?q", "[::1]:8080", "::1", 8080, "/path?q",
     False),
    ("wss://[0:0:0:0:0:0:0:1]/", "wss://[::1]/", "[::1]", "::1", 443, "/", True),
    ("ws://[2001:DB8::A]/", "ws://[2001:db8::a]/", "[2001:db8::a]", "2001:db8::a", 80, "/", False),
    ("ws://[1:0:0:2:0:0:0:3]", "ws://[1:0:0:2::3]/", "[1:0:0:2::3]", "1:0:0:2::3", 80, "/", False),
    ("ws://[1:0:1:0:1:0:1:0]", "ws://[1:0:1:0:1:0:1:0]/", "[1:0:1:0:1:0:1:0]", "1:0:1:0:1:0:1:0",
     80, "/", False),
    ("ws://[::ffff:1.2.3.4]/", "ws://[::ffff:102:304]/", "[::ffff:102:304]", "::ffff:102:304", 80,
     "/", False),
    # IPv4: the forms the URL Standard accepts, normalised.
    ("ws://127.0.0.1:9000", "ws://127.0.0.1:9000/", "127.0.0.1:9000", "127.0.0.1", 9000, "/",
     False),
    ("ws://127.1/", "ws://127.0.0.1/", "127.0.0.1", "127.0.0.1", 80, "/", False),
    ("ws://0x7f.1/", "ws://127.0.0.1/", "127.0.0.1", "127.0.0.1", 80, "/", False),
    ("ws://0300.0250.1.1/", "ws://192.168.1.1/", "192.168.1.1", "192.168.1.1", 80, "/", False),
    ("ws://2130706433/", "ws://127.0.0.1/", "127.0.0.1", "127.0.0.1", 80, "/", False),
    ("ws://0xC0A80101/", "ws://192.168.1.1/", "192.168.1.1", "192.168.1.1", 80, "/", False),
    ("ws://1.2.3.4./", "ws://1.2.3.4/", "1.2.3.4", "1.2.3.4", 80, "/", False),
    ("ws://0x/", "ws://0.0.0.0/", "0.0.0.0", "0.0.0.0", 80, "/", False),
    # Full-width digits: IDNA mapping (NFKC) first, then the IPv4 parser.
    ("ws://\uff11\uff12\uff17.\uff10.\uff10.\uff11/", "ws://127.0.0.1/", "127.0.0.1", "127.0.0.1",
     80, "/", False),
    # Host names: lower-cased, IDNA, percent-decoded.
    ("ws://bücher.de/", "ws://xn--bcher-kva.de/", "xn--bcher-kva.de", "xn--bcher-kva.de", 80, "/",
     False),
    ("ws://BÜCHER.de/", "ws://xn--bcher-kva.de/", "xn--bcher-kva.de", "xn--bcher-kva.de", 80, "/",
     False),
    ("ws://XN--BCHER-KVA.de/", "ws://xn--bcher-kva.de/", "xn--bcher-kva.de", "xn--bcher-kva.de",
     80, "/", False),
    ("ws://\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.com/", "ws://example.com/", "example.com",
     "example.com", 80, "/", False),
    ("ws://ex%41mple.com/", "ws://example.com/", "example.com", "example.com", 80, "/", False),
    ("ws://example.com./", "ws://example.com./", "example.com.", "example.com.", 80, "/", False),
    ("ws://my-host_1/", "ws://my-host_1/", "my-host_1", "my-host_1", 80, "/", False),
    # Too few or too many slashes, backslashes (017.html: ws: and ws:/ do not throw).
    ("ws:example.com/echo", "ws://example.com/echo", "example.com", "example.com", 80, "/echo",
     False),
    ("ws:/example.com/echo", "ws://example.com/echo", "example.com", "example.com", 80, "/echo",
     False),
    ("wss:example.com", "wss://example.com/", "example.com", "example.com", 443, "/", True),
    ("ws:///example.com/", "ws://example.com/", "example.com", "example.com", 80, "/", False),
    ("ws:\\\\example.com\\a\\b", "ws://example.com/a/b", "example.com", "example.com", 80, "/a/b",
     False),
    # Paths: dot segments resolved (also %2e), percent-encoding, never empty.
    ("ws://h", "ws://h/", "h", "h", 80, "/", False),
    ("ws://h/a/./b/../c", "ws://h/a/c", "h", "h", 80, "/a/c", False),
    ("ws://h/a/b/..", "ws://h/a/", "h", "h", 80, "/a/", False),
    ("ws://h/a/b/.", "ws://h/a/b/", "h", "h", 80, "/a/b/", False),
    ("ws://h/../../x", "ws://h/x", "h", "h", 80, "/x", False),
    ("ws://h/a/%2e%2E/b/%2e/c", "ws://h/b/c", "h", "h", 80, "/b/c", False),
    ("ws://h/a//b", "ws://h/a//b", "h", "h", 80, "/a//b", False),
    ("ws://h/a b/ü", "ws://h/a%20b/%C3%BC", "h", "h", 80, "/a%20b/%C3%BC", False),
    ('ws://h/"<>`{}^|', "ws://h/%22%3C%3E%60%7B%7D%5E|", "h", "h", 80,
     "/%22%3C%3E%60%7B%7D%5E|", False),
    ("ws://h/%41%zz%", "ws://h/%41%zz%", "h", "h", 80, "/%41%zz%", False),
    ("ws://h/a\x7fb", "ws://h/a%7Fb", "h", "h", 80, "/a%7Fb", False),
    # Queries: special-query percent-encode set (includes '), kept otherwise.
    ("ws://h?q", "ws://h/?q", "h", "h", 80, "/?q", False),
    ("ws://h/p?a=1&b=2/3?4", "ws://h/p?a=1&b=2/3?4", "h", "h", 80, "/p?a=1&b=2/3?4", False),
    ("ws://h/?x y'ü\"", "ws://h/?x%20y%27%C3%BC%22", "h", "h", 80, "/?x%20y%27%C3%BC%22", False),
    ("ws://h/?a%20b{}", "ws://h/?a%20b{}", "h", "h", 80, "/?a%20b{}", False),
    # An empty query stays in href, but the resource name omits it (the standard
    # appends "?query" only when the query is non-empty).
    ("ws://h/p?", "ws://h/p?", "h", "h", 80, "/p", False),
    # 018.html: NUL inside is percent-encoded, trailing C0 controls are stripped.
    ("ws://h/echo-query?x\x00y\x00", "ws://h/echo-query?x%00y", "h", "h", 80,
     "/echo-query?x%00y", False),
    # Leading/trailing C0 controls and spaces stripped, tabs and newlines removed anywhere.
    ("  \t\x01ws://h/chat \n", "ws://h/chat", "h", "h", 80, "/chat", False),
    ("ws://ex\tam\nple.c\rom/p\na\tth", "ws://example.com/path", "example.com", "example.com", 80,
     "/path", False),
    # Lone surrogates become U+FFFD, as a USVString conversion does.
    ("ws://h/\ud800", "ws://h/%EF%BF%BD", "h", "h", 80, "/%EF%BF%BD", False),
]
# fmt: on


@pytest.mark.parametrize(
    ("url", "href", "host", "hostname", "port", "resource", "secure"), VALID, ids=repr
)
def test_valid(
    url: str, href: str, host: str, hostname: str, port: int, resource: str, secure: bool
) -> None:
    parsed = parse_url(url)
    assert parsed.href == href
    assert parsed.host == host
    assert parsed.hostname == hostname
    assert parsed.port == port
    assert parsed.resource == resource
    assert parsed.secure is secure
    assert str(parsed) == href


@pytest.mark.parametrize(("url", "href"), [(case[0], case[1]) for case in VALID], ids=repr)
def test_href_is_a_fixed_point(url: str, href: str) -> None:
    # Parsing the normalised URL again changes nothing, as in a browser.
    assert parse_url(href).href == href


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("ws://example.com/chat", "http://example.com"),
        ("wss://example.com/chat", "https://example.com"),
        ("ws://example.com:8080/", "http://example.com:8080"),
        ("wss://u:p@Example.com:8443/", "https://example.com:8443"),
        ("ws://[::1]:9000/", "http://[::1]:9000"),
        ("wss://bücher.de/", "https://xn--bcher-kva.de"),
    ],
)
def test_origin(url: str, origin: str) -> None:
    assert parse_url(url).origin == origin


@pytest.mark.parametrize(
    ("url", "href", "username", "password"),
    [
        ("ws://user:pass@h/", "ws://user:pass@h/", "user", "pass"),
        ("ws://user@h/", "ws://user@h/", "user", ""),
        ("ws://:pass@h/", "ws://:pass@h/", "", "pass"),
        ("ws://user:@h/", "ws://user@h/", "user", ""),
        ("ws://@h/", "ws://h/", "", ""),
        ("ws://:@h/", "ws://h/", "", ""),
        ("ws://h/", "ws://h/", "", ""),
        ("ws://us er:p@ss@h/", "ws://us%20er:p%40ss@h/", "us er", "p@ss"),
        ("ws://a:b:c@h/", "ws://a:b%3Ac@h/", "a", "b:c"),
        ("ws://%41%3A:%2F@h/", "ws://%41%3A:%2F@h/", "A:", "/"),
        ("ws://jürgen:pä;ss@h:81/", "ws://j%C3%BCrgen:p%C3%A4%3Bss@h:81/", "jürgen", "pä;ss"),
        ("https://u:p@example.com/x", "wss://u:p@example.com/x", "u", "p"),
    ],
)
def test_credentials(url: str, href: str, username: str, password: str) -> None:
    parsed = parse_url(url)
    assert parsed.href == href
    assert (parsed.username, parsed.password) == (username, password)
    # Credentials are never part of what is sent as Host or Origin.
    assert "@" not in parsed.host
    assert "@" not in parsed.origin


# (input, a phrase the message must contain)
INVALID = [
    # No scheme: relative URLs (there is no base URL in Python).
    ("", "no scheme"),
    ("example.com", "no scheme"),
    ("example.com/chat", "no scheme"),
    ("/echo", "no scheme"),
    ("//example.com/", "no scheme"),
    ("?q", "no scheme"),
    ("#test", "no scheme"),
    ("1ws://example.com/", "no scheme"),
    # Other schemes.
    ("ftp://example.com/", "'ftp' is not allowed"),
    ("file:///etc/passwd", "'file' is not allowed"),
    ("mailto:example@example.org", "'mailto' is not allowed"),
    ("about:blank", "'about' is not allowed"),
    ("invalid-scheme://example.com:8080/echo", "'invalid-scheme' is not allowed"),
    ("wss+unix://sock", "'wss+unix' is not allowed"),
    ("localhost:8080", "Did you forget the 'ws://'"),
    # Fragments, even empty.
    ("ws://example.com#", "fragment"),
    ("ws://example.com/#", "fragment"),
    ("wss://example.com/#test", "fragment"),
    ("ws://example.com/?q#", "fragment"),
    ("http://example.com/#top", "fragment"),
    ("ws://user:pw@example.com#x", "fragment"),
    # No host.
    ("ws://", "no host"),
    ("wss://", "no host"),
    ("ws:", "no host"),
    ("ws:///", "no host"),
    ("ws://:8080/", "no host"),
    ("ws://user:pass@/", "no host after the '@'"),
    ("ws://user@", "no host after the '@'"),
    ("ws://?q", "no host"),
    # Forbidden host code points, also when percent-encoded.
    ("ws://foo bar.com/", "not allowed in a host"),
    ("wss://web platform.test:8443/echo", "not allowed in a host"),
    ("ws://foo%20bar.com/", "not allowed in a host"),
    ("ws://a<b/", "not allowed in a host"),
    ("ws://a>b/", "not allowed in a host"),
    ("ws://a^b/", "not allowed in a host"),
    ("ws://a|b/", "not allowed in a host"),
    ("ws://a%25b/", "not allowed in a host"),
    ("ws://a%zzb/", "not allowed in a host"),
    ("ws://a%23b/", "not allowed in a host"),
    ("ws://a%2Fb/", "not allowed in a host"),
    ("ws://a%3Fb/", "not allowed in a host"),
    ("ws://a%40b/", "not allowed in a host"),
    ("ws://a%3Ab/", "not allowed in a host"),
    ("ws://a%00b/", "not allowed in a host"),
    ("ws://a\x01b/", "not allowed in a host"),
    ("ws://a\x7fb/", "not allowed in a host"),
    ("ws://a[b/", "not allowed in a host"),
    ("ws://a]b/", "not allowed in a host"),
    ("ws://a%5Cb/", "not allowed in a host"),
    ("ws://ex\uff0fample.com/", "not allowed in a host"),  # full-width solidus
    # Ports.
    ("ws://example.com:65536/", "out of range"),
    ("ws://example.com:99999999999999999999/", "out of range"),
    ("ws://example.com:8a/", "not a number"),
    ("ws://example.com:-1/", "not a number"),
    ("ws://example.com: 80/", "not a number"),
    ("ws://example.com:80:81/", "not a number"),
    ("ws://example.com:\uff18\uff10/", "not a number"),  # full-width digits
    ("ws://[::1]x:80/", "closing ']'"),
    # IPv4.
    ("ws://1.2.3.4.5/", "more than 4"),
    ("ws://256.0.0.1/", "out of range"),
    ("ws://1.2.3.256/", "out of range"),
    ("ws://1.2.65536/", "out of range"),
    ("ws://4294967296/", "out of range"),
    ("ws://foo.1/", "must be an IPv4 address"),
    ("ws://09.1.1.1/", "must be an IPv4 address"),
    ("ws://1..2/", "must be an IPv4 address"),
    ("ws://example.0x1g.2/", "must be an IPv4 address"),
    # IPv6.
    ("ws://[::1/", "closing ']'"),
    ("ws://[::g]/", "not a valid IPv6 address"),
    ("ws://[1:2:3:4:5:6:7:8:9]/", "not a valid IPv6 address"),
    ("ws://[1::2::3]/", "not a valid IPv6 address"),
    ("ws://[12345::]/", "not a valid IPv6 address"),
    ("ws://[1.2.3.4]/", "not a valid IPv6 address"),
    ("ws://[fe80::1%25eth0]/", "zone IDs"),
    ("ws://[]/", "not a valid IPv6 address"),
    # IDNA.
    ("ws://xn--a/", "not a valid internationalised domain name"),
    ("ws://xn--abc-/", "not a valid internationalised domain name"),
    ("ws://\ufffd.com/", "not a valid internationalised domain name"),
    ("ws://%ff.com/", "not a valid internationalised domain name"),
    ("ws://a..ü/", "not a valid internationalised domain name"),
]


@pytest.mark.parametrize(("url", "phrase"), INVALID, ids=repr)
def test_invalid(url: str, phrase: str) -> None:
    with pytest.raises(DOMException) as info:
        parse_url(url)
    assert info.value.name == "SyntaxError"
    assert info.value.code == 12
    assert phrase in info.value.message
    assert info.value.message.startswith("Invalid WebSocket URL ")


def test_scheme_message_says_what_is_expected() -> None:
    with pytest.raises(DOMException) as info:
        parse_url("ftp://example.com/")
    assert info.value.message == (
        "Invalid WebSocket URL 'ftp://example.com/'. The URL's scheme must be 'ws', 'wss', "
        "'http' or 'https'; 'ftp' is not allowed."
    )


def test_messages_name_the_url_without_its_password() -> None:
    with pytest.raises(DOMException) as info:
        parse_url("ftp://user:s3cret@example.com/")
    assert "ftp://example.com/" in info.value.message
    assert "s3cret" not in str(info.value)


def test_relative_url_message_explains() -> None:
    with pytest.raises(DOMException) as info:
        parse_url("/chat")
    assert "absolute URL" in info.value.message
    assert "'/chat'" in info.value.message


def test_fragment_message_offers_a_fix() -> None:
    with pytest.raises(DOMException) as info:
        parse_url("ws://example.com/a#b")
    assert "%23" in info.value.message


@pytest.mark.parametrize("url", [b"ws://example.com/", None, 42])
def test_non_str_url_is_a_type_error(url: object) -> None:
    with pytest.raises(TypeError, match="must be a str"):
        parse_url(url)  # type: ignore[arg-type]


def test_websocket_url_is_frozen_and_redacts_its_repr() -> None:
    parsed = parse_url("wss://alice:s3cret@example.com/")
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.href = "ws://other/"  # type: ignore[misc]
    assert repr(parsed) == "WebSocketURL('wss://example.com/')"
    assert parsed == parse_url("WSS://alice:s3cret@EXAMPLE.com:443")
    assert isinstance(parsed, WebSocketURL)


def test_all_fields() -> None:
    parsed = parse_url("https://Alice:Secret@Example.COM:8443/a/../chat?room=1")
    assert dataclasses.asdict(parsed) == {
        "href": "wss://Alice:Secret@example.com:8443/chat?room=1",
        "secure": True,
        "host": "example.com:8443",
        "hostname": "example.com",
        "port": 8443,
        "resource": "/chat?room=1",
        "username": "Alice",
        "password": "Secret",
        "origin": "https://example.com:8443",
    }


# --- validate_protocols ------------------------------------------------------


@pytest.mark.parametrize(
    ("protocols", "expected"),
    [
        (None, ()),
        ([], ()),
        ((), ()),
        ("echo", ("echo",)),
        (["echo"], ("echo",)),
        (["echo", "chat"], ("echo", "chat")),
        (("v2.chat", "v1.chat"), ("v2.chat", "v1.chat")),
        # Case-sensitive: these differ (browsers agree; see the module's comment).
        (["echo", "eCho"], ("echo", "eCho")),
        (["graphql-transport-ws", "graphql-ws"], ("graphql-transport-ws", "graphql-ws")),
        (["!#$%&'*+-.^_`|~09AZaz"], ("!#$%&'*+-.^_`|~09AZaz",)),
        (iter(["a", "b"]), ("a", "b")),
    ],
    ids=repr,
)
def test_valid_protocols(protocols: object, expected: tuple[str, ...]) -> None:
    assert validate_protocols(protocols) == expected  # type: ignore[arg-type]


INVALID_PROTOCOLS = [
    ("", "it is empty"),
    ([""], "it is empty"),
    (["echo", ""], "it is empty"),
    (["echo", "echo"], "more than once"),
    (["a", "b", "a"], "more than once"),
    ("ec ho", "not allowed"),
    ("/echo", "not allowed"),
    ("\x80echo", "not allowed"),
    ("a\x00b", "not allowed"),
    ("a\tb", "not allowed"),
    ("a\x7fb", "not allowed"),
    ("chät", "not allowed"),
    (["foobar, foobar"], "pass a list"),
    ("chat,superchat", "pass a list"),
    *[(f"a{sep}b", "not allowed") for sep in '()<>@,;:\\"/[]?={}'],
    *[(f"a{chr(code)}b", "not allowed") for code in [*range(1, 0x21), *range(0x7F, 0x100)]],
]


@pytest.mark.parametrize(("protocols", "phrase"), INVALID_PROTOCOLS, ids=repr)
def test_invalid_protocols(protocols: object, phrase: str) -> None:
    with pytest.raises(DOMException) as info:
        validate_protocols(protocols)  # type: ignore[arg-type]
    assert info.value.name == "SyntaxError"
    assert phrase in info.value.message


def test_invalid_protocol_message_names_the_character() -> None:
    with pytest.raises(DOMException) as info:
        validate_protocols(["chat", "ec ho"])
    assert "'ec ho'" in info.value.message
    assert "U+0020" in info.value.message
    assert "RFC 7230" in info.value.message


@pytest.mark.parametrize(
    "protocols",
    [b"chat", bytearray(b"chat"), memoryview(b"chat"), ["chat", b"echo"], [1], [None], 42],
    ids=repr,
)
def test_protocols_type_errors(protocols: object) -> None:
    with pytest.raises(TypeError):
        validate_protocols(protocols)  # type: ignore[arg-type]


def test_a_url_parsed_again_is_the_same_record() -> None:
    # Reconnections parse the same URL again: the frozen record is reused...
    assert parse_url("ws://example.com:8080/chat?room=1") is parse_url(
        "ws://example.com:8080/chat?room=1"
    )
    # ...but a URL with credentials is not kept after the connection.
    with_password = "wss://user:secret@example.com/"
    assert parse_url(with_password) is not parse_url(with_password)
    assert parse_url(with_password) == parse_url(with_password)
    # Errors are raised each time, not remembered as results.
    for _ in range(2):
        with pytest.raises(DOMException):
            parse_url("ftp://example.com/")
