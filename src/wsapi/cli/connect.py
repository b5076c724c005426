"""``wsapi connect URL``: a WebSocket session from the terminal, or from a script.

On a terminal: type a line to send it, ``/help`` for the commands (JSON, XML,
binary in hex or base64 or from a file, ping, close), with line editing and
history. Otherwise each line of standard input is sent as a text message.
``--send`` sends messages first; ``--count``/``--wait`` end the session; the
exit status says how it ended (see ``exit_codes``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from typing import Any

import anyio

from ..errors import DOMException
from . import exit_codes
from .interactive import Console, have_prompt_toolkit
from .options import (
    UsageError,
    add_connection_options,
    add_message_options,
    add_output_options,
    add_until_options,
    headers_from,
    websocket_options,
    with_query,
)
from .session import InputMode, OutputForm, Session, SessionConfig
from .timeline import Style, Timeline

__all__ = ["register", "run_connect"]

DESCRIPTION = """\
Connect to a WebSocket server and show a timeline of everything that happens:
the upgrade, each message and control frame, the close.

On a terminal, type a line and press Enter to send it as text; /help lists the
commands (/json, /xml, /hex, /base64, /file, /ping, /close). Otherwise each line
of standard input is sent as a text message, and the connection closes at the
end of input (or after --count messages, or --wait seconds of quiet).
"""

EPILOG = """\
exit status: 0 closed normally (1000, 1001, no code); 2 usage error; 3 could not
connect; 4 closed abnormally (1006); 5 closed with another code; 130 Ctrl-C.

examples:
  wsapi connect wss://example.com/chat -H 'Authorization: Bearer TOKEN'
  wsapi connect ws://localhost:8765 --send-json '{"op": "subscribe"}' --count 3 --jsonl
  printf 'one\\ntwo\\n' | wsapi connect ws://localhost:8765 --save session.jsonl
"""


def register(commands: Any) -> None:
    """Add ``connect`` to the ``wsapi`` subcommands (``commands`` from ``add_subparsers``)."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "connect",
        help="open a WebSocket session: interactive on a terminal, scriptable otherwise",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("url", metavar="URL", help="ws://, wss://, http:// or https:// URL")
    add_connection_options(parser)
    add_message_options(parser)
    group = parser.add_argument_group("input")
    group.add_argument(
        "--commands",
        action="store_true",
        help="read standard input lines as commands, as typed at the prompt (/json ...)",
    )
    group.add_argument(
        "--no-stdin",
        action="store_true",
        help="do not read standard input (send only --send messages)",
    )
    add_until_options(parser)
    add_output_options(parser)
    parser.set_defaults(handler=run_connect)


def output_config(args: argparse.Namespace) -> tuple[OutputForm, Timeline]:
    """The timeline's form and formatter for the output options."""
    form: OutputForm = "jsonl" if args.jsonl else "quiet" if args.quiet else "human"
    tty = sys.stdout.isatty()
    if args.color == "auto":
        color = tty and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
    else:
        color = args.color == "always"
    width = shutil.get_terminal_size((100, 24)).columns if tty else 100
    timeline = Timeline(
        style=Style(color),
        verbose=args.verbose,
        show_secrets=args.show_secrets,
        fold=args.fold,
        width=width,
    )
    return form, timeline


def input_mode(args: argparse.Namespace) -> InputMode:
    if args.no_stdin:
        return "none"
    if sys.stdin.isatty() and sys.stdout.isatty():
        return "interactive"
    return "commands" if args.commands else "lines"


def run_session(config: SessionConfig, console: Console) -> int:
    """Create the WebSocket (usage errors: 2), then run the session on asyncio."""
    console.prepare_streams()
    session = Session(config, console)
    try:
        session.create_websocket()
    except (DOMException, ValueError, TypeError) as exc:
        message = exc.message if isinstance(exc, DOMException) else str(exc)
        console.err(f"wsapi: error: {message}")
        return exit_codes.USAGE
    try:
        if config.save is not None:
            open(config.save, "a").close()  # fail now, not after connecting
    except OSError as exc:
        console.err(f"wsapi: error: cannot write --save file {config.save}: {exc.strerror}")
        return exit_codes.USAGE
    # prompt_toolkit needs asyncio; the rest of the session runs on either loop.
    try:
        return anyio.run(session.run, backend="asyncio")
    except KeyboardInterrupt:  # where signals cannot be caught in the loop (Windows)
        return exit_codes.INTERRUPTED


def run_connect(args: argparse.Namespace) -> int:
    """``wsapi connect``."""
    console = Console()
    try:
        url = with_query(args.url, args.query)
        options = websocket_options(
            args,
            url,
            headers=headers_from(args.headers, args.cookies),
            compression=args.compression is not False,
            warn=console.err,
        )
    except UsageError as exc:
        console.err(f"wsapi: error: {exc}")
        return exit_codes.USAGE
    form, timeline = output_config(args)
    mode = input_mode(args)
    config = SessionConfig(
        url=url,
        protocols=tuple(args.subprotocols),
        options=options,
        outgoing=list(args.outgoing),
        count=args.count,
        wait=args.wait,
        input_mode=mode,
        prompt_toolkit=mode == "interactive" and not args.plain and have_prompt_toolkit(),
        form=form,
        timeline=timeline,
        save=args.save,
        show_secrets=args.show_secrets,
        cacert=args.cacert,
        insecure=args.insecure,
        proxy_cacert=args.proxy_cacert,
        proxy_insecure=args.proxy_insecure,
    )
    return run_session(config, console)
