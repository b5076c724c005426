"""Sanity checks of the test peers themselves, using the websockets library's sync client."""

from __future__ import annotations

import base64
import json
import os
import socket
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK, InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol

from tests.peers import REQUIRE_PEERS_ENV, node_server, require_peer
from tests.peers.node_server import NodeWsServer, node_peer_status
from tests.peers.scripted import (
    Frame,
    Opcode,
    RawConnection,
    ScriptedServer,
    ScriptError,
    close_payload,
    deflate_bomb,
    deflate_payload,
    frame_bytes,
    sec_websocket_accept,
)
from tests.peers.websockets_server import WebsocketsServer, send_payload

TIMEOUT = 5.0
BIG = 16 * 2**20

node_peer = pytest.mark.peer


def client(url: str, **kwargs: Any) -> ClientConnection:
    """websockets' sync client with short timeouts; ``kwargs`` go to ``connect``."""
    kwargs.setdefault("open_timeout", TIMEOUT)
    kwargs.setdefault("close_timeout", TIMEOUT)
    ws: ClientConnection = connect(url, **kwargs)
    return ws


def closed_by_server(ws: ClientConnection) -> ConnectionClosed:
    with pytest.raises(ConnectionClosed) as info:
        ws.recv(timeout=TIMEOUT)
    return info.value


# Both real servers share these routes.


@pytest.fixture(params=["websockets", pytest.param("node", marks=node_peer)])
def real_server(
    request: pytest.FixtureRequest,
) -> Iterator[WebsocketsServer | NodeWsServer]:
    name = "websockets_server" if request.param == "websockets" else "node_ws_server"
    yield request.getfixturevalue(name)


def test_echo(real_server: WebsocketsServer | NodeWsServer) -> None:
    with client(real_server.url("/echo")) as ws:
        ws.send("héllo")
        assert ws.recv(timeout=TIMEOUT) == "héllo"
        ws.send(b"\x00\xffbytes")
        assert ws.recv(timeout=TIMEOUT) == b"\x00\xffbytes"


def test_echo_16_mib(real_server: WebsocketsServer | NodeWsServer) -> None:
    payload = send_payload(7, BIG)
    with client(real_server.url("/echo"), max_size=None) as ws:
        ws.send(payload)
        assert ws.recv(timeout=TIMEOUT) == payload


def test_close_with_code(real_server: WebsocketsServer | NodeWsServer) -> None:
    with client(real_server.url("/close?code=4000&reason=bye")) as ws:
        closed = closed_by_server(ws)
    assert closed.rcvd is not None
    assert (closed.rcvd.code, closed.rcvd.reason) == (4000, "bye")


def test_close_without_code(real_server: WebsocketsServer | NodeWsServer) -> None:
    with client(real_server.url("/close-no-code")) as ws:
        closed = closed_by_server(ws)
    # websockets reports an empty Close payload as 1005; 1005 on the wire would be a
    # protocol error (it would fail the connection with 1002 instead).
    assert closed.rcvd is not None
    assert (closed.rcvd.code, closed.rcvd.reason) == (1005, "")


