"""One client, one workload, in this (fresh) process: prints one JSON line.

``run.py`` starts one of these per measurement; to try a single one by hand, start
``server.py`` and pass its ports:

    python benchmarks/worker.py --client wsapi-asyncio --workload rtt16 \\
        --ws-url ws://127.0.0.1:PORT/ --tcp-url tcp://127.0.0.1:PORT \\
        --deflate-url ws://127.0.0.1:PORT/

``--profile OUT`` writes a cProfile of the run to OUT (for ``pstats``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from server import pin, raise_nofile_limit  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--client", required=True)
    parser.add_argument("--workload", required=True)
    parser.add_argument("--ws-url", required=True)
    parser.add_argument("--tcp-url", required=True)
    parser.add_argument("--deflate-url", required=True)
    parser.add_argument("--server-pid", type=int, default=None)
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--warmup", type=float, default=0.3)
    parser.add_argument("--conns", type=int, default=1000)
    parser.add_argument("--cpu", type=int, default=0)
    parser.add_argument("--profile", default=None, help="write a cProfile here")
    parser.add_argument(
        "--tracemalloc", action="store_true", help="memory workload: where the bytes go"
    )
    args = parser.parse_args()

    for url in (args.ws_url, args.tcp_url, args.deflate_url):
        if not url.split("://", 1)[-1].startswith(("127.0.0.1:", "[::1]:", "localhost:")):
            parser.error(f"loopback only: {url}")
    raise_nofile_limit()
    pin(args.cpu)

    from clients import load
    from workloads import WORKLOADS, measure

    out: dict[str, Any] = {"client": args.client, "workload": args.workload}
    try:
        client = load(args.client)()
        workload = WORKLOADS[args.workload]
        out["version"] = client.version()
        if workload.compression and not client.deflate:
            out["skipped"] = f"{args.client} has no permessage-deflate"
            print(json.dumps(out), flush=True)
            return
        if client.only is not None and args.workload not in client.only:
            out["skipped"] = f"{args.client} is measured on the message workloads only"
            print(json.dumps(out), flush=True)
            return
        if client.transport == "tcp":
            url = args.tcp_url
        elif workload.compression:
            url = args.deflate_url
        else:
            url = args.ws_url

        async def run() -> dict[str, Any]:
            return await measure(
                client,
                workload,
                url,
                duration=args.duration,
                warmup=args.warmup,
                conns=args.conns,
                server_pid=args.server_pid,
            )

        if args.tracemalloc:
            import tracemalloc

            tracemalloc.start(1)
        profiler = None
        if args.profile:
            import cProfile

            # cProfile's default (wall) clock: a CPU clock is a system call per reading on
            # many VMs and would swamp the profile; time blocked in epoll shows up in
            # ``poll``/``select`` and is idle time, not the client's work.
            profiler = cProfile.Profile()
            profiler.enable()
        if client.backend == "trio":
            import trio

            result = trio.run(run)
        else:
            import asyncio

            result = asyncio.run(run())
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
        out.update(result, ok=True)
    except BaseException as exc:  # report, never hang
        out.update(ok=False, error=f"{type(exc).__name__}: {exc}", trace=traceback.format_exc())
    print(json.dumps(out), flush=True)
    import threading

    if any(t.is_alive() and not t.daemon for t in threading.enumerate()[1:]):
        os._exit(0)  # don't wait for a stray thread (an executor, a resolver)


if __name__ == "__main__":
    main()
