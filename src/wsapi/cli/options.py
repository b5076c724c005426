"""Command-line options shared by ``wsapi connect``, ``replay`` and ``doctor``, and what they build.

The connection options become ``WebSocket(...)`` arguments here (and
``diagnose(...)`` arguments for the doctor); the output options choose the
timeline's form. Everything that can be checked before connecting is checked
here and reported as a usage error (exit status 2).

>>> with_query("ws://example.com/chat?room=1", ["user=ada", "token=a b"])
'ws://example.com/chat?room=1&user=ada&token=a+b'
>>> headers_from([("X-Trace", "42")], ["session=abc", "theme=dark"])
(('X-Trace', '42'), ('Cookie', 'session=abc; theme=dark'))
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import ssl
import sys
from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit, urlunsplit

from ..errors import redact_url
from ..protocol.proxy import ProxySetting, ProxyURL, proxy_option, unix_socket_option
from .commands import (
    CommandError,
    Outgoing,
    base64_bytes,
    file_bytes,
    hex_bytes,
    json_text,
)
from .transcript import SECRET_HEADERS

__all__ = [
    "UsageError",
    "add_connection_options",
    "add_output_options",
    "add_until_options",
    "doctor_command",
    "headers_from",
    "way_options",
    "ssl_context",
    "websocket_options",
    "with_query",
]

T = TypeVar("T")

_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

INSECURE_WARNING = (
    "WARNING: --insecure: the server's TLS certificate is NOT checked. Anyone on the network "
    "path can pose as the server and read or change everything in this session, secrets "
    "included. Use --cacert FILE to trust a private CA instead."
)

PROXY_INSECURE_WARNING = (
    "WARNING: --proxy-insecure: the https:// proxy's TLS certificate is NOT checked. Anyone "
    "on the network path to the proxy can pose as it: they see the proxy's credentials and "
    "where you connect, and all of a ws:// session (a wss:// session keeps its own TLS). "
    "Use --proxy-cacert FILE to trust a private CA instead."
)


class UsageError(Exception):
    """A bad option value, found before connecting (exit status 2)."""


def _checked(convert: Callable[[str], T]) -> Callable[[str], T]:
    """An argparse ``type`` that shows our own message for a bad value."""

    def check(value: str) -> T:
        try:
            return convert(value)
        except CommandError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    check.__name__ = convert.__name__
    return check


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from None
    if not seconds >= 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, not {value!r}")
    return seconds


def _positive_seconds(value: str) -> float:
    seconds = _seconds(value)
    if seconds == 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return seconds


def _natural(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {number}")
    return number


def _positive(value: str) -> int:
    number = _natural(value)
    if number == 0:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return number


def _header(value: str) -> tuple[str, str]:
    name, colon, header_value = value.partition(":")
    name = name.strip()
    if not colon or not _TOKEN.match(name):
        raise argparse.ArgumentTypeError(f"expected NAME:VALUE, not {value!r}")
    return name, header_value.strip()


def _pair(value: str) -> str:
    name, equals, _ = value.partition("=")
    if not equals or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, not {value!r}")
    return value


def _text(value: str) -> Outgoing:
    return Outgoing("text", value)


def add_connection_options(
    parser: argparse.ArgumentParser, *, exclude: Collection[str] = ()
) -> argparse._ArgumentGroup:
    """``-H``, ``--query``, ``--cookie``, ``--subprotocol``, TLS, the way, compression, timeouts.

    The way to the server: ``--proxy URL`` or ``--no-proxy`` (by default, the
    proxy environment variables decide, as in the library), ``--unix-socket PATH``.

    ``exclude`` names options a command has no use for (``wsapi doctor`` sends
    one ping and no message: no ``--ping-interval``, no ``--max-size``).
    Returns the group, for a command's own connection options.
    """
    group = parser.add_argument_group("connection")

    def option(*flags: str, **kwargs: Any) -> None:
        if not exclude or not any(flag in exclude for flag in flags):
            group.add_argument(*flags, **kwargs)

    option(
        "-H",
        "--header",
        dest="headers",
        action="append",
        type=_header,
        default=[],
        metavar="NAME:VALUE",
        help="add a header to the upgrade request (repeatable)",
    )
    option(
        "--query",
        action="append",
        type=_pair,
        default=[],
        metavar="NAME=VALUE",
        help="add a parameter to the URL's query string, URL-encoded (repeatable)",
    )
    option(
        "--cookie",
        dest="cookies",
        action="append",
        type=_pair,
        default=[],
        metavar="NAME=VALUE",
        help="send a cookie (repeatable; all go in one Cookie header)",
    )
    option(
        "-s",
        "-p",
        "--subprotocol",
        dest="subprotocols",
        action="append",
        default=[],
        metavar="NAME",
        help="offer a subprotocol, in order of preference (repeatable)",
    )
    option("--origin", help="send this Origin header (none is sent by default)")
    option(
        "--user-agent",
        metavar="TEXT",
        help="the User-Agent header (default: wsapi/VERSION (Python X.Y); '' sends none)",
    )
    tls = group.add_mutually_exclusive_group()
    tls.add_argument(
        "--cacert",
        "--cafile",
        metavar="FILE",
        help="trust the CA certificates in this PEM file (instead of certifi's roots)",
    )
    tls.add_argument(
        "-k",
        "--insecure",
        action="store_true",
        help="do not check the server's TLS certificate (dangerous: says so loudly)",
    )
    proxy = group.add_mutually_exclusive_group()
    proxy.add_argument(
        "--proxy",
        default=True,
        metavar="URL",
        help="connect through this proxy: http://, https://, socks5:// or socks5h:// "
        "(default: as HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY say)",
    )
    proxy.add_argument(
        "--no-proxy",
        dest="proxy",
        action="store_const",
        const=None,
        help="connect directly, whatever the proxy environment variables say",
    )
    proxy_tls = group.add_mutually_exclusive_group()
    proxy_tls.add_argument(
        "--proxy-cacert",
        metavar="FILE",
        help="trust the CA certificates in this PEM file for an https:// proxy's certificate",
    )
    proxy_tls.add_argument(
        "--proxy-insecure",
        action="store_true",
        help="do not check an https:// proxy's TLS certificate (dangerous: says so loudly)",
    )
    option(
        "--unix-socket",
        metavar="PATH",
        help="connect to the server on this Unix domain socket (the URL still gives the "
        "Host header and the path)",
    )
    option(
        "--compression",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="offer permessage-deflate (default: on; replay: as recorded)",
    )
    option(
        "--open-timeout",
        type=_seconds,
        default=10.0,
        metavar="SECONDS",
        help="time limit for DNS, TCP, TLS and the upgrade together (default 10; 0: none)",
    )
    option(
        "--close-timeout",
        type=_seconds,
        default=10.0,
        metavar="SECONDS",
        help="time to wait for the server's side of the closing handshake (default 10)",
    )
    option(
        "--ping-interval",
        type=_seconds,
        default=20.0,
        metavar="SECONDS",
        help="seconds between keepalive pings (default 20; 0 turns keepalive off)",
    )
    option(
        "--ping-timeout",
        type=_seconds,
        default=20.0,
        metavar="SECONDS",
        help="time to wait for a keepalive pong (default 20)",
    )
    option(
        "--max-size",
        type=_natural,
        default=16 * 2**20,
        metavar="BYTES",
        help="largest message accepted (default 16 MiB; 0: no limit)",
    )
    return group


def add_message_options(parser: argparse.ArgumentParser) -> None:
    """``--send`` and its variants: messages sent as soon as the connection is open, in order."""
    group = parser.add_argument_group(
        "messages", "sent in the order given, as soon as the connection is open"
    )
    variants: Sequence[tuple[str, Callable[[str], Outgoing], str, str]] = (
        ("--send", _text, "TEXT", "send a text message (repeatable)"),
        (
            "--send-json",
            _checked(lambda value: Outgoing("text", json_text(value))),
            "JSON",
            "send JSON text, checked first",
        ),
        (
            "--send-hex",
            _checked(lambda value: Outgoing("binary", hex_bytes(value))),
            "HEX",
            "send a binary message given in hex",
        ),
        (
            "--send-base64",
            _checked(lambda value: Outgoing("binary", base64_bytes(value))),
            "DATA",
            "send a binary message given in base64",
        ),
        (
            "--send-file",
            _checked(lambda value: Outgoing("binary", file_bytes(value))),
            "PATH",
            "send a file's bytes as a binary message",
        ),
    )
    for flag, convert, metavar, text in variants:
        group.add_argument(
            flag,
            dest="outgoing",
            action="append",
            type=convert,
            default=[],
            metavar=metavar,
            help=text,
        )


def add_until_options(parser: argparse.ArgumentParser) -> None:
    """``--count`` and ``--wait``: when a scripted session closes by itself."""
    group = parser.add_argument_group("ending")
    group.add_argument(
        "--count",
        type=_positive,
        metavar="N",
        help="close (1000) after receiving N messages",
    )
    group.add_argument(
        "--wait",
        type=_positive_seconds,
        metavar="SECONDS",
        help="close (1000) once no message came or went for SECONDS",
    )


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """The timeline's form, colours, folding, ``--save`` and ``--show-secrets``."""
    group = parser.add_argument_group("output")
    form = group.add_mutually_exclusive_group()
    form.add_argument(
        "--jsonl",
        action="store_true",
        help="print one JSON object per event (the transcript format) for scripts",
    )
    form.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="print only received messages, one per line (binary in hex)",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also show the handshake headers and the stages of opening (DNS, TCP, TLS)",
    )
    group.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour the timeline (default auto: on a terminal, unless NO_COLOR is set)",
    )
    group.add_argument(
        "--fold",
        type=_natural,
        default=20,
        metavar="LINES",
        help="show at most LINES lines of a message (default 20; 0 shows everything)",
    )
    group.add_argument(
        "--save",
        metavar="FILE",
        help="write the session transcript to FILE (JSON Lines; see wsapi replay)",
    )
    group.add_argument(
        "--show-secrets",
        action="store_true",
        help="show Authorization and Cookie values (redacted on screen and in files otherwise)",
    )
    group.add_argument(
        "--plain",
        action="store_true",
        help="interactive mode without prompt_toolkit even when it is installed",
    )


