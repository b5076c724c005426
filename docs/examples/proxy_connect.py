# docs/examples/proxy_connect.py
"""Through an HTTP proxy: proxy=, credentials in the proxy URL, HTTP_PROXY and NO_PROXY."""

import asyncio
import os

import anyio
from anyio.abc import SocketAttribute
from anyio.streams.buffered import BufferedByteReceiveStream

from wsapi import ProxyAuthRequired, WebSocket
from wsapi.testing import echo, serve

CREDENTIALS = "Proxy-Authorization: Basic YWxpY2U6czNjcmV0"  # alice:s3cret


async def pipe(source, sink, done):
    try:
        async for chunk in source:
            await sink.send(chunk)
    except anyio.BrokenResourceError:
        pass
    done.cancel()  # one side ended: end both


async def proxy(client):
    # A minimal CONNECT proxy, for the example: it wants alice:s3cret.
    async with client:
        reader = BufferedByteReceiveStream(client)
        head = await reader.receive_until(b"\r\n\r\n", 65536)
        request_line, *headers = head.decode().split("\r\n")
        print("proxy:", request_line)
        if CREDENTIALS not in headers:
            await client.send(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                b'Proxy-Authenticate: Basic realm="example"\r\nContent-Length: 0\r\n\r\n'
            )
            return
        host, port = request_line.split()[1].rsplit(":", 1)
        async with await anyio.connect_tcp(host, int(port)) as server:
            await client.send(b"HTTP/1.1 200 Connection established\r\n\r\n")
            async with anyio.create_task_group() as tunnel:
                tunnel.start_soon(pipe, reader, server, tunnel.cancel_scope)
                tunnel.start_soon(pipe, server, client, tunnel.cancel_scope)


async def say_hello(url, **options):
    async with WebSocket(url, **options) as ws:
        ws.send("Hello through the proxy!")
        print("received:", await ws.recv())


async def main() -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(SocketAttribute.local_port)
    async with anyio.create_task_group() as proxies, serve(echo) as server:
        proxies.start_soon(listener.serve, proxy)

        try:  # the proxy wants credentials
            await say_hello(server.url, proxy=f"http://127.0.0.1:{port}")
        except ProxyAuthRequired as exc:
            print("ProxyAuthRequired:", exc.cause)

        # Credentials go in the proxy URL (percent-encoded, if need be).
        await say_hello(server.url, proxy=f"http://alice:s3cret@127.0.0.1:{port}")

        # By default (proxy=True), the environment decides: HTTP_PROXY for ws://,
        # HTTPS_PROXY for wss://, ALL_PROXY for both, and NO_PROXY lists exceptions.
        os.environ["HTTP_PROXY"] = f"http://alice:s3cret@127.0.0.1:{port}"
        await say_hello(server.url)
        os.environ["NO_PROXY"] = "127.0.0.1"
        await say_hello(server.url)  # directly: the proxy prints nothing
        proxies.cancel_scope.cancel()


asyncio.run(main())
