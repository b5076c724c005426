"""wsapi's own plain TCP stream on asyncio (transport/asyncio_stream.py), over real sockets.

It must behave as anyio's ``SocketStream`` does for everything wsapi asks of
it: reads split and in order, the end of the stream, a broken connection,
flow control on writes, closing, the socket attributes, and TLS on top.
Under trio ``connect_tcp`` gives anyio's stream, which the same checks hold for.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
import trustme
from anyio.abc import SocketAttribute, SocketStream
from anyio.streams.tls import TLSStream

from wsapi.transport.asyncio_stream import READ_AHEAD, AsyncioTCPStream
from wsapi.transport.connect import connect_tcp

pytestmark = pytest.mark.anyio

TIMEOUT = 10.0


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        sock.settimeout(TIMEOUT)
        yield sock


async def open_pair(listener: socket.socket) -> tuple[SocketStream, socket.socket]:
    stream = await connect_tcp("127.0.0.1", listener.getsockname()[1])
    peer, _ = await anyio.to_thread.run_sync(listener.accept)
    peer.settimeout(TIMEOUT)
    return stream, peer


async def test_the_backend_gets_its_stream(listener: socket.socket, anyio_backend: str) -> None:
    stream, peer = await open_pair(listener)
    with peer:
        async with stream:
            expected = AsyncioTCPStream if anyio_backend == "asyncio" else SocketStream
            assert isinstance(stream, expected)
            assert isinstance(stream, SocketStream)
            sock = stream.extra(SocketAttribute.raw_socket)
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


async def test_reads_come_in_order_and_split_to_max_bytes(listener: socket.socket) -> None:
    stream, peer = await open_pair(listener)
    with peer:
        async with stream:
            peer.sendall(b"0123456789")
            got = b""
            while len(got) < 10:
                chunk = await stream.receive(3)
                assert 0 < len(chunk) <= 3
                got += chunk
            assert got == b"0123456789"


async def test_end_of_stream_after_the_data(listener: socket.socket) -> None:
    stream, peer = await open_pair(listener)
    async with stream:
        peer.sendall(b"last words")
        peer.shutdown(socket.SHUT_WR)
        got = b""
        with pytest.raises(anyio.EndOfStream):
            while True:
                got += await stream.receive()
        assert got == b"last words"
        # Half-closed by the peer: we may still write, and it reads it.
        await stream.send(b"reply")
        assert peer.recv(100) == b"reply"
        peer.close()


async def test_a_reset_is_a_broken_resource(listener: socket.socket) -> None:
    stream, peer = await open_pair(listener)
    async with stream:
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        peer.close()  # RST
        with pytest.raises((anyio.BrokenResourceError, anyio.EndOfStream)):
            with anyio.fail_after(TIMEOUT):
                while True:
                    await stream.receive()
        with pytest.raises(anyio.BrokenResourceError):
            for _ in range(100):  # the kernel may take a write or two before it says so
                await stream.send(b"x" * 65536)
                await anyio.sleep(0.01)


async def test_send_waits_until_the_peer_reads(listener: socket.socket) -> None:
    stream, peer = await open_pair(listener)
    with peer:
        async with stream:
            size = 16 * 2**20  # more than loopback's buffers hold
            sent = anyio.Event()
            received = bytearray()

            async def sender() -> None:
                await stream.send(b"z" * size)
                sent.set()

            async with anyio.create_task_group() as tg:
                tg.start_soon(sender)
                await anyio.sleep(0.2)
                assert not sent.is_set()  # nobody reads: send() has not returned

                def drain() -> None:
                    while len(received) < size:
                        received.extend(peer.recv(1 << 20))

                await anyio.to_thread.run_sync(drain)
                with anyio.fail_after(TIMEOUT):
                    await sent.wait()
            assert len(received) == size


async def test_reading_stops_when_nobody_takes_the_data(listener: socket.socket) -> None:
    stream, peer = await open_pair(listener)
    with peer:
        async with stream:
            peer.setblocking(False)
            total = 0
            try:
                for _ in range(10_000):
                    total += peer.send(b"y" * 65536)
                    if total > 40 * READ_AHEAD:
                        break
            except BlockingIOError:
                pass  # the client stopped reading: TCP pushed back
            await anyio.sleep(0.1)
            got = 0
            with anyio.move_on_after(2):
                while got < total:
                    got += len(await stream.receive(1 << 20))
            assert got == total


async def test_aclose_makes_the_stream_closed(listener: socket.socket) -> None:
    stream, peer = await open_pair(listener)
    with peer:
        await stream.aclose()
        with pytest.raises(anyio.ClosedResourceError):
            await stream.receive()
        with pytest.raises(anyio.ClosedResourceError):
            await stream.send(b"x")
        # The peer sees the end (once the event loop runs: read in a thread).
        assert await anyio.to_thread.run_sync(peer.recv, 10) == b""
        await stream.aclose()  # twice is fine


async def test_tls_runs_on_top(anyio_backend: str) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        done = threading.Event()

        def serve() -> None:
            raw, _ = listener.accept()
            with server_context.wrap_socket(raw, server_side=True) as tls:
                tls.sendall(tls.recv(100).upper())
                done.wait(TIMEOUT)

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        stream = await connect_tcp("127.0.0.1", port)
        tls_stream: Any = await TLSStream.wrap(
            stream, hostname="localhost", ssl_context=client_context, standard_compatible=False
        )
        async with tls_stream:
            await tls_stream.send(b"secret")
            assert await tls_stream.receive() == b"SECRET"
        done.set()
        thread.join(TIMEOUT)


async def test_refused_is_connection_refused() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConnectionRefusedError):
        await connect_tcp("127.0.0.1", port)
