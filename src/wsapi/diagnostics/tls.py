"""The TLS stage: version, cipher, the certificate and its verification.

When the certificate fails verification, ``fetch_certificate`` connects a second
time without verifying, only to show the certificate; nothing is ever sent over
that connection. ``tls_passed`` also serves the proxy's TLS stage (``proxy``).
"""

from __future__ import annotations

import ssl

import anyio
from anyio.abc import ByteStream
from anyio.streams.tls import TLSAttribute, TLSStream

from ..errors import CertificateRejected, ConnectionFailed
from ..transport.connect import Stage, start_tls, timeout_error
from ..transport.proxy import open_tunnel
from ..transport.tls import default_ssl_context
from .certificate import CertificateInfo, parse_certificate
from .diagnosis import Diagnosis, chained
from .report import StageReport

__all__ = ["TLSChecks"]


class TLSChecks(Diagnosis):
    """The stage ``tls``, and the certificate shown when it fails verification."""

    async def check_tls(self, ssl_context: ssl.SSLContext | None) -> bool:
        assert self.url is not None and self.stream is not None
        stage = self.stage("tls")
        if not self.url.secure:
            stage.summary = "not used: ws:// URL"
            return True
        context = ssl_context or default_ssl_context()
        started = anyio.current_time()
        address = self.address
        limit, named = self.opening_limit()
        try:
            with anyio.fail_after(limit):
                tls = await start_tls(self.url, self.stream, context, address)
        except TimeoutError as exc:
            self.stream = None  # start_tls closed it
            stage.seconds = anyio.current_time() - started
            return self.fail(stage, chained(timeout_error(self.url, "tls", named), exc))
        except ConnectionFailed as exc:
            self.stream = None
            stage.seconds = anyio.current_time() - started
            self.fail(stage, exc)
            if isinstance(exc, CertificateRejected):
                stage.details.append(
                    "certificate (fetched again without verification, to show it):"
                )
                der = await self.fetch_certificate()
                info = parse_certificate(der) if der else None
                self.describe_certificate(stage, info)
                stage.facts["verify_code"] = exc.verify_code
                stage.facts["verify_message"] = exc.verify_message
            return False
        stage.seconds = anyio.current_time() - started
        version, cipher_name = self.tls_passed(stage, tls)
        chain = _chain(tls)
        if chain:
            stage.details.append("chain: " + " <- ".join(chain))
        trusted = "the ssl context given" if ssl_context is not None else "certifi's roots"
        if context.verify_mode == ssl.CERT_NONE:
            stage.summary = f"{version} {cipher_name}, certificate NOT verified".strip()
            stage.details.append(
                "NOT verified: the ssl context given turns certificate verification off"
            )
        elif not context.check_hostname:
            stage.summary = f"{version} {cipher_name}, certificate verified but not its host name"
            stage.details.append(
                f"verified: trusted by {trusted}; the host name is NOT checked (the ssl "
                "context given turns the check off)"
            )
        else:
            stage.details.append(f"verified: trusted by {trusted}, valid for {self.url.hostname}")
        stage.facts.update(
            {
                "version": version,
                "cipher": cipher_name,
                "chain": chain,
                "verified": context.verify_mode != ssl.CERT_NONE,
                "hostname_checked": context.check_hostname,
            }
        )
        return True

    def tls_passed(self, stage: StageReport, tls: TLSStream) -> tuple[str, str]:
        """``stage`` passed with ``tls``, the stream from now on: its version and cipher."""
        self.stream = tls
        version = tls.extra(TLSAttribute.tls_version, "")
        cipher = tls.extra(TLSAttribute.cipher, None)
        cipher_name = cipher[0] if cipher else ""
        stage.status = "ok"
        stage.summary = f"{version} {cipher_name}, certificate verified".strip()
        stage.details.append(f"version {version}, cipher {cipher_name}")
        der = tls.extra(TLSAttribute.peer_certificate_binary, None)
        self.describe_certificate(stage, parse_certificate(der) if der else None)
        return version, cipher_name

    async def reconnect(self) -> ByteStream:
        """A new stream to the server, the same way (directly, Unix socket, proxy)."""
        assert self.url is not None
        route = self.route
        if route.unix_path is not None:
            return await anyio.connect_unix(route.unix_path)
        if route.chosen is not None:
            return await open_tunnel(self.url, route.chosen, Stage(), route.proxy_ssl)
        assert self.connected is not None
        return await anyio.connect_tcp(self.connected.host, self.url.port)

    async def fetch_certificate(self) -> bytes | None:
        """The server's certificate, from a handshake that does not verify it."""
        assert self.url is not None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with anyio.move_on_after(self.timeout):
            try:
                stream = await self.reconnect()
            except (OSError, ConnectionFailed):
                return None
            try:
                tls = await TLSStream.wrap(
                    stream,
                    hostname=self.url.hostname,
                    ssl_context=context,
                    standard_compatible=False,
                )
            except (ssl.SSLError, OSError, anyio.BrokenResourceError, anyio.EndOfStream):
                await anyio.aclose_forcefully(stream)
                return None
            try:
                der: bytes | None = tls.extra(TLSAttribute.peer_certificate_binary, None)
                return der
            finally:
                await anyio.aclose_forcefully(tls)
        return None

    def describe_certificate(self, stage: StageReport, info: CertificateInfo | None) -> None:
        if info is None:
            stage.details.append("certificate: could not be read")
            return
        stage.details.append(f"subject: {info.subject or '(empty)'}")
        issuer = "itself (self-signed)" if info.self_signed else info.issuer
        stage.details.append(f"issuer: {issuer}")
        if info.names:
            stage.details.append(f"names: {', '.join(info.names)}")
        stage.details.append(f"{info.validity()}; valid from {info.not_before:%Y-%m-%d}")
        stage.facts["certificate"] = {
            "subject": info.subject,
            "issuer": info.issuer,
            "names": list(info.names),
            "not_before": info.not_before.isoformat(),
            "not_after": info.not_after.isoformat(),
            "self_signed": info.self_signed,
        }


def _chain(tls: TLSStream) -> list[str]:
    """Subjects of the verified chain, leaf first (Python 3.13+; [] before)."""
    ssl_object = tls.extra(TLSAttribute.ssl_object, None)
    get_chain = getattr(ssl_object, "get_verified_chain", None)
    if get_chain is None:
        return []
    subjects = []
    try:
        chain = get_chain()
    except (ValueError, ssl.SSLError):
        return []
    for der in chain or ():
        info = parse_certificate(der) if isinstance(der, bytes) else None
        subjects.append(info.subject if info else "?")
    return subjects
