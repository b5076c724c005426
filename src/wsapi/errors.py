"""Every exception wsapi raises.

The type names who has to act (see the tree below): ``DOMException`` is the
standard's error for a misuse of the API by the calling code; everything under
``WebSocketError`` is about the connection, and carries the evidence.

::

    DOMException                  .name: SyntaxError, InvalidStateError, InvalidAccessError
    WebSocketError
    ├── ConnectionFailed          the connection could not be established (.url, .stage, .fix)
    │   ├── DNSError              the host name did not resolve
    │   ├── ConnectionRefused     nothing listens on that port
    │   ├── NetworkError          any other failure to reach the address
    │   │   └── HostUnreachable   no route to the address (host or network unreachable)
    │   ├── OpenTimeout           a stage took longer than open_timeout (.stage says which)
    │   ├── TLSError              the TLS handshake failed
    │   │   ├── NotTLS            wss:// to a port that answers in plain text
    │   │   └── CertificateRejected   the certificate failed verification (.verify_code)
    │   │       ├── CertificateExpired        past its notAfter date
    │   │       ├── CertificateNotYetValid    before its notBefore date
    │   │       ├── CertificateHostMismatch   issued for other names (.hostname)
    │   │       └── CertificateUntrusted      self-signed, or signed by an unknown CA
    │   ├── InvalidStatus         the server answered the upgrade with a non-101 status (.response)
    │   │   └── RedirectReceived  a 3xx answer (.location)
    │   │       ├── TooManyRedirects  more redirects than follow_redirects allows (.history)
    │   │       │   └── RedirectLoop  a redirect back to a URL already requested
    │   │       └── InsecureRedirect  a redirect from wss:// to ws://, never followed
    │   ├── InvalidHandshake      the 101 answer is not a valid WebSocket accept (.response)
    │   │   ├── InvalidUpgrade    missing or wrong Upgrade or Connection header
    │   │   ├── InvalidAccept     missing or wrong Sec-WebSocket-Accept
    │   │   ├── UnexpectedSubprotocol  a subprotocol that was not offered (.offered, .chosen)
    │   │   ├── UnexpectedExtension    an extension that was not offered (.extension)
    │   │   └── NotHTTP           the answer is not (valid) HTTP
    │   │       └── TLSRequired   ws:// to a port that answers in TLS
    │   ├── ConnectionAborted     closed (by close() or the server) before the connection was open
    │   └── ProxyError            the proxy could not open a tunnel to the server (.proxy)
    │       ├── ProxyRefused          nothing listens at the proxy's address
    │       ├── ProxyUnreachable      the proxy's host name did not resolve, or no route to it
    │       ├── ProxyTLSError         the TLS handshake with an https:// proxy failed
    │       ├── ProxyAuthRequired     the proxy wants credentials, or refused them (.response)
    │       ├── ProxyTunnelFailed     CONNECT answered with another status (.response)
    │       ├── ProxyInvalidResponse  the proxy's answer is not HTTP (or not SOCKS5)
    │       └── SOCKSError            the SOCKS5 proxy could not connect (.reply_code)
    ├── ProtocolError             the server broke RFC 6455 (.code: the close code sent)
    │   ├── InvalidUTF8           a text message is not valid UTF-8 (1007)
    │   └── MessageTooBig         a message exceeds max_message_size (1009)
    ├── KeepaliveTimeout          no pong within ping_timeout
    ├── ConnectionLost            the TCP connection ended without a closing handshake
    │   └── CloseTimeout          the closing handshake took longer than close_timeout
    └── ConnectionClosed          recv() on a closed connection (.code, .reason, .wasClean)

Standard library only: every layer may import this module.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .response import Response

__all__ = [
    "CertificateExpired",
    "CertificateHostMismatch",
    "CertificateNotYetValid",
    "CertificateRejected",
    "CertificateUntrusted",
    "CloseTimeout",
    "ConnectionAborted",
    "ConnectionClosed",
    "ConnectionFailed",
    "ConnectionLost",
    "ConnectionRefused",
    "DNSError",
    "DOMException",
    "HostUnreachable",
    "InsecureRedirect",
    "InvalidAccept",
    "InvalidHandshake",
    "InvalidStatus",
    "InvalidUpgrade",
    "InvalidUTF8",
    "KeepaliveTimeout",
    "MessageTooBig",
    "NetworkError",
    "NotHTTP",
    "NotTLS",
    "OpenTimeout",
    "ProtocolError",
    "ProxyAuthRequired",
    "ProxyError",
    "ProxyInvalidResponse",
    "ProxyRefused",
    "ProxyTLSError",
    "ProxyTunnelFailed",
    "ProxyUnreachable",
    "RedirectLoop",
    "RedirectReceived",
    "SOCKSError",
    "TLSError",
    "TLSRequired",
    "TooManyRedirects",
    "UnexpectedExtension",
    "UnexpectedSubprotocol",
    "WebSocketError",
    "redact_url",
]

# The legacy numeric codes of the DOMException names the WebSocket standard uses.
_LEGACY_CODES = {"SyntaxError": 12, "InvalidStateError": 11, "InvalidAccessError": 15}


class DOMException(Exception):
    """The error the WebSocket standard throws for a misuse of the API.

    ``name`` is one of ``"SyntaxError"`` (bad URL, protocols or close reason),
    ``"InvalidStateError"`` (``send()`` while connecting) and
    ``"InvalidAccessError"`` (a close code the application may not use).

    >>> try:
    ...     raise DOMException("bad code", "InvalidAccessError")
    ... except DOMException as exc:
    ...     (exc.name, exc.code)
    ('InvalidAccessError', 15)
    """

    def __init__(self, message: str = "", name: str = "Error") -> None:
        super().__init__(message)
        self.message = message
        self.name = name

    @property
    def code(self) -> int:
        """The legacy numeric code of ``name`` (0 when it has none)."""
        return _LEGACY_CODES.get(self.name, 0)

    def __str__(self) -> str:
        return f"{self.name}: {self.message}" if self.message else self.name


class WebSocketError(Exception):
    """Base class of every error about a WebSocket connection."""


def redact_url(url: str) -> str:
    """``url`` without credentials: ``wss://user:secret@host/`` becomes ``wss://host/``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def _decode_body(response: Response) -> Any:
    """``response``'s body as JSON when it says (or looks like) JSON, else as text."""
    kind = (response.header("Content-Type") or "").lower()
    text = response.text
    if "json" in kind or text.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(response.body)
        except ValueError:
            pass
    return text


