"""The echo servers every client is measured against, in one process pinned to one CPU.

- a picows WebSocket echo server on uvloop (every workload but compression);
- a raw TCP echo server (an asyncio ``Protocol`` on uvloop), the transport limit;
- a websockets echo server on uvloop with permessage-deflate, for the compression
  workload only: picows's ``WSListener`` API has no permessage-deflate.

All three listen on 127.0.0.1 on ports the OS picks. The process pins itself to one
CPU (``--cpu``, default 1), raises its ``RLIMIT_NOFILE`` soft limit to the hard limit
(the memory workload holds 1,000 connections), prints one JSON line with the ports
and its pid, and serves until stdin closes or it gets SIGTERM/SIGINT.

None of the servers pauses reading when its writes back up: the kernel's and the
transport's buffers absorb a client that sends a window of messages before reading.

    python benchmarks/server.py            # standalone, for trying a client by hand
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import sys


def raise_nofile_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; return the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def pin(cpu: int | None) -> list[int]:
    """Pin this process to ``cpu`` when the machine has it; return the affinity in force."""
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        available = os.sched_getaffinity(0)
        if cpu in available and len(available) > 1:
            os.sched_setaffinity(0, {cpu})
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []


# -- picows echo --------------------------------------------------------------------


def _picows_listener_factory():  # type: ignore[no-untyped-def]
    from picows import WSListener, WSMsgType

    close = WSMsgType.CLOSE

    class Echo(WSListener):  # type: ignore[misc]
        def on_ws_frame(self, transport, frame):  # type: ignore[no-untyped-def]
            msg_type = frame.msg_type
            if msg_type is close:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()
                return
            # Echo frame by frame (fragments stay fragments); PING is answered by picows.
            transport.send(msg_type, frame.get_payload_as_memoryview(), frame.fin, frame.rsv1)

    return Echo


# -- raw TCP echo ---------------------------------------------------------------------


class TCPEcho(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)  # type: ignore[attr-defined]

    def eof_received(self) -> bool | None:
        return False  # close our side too


# -- websockets + permessage-deflate echo -------------------------------------------


async def _deflate_echo(ws) -> None:  # type: ignore[no-untyped-def]
    from websockets.exceptions import ConnectionClosed

    try:
        async for message in ws:
            await ws.send(message)
    except ConnectionClosed:
        pass


async def serve(host: str) -> None:
    from picows import ws_create_server
    from websockets.asyncio.server import serve as ws_serve

    loop = asyncio.get_running_loop()
    Echo = _picows_listener_factory()
    picows_server = await ws_create_server(
        lambda request: Echo(),
        host,
        0,
        websocket_handshake_timeout=30,
        max_frame_size=64 * 2**20,
        backlog=2048,
    )
    tcp_server = await loop.create_server(TCPEcho, host, 0, backlog=2048)
    deflate_server = await ws_serve(
        _deflate_echo,
        host,
        0,
        compression="deflate",
        max_size=64 * 2**20,
        max_queue=None,
        ping_interval=None,
        backlog=2048,
    )
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    loop.add_reader(sys.stdin.fileno(), lambda: stop.set() if not os.read(0, 4096) else None)

    def port(server: asyncio.AbstractServer) -> int:
        return int(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]

    import picows
    import uvloop
    import websockets

    print(
        json.dumps(
            {
                "pid": os.getpid(),
                "ws_port": port(picows_server),
                "tcp_port": port(tcp_server),
                "deflate_port": port(deflate_server),
                "ws_server": f"picows {picows.__version__} on uvloop {uvloop.__version__}",
                "tcp_server": f"asyncio Protocol on uvloop {uvloop.__version__}",
                "deflate_server": (
                    f"websockets {websockets.__version__} on uvloop {uvloop.__version__} "
                    "(picows has no permessage-deflate)"
                ),
                "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
                "cpus": pin(None),
            }
        ),
        flush=True,
    )
    await stop.wait()
    for server in (picows_server, tcp_server, deflate_server):
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu", type=int, default=1, help="CPU to pin to (default 1)")
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    if args.host not in ("127.0.0.1", "::1", "localhost"):
        parser.error("the benchmark servers listen on loopback only")
    raise_nofile_limit()
    pin(args.cpu)
    import uvloop

    uvloop.run(serve(args.host))


if __name__ == "__main__":
    main()
