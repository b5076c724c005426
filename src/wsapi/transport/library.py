"""Telling anyio which async library runs the connection, once instead of at every call.

anyio asks sniffio for the running library at nearly every call (a cancel scope,
an event, the clock, a task group). Under asyncio sniffio answers by asking
for the current task, and on Python 3.11 and earlier each such question is a
``getpid()`` system call: about forty per open-and-close, a tenth of its cost.
sniffio first reads a context variable that a library may set; wsapi sets it
to the answer sniffio gives anyway, for the stretches of its own code that make
many anyio calls (opening, closing), so the answer cannot change, only its cost.

It also makes anyio usable from asyncio's protocol callbacks, which run
outside any task, where sniffio cannot tell asyncio is running.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

try:
    from sniffio import current_async_library, current_async_library_cvar
except ImportError:  # anyio without sniffio asks asyncio directly: nothing to spare
    current_async_library_cvar = None  # type: ignore[assignment]

__all__ = ["in_asyncio_context", "library_known"]

T = TypeVar("T")


@contextmanager
def library_known() -> Iterator[None]:
    """Within the block, sniffio answers from a context variable (this task only)."""
    if current_async_library_cvar is None or current_async_library_cvar.get() is not None:
        yield
        return
    token = current_async_library_cvar.set(current_async_library())
    try:
        yield
    finally:
        current_async_library_cvar.reset(token)


def in_asyncio_context(call: Callable[[], T]) -> T:
    """Call ``call``, which uses anyio (starts a task), from an asyncio protocol callback.

    anyio finds the running library through sniffio, and sniffio looks at the
    current task: in a protocol callback there is none.
    """
    if current_async_library_cvar is None:
        return call()  # anyio then asks asyncio for its running loop: fine here
    token = current_async_library_cvar.set("asyncio")
    try:
        return call()
    finally:
        current_async_library_cvar.reset(token)
