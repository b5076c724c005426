"""Proxies, sans-IO: which proxy to use, and the HTTP ``CONNECT`` that opens a tunnel.

``WebSocket(url, proxy=...)`` takes a proxy URL, ``None`` (no proxy) or ``True``
(the default: the environment decides, as everywhere in Python). The
environment's rules are the standard library's (``urllib.request.getproxies()``
and ``proxy_bypass()``), so ``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY`` and
``NO_PROXY`` mean for wsapi what they mean for ``urllib`` and ``requests``.

:class:`HTTPTunnel` speaks the proxy's side of HTTP through h11, like the
upgrade itself: bytes in, an open tunnel or a typed ``ProxyError`` out. The
SOCKS5 counterpart lives in :mod:`wsapi.protocol.socks`.

Sans-IO: standard library, h11 and :mod:`wsapi.errors` only.
"""

from __future__ import annotations

import base64
import os
import sys
from dataclasses import dataclass
from typing import Literal, TypeAlias
from urllib.parse import unquote, urlsplit

import h11

from ..errors import (
    ProxyAuthRequired,
    ProxyError,
    ProxyInvalidResponse,
    ProxyTunnelFailed,
    redact_url,
)
from ..response import MAX_BODY_SIZE, Response
from .handshake import as_response
from .url import WebSocketURL

__all__ = [
    "HTTPTunnel",
    "InvalidProxyURL",
    "ProxySetting",
    "ProxyURL",
    "authority",
    "parse_proxy_url",
    "proxy_from_environment",
    "proxy_option",
    "socks_available",
    "unix_socket_option",
]

#: Ports of proxy URLs that name none (the same as urllib, httpx and curl for SOCKS).
DEFAULT_PORTS = {"http": 80, "https": 443, "socks5": 1080, "socks5h": 1080}

#: Which ``getproxies()`` keys apply to a URL, in order: WS_PROXY and WSS_PROXY (as
#: in the websockets library), then HTTP_PROXY or HTTPS_PROXY, then ALL_PROXY.
_ENVIRONMENT_KEYS = {False: ("ws", "http", "all"), True: ("wss", "https", "all")}

#: Where a proxy came from when ``proxy=`` named it.
EXPLICIT = "proxy="


class InvalidProxyURL(ValueError):
    """A proxy URL that cannot be used; ``source`` says where it came from."""

    def __init__(self, message: str, source: str = EXPLICIT) -> None:
        super().__init__(message)
        self.source = source


@dataclass(frozen=True, kw_only=True, repr=False)
class ProxyURL:
    """A parsed proxy URL, and where it came from (``source``).

    ``source`` is ``"proxy="`` for the option, else the environment variable's
    name (``"HTTPS_PROXY"``, ``"all_proxy"``, ...) or ``"the system settings"``.
    """

    scheme: str  # http, https, socks5 or socks5h
    hostname: str  # no brackets
    port: int
    username: str = ""  # percent-decoded
    password: str = ""
    source: str = EXPLICIT

    @property
    def href(self) -> str:
        """The URL without credentials, with its port: ``http://proxy.example:3128``."""
        return f"{self.scheme}://{authority(self.hostname, self.port)}"

    @property
    def is_socks(self) -> bool:
        return self.scheme.startswith("socks")

    @property
    def has_credentials(self) -> bool:
        return bool(self.username or self.password)

    def describe(self) -> str:
        """``the proxy http://proxy.example:3128 (from HTTPS_PROXY)``, for messages."""
        origin = "" if self.source == EXPLICIT else f" (from {self.source})"
        return f"the proxy {self.href}{origin}"

    @property
    def setting(self) -> str:
        """Where to fix it: ``proxy=`` or ``the HTTPS_PROXY environment variable``."""
        if self.source == EXPLICIT:
            return "proxy="
        if self.source.endswith("_proxy") or self.source.endswith("_PROXY"):
            return f"the {self.source} environment variable"
        return self.source

    @property
    def bypass(self) -> str:
        """How to do without the proxy, for the end of a fix."""
        if self.source == EXPLICIT:
            return "pass proxy=None to connect without it"
        return "to connect without it, add the server's host to NO_PROXY or pass proxy=None"

    def __repr__(self) -> str:
        return f"ProxyURL({self.href!r}, source={self.source!r})"


#: What the transport is given: a proxy, ``True`` for "ask the environment", or None.
ProxySetting: TypeAlias = ProxyURL | Literal[True] | None


