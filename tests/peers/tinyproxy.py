"""tinyproxy (Debian's package): a real HTTP proxy that opens CONNECT tunnels.

It runs as a foreground subprocess (``tinyproxy -d``) with a configuration written to a
temporary directory, listens on 127.0.0.1 only and accepts clients from 127.0.0.1 only.
Install it with ``apt-get install tinyproxy``; tests skip without it, and fail under
``WSAPI_REQUIRE_PEERS=1``.

``TinyproxyServer()`` allows CONNECT to any port; ``TinyproxyServer(credentials=("alice",
"s3cret"))`` answers 407 unless the request carries those Basic credentials.
"""

from __future__ import annotations

import subprocess

from tests.peers.process import ProxyProcessServer, binary_status, find_binary, free_port

INSTALL_COMMAND = "apt-get install tinyproxy"

_CANDIDATES = ("/usr/bin/tinyproxy", "/usr/sbin/tinyproxy", "/usr/local/bin/tinyproxy")


def tinyproxy_binary() -> str | None:
    """Path of the ``tinyproxy`` executable, or None."""
    return find_binary("tinyproxy", _CANDIDATES)


def tinyproxy_peer_status() -> tuple[bool, str]:
    """``(available, reason)`` for the tinyproxy peer."""
    return binary_status("tinyproxy", tinyproxy_binary(), "tinyproxy", INSTALL_COMMAND)


class TinyproxyServer(ProxyProcessServer):
    """tinyproxy in a subprocess; ``url()`` is its proxy URL (with the credentials, if any)."""

    name = "tinyproxy"
    scheme = "http"
    log_name = "tinyproxy.log"
    port_taken = "Could not create listening sockets"

    def binary(self) -> str | None:
        return tinyproxy_binary()

    def missing(self) -> str:
        return tinyproxy_peer_status()[1]

    def _config(self) -> str:
        lines = [
            f"Port {self.port}",
            f"Listen {self.host}",
            f"Allow {self.host}",
            "Timeout 30",
            "MaxClients 64",
            "LogLevel Info",
            "DisableViaHeader Yes",
        ]
        # No ConnectPort line: CONNECT may reach any port (the tests' servers use random ones).
        if self.credentials is not None:
            lines.append(f"BasicAuth {self.credentials[0]} {self.credentials[1]}")
        return "\n".join(lines) + "\n"

    def _spawn(self, binary: str) -> subprocess.Popen[bytes]:
        self.port = free_port(self.host)
        config = self.directory / "tinyproxy.conf"
        config.write_text(self._config())
        with (self.directory / self.log_name).open("wb") as log:
            return subprocess.Popen(
                [binary, "-d", "-c", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def _ready(self) -> bool:
        return "Accepting connections" in self.log()