def raw_client(port: int, path: str) -> RawConnection:
    """A bare TCP client that did the opening handshake; read frames with read_frame()."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    sock.sendall(request.encode())
    conn = RawConnection(sock, ("127.0.0.1", port))
    status_line, headers = conn.read_request()  # parses a response head just as well
    assert status_line.startswith("HTTP/1.1 101 "), status_line
    assert headers["sec-websocket-accept"] == sec_websocket_accept(key)
    return conn


def test_close_without_code_on_the_wire(real_server: WebsocketsServer | NodeWsServer) -> None:
    conn = raw_client(real_server.port, "/close-no-code")
    try:
        assert conn.read_frame() == Frame(fin=True, opcode=Opcode.CLOSE, payload=b"")
        conn.send_raw(frame_bytes(Opcode.CLOSE, b"", mask=True))
        assert conn.read_frame() is None  # the server then closes the TCP connection
    finally:
        conn.close()


def test_ping_frames_on_the_wire(real_server: WebsocketsServer | NodeWsServer) -> None:
    conn = raw_client(real_server.port, "/ping?count=2")
    try:
        for index in (1, 2):
            ping = conn.read_frame()
            assert ping == Frame(fin=True, opcode=Opcode.PING, payload=f"ping {index}".encode())
            conn.send_raw(frame_bytes(Opcode.PONG, ping.payload, mask=True))
        assert conn.read_frame() == Frame(fin=True, opcode=Opcode.TEXT, payload=b"pinged 2")
    finally:
        conn.abort()


def test_ping(real_server: WebsocketsServer | NodeWsServer) -> None:
    with client(real_server.url("/ping?count=3")) as ws:
        assert ws.recv(timeout=TIMEOUT) == "pinged 3"
        ws.send("after")
        assert ws.recv(timeout=TIMEOUT) == "after"


def test_headers(real_server: WebsocketsServer | NodeWsServer) -> None:
    with client(real_server.url("/headers"), additional_headers={"X-Wsapi-Test": "yes"}) as ws:
        headers = json.loads(ws.recv(timeout=TIMEOUT))
        ws.send("echo")
        assert ws.recv(timeout=TIMEOUT) == "echo"
    assert headers["x-wsapi-test"] == "yes"
    assert headers["upgrade"].lower() == "websocket"
    assert "sec-websocket-key" in headers
    assert all(name == name.lower() for name in headers)


def test_send(real_server: WebsocketsServer | NodeWsServer) -> None:
    with client(real_server.url("/send?count=3&size=300")) as ws:
        for index in range(3):
            assert ws.recv(timeout=TIMEOUT) == send_payload(index, 300)
        with pytest.raises(ConnectionClosedOK) as info:
            ws.recv(timeout=TIMEOUT)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1000


def test_send_16_mib(real_server: WebsocketsServer | NodeWsServer) -> None:
    with client(real_server.url(f"/send?count=1&size={BIG}"), max_size=None) as ws:
        assert ws.recv(timeout=TIMEOUT) == send_payload(0, BIG)


@pytest.mark.parametrize("compression", ["deflate", None])
def test_compression(real_server: WebsocketsServer | NodeWsServer, compression: str | None) -> None:
    with client(real_server.url("/compression"), compression=compression) as ws:
        extensions = ws.recv(timeout=TIMEOUT)
        ws.send("x" * 1000)
        assert ws.recv(timeout=TIMEOUT) == "x" * 1000
    assert isinstance(extensions, str)
    if compression:
        assert extensions.startswith("permessage-deflate")
    else:
        assert extensions == ""


def test_unknown_path_is_404(real_server: WebsocketsServer | NodeWsServer) -> None:
    with pytest.raises(InvalidStatus) as info:
        client(real_server.url("/nope"))
    assert info.value.response.status_code == 404


# websockets-only routes


def test_websockets_subprotocol_server_preference(websockets_server: WebsocketsServer) -> None:
    offered = [Subprotocol("chat.v1"), Subprotocol("chat.v2")]
    with client(websockets_server.url("/subprotocol"), subprotocols=offered) as ws:
        assert ws.subprotocol == "chat.v2"
        assert ws.recv(timeout=TIMEOUT) == "chat.v2"
        ws.send("echo")
        assert ws.recv(timeout=TIMEOUT) == "echo"


def test_websockets_subprotocol_required(websockets_server: WebsocketsServer) -> None:
    with pytest.raises(InvalidStatus) as info:
        client(websockets_server.url("/subprotocol"))
    assert info.value.response.status_code == 400


def test_websockets_other_routes_ignore_subprotocols(websockets_server: WebsocketsServer) -> None:
    with client(websockets_server.url("/echo"), subprotocols=[Subprotocol("chat.v1")]) as ws:
        assert ws.subprotocol is None


def test_websockets_reject(websockets_server: WebsocketsServer) -> None:
    with pytest.raises(InvalidStatus) as info:
        client(websockets_server.url("/reject?status=401&body=no+token"))
    response = info.value.response
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/json"
    assert json.loads(response.body) == {"error": "no token"}


def test_websockets_server_on_ipv6_loopback() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 support")
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("::1 is not available")
    with WebsocketsServer(host="::1") as server:
        assert server.url("/echo").startswith("ws://[::1]:")
        with client(server.url("/echo")) as ws:
            ws.send("v6")
            assert ws.recv(timeout=TIMEOUT) == "v6"


def test_websockets_server_recorded_no_errors(websockets_server: WebsocketsServer) -> None:
    websockets_server.check()


# Node-only routes


@node_peer
def test_node_subprotocol_client_order(node_ws_server: NodeWsServer) -> None:
    offered = [Subprotocol("other"), Subprotocol("chat.v1"), Subprotocol("chat.v2")]
    with client(node_ws_server.url("/subprotocol"), subprotocols=offered) as ws:
        assert ws.subprotocol == "chat.v1"
        assert ws.recv(timeout=TIMEOUT) == "chat.v1"


@node_peer
def test_node_subprotocol_none_in_common(node_ws_server: NodeWsServer) -> None:
    with client(node_ws_server.url("/subprotocol"), subprotocols=[Subprotocol("x")]) as ws:
        assert ws.subprotocol is None
        assert ws.recv(timeout=TIMEOUT) == ""


@node_peer
def test_node_origin_check(node_ws_server: NodeWsServer) -> None:
    url = node_ws_server.url("/origin-check?allow=http://good.example")
    with client(url, origin="http://good.example") as ws:
        ws.send("ok")
        assert ws.recv(timeout=TIMEOUT) == "ok"
    with pytest.raises(InvalidStatus) as info:
        client(url, origin="http://evil.example")
    assert info.value.response.status_code == 403
    with pytest.raises(InvalidStatus) as info:
        client(url)
    assert info.value.response.status_code == 403


@node_peer
def test_node_server_restarts_cleanly() -> None:
    require_peer(*node_peer_status())
    with NodeWsServer() as server:
        process = server._process
        assert process is not None
        with client(server.url("/echo")) as ws:
            ws.send("x")
            assert ws.recv(timeout=TIMEOUT) == "x"
    assert process.returncode is not None


# require_peer


def test_require_peer_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REQUIRE_PEERS_ENV, raising=False)
    require_peer(True, "present")
    with pytest.raises(pytest.skip.Exception, match="npm ci"):
        require_peer(False, "missing: run `npm ci --prefix tests/peers/node`")


def test_require_peer_fails_when_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(REQUIRE_PEERS_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="npm ci"):
        require_peer(False, "missing: run `npm ci --prefix tests/peers/node`")


def test_node_peer_status_without_node(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(node_server, "node_binary", lambda: None)
    available, reason = node_server.node_peer_status()
    assert not available
    assert "`node`" in reason and "npm ci --prefix tests/peers/node" in reason


# Scripted servers


def test_scripted_accept_and_send_text() -> None:
    seen: list[tuple[str, dict[str, str]]] = []

    def script(conn: RawConnection) -> None:
        seen.append(conn.read_request())
        conn.accept(extra_headers=[("X-Scripted", "1")])
        conn.send_frame(Opcode.TEXT, b"hello")
        frame = conn.read_frame()
        assert frame == Frame(fin=True, opcode=Opcode.TEXT, payload=b"back", masked=True)
        assert conn.read_close() == (1000, "done")
        conn.send_close(1000, "done")

    with ScriptedServer(script) as server, client(server.url("/path?q=1")) as ws:
        assert ws.response is not None and ws.response.headers["X-Scripted"] == "1"
        assert ws.recv(timeout=TIMEOUT) == "hello"
        ws.send("back")
        ws.close(1000, "done")
        server.wait_scripts()
    request_line, headers = seen[0]
    assert request_line == "GET /path?q=1 HTTP/1.1"
    assert headers["upgrade"].lower() == "websocket"
    assert headers["sec-websocket-version"] == "13"


def test_scripted_non_101_response() -> None:
    def script(conn: RawConnection) -> None:
        conn.read_request()
        conn.send_raw(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\ndown")

    with ScriptedServer(script) as server:
        with pytest.raises(InvalidStatus) as info:
            client(server.url())
        server.wait_scripts()
    assert info.value.response.status_code == 503
    assert info.value.response.body == b"down"


def test_scripted_wrong_accept_key_is_refused() -> None:
    def script(conn: RawConnection) -> None:
        conn.accept(accept_key="d3Jvbmc=")

    with ScriptedServer(script) as server, pytest.raises(Exception, match="Sec-WebSocket-Accept"):
        client(server.url())


def test_scripted_abort_resets_connection() -> None:
    def script(conn: RawConnection) -> None:
        conn.accept()
        assert conn.read_frame() == Frame(True, Opcode.TEXT, b"ping me", masked=True)
        conn.abort()

    with ScriptedServer(script) as server, client(server.url()) as ws:
        ws.send("ping me")
        closed = closed_by_server(ws)
        assert closed.rcvd is None  # no Close frame: the TCP connection was reset


def test_scripted_compressed_frame() -> None:
    def script(conn: RawConnection) -> None:
        conn.accept(extensions="permessage-deflate; server_no_context_takeover")
        conn.send_frame(Opcode.TEXT, deflate_payload(b"squeeze " * 100), rsv1=True)
        assert conn.read_close() == (1000, "")

    with ScriptedServer(script) as server, client(server.url()) as ws:
        assert ws.recv(timeout=TIMEOUT) == "squeeze " * 100


def test_scripted_script_errors_are_raised() -> None:
    def script(conn: RawConnection) -> None:
        conn.read_request()
        raise RuntimeError("script blew up")

    with pytest.raises(ScriptError, match="script blew up"):  # noqa: SIM117
        with ScriptedServer(script) as server:
            with pytest.raises(Exception):  # noqa: B017 - the handshake fails somehow
                client(server.url())
            server.wait_connections(1)


def test_scripted_server_fixture(scripted_server: Callable[..., ScriptedServer]) -> None:
    def script(conn: RawConnection) -> None:
        conn.accept()
        conn.send_close(None)
        assert conn.read_close() == (None, "")

    server = scripted_server(script)
    with client(server.url()) as ws:
        closed = closed_by_server(ws)
    assert closed.rcvd is not None and closed.rcvd.code == 1005


def test_scripted_stuck_script_is_reported() -> None:
    def script(conn: RawConnection) -> None:
        conn.read_request()
        conn.read_frame(timeout=30)  # the client never sends anything

    server = ScriptedServer(script, stop_timeout=0.2, raise_errors=False)
    with server, socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        server.wait_connections(1)
        server.stop()
    assert any(isinstance(e, TimeoutError) for e in server.errors)


# Module-level helpers


def test_frame_bytes() -> None:
    assert frame_bytes(Opcode.TEXT, b"hi") == b"\x81\x02hi"
    assert frame_bytes(Opcode.BINARY, b"", fin=False, rsv1=True) == b"\x42\x00"
    assert frame_bytes(Opcode.BINARY, b"x" * 200)[:4] == b"\x82\x7e\x00\xc8"
    lying = frame_bytes(Opcode.BINARY, b"", length=2**63)
    assert lying == b"\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00"
    long_form = frame_bytes(Opcode.TEXT, b"a", length_bits=64)
    assert long_form == b"\x81\x7f" + (1).to_bytes(8, "big") + b"a"
    masked = frame_bytes(Opcode.TEXT, b"abcd", mask=True, mask_key=b"\x01\x02\x03\x04")
    assert masked == b"\x81\x84\x01\x02\x03\x04" + bytes([0x60, 0x60, 0x60, 0x60])
    assert close_payload(1000, "ok") == b"\x03\xe8ok"
    assert sec_websocket_accept("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_deflate_bomb_inflates_to_size() -> None:
    size = 8 * 2**20 + 3
    bomb = deflate_bomb(size)
    assert len(bomb) < size // 500
    inflater = zlib.decompressobj(-15)
    total = 0
    data = bomb + b"\x00\x00\xff\xff"
    while data:
        chunk = inflater.decompress(data, 2**20)
        total += len(chunk)
        assert chunk.count(0) == len(chunk)
        data = inflater.unconsumed_tail
    assert total == size


def test_default_deflate_bomb_is_small() -> None:
    assert len(deflate_bomb()) < 200 * 1024
