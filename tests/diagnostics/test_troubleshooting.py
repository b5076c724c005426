"""docs/troubleshooting.md shows the exact message of every cause.

Each case reproduces a cause on loopback (as test_causes.py does) and checks that
the page quotes its message, word for word once the parts that change from run to
run are normalised (ports, the random Sec-WebSocket-Accept, nginx's version).
Run ``python -m tests.diagnostics.test_troubleshooting`` to print the current
messages when the page needs updating.
"""

from __future__ import annotations

import errno
import os
import re
import ssl
import sys
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import anyio
import pytest
import trustme

import wsapi
from tests.diagnostics.helpers import (
    TIMEOUT,
    free_port,
    future,
    never_accepting_listener,
    past,
    self_signed_context,
    server_context,
    tls_echo_server,
    trusting,
)
from tests.peers.nginx import NginxServer
from tests.peers.node_server import NodeWsServer
from tests.peers.scripted import RawConnection, ScriptedServer, sec_websocket_accept
from tests.peers.websockets_server import WebsocketsServer
from wsapi import WebSocket
from wsapi.testing import echo, serve
from wsapi.transport import connect as connect_module

PAGE = Path(__file__).resolve().parents[2] / "docs" / "troubleshooting.md"


class Peers:
    """The peers a case may use, started on demand and stopped at the end."""

    def __init__(self, stack: ExitStack, request: pytest.FixtureRequest | None) -> None:
        self.stack = stack
        self.request = request
        self._ca: trustme.CA | None = None

    def fixture(self, name: str) -> Any:
        if self.request is not None:
            return self.request.getfixturevalue(name)
        if name == "websockets_server":
            return self.stack.enter_context(WebsocketsServer())
        if name == "node_ws_server":
            return self.stack.enter_context(NodeWsServer())
        if name == "nginx_server":
            ca = trustme.CA()
            leaf = ca.issue_cert("localhost", "127.0.0.1")
            pems = (leaf.cert_chain_pems[0].bytes(), leaf.private_key_pem.bytes())
            backend = self.fixture("websockets_server")
            return self.stack.enter_context(NginxServer.proxy(backend.port, certificate=pems))
        raise KeyError(name)

    @property
    def ca(self) -> trustme.CA:
        if self._ca is None:
            self._ca = trustme.CA()
        return self._ca

    def scripted(self, script: Callable[[RawConnection], None]) -> ScriptedServer:
        return self.stack.enter_context(ScriptedServer(script))

    def tls(self, context: ssl.SSLContext) -> int:
        return self.stack.enter_context(tls_echo_server(context))


async def failure(url: str, **options: Any) -> str:
    with anyio.fail_after(TIMEOUT):
        try:
            async with WebSocket(url, **options):
                pass
        except wsapi.ConnectionFailed as exc:
            return str(exc)
    raise AssertionError(f"{url} connected")


def _respond(status: int, reason: str, headers: list[tuple[str, str]], body: bytes) -> Any:
    return lambda conn: conn.respond(status, reason, headers, body)


def _without(header: str) -> Callable[[RawConnection], None]:
    def script(conn: RawConnection) -> None:
        _, headers = conn.read_request()
        lines = ["HTTP/1.1 101 Switching Protocols"]
        lines += [f"{name}: websocket" for name in ("Upgrade",) if name != header]
        lines += [f"{name}: Upgrade" for name in ("Connection",) if name != header]
        lines.append(f"Sec-WebSocket-Accept: {sec_websocket_accept(headers['sec-websocket-key'])}")
        conn.send_raw(("\r\n".join(lines) + "\r\n\r\n").encode())

    return script


def _send_after_request(data: bytes) -> Callable[[RawConnection], None]:
    def script(conn: RawConnection) -> None:
        conn.read_request()
        conn.send_raw(data)

    return script


def _hang_up(conn: RawConnection) -> None:
    conn.read_request()
    conn.abort()


Case = Callable[[Peers], Awaitable[str]]


async def _dns(peers: Peers) -> str:
    return await failure("wss://ws.example.invalid/chat")


async def _refused(peers: Peers) -> str:
    return await failure(f"ws://127.0.0.1:{free_port()}/")


