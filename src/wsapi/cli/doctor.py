"""``wsapi doctor URL``: check a WebSocket URL stage by stage, and print what to fix.

A line per stage (URL, DNS, TCP connect, TLS, HTTP upgrade, WebSocket open,
ping round trip, closing handshake) with its time and what it found; for the
first stage that fails, the error a ``WebSocket`` would raise and the fix.
Through a proxy (``--proxy``, or the proxy environment variables), the proxy's
stages come first: which proxy, its DNS, TCP and TLS, the tunnel; to a Unix
socket (``--unix-socket``), connecting to it replaces DNS and TCP.
``--json`` prints the same report as one JSON document. The exit status is 0
when every stage passed, 1 when one failed, 2 for a usage error.

The connection options are ``wsapi connect``'s, parsed by the same code
(``options.add_connection_options``): headers, query, cookies, subprotocols,
Origin, User-Agent, TLS, proxy, Unix socket, compression and the open, ping
and close timeouts.

Credentials never appear: ``Authorization`` and ``Cookie`` values and the
user:password of the URL are redacted, and anything the server sent is
printed with its control characters escaped.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Callable
from typing import Any

from ..errors import ConnectionFailed, DOMException
from .options import (
    UsageError,
    _positive_seconds,
    add_connection_options,
    headers_from,
    ssl_context,
    way_options,
    with_query,
)

__all__ = ["add_doctor_parser", "render", "run_doctor"]

OK, FAILED, USAGE = 0, 1, 2

_MARKS = {"ok": "ok  ", "failed": "FAIL", "skipped": "skip"}
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

#: ``wsapi connect``'s defaults for the timeouts (the doctor's own unless --timeout).
_DEFAULT_TIMEOUTS = {"open_timeout": 10.0, "ping_timeout": 20.0, "close_timeout": 10.0}

DESCRIPTION = """\
Check a WebSocket URL stage by stage: URL, DNS, TCP connect, TLS, HTTP upgrade,
WebSocket open, a ping round trip and the closing handshake. Prints a line per
stage with its time, and the fix for the first failure.

