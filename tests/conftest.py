"""Shared fixtures: every async test runs on asyncio and on trio.

Test peers (see tests/peers/) run in background threads or subprocesses, never
on the test's event loop, so the sync fixtures below serve both backends.
"""

from __future__ import annotations

import contextlib
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from tests.peers import require_peer
from tests.peers.microsocks import MicrosocksServer, microsocks_peer_status
from tests.peers.nginx import NginxServer, nginx_peer_status
from tests.peers.node_server import NodeWsServer, node_peer_status
from tests.peers.scripted import Script, ScriptedServer
from tests.peers.tinyproxy import TinyproxyServer, tinyproxy_peer_status
from tests.peers.websockets_server import WebsocketsServer
from tests.peers.websockets_unix import WebsocketsUnixServer, unix_sockets_available


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def websockets_server() -> Iterator[WebsocketsServer]:
    """The ``websockets`` library's server on 127.0.0.1.

    Routes: see tests/peers/websockets_server.py.
    """
    with WebsocketsServer() as server:
        yield server


@pytest.fixture(scope="session")
def node_ws_server() -> Iterator[NodeWsServer]:
    """Node's ``ws`` server on 127.0.0.1 (routes: tests/peers/node/server.js).

    Skipped when Node or the ws package is missing; fails instead with WSAPI_REQUIRE_PEERS=1.
    """
    require_peer(*node_peer_status())
    with NodeWsServer() as server:
        yield server


@pytest.fixture
def scripted_server() -> Iterator[Callable[..., ScriptedServer]]:
    """Factory: ``scripted_server(script, **kwargs)`` starts a ScriptedServer for this test.

    The server is stopped at teardown, which fails the test if a script raised.
    """
    with contextlib.ExitStack() as stack:

        def start(script: Script, **kwargs: Any) -> ScriptedServer:
            return stack.enter_context(ScriptedServer(script, **kwargs))

        yield start


@pytest.fixture(scope="session")
def nginx_server(websockets_server: WebsocketsServer) -> Iterator[NginxServer]:
    """nginx as a reverse proxy in front of ``websockets_server``, plain and TLS.

    Locations (correct, and the usual mistakes): see tests/peers/nginx.py. The TLS
    block's certificate (localhost, 127.0.0.1) comes from a trustme CA that
    ``nginx_server.client_context()`` trusts. Skipped when nginx is missing; fails
    instead with WSAPI_REQUIRE_PEERS=1.
    """
    require_peer(*nginx_peer_status())
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    certificate = (
        b"".join(blob.bytes() for blob in leaf.cert_chain_pems),
        leaf.private_key_pem.bytes(),
    )
    with NginxServer.proxy(
        websockets_server.port, certificate=certificate, ca_pem=ca.cert_pem.bytes()
    ) as server:
        yield server


# -- proxies, Unix sockets, IPv6 (tests/proxies/) -------------------------------------------

#: The environment variables urllib.request.getproxies() reads for wsapi's URLs.
PROXY_VARIABLES = tuple(
    name
    for key in ("ws", "wss", "http", "https", "all", "no")
    for name in (f"{key}_proxy", f"{key.upper()}_PROXY")
)


@pytest.fixture(autouse=True)
def _no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts without proxy variables: WebSocket(proxy=True) reads them.

    A developer's HTTPS_PROXY must not send the suite's loopback connections
    through a proxy; tests that want one set it with monkeypatch.setenv().
    """
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def tinyproxy_server() -> Iterator[TinyproxyServer]:
    """tinyproxy, an HTTP proxy allowing CONNECT to any port, on 127.0.0.1.

    Skipped when tinyproxy is missing; fails instead with WSAPI_REQUIRE_PEERS=1.
    """
    require_peer(*tinyproxy_peer_status())
    with TinyproxyServer() as server:
        yield server


@pytest.fixture(scope="session")
def tinyproxy_auth_server() -> Iterator[TinyproxyServer]:
    """tinyproxy requiring Basic credentials ``alice:s3cret``; ``url()`` includes them."""
    require_peer(*tinyproxy_peer_status())
    with TinyproxyServer(credentials=("alice", "s3cret")) as server:
        yield server


@pytest.fixture(scope="session")
def microsocks_server() -> Iterator[MicrosocksServer]:
    """microsocks, a SOCKS5 proxy without authentication, on 127.0.0.1.

    Skipped when microsocks is missing; fails instead with WSAPI_REQUIRE_PEERS=1.
    """
    require_peer(*microsocks_peer_status())
    with MicrosocksServer() as server:
        yield server


@pytest.fixture(scope="session")
def microsocks_auth_server() -> Iterator[MicrosocksServer]:
    """microsocks requiring the user name ``bob`` and password ``pw``; ``url()`` includes them."""
    require_peer(*microsocks_peer_status())
    with MicrosocksServer(credentials=("bob", "pw")) as server:
        yield server


@pytest.fixture(scope="session")
def websockets_unix_server() -> Iterator[WebsocketsUnixServer]:
    """The ``websockets`` server's routes on a Unix domain socket (``.path``)."""
    if not unix_sockets_available():
        pytest.skip("this platform has no Unix domain sockets")
    with (
        tempfile.TemporaryDirectory(prefix="wsapi-unix-") as directory,
        WebsocketsUnixServer(Path(directory) / "ws.sock") as server,
    ):
        yield server


def ipv6_loopback_available() -> bool:
    """Whether a socket can listen on ::1 (containers often run without IPv6)."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.fixture(scope="session")
def websockets_ipv6_server() -> Iterator[WebsocketsServer]:
    """The ``websockets`` server on ::1; ``url()`` is ``ws://[::1]:PORT/...``.

    Skipped (even under WSAPI_REQUIRE_PEERS=1) where ::1 is not available: that is
    the machine's network, not a missing peer.
    """
    if not ipv6_loopback_available():
        pytest.skip("IPv6 loopback (::1) is not available on this machine")
    with WebsocketsServer(host="::1") as server:
        yield server