def with_query(url: str, pairs: Sequence[str]) -> str:
    """``url`` with ``NAME=VALUE`` pairs added to its query string, URL-encoded."""
    if not pairs:
        return url
    parts = urlsplit(url)
    added = urlencode([(name, value) for name, _, value in (p.partition("=") for p in pairs)])
    query = f"{parts.query}&{added}" if parts.query else added
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def headers_from(
    headers: Sequence[tuple[str, str]], cookies: Sequence[str]
) -> tuple[tuple[str, str], ...]:
    """The ``-H`` headers, with the ``--cookie`` pairs joined into one Cookie header."""
    result = list(headers)
    if cookies:
        value = "; ".join(cookie.strip() for cookie in cookies)
        for index, (name, existing) in enumerate(result):
            if name.lower() == "cookie":
                result[index] = (name, f"{existing}; {value}")
                break
        else:
            result.append(("Cookie", value))
    return tuple(result)


def ssl_context(
    url: str, cacert: str | None, insecure: bool, warn: Callable[[str], None]
) -> ssl.SSLContext | None:
    """The TLS context for ``--cacert``/``--insecure`` (None: wsapi's default)."""
    if cacert is None and not insecure:
        return None
    if urlsplit(url).scheme.lower() not in ("wss", "https"):
        flag = "--cacert" if cacert is not None else "--insecure"
        warn(f"wsapi: note: {flag} has no effect on a ws:// URL (no TLS)")
        return None
    return _tls_context(cacert, INSECURE_WARNING if insecure else None, warn)


