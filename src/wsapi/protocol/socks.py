"""SOCKS5 (RFC 1928) with user name and password (RFC 1929), sans-IO, on socksio.

socksio builds and parses each message but expects whole messages, so
:class:`SOCKS5Tunnel` frames the proxy's bytes itself (a reply's length
depends on its address type) and turns every refusal into a typed
``ProxyError`` whose message explains the SOCKS5 reply code.

socksio is the optional ``socks`` extra (``pip install 'wsapi[socks]'``):
importing this module without it raises ``ImportError``, so the transport
imports it only when a SOCKS proxy is used.

Sans-IO: standard library, socksio and :mod:`wsapi.errors` only.
"""

from __future__ import annotations

import socksio
from socksio.socks5 import SOCKS5State, SOCKS5UsernamePasswordReply, SOCKS5UsernamePasswordRequest

from ..errors import ProxyAuthRequired, ProxyError, ProxyInvalidResponse, SOCKSError
from .proxy import ProxyURL, authority
from .url import WebSocketURL

__all__ = ["REPLIES", "SOCKS5Tunnel", "socks_error"]

#: RFC 1928 section 6: what each reply code means.
REPLIES = {
    1: "general SOCKS server failure",
    2: "connection not allowed by ruleset",
    3: "network unreachable",
    4: "host unreachable",
    5: "connection refused",
    6: "TTL expired",
    7: "command not supported",
    8: "address type not supported",
}


class SOCKS5Tunnel:
    """A SOCKS5 ``CONNECT`` to ``host`` (an address, or a name for ``socks5h://``).

    Send ``data_to_send()`` and feed the proxy's bytes to ``receive_data()``
    (``b""`` at its end of stream) until it returns True: the tunnel is open.
    """

    def __init__(self, url: WebSocketURL, proxy: ProxyURL, host: str) -> None:
        self.url = url
        self.proxy = proxy
        self.host = host
        self.target = authority(host, url.port)
        self._conn = socksio.SOCKS5Connection()
        methods = [socksio.SOCKS5AuthMethod.NO_AUTH_REQUIRED]
        if proxy.has_credentials:
            methods.insert(0, socksio.SOCKS5AuthMethod.USERNAME_PASSWORD)
        self._conn.send(socksio.SOCKS5AuthMethodsRequest(methods))
        self._buffer = bytearray()
        self._first = b""  # the first bytes received, for messages

    def data_to_send(self) -> bytes:
        return self._conn.data_to_send()

    def receive_data(self, data: bytes) -> bool:
        """Feed the proxy's bytes; True once the tunnel is open. Raises a ``ProxyError``."""
        if not data:
            raise self._closed()
        if len(self._first) < 40:
            self._first += data[: 40 - len(self._first)]
        self._buffer += data
        while True:
            size = self._message_size()
            if size is None or len(self._buffer) < size:
                return False
            message = bytes(self._buffer[:size])
            del self._buffer[:size]
            if self._handle(message):
                if self._buffer:
                    raise self._invalid(f"sent data after its reply ({bytes(self._buffer[:40])!r})")
                return True

    # -- framing -------------------------------------------------------------------

    def _message_size(self) -> int | None:
        """How long the message being received is (None: not known yet)."""
        state = self._conn.state
        if state in (SOCKS5State.SERVER_AUTH_REPLY, SOCKS5State.SERVER_VERIFY_USERNAME_PASSWORD):
            return 2
        # The CONNECT reply: VER REP RSV ATYP BND.ADDR BND.PORT.
        if len(self._buffer) < 5:
            return None
        kind = self._buffer[3]
        if kind == 1:
            return 10
        if kind == 4:
            return 22
        if kind == 3:
            return 7 + self._buffer[4]
        raise self._not_socks()

    def _handle(self, message: bytes) -> bool:
        if self._conn.state is SOCKS5State.SERVER_AUTH_REPLY and message[0] != 5:
            raise self._not_socks()
        try:
            reply = self._conn.receive_data(message)
        except socksio.ProtocolError as exc:
            raise self._not_socks() from exc
        if isinstance(reply, socksio.SOCKS5AuthReply):
            methods = socksio.SOCKS5AuthMethod
            if reply.method is methods.USERNAME_PASSWORD and self.proxy.has_credentials:
                self._conn.send(
                    SOCKS5UsernamePasswordRequest(
                        self.proxy.username.encode(), self.proxy.password.encode()
                    )
                )
            elif reply.method is methods.NO_AUTH_REQUIRED:
                self._send_connect()
            else:
                raise self._auth_refused(reply.method)
            return False
        if isinstance(reply, SOCKS5UsernamePasswordReply):
            if not reply.success:
                raise self._credentials_rejected()
            self._send_connect()
            return False
        code = reply.reply_code[0]
        if code != 0:
            raise socks_error(self.url, self.proxy, self.target, code)
        return True

    def _send_connect(self) -> None:
        request = socksio.SOCKS5CommandRequest.from_address(
            socksio.SOCKS5Command.CONNECT, (self.host, self.url.port)
        )
        self._conn.send(request)

    # -- errors --------------------------------------------------------------------

    def _auth_refused(self, method: socksio.SOCKS5AuthMethod) -> ProxyError:
        proxy = self.proxy
        methods = socksio.SOCKS5AuthMethod
        example = f"{proxy.scheme}://user:password@{authority(proxy.hostname, proxy.port)}"
        supported = (
            "wsapi speaks SOCKS5 without authentication and with a user name and password "
            "(RFC 1929): use a proxy account that allows one of them."
        )
        if method is methods.NO_ACCEPTABLE_METHODS and proxy.has_credentials:
            cause = (
                f"{proxy.describe()} accepts none of the authentication methods offered (user "
                "name and password, or none)"
            )
            fix = supported
        elif method in (methods.NO_ACCEPTABLE_METHODS, methods.USERNAME_PASSWORD):
            cause = f"{proxy.describe()} requires a user name and password"
            fix = f"Put them in the proxy URL, in {proxy.setting}: {example}."
        else:
            cause = f"{proxy.describe()} asks for {method.name} authentication"
            fix = supported
        return ProxyAuthRequired(self.url.href, cause, fix, proxy=proxy.href)

    def _credentials_rejected(self) -> ProxyError:
        proxy = self.proxy
        return ProxyAuthRequired(
            self.url.href,
            f"{proxy.describe()} rejected the user name and password of the proxy URL",
            f"Check them in {proxy.setting} (percent-encode special characters: '@' is %40, "
            "':' is %3A).",
            proxy=proxy.href,
        )

    def _closed(self) -> ProxyError:
        doing = "its greeting" if not self._first else "the SOCKS5 handshake"
        return self._invalid(
            f"closed the connection during {doing}",
            "The proxy may not allow this client, or it is not a SOCKS5 proxy: check the proxy "
            f"URL's scheme and port (an HTTP proxy needs http://); {self.proxy.bypass}.",
        )

    def _not_socks(self) -> ProxyError:
        head = self._first
        what = "this looks like an HTTP proxy (use http://)"
        if not head.startswith(b"HTTP/"):
            what = "this is not a SOCKS5 proxy"
        return self._invalid(
            f"answered with something that is not SOCKS5; it began with {head!r}",
            f"Check the proxy URL's scheme and port: {what}; {self.proxy.bypass}.",
        )

    def _invalid(self, cause: str, fix: str = "") -> ProxyError:
        return ProxyInvalidResponse(
            self.url.href,
            f"{self.proxy.describe()} {cause}",
            fix or "Check that the proxy URL names a SOCKS5 proxy.",
            proxy=self.proxy.href,
        )


