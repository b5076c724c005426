"""Node.js ``ws`` server (tests/peers/node/server.js) as a subprocess test peer.

Install it with ``npm ci --prefix tests/peers/node``. Routes are documented in server.js.
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import threading
from pathlib import Path
from types import TracebackType
from typing import IO

from tests.peers import check_loopback, url_host

NODE_DIR = Path(__file__).resolve().parent / "node"
SERVER_JS = NODE_DIR / "server.js"
INSTALL_COMMAND = "npm ci --prefix tests/peers/node"


def node_binary() -> str | None:
    """Path of the ``node`` executable, or None."""
    return shutil.which("node")


def node_peer_status() -> tuple[bool, str]:
    """``(available, reason)`` for the Node ws peer; ``reason`` explains what is missing."""
    if node_binary() is None:
        return (
            False,
            f"Node.js ws peer: no `node` on PATH; install Node.js then run `{INSTALL_COMMAND}`",
        )
    if not (NODE_DIR / "node_modules" / "ws" / "package.json").is_file():
        return False, f"Node.js ws peer: the `ws` package is not installed; run `{INSTALL_COMMAND}`"
    return True, "Node.js ws peer is available"


class NodeWsServer:
    """Runs server.js in a subprocess; ``url(path)`` gives ``ws://127.0.0.1:PORT/path``.

    The port is read from the ``PORT <n>`` line the server prints once listening.
    On exit the process is asked to stop (stdin closed, then SIGTERM, then SIGKILL).
    Its stderr is kept in ``stderr_lines`` for error messages.
    """

    def __init__(self, host: str = "127.0.0.1", *, startup_timeout: float = 15.0) -> None:
        self.host = check_loopback(host)
        self.startup_timeout = startup_timeout
        self.port = 0
        self.stderr_lines: list[str] = []
        self._process: subprocess.Popen[str] | None = None
        self._stdout_lines: queue.Queue[str | None] = queue.Queue()
        self._readers: list[threading.Thread] = []

    def url(self, path: str = "/echo") -> str:
        if not self.port:
            raise RuntimeError("the Node ws server is not running")
        return f"ws://{url_host(self.host)}:{self.port}{path}"

    def __enter__(self) -> NodeWsServer:
        node = node_binary()
        if node is None:
            raise RuntimeError(node_peer_status()[1])
        self._process = subprocess.Popen(
            [node, str(SERVER_JS), self.host],
            cwd=NODE_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "NODE_ENV": "test"},
        )
        assert self._process.stdout is not None and self._process.stderr is not None
        self._readers = [
            threading.Thread(
                target=self._read_stdout,
                args=(self._process.stdout,),
                name="node-ws-stdout",
                daemon=True,
            ),
            threading.Thread(
                target=self._read_stderr,
                args=(self._process.stderr,),
                name="node-ws-stderr",
                daemon=True,
            ),
        ]
        for reader in self._readers:
            reader.start()
        try:
            self.port = self._wait_for_port()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self, timeout: float = 5.0) -> None:
        process, self._process = self._process, None
        self.port = 0
        if process is None:
            return
        if process.poll() is None:
            assert process.stdin is not None
            try:
                process.stdin.close()  # server.js exits when stdin ends
            except OSError:
                pass
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.terminate()
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        elif process.stdin is not None:
            process.stdin.close()
        for reader in self._readers:
            reader.join(timeout)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()

    def _wait_for_port(self) -> int:
        try:
            line = self._stdout_lines.get(timeout=self.startup_timeout)
        except queue.Empty:
            raise RuntimeError(
                f"Node ws server printed no PORT line within {self.startup_timeout} s; "
                f"stderr: {self._stderr_text()}"
            ) from None
        if line is None or not line.startswith("PORT "):
            raise RuntimeError(
                f"Node ws server did not start (stdout: {line!r}); stderr: {self._stderr_text()}"
            )
        return int(line.split()[1])

    def _stderr_text(self) -> str:
        # Give the stderr reader a moment to collect the output of a process that exited.
        if self._process is not None and self._process.poll() is not None:
            self._readers[1].join(2.0)
        return "".join(self.stderr_lines).strip() or "(empty)"

    def _read_stdout(self, stream: IO[str]) -> None:
        for line in stream:
            self._stdout_lines.put(line.strip())
        self._stdout_lines.put(None)

    def _read_stderr(self, stream: IO[str]) -> None:
        for line in stream:
            self.stderr_lines.append(line)
