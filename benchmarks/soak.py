"""Soak test: many wsapi connections against a server that keeps dropping them.

    python benchmarks/soak.py --duration 120 --backend asyncio
    python benchmarks/soak.py --duration 120 --backend trio --connections 50

A websockets echo server runs in a child process (127.0.0.1, a free port). It
gives every connection a random lifetime (exponential, mean ``--drop-mean``
seconds) and ends it in one of four ways: a clean closing handshake (1000,
1001 or 4000), a TCP reset, a FIN without a Close frame, or half a frame and
then a reset; it also refuses a few upgrades with HTTP 503.

Each of ``--connections`` clients sends sequence-numbered messages (text with
non-ASCII characters or binary, 1 byte to ``--max-size``, a window of at most
``--window`` unanswered) and checks every echo. When a connection ends, the
messages it had not seen come back are sent again on a new ``WebSocket``.
After ``--duration`` the clients stop sending new messages, finish what is
outstanding and close cleanly.

Checked, and printed at the end (``--json FILE`` saves them):

- lost: on a live connection, an echo arrived while an earlier message's
  never did (the echo stream is FIFO): must be 0;
- duplicated: a message came back twice: must be 0;
- corrupted: an echo differs from what was sent: must be 0;
- unresolved: messages never echoed at the end: must be 0;
- unsent: ``CloseEvent.unsent`` must never be more than the messages outstanding
  on the connection (every message reported unsent is indeed missing). After a clean
  close it may count messages sent after the server's Close frame arrived and before
  the client saw it (readyState still OPEN): they are reported, not lost silently;
- file descriptors (``/proc/self/fd``) and tasks left at the end beyond the
  count before the clients started: must be 0;
- unexpected errors (anything but ``ConnectionClosed``/``ConnectionFailed``): must be 0;
- peak RSS and the ``tracemalloc`` peak (``--no-tracemalloc`` to skip it),
  and the RSS after the first tenth of the run against the end, for leaks.

Messages in flight when a connection dropped (written, not echoed) are not
lost: they are counted and sent again. The exit status is 1 when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gc
import json
import os
import platform
import random
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import anyio

from wsapi import (
    ConnectionClosed,
    ConnectionFailed,
    WebSocket,
)

MiB = 2**20

# -- the server (a child process) ---------------------------------------------------------

DROPS = ("clean", "reset", "fin", "mid-frame")


def serve(args: argparse.Namespace) -> None:
    """Run the dropping echo server until stdin closes; print stats as JSON then."""
    import logging
    from http import HTTPStatus

    from websockets.asyncio.server import ServerConnection
    from websockets.asyncio.server import serve as ws_serve
    from websockets.exceptions import ConnectionClosed as WsClosed
    from websockets.http11 import Request

    logging.getLogger("websockets").setLevel(logging.CRITICAL)
    rng = random.Random(args.seed)
    stats: collections.Counter[str] = collections.Counter()

    def process_request(connection: ServerConnection, request: Request) -> Any:
        if rng.random() < args.refuse:
            stats["refused"] += 1
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "busy, try again\n")
        return None

    async def echo(connection: ServerConnection) -> None:
        async for message in connection:
            await connection.send(message)
            stats["echoed"] += 1

    async def handler(connection: ServerConnection) -> None:
        stats["accepted"] += 1
        lifetime = rng.expovariate(1 / args.drop_mean)
        try:
            await asyncio.wait_for(echo(connection), lifetime)
            stats["ended-by-client"] += 1
            return
        except asyncio.TimeoutError:
            pass
        except WsClosed:
            stats["ended-by-client"] += 1
            return
        kind = rng.choice(DROPS)
        stats[f"drop-{kind}"] += 1
        transport = connection.transport
        if kind == "clean":
            await connection.close(rng.choice([1000, 1001, 4000]), "soak drop")
        elif kind == "reset":
            transport.abort()
        elif kind == "fin":
            transport.close()
        else:
            # A binary frame announcing 4096 bytes, 100 of them, then a reset.
            transport.write(b"\x82\x7e\x10\x00" + bytes(100))
            await asyncio.sleep(0.01)
            transport.abort()

    async def main() -> None:
        async with ws_serve(
            handler,
            "127.0.0.1",
            0,
            compression="deflate" if args.compression else None,
            process_request=process_request,
            ping_interval=None,
            max_size=2**20,
            close_timeout=2,
        ) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            print(json.dumps({"port": port, "pid": os.getpid()}), flush=True)
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, sys.stdin.read)
        print(json.dumps(dict(stats)), flush=True)

    asyncio.run(main())


# -- the clients ------------------------------------------------------------------------------

#: Text with 1-, 2-, 3- and 4-byte UTF-8 characters, for text messages.
TEXT_BLOCK = ("wsapi soak é€𝄞 " * 4096)[:65536]
BINARY_BLOCK = random.Random(7).randbytes(65536)


def payload(client: int, seq: int, max_size: int) -> str | bytes:
    """The message ``seq`` of ``client``: deterministic, so every echo can be checked."""
    rng = random.Random(client * 1_000_003 + seq)
    size = rng.randint(1, max_size)
    offset = rng.randrange(0, 65536 - min(size, 65535))
    head = f"{client}:{seq}:"
    if rng.random() < 0.5:
        return head + TEXT_BLOCK[offset : offset + size]
    return head.encode() + BINARY_BLOCK[offset : offset + size]


def parse(data: str | bytes) -> tuple[int, int]:
    head = data.split(":" if isinstance(data, str) else b":", 2)  # type: ignore[arg-type]
    return int(head[0]), int(head[1])


@dataclass
class Stats:
    sent: int = 0
    resent: int = 0
    echoed: int = 0
    lost: int = 0
    duplicated: int = 0
    corrupted: int = 0
    unresolved: int = 0
    in_flight_at_drop: int = 0
    unsent_reported: int = 0
    unsent_inconsistent: int = 0
    unsent_details: list[str] = field(default_factory=list)
    connections: int = 0
    closes: collections.Counter[str] = field(default_factory=collections.Counter)
    connect_failures: collections.Counter[str] = field(default_factory=collections.Counter)
    unexpected: list[str] = field(default_factory=list)


@dataclass
class Connection:
    #: Sent on this connection and not echoed yet, in order.
    outstanding: collections.deque[int] = field(default_factory=collections.deque)


class Client:
    """One client: its sequence numbers, what must be resent, what came back."""

    def __init__(self, index: int, args: argparse.Namespace, stats: Stats, url: str) -> None:
        self.index = index
        self.args = args
        self.stats = stats
        self.url = url
        self.next_seq = 0
        self.resend: collections.deque[int] = collections.deque()
        # One bit per sequence number: the echoes seen (a set would grow by ~50 bytes each).
        self.received = bytearray()
        self.rng = random.Random(args.seed * 7919 + index)
        self.stopping = False

    def take(self) -> tuple[int, bool] | None:
        """The next message to send: a resend first; None once stopping with nothing left."""
        if self.resend:
            return self.resend.popleft(), True
        if self.stopping:
            return None
        seq = self.next_seq
        self.next_seq += 1
        return seq, False

    @property
    def done(self) -> bool:
        return self.stopping and not self.resend

    def on_echo(self, conn: Connection, data: str | bytes) -> None:
        stats = self.stats
        try:
            client, seq = parse(data)
        except (ValueError, IndexError):
            stats.corrupted += 1
            return
        if client != self.index or data != payload(client, seq, self.args.max_size):
            stats.corrupted += 1
            return
        stats.echoed += 1
        if self.was_received(seq):
            stats.duplicated += 1
            return
        if seq not in conn.outstanding:
            stats.corrupted += 1  # never sent on this connection
            return
        while conn.outstanding[0] != seq:
            stats.lost += 1  # an earlier message never came back, on a live connection
            self.mark_received(conn.outstanding.popleft())  # (not resent: it is counted)
        conn.outstanding.popleft()
        self.mark_received(seq)

    def was_received(self, seq: int) -> bool:
        index, bit = divmod(seq, 8)
        return index < len(self.received) and bool(self.received[index] >> bit & 1)

    def mark_received(self, seq: int) -> None:
        index, bit = divmod(seq, 8)
        if index >= len(self.received):
            self.received.extend(bytes(index + 1024 - len(self.received)))
        self.received[index] |= 1 << bit

    def end_connection(self, conn: Connection, close: str, was_clean: bool, unsent: int) -> None:
        stats = self.stats
        stats.unsent_reported += unsent
        if unsent > len(conn.outstanding):
            stats.unsent_inconsistent += 1
            stats.unsent_details.append(
                f"{close}: unsent={unsent} but {len(conn.outstanding)} not echoed"
            )
        stats.in_flight_at_drop += len(conn.outstanding)
        self.resend.extendleft(reversed(conn.outstanding))
        conn.outstanding.clear()

    async def run(self, deadline: float, hard_deadline: float) -> None:
        while not self.done and time.monotonic() < hard_deadline:
            if time.monotonic() >= deadline:
                self.stopping = True
            await self.connect_once(deadline)
        self.stats.unresolved += len(self.resend)

    async def connect_once(self, deadline: float) -> None:
        args, stats = self.args, self.stats
        conn = Connection()
        ws = WebSocket(
            self.url,
            open_timeout=5,
            close_timeout=3,
            ping_interval=args.ping_interval,
            ping_timeout=5,
            compression="deflate" if args.compression else None,
        )
        errors: list[str] = []
        ws.addEventListener("error", lambda event: errors.append(type(event.error).__name__))
        try:
            async with ws:
                stats.connections += 1
                async with anyio.create_task_group() as group:
                    group.start_soon(self.sender, ws, conn, deadline)
                    try:
                        async for data in ws:
                            self.on_echo(conn, data)
                    except ConnectionClosed:
                        pass  # not clean: the close event below says how
                    finally:
                        group.cancel_scope.cancel()
        except ConnectionFailed as exc:
            stats.connect_failures[type(exc).__name__] += 1
            await anyio.sleep(self.rng.uniform(0.01, 0.1))
            return
        except Exception as exc:  # a bug: reported, and the soak fails
            stats.unexpected.append(f"{type(exc).__name__}: {exc!r}")
        event = await ws.wait_closed()
        if event.wasClean:
            kind = f"clean {event.code}"
        else:
            kind = f"unclean {event.code} {'/'.join(errors)}"
        stats.closes[kind] += 1
        self.end_connection(conn, kind, event.wasClean, event.unsent)

    async def sender(self, ws: WebSocket, conn: Connection, deadline: float) -> None:
        args, stats = self.args, self.stats
        while ws.readyState == WebSocket.OPEN:
            if time.monotonic() >= deadline:
                self.stopping = True
            if len(conn.outstanding) >= args.window:
                await anyio.sleep(0.005)
                continue
            taken = self.take()
            if taken is None:
                if not conn.outstanding:
                    ws.close(1000, "soak done")
                    return
                await anyio.sleep(0.005)
                continue
            seq, again = taken
            ws.send(payload(self.index, seq, args.max_size))  # readyState is OPEN: it is queued
            conn.outstanding.append(seq)
            stats.sent += 1
            stats.resent += again
            await anyio.sleep(self.rng.expovariate(args.rate))


# -- measuring ----------------------------------------------------------------------------------


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def task_count(backend: str) -> int:
    """All tasks of the event loop (asyncio), or of trio's whole task tree."""
    if backend == "asyncio":
        return len(asyncio.all_tasks())
    import trio

    def count(task: Any) -> int:
        return 1 + sum(
            count(child) for nursery in task.child_nurseries for child in nursery.child_tasks
        )

    return count(trio.lowlevel.current_root_task())


