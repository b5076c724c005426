"""``wsapi`` command: argument parsing and dispatch to the subcommands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import anyio

from ..version import __version__
from . import connect, replay
from .doctor import add_doctor_parser

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wsapi", description="WebSocket client tools built on the wsapi library."
    )
    parser.add_argument("--version", action="version", version=f"wsapi {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo", help="echo round trip against the embedded local server, event by event"
    )
    demo.add_argument(
        "--backend",
        choices=("asyncio", "trio"),
        default="asyncio",
        help="the event loop to run on (default: asyncio)",
    )
    add_doctor_parser(commands)
    connect.register(commands)
    replay.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        from .demo import run_demo

        if args.backend == "trio":
            try:
                import trio  # noqa: F401
            except ImportError:
                print("wsapi demo --backend trio needs trio: pip install trio", file=sys.stderr)
                return 2
        return anyio.run(run_demo, backend=args.backend)
    if args.command == "doctor":
        from .doctor import run_doctor

        return run_doctor(args)
    if getattr(args, "handler", None) is not None:  # connect, replay
        return int(args.handler(args))
    parser.print_help()
    return 2