class ConnectionFailed(WebSocketError):
    """The WebSocket connection could not be established.

    ``str()`` reads ``WebSocket connection to '<url>' failed: <cause>. <fix>``.
    ``stage`` names where it failed: ``"dns"``, ``"proxy"`` (reaching the server
    through a proxy), ``"tcp"``, ``"tls"``, ``"http"`` (the upgrade request and its
    answer) or ``"open"``.
    """

    default_stage = "connect"

    def __init__(
        self,
        url: str,
        cause: str,
        fix: str = "",
        *,
        stage: str | None = None,
        response: Response | None = None,
    ) -> None:
        self.url = redact_url(url)
        self.cause = cause.rstrip(".")
        self.fix = fix
        self.stage = stage or self.default_stage
        self.response = response
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"WebSocket connection to '{self.url}' failed: {self.cause}."
        if self.fix:
            text += f" {self.fix}"
        return text

    def __reduce__(self) -> tuple[Any, ...]:
        # args holds the message, not the constructor's arguments: pickle and copy
        # rebuild the error from its attributes instead.
        return (_rebuild, (type(self), self.__dict__.copy()))


def _rebuild(cls: type[ConnectionFailed], state: dict[str, Any]) -> ConnectionFailed:
    error = Exception.__new__(cls)
    error.__dict__.update(state)
    error.args = (str(error),)
    return error


class DNSError(ConnectionFailed):
    """The host name could not be resolved to an address."""

    default_stage = "dns"


class ConnectionRefused(ConnectionFailed):
    """The address was reached but nothing accepts connections on that port."""

    default_stage = "tcp"


class NetworkError(ConnectionFailed):
    """The address could not be reached (unreachable network, reset, ...)."""

    default_stage = "tcp"


