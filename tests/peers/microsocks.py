"""microsocks (Debian's package): a real SOCKS5 proxy, with or without user name and password.

It runs as a foreground subprocess listening on 127.0.0.1 only (``-i 127.0.0.1``), on a
port that was free a moment ago (startup retries when it was taken in between). It
resolves host names itself, so it serves ``socks5h://`` as well as ``socks5://``. Install
it with ``apt-get install microsocks``; tests skip without it, and fail under
``WSAPI_REQUIRE_PEERS=1``.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from tests.peers import check_loopback
from tests.peers.nginx import free_port

INSTALL_COMMAND = "apt-get install microsocks"


def microsocks_binary() -> str | None:
    """Path of the ``microsocks`` executable, or None."""
    found = shutil.which("microsocks")
    if found:
        return found
    for candidate in ("/usr/bin/microsocks", "/usr/local/bin/microsocks"):
        if Path(candidate).is_file():
            return candidate
    return None


def microsocks_peer_status() -> tuple[bool, str]:
    """``(available, reason)`` for the microsocks peer."""
    if microsocks_binary() is None:
        return (
            False,
            f"microsocks peer: no `microsocks` executable; install it with `{INSTALL_COMMAND}`",
        )
    return True, "microsocks is available"


class MicrosocksServer:
    """microsocks in a subprocess; ``url()`` is its proxy URL (with the credentials, if any)."""

    def __init__(
        self,
        *,
        credentials: tuple[str, str] | None = None,
        host: str = "127.0.0.1",
        startup_timeout: float = 10.0,
    ) -> None:
        self.host = check_loopback(host)
        self.credentials = credentials
        self.startup_timeout = startup_timeout
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    def url(self, *, credentials: tuple[str, str] | None = None, scheme: str = "socks5") -> str:
        """``socks5://[user:password@]127.0.0.1:PORT``: this server's credentials by default."""
        if not self.port:
            raise RuntimeError("microsocks is not running")
        user = credentials or self.credentials
        userinfo = f"{user[0]}:{user[1]}@" if user else ""
        return f"{scheme}://{userinfo}{self.host}:{self.port}"

    def __enter__(self) -> MicrosocksServer:
        binary = microsocks_binary()
        if binary is None:
            raise RuntimeError(microsocks_peer_status()[1])
        try:
            for _attempt in range(5):
                if self._start(binary):
                    return self
            raise RuntimeError("microsocks did not start: its port was always taken")
        except BaseException:
            self.stop()
            raise

    def _start(self, binary: str) -> bool:
        """Start on a fresh port; False if the port was taken in the meantime."""
        self.port = free_port(self.host)
        command = [binary, "-i", self.host, "-p", str(self.port)]
        if self.credentials is not None:
            command += ["-u", self.credentials[0], "-P", self.credentials[1]]
        self._process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                stderr = self._process.stderr.read() if self._process.stderr else b""
                self._process = None
                if b"in use" in stderr:
                    return False
                text = stderr.decode(errors="replace")
                raise RuntimeError(f"microsocks exited at startup: {text}")
            if _listening(self.host, self.port):
                return True
            time.sleep(0.02)
        raise RuntimeError(f"microsocks did not listen within {self.startup_timeout} s")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop microsocks (SIGTERM, then SIGKILL)."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)
        if process is not None and process.stderr is not None:
            process.stderr.close()
        self.port = 0


def _listening(host: str, port: int) -> bool:
    # A probe connection costs microsocks a thread that ends at once: harmless.
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
        return True
    return False
