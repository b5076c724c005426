"""wsapi against Node.js's ``ws`` server (tests/peers/node/server.js).

The same cases as test_websockets_peer.py (from tests/integration/cases.py), plus
what differs with this server: it selects subprotocols in the client's order and
accepts a client that offers none, and /origin-check refuses unknown Origins.
Skipped when Node or the ws package is missing (``npm ci --prefix tests/peers/node``).
"""

from __future__ import annotations

import pytest

from tests.integration import cases
from tests.peers.node_server import NodeWsServer
from wsapi import WebSocket

pytestmark = [pytest.mark.anyio, pytest.mark.peer]


@pytest.fixture
def url_for(node_ws_server: NodeWsServer) -> cases.UrlFor:
    return node_ws_server.url


@pytest.mark.parametrize("compression", ["deflate", None])
@pytest.mark.parametrize("size", cases.SIZES)
async def test_echo(url_for: cases.UrlFor, size: int, compression: str | None) -> None:
    await cases.echo_size(url_for, size, compression=compression)


async def test_echo_bytes_like(url_for: cases.UrlFor) -> None:
    await cases.echo_bytes_like(url_for)


async def test_burst_in_order(url_for: cases.UrlFor) -> None:
    await cases.burst_in_order(url_for)


async def test_interleaved_send_recv(url_for: cases.UrlFor) -> None:
    await cases.interleaved(url_for)


async def test_send_route(url_for: cases.UrlFor) -> None:
    await cases.send_route(url_for)


async def test_message_listeners(url_for: cases.UrlFor) -> None:
    await cases.message_listeners(url_for)


async def test_event_order_clean(url_for: cases.UrlFor) -> None:
    await cases.event_order_clean(url_for)


async def test_event_order_failure(url_for: cases.UrlFor) -> None:
    await cases.event_order_failure(url_for)


async def test_server_close(url_for: cases.UrlFor) -> None:
    await cases.server_close(url_for)


@pytest.mark.parametrize(
    "code, reason",
    [(1000, ""), (1001, "going away"), (1011, "oops"), (3000, "x"), (4999, "é" * 61 + "!")],
)
async def test_server_close_code(url_for: cases.UrlFor, code: int, reason: str) -> None:
    await cases.server_close_code(url_for, code, reason)


async def test_close_race(url_for: cases.UrlFor) -> None:
    await cases.close_race(url_for)


async def test_server_close_no_code(url_for: cases.UrlFor) -> None:
    await cases.server_close_no_code(url_for)


async def test_client_close(url_for: cases.UrlFor) -> None:
    await cases.client_close(url_for)


async def test_client_close_no_code(url_for: cases.UrlFor) -> None:
    await cases.client_close_no_code(url_for)


async def test_leave_async_with(url_for: cases.UrlFor) -> None:
    await cases.leave_async_with(url_for)


async def test_leave_async_with_by_exception(url_for: cases.UrlFor) -> None:
    await cases.leave_async_with_by_exception(url_for)


async def test_recv_timeout_loses_nothing(url_for: cases.UrlFor) -> None:
    await cases.recv_timeout_loses_nothing(url_for)


async def test_http_url(url_for: cases.UrlFor) -> None:
    await cases.http_url(url_for)


async def test_close_in_the_101_read(url_for: cases.UrlFor) -> None:
    await cases.close_in_the_101_read(url_for)


async def test_pings_in_the_101_read(url_for: cases.UrlFor) -> None:
    await cases.pings_in_the_101_read(url_for)


@pytest.mark.parametrize(
    "offered, expected",
    [
        (["chat.v1", "chat.v2"], "chat.v1"),  # ws picks by the client's order
        (["chat.v2", "chat.v1"], "chat.v2"),
        (["other", "chat.v1"], "chat.v1"),
        (["other"], ""),  # nothing in common: ws accepts without a subprotocol
        (None, ""),
    ],
)
async def test_subprotocol(url_for: cases.UrlFor, offered: list[str] | None, expected: str) -> None:
    await cases.subprotocol(url_for, offered, expected)


async def test_server_pings(url_for: cases.UrlFor) -> None:
    await cases.server_pings(url_for)


async def test_compression_default(url_for: cases.UrlFor) -> None:
    await cases.compression_default(url_for)


async def test_compression_off(url_for: cases.UrlFor) -> None:
    await cases.compression_off(url_for)


async def test_headers(url_for: cases.UrlFor) -> None:
    await cases.headers_sent(url_for)


async def test_repeated_headers(url_for: cases.UrlFor) -> None:
    await cases.repeated_headers_sent(url_for)


async def test_user_agent(url_for: cases.UrlFor) -> None:
    await cases.user_agent_sent(url_for)


@pytest.mark.parametrize("origin", ["http://evil.example", "http://good.example:8080", None])
async def test_origin_check_refuses(url_for: cases.UrlFor, origin: str | None) -> None:
    exc, _, _ = await cases.refused(
        url_for("/origin-check?allow=http://good.example"), origin=origin
    )
    assert exc.status == 403
    assert exc.response is not None and exc.response.status == 403
    assert "403" in str(exc)
    assert "Origin" in str(exc)  # the usual reason for a 403 to an upgrade


async def test_origin_check_accepts(url_for: cases.UrlFor) -> None:
    async with WebSocket(
        url_for("/origin-check?allow=http://good.example"), origin="http://good.example"
    ) as ws:
        ws.send("let in")
        assert await ws.recv() == "let in"


async def test_unknown_route_404(url_for: cases.UrlFor) -> None:
    exc, _, _ = await cases.refused(url_for("/nowhere"))
    assert exc.status == 404


async def test_buffered_amount_drains(url_for: cases.UrlFor) -> None:
    await cases.buffered_amount_drains(url_for)


async def test_send_while_connecting(url_for: cases.UrlFor) -> None:
    await cases.send_while_connecting(url_for)


async def test_send_after_close(url_for: cases.UrlFor) -> None:
    await cases.send_after_close(url_for)