async def _tcp_timeout(peers: Peers) -> str:
    with never_accepting_listener(full=True) as port:
        return await failure(f"ws://127.0.0.1:{port}/", open_timeout=0.3)


async def _http_timeout(peers: Peers) -> str:
    with never_accepting_listener(full=False) as port:
        return await failure(f"ws://127.0.0.1:{port}/", open_timeout=0.3)


async def _unreachable(peers: Peers) -> str:
    async def no_route(host: str, port: int, **kwargs: Any) -> Any:
        raise OSError(errno.EHOSTUNREACH, os.strerror(errno.EHOSTUNREACH))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(connect_module, "connect_tcp", no_route)
        return await failure("ws://127.0.0.1:8080/")


async def _tls_timeout(peers: Peers) -> str:
    server = peers.scripted(lambda conn: conn.wait_eof(timeout=3.0))
    return await failure(server.url().replace("ws://", "wss://"), open_timeout=0.3)


async def _tls_alert(peers: Peers) -> str:
    alert = _send_after_request(b"\x15\x03\x01\x00\x02\x02\x46")
    return await failure(peers.scripted(alert).url("/chat"))


async def _not_tls(peers: Peers) -> str:
    async with serve(echo) as server:
        return await failure(server.url.replace("ws://", "wss://"))


async def _tls_port_nginx(peers: Peers) -> str:
    nginx = peers.fixture("nginx_server")
    return await failure(f"ws://127.0.0.1:{nginx.tls_port}/chat")


async def _tls_port_hang_up(peers: Peers) -> str:
    port = peers.tls(server_context(peers.ca.issue_cert("localhost")))
    return await failure(f"ws://127.0.0.1:{port}/")


async def _expired(peers: Peers) -> str:
    cert = peers.ca.issue_cert("localhost", not_before=past(400), not_after=past(35))
    return await failure(f"wss://localhost:{peers.tls(server_context(cert))}/", ssl=_trust(peers))


async def _not_yet_valid(peers: Peers) -> str:
    cert = peers.ca.issue_cert("localhost", not_before=future(30), not_after=future(400))
    return await failure(f"wss://localhost:{peers.tls(server_context(cert))}/", ssl=_trust(peers))


async def _mismatch(peers: Peers) -> str:
    cert = peers.ca.issue_cert("api.example.com")
    return await failure(f"wss://localhost:{peers.tls(server_context(cert))}/", ssl=_trust(peers))


async def _self_signed(peers: Peers) -> str:
    return await failure(f"wss://localhost:{peers.tls(self_signed_context('localhost'))}/")


async def _unknown_ca(peers: Peers) -> str:
    cert = peers.ca.issue_cert("localhost")
    return await failure(f"wss://localhost:{peers.tls(server_context(cert))}/")


def _trust(peers: Peers) -> ssl.SSLContext:
    return trusting(peers.ca)


async def _nginx(peers: Peers, path: str) -> str:
    return await failure(peers.fixture("nginx_server").url(path))


async def _no_upgrade(peers: Peers) -> str:
    return await _nginx(peers, "/no-upgrade/echo")


async def _http10(peers: Peers) -> str:
    from tests.diagnostics.test_causes import skip_unless_backend_answers_http_1_0

    skip_unless_backend_answers_http_1_0()
    return await _nginx(peers, "/http10/echo")


async def _wrong_location(peers: Peers) -> str:
    return await _nginx(peers, "/chat")


async def _backend_down(peers: Peers) -> str:
    return await _nginx(peers, "/down/chat")


async def _unauthorized(peers: Peers) -> str:
    server = peers.fixture("websockets_server")
    return await failure(server.url("/reject?status=401&body=token%20expired"))


async def _forbidden_origin(peers: Peers) -> str:
    server = peers.fixture("node_ws_server")
    return await failure(server.url("/origin-check?allow=https://app.example"))


async def _redirect(peers: Peers) -> str:
    moved = _respond(301, "Moved Permanently", [("Location", "https://example.com/ws")], b"")
    return await failure(peers.scripted(moved).url("/socket"))


