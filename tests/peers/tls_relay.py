"""A TLS front for a TCP service: makes an ``https://`` proxy out of tinyproxy.

``TLSRelay(backend_port, context)`` listens on 127.0.0.1, does TLS with ``context``
(a server SSLContext) on each accepted connection, connects to 127.0.0.1:``backend_port``
and copies bytes both ways, in daemon threads, until either side closes. It is what
a TLS-terminating load balancer in front of a proxy does, and no more.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from types import TracebackType

from tests.peers import check_loopback


class TLSRelay:
    """TLS on ``port`` (127.0.0.1), plain TCP to ``backend_port``."""

    def __init__(self, backend_port: int, context: ssl.SSLContext, host: str = "127.0.0.1"):
        self.host = check_loopback(host)
        self.backend_port = backend_port
        self.context = context
        self.port = 0
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def __enter__(self) -> TLSRelay:
        listener = socket.create_server((self.host, 0))
        self._listener = listener
        self.port = listener.getsockname()[1]
        threading.Thread(target=self._accept, name="tls-relay", daemon=True).start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()

    def _accept(self) -> None:
        assert self._listener is not None
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with self._lock:
            self._sockets.append(client)
        try:
            client.settimeout(10)
            secure = self.context.wrap_socket(client, server_side=True)
            backend = socket.create_connection((self.host, self.backend_port), timeout=10)
        except OSError:  # the handshake failed: the client's test checks why
            client.close()
            return
        secure.settimeout(None)
        backend.settimeout(None)
        with self._lock:
            self._sockets += [secure, backend]
        threading.Thread(target=_copy, args=(backend, secure), daemon=True).start()
        _copy(secure, backend)


def _copy(source: socket.socket, target: socket.socket) -> None:
    """Copy until ``source`` ends, then close both (the other copier then ends too)."""
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        # shutdown() wakes the other copier, blocked in recv() on the other socket.
        for sock in (source, target):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
