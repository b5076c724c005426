"""The workloads, and how one client process measures one of them.

Each workload runs in a fresh client process (``worker.py``): a warm-up on the same
connection first, then the measured part, bounded both by a count and by a time limit.
Wall time is ``time.perf_counter()``; client CPU time is ``time.process_time()`` (user +
system, all threads of the client process); the server's CPU time over the same window
comes from psutil, to tell when the server, not the client, was the limit.
"""

from __future__ import annotations

import gc
import json
import random
import time
import tracemalloc
from dataclasses import dataclass
from typing import Any

import anyio
from clients.base import BaseClient, Message

KiB = 1024
MiB = 1024 * 1024


@dataclass(frozen=True)
class Workload:
    name: str
    title: str
    kind: str  # roundtrips | pipelined | handshake | memory
    unit: str
    size: int = 0
    window: int = 0
    max_ops: int = 0
    text: bool = False
    compression: bool = False
    higher_is_better: bool = True


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload(
            "rtt16", "16-byte round trips", "roundtrips", "round trips/s", 16, max_ops=1_000_000
        ),
        Workload(
            "pipe1k",
            "pipelined 1 KiB, 100 in flight",
            "pipelined",
            "MB/s",
            KiB,
            window=100,
            max_ops=10_000_000,
        ),
        Workload(
            "pipe64k",
            "pipelined 64 KiB, 16 in flight",
            "pipelined",
            "MB/s",
            64 * KiB,
            window=16,
            max_ops=1_000_000,
        ),
        Workload("msg1m", "1 MiB messages, sequential", "roundtrips", "MB/s", MiB, max_ops=100_000),
        Workload("handshake", "open + close per second", "handshake", "conn/s", max_ops=100_000),
        Workload(
            "memory",
            "RSS per idle connection, 1,000 open",
            "memory",
            "KB/conn",
            higher_is_better=False,
        ),
        Workload(
            "deflate1k",
            "pipelined 1 KiB compressible text, permessage-deflate",
            "pipelined",
            "MB/s",
            KiB,
            window=100,
            max_ops=10_000_000,
            text=True,
            compression=True,
        ),
    )
}


def compressible_texts(size: int, count: int = 64, seed: int = 1) -> list[str]:
    """``count`` different ASCII JSON-ish texts of exactly ``size`` characters.

    Records with repeated keys and a small vocabulary, different numbers: the shape of
    the chatty JSON APIs permessage-deflate is for (it compresses them about 4:1 alone,
    better with the context kept from message to message).
    """
    rng = random.Random(seed)
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
    texts = []
    for i in range(count):
        records = []
        text = ""
        while len(text) < size:
            records.append(
                {
                    "id": i * 1000 + len(records),
                    "symbol": rng.choice(words).upper(),
                    "price": round(rng.uniform(10, 1000), 2),
                    "size": rng.randint(1, 5000),
                    "side": rng.choice(["buy", "sell"]),
                    "tags": rng.sample(words, 2),
                }
            )
            text = json.dumps({"type": "update", "seq": i, "records": records})
        texts.append(text[:size])
    return texts


def messages_for(workload: Workload) -> list[Message]:
    if workload.text:
        return list(compressible_texts(workload.size))
    return [random.Random(workload.size).randbytes(workload.size)]


def rss() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


class Probe:
    """Wall time, this process's CPU time, the server's CPU time and the machine's busy time.

    ``others`` in the result is the share of the machine's CPU capacity that processes
    other than this client and the server used during the window: the noise (on a shared
    machine, other people's jobs), reported with every measurement.
    """

    def __init__(self, server_pid: int | None) -> None:
        import psutil

        self.psutil = psutil
        self.server = None
        if server_pid:
            try:
                self.server = psutil.Process(server_pid)
            except psutil.Error:
                self.server = None
        self.ncpu = psutil.cpu_count() or 1

    def read(self) -> tuple[float, float, float, float]:
        server = 0.0
        if self.server is not None:
            try:
                times = self.server.cpu_times()
                server = float(times.user + times.system)
            except self.psutil.Error:
                self.server = None
        machine = self.psutil.cpu_times()
        idle = machine.idle + getattr(machine, "iowait", 0.0)
        busy = (
            sum(machine)
            - idle
            - getattr(machine, "guest", 0.0)
            - getattr(machine, "guest_nice", 0.0)
        )
        return time.perf_counter(), time.process_time(), server, busy

    def result(
        self, start: tuple[float, float, float, float], end: tuple[float, float, float, float]
    ) -> dict[str, Any]:
        wall = end[0] - start[0]
        cpu = end[1] - start[1]
        server = end[2] - start[2]
        others = (end[3] - start[3]) - cpu - server
        return {
            "wall": wall,
            "cpu": cpu,
            "server_util": server / wall if self.server is not None else None,
            "others": max(0.0, others) / (wall * self.ncpu),
        }


