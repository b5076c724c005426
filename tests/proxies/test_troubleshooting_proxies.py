"""docs/troubleshooting.md shows the exact message of every proxy and Unix socket cause.

As tests/diagnostics/test_troubleshooting.py does for the other causes: each case
reproduces the cause on loopback, with real proxies where one can produce it
(tinyproxy, microsocks), and the page must quote the message word for word once
ports are normalised. Run ``python -m tests.proxies.test_troubleshooting_proxies``
to print the current messages when the page needs updating.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from typing import Any

import anyio
import pytest
import trustme

import wsapi
from tests.diagnostics.helpers import free_port, server_context
from tests.diagnostics.test_troubleshooting import PAGE, failure, normalise
from tests.peers.microsocks import MicrosocksServer
from tests.peers.scripted import RawConnection, ScriptedServer
from tests.peers.tinyproxy import TinyproxyServer
from tests.peers.tls_relay import TLSRelay


class Peers:
    """The peers a case may use, started on demand (pytest fixtures under pytest)."""

    def __init__(self, stack: ExitStack, request: pytest.FixtureRequest | None) -> None:
        self.stack = stack
        self.request = request
        self.monkeypatch = stack.enter_context(pytest.MonkeyPatch.context())

    def fixture(self, name: str) -> Any:
        if self.request is not None:
            return self.request.getfixturevalue(name)
        if name == "tinyproxy_server":
            return self.stack.enter_context(TinyproxyServer())
        if name == "tinyproxy_auth_server":
            return self.stack.enter_context(TinyproxyServer(credentials=("alice", "s3cret")))
        if name == "microsocks_server":
            return self.stack.enter_context(MicrosocksServer())
        if name == "microsocks_auth_server":
            return self.stack.enter_context(MicrosocksServer(credentials=("bob", "pw")))
        raise KeyError(name)

    def scripted(self, script: Callable[[RawConnection], None]) -> ScriptedServer:
        return self.stack.enter_context(ScriptedServer(script))


Case = Callable[[Peers], Awaitable[str]]


async def _refused(peers: Peers) -> str:
    return await failure("wss://example.com/chat", proxy=f"http://127.0.0.1:{free_port()}")


async def _refused_env(peers: Peers) -> str:
    peers.monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{free_port()}")
    return await failure("wss://example.com/chat")


async def _unknown_host(peers: Peers) -> str:
    return await failure("wss://example.com/chat", proxy="http://proxy.example.invalid:3128")


async def _timeout(peers: Peers) -> str:
    server = peers.scripted(lambda conn: (conn.read_request(), conn.wait_eof(timeout=3.0)))
    proxy = f"http://127.0.0.1:{server.port}"
    return await failure("wss://example.com/chat", proxy=proxy, open_timeout=0.3)


async def _auth_required(peers: Peers) -> str:
    proxy = peers.fixture("tinyproxy_auth_server")
    return await failure("wss://example.com/chat", proxy=f"http://127.0.0.1:{proxy.port}")


async def _credentials_rejected(peers: Peers) -> str:
    proxy = peers.fixture("tinyproxy_auth_server")
    return await failure("wss://example.com/chat", proxy=proxy.url(credentials=("alice", "x")))


async def _unable_to_connect(peers: Peers) -> str:
    proxy = peers.fixture("tinyproxy_server")
    return await failure(f"ws://127.0.0.1:{free_port()}/chat", proxy=proxy.url())


async def _forbidden(peers: Peers) -> str:
    server = peers.scripted(lambda conn: conn.respond(403, "Forbidden"))
    return await failure("wss://example.com:8443/chat", proxy=f"http://127.0.0.1:{server.port}")


async def _closed(peers: Peers) -> str:
    server = peers.scripted(lambda conn: (conn.read_request(), conn.close()))
    return await failure("wss://example.com/chat", proxy=f"http://127.0.0.1:{server.port}")


async def _socks_as_http(peers: Peers) -> str:
    proxy = peers.fixture("microsocks_server")
    return await failure("wss://example.com/chat", proxy=proxy.url(scheme="http"))


async def _socks_auth_required(peers: Peers) -> str:
    proxy = peers.fixture("microsocks_auth_server")
    return await failure("wss://example.com/chat", proxy=f"socks5h://127.0.0.1:{proxy.port}")


async def _socks_credentials_rejected(peers: Peers) -> str:
    proxy = peers.fixture("microsocks_auth_server")
    url = proxy.url(credentials=("bob", "x"), scheme="socks5h")
    return await failure("wss://example.com/chat", proxy=url)


async def _socks_refused(peers: Peers) -> str:
    proxy = peers.fixture("microsocks_server")
    return await failure(f"ws://127.0.0.1:{free_port()}/chat", proxy=proxy.url())


async def _socks_unknown_host(peers: Peers) -> str:
    proxy = peers.fixture("microsocks_server")
    return await failure("wss://ws.example.invalid/chat", proxy=proxy.url(scheme="socks5h"))


async def _socks_not_installed(peers: Peers) -> str:
    peers.monkeypatch.setitem(sys.modules, "socksio", None)
    peers.monkeypatch.setenv("ALL_PROXY", "socks5h://127.0.0.1:1080")
    return await failure("wss://example.com/chat")


async def _invalid_variable(peers: Peers) -> str:
    peers.monkeypatch.setenv("HTTPS_PROXY", "socks4://127.0.0.1:1080")
    return await failure("wss://example.com/chat")


async def _tls_untrusted(peers: Peers) -> str:
    tinyproxy = peers.fixture("tinyproxy_server")
    cert = trustme.CA().issue_cert("localhost")
    relay = peers.stack.enter_context(TLSRelay(tinyproxy.port, server_context(cert)))
    return await failure("wss://example.com/chat", proxy=f"https://localhost:{relay.port}")


async def _tls_plain(peers: Peers) -> str:
    answer = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
    server = peers.scripted(lambda conn: conn.send_raw(answer))
    return await failure("wss://example.com/chat", proxy=f"https://127.0.0.1:{server.port}")


async def _unix_missing(peers: Peers) -> str:
    return await failure("ws://localhost/chat", unix_socket="/run/myapp/ws.sock")


#: Ids of the causes the page documents, and how to reproduce each.
CASES: dict[str, Case] = {
    "proxy-refused": _refused,
    "proxy-refused-env": _refused_env,
    "proxy-unknown-host": _unknown_host,
    "proxy-timeout": _timeout,
    "proxy-407": _auth_required,
    "proxy-credentials-rejected": _credentials_rejected,
    "proxy-500": _unable_to_connect,
    "proxy-403": _forbidden,
    "proxy-closed": _closed,
    "socks-as-http": _socks_as_http,
    "socks-auth-required": _socks_auth_required,
    "socks-credentials-rejected": _socks_credentials_rejected,
    "socks-refused": _socks_refused,
    "socks-unknown-host": _socks_unknown_host,
    "socks-not-installed": _socks_not_installed,
    "invalid-variable": _invalid_variable,
    "proxy-tls-untrusted": _tls_untrusted,
    "proxy-tls-plain": _tls_plain,
    "unix-missing": _unix_missing,
}


@pytest.mark.anyio
@pytest.mark.parametrize("case", list(CASES))
async def test_page_quotes_the_message(case: str, request: pytest.FixtureRequest) -> None:
    with ExitStack() as stack:
        message = await CASES[case](Peers(stack, request))
    page = normalise(PAGE.read_text(encoding="utf-8"))
    assert normalise(message) in page, f"docs/troubleshooting.md lacks:\n{message}"


def test_page_names_every_proxy_error_class() -> None:
    page = PAGE.read_text(encoding="utf-8")
    names = [name for name in wsapi.__all__ if "Proxy" in name or "SOCKS" in name]
    assert len(names) == 8
    assert [name for name in names if f"`{name}`" not in page] == []


async def _print_all() -> None:
    for name, case in CASES.items():
        with ExitStack() as stack:
            print(f"[{name}]\n{await case(Peers(stack, None))}\n")


if __name__ == "__main__":
    anyio.run(_print_all, backend=sys.argv[1] if len(sys.argv) > 1 else "asyncio")
