"""Instructions per operation, counted by valgrind: a figure that machine noise cannot move.

    python benchmarks/instructions.py                 # every workload, wsapi and websockets
    python benchmarks/instructions.py --workload handshake --clients wsapi
    python benchmarks/instructions.py --workload msg1m --clients wsapi,wsapi-trio

Rates and CPU times on a small shared machine move by tens of percent between runs;
the number of instructions a client executes per operation does not (two runs of the
same code agree to 0.1%; each run gets ``PYTHONHASHSEED=0``, since the hash seed moves
the layout of CPython's caches and with it a few thousand instructions per open + close).
Each client runs under ``valgrind --tool=cachegrind`` twice,
for N and for 5N operations against the echo server of ``run.py``; the difference
divided by 4N is the cost of one operation, start-up and imports cancelling out. The
level-1 cache misses that cachegrind simulates are printed too: fewer instructions that
miss the cache more are not a gain.

User-space instructions only: the kernel's share (the system calls, loopback TCP) is not
counted, and the event loop's waiting is free. Needs valgrind (Debian: ``apt-get install
valgrind``). Not part of the test suite: it takes a minute or two per client.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run  # noqa: E402

#: The script every client runs: argv is the port, the count of operations and the workload.
TEMPLATE = """
import sys
{imports}

MESSAGES = {{"rtt16": b"0123456789abcdef", "msg1m": bytes(1024 * 1024)}}

async def main(port, count, workload):
    url = f"ws://127.0.0.1:{{port}}/"
    if workload == "handshake":
        for _ in range(count):
            async with {open}(url, {options}):
                pass
    else:
        message = MESSAGES[workload]
        async with {open}(url, {options}) as ws:
            for _ in range(count):
                {send}(message)
                await ws.recv()

ARGS = (int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
{run}
"""

ON_ASYNCIO = "import asyncio\nasyncio.run(main(*ARGS))"
ON_TRIO = "import trio\ntrio.run(main, *ARGS)"

WSAPI = {
    "imports": "from wsapi import WebSocket",
    "open": "WebSocket",
    "options": "compression=None, ping_interval=None, max_message_size=2**22",
    "send": "ws.send",
}

#: What differs between the clients: the imports, the opening, the (a)synchronous send,
#: the event loop.
SCRIPTS = {
    "wsapi": TEMPLATE.format(**WSAPI, run=ON_ASYNCIO),
    "wsapi-trio": TEMPLATE.format(**WSAPI, run=ON_TRIO),
    "websockets": TEMPLATE.format(
        imports="from websockets.asyncio.client import connect",
        open="connect",
        options="compression=None, ping_interval=None, max_size=2**22",
        send="await ws.send",
        run=ON_ASYNCIO,
    ),
}

#: Operations in the short run (the long one does five times as many).
COUNTS = {"handshake": 50, "rtt16": 500, "msg1m": 20}
WORKLOADS = {
    "handshake": "open + close",
    "rtt16": "16-byte round trip",
    "msg1m": "1 MiB round trip",
}
FIELDS = {"I   refs": "instructions", "I1  misses": "I1 misses", "D1  misses": "D1 misses"}


def count(script: Path, port: int, operations: int, workload: str) -> dict[str, int]:
    command = [
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=yes",
        "--cachegrind-out-file=/dev/null",
        sys.executable,
        str(script),
        str(port),
        str(operations),
        workload,
    ]
    environment = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800, env=environment)
    if done.returncode != 0:
        raise SystemExit(f"{script.name} failed:\n{done.stderr[-2000:]}")
    figures = {}
    for key, name in FIELDS.items():
        match = re.search(re.escape(key) + r":\s+([\d,]+)", done.stderr)
        if match is None:
            raise SystemExit(f"no {key!r} in valgrind's output:\n{done.stderr[-2000:]}")
        figures[name] = int(match.group(1).replace(",", ""))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", choices=sorted(COUNTS), action="append")
    parser.add_argument(
        "--clients", default="wsapi,websockets", help=f"comma-separated: {', '.join(SCRIPTS)}"
    )
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is needed (Debian: apt-get install valgrind)")
    clients = args.clients.split(",")
    workloads = args.workload or list(COUNTS)
    server, info = run.start_server(1)
    try:
        with tempfile.TemporaryDirectory() as folder:
            for workload in workloads:
                base: dict[str, int] | None = None
                print(f"\n{WORKLOADS[workload]}, per operation:")
                for client in clients:
                    script = (
                        Path(folder) / f"client_{client}.py"
                    )  # (not websockets.py: it would shadow the package)
                    script.write_text(SCRIPTS[client])
                    short = COUNTS[workload]
                    low = count(script, info["ws_port"], short, workload)
                    high = count(script, info["ws_port"], 5 * short, workload)
                    per = {name: (high[name] - low[name]) / (4 * short) for name in low}
                    base = base or per
                    shown = ", ".join(
                        f"{name} {value / 1000:,.1f}k ({value / base[name]:.2f}x)"
                        for name, value in per.items()
                    )
                    print(f"  {client:11s} {shown}", flush=True)
    finally:
        run.stop_server(server)
    print(f"\n(ratios to {clients[0]}; user-space only, counted by valgrind's cachegrind)")


if __name__ == "__main__":
    main()
