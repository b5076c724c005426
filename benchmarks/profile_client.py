"""Profile one client on one workload, against the same servers as ``run.py``.

    python benchmarks/profile_client.py --client wsapi-asyncio --workload msg1m
    python benchmarks/profile_client.py --client wsapi-asyncio --workload memory --tracemalloc

CPU workloads run the worker under cProfile (``--out`` keeps the ``.prof`` file, for
``python -m pstats`` or snakeviz) and print the top functions by cumulative and by own
time. ``--tracemalloc`` (memory workload) prints where the bytes of one idle connection
are allocated, by source line. Profiling slows the client down: the figures it prints
are not benchmark results.
"""

from __future__ import annotations

import argparse
import json
import pstats
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--client", default="wsapi-asyncio")
    parser.add_argument("--workload", required=True)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--conns", type=int, default=1000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--out", default=None, help="keep the cProfile output here")
    parser.add_argument("--tracemalloc", action="store_true")
    args = parser.parse_args()

    server, info = run.start_server(1)
    try:
        if args.tracemalloc:
            result = run_tracemalloc(args, info)
            for line in result.get("tracemalloc_top", [])[: args.top]:
                print(line)
            print(f"(RSS with tracemalloc on: {result.get('value', 0):.1f} KB/conn)")
            return
        out = args.out or tempfile.mktemp(suffix=".prof")
        result = run.run_worker(
            args.client, args.workload, info, args.duration, 0.3, args.conns, 0, profile=out
        )
    finally:
        run.stop_server(server)
    if not result.get("ok"):
        raise SystemExit(f"failed: {result.get('error')}")
    print(
        f"{args.client} {args.workload} under cProfile: {result['ops']} ops in "
        f"{result['wall']:.2f} s ({result['cpu_us_per_op']:.1f} µs CPU/op, profiled)"
    )
    print_per_op(pstats.Stats(out), result["ops"], args.top)
    if args.out is None:
        Path(out).unlink()


def _where(key: tuple[str, int, str]) -> str:
    filename, line, function = key
    for marker in ("site-packages/", "/src/", "/lib/python3."):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            if marker == "/lib/python3.":
                filename = "stdlib/" + filename.split("/", 1)[1]
            break
    else:
        filename = filename.rsplit("/", 1)[-1]
    return f"{filename}:{line}({function})" if line else function


def print_per_op(stats: pstats.Stats, ops: int, top: int) -> None:
    """The top functions by cumulative and by own CPU time, per operation of the workload.

    The totals include the warm-up and the set-up (the profile covers the whole process),
    so per-operation figures are slightly high.
    """
    rows = [
        (key, nc, tt, ct)
        for key, (cc, nc, tt, ct, _callers) in stats.stats.items()  # type: ignore[attr-defined]
    ]
    total = stats.total_tt  # type: ignore[attr-defined]
    idle = sum(tt for key, _, tt, _ in rows if "of 'select.epoll' objects" in key[2])
    print(
        f"profiled (wall clock): {total:.2f} s = {total / ops * 1e6:.0f} µs per op, of which "
        f"{idle / ops * 1e6:.0f} µs blocked in epoll (idle)"
    )
    for title, index in (("cumulative", 3), ("own (self)", 2)):
        print(f"\n-- top {top} by {title} time; µs per op, calls per op")
        print(f"{'cum µs':>9} {'self µs':>9} {'calls':>7}  function")
        for key, nc, tt, ct in sorted(rows, key=lambda r: r[index], reverse=True)[:top]:
            print(f"{ct / ops * 1e6:9.1f} {tt / ops * 1e6:9.1f} {nc / ops:7.2f}  {_where(key)}")


def run_tracemalloc(args: argparse.Namespace, info: dict) -> dict:  # type: ignore[type-arg]
    import subprocess

    command = [
        sys.executable,
        str(HERE / "worker.py"),
        f"--client={args.client}",
        f"--workload={args.workload}",
        f"--ws-url=ws://127.0.0.1:{info['ws_port']}/",
        f"--tcp-url=tcp://127.0.0.1:{info['tcp_port']}",
        f"--deflate-url=ws://127.0.0.1:{info['deflate_port']}/",
        f"--conns={args.conns}",
        "--tracemalloc",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    line = next(x for x in reversed(done.stdout.splitlines()) if x.startswith("{"))
    return json.loads(line)  # type: ignore[no-any-return]


if __name__ == "__main__":
    main()