@dataclass
class Memory:
    rss_peak: int = 0
    rss_after_warmup: int = 0
    rss_end: int = 0
    tracemalloc_peak: int = 0
    tracemalloc_end: int = 0
    samples: list[tuple[float, int]] = field(default_factory=list)


async def monitor(
    memory: Memory, started: float, warmup: float, progress: Callable[[], str]
) -> None:
    last_report = started
    while True:
        now = time.monotonic()
        value = rss()
        memory.rss_peak = max(memory.rss_peak, value)
        if not memory.rss_after_warmup and now - started >= warmup:
            memory.rss_after_warmup = value
        if now - last_report >= 10:
            memory.samples.append((round(now - started, 1), value))
            print(f"  {now - started:6.0f} s  rss {value / MiB:6.1f} MiB  {progress()}", flush=True)
            last_report = now
        await anyio.sleep(0.5)


class Server:
    """The dropping echo server, in a child process (this file with ``--serve``)."""

    def __init__(self, args: argparse.Namespace) -> None:
        command = [sys.executable, __file__, "--serve", "--seed", str(args.seed)]
        command += ["--drop-mean", str(args.drop_mean), "--refuse", str(args.refuse)]
        if not args.compression:
            command.append("--no-compression")
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        self.url = f"ws://127.0.0.1:{json.loads(self.process.stdout.readline())['port']}/"

    def stop(self) -> dict[str, int]:
        """Stop the server; its counts."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()
        stats: dict[str, int] = json.loads(self.process.stdout.readline() or "{}")
        self.process.wait(10)
        return stats


async def soak(args: argparse.Namespace, url: str) -> dict[str, Any]:
    stats = Stats()
    memory = Memory()
    if args.tracemalloc:
        tracemalloc.start()
    gc.collect()
    fds_before, tasks_before = open_fds(), task_count(args.backend)
    started = time.monotonic()
    deadline = started + args.duration
    clients = [Client(index, args, stats, url) for index in range(args.connections)]

    def progress() -> str:
        return (
            f"sent {stats.sent}  echoed {stats.echoed}  connections {stats.connections}  "
            f"lost {stats.lost}  dup {stats.duplicated}  corrupt {stats.corrupted}"
        )

    async with anyio.create_task_group() as group:
        group.start_soon(monitor, memory, started, args.duration / 10, progress)
        async with anyio.create_task_group() as clients_group:
            for client in clients:
                clients_group.start_soon(client.run, deadline, deadline + args.grace)
        group.cancel_scope.cancel()
    elapsed = time.monotonic() - started
    gc.collect()
    await anyio.sleep(0.2)  # let closed sockets' callbacks run
    gc.collect()
    fds_after, tasks_after = open_fds(), task_count(args.backend)
    memory.rss_end = rss()
    if args.tracemalloc:
        memory.tracemalloc_end, memory.tracemalloc_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

    traced = args.tracemalloc
    client_figures: dict[str, Any] = {
        **{k: v for k, v in asdict(stats).items() if k not in ("closes", "connect_failures")},
        "closes": dict(stats.closes.most_common()),
        "connect_failures": dict(stats.connect_failures),
        "messages_per_s": round(stats.echoed / elapsed),
    }
    result: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "machine": machine(),
        "options": {
            key: value for key, value in vars(args).items() if key not in ("serve", "json")
        },
        "elapsed_s": round(elapsed, 1),
        "client": client_figures,
        "leaks": {
            "fds_before": fds_before,
            "fds_after": fds_after,
            "tasks_before": tasks_before,
            "tasks_after": tasks_after,
        },
        "memory_mib": {
            "rss_peak": round(memory.rss_peak / MiB, 1),
            "rss_after_first_tenth": round(memory.rss_after_warmup / MiB, 1),
            "rss_end": round(memory.rss_end / MiB, 1),
            "ru_maxrss": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "tracemalloc_peak": round(memory.tracemalloc_peak / MiB, 1) if traced else None,
            "tracemalloc_end": round(memory.tracemalloc_end / MiB, 2) if traced else None,
        },
    }
    failures = []
    for name in ("lost", "duplicated", "corrupted", "unresolved", "unsent_inconsistent"):
        if client_figures[name]:
            failures.append(f"{name}: {client_figures[name]}")
    if stats.unsent_details:
        failures.append(f"unsent: {stats.unsent_details[:5]}")
    if stats.unexpected:
        failures.append(f"unexpected errors: {stats.unexpected[:5]}")
    if fds_after > fds_before:
        failures.append(f"{fds_after - fds_before} file descriptors left")
    if tasks_after > tasks_before:
        failures.append(f"{tasks_after - tasks_before} tasks left")
    if stats.connections < args.connections:
        failures.append("fewer connections than clients: the server never answered?")
    result["failures"] = failures
    return result


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu": model,
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def report(result: dict[str, Any]) -> str:
    client, leaks, memory = result["client"], result["leaks"], result["memory_mib"]
    options = result["options"]
    lines = [
        f"soak on {options['backend']}: {options['connections']} connections, "
        f"{result['elapsed_s']} s, {result['machine']['cpus']} CPUs ({result['machine']['cpu']})",
        f"  messages  sent {client['sent']} (resent {client['resent']}), echoed "
        f"{client['echoed']} ({client['messages_per_s']}/s)",
        f"  checks    lost {client['lost']}, duplicated {client['duplicated']}, corrupted "
        f"{client['corrupted']}, unresolved {client['unresolved']}, unsent inconsistent "
        f"{client['unsent_inconsistent']}",
        f"  drops     {client['connections']} connections; in flight at a drop "
        f"{client['in_flight_at_drop']} (of which never written: {client['unsent_reported']}), "
        f"resent",
        f"  closes    {client['closes']}",
        f"  refused   {client['connect_failures']}",
        f"  server    {result['server']}",
        f"  memory    RSS peak {memory['rss_peak']} MiB, after the first tenth "
        f"{memory['rss_after_first_tenth']} MiB, at the end {memory['rss_end']} MiB; "
        f"tracemalloc peak {memory['tracemalloc_peak']} MiB, at the end "
        f"{memory['tracemalloc_end']} MiB",
        f"  leaks     fds {leaks['fds_before']} -> {leaks['fds_after']}, tasks "
        f"{leaks['tasks_before']} -> {leaks['tasks_after']}",
        "  result    "
        + ("OK" if not result["failures"] else "FAILED: " + "; ".join(result["failures"])),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--duration", type=float, default=180.0, help="seconds (default 180)")
    parser.add_argument("--grace", type=float, default=60.0, help="seconds to finish at the end")
    parser.add_argument("--rate", type=float, default=50.0, help="messages/s per connection")
    parser.add_argument("--window", type=int, default=32, help="unanswered messages at most")
    parser.add_argument("--max-size", type=int, default=4096, help="largest payload, bytes")
    parser.add_argument("--drop-mean", type=float, default=3.0, help="mean connection life, s")
    parser.add_argument("--refuse", type=float, default=0.02, help="share of upgrades refused")
    parser.add_argument("--ping-interval", type=float, default=2.0)
    parser.add_argument("--no-compression", dest="compression", action="store_false")
    parser.add_argument("--no-tracemalloc", dest="tracemalloc", action="store_false")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args)
        return 0
    server = Server(args)
    try:
        result = anyio.run(soak, args, server.url, backend=args.backend)
    finally:
        server_stats = server.stop()
    result["server"] = server_stats
    print(report(result))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(result, out, indent=2)
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
