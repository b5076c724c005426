"""WebSocket URLs and subprotocol lists, checked as ``new WebSocket(url, protocols)`` does.

:func:`parse_url` follows the WHATWG WebSockets Standard's constructor steps on
top of the WHATWG URL Standard's parser, restricted to the four special schemes
a WebSocket may use, so ``ws.url`` reads exactly as a browser would show it.
:func:`validate_protocols` checks the ``protocols`` argument.

Sans-IO: standard library and :mod:`wsapi.errors` only.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

from wsapi.errors import DOMException, redact_url

__all__ = ["WebSocketURL", "parse_url", "validate_protocols"]

# http(s) URLs are accepted and rewritten, as the standard has done since 2023.
_SCHEMES = {"ws": "ws", "wss": "wss", "http": "ws", "https": "wss"}
_C0_AND_SPACE = "".join(map(chr, range(0x21)))
_TAB_NEWLINE = str.maketrans("", "", "\t\n\r")
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_AUTHORITY_END_RE = re.compile(r"[/\\?#]")
_PERCENT_RE = re.compile(rb"%([0-9A-Fa-f]{2})")
_DIGITS = frozenset("0123456789")

# The URL Standard's percent-encode sets, minus the C0 controls and the code
# points above U+007E, which every set includes (see _encode).
_QUERY_SET = frozenset(' "#<>')
_SPECIAL_QUERY_SET = _QUERY_SET | {"'"}
_PATH_SET = _QUERY_SET | frozenset("?^`{}")
_USERINFO_SET = _PATH_SET | frozenset("/:;=@[\\]|")

# Forbidden domain code points: forbidden host code points, C0 controls, % and DEL.
_FORBIDDEN_HOST = frozenset(" #%/:<>?@[\\]^|\x7f") | frozenset(map(chr, range(0x20)))
_SINGLE_DOT = frozenset({".", "%2e"})
_DOUBLE_DOT = frozenset({"..", ".%2e", "%2e.", "%2e%2e"})

# RFC 7230 tchar: what a Sec-WebSocket-Protocol element may be made of.
_TOKEN_CHARS = frozenset(
    "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)


@dataclass(frozen=True, kw_only=True, repr=False)
class WebSocketURL:
    """A parsed, normalised WebSocket URL: everything needed to open the connection."""

    href: str  # the normalised URL: what ``ws.url`` returns
    secure: bool  # True for wss (TLS)
    host: str  # the Host header: punycode name or [IPv6], ":port" unless the default
    hostname: str  # what to connect to, and the TLS server name: no brackets, no port
    port: int  # the effective port: the explicit one, else 80 (ws) or 443 (wss)
    resource: str  # the request target: path and "?query", at least "/"
    username: str  # percent-decoded; "" when absent
    password: str  # percent-decoded; "" when absent
    origin: str  # the matching HTTP origin, for an Origin header: "http(s)://host[:port]"

    def __str__(self) -> str:
        return self.href

    def __repr__(self) -> str:
        # Never put a password in logs and tracebacks.
        return f"WebSocketURL({redact_url(self.href)!r})"


def parse_url(url: str) -> WebSocketURL:
    """Parse ``url`` as the WebSocket constructor does and normalise it.

    ``http`` becomes ``ws`` and ``https`` becomes ``wss``. An unparsable URL,
    another scheme or a fragment raises ``DOMException`` named ``SyntaxError``.

    >>> u = parse_url("HTTP://Example.COM:80/a/../chat?room=1")
    >>> u.href
    'ws://example.com/chat?room=1'
    >>> (u.secure, u.host, u.port, u.resource, u.origin)
    (False, 'example.com', 80, '/chat?room=1', 'http://example.com')
    >>> v = parse_url("wss://[0:0::1]:8443")
    >>> (v.href, v.host, v.hostname, v.port)
    ('wss://[::1]:8443/', '[::1]:8443', '::1', 8443)
    >>> try:
    ...     parse_url("wss://example.com/#top")
    ... except DOMException as exc:
    ...     print(exc.name)
    SyntaxError
    """
    if not isinstance(url, str):
        hint = "; decode bytes first" if isinstance(url, (bytes, bytearray)) else ""
        raise TypeError(f"the WebSocket URL must be a str, not {type(url).__name__}{hint}")
    if "@" in url:
        # Credentials are not kept in a module-level cache after the connection.
        return _parse(url)
    return _parse_cached(url)


def _parse(url: str) -> WebSocketURL:
    text = _to_usv(url).strip(_C0_AND_SPACE).translate(_TAB_NEWLINE)

    match = _SCHEME_RE.match(text)
    if match is None:
        raise _url_error(
            url,
            "It has no scheme; an absolute URL such as 'wss://example.com/chat' is "
            "expected (there is no base URL to resolve a relative one against).",
        )
    scheme = match.group()[:-1].lower()
    rest = text[match.end() :]
    if scheme not in _SCHEMES:
        # "localhost:8080" parses with the scheme "localhost": point at the likely slip.
        hint = " Did you forget the 'ws://' in front?" if rest[:1] in _DIGITS else ""
        raise _url_error(
            url,
            f"The URL's scheme must be 'ws', 'wss', 'http' or 'https'; {scheme!r} is not "
            f"allowed.{hint}",
        )

    # Special URLs ignore any number of slashes (and backslashes) before the authority.
    rest = rest.lstrip("/\\")
    authority = _AUTHORITY_END_RE.split(rest, maxsplit=1)[0]
    rest = rest[len(authority) :]
    # The last "@" ends the credentials; earlier ones belong to them.
    userinfo, at_sign, hostport = authority.rpartition("@")
    username, _, password = userinfo.partition(":")
    username, password = _encode(username, _USERINFO_SET), _encode(password, _USERINFO_SET)

    # A ":" inside brackets belongs to an IPv6 address, not to the port.
    split, inside = len(hostport), False
    for i, char in enumerate(hostport):
        if char in "[]":
            inside = char == "["
        elif char == ":" and not inside:
            split = i
            break
    host_text, port_text = hostport[:split], hostport[split + 1 :]
    if not host_text:
        where = " after the '@' of the credentials" if at_sign else ""
        raise _url_error(url, f"It has no host{where}; expected 'ws://host[:port]/path'.")
    host, hostname = _parse_host(url, host_text)

    default_port = 443 if _SCHEMES[scheme] == "wss" else 80
    port: int | None = None
    if port_text:
        if not set(port_text) <= _DIGITS:
            raise _url_error(
                url, f"The port {port_text!r} is not a number; expected digits only (0-65535)."
            )
        port = int(port_text)
        if port > 65535:
            raise _url_error(url, f"The port {port} is out of range; expected 0-65535.")
        if port == default_port:
            port = None  # the serialisation drops a default port

    rest, hash_sign, _ = rest.partition("#")
    path_text, question_mark, query_text = rest.partition("?")
    path = _normalise_path(path_text)
    query = _encode(query_text, _SPECIAL_QUERY_SET) if question_mark else None
    if hash_sign:
        raise _url_error(
            url,
            "It has a fragment ('#...'); WebSocket URLs must not have one. "
            "Remove the '#' and what follows it, or percent-encode it as '%23'.",
        )

    scheme = _SCHEMES[scheme]
    secure = scheme == "wss"
    host_header = host if port is None else f"{host}:{port}"
    credentials = ""
    if username or password:
        credentials = username + (f":{password}" if password else "") + "@"
    href = f"{scheme}://{credentials}{host_header}{path}"
    if query is not None:
        href += f"?{query}"
    return WebSocketURL(
        href=href,
        secure=secure,
        host=host_header,
        hostname=hostname,
        port=default_port if port is None else port,
        # The standard appends "?query" to the resource name only when it is non-empty.
        resource=f"{path}?{query}" if query else path,
        username=_percent_decode(username).decode("utf-8", "replace"),
        password=_percent_decode(password).decode("utf-8", "replace"),
        origin=f"{'https' if secure else 'http'}://{host_header}",
    )


#: A client opens the same few URLs again and again (reconnections, a pool of
#: connections): the parse, about a fiftieth of a local open-and-close, is kept.
#: The records are frozen, so sharing them is safe.
_parse_cached = functools.lru_cache(maxsize=64)(_parse)


def validate_protocols(protocols: str | Sequence[str] | None) -> tuple[str, ...]:
    """Check the ``protocols`` argument of the WebSocket constructor.

    A single string is one subprotocol. Each must be a non-empty RFC 7230
    token and appear once; otherwise ``DOMException`` named ``SyntaxError``.
    Bytes, or an item that is not a str, raise ``TypeError``.

    >>> validate_protocols("chat")
    ('chat',)
    >>> validate_protocols(["v2.chat", "v1.chat"])
    ('v2.chat', 'v1.chat')
    >>> validate_protocols(None)
    ()
    >>> try:
    ...     validate_protocols(["chat", "chat"])
    ... except DOMException as exc:
    ...     print(exc.name)
    SyntaxError
    """
    if protocols is None:
        return ()
    if isinstance(protocols, (bytes, bytearray, memoryview)):
        raise TypeError("protocols must be a str or a sequence of str, not bytes; decode it first")
    if isinstance(protocols, str):
        protocols = [protocols]
    try:
        items: list[object] = list(protocols)
    except TypeError:
        kind = type(protocols).__name__
        raise TypeError(f"protocols must be a str, a sequence of str or None, not {kind}") from None
    result: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"each subprotocol must be a str, not {type(item).__name__}")
        bad = next((char for char in item if char not in _TOKEN_CHARS), None)
        if not item or bad is not None:
            problem = f"{bad!r} (U+{ord(bad):04X}) is not allowed" if bad else "it is empty"
            hint = ""
            if "," in item:
                parts = [part.strip() for part in item.split(",")]
                hint = f" To offer several subprotocols, pass a list: {parts!r}."
            raise DOMException(
                f"Invalid WebSocket subprotocol {item!r}: {problem}; a subprotocol must be a "
                "non-empty token of ASCII letters, digits and !#$%&'*+-.^_`|~ (RFC 7230), "
                f"without spaces or separators.{hint}",
                "SyntaxError",
            )
        # The standard says "occur more than once", a plain string comparison, and
        # RFC 6455 asks for "unique strings": case-sensitive, as every browser does
        # (WPT's case-insensitive test fails everywhere; see whatwg/websockets#47).
        if item in result:
            raise DOMException(
                f"The WebSocket subprotocol {item!r} is listed more than once; each "
                "subprotocol must appear only once (the comparison is case-sensitive).",
                "SyntaxError",
            )
        result.append(item)
    return tuple(result)


def _url_error(url: str, problem: str) -> DOMException:
    return DOMException(f"Invalid WebSocket URL {redact_url(url)!r}. {problem}", "SyntaxError")


def _to_usv(text: str) -> str:
    # A Python str may hold lone surrogates; the standard's USVString turns each
    # into U+FFFD, and they could not be UTF-8 encoded otherwise.
    if not any("\ud800" <= char <= "\udfff" for char in text):
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _encode(text: str, encode_set: frozenset[str]) -> str:
    """Percent-encode (UTF-8) C0 controls, non-ASCII and ``encode_set``; keep ``%xx``."""
    return "".join(
        "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))
        if char < " " or char > "~" or char in encode_set
        else char
        for char in text
    )


def _percent_decode(text: str) -> bytes:
    return _PERCENT_RE.sub(lambda m: bytes([int(m.group(1), 16)]), text.encode("utf-8"))


def _normalise_path(text: str) -> str:
    # The URL Standard's path state, for special URLs: "\" is a separator,
    # "." and ".." (also percent-encoded) are resolved, and the path is never empty.
    if text[:1] in ("/", "\\"):
        text = text[1:]
    segments = re.split(r"[/\\]", text)
    path: list[str] = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment.lower() in _DOUBLE_DOT:
            if path:
                path.pop()
            if last:
                path.append("")
        elif segment.lower() in _SINGLE_DOT:
            if last:
                path.append("")
        else:
            path.append(_encode(segment, _PATH_SET))
    return "/" + "/".join(path)


def _parse_host(url: str, text: str) -> tuple[str, str]:
    """Return the serialised host and the host name to connect to."""
    if text.startswith("["):
        if not text.endswith("]"):
            raise _url_error(url, f"The IPv6 address {text!r} lacks its closing ']'.")
        address = _parse_ipv6(url, text[1:-1])
        return f"[{address}]", address
    domain = _percent_decode(text).decode("utf-8", "replace")
    _check_forbidden(url, domain)
    if domain.isascii():
        # The fast path of UTS 46: ASCII names are only lower-cased, but an
        # "xn--" label must still be valid punycode.
        ascii_domain = domain.lower()
        try:
            for label in ascii_domain.split("."):
                if label.startswith("xn--"):
                    label.encode("ascii").decode("idna")
        except UnicodeError as exc:
            raise _idna_error(url, domain, exc) from None
    else:
        # The stdlib codec implements IDNA 2003 (nameprep + punycode), which
        # agrees with browsers' UTS 46 except for a few characters (e.g. "ß").
        try:
            ascii_domain = domain.encode("idna").decode("ascii").lower()
        except UnicodeError as exc:
            raise _idna_error(url, domain, exc) from None
        _check_forbidden(url, ascii_domain)  # NFKC may have produced one, e.g. U+FF0F
    if not ascii_domain:
        raise _url_error(url, "It has no host; expected 'ws://host[:port]/path'.")
    if _ends_in_number(ascii_domain):
        address = _parse_ipv4(url, ascii_domain)
        return address, address
    return ascii_domain, ascii_domain


def _idna_error(url: str, domain: str, exc: UnicodeError) -> DOMException:
    reason = str(exc.__cause__ or exc)
    return _url_error(
        url, f"The host {domain!r} is not a valid internationalised domain name ({reason})."
    )


def _check_forbidden(url: str, host: str) -> None:
    bad = next((char for char in host if char in _FORBIDDEN_HOST), None)
    if bad is not None:
        raise _url_error(
            url,
            f"The host {host!r} contains {bad!r}, which is not allowed in a host name "
            "(no spaces, control characters, or any of # % / : < > ? @ [ \\ ] ^ |).",
        )


def _ipv4_number(part: str) -> int | None:
    """The URL Standard's IPv4 number parser: decimal, 0x hex or 0 octal; None if invalid."""
    if not part:
        return None
    radix, digits = 10, "0123456789"
    if part[:2] in ("0x", "0X"):
        part, radix, digits = part[2:], 16, "0123456789abcdefABCDEF"
    elif len(part) > 1 and part[0] == "0":
        part, radix, digits = part[1:], 8, "01234567"
    if not part:
        return 0
    if not set(part) <= set(digits):
        return None
    return int(part, radix)


