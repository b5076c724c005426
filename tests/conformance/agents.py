"""Autobahn|Testsuite client agents: echo clients built on wsapi and on other libraries.

Each agent talks to wstest's fuzzing server the usual way: ``/getCaseCount`` says how
many cases there are, then one connection per case to ``/runCase?case=N&agent=NAME``
echoes every message back (text as text, binary as binary) until the connection
closes, and ``/updateReports?agent=NAME`` makes the server write its reports. The
cases run one after the other. The fuzzing server judges what went over the wire,
so closing errors are swallowed quietly; anything else is written to the agent's
summary as an agent error.

    python tests/conformance/agents.py wsapi-asyncio --url ws://127.0.0.1:9001

run.py starts this file once per agent, with --summary to collect the results.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any
from urllib.parse import urlsplit

import anyio
import anyio.to_thread

#: Seconds the opening handshake and the closing handshake may take in every agent.
OPEN_TIMEOUT = 10.0
CLOSE_TIMEOUT = 10.0
#: The fuzzing server writes every report before it answers /updateReports.
REPORTS_TIMEOUT = 900.0
#: Seconds one case may take on the client side before the agent gives up on it.
CASE_TIMEOUT = 120.0
#: The biggest messages (cases 9.1.6 and 9.2.6) are 16 MiB: no agent has a size limit.
MAX_MESSAGE = None


class Quiet(Exception):
    """The connection closed or failed as the case intended: nothing to report."""


@dataclass
class Agent:
    """How one library connects, echoes and closes."""

    name: str
    backend: str  # the anyio backend its coroutines run on
    library: str  # the distribution whose version the report shows
    run_case: Callable[[str], Awaitable[None]]
    receive_all: Callable[[str, float], Awaitable[list[str | bytes]]]  # (url, seconds)
    setup: Callable[[], Awaitable[None]] | None = None
    teardown: Callable[[], Awaitable[None]] | None = None
    #: What the report says the agent runs on (default: the anyio backend).
    runs_on: str = ""


# -- wsapi ---------------------------------------------------------------------------


async def wsapi_case(url: str, *, from_listener: bool = False) -> None:
    """Echo every message: read with ``async for``, or, ``from_listener``, the browser's way,
    from a synchronous ``onmessage`` (on asyncio, it runs in the event loop's callback that
    read the message)."""
    import wsapi

    try:
        async with wsapi.WebSocket(
            url,
            max_message_size=MAX_MESSAGE,
            ping_interval=None,
            open_timeout=OPEN_TIMEOUT,
            close_timeout=CLOSE_TIMEOUT,
        ) as ws:
            if from_listener:
                ws.onmessage = lambda event: ws.send(event.data)
                await ws.wait_closed()
            else:
                async for message in ws:
                    ws.send(message)
    except (wsapi.ConnectionClosed, wsapi.ConnectionFailed) as exc:
        raise Quiet(type(exc).__name__) from exc


async def wsapi_listener_case(url: str) -> None:
    await wsapi_case(url, from_listener=True)


async def wsapi_receive_all(url: str, seconds: float) -> list[str | bytes]:
    import wsapi

    messages: list[str | bytes] = []
    async with wsapi.WebSocket(
        url, max_message_size=None, ping_interval=None, open_timeout=seconds
    ) as ws:
        async for message in ws:
            messages.append(message)
    return messages


# -- websockets --------------------------------------------------------------------


async def websockets_case(url: str) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, InvalidHandshake

    try:
        async with connect(
            url,
            max_size=None,
            ping_interval=None,
            compression="deflate",
            open_timeout=OPEN_TIMEOUT,
            close_timeout=CLOSE_TIMEOUT,
        ) as ws:
            async for message in ws:
                await ws.send(message)
    except (ConnectionClosed, InvalidHandshake, OSError) as exc:
        raise Quiet(type(exc).__name__) from exc


async def websockets_receive_all(url: str, seconds: float) -> list[str | bytes]:
    from websockets.asyncio.client import connect

    messages: list[str | bytes] = []
    async with connect(url, max_size=None, ping_interval=None, open_timeout=seconds) as ws:
        async for message in ws:
            messages.append(message)
    return messages


# -- aiohttp -----------------------------------------------------------------------

_aiohttp_session: Any = None


async def aiohttp_setup() -> None:
    import aiohttp

    global _aiohttp_session
    _aiohttp_session = aiohttp.ClientSession()


async def aiohttp_teardown() -> None:
    await _aiohttp_session.close()


async def aiohttp_case(url: str) -> None:
    import aiohttp

    try:
        async with _aiohttp_session.ws_connect(
            url,
            autoping=True,
            max_msg_size=0,
            compress=15,
            timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=CLOSE_TIMEOUT),
        ) as ws:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    await ws.send_str(msg.data)
                elif msg.type == aiohttp.WSMsgType.BINARY:
                    await ws.send_bytes(msg.data)
                else:  # ERROR: aiohttp has already closed the connection
                    break
    except (aiohttp.ClientError, OSError) as exc:
        raise Quiet(type(exc).__name__) from exc


async def aiohttp_receive_all(url: str, seconds: float) -> list[str | bytes]:
    import aiohttp

    messages: list[str | bytes] = []
    async with _aiohttp_session.ws_connect(
        url, max_msg_size=0, timeout=aiohttp.ClientWSTimeout(ws_receive=seconds)
    ) as ws:
        async for msg in ws:
            if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                messages.append(msg.data)
    return messages


# -- wsproto, driven directly over a blocking socket -----------------------------------


def wsproto_session(url: str, *, echo: bool, timeout: float) -> list[str | bytes]:
    """One connection: the sans-IO loop, echoing each message when ``echo``; returns them."""
    from wsproto import ConnectionType, WSConnection
    from wsproto.connection import ConnectionState
    from wsproto.events import (
        AcceptConnection,
        BytesMessage,
        CloseConnection,
        Ping,
        RejectConnection,
        RejectData,
        Request,
        TextMessage,
    )
    from wsproto.extensions import PerMessageDeflate

    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    messages: list[str | bytes] = []
    fragments: list[Any] = []
    ws = WSConnection(ConnectionType.CLIENT)
    deadline = time.monotonic() + timeout
    with socket.create_connection((parts.hostname, parts.port or 80), timeout=timeout) as sock:
        request = Request(host=parts.netloc, target=target, extensions=[PerMessageDeflate()])
        sock.sendall(ws.send(request))
        while ws.state is not ConnectionState.CLOSED:
            sock.settimeout(max(0.001, deadline - time.monotonic()))
            try:
                data = sock.recv(65536)
            except ConnectionError:
                data = b""
            ws.receive_data(data or None)
            out = []
            for event in ws.events():
                if isinstance(event, TextMessage | BytesMessage):
                    fragments.append(event.data)
                    if not event.message_finished:
                        continue
                    message = ("" if isinstance(event, TextMessage) else b"").join(fragments)
                    fragments.clear()
                    messages.append(message)
                    if echo and ws.state is ConnectionState.OPEN:
                        if isinstance(message, str):
                            out.append(ws.send(TextMessage(message)))
                        else:
                            out.append(ws.send(BytesMessage(message)))
                elif isinstance(event, Ping):
                    if ws.state is ConnectionState.OPEN:
                        out.append(ws.send(event.response()))
                elif isinstance(event, CloseConnection):
                    # The peer's close (REMOTE_CLOSING) or a protocol error that wsproto
                    # found (still OPEN): either way, answer with a close frame.
                    if ws.state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
                        out.append(ws.send(event.response()))
                elif isinstance(event, RejectConnection | RejectData):
                    raise Quiet(f"handshake rejected: {event!r}")
                elif isinstance(event, AcceptConnection):
                    pass
            if out:
                try:
                    sock.sendall(b"".join(out))
                except ConnectionError:
                    break
            if not data:
                break
        # RFC 6455 7.1.1: the server closes the TCP connection first; wait a little.
        if data:
            sock.settimeout(min(2.0, max(0.001, deadline - time.monotonic())))
            try:
                while sock.recv(65536):
                    pass
            except (OSError, TimeoutError):
                pass
    return messages


async def wsproto_case(url: str) -> None:
    await anyio.to_thread.run_sync(lambda: wsproto_session(url, echo=True, timeout=CASE_TIMEOUT))


async def wsproto_receive_all(url: str, seconds: float) -> list[str | bytes]:
    return await anyio.to_thread.run_sync(lambda: wsproto_session(url, echo=False, timeout=seconds))


AGENTS = {
    agent.name: agent
    for agent in (
        Agent("wsapi-asyncio", "asyncio", "wsapi", wsapi_case, wsapi_receive_all),
        Agent("wsapi-trio", "trio", "wsapi", wsapi_case, wsapi_receive_all),
        Agent("wsapi-onmessage", "asyncio", "wsapi", wsapi_listener_case, wsapi_receive_all),
        Agent("websockets", "asyncio", "websockets", websockets_case, websockets_receive_all),
        Agent(
            "aiohttp",
            "asyncio",
            "aiohttp",
            aiohttp_case,
            aiohttp_receive_all,
            setup=aiohttp_setup,
            teardown=aiohttp_teardown,
        ),
        Agent(
            "wsproto",
            "asyncio",
            "wsproto",
            wsproto_case,
            wsproto_receive_all,
            runs_on="a blocking socket",
        ),
    )
}


# -- the driver --------------------------------------------------------------------


@dataclass
class Summary:
    agent: str
    library: str
    version: str
    backend: str
    case_count: int = 0
    seconds: float = 0.0
    #: Cases that ended with an exception that is not a close or a failed connection.
    errors: list[dict[str, Any]] = field(default_factory=list)
    #: Cases the agent gave up on after --case-timeout seconds.
    timeouts: list[int] = field(default_factory=list)
    #: How the cases ended on the client side: "ok" or the quiet exception's name.
    endings: dict[str, int] = field(default_factory=dict)
    #: Client-side seconds per case index.
    case_seconds: dict[int, float] = field(default_factory=dict)


def library_version(library: str) -> str:
    try:
        return metadata.version(library)
    except metadata.PackageNotFoundError:
        return "not installed"


async def drive(
    agent: Agent, base: str, agent_id: str, case_timeout: float, verbose: bool
) -> Summary:
    runs_on = agent.runs_on or agent.backend
    summary = Summary(agent.name, agent.library, library_version(agent.library), runs_on)
    started = time.perf_counter()
    if agent.setup is not None:
        await agent.setup()
    try:
        with anyio.fail_after(60):
            [count] = await agent.receive_all(f"{base}/getCaseCount", 30.0)
        summary.case_count = int(count)
        for index in range(1, summary.case_count + 1):
            url = f"{base}/runCase?case={index}&agent={agent_id}"
            case_started = time.perf_counter()
            ending = "ok"
            with anyio.move_on_after(case_timeout) as scope:
                try:
                    await agent.run_case(url)
                except Quiet as exc:
                    ending = str(exc)
                except Exception as exc:
                    ending = "error"
                    summary.errors.append(
                        {
                            "case_index": index,
                            "error": f"{type(exc).__name__}: {exc}",
                            "traceback": traceback.format_exc(),
                        }
                    )
            if scope.cancelled_caught:
                ending = "timeout"
                summary.timeouts.append(index)
            elapsed = time.perf_counter() - case_started
            summary.case_seconds[index] = round(elapsed, 3)
            summary.endings[ending] = summary.endings.get(ending, 0) + 1
            if verbose or ending in ("error", "timeout"):
                print(f"{agent_id}: case {index}/{summary.case_count} {elapsed:.2f}s {ending}")
        with anyio.fail_after(REPORTS_TIMEOUT + 30):
            await agent.receive_all(f"{base}/updateReports?agent={agent_id}", REPORTS_TIMEOUT)
    finally:
        if agent.teardown is not None:
            await agent.teardown()
    summary.seconds = round(time.perf_counter() - started, 3)
    return summary


def main(argv: list[str] | None = None) -> int:
    global CASE_TIMEOUT
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("agent", choices=sorted(AGENTS))
    parser.add_argument("--url", required=True, help="the fuzzing server, ws://127.0.0.1:PORT")
    parser.add_argument("--agent-id", help="the agent name in the reports (default: agent)")
    parser.add_argument("--case-timeout", type=float, default=CASE_TIMEOUT)
    parser.add_argument("--summary", help="write the agent's summary here as JSON")
    parser.add_argument("--verbose", action="store_true", help="print one line per case")
    args = parser.parse_args(argv)

    CASE_TIMEOUT = args.case_timeout
    agent = AGENTS[args.agent]
    summary = anyio.run(
        drive,
        agent,
        args.url.rstrip("/"),
        args.agent_id or agent.name,
        args.case_timeout,
        args.verbose,
        backend=agent.backend,
    )
    print(
        f"{summary.agent} ({summary.library} {summary.version}, {summary.backend}): "
        f"{summary.case_count} cases in {summary.seconds:.1f}s, endings {summary.endings}, "
        f"{len(summary.errors)} agent errors, {len(summary.timeouts)} timeouts"
    )
    for error in summary.errors:
        print(f"  case {error['case_index']}: {error['error']}")
    if args.summary:
        with open(args.summary, "w", encoding="utf-8") as file:
            json.dump(summary.__dict__, file, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