class HostUnreachable(NetworkError):
    """No route to the address: the host or its network is unreachable from here."""


class OpenTimeout(ConnectionFailed):
    """A stage of opening the connection took longer than ``open_timeout``.

    ``stage`` says which: ``"dns"``, ``"proxy"``, ``"tcp"``, ``"tls"`` or ``"http"``.
    """

    default_stage = "open"


class TLSError(ConnectionFailed):
    """The TLS handshake failed (certificate, protocol version, plain HTTP port, ...)."""

    default_stage = "tls"


class NotTLS(TLSError):
    """A ``wss://`` URL, but the server answered the TLS handshake in plain text.

    The port serves plain ``ws://`` (or plain HTTP): use ``ws://``, or the TLS port.
    """


class CertificateRejected(TLSError):
    """The server's certificate failed verification.

    ``verify_code`` and ``verify_message`` are OpenSSL's (``X509_V_ERR_*``), as in
    ``ssl.SSLCertVerificationError``; ``hostname`` is the name the certificate was
    checked against. The subclasses name the causes a user fixes differently.
    """

    def __init__(
        self,
        url: str,
        cause: str,
        fix: str = "",
        *,
        stage: str | None = None,
        response: Response | None = None,
        verify_code: int | None = None,
        verify_message: str = "",
        hostname: str = "",
    ) -> None:
        self.verify_code = verify_code
        self.verify_message = verify_message
        self.hostname = hostname
        super().__init__(url, cause, fix, stage=stage, response=response)


class CertificateExpired(CertificateRejected):
    """The server's certificate (or one in its chain) has expired."""


class CertificateNotYetValid(CertificateRejected):
    """The server's certificate is not valid yet (its notBefore date is in the future)."""


class CertificateHostMismatch(CertificateRejected):
    """The certificate is valid, but for other names than the one connected to."""


class CertificateUntrusted(CertificateRejected):
    """The certificate is self-signed, or issued by a CA this client does not trust."""


class _ResponseShortcuts:
    """``status``, ``reason``, ``headers`` and ``body``: shortcuts to ``response``.

    For the errors that always carry the HTTP answer they are about
    (``InvalidStatus``, ``ProxyTunnelFailed``).
    """

    response: Response | None

    @property
    def status(self) -> int:
        """The status code (``403``)."""
        assert self.response is not None
        return self.response.status

    @property
    def reason(self) -> str:
        """The reason phrase of the status line (``"Forbidden"``)."""
        assert self.response is not None
        return self.response.reason

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        """The response headers, in the server's order and spelling."""
        assert self.response is not None
        return self.response.headers

    @property
    def body(self) -> Any:
        """The body (its first 64 KiB), decoded: the JSON value when it is JSON, else text.

        >>> InvalidStatus("ws://a/", "no", response=Response(403, body=b'{"error": "origin"}')).body
        {'error': 'origin'}
        >>> InvalidStatus("ws://a/", "no", response=Response(404, body=b"no such path")).body
        'no such path'
        """
        assert self.response is not None
        return _decode_body(self.response)


class InvalidStatus(_ResponseShortcuts, ConnectionFailed):
    """The server answered the upgrade request with a status other than 101.

    ``response`` keeps the status, reason, headers and the start of the body;
    ``status``, ``reason``, ``headers`` and ``body`` are shortcuts to it.

    Like ``OSError``, which becomes ``FileNotFoundError`` for ``ENOENT``,
    ``InvalidStatus`` built with a 3xx response is a ``RedirectReceived``:

    >>> error = InvalidStatus("ws://a.example/", "moved", response=Response(301, "Moved"))
    >>> type(error).__name__
    'RedirectReceived'
    """

    default_stage = "http"

    def __new__(cls, *args: Any, **kwargs: Any) -> InvalidStatus:
        kind: type[InvalidStatus] = cls
        response = kwargs.get("response")
        if cls is InvalidStatus and isinstance(response, Response) and 300 <= response.status < 400:
            kind = RedirectReceived
        return super().__new__(kind, *args, **kwargs)


