# docs/examples/test_client.py
"""Test your own client code against wsapi.testing, with pytest and anyio's plugin."""

import pytest

from wsapi import InvalidStatus, WebSocket
from wsapi.testing import HandshakeResponse, echo, serve

pytestmark = pytest.mark.anyio  # run the async tests with anyio's pytest plugin


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param  # every test runs twice: on asyncio and on trio


async def fetch_greeting(url):
    """The code under test: connect, return the first message."""
    async with WebSocket(url) as ws:
        return await ws.recv()


async def test_greeting():
    async def greet(conn):
        await conn.send("hello")

    async with serve(greet) as server:
        assert await fetch_greeting(server.url) == "hello"


async def test_echo_round_trip():
    async with serve(echo) as server, WebSocket(server.url) as ws:
        ws.send(b"\x00\xff")
        assert await ws.recv() == b"\x00\xff"


async def test_server_unavailable():
    def unavailable(request):
        return HandshakeResponse(503, body=b"maintenance\n")

    async with serve(echo, process_request=unavailable) as server:
        with pytest.raises(InvalidStatus) as info:
            await fetch_greeting(server.url)
    assert info.value.status == 503
    assert "try again later" in str(info.value)