def _ends_in_number(host: str) -> bool:
    # A host whose last label is numeric must be an IPv4 address (or is invalid).
    parts = host.split(".")
    if parts[-1] == "":
        if len(parts) == 1:
            return False
        parts.pop()
    last = parts[-1]
    return bool(last and set(last) <= _DIGITS) or _ipv4_number(last) is not None


def _parse_ipv4(url: str, host: str) -> str:
    parts = host.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts.pop()
    expected = "expected an IPv4 address such as '127.0.0.1'"
    if len(parts) > 4:
        raise _url_error(url, f"The host {host!r} has more than 4 numeric parts; {expected}.")
    numbers = []
    for part in parts:
        number = _ipv4_number(part)
        if number is None:
            raise _url_error(
                url,
                f"The host {host!r} ends in a number, so it must be an IPv4 address, but "
                f"{part!r} is not a decimal, octal (0...) or hexadecimal (0x...) number.",
            )
        numbers.append(number)
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        raise _url_error(url, f"The IPv4 address {host!r} is out of range; {expected}.")
    value = numbers[-1] + sum(n * 256 ** (3 - i) for i, n in enumerate(numbers[:-1]))
    return str(ipaddress.IPv4Address(value))


def _parse_ipv6(url: str, text: str) -> str:
    try:
        if "%" in text:  # ipaddress accepts zone IDs, URLs do not
            raise ValueError(text)
        value = int(ipaddress.IPv6Address(text))
    except ValueError:
        raise _url_error(
            url,
            f"[{text}] is not a valid IPv6 address; expected e.g. '[::1]' or "
            "'[2001:db8::1]' (zone IDs such as '%eth0' are not allowed).",
        ) from None
    # Serialise as the URL Standard does (ipaddress's str() changed between
    # Python versions for IPv4-mapped addresses): lower-case hex, and "::" for
    # the first longest run of two or more zero pieces.
    pieces = [f"{(value >> (16 * (7 - i))) & 0xFFFF:x}" for i in range(8)]
    runs = [(j - i, -i) for i in range(8) for j in range(i + 2, 9) if set(pieces[i:j]) == {"0"}]
    if not runs:
        return ":".join(pieces)
    length, start = max(runs)  # the longest run; starts are negated so the first one wins
    return ":".join(pieces[:-start]) + "::" + ":".join(pieces[length - start :])
