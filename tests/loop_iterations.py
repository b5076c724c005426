"""Counting asyncio's event loop iterations: each one is a call to its selector's select()."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def counting_selects(backend: str) -> Iterator[list[int]]:
    """Within the block, ``counter[0]`` counts the loop's iterations (asyncio's own loop only;
    under another backend it stays 0)."""
    counter = [0]
    if backend != "asyncio":
        yield counter
        return
    selector = asyncio.get_running_loop()._selector  # type: ignore[attr-defined]
    select = selector.select

    def counting_select(timeout: float | None = None) -> Any:
        counter[0] += 1
        return select(timeout)

    selector.select = counting_select
    try:
        yield counter
    finally:
        del selector.select
