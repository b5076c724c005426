"""Starting a connection's tasks as lightly as the backend allows.

anyio wraps every task it starts in a handle with a cancel scope and an event
of its own (about 1 KB, for as long as the task lives: under trio the reader
task lives as long as the connection). wsapi's tasks never raise and nobody
waits for their results, so under trio they go straight to the nursery behind
the task group: same structured lifetime, same cancellation (the task group's
cancel scope is the nursery's), less memory.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from anyio.abc import TaskGroup

__all__ = ["start_soon"]


def start_soon(
    task_group: TaskGroup, func: Callable[[], Coroutine[Any, Any, None]], name: str
) -> None:
    """``task_group.start_soon(func, name=name)``, without anyio's task handle under trio."""
    nursery = getattr(task_group, "_nursery", None)
    if nursery is not None and type(task_group).__module__ == "anyio._backends._trio":
        nursery.start_soon(func, name=name)
    else:
        task_group.start_soon(func, name=name)
