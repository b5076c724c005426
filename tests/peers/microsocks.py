"""microsocks (Debian's package): a real SOCKS5 proxy, with or without user name and password.

It runs as a foreground subprocess listening on 127.0.0.1 only (``-i 127.0.0.1``), on a
port that was free a moment ago (startup retries when it was taken in between). It
resolves host names itself, so it serves ``socks5h://`` as well as ``socks5://``. Install
it with ``apt-get install microsocks``; tests skip without it, and fail under
``WSAPI_REQUIRE_PEERS=1``.
"""

from __future__ import annotations

import subprocess

from tests.peers.process import ProxyProcessServer, binary_status, find_binary, free_port

INSTALL_COMMAND = "apt-get install microsocks"


def microsocks_binary() -> str | None:
    """Path of the ``microsocks`` executable, or None."""
    return find_binary("microsocks", ("/usr/bin/microsocks", "/usr/local/bin/microsocks"))


def microsocks_peer_status() -> tuple[bool, str]:
    """``(available, reason)`` for the microsocks peer."""
    return binary_status("microsocks", microsocks_binary(), "microsocks", INSTALL_COMMAND)


class MicrosocksServer(ProxyProcessServer):
    """microsocks in a subprocess; ``url()`` is its proxy URL (with the credentials, if any).

    It is ready when it accepts a connection: a probe costs microsocks a thread that
    ends at once, which is harmless.
    """

    name = "microsocks"
    scheme = "socks5"
    log_name = "microsocks.log"
    port_taken = "in use"

    def binary(self) -> str | None:
        return microsocks_binary()

    def missing(self) -> str:
        return microsocks_peer_status()[1]

    def _spawn(self, binary: str) -> subprocess.Popen[bytes]:
        self.port = free_port(self.host)
        command = [binary, "-i", self.host, "-p", str(self.port)]
        if self.credentials is not None:
            command += ["-u", self.credentials[0], "-P", self.credentials[1]]
        with (self.directory / self.log_name).open("wb") as log:
            return subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log
            )
