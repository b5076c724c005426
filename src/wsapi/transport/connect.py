"""Opening the byte stream, stage by stage: DNS, TCP, TLS.

Each stage's failure becomes the typed error a user acts on (``DNSError``,
``ConnectionRefused``, ``TLSError``, ...), with the original exception chained
as ``__cause__``; ``Stage`` remembers where we are so that a timeout can say
which stage ran out of time.
"""

from __future__ import annotations

import errno
import socket
import ssl
from dataclasses import dataclass

import anyio
from anyio.abc import ByteStream
from anyio.streams.tls import TLSStream

from ..errors import ConnectionFailed, ConnectionRefused, DNSError, NetworkError, TLSError
from ..protocol.url import WebSocketURL

__all__ = ["Stage", "open_stream"]


@dataclass
class Stage:
    """The stage of opening in progress: ``dns``, ``tcp``, ``tls``, ``http``."""

    name: str = "dns"
    address: str = ""


async def open_stream(
    url: WebSocketURL, ssl_context: ssl.SSLContext | None, stage: Stage
) -> ByteStream:
    """Resolve, connect and (for ``wss``) wrap in TLS; raise a ``ConnectionFailed``."""
    stage.name = "dns"
    addresses = await _resolve(url)
    stage.name = "tcp"
    stream: ByteStream = await _connect(url, addresses, stage)
    if url.secure:
        stage.name = "tls"
        assert ssl_context is not None
        stream = await _start_tls(url, stream, ssl_context)
    return stream


async def _resolve(url: WebSocketURL) -> list[str]:
    try:
        infos = await anyio.getaddrinfo(url.hostname, url.port, type=socket.SOCK_STREAM)
    except OSError as exc:  # socket.gaierror, or another failure of the resolver
        raise DNSError(
            url.href,
            f"the host name {url.hostname!r} could not be resolved ({exc.strerror or exc})",
            "Check the host name for typos, and that this machine can resolve it "
            "(DNS servers, /etc/hosts, VPN or network access).",
        ) from exc
    addresses: list[str] = []
    for *_, sockaddr in infos:
        host = str(sockaddr[0])
        if host not in addresses:
            addresses.append(host)
    return addresses


def _show(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


async def _connect(url: WebSocketURL, addresses: list[str], stage: Stage) -> ByteStream:
    errors: list[tuple[str, OSError]] = []
    for address in addresses:
        stage.address = _show(address, url.port)
        try:
            return await anyio.connect_tcp(address, url.port)
        except OSError as exc:
            errors.append((stage.address, exc))
    tried = ", ".join(shown for shown, _ in errors)
    first = errors[0][1]
    refused = [exc for _, exc in errors if _is_refusal(exc)]
    if refused and len(refused) == len(errors):
        raise ConnectionRefused(
            url.href,
            f"the connection to {tried} was refused: nothing is listening on port {url.port}",
            "Check that the server is running, and that the URL's host and port are the ones "
            "it listens on (a server bound to 127.0.0.1 cannot be reached from elsewhere).",
        ) from _root(first)
    raise NetworkError(
        url.href,
        f"could not connect to {tried} ({_reason(first)})",
        "Check the network path to the server: connectivity, firewalls, VPN.",
    ) from _root(first)


def _root(exc: OSError) -> OSError:
    # anyio reports "All connection attempts failed" with the real error as __cause__.
    cause = exc.__cause__
    return cause if isinstance(cause, OSError) else exc


def _is_refusal(exc: OSError) -> bool:
    root = _root(exc)
    return isinstance(root, ConnectionRefusedError) or root.errno == errno.ECONNREFUSED


def _reason(exc: OSError) -> str:
    root = _root(exc)
    return root.strerror or str(root) or type(root).__name__


async def _start_tls(url: WebSocketURL, stream: ByteStream, context: ssl.SSLContext) -> ByteStream:
    try:
        return await _wrap_tls(url, stream, context)
    except BaseException:
        # Timeout or cancellation: the TCP connection must not outlive the attempt.
        await anyio.aclose_forcefully(stream)
        raise


async def _wrap_tls(url: WebSocketURL, stream: ByteStream, context: ssl.SSLContext) -> ByteStream:
    try:
        return await TLSStream.wrap(
            stream, hostname=url.hostname, ssl_context=context, standard_compatible=False
        )
    except ssl.SSLCertVerificationError as exc:
        raise _certificate_error(url, exc) from exc
    except ssl.SSLError as exc:
        if exc.reason in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "HTTP_REQUEST"):
            raise TLSError(
                url.href,
                "the server does not speak TLS on this port (it answered in plain text)",
                "This looks like a plain ws:// server: use ws:// instead of wss://, "
                "or the port of the TLS endpoint.",
            ) from exc
        raise TLSError(
            url.href,
            f"the TLS handshake failed ({exc.reason or exc})",
            "Check that the server's TLS configuration is compatible (TLS 1.2 or newer).",
        ) from exc
    except (anyio.BrokenResourceError, anyio.EndOfStream, OSError) as exc:
        raise TLSError(
            url.href,
            "the server closed the connection during the TLS handshake",
            "The port may not speak TLS (use ws://), or the server rejected this client "
            "(for example it requires a client certificate).",
        ) from exc


def _certificate_error(url: WebSocketURL, exc: ssl.SSLCertVerificationError) -> ConnectionFailed:
    message = exc.verify_message or str(exc)
    lowered = message.lower()
    if "hostname mismatch" in lowered or "ip address mismatch" in lowered:
        fix = (
            f"The certificate is not valid for {url.hostname!r}: connect with the host name "
            "the certificate names, or fix the server's certificate."
        )
    elif "expired" in lowered:
        fix = "The server's certificate has expired: it must be renewed on the server."
    elif "not yet valid" in lowered:
        fix = "The certificate is not valid yet: check the clocks of this machine and the server."
    elif "self-signed" in lowered or "self signed" in lowered or "local issuer" in lowered:
        fix = (
            "The certificate is signed by a CA that is not trusted here: pass "
            "ssl=ssl.create_default_context(cafile='ca.pem') with that CA (wsapi trusts "
            "certifi's roots by default)."
        )
    else:
        fix = "Pass ssl= with an SSLContext that trusts the server's certificate authority."
    return TLSError(
        url.href, f"the server's TLS certificate was rejected ({message})", fix, stage="tls"
    )