def authority(hostname: str, port: int) -> str:
    """``host:port``, IPv6 addresses in brackets: a CONNECT target, a SOCKS address.

    >>> authority("::1", 8080), authority("example.com", 443)
    ('[::1]:8080', 'example.com:443')
    """
    return f"[{hostname}]:{port}" if ":" in hostname else f"{hostname}:{port}"


def parse_proxy_url(text: str, source: str = EXPLICIT) -> ProxyURL:
    """Parse a proxy URL; a URL without a scheme is an ``http://`` proxy, as in curl.

    >>> proxy = parse_proxy_url("http://alice:s%40cret@proxy.example:3128")
    >>> proxy.href, proxy.username, proxy.password
    ('http://proxy.example:3128', 'alice', 's@cret')
    >>> parse_proxy_url("socks5h://[::1]").href
    'socks5h://[::1]:1080'
    """
    raw = text.strip()
    if "://" not in raw:
        raw = f"http://{raw}"
    shown = redact_url(raw)
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        raise InvalidProxyURL(f"invalid proxy URL {shown!r}: {exc}", source) from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        hint = " (SOCKS4 is not supported)" if scheme.startswith("socks4") else ""
        raise InvalidProxyURL(
            f"unsupported proxy URL {shown!r}: the scheme must be http, https, socks5 or "
            f"socks5h, not {scheme!r}{hint}",
            source,
        )
    if not parts.hostname:
        raise InvalidProxyURL(f"invalid proxy URL {shown!r}: it has no host", source)
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise InvalidProxyURL(
            f"invalid proxy URL {shown!r}: a proxy URL has no path, query or fragment", source
        )
    return ProxyURL(
        scheme=scheme,
        hostname=parts.hostname,
        port=DEFAULT_PORTS[scheme] if port is None else port,
        username=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        source=source,
    )


# -- choosing the proxy ------------------------------------------------------------------


def proxy_from_environment(url: WebSocketURL) -> ProxyURL | None:
    """The proxy the environment gives for ``url``, or None (none set, or NO_PROXY).

    ``wss://`` uses ``WSS_PROXY``, ``HTTPS_PROXY`` or ``ALL_PROXY``; ``ws://``
    uses ``WS_PROXY``, ``HTTP_PROXY`` or ``ALL_PROXY`` (lower case wins, as in
    urllib). ``NO_PROXY`` follows ``urllib.request.proxy_bypass()``: ``*``,
    host names and domain suffixes, with or without a ``:port``. Raises
    ``InvalidProxyURL`` when the variable's value is not a proxy URL.

    On macOS and Windows, with no variable set, urllib reads the system's
    settings, which may cost a DNS lookup: call this in a worker thread there.
    """
    if not _may_have_proxies():
        return None
    # Imported here: urllib.request (with http.client and email) costs more to import
    # than the rest of wsapi, and only an opening that may use a proxy needs it.
    import urllib.request

    proxies = urllib.request.getproxies()
    for key in _ENVIRONMENT_KEYS[url.secure]:
        value = proxies.get(key)
        if value:
            break
    else:
        return None
    if _bypassed(url):
        return None
    return parse_proxy_url(value, _source(key, value))


def _may_have_proxies() -> bool:
    """False when no proxy can apply: no ``*_proxy`` variable, and no system settings.

    Elsewhere than macOS and Windows, urllib reads the environment only, and
    finds a proxy in a variable whose name ends with ``_proxy`` (any case).
    """
    if sys.platform in ("darwin", "win32"):
        return True
    # os.environ decodes every name it yields; its bytes mapping does not
    # (a third of the cost, at every opening).
    raw = getattr(os.environ, "_data", None)
    if isinstance(raw, dict):
        return any(name[-6:].lower() == b"_proxy" for name in raw)
    return any(name[-6:].lower() == "_proxy" for name in os.environ)


def _bypassed(url: WebSocketURL) -> bool:
    import urllib.request

    # proxy_bypass() splits a port off "host:port"; an IPv6 address is tried
    # bare (NO_PROXY=::1) and in brackets (NO_PROXY=[::1]).
    names = [url.hostname]
    if ":" in url.hostname:
        names.append(f"[{url.hostname}]")
    return any(urllib.request.proxy_bypass(f"{name}:{url.port}") for name in names)


def _source(key: str, value: str) -> str:
    """The name of the environment variable that holds ``value`` (lower case first)."""
    for name in (f"{key}_proxy", f"{key.upper()}_PROXY"):
        if os.environ.get(name) == value:
            return name
    return "the system settings"


# -- the constructor's checks ------------------------------------------------------------