async def _check_echo(client: BaseClient, conn: Any, message: Message) -> None:
    await client.send(conn, message)
    echoed = await client.recv(conn)
    if echoed != message:
        raise AssertionError(
            f"{client.name}: the echo differs from the message ({len(echoed)} vs "
            f"{len(message)} {type(message).__name__})"
        )


async def measure(
    client: BaseClient,
    workload: Workload,
    url: str,
    *,
    duration: float,
    warmup: float,
    conns: int,
    server_pid: int | None,
) -> dict[str, Any]:
    """Run one workload in this process; return the measurement as a dict."""
    probe = Probe(server_pid)
    clock = time.perf_counter
    await client.setup()
    try:
        if workload.kind == "memory":
            return await _memory(client, url, conns, duration)
        if workload.kind == "handshake":
            conn = await client.connect(url)
            await _check_echo(client, conn, b"hello")
            await client.close(conn)
            await client.open_close(url, workload.max_ops, clock() + warmup)
            start = probe.read()
            ops = await client.open_close(url, workload.max_ops, start[0] + duration)
            end = probe.read()
            nbytes = 0
        else:
            messages = messages_for(workload)
            conn = await client.connect(url, workload.compression)
            try:
                await _check_echo(client, conn, messages[0])
                if workload.kind == "roundtrips":
                    message = messages[0]
                    await client.roundtrips(conn, message, workload.max_ops, clock() + warmup)
                    start = probe.read()
                    ops = await client.roundtrips(
                        conn, message, workload.max_ops, start[0] + duration
                    )
                    end = probe.read()
                else:
                    window = workload.window
                    await client.pipelined(
                        conn, messages, workload.max_ops, window, clock() + warmup
                    )
                    start = probe.read()
                    ops = await client.pipelined(
                        conn, messages, workload.max_ops, window, start[0] + duration
                    )
                    end = probe.read()
                await _check_echo(client, conn, messages[-1])
            finally:
                await client.close(conn)
            nbytes = ops * workload.size
    finally:
        await client.teardown()
    result: dict[str, Any] = {"ops": ops, **probe.result(start, end)}
    wall = result["wall"]
    result["cpu_us_per_op"] = result["cpu"] / ops * 1e6 if ops else None
    result["value"] = nbytes / wall / 1e6 if workload.unit == "MB/s" else ops / wall
    return result


async def _memory(client: BaseClient, url: str, count: int, limit: float) -> dict[str, Any]:
    """RSS growth per idle connection with ``count`` open (opened one after another).

    The connections are opened from this one task, as ``connect()`` returns them (no task
    per connection is added by the harness); the RSS is read after a garbage collection
    and a short pause, and compared with the RSS after one connection was opened, used
    and closed (so imports and one-off caches are not counted).
    """
    # Warm every code path (imports, caches, the first connection's one-off costs).
    conn = await client.connect(url)
    await _check_echo(client, conn, b"hello")
    await client.close(conn)
    gc.collect()
    await anyio.sleep(0.05)
    tracing = tracemalloc.is_tracing()
    before = tracemalloc.take_snapshot() if tracing else None
    base = rss()
    opened: list[Any] = []
    t0 = time.perf_counter()
    deadline = t0 + max(limit, 1.0) * 30
    try:
        while len(opened) < count and time.perf_counter() < deadline:
            opened.append(await client.connect(url))
        t1 = time.perf_counter()
        n_open = len(opened)
        await anyio.sleep(0.2)  # let the connections' tasks settle
        gc.collect()
        after = rss()
        opened_snapshot = tracemalloc.take_snapshot() if tracing else None
    finally:
        # LIFO: task groups entered in this task must be exited in reverse order, so
        # no cancel scope may wrap these closes; a deadline bounds them instead (and
        # the worker's own time limit in run.py bounds a close that hangs).
        close_deadline = time.perf_counter() + 60
        while opened and time.perf_counter() < close_deadline:
            await client.close(opened.pop())
    top: list[str] = []
    if before is not None and opened_snapshot is not None:
        # Where the memory of one connection goes (tracemalloc inflates the RSS: --tracemalloc
        # runs are for this list, not for the figure).
        for stat in opened_snapshot.compare_to(before, "lineno")[:40]:
            frame = stat.traceback[0]
            top.append(
                f"{stat.size_diff / n_open:8.0f} B/conn {stat.count_diff / n_open:6.1f} "
                f"blocks/conn  {frame.filename}:{frame.lineno}"
            )
    return {
        **({"tracemalloc_top": top} if top else {}),
        "value": (after - base) / n_open / 1000,  # KB (1,000 bytes), as the targets
        "conns": n_open,
        "rss_base": base,
        "rss_open": after,
        "ops": n_open,
        "wall": t1 - t0,
    }
