"""Shared fixtures: every async test runs on asyncio and on trio.

Test peers (see tests/peers/) run in background threads or subprocesses, never
on the test's event loop, so the sync fixtures below serve both backends.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import trustme

from tests.peers import require_peer
from tests.peers.nginx import NginxServer, nginx_peer_status
from tests.peers.node_server import NodeWsServer, node_peer_status
from tests.peers.scripted import Script, ScriptedServer
from tests.peers.websockets_server import WebsocketsServer


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