class RedirectReceived(InvalidStatus):
    """The server answered with a redirect (3xx), which was not followed.

    WebSocket clients do not follow redirects, unless ``follow_redirects`` says
    so (and then only 301, 302, 303, 307 and 308 with a ``Location``).
    ``location`` is the ``Location`` header ("" when the server sent none).
    """

    @property
    def location(self) -> str:
        assert self.response is not None
        return self.response.header("Location") or ""


class TooManyRedirects(RedirectReceived):
    """More redirects than ``follow_redirects`` allows.

    ``history`` is the chain of URLs (without credentials): the one given to
    ``WebSocket`` first, then each ``Location`` followed, the one refused last.
    ``response`` is the last redirect.
    """

    def __init__(
        self,
        url: str,
        cause: str,
        fix: str = "",
        *,
        stage: str | None = None,
        response: Response | None = None,
        history: tuple[str, ...] = (),
    ) -> None:
        self.history = tuple(redact_url(href) for href in history)
        super().__init__(url, cause, fix, stage=stage, response=response)


class RedirectLoop(TooManyRedirects):
    """A redirect back to a URL already requested: following more cannot help."""


class InsecureRedirect(RedirectReceived):
    """A redirect from ``wss://`` to ``ws://``: never followed (``location`` says where to)."""


class InvalidHandshake(ConnectionFailed):
    """The server's answer is not a valid WebSocket accept.

    A wrong or missing ``Sec-WebSocket-Accept``, ``Upgrade`` or ``Connection``
    header, a subprotocol or extension that was not offered, or a reply that is
    not HTTP at all.
    """

    default_stage = "http"


class InvalidUpgrade(InvalidHandshake):
    """The 101 answer lacks ``Upgrade: websocket`` or ``Connection: Upgrade``.

    Usually a proxy between client and server that drops or rewrites them.
    """


class InvalidAccept(InvalidHandshake):
    """The 101 answer's ``Sec-WebSocket-Accept`` is missing or does not match the key sent."""


class UnexpectedSubprotocol(InvalidHandshake):
    """The server selected a subprotocol the client did not offer (or several).

    ``offered`` is what the client offered, ``chosen`` what the server answered.
    """

    def __init__(
        self,
        url: str,
        cause: str,
        fix: str = "",
        *,
        stage: str | None = None,
        response: Response | None = None,
        offered: tuple[str, ...] = (),
        chosen: tuple[str, ...] = (),
    ) -> None:
        self.offered = offered
        self.chosen = chosen
        super().__init__(url, cause, fix, stage=stage, response=response)


class UnexpectedExtension(InvalidHandshake):
    """The server accepted an extension the client did not offer, or not as offered.

    ``extension`` is the extension's name as the server wrote it.
    """

    def __init__(
        self,
        url: str,
        cause: str,
        fix: str = "",
        *,
        stage: str | None = None,
        response: Response | None = None,
        extension: str = "",
    ) -> None:
        self.extension = extension
        super().__init__(url, cause, fix, stage=stage, response=response)


class NotHTTP(InvalidHandshake):
    """The server's answer to the upgrade request is not valid HTTP, or not HTTP at all.

    Usually another service on that port (SSH, a database, a mail server).
    """


class TLSRequired(NotHTTP):
    """A ``ws://`` URL, but the port speaks TLS: the answer was a TLS record. Use ``wss://``."""


class ConnectionAborted(ConnectionFailed):
    """The connection was closed before it was established."""

    default_stage = "http"


class ProxyError(ConnectionFailed):
    """The proxy between this client and the server could not open the way to it.

    ``proxy`` is the proxy's URL without credentials (``http://proxy.example:3128``);
    ``stage`` is ``"proxy"``. The subclasses name the causes a user fixes differently.

    >>> error = ProxyRefused("ws://a/", "refused", proxy="http://u:pw@proxy.example:3128")
    >>> (error.proxy, error.stage)
    ('http://proxy.example:3128', 'proxy')
    """

    default_stage = "proxy"

    def __init__(
        self,
        url: str,
        cause: str,
        fix: str = "",
        *,
        stage: str | None = None,
        response: Response | None = None,
        proxy: str = "",
    ) -> None:
        self.proxy = redact_url(proxy)
        super().__init__(url, cause, fix, stage=stage, response=response)


