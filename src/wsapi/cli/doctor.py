"""``wsapi doctor URL``: check a WebSocket URL stage by stage, and print what to fix.

A line per stage (URL, DNS, TCP connect, TLS, HTTP upgrade, WebSocket open,
ping round trip, closing handshake) with its time and what it found; for the
first stage that fails, the error a ``WebSocket`` would raise and the fix.
``--json`` prints the same report as one JSON document. The exit status is 0
when every stage passed, 1 when one failed, 2 for a usage error.

Credentials never appear: ``Authorization`` and ``Cookie`` values and the
user:password of the URL are redacted, and anything the server sent is
printed with its control characters escaped.
"""

from __future__ import annotations

import argparse
import json
import re
import ssl
import sys
from collections.abc import Callable
from typing import Any

from ..errors import ConnectionFailed, DOMException

__all__ = ["add_doctor_parser", "render", "run_doctor"]

OK, FAILED, USAGE = 0, 1, 2

_MARKS = {"ok": "ok  ", "failed": "FAIL", "skipped": "skip"}
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def add_doctor_parser(commands: Any) -> None:
    """Add the ``doctor`` subcommand to ``commands`` (argparse's subparsers)."""
    parser = commands.add_parser(
        "doctor",
        help="check a WebSocket URL stage by stage (DNS, TCP, TLS, upgrade, ping, close) "
        "and say what to fix",
        description="Check a WebSocket URL stage by stage: URL, DNS, TCP connect, TLS, HTTP "
        "upgrade, WebSocket open, a ping round trip and the closing handshake. Prints a line "
        "per stage with its time, and the fix for the first failure. Exit status: 0 when "
        "every stage passed, 1 when one failed, 2 for a usage error.",
    )
    parser.add_argument("url", help="the ws://, wss://, http:// or https:// URL to check")
    parser.add_argument(
        "-H",
        "--header",
        dest="headers",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="add a header to the upgrade request (repeatable); credentials are not printed",
    )
    parser.add_argument(
        "-p",
        "--protocol",
        dest="protocols",
        action="append",
        default=[],
        metavar="SUBPROTOCOL",
        help="offer this subprotocol (repeatable)",
    )
    parser.add_argument("--origin", help="send this Origin header (none is sent by default)")
    parser.add_argument(
        "--cafile",
        help="trust the CA certificates in this PEM file (default: certifi's roots)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="how long each stage may take (default: 10)",
    )
    parser.add_argument(
        "--no-compression",
        action="store_true",
        help="do not offer permessage-deflate",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--backend",
        choices=("asyncio", "trio"),
        default="asyncio",
        help="the event loop to run on (default: asyncio)",
    )


def run_doctor(args: argparse.Namespace, out: Callable[[str], None] = print) -> int:
    """Run ``wsapi doctor`` with parsed ``args``; return the exit status."""
    import anyio

    from ..diagnostics import diagnose

    headers: list[tuple[str, str]] = []
    for header in args.headers:
        name, colon, value = header.partition(":")
        if not colon or not name.strip():
            print(f"wsapi doctor: -H needs 'Name: value', not {header!r}", file=sys.stderr)
            return USAGE
        headers.append((name.strip(), value.strip()))
    if args.timeout <= 0:
        print("wsapi doctor: --timeout must be positive", file=sys.stderr)
        return USAGE
    context = None
    if args.cafile:
        try:
            context = ssl.create_default_context(cafile=args.cafile)
        except (OSError, ssl.SSLError) as exc:
            print(f"wsapi doctor: cannot load --cafile {args.cafile}: {exc}", file=sys.stderr)
            return USAGE
    if args.backend == "trio":
        try:
            import trio  # noqa: F401
        except ImportError:
            print("wsapi doctor --backend trio needs trio: pip install trio", file=sys.stderr)
            return USAGE

    async def check() -> Any:
        return await diagnose(
            args.url,
            headers=headers,
            protocols=args.protocols or None,
            origin=args.origin,
            ssl_context=context,
            stage_timeout=args.timeout,
            compression=not args.no_compression,
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