def _tls_context(
    cacert: str | None, insecure_warning: str | None, warn: Callable[[str], None]
) -> ssl.SSLContext:
    """A context trusting ``cacert``'s CAs, or (with ``insecure_warning``, said) nothing."""
    if insecure_warning is not None:
        warn(insecure_warning)
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    assert cacert is not None
    try:
        return ssl.create_default_context(cafile=os.path.expanduser(cacert))
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(f"cannot load CA certificates from {cacert}: {exc}") from exc


def proxy_ssl_context(
    args: argparse.Namespace, setting: ProxySetting, warn: Callable[[str], None]
) -> ssl.SSLContext | None:
    """The TLS context for an https:// proxy, from ``--proxy-cacert``/``--proxy-insecure``.

    None (wsapi's default, certifi's roots) without them, or when no https://
    proxy can be used: ``--no-proxy``, ``--unix-socket``, or a ``--proxy`` of
    another scheme (a note says they have no effect). Without ``--proxy``, the
    environment may name an https:// proxy: the context is kept for it.
    ``setting`` is the way ``proxy_option()`` checked.
    """
    cacert, insecure = args.proxy_cacert, args.proxy_insecure
    if cacert is None and not insecure:
        return None
    flag = "--proxy-cacert" if cacert is not None else "--proxy-insecure"
    if setting is None:
        warn(f"wsapi: note: {flag} has no effect without a proxy")
        return None
    if isinstance(setting, ProxyURL) and setting.scheme != "https":
        warn(f"wsapi: note: {flag} has no effect on a proxy that is not https:// (no TLS to it)")
        return None
    return _tls_context(cacert, PROXY_INSECURE_WARNING if insecure else None, warn)