class ProxyRefused(ProxyError):
    """Nothing accepts connections at the proxy's address: the proxy is not running there."""


class ProxyUnreachable(ProxyError):
    """The proxy's host name did not resolve, or its address could not be reached."""


class ProxyTLSError(ProxyError):
    """The TLS handshake with an ``https://`` proxy failed (its certificate, most often)."""


class ProxyAuthRequired(ProxyError):
    """The proxy wants credentials, or refused the ones in the proxy URL.

    From an HTTP proxy, ``response`` is its 407 answer (401 from some proxies)
    and ``challenge`` its ``Proxy-Authenticate`` header; from a SOCKS5 proxy,
    ``response`` is None.
    """

    @property
    def challenge(self) -> str:
        """The ``Proxy-Authenticate`` header of the 407 answer ("" when there is none)."""
        if self.response is None:
            return ""
        return self.response.header("Proxy-Authenticate") or ""


class ProxyTunnelFailed(_ResponseShortcuts, ProxyError):
    """The HTTP proxy answered ``CONNECT`` with a status other than 2xx (and 401, 407).

    ``response`` keeps the status, reason, headers and the start of the body;
    ``status``, ``reason``, ``headers`` and ``body`` are shortcuts to it.
    """


class ProxyInvalidResponse(ProxyError):
    """The proxy's answer is not HTTP (or not SOCKS5), or it hung up without answering.

    Usually a proxy URL with the wrong scheme (``http://`` for a SOCKS proxy, or
    the reverse) or the wrong port.
    """


class SOCKSError(ProxyError):
    """The SOCKS5 proxy could not (or would not) connect to the server.

    ``reply_code`` is the proxy's reply (RFC 1928, section 6): 1 general failure,
    2 not allowed by its rules, 3 network unreachable, 4 host unreachable,
    5 connection refused, 6 TTL expired, 7 command or 8 address type not supported.
    """

    def __init__(
        self,
        url: str,
        cause: str,
        fix: str = "",
        *,
        stage: str | None = None,
        response: Response | None = None,
        proxy: str = "",
        reply_code: int = 1,
    ) -> None:
        self.reply_code = reply_code
        super().__init__(url, cause, fix, stage=stage, response=response, proxy=proxy)


class ProtocolError(WebSocketError):
    """The server broke RFC 6455; the connection was failed.

    ``code`` is the close code wsapi sent on the wire (1002 unless a subclass
    says otherwise); the application sees 1006, as the WHATWG standard says.
    """

    def __init__(self, message: str, code: int = 1002) -> None:
        super().__init__(message)
        self.code = code


class InvalidUTF8(ProtocolError):
    """A text message (or a close reason) is not valid UTF-8 (close code 1007)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 1007)


class MessageTooBig(ProtocolError):
    """A message exceeds ``max_message_size`` (close code 1009)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 1009)


class KeepaliveTimeout(WebSocketError):
    """The server did not answer a keepalive ping within ``ping_timeout``."""


class ConnectionLost(WebSocketError):
    """The TCP connection ended without a closing handshake."""


class CloseTimeout(ConnectionLost):
    """The server did not complete the closing handshake within ``close_timeout``."""

    stage = "close"


class ConnectionClosed(WebSocketError):
    """The connection is closed: raised by ``recv()`` once the queue is drained.

    ``code``, ``reason`` and ``wasClean`` are those of the close event. When
    the connection failed, ``__cause__`` is the error that failed it.
    """

    def __init__(
        self, code: int, reason: str = "", wasClean: bool = False, *, unsent: int = 0
    ) -> None:
        self.code = code
        self.reason = reason
        self.wasClean = wasClean
        #: Messages passed to ``send()`` that were never written (see ``CloseEvent.unsent``).
        self.unsent = unsent
        super().__init__(str(self))

    def __str__(self) -> str:
        how = "cleanly" if self.wasClean else "abnormally"
        text = f"WebSocket connection closed {how} with code {self.code}"
        if self.reason:
            text += f" ({self.reason})"
        if self.unsent:
            plural = "s" if self.unsent != 1 else ""
            text += f"; {self.unsent} message{plural} passed to send() never left"
        return text
