"""Running ``python -m wsapi`` as a subprocess, with a pipe or under a pseudo-terminal.

Every run has a timeout, so a CLI that hangs fails its test instead of the suite.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import select
import signal
import subprocess
import sys
import termios
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trustme

from tests.peers.websockets_server import certificate_context
from tests.peers.websockets_server import tls_echo_server as peer_tls_echo_server

ROOT = Path(__file__).resolve().parents[2]

#: Seconds a CLI run may take (they take well under one each).
TIMEOUT = 20.0

_ANSI = re.compile(r"\x1b(\[[0-9;?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-B]|[=>78])")


def cli_env(**extra: str) -> dict[str, str]:
    """A clean environment: no colours forced or refused, a known terminal width."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("NO_COLOR", "FORCE_COLOR", "COLUMNS", "LINES")
    }
    env.update({"PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8"})
    env.update(extra)
    return env


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    def records(self) -> list[dict[str, Any]]:
        """``--jsonl`` output, parsed."""
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    def frames(self, direction: str = "<", kind: str | None = None) -> list[dict[str, Any]]:
        """Records of frames in ``direction`` (and of ``kind``)."""
        kinds = (kind,) if kind else ("text", "binary", "ping", "pong", "close")
        return [
            record
            for record in self.records()
            if record.get("dir") == direction and record["kind"] in kinds
        ]


def wsapi(*args: str, input: str | None = None, timeout: float = TIMEOUT, **env: str) -> Run:
    """Run ``python -m wsapi ARGS`` (standard input: ``input``, or nothing)."""
    process = subprocess.run(
        [sys.executable, "-W", "error", "-m", "wsapi", *args],
        input=input if input is not None else "",
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        cwd=ROOT,
        env=cli_env(**env),
    )
    return Run(process.returncode, process.stdout, process.stderr)


def wsapi_all(*commands: Sequence[str], timeout: float = TIMEOUT) -> list[Run]:
    """Run several ``python -m wsapi ARGS`` at once (no standard input); results in order."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-W", "error", "-m", "wsapi", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            cwd=ROOT,
            env=cli_env(),
        )
        for args in commands
    ]
    runs = []
    try:
        for process in processes:
            stdout, stderr = process.communicate(timeout=timeout)
            runs.append(Run(process.returncode, stdout, stderr))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()
    return runs


def start(*args: str, **env: str) -> subprocess.Popen[str]:
    """Start ``python -m wsapi ARGS`` with pipes, for tests that act while it runs."""
    return subprocess.Popen(
        [sys.executable, "-W", "error", "-m", "wsapi", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        cwd=ROOT,
        env=cli_env(**env),
    )


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def free_port() -> int:
    """A loopback port with nothing listening on it (connections are refused)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- pseudo-terminal -------------------------------------------------------------------


# Runs in the child: become the session leader of the new pty, as a shell would
# (so that Ctrl-C typed on it sends SIGINT), then run wsapi.
_CONTROLLING_TTY = (
    "import fcntl, os, sys, termios\n"
    "fcntl.ioctl(0, termios.TIOCSCTTY, 0)\n"
    "os.execv(sys.executable, [sys.executable, '-W', 'error', '-m', 'wsapi', *sys.argv[1:]])\n"
)


class PtySession:
    """``python -m wsapi ARGS`` on a pseudo-terminal (80x24): type keys, read the screen's bytes."""

    def __init__(self, *args: str, **env: str) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, b"\x18\x00\x50\x00\x00\x00\x00\x00")
        self.master = master
        self.slave = slave
        self.output = ""
        self._seen = 0
        self.process = subprocess.Popen(
            [sys.executable, "-c", _CONTROLLING_TTY, *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=ROOT,
            env=cli_env(TERM="xterm", PROMPT_TOOLKIT_NO_CPR="1", **env),
            start_new_session=True,
        )

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode("utf-8"))

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return False
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: the child closed the terminal
            return False
        if not data:
            return False
        self.output += data.decode("utf-8", errors="replace")
        return True

    @property
    def text(self) -> str:
        """What was written to the terminal, without escape sequences, CR and backspaces."""
        return strip_ansi(self.output).replace("\r", "").replace("\x08", "")

    def expect(self, pattern: str, timeout: float = 10.0) -> re.Match[str]:
        """Wait until ``pattern`` (a regex) shows up in ``text`` after the previous match."""
        deadline = time.monotonic() + timeout
        while True:
            match = re.compile(pattern).search(self.text, self._seen)
            if match:
                self._seen = match.end()
                return match
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"{pattern!r} did not show up; the terminal says:\n{self.text[self._seen :]}"
                )
            self._read(min(remaining, 0.1))

    def _at_prompt(self) -> bool:
        if self.text.rstrip(" ").endswith("\n>"):
            return True
        # A prompt redrawn after a message that came while it was shown ("\r> "
        # over "> "): what the last line shows is what follows its last CR.
        last_line = strip_ansi(self.output).rsplit("\n", 1)
        return len(last_line) == 2 and last_line[1].rsplit("\r", 1)[-1].rstrip(" ") == ">"

    def prompt(self, keys: str, timeout: float = 10.0) -> None:
        """Type ``keys`` once the prompt is back (keys typed between two prompts are
        handled by the terminal's line discipline, not by the prompt)."""
        deadline = time.monotonic() + timeout
        while not self._at_prompt():
            if time.monotonic() > deadline:
                raise AssertionError(f"no prompt; the terminal says:\n{self.text[self._seen :]}")
            self._read(0.05)
        self.type(keys)

    def wait(self, timeout: float = 10.0) -> int:
        """Wait for the exit status, reading the terminal meanwhile."""
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"wsapi did not exit; the terminal says:\n{self.text}")
            self._read(0.05)
        while self._read(0.05):
            pass
        return self.process.returncode

    def terminal_flags(self) -> int:
        """The terminal's local mode flags (ECHO, ICANON...), as the child left them."""
        return int(termios.tcgetattr(self.slave)[3])

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(5)
        os.close(self.master)
        os.close(self.slave)


@contextlib.contextmanager
def pty_session(*args: str, **env: str) -> Iterator[PtySession]:
    session = PtySession(*args, **env)
    try:
        yield session
    finally:
        session.close()


# -- a TLS echo server -------------------------------------------------------------------


@contextlib.contextmanager
def tls_echo_server(ca: trustme.CA) -> Iterator[int]:
    """The ``websockets`` sync echo server behind TLS (a certificate for 127.0.0.1)."""
    context = certificate_context(ca, "127.0.0.1", "localhost")
    with peer_tls_echo_server(context, TIMEOUT) as port:
        yield port