def way_options(
    args: argparse.Namespace, warn: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """``proxy``, ``proxy_ssl`` and ``unix_socket`` for ``WebSocket`` and ``diagnose``,
    checked as they are.

    Without ``--proxy`` or ``--no-proxy``, ``proxy`` is True: the environment decides.
    """
    warn = warn or _to_stderr
    proxy, unix_socket = args.proxy, args.unix_socket
    if isinstance(proxy, str) and unix_socket is not None:
        raise UsageError(
            "--proxy and --unix-socket cannot be used together (a Unix socket leads to the "
            "server itself)"
        )
    try:
        unix_socket_option(unix_socket)
    except ValueError as exc:
        raise UsageError(f"--unix-socket: {exc}") from exc
    try:
        setting = proxy_option(proxy, unix_socket=unix_socket)
    except (ValueError, ImportError) as exc:
        raise UsageError(f"--proxy: {exc}") from exc
    return {
        "proxy": proxy,
        "proxy_ssl": proxy_ssl_context(args, setting, warn),
        "unix_socket": unix_socket,
    }


def _to_stderr(text: str) -> None:
    print(text, file=sys.stderr)


def _limit(value: float | int) -> Any:
    """0 means no limit (None) in the options that allow it."""
    return None if value == 0 else value


def websocket_options(
    args: argparse.Namespace,
    url: str,
    *,
    headers: Sequence[tuple[str, str]],
    compression: bool,
    warn: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The ``WebSocket`` keyword arguments for the parsed options."""
    warn = warn or _to_stderr
    return {
        "headers": tuple(headers),
        "origin": args.origin,
        "ssl": ssl_context(url, args.cacert, args.insecure, warn),
        "open_timeout": _limit(args.open_timeout),
        "close_timeout": _limit(args.close_timeout),
        "ping_interval": _limit(args.ping_interval),
        "ping_timeout": _limit(args.ping_timeout),
        "max_message_size": _limit(args.max_size),
        "compression": "deflate" if compression else None,
        "user_agent": args.user_agent,
        **way_options(args, warn),
    }


def doctor_command(
    url: str,
    *,
    protocols: Sequence[str] = (),
    headers: Sequence[tuple[str, str]] = (),
    origin: str | None = None,
    user_agent: str | None = None,
    compression: bool = True,
    cacert: str | None = None,
    insecure: bool = False,
    proxy: str | bool | None = True,
    proxy_cacert: str | None = None,
    proxy_insecure: bool = False,
    unix_socket: str | None = None,
    show_secrets: bool = False,
) -> tuple[str, list[str]]:
    """The ``wsapi doctor`` command that checks the same request, and what it leaves out.

    Secrets (Authorization and Cookie headers, the user:password of the URL
    and of the proxy URL) are left out of the command, and named in the list,
    unless ``show_secrets``.

    >>> doctor_command("ws://h/x", protocols=["chat"], headers=[("Cookie", "a=1")])
    ('wsapi doctor ws://h/x -s chat', ['the Cookie header'])
    """
    shown_url = url if show_secrets else redact_url(url)
    words = ["wsapi", "doctor", shown_url]
    left_out: list[str] = [] if shown_url == url else ["the URL's user:password"]
    for name, value in headers:
        if name.lower() in SECRET_HEADERS and not show_secrets:
            if f"the {name} header" not in left_out:
                left_out.append(f"the {name} header")
            continue
        words += ["-H", f"{name}: {value}"]
    for protocol in protocols:
        words += ["-s", protocol]
    if origin is not None:
        words += ["--origin", origin]
    if user_agent is not None:
        words += ["--user-agent", user_agent]
    if not compression:
        words.append("--no-compression")
    if urlsplit(url).scheme.lower() in ("wss", "https"):
        if cacert is not None:
            words += ["--cacert", cacert]
        elif insecure:
            words.append("--insecure")
    if isinstance(proxy, str):
        # A proxy URL without a scheme is an http:// one (curl's rule, and the library's).
        shown_proxy = proxy if "://" in proxy else f"http://{proxy}"
        if not show_secrets and redact_url(shown_proxy) != shown_proxy:
            shown_proxy = redact_url(shown_proxy)
            left_out.append("the proxy URL's user:password")
        words += ["--proxy", proxy if show_secrets else shown_proxy]
    elif not proxy:
        words.append("--no-proxy")
    if proxy and unix_socket is None:
        if proxy_cacert is not None:
            words += ["--proxy-cacert", proxy_cacert]
        elif proxy_insecure:
            words.append("--proxy-insecure")
    if unix_socket is not None:
        words += ["--unix-socket", unix_socket]
    return shlex.join(words), left_out