def socks_error(url: WebSocketURL, proxy: ProxyURL, target: str, code: int) -> SOCKSError:
    """The ``SOCKSError`` for a CONNECT the proxy answered with reply ``code``.

    >>> from wsapi.protocol.proxy import parse_proxy_url
    >>> from wsapi.protocol.url import parse_url
    >>> proxy = parse_proxy_url("socks5://127.0.0.1:1080")
    >>> error = socks_error(parse_url("ws://127.0.0.1:8080/"), proxy, "127.0.0.1:8080", 5)
    >>> error.reply_code, error.cause.split(": ", 1)[1]
    (5, 'connection refused (SOCKS5 reply 5)')
    """
    meaning = REPLIES.get(code, "an unknown reply code")
    cause = f"{proxy.describe()} could not connect to {target}: {meaning} (SOCKS5 reply {code})"
    return SOCKSError(
        url.href, cause, _socks_fix(code, proxy, target), proxy=proxy.href, reply_code=code
    )


def _socks_fix(code: int, proxy: ProxyURL, target: str) -> str:
    if code == 5:
        return (
            f"Nothing accepts connections at {target} as seen from the proxy: check that the "
            "server is running, and the URL's host and port."
        )
    if code in (3, 4, 6):
        return (
            f"The proxy cannot reach {target}: check the URL's host, and that the server can "
            "be reached from the proxy's network."
        )
    if code == 2:
        return (
            f"The proxy's rules do not allow connections to {target}: ask its administrator, "
            f"or {proxy.bypass}."
        )
    if code in (7, 8):
        other = "socks5://" if proxy.scheme == "socks5h" else "socks5h://"
        return (
            f"The proxy does not support this request (a CONNECT to this kind of address): "
            f"try {other} instead of {proxy.scheme}://, or another proxy."
        )
    remote = "resolve the host name, or " if proxy.scheme == "socks5h" else ""
    return (
        f"The proxy failed for its own reasons (it may be unable to {remote}reach the server): "
        "check the URL's host and port, and the proxy's log."
    )
