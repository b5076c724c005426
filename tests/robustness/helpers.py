"""Helpers for the attack tests: memory measurement and what the application saw.

Memory is measured with ``tracemalloc`` around the whole connection. It traces
every thread, so the scripted server (a thread of this process) must send
bytes built before the measurement starts; what it allocates while sending
is a few small objects.
"""

from __future__ import annotations

import contextlib
import gc
import os
import threading
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass, field

import anyio

from tests.integration.test_misbehaving import Recorder as _MisbehavingRecorder
from tests.peers.scripted import Frame, Opcode, RawConnection, ScriptedServer

__all__ = [
    "KiB",
    "MiB",
    "READY",
    "TIMEOUT",
    "Memory",
    "Recorder",
    "Seen",
    "ResidentMemory",
    "accept_and_sync",
    "traced_memory",
    "wait_for",
    "wait_scripts",
]

KiB = 2**10
MiB = 2**20

#: What the client sends once open; scripts wait for it before misbehaving.
READY = "ready"

#: Bound for one scripted exchange (the real ones take milliseconds to seconds).
TIMEOUT = 20.0


@dataclass
class Memory:
    """Peak and current bytes traced by ``tracemalloc`` (filled in as the block runs)."""

    peak: int = 0
    current: int = 0

    def sample(self) -> int:
        """Update and return the peak so far (inside the block)."""
        self.current, peak = tracemalloc.get_traced_memory()
        self.peak = max(self.peak, peak)
        return self.peak

    def __str__(self) -> str:
        return f"peak {self.peak / MiB:.2f} MiB"


class ResidentMemory:
    """The process's resident set size (``/proc/self/statm``): growth since creation.

    For floods of tiny frames, where ``tracemalloc`` would slow the client down
    three times and the test with it. Linux only.
    """

    PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

    def __init__(self) -> None:
        gc.collect()
        self.base = self.now()
        self.peak = self.base

    @staticmethod
    def now() -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * ResidentMemory.PAGE

    def sample(self) -> int:
        self.peak = max(self.peak, self.now())
        return self.peak

    @property
    def growth(self) -> int:
        return self.peak - self.base

    def __str__(self) -> str:
        return f"resident memory grew by {self.growth / MiB:.1f} MiB"


@contextlib.contextmanager
def traced_memory() -> Iterator[Memory]:
    """Trace allocations in the block; ``Memory.peak`` is its peak, in bytes."""
    gc.collect()
    memory = Memory()
    tracemalloc.start()
    try:
        yield memory
        memory.sample()
    finally:
        tracemalloc.stop()


class Recorder(_MisbehavingRecorder):
    """Listens to open/error/close (messages stay for ``recv()``), with a summary."""

    @property
    def summary(self) -> tuple[int, str, bool] | None:
        close = self.close
        return None if close is None else (close.code, close.reason, close.wasClean)


@dataclass
class Seen:
    """What a script saw the client do."""

    close: tuple[int | None, str] | None = None
    frames: list[Frame] = field(default_factory=list)
    tail: bytes | None = None
    #: Set by scripts that flood, when they stop (blocked, refused or done).
    stopped: threading.Event = field(default_factory=threading.Event)
    #: Counters a flooding script keeps (bytes or frames it got through).
    sent: int = 0
    blocked: bool = False

    def read_close_and_eof(self, conn: RawConnection) -> None:
        self.close = conn.read_close()
        self.frames = list(conn.skipped_frames)
        self.tail = conn.wait_eof()


def accept_and_sync(conn: RawConnection, **accept_options: str) -> None:
    """Accept, then wait for the client's first message: the client is open and idle."""
    conn.accept(**accept_options)  # type: ignore[arg-type]
    frame = conn.read_frame()
    assert frame is not None, "the client closed instead of sending its first message"
    assert frame.opcode == Opcode.TEXT, frame


async def wait_scripts(server: ScriptedServer) -> None:
    await anyio.to_thread.run_sync(server.wait_scripts)


async def wait_for(
    event: threading.Event, seconds: float, memory: Memory | ResidentMemory | None = None
) -> bool:
    """Wait for a thread's ``event`` without blocking the loop; sample ``memory`` meanwhile."""
    with anyio.move_on_after(seconds):
        while not event.is_set():
            if memory is not None:
                memory.sample()
            await anyio.sleep(0.02)
    return event.is_set()
