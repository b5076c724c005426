"""Opening the byte stream, stage by stage: DNS, TCP (or a proxy, or a Unix socket), TLS.

Each stage's failure becomes the typed error a user acts on (``DNSError``,
``ConnectionRefused``, ``HostUnreachable``, ``NotTLS``, ``CertificateExpired``,
...), with the original exception chained as ``__cause__``; ``Stage`` remembers
where we are, so that a timeout can say which stage ran out of time, and every
address tried, so that ``wsapi doctor`` can show each attempt.

When a name has several addresses, ``connect`` races them as RFC 8305 ("happy
eyeballs") says: the families alternate, and each attempt gets a head start of
``CONNECTION_ATTEMPT_DELAY`` before the next one begins; the first to connect
wins. Proxies are in :mod:`wsapi.transport.proxy`, Unix sockets in
:mod:`wsapi.transport.unix`.

The stages are public (``resolve``, ``connect``, ``start_tls``) so that the
doctor runs exactly the code a connection runs, one step at a time.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio
from anyio.abc import ByteStream, SocketStream
from anyio.streams.tls import TLSStream

from ..errors import (
    CertificateExpired,
    CertificateHostMismatch,
    CertificateNotYetValid,
    CertificateRejected,
    CertificateUntrusted,
    ConnectionFailed,
    ConnectionRefused,
    DNSError,
    HostUnreachable,
    NetworkError,
    NotTLS,
    OpenTimeout,
    TLSError,
    redact_url,
)
from ..protocol.handshake import with_scheme
from ..protocol.url import WebSocketURL
from .asyncio_stream import AsyncioTCPStream

if TYPE_CHECKING:
    from ..protocol.proxy import ProxySetting

__all__ = [
    "CONNECTION_ATTEMPT_DELAY",
    "STAGE_NAMES",
    "Attempt",
    "AttemptsFailed",
    "Stage",
    "connect",
    "connect_addresses",
    "lookup",
    "open_stream",
    "certificate_error",
    "is_refusal",
    "os_reason",
    "resolve",
    "root_error",
    "show_address",
    "start_tls",
    "timeout_error",
]

#: What each stage is doing, for timeout messages.
STAGE_NAMES = {
    "dns": "resolving the host name",
    "proxy": "connecting through the proxy",
    "tcp": "connecting",
    "tls": "doing the TLS handshake",
    "http": "waiting for the server's answer to the upgrade request",
    "close": "waiting for the server to complete the closing handshake",
}

# OpenSSL's X509_V_ERR_* codes (x509_vfy.h) for the causes a user fixes differently.
_NOT_YET_VALID = frozenset({9})  # CERT_NOT_YET_VALID
_EXPIRED = frozenset({10})  # CERT_HAS_EXPIRED
_SELF_SIGNED = frozenset({18, 19})  # DEPTH_ZERO_SELF_SIGNED_CERT, SELF_SIGNED_CERT_IN_CHAIN
_UNKNOWN_ISSUER = frozenset({2, 20, 21})  # UNABLE_TO_GET_ISSUER_CERT(_LOCALLY), ..._LEAF_SIGNATURE
_NAME_MISMATCH = frozenset({62, 63, 64})  # HOSTNAME_, EMAIL_, IP_ADDRESS_MISMATCH

_UNREACHABLE = frozenset({errno.EHOSTUNREACH, errno.ENETUNREACH})

#: ssl.SSLError reasons that mean "this port answered in plain text".
_PLAIN_TEXT_REASONS = frozenset({"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "HTTP_REQUEST"})


@dataclass
class Attempt:
    """One TCP connection attempt: the address, how long it took, how it failed."""

    address: str  # shown as host:port, [IPv6]:port
    host: str  # the IP address connected to
    # time.monotonic(), not anyio's clock: a diagnostic, and no backend lookup per call.
    seconds: float
    error: OSError | None = None


@dataclass(init=False)
class Stage:
    """The stage of opening in progress: ``dns``, ``proxy``, ``tcp``, ``tls``, ``http``.

    ``Stage()`` names no stage yet (``name`` reads ``dns`` until one is set):
    ``open_stream`` names the first one that runs, so a traced connection's first
    stage is ``dns`` when it resolves the server's name, ``proxy`` through an HTTP or
    ``socks5h://`` proxy, ``tcp`` to a Unix socket.
    """

    name: str = "dns"
    address: str = ""
    attempts: list[Attempt] = field(default_factory=list)

    def __init__(
        self, name: str | None = None, address: str = "", attempts: list[Attempt] | None = None
    ) -> None:
        if name is not None:
            self.name = name
        self.address = address
        self.attempts = [] if attempts is None else attempts


async def open_stream(
    url: WebSocketURL,
    ssl_context: ssl.SSLContext | None,
    stage: Stage,
    *,
    proxy: ProxySetting = None,
    proxy_ssl: ssl.SSLContext | None = None,
    unix_socket: str | None = None,
) -> ByteStream:
    """Connect (directly, through a proxy or to a Unix socket) and, for ``wss``, do TLS.

    ``proxy`` is a ``ProxyURL``, None, or True to ask the environment.
    Raises a ``ConnectionFailed``.
    """
    stream: ByteStream
    address = ""
    # Imported here: these modules build on this one's stages.
    from .proxy import choose_proxy, open_tunnel
    from .unix import connect_unix

    if unix_socket is not None:
        stream = await connect_unix(url, unix_socket, stage)
        address = stage.address
    else:
        chosen = await choose_proxy(url, proxy)
        if chosen is not None:
            stream = await open_tunnel(url, chosen, stage, proxy_ssl)
        else:
            stage.name = "dns"
            addresses = await resolve(url)
            stage.name = "tcp"
            stream = await connect(url, addresses, stage)
            address = stage.address
    if url.secure:
        stage.name = "tls"
        assert ssl_context is not None
        stream = await start_tls(url, stream, ssl_context, address)
    return stream


# -- DNS ---------------------------------------------------------------------------------


async def lookup(hostname: str, port: int) -> list[str]:
    """The addresses of ``hostname``, in the resolver's order, each once; raise ``OSError``."""
    try:
        # An IP address needs no resolver (on asyncio that is a thread hop).
        return [str(ipaddress.ip_address(hostname))]
    except ValueError:
        pass
    infos = await anyio.getaddrinfo(hostname, port, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for *_, sockaddr in infos:
        host = str(sockaddr[0])
        if host not in addresses:
            addresses.append(host)
    return addresses


async def resolve(url: WebSocketURL) -> list[str]:
    """The addresses of ``url``'s host, in the resolver's order; raise ``DNSError``."""
    try:
        return await lookup(url.hostname, url.port)
    except OSError as exc:  # socket.gaierror, or another failure of the resolver
        raise DNSError(
            url.href,
            f"the host name {url.hostname!r} could not be resolved ({exc.strerror or exc})",
            "Check the host name for typos, and that this machine can resolve it "
            "(DNS servers, /etc/hosts, VPN or network access).",
        ) from exc


# -- TCP ---------------------------------------------------------------------------------


def show_address(address: str, port: int) -> str:
    """``host:port``, with IPv6 addresses in brackets.

    >>> show_address("::1", 443), show_address("127.0.0.1", 80)
    ('[::1]:443', '127.0.0.1:80')
    """
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


async def connect(url: WebSocketURL, addresses: list[str], stage: Stage) -> ByteStream:
    """Connect to ``url``'s port at one of ``addresses`` (happy eyeballs); raise typed errors."""
    try:
        return await connect_addresses(addresses, url.port, stage)
    except AttemptsFailed as exc:
        raise _connect_error(url, exc.errors) from root_error(exc.errors[0][1])


#: RFC 8305's "Connection Attempt Delay": the head start of each attempt, in seconds.
CONNECTION_ATTEMPT_DELAY = 0.25


class AttemptsFailed(Exception):
    """No address accepted: ``errors`` pairs each address shown with its ``OSError``."""

    def __init__(self, errors: list[tuple[str, OSError]]) -> None:
        super().__init__(", ".join(f"{shown}: {exc}" for shown, exc in errors))
        self.errors = errors


async def connect_addresses(addresses: list[str], port: int, stage: Stage) -> ByteStream:
    """Race TCP connections to ``addresses`` as RFC 8305 says; the first to connect wins.

    Attempts start in ``interleave()``'s order, each one when the previous one
    failed or ``CONNECTION_ATTEMPT_DELAY`` after it started; the losers are
    cancelled (or closed). Each finished attempt is kept in ``stage.attempts``,
    the winner last, and ``stage.address`` ends on the winner. Raises
    ``AttemptsFailed`` (errors in the order the attempts started).
    """
    ordered = interleave(addresses)
    if len(ordered) == 1:
        return await _connect_one(ordered[0], port, stage)
    outcomes: dict[int, tuple[str, OSError]] = {}
    winner: ByteStream | None = None

    async def attempt(index: int, address: str, done: anyio.Event) -> None:
        nonlocal winner
        shown = show_address(address, port)
        started = time.monotonic()
        try:
            stream = await connect_tcp(address, port)
        except OSError as exc:
            if winner is None:
                elapsed = time.monotonic() - started
                stage.attempts.append(Attempt(shown, address, elapsed, root_error(exc)))
                outcomes[index] = (shown, exc)
            done.set()
            return
        if winner is not None:  # lost the race by a hair
            await anyio.aclose_forcefully(stream)
            return
        winner = stream
        stage.attempts.append(Attempt(shown, address, time.monotonic() - started))
        stage.address = shown
        task_group.cancel_scope.cancel()

    try:
        async with anyio.create_task_group() as task_group:
            for index, address in enumerate(ordered):
                done = anyio.Event()
                stage.address = show_address(address, port)
                task_group.start_soon(attempt, index, address, done)
                with anyio.move_on_after(CONNECTION_ATTEMPT_DELAY):
                    await done.wait()
    except BaseException:
        # Cancelled from outside (open_timeout): the winner must not leak.
        if winner is not None:
            await anyio.aclose_forcefully(winner)
        raise
    if winner is None:
        raise AttemptsFailed([outcomes[index] for index in sorted(outcomes)])
    return winner


async def _connect_one(address: str, port: int, stage: Stage) -> ByteStream:
    """A single address: nothing to race, so no task group (the common case, kept cheap)."""
    shown = stage.address = show_address(address, port)
    started = time.monotonic()
    try:
        stream = await connect_tcp(address, port)
    except OSError as exc:
        elapsed = time.monotonic() - started
        stage.attempts.append(Attempt(shown, address, elapsed, root_error(exc)))
        raise AttemptsFailed([(shown, exc)]) from exc
    stage.attempts.append(Attempt(shown, address, time.monotonic() - started))
    return stream


async def connect_tcp(address: str, port: int) -> SocketStream:
    """A TCP connection to one IP address, as a stream.

    ``anyio.connect_tcp`` races its addresses in a task group even when there is
    one, and cancels the group when one wins, which costs a task and a task's
    repr (anyio writes it into the cancellation's reason): a tenth of a local
    open-and-close. With one address there is nothing to race.
    """
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.connect((address, port))
        except BlockingIOError:
            await anyio.wait_writable(sock)
            error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if error:
                # OSError(errno, ...) is the errno's subclass (ConnectionRefusedError...).
                raise OSError(error, os.strerror(error)) from None
        if _on_asyncio():
            return await AsyncioTCPStream.connect(sock)
        return await SocketStream.from_socket(sock)
    except BaseException:
        sock.close()
        raise


def _on_asyncio() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False  # trio
    return True


def interleave(addresses: list[str]) -> list[str]:
    """The resolver's order, with IPv6 and IPv4 alternating from the first one's family.

    >>> interleave(["::1", "::2", "10.0.0.1", "10.0.0.2"])
    ['::1', '10.0.0.1', '::2', '10.0.0.2']
    >>> interleave(["10.0.0.1", "10.0.0.2", "::1"])
    ['10.0.0.1', '::1', '10.0.0.2']
    """
    v6 = [address for address in addresses if ":" in address]
    v4 = [address for address in addresses if ":" not in address]
    first, second = (v6, v4) if addresses and ":" in addresses[0] else (v4, v6)
    ordered: list[str] = []
    for index in range(max(len(first), len(second))):
        ordered += first[index : index + 1] + second[index : index + 1]
    return ordered


def _connect_error(url: WebSocketURL, errors: list[tuple[str, OSError]]) -> ConnectionFailed:
    tried = ", ".join(shown for shown, _ in errors)
    first = root_error(errors[0][1])
    roots = [root_error(exc) for _, exc in errors]
    if all(is_refusal(root) for root in roots):
        return ConnectionRefused(
            url.href,
            f"the connection to {tried} was refused: nothing is listening on port {url.port}",
            "Check that the server is running, and that the URL's host and port are the ones "
            "it listens on (a server bound to 127.0.0.1 cannot be reached from elsewhere).",
        )
    if all(root.errno in _UNREACHABLE for root in roots):
        return HostUnreachable(
            url.href,
            f"could not reach {tried}: {os_reason(first)}",
            "This machine has no network route to that address: check the network "
            "connection, VPN and firewall, and that the host name resolves to the right "
            "address (an IPv6 address on a network without IPv6, for example).",
        )
    shown = ", ".join(f"{address} ({os_reason(root_error(exc))})" for address, exc in errors)
    return NetworkError(
        url.href,
        f"could not connect to {shown}",
        "Check the network path to the server: connectivity, firewalls, VPN.",
    )


def root_error(exc: OSError) -> OSError:
    """The error behind ``exc``: anyio's own wraps the real one."""
    # anyio reports "All connection attempts failed" with the real error as __cause__.
    cause = exc.__cause__
    return cause if isinstance(cause, OSError) else exc


def is_refusal(root: OSError) -> bool:
    """Whether ``root`` says that nothing listens there (ECONNREFUSED)."""
    return isinstance(root, ConnectionRefusedError) or root.errno == errno.ECONNREFUSED


def os_reason(error: OSError) -> str:
    """The system's words for ``error``, the same on every event loop ("Connection refused")."""
    if error.errno:
        return os.strerror(error.errno)
    return error.strerror or str(error) or type(error).__name__


# -- TLS ---------------------------------------------------------------------------------


async def start_tls(
    url: WebSocketURL, stream: ByteStream, context: ssl.SSLContext, address: str = ""
) -> TLSStream:
    """Do the TLS handshake over ``stream``; the stream is closed if it fails."""
    try:
        return await _wrap_tls(url, stream, context, address)
    except BaseException:
        # Failure, timeout or cancellation: the TCP connection must not outlive the attempt.
        await anyio.aclose_forcefully(stream)
        raise


async def _wrap_tls(
    url: WebSocketURL, stream: ByteStream, context: ssl.SSLContext, address: str
) -> TLSStream:
    at = f" at {address}" if address else ""
    try:
        return await TLSStream.wrap(
            stream, hostname=url.hostname, ssl_context=context, standard_compatible=False
        )
    except ssl.SSLCertVerificationError as exc:
        raise certificate_error(url, exc) from exc
    except ssl.SSLError as exc:
        if exc.reason in _PLAIN_TEXT_REASONS:
            plain = with_scheme(url.href, "ws")
            raise NotTLS(
                url.href,
                f"the server{at} does not speak TLS on this port (it answered in plain text)",
                f"This looks like a plain ws:// server: use ws:// instead of wss:// "
                f"({plain}), or the port of the TLS endpoint.",
            ) from exc
        raise TLSError(
            url.href, f"the TLS handshake{at} failed ({exc.reason or exc})", _tls_fix(exc)
        ) from exc
    except (anyio.BrokenResourceError, anyio.EndOfStream, OSError) as exc:
        raise TLSError(
            url.href,
            f"the server{at} closed the connection during the TLS handshake",
            "The port may not speak TLS (use ws://), or the server rejected this client "
            "(for example it requires a client certificate, or a TLS version or cipher "
            "this client does not offer).",
        ) from exc


def _tls_fix(exc: ssl.SSLError) -> str:
    reason = (exc.reason or "").upper()
    if "CERTIFICATE_REQUIRED" in reason or "BAD_CERTIFICATE" in reason:
        return (
            "The server requires a client certificate: pass ssl= with a context that has "
            "one (context.load_cert_chain('client.pem', 'client.key'))."
        )
    if "PROTOCOL_VERSION" in reason or "UNSUPPORTED_PROTOCOL" in reason:
        return (
            "The server and this client share no TLS version: wsapi requires TLS 1.2 or "
            "newer, and the server must support one of them."
        )
    if "HANDSHAKE_FAILURE" in reason or "NO_SHARED_CIPHER" in reason:
        return (
            "The server and this client share no cipher suite (or the server rejected the "
            "client for another reason): check the server's TLS configuration."
        )
    return "Check that the server's TLS configuration is compatible (TLS 1.2 or newer)."


def certificate_error(url: WebSocketURL, exc: ssl.SSLCertVerificationError) -> CertificateRejected:
    """The typed error for a failed certificate verification (OpenSSL's code decides)."""
    code: int | None = exc.verify_code
    message = exc.verify_message or str(exc)
    kind, cause, fix = _explain_certificate(url, code, message)
    return kind(
        url.href, cause, fix, verify_code=code, verify_message=message, hostname=url.hostname
    )


def _explain_certificate(
    url: WebSocketURL, code: int | None, message: str
) -> tuple[type[CertificateRejected], str, str]:
    lowered = message.lower()
    doctor = f"python -m wsapi doctor {redact_url(url.href)}"
    if code in _NAME_MISMATCH or "mismatch" in lowered:
        # OpenSSL says "Hostname mismatch, certificate is not valid for 'x'.": keep its name.
        short = message.split(",", 1)[0].rstrip(".")
        return (
            CertificateHostMismatch,
            f"the server's TLS certificate is not valid for {url.hostname!r} ({short})",
            f"The certificate names other hosts: connect with a host name it names (run "
            f"`{doctor}` to see them), or fix the server's certificate.",
        )
    if code in _EXPIRED or "expired" in lowered:
        return (
            CertificateExpired,
            f"the server's TLS certificate has expired ({message})",
            f"It must be renewed on the server (run `{doctor}` to see its dates); if it was, "
            "reload the server, and check this machine's clock.",
        )
    if code in _NOT_YET_VALID or "not yet valid" in lowered:
        return (
            CertificateNotYetValid,
            f"the server's TLS certificate is not valid yet ({message})",
            "Its validity starts in the future: check the clocks of this machine and of the "
            f"server (run `{doctor}` to see the certificate's dates).",
        )
    if code in _SELF_SIGNED or "self-signed" in lowered or "self signed" in lowered:
        return (
            CertificateUntrusted,
            f"the server's TLS certificate is self-signed ({message})",
            "To trust this server, pass ssl=ssl.create_default_context(cafile='cert.pem') "
            "with its certificate (or the CA that signed it); wsapi trusts certifi's roots "
            "by default, not certificates it has never seen.",
        )
    if code in _UNKNOWN_ISSUER or "issuer" in lowered:
        return (
            CertificateUntrusted,
            f"the server's TLS certificate is signed by an unknown certificate authority "
            f"({message})",
            "The certificate is signed by a CA that is not trusted here: pass "
            "ssl=ssl.create_default_context(cafile='ca.pem') with that CA (wsapi trusts "
            "certifi's roots by default; `pip install -U certifi` updates them). A public "
            "server may instead be missing its intermediate certificates.",
        )
    return (
        CertificateRejected,
        f"the server's TLS certificate was rejected ({message})",
        "Pass ssl= with an SSLContext that trusts the server's certificate authority, or "
        f"fix the server's certificate (run `{doctor}` to see it).",
    )


# -- timeouts ----------------------------------------------------------------------------


def timeout_error(
    url: WebSocketURL, stage: str, timeout: float | None, address: str = ""
) -> OpenTimeout:
    """The ``OpenTimeout`` for a stage that ran out of ``open_timeout``."""
    doing = STAGE_NAMES.get(stage, stage)
    where = f" ({address})" if address and stage in ("tcp", "proxy") else ""
    after = f" after {timeout:g} s" if timeout is not None else ""
    return OpenTimeout(
        url.href, f"timed out{after} while {doing}{where}", _timeout_fix(stage), stage=stage
    )


def _timeout_fix(stage: str) -> str:
    if stage == "dns":
        return "The DNS servers are slow or unreachable: check this machine's resolver."
    if stage == "tcp":
        return (
            "Nothing answered: a firewall may be dropping the packets, or the host is down. "
            "Check the host and port, or raise open_timeout on a slow network."
        )
    if stage == "tls":
        return "The server accepted TCP but did not complete TLS: check that the port speaks TLS."
    if stage == "proxy":
        return (
            "The proxy did not open the way to the server in time: check that the proxy URL "
            "(proxy=, or HTTPS_PROXY, HTTP_PROXY and ALL_PROXY) names a running proxy with "
            "the right scheme (http://, https://, socks5://) and port, and that it can reach "
            "the server; or raise open_timeout on a slow network."
        )
    return (
        "The server accepted the connection but did not answer the upgrade request: check "
        "that this is a WebSocket endpoint (a wss:// port spoken to with ws:// also hangs), "
        "or raise open_timeout if the server is slow."
    )