async def _http10_answer(peers: Peers) -> str:
    page = b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<h1>It works!</h1>"
    server = peers.scripted(lambda conn: (_send_after_request(page)(conn), conn.close()))
    return await failure(server.url())


async def _no_upgrade_header(peers: Peers) -> str:
    return await failure(peers.scripted(_without("Upgrade")).url())


async def _no_connection_header(peers: Peers) -> str:
    return await failure(peers.scripted(_without("Connection")).url())


async def _wrong_accept(peers: Peers) -> str:
    server = peers.scripted(lambda conn: conn.accept(accept_key="bm90IHRoZSByaWdodCBrZXk="))
    return await failure(server.url())


async def _subprotocol(peers: Peers) -> str:
    server = peers.scripted(lambda conn: conn.accept(subprotocol="graphql-ws"))
    return await failure(server.url(), protocols=["chat.v1", "chat.v2"])


async def _extension(peers: Peers) -> str:
    server = peers.scripted(lambda conn: conn.accept(extensions="x-webkit-deflate-frame"))
    return await failure(server.url())


async def _not_http(peers: Peers) -> str:
    return await failure(peers.scripted(_send_after_request(b"SSH-2.0-OpenSSH_9.6\r\n")).url())


async def _aborted(peers: Peers) -> str:
    return await failure(peers.scripted(_hang_up).url())


#: Heading-free ids of the causes the page documents, and how to reproduce each.
CASES: dict[str, Case] = {
    "dns": _dns,
    "refused": _refused,
    "unreachable": _unreachable,
    "tcp-timeout": _tcp_timeout,
    "tls-timeout": _tls_timeout,
    "http-timeout": _http_timeout,
    "not-tls": _not_tls,
    "tls-alert": _tls_alert,
    "tls-port-nginx": _tls_port_nginx,
    "tls-port-hang-up": _tls_port_hang_up,
    "expired": _expired,
    "not-yet-valid": _not_yet_valid,
    "mismatch": _mismatch,
    "self-signed": _self_signed,
    "unknown-ca": _unknown_ca,
    "no-upgrade-forwarding": _no_upgrade,
    "http10-to-backend": _http10,
    "wrong-location": _wrong_location,
    "backend-down": _backend_down,
    "401": _unauthorized,
    "403-origin": _forbidden_origin,
    "redirect": _redirect,
    "http10-answer": _http10_answer,
    "no-upgrade-header": _no_upgrade_header,
    "no-connection-header": _no_connection_header,
    "wrong-accept": _wrong_accept,
    "subprotocol": _subprotocol,
    "extension": _extension,
    "not-http": _not_http,
    "aborted": _aborted,
}


def normalise(text: str) -> str:
    text = re.sub(r"(127\.0\.0\.1|localhost|\[::1\]):\d+", r"\1:PORT", text)
    text = re.sub(r"\bport \d+", "port PORT", text)
    text = re.sub(r"expected '[A-Za-z0-9+/]{27}='", "expected 'KEY'", text)
    text = re.sub(r"nginx/[\d.]+", "nginx/VERSION", text)
    return text


@pytest.mark.anyio
@pytest.mark.parametrize("case", list(CASES))
async def test_page_quotes_the_message(case: str, request: pytest.FixtureRequest) -> None:
    with ExitStack() as stack:
        message = await CASES[case](Peers(stack, request))
    page = normalise(PAGE.read_text(encoding="utf-8"))
    assert normalise(message) in page, f"docs/troubleshooting.md lacks:\n{message}"


def test_page_names_every_error_class() -> None:
    page = PAGE.read_text(encoding="utf-8")
    errors = [
        name
        for name in wsapi.__all__
        if isinstance(getattr(wsapi, name), type)
        and issubclass(getattr(wsapi, name), wsapi.WebSocketError)
    ]
    missing = [name for name in errors if f"`{name}`" not in page]
    assert not missing, f"docs/troubleshooting.md does not mention {missing}"


async def _print_all() -> None:
    with ExitStack() as stack:
        peers = Peers(stack, None)
        for name, case in CASES.items():
            print(f"[{name}]\n{await case(peers)}\n")


if __name__ == "__main__":
    anyio.run(_print_all, backend=sys.argv[1] if len(sys.argv) > 1 else "asyncio")