Through a proxy (--proxy, or HTTPS_PROXY, HTTP_PROXY, ALL_PROXY as the library
reads them), the proxy's stages come first: which proxy, its DNS, TCP connect
and TLS (https:// proxies), the tunnel (CONNECT, or SOCKS5), then TLS to the
server through it. With --unix-socket, connecting to the socket replaces DNS
and TCP.

The connection options are those of `wsapi connect`: give the same ones to
check the same request.
"""

EPILOG = """\
exit status: 0 every stage passed; 1 a stage failed; 2 usage error.

examples:
  wsapi doctor wss://example.com/chat -H 'Authorization: Bearer TOKEN' -s chat.v1
  wsapi doctor wss://localhost:8443/ --cacert ca.pem --json
  wsapi doctor wss://example.com/chat --proxy http://proxy.example:3128
"""


def add_doctor_parser(commands: Any) -> None:
    """Add the ``doctor`` subcommand to ``commands`` (argparse's subparsers)."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "doctor",
        help="check a WebSocket URL stage by stage (DNS, TCP, TLS, upgrade, ping, close) "
        "and say what to fix",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("url", help="the ws://, wss://, http:// or https:// URL to check")
    # One ping and no message: keepalive and --max-size do not apply.
    group = add_connection_options(parser, exclude=("--ping-interval", "--max-size"))
    group.add_argument(  # the doctor's first spelling of -p, kept working
        "--protocol", dest="subprotocols", action="append", help=argparse.SUPPRESS
    )
    group.add_argument(
        "--timeout",
        type=_positive_seconds,
        metavar="SECONDS",
        help="sets --open-timeout, --ping-timeout and --close-timeout at once (those "
        "given as well win)",
    )
    # None: not given, so that --timeout can stand for them (see _timeouts).
    parser.set_defaults(**dict.fromkeys(_DEFAULT_TIMEOUTS))
    output = parser.add_argument_group("output")
    output.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--backend",
        choices=("asyncio", "trio"),
        default="asyncio",
        help="the event loop to run on (default: asyncio)",
    )


def _timeouts(args: argparse.Namespace) -> dict[str, float]:
    """The open, ping and close timeouts for ``diagnose`` (0 on the command line: none)."""
    limits = {}
    for name, default in _DEFAULT_TIMEOUTS.items():
        given = getattr(args, name)
        if given is None:
            given = default if args.timeout is None else args.timeout
        limits[name] = math.inf if given == 0 else float(given)
    return limits


def run_doctor(args: argparse.Namespace, out: Callable[[str], None] = print) -> int:
    """Run ``wsapi doctor`` with parsed ``args``; return the exit status."""
    import anyio

    from ..diagnostics import diagnose
    from ..diagnostics.doctor import USER_AGENT

    def warn(text: str) -> None:
        print(text, file=sys.stderr)

    try:
        url = with_query(args.url, args.query)
        context = ssl_context(url, args.cacert, args.insecure, warn)
        way = way_options(args, warn)
    except UsageError as exc:
        print(f"wsapi doctor: error: {exc}", file=sys.stderr)
        return USAGE
    if args.backend == "trio":
        try:
            import trio  # noqa: F401
        except ImportError:
            print("wsapi doctor --backend trio needs trio: pip install trio", file=sys.stderr)
            return USAGE
    timeouts = _timeouts(args)
    user_agent = USER_AGENT if args.user_agent is None else (args.user_agent or None)

    async def check() -> Any:
        return await diagnose(
            url,
            headers=headers_from(args.headers, args.cookies),
            protocols=args.subprotocols or None,
            origin=args.origin,
            ssl_context=context,
            # Each stage of the opening within open_timeout, and all of them together.
            stage_timeout=timeouts["open_timeout"],
            compression=args.compression is not False,
            user_agent=user_agent,
            open_timeout=timeouts["open_timeout"],
            ping_timeout=timeouts["ping_timeout"],
            close_timeout=timeouts["close_timeout"],
            proxy=way["proxy"],
            proxy_ssl=way["proxy_ssl"],
            unix_socket=way["unix_socket"],
        )

    report = anyio.run(check, backend=args.backend)
    if args.json:
        out(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        for line in render(report):
            out(line)
    return OK if report.ok else FAILED


def render(report: Any) -> list[str]:
    """The report as text lines: a line per stage, its details indented, then the fix.

    ``report`` is a ``wsapi.diagnostics.DoctorReport``.
    """
    lines = [f"wsapi doctor {report.url}"]
    width = max(len(stage.title) for stage in report.stages)
    for stage in report.stages:
        time = "" if stage.seconds is None else f"{stage.seconds * 1000:.1f} ms"
        summary = stage.summary or ("not reached" if stage.status == "skipped" else "")
        lines.append(f"  {_MARKS[stage.status]}  {stage.title:<{width}}  {time:>9}  {summary}")
        lines += [f"        {detail}" for detail in stage.details]
    failure = report.failure
    if failure is None:
        passed = sum(1 for stage in report.stages if stage.status == "ok")
        lines.append(f"All {passed} stages passed.")
    else:
        lines.append("")
        failed = f"The {failure.title} stage failed"
        if isinstance(failure.error, ConnectionFailed | DOMException):
            failed += f": a WebSocket raises {_qualified(failure.error)}"
        elif failure.error is not None:
            failed += f" ({_qualified(failure.error)})"
        lines.append(failed + ".")
        if failure.fix:
            lines.append(f"Fix: {failure.fix}")
    return [escape(line) for line in lines]


def _qualified(error: BaseException) -> str:
    module = type(error).__module__
    name = type(error).__name__
    return f"wsapi.{name}" if module.startswith("wsapi") else name


def escape(text: str) -> str:
    """``text`` with terminal control characters shown as escapes.

    >>> escape("ok\\x1b[31m")
    'ok\\\\x1b[31m'
    """
    return _CONTROL.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"
