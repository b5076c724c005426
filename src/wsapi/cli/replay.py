"""``wsapi replay FILE [URL]``: send a saved session's outgoing messages again.

``FILE`` is a ``--save`` transcript (or ``--jsonl`` output). The recorded
request is reused: its URL (unless ``URL`` is given), subprotocols, Origin,
compression offer and extra headers, except redacted values, which must be
given again (``-H``, ``--cookie``). Text, binary and ping frames the user sent
go out again, in order, right away or with ``--timing`` at their recorded
times; then the recorded Close, if the client closed first.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from . import exit_codes
from .commands import Close
from .connect import output_config, run_session
from .interactive import Console
from .options import (
    UsageError,
    add_connection_options,
    add_output_options,
    add_until_options,
    headers_from,
    websocket_options,
    with_query,
)
from .session import SessionConfig
from .transcript import REDACTED, Recording, TranscriptError, read_transcript

__all__ = ["recorded_request", "register", "run_replay"]

DESCRIPTION = """\
Replay a session saved with `wsapi connect --save FILE`: connect again (to URL,
or to the recorded URL) with the recorded subprotocols, Origin and headers, and
send the recorded outgoing messages, right away or with --timing as recorded.
"""

#: Headers wsapi writes itself: never copied from a recording.
_GENERATED = frozenset(
    {
        "host",
        "upgrade",
        "connection",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
        "sec-websocket-protocol",
        "origin",
        "user-agent",
        "content-length",
    }
)


def register(commands: Any) -> None:
    """Add ``replay`` to the ``wsapi`` subcommands."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "replay",
        help="send the messages of a saved session (--save) again",
        description=DESCRIPTION,
        epilog="exit status: as for wsapi connect; 2 also for a transcript that cannot be read.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", metavar="FILE", help="a transcript written by --save")
    parser.add_argument("url", metavar="URL", nargs="?", help="connect here instead")
    parser.add_argument(
        "--timing",
        action="store_true",
        help="send each message at its recorded time after the opening (default: at once)",
    )
    add_connection_options(parser)
    add_until_options(parser)
    add_output_options(parser)
    parser.set_defaults(handler=run_replay)
    _url_after_options(parser)


def _url_after_options(parser: argparse.ArgumentParser) -> None:
    """Accept ``replay FILE --timing URL`` too.

    argparse fills the optional ``URL`` as soon as it reads ``FILE`` and would
    reject a URL that comes after options; this takes it from the leftovers.
    """
    parse_known_args = parser.parse_known_args

    def parse(
        args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        result, extras = parse_known_args(args, namespace)
        if extras and result.url is None and not extras[0].startswith("-"):
            result.url = extras.pop(0)
        return result, extras

    parser.parse_known_args = parse  # type: ignore[method-assign,assignment]


def recorded_request(
    recording: Recording,
) -> tuple[tuple[str, ...], str | None, bool, list[tuple[str, str]], list[str]]:
    """(subprotocols, origin, compression, extra headers, redacted header names)."""
    protocols: tuple[str, ...] = ()
    origin: str | None = None
    compression = False
    headers: list[tuple[str, str]] = []
    redacted: list[str] = []
    for name, value in recording.headers:
        lower = name.lower()
        if lower == "sec-websocket-protocol":
            protocols += tuple(token.strip() for token in value.split(",") if token.strip())
        elif lower == "origin":
            origin = value
        elif lower == "sec-websocket-extensions":
            compression = "permessage-deflate" in value.lower()
        elif lower in _GENERATED:
            continue
        elif REDACTED in value:
            redacted.append(name)
        else:
            headers.append((name, value))
    return protocols, origin, compression, headers, redacted


def run_replay(args: argparse.Namespace) -> int:
    """``wsapi replay``."""
    console = Console()
    try:
        recording = read_transcript(args.file)
    except TranscriptError as exc:
        console.err(f"wsapi: error: {exc}")
        return exit_codes.USAGE
    url = args.url or recording.url
    if url is None:
        console.err(f"wsapi: error: {args.file} records no URL: give one after the file")
        return exit_codes.USAGE
    protocols, origin, compression, recorded, redacted = recorded_request(recording)
    given = {name.lower() for name, _ in args.headers}
    if args.cookies:
        given.add("cookie")
    for name in redacted:
        if name.lower() not in given:
            console.err(
                f"wsapi: note: the recorded {name} header was redacted and is not sent: give "
                f"it again with -H (or --cookie), or save with --show-secrets"
            )
    headers = [(name, value) for name, value in recorded if name.lower() not in given]
    if args.origin is None:
        args.origin = origin
    try:
        url = with_query(url, args.query)
        options = websocket_options(
            args,
            url,
            headers=headers_from([*headers, *args.headers], args.cookies),
            compression=compression if args.compression is None else args.compression,
            warn=console.err,
        )
    except UsageError as exc:
        console.err(f"wsapi: error: {exc}")
        return exit_codes.USAGE
    form, timeline = output_config(args)
    close = recording.close
    config = SessionConfig(
        url=url,
        protocols=tuple(args.subprotocols) or protocols,
        options=options,
        outgoing=list(recording.messages),
        count=args.count,
        wait=args.wait,
        input_mode="none",
        form=form,
        timeline=timeline,
        save=args.save,
        show_secrets=args.show_secrets,
        cacert=args.cacert,
        insecure=args.insecure,
        proxy_cacert=args.proxy_cacert,
        proxy_insecure=args.proxy_insecure,
        timing=args.timing,
        final_close=None if close is None else Close(close[0], close[1]),
        final_close_at=0.0 if close is None else close[2],
        end=recording.end,
    )
    return run_session(config, console)
