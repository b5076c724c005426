"""tinyproxy (Debian's package): a real HTTP proxy that opens CONNECT tunnels.

It runs as a foreground subprocess (``tinyproxy -d``) with a configuration written to a
temporary directory, listens on 127.0.0.1 only and accepts clients from 127.0.0.1 only.
Install it with ``apt-get install tinyproxy``; tests skip without it, and fail under
``WSAPI_REQUIRE_PEERS=1``.

``TinyproxyServer()`` allows CONNECT to any port; ``TinyproxyServer(credentials=("alice",
"s3cret"))`` answers 407 unless the request carries those Basic credentials.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from tests.peers import check_loopback
from tests.peers.nginx import free_port

INSTALL_COMMAND = "apt-get install tinyproxy"

_CANDIDATES = ("/usr/bin/tinyproxy", "/usr/sbin/tinyproxy", "/usr/local/bin/tinyproxy")


def tinyproxy_binary() -> str | None:
    """Path of the ``tinyproxy`` executable, or None."""
    found = shutil.which("tinyproxy")
    if found:
        return found
    for candidate in _CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    return None


def tinyproxy_peer_status() -> tuple[bool, str]:
    """``(available, reason)`` for the tinyproxy peer."""
    if tinyproxy_binary() is None:
        missing = "tinyproxy peer: no `tinyproxy` executable"
        return False, f"{missing}; install it with `{INSTALL_COMMAND}`"
    return True, "tinyproxy is available"


class TinyproxyServer:
    """tinyproxy in a subprocess; ``url()`` is its proxy URL (with the credentials, if any)."""

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
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def url(self, *, credentials: tuple[str, str] | None = None, scheme: str = "http") -> str:
        """``http://[user:password@]127.0.0.1:PORT``: this server's credentials by default."""
        if not self.port:
            raise RuntimeError("tinyproxy is not running")
        user = credentials or self.credentials
        userinfo = f"{user[0]}:{user[1]}@" if user else ""
        return f"{scheme}://{userinfo}{self.host}:{self.port}"

    def log(self) -> str:
        """What tinyproxy printed so far."""
        if self._dir is None:
            return ""
        path = Path(self._dir.name) / "tinyproxy.log"
        return path.read_text(errors="replace") if path.exists() else ""

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

    def __enter__(self) -> TinyproxyServer:
        binary = tinyproxy_binary()
        if binary is None:
            raise RuntimeError(tinyproxy_peer_status()[1])
        self._dir = tempfile.TemporaryDirectory(prefix="wsapi-tinyproxy-")
        try:
            for _attempt in range(5):
                if self._start(binary):
                    return self
            raise RuntimeError(f"tinyproxy did not start:\n{self.log()}")
        except BaseException:
            self.stop()
            raise

    def _start(self, binary: str) -> bool:
        """Start on a fresh port; False if the port was taken in the meantime."""
        assert self._dir is not None
        root = Path(self._dir.name)
        self.port = free_port(self.host)
        (root / "tinyproxy.conf").write_text(self._config())
        with (root / "tinyproxy.log").open("wb") as log:
            self._process = subprocess.Popen(
                [binary, "-d", "-c", str(root / "tinyproxy.conf")],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                if "Could not create listening sockets" in self.log():
                    self._process = None
                    return False
                raise RuntimeError(f"tinyproxy exited at startup:\n{self.log()}")
            if "Accepting connections" in self.log():
                return True
            time.sleep(0.02)
        raise RuntimeError(f"tinyproxy did not listen within {self.startup_timeout} s")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop tinyproxy (SIGTERM, then SIGKILL) and remove its directory."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
        self.port = 0