def proxy_option(proxy: object, *, unix_socket: str | None) -> ProxySetting:
    """Check ``WebSocket(proxy=...)``: a URL string, ``True`` (environment) or None.

    Raises ``TypeError``, ``ValueError`` for a URL that cannot be used, and
    ``ImportError`` for a SOCKS proxy without the ``socks`` extra.
    """
    if proxy is None or proxy is False:
        return None
    if proxy is True:
        # A Unix socket leads to the server itself: there is no proxy to ask.
        return None if unix_socket is not None else True
    if not isinstance(proxy, str):
        raise TypeError(
            f"proxy must be a proxy URL (str), True (from the environment) or None, "
            f"not {type(proxy).__name__}"
        )
    if unix_socket is not None:
        raise ValueError("proxy= and unix_socket= cannot be used together")
    parsed = parse_proxy_url(proxy)
    if parsed.is_socks and not socks_available():
        raise ImportError(
            f"proxy={parsed.href!r} is a SOCKS proxy, and SOCKS support is not installed: "
            "pip install 'wsapi[socks]' (it adds the socksio package)"
        )
    return parsed


def unix_socket_option(path: object) -> str | None:
    """Check ``WebSocket(unix_socket=...)``: a path (``str`` or path-like) or None."""
    if path is None:
        return None
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"unix_socket must be a path or None, not {type(path).__name__}")
    text = os.fspath(path)
    if not isinstance(text, str) or not text:
        raise ValueError("unix_socket must be a non-empty path (str or os.PathLike[str])")
    return text


def socks_available() -> bool:
    """Whether the ``socks`` extra (the socksio package) is installed."""
    try:
        import socksio  # noqa: F401
    except ImportError:
        return False
    return True


# -- CONNECT -----------------------------------------------------------------------------


class HTTPTunnel:
    """``CONNECT host:port`` through an HTTP proxy, sans-IO.

    Send ``data_to_send()``, then feed the proxy's bytes to ``receive_data()``
    (``b""`` at its end of stream) until it returns True: the tunnel is open and
    the stream now leads to the server. Any other answer raises the typed error:
    ``ProxyAuthRequired`` (407, or 401), ``ProxyTunnelFailed`` (another status),
    ``ProxyInvalidResponse`` (not HTTP, or no answer).
    """

    def __init__(
        self, url: WebSocketURL, proxy: ProxyURL, *, max_body_size: int = MAX_BODY_SIZE
    ) -> None:
        self.url = url
        self.proxy = proxy
        self.target = authority(url.hostname, url.port)
        self.max_body_size = max_body_size
        #: The proxy's answer, once complete.
        self.response: Response | None = None
        headers = [("Host", self.target)]
        if proxy.has_credentials:
            headers.append(("Proxy-Authorization", basic_credentials(proxy)))
        self._h11 = h11.Connection(h11.CLIENT)
        request = h11.Request(method="CONNECT", target=self.target, headers=headers)
        self._outgoing = (self._h11.send(request) or b"") + (
            self._h11.send(h11.EndOfMessage()) or b""
        )
        self._head: h11.Response | None = None
        self._body = bytearray()
        self._first = b""

    def data_to_send(self) -> bytes:
        data, self._outgoing = self._outgoing, b""
        return data

    def receive_data(self, data: bytes) -> bool:
        """Feed the proxy's bytes; True once the tunnel is open. Raises a ``ProxyError``."""
        if len(self._first) < 40:
            self._first += data[: 40 - len(self._first)]
        self._h11.receive_data(data)
        while True:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                raise self._broken(exc, eof=not data) from exc
            if event is h11.NEED_DATA:
                return False
            if isinstance(event, h11.Response) and 200 <= event.status_code < 300:
                self.response = as_response(event)
                trailing, _ = self._h11.trailing_data
                if trailing:
                    # The client speaks first on a WebSocket (and in TLS): a proxy
                    # that sends more has sent something else than a tunnel.
                    raise self._invalid(f"sent data after its answer ({trailing[:40]!r})")
                return True
            if isinstance(event, h11.Response):
                self._head = event
            elif isinstance(event, h11.Data):
                room = self.max_body_size - len(self._body)
                self._body += event.data[:room]
                if len(event.data) > room:
                    raise self._refused(truncated=True)
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                if self._head is None:
                    raise self._broken(None, eof=True)
                raise self._refused(truncated=False)
            # h11.InformationalResponse (1xx) is skipped; PAUSED cannot come first.

    def _refused(self, *, truncated: bool) -> ProxyError:
        assert self._head is not None
        response = as_response(self._head, bytes(self._body), truncated)
        self.response = response
        return refused_error(self.url, self.proxy, response)

    def _broken(self, exc: Exception | None, *, eof: bool) -> ProxyError:
        if eof and not self._first:
            return self._invalid(
                "closed the connection without answering CONNECT",
                "The proxy may not allow this client, or it is not an HTTP proxy: check "
                "the proxy URL's scheme and port (a SOCKS proxy needs socks5:// or "
                f"socks5h://); {self.proxy.bypass}.",
            )
        if eof and self._head is not None:
            return self._refused(truncated=True)
        head = self._first
        detail = f" ({exc})" if exc is not None else ""
        if head[:1] in (b"\x04", b"\x05"):
            what = "this looks like a SOCKS proxy (use socks5:// or socks5h://)"
        elif head[:1] in (b"\x15", b"\x16"):
            what = "this port speaks TLS (use https:// for the proxy)"
        else:
            what = "this is not an HTTP proxy"
        return self._invalid(
            f"answered CONNECT with something that is not HTTP{detail}; it began with {head!r}",
            f"Check the proxy URL's scheme and port: {what}; {self.proxy.bypass}.",
        )

    def _invalid(self, cause: str, fix: str = "") -> ProxyInvalidResponse:
        return ProxyInvalidResponse(
            self.url.href,
            f"{self.proxy.describe()} {cause}",
            fix or "Check that the proxy URL names an HTTP proxy that supports CONNECT.",
            proxy=self.proxy.href,
        )


