"""Fixtures of the proxy tests (the proxies themselves are in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.proxies.helpers import TLSTarget, tls_target


@pytest.fixture(scope="module")
def tls_server() -> Iterator[TLSTarget]:
    """A wss:// echo server; ``tls_server.context`` trusts its certificate."""
    with tls_target() as target:
        yield target
