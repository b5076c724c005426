"""Peers that are programs (nginx, tinyproxy, microsocks) run as a foreground subprocess.

``ProcessServer`` does what they all need: find the executable, make a temporary
directory for configuration and logs, start on ports that were free a moment ago
(retrying when another process took one in between), wait until the program is ready,
and stop it (SIGTERM, then SIGKILL) and remove the directory. A subclass says how to
start its program (``_spawn``) and, when it differs, how to tell it is ready.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from tests.peers import check_loopback

_Server = TypeVar("_Server", bound="ProcessServer")

#: How many fresh ports a server tries before giving up.
START_ATTEMPTS = 5


def find_binary(name: str, candidates: Sequence[str] = ()) -> str | None:
    """Path of the executable ``name``: on PATH, else the first of ``candidates`` that exists."""
    found = shutil.which(name)
    if found:
        return found
    for candidate in candidates:
        if Path(candidate).is_file():
            return candidate
    return None


def binary_status(peer: str, binary: str | None, executable: str, install: str) -> tuple[bool, str]:
    """``(available, reason)`` for a peer whose executable is ``binary`` (None: missing)."""
    if binary is None:
        return False, f"{peer} peer: no `{executable}` executable; install it with `{install}`"
    return True, f"{peer} is available"


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (a server binds it next; startup retries on a race)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def listening(host: str, port: int) -> bool:
    """Whether something accepts TCP connections on ``host``:``port``."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
        return True
    return False


class ProcessServer:
    """A server program in a subprocess, on 127.0.0.1 (or ::1), with a temporary directory.

    Subclasses set ``name`` (for messages), ``log_name`` (the file in ``directory``
    that says why the program failed) and ``port_taken`` (what that file says when a
    port was taken), and implement ``binary()`` and ``_spawn()``.
    """

    name = "server"
    log_name = "server.log"
    port_taken = "Address already in use"

    def __init__(self, *, host: str = "127.0.0.1", startup_timeout: float = 10.0) -> None:
        self.host = check_loopback(host)
        self.startup_timeout = startup_timeout
        self.port = 0
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def directory(self) -> Path:
        """The temporary directory (only while running)."""
        assert self._dir is not None
        return Path(self._dir.name)

    def log(self) -> str:
        """What the program logged so far ("" before start)."""
        if self._dir is None:
            return ""
        path = self.directory / self.log_name
        return path.read_text(errors="replace") if path.exists() else ""

    def binary(self) -> str | None:
        """Path of the program, or None when it is not installed."""
        raise NotImplementedError

    def missing(self) -> str:
        """Why the program cannot run (it is not installed), with the install command."""
        return f"{self.name} is not installed"

    def _prepare(self) -> None:
        """Write what every start needs into ``directory`` (once, before the first start)."""

    def _spawn(self, binary: str) -> subprocess.Popen[bytes]:
        """Pick fresh ports, write the configuration and start the program."""
        raise NotImplementedError

    def _ports(self) -> list[int]:
        """The ports the program listens on once it is ready."""
        return [self.port]

    def _ready(self) -> bool:
        """Whether the program accepts connections (by default: it listens on every port)."""
        return all(listening(self.host, port) for port in self._ports())

    def __enter__(self: _Server) -> _Server:
        binary = self.binary()
        if binary is None:
            raise RuntimeError(self.missing())
        self._dir = tempfile.TemporaryDirectory(prefix=f"wsapi-{self.name}-")
        try:
            self._prepare()
            for _attempt in range(START_ATTEMPTS):
                if self._start(binary):
                    return self
            raise RuntimeError(
                f"{self.name} did not start: its port was always taken\n{self.log()}"
            )
        except BaseException:
            self.stop()
            raise

    def _start(self, binary: str) -> bool:
        """Start on fresh ports; False if a port was taken in the meantime."""
        self._process = self._spawn(binary)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                if self.port_taken in self.log():
                    self._process = None
                    return False
                raise RuntimeError(f"{self.name} exited at startup:\n{self.log()}")
            if self._ready():
                return True
            time.sleep(0.02)
        raise RuntimeError(f"{self.name} did not listen within {self.startup_timeout} s")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the program (SIGTERM, then SIGKILL) and remove its directory."""
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


class ProxyProcessServer(ProcessServer):
    """A proxy program, with or without credentials; ``url()`` is its proxy URL."""

    scheme = "http"

    def __init__(
        self,
        *,
        credentials: tuple[str, str] | None = None,
        host: str = "127.0.0.1",
        startup_timeout: float = 10.0,
    ) -> None:
        super().__init__(host=host, startup_timeout=startup_timeout)
        self.credentials = credentials

    def url(self, *, credentials: tuple[str, str] | None = None, scheme: str = "") -> str:
        """``SCHEME://[user:password@]127.0.0.1:PORT``: this server's credentials by default."""
        if not self.port:
            raise RuntimeError(f"{self.name} is not running")
        user = credentials or self.credentials
        userinfo = f"{user[0]}:{user[1]}@" if user else ""
        return f"{scheme or self.scheme}://{userinfo}{self.host}:{self.port}"
