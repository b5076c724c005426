"""The opening handshake's I/O on an open byte stream, and the fresh protocol a redirect needs.

``handshake()`` sends the protocol's upgrade request and feeds it what the
socket reads until the answer is known (the HTTP itself is the protocol
core's: see ``protocol/opening.py``); ``redirected()`` makes the protocol of
the next request when a redirect is followed. ``Transport.open()`` opens the
stream (connect.py), calls these within ``open_timeout``, and cleans up after
a failure.
"""

from __future__ import annotations

import dataclasses

import anyio
from anyio.abc import ByteStream

from ..protocol.connection import ClientProtocol
from ..protocol.events import HandshakeFailed, Opened, ProtocolEvent
from ..protocol.handshake import generate_key
from ..protocol.redirects import redirect_headers
from ..protocol.url import WebSocketURL
from ..trace import Tracer
from .reader import READ_SIZE
from .tracing import trace_response

__all__ = ["handshake", "redirected"]


async def handshake(
    stream: ByteStream, protocol: ClientProtocol, trace: Tracer | None
) -> tuple[Opened, list[ProtocolEvent]]:
    """Send the upgrade request and read its answer: ``Opened``, and the events after it.

    Raises the ``HandshakeFailed`` event's error (``RedirectReceived`` for a
    redirect), chained to the stream's error if the stream broke.
    """
    if trace is not None:
        trace(">", "request", headers=protocol.request_headers, detail=protocol.request_target)
    cause: BaseException | None = None
    try:
        await stream.send(protocol.data_to_send())
    except (anyio.BrokenResourceError, OSError) as exc:
        cause = exc
        protocol.receive_eof()
    while True:
        if cause is None:
            try:
                data = await stream.receive(READ_SIZE)
            except anyio.EndOfStream:
                protocol.receive_eof()
            except (anyio.BrokenResourceError, OSError) as exc:
                cause = exc
                protocol.receive_eof()
            else:
                protocol.receive_data(data)
        events = protocol.events_received()
        for index, event in enumerate(events):
            if isinstance(event, Opened):
                if trace is not None:
                    trace_response(trace, event.response)
                return event, events[index + 1 :]
            if isinstance(event, HandshakeFailed):
                if trace is not None and event.error.response is not None:
                    trace_response(trace, event.error.response)
                if cause is not None:
                    raise event.error from cause
                raise event.error


def redirected(old: ClientProtocol, url: WebSocketURL, target: WebSocketURL) -> ClientProtocol:
    """The protocol of the request to ``target``: ``old``'s options, and a new key."""
    request = dataclasses.replace(
        old.request,
        url=target.href,
        host=target.host,
        resource=target.resource,
        headers=redirect_headers(old.request.headers, url, target),
        key=generate_key(),
    )
    return ClientProtocol(
        request, max_message_size=old.max_message_size, max_body_size=old.max_body_size
    )
