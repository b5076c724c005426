"""wsapi against a real server: the ``websockets`` library's (tests/peers/websockets_server.py).

The cases live in tests/integration/cases.py and also run against Node's ws
(test_node_ws.py); this module adds what only this server has (/reject, and the
400 on /subprotocol when the client offers none).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration import cases
from tests.peers.websockets_server import WebsocketsServer

pytestmark = pytest.mark.anyio


@pytest.fixture
def url_for(websockets_server: WebsocketsServer) -> Iterator[cases.UrlFor]:
    """The server's URL builder; fails the test if a route handler raised meanwhile."""
    seen = len(websockets_server.errors)
    yield websockets_server.url
    assert websockets_server.errors[seen:] == []


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
        (["chat.v1", "chat.v2"], "chat.v2"),  # websockets picks by the server's order
        (["chat.v2", "chat.v1"], "chat.v2"),
        (["chat.v1"], "chat.v1"),
        (["other", "chat.v1"], "chat.v1"),
    ],
)
async def test_subprotocol(url_for: cases.UrlFor, offered: list[str], expected: str) -> None:
    await cases.subprotocol(url_for, offered, expected)


@pytest.mark.parametrize("offered", [None, ["other"]])
async def test_subprotocol_none_refused(url_for: cases.UrlFor, offered: list[str] | None) -> None:
    """websockets answers 400 when the client offers no subprotocol it supports."""
    exc, _, _ = await cases.refused(url_for("/subprotocol"), protocols=offered)
    assert exc.status == 400
    assert exc.response is not None and exc.response.status == 400


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


async def test_reject_401(url_for: cases.UrlFor) -> None:
    exc, _, _ = await cases.refused(url_for("/reject?status=401&body=no+token"))
    assert exc.response is not None
    assert exc.response.status == 401
    assert exc.status == 401
    assert exc.response.json() == {"error": "no token"}
    assert exc.response.header("content-type") == "application/json"
    assert "401" in str(exc)
    assert str(exc).startswith(f"WebSocket connection to '{url_for('/reject')}")


async def test_reject_404_unknown_route(url_for: cases.UrlFor) -> None:
    exc, _, _ = await cases.refused(url_for("/nowhere"))
    assert exc.status == 404
    assert exc.response is not None
    assert exc.response.json() == {"error": "no route /nowhere"}


async def test_reject_403(url_for: cases.UrlFor) -> None:
    exc, _, _ = await cases.refused(url_for("/reject?status=403&body=go+away"))
    assert exc.status == 403
    assert exc.response is not None
    assert exc.response.json() == {"error": "go away"}
    assert "Origin" in str(exc)  # the fix for a 403 names the usual suspect


async def test_buffered_amount_drains(url_for: cases.UrlFor) -> None:
    await cases.buffered_amount_drains(url_for)


async def test_send_while_connecting(url_for: cases.UrlFor) -> None:
    await cases.send_while_connecting(url_for)


async def test_send_after_close(url_for: cases.UrlFor) -> None:
    await cases.send_after_close(url_for)
