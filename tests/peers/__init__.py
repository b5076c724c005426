"""Test peers: real WebSocket servers we did not write, and scripted raw-socket servers.

Every peer runs outside the test's event loop (in a background thread or a
subprocess), so the same peer serves tests running on asyncio and on trio.
"""

from __future__ import annotations

import ipaddress
import os

import pytest

#: Environment variable that turns a missing outside peer into a test failure (CI sets it).
REQUIRE_PEERS_ENV = "WSAPI_REQUIRE_PEERS"


def peers_required() -> bool:
    """Whether missing peers must fail the test run instead of skipping tests."""
    return os.environ.get(REQUIRE_PEERS_ENV, "").strip() == "1"


def require_peer(available: bool, reason: str) -> None:
    """Skip the current test when a peer is missing, or fail it when peers are required.

    ``reason`` should say what is missing and which command installs it, e.g.
    ``"Node ws peer not installed: run `npm ci --prefix tests/peers/node`"``.
    With ``WSAPI_REQUIRE_PEERS=1`` in the environment (as on CI) the test fails
    instead of being skipped, so a broken CI setup cannot silently skip tests.
    """
    if available:
        return
    if peers_required():
        pytest.fail(f"{reason} ({REQUIRE_PEERS_ENV}=1, so missing peers are errors)", pytrace=False)
    pytest.skip(reason)


def check_loopback(host: str) -> str:
    """Return ``host`` if it is a loopback address (127.0.0.1 or ::1), else raise ValueError.

    The test suite never binds or connects to anything but loopback.
    """
    if host not in ("127.0.0.1", "::1") or not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"test peers only bind to 127.0.0.1 or ::1, not {host!r}")
    return host


def url_host(host: str) -> str:
    """``host`` as it appears in a URL: IPv6 addresses go in brackets."""
    return f"[{host}]" if ":" in host else host