def basic_credentials(proxy: ProxyURL) -> str:
    """The ``Proxy-Authorization`` value for the URL's user name and password.

    >>> basic_credentials(parse_proxy_url("http://alice:secret@proxy.example"))
    'Basic YWxpY2U6c2VjcmV0'
    """
    token = base64.b64encode(f"{proxy.username}:{proxy.password}".encode()).decode("ascii")
    return f"Basic {token}"


def refused_error(url: WebSocketURL, proxy: ProxyURL, response: Response) -> ProxyError:
    """The typed error for a CONNECT answered with ``response`` (not 2xx)."""
    target = authority(url.hostname, url.port)
    status = f"HTTP {response.status}" + (f" {response.reason}" if response.reason else "")
    # 407 is the proxy's own status; some proxies (tinyproxy) answer wrong credentials
    # with 401, which cannot come from the server: there is no tunnel to it yet.
    if response.status in (401, 407):
        challenge = response.header("Proxy-Authenticate")
        asks = f"; it asks for: {challenge}" if challenge else ""
        example = f"{proxy.scheme}://user:password@{authority(proxy.hostname, proxy.port)}"
        if proxy.has_credentials:
            cause = f"{proxy.describe()} rejected the credentials of the proxy URL ({status}{asks})"
            fix = (
                f"Check the user name and password in {proxy.setting} (percent-encode special "
                "characters: '@' is %40, ':' is %3A)."
            )
        else:
            cause = f"{proxy.describe()} requires credentials ({status}{asks})"
            fix = f"Put them in the proxy URL, in {proxy.setting}: {example}."
        return ProxyAuthRequired(url.href, cause, fix, response=response, proxy=proxy.href)
    excerpt = response.body_excerpt(120)
    # An HTML page says nothing a status line does not: only text bodies are quoted.
    body = f" (body: {excerpt!r})" if excerpt and not excerpt.startswith("<") else ""
    cause = f"{proxy.describe()} answered CONNECT {target} with {status} instead of 200{body}"
    fix = _tunnel_fix(response.status, target, proxy)
    return ProxyTunnelFailed(url.href, cause, fix, response=response, proxy=proxy.href)


def _tunnel_fix(status: int, target: str, proxy: ProxyURL) -> str:
    if status == 403:
        return (
            f"The proxy does not allow tunnels to {target} (its access rules: allowed clients, "
            f"hosts or ports, such as squid's SSL_ports or tinyproxy's ConnectPort): ask its "
            f"administrator, or {proxy.bypass}."
        )
    if status in (400, 405, 501):
        return (
            "The proxy does not support CONNECT tunnels (or not to this port): use a proxy "
            f"that does, or {proxy.bypass}."
        )
    if status >= 500:
        return (
            f"The proxy could not reach the server at {target}: check that the server is "
            "running, and that the URL's host and port can be reached from the proxy."
        )
    return f"Check the proxy's configuration: it must allow CONNECT to {target}."
