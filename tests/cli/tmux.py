"""A program run in a private tmux server, for tests that look at the rendered screen.

tmux interprets every escape sequence as a terminal would, so what it shows
is what a user would see, scrollback included.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence

import pytest

from tests.cli.helpers import ROOT
from tests.peers import require_peer

SESSION = "wsapi"


@pytest.fixture
def tmux() -> Iterator[str]:
    """A private tmux server (its own socket, in a temporary directory), killed at the end."""
    require_peer(shutil.which("tmux") is not None, "tmux not installed: apt-get install tmux")
    directory = tempfile.mkdtemp(prefix="wsapi-tmux-")  # short: socket paths are limited
    socket = os.path.join(directory, "socket")
    try:
        yield socket
    finally:
        subprocess.run(["tmux", "-S", socket, "kill-server"], capture_output=True, timeout=10)
        shutil.rmtree(directory, ignore_errors=True)


def tmux_start(
    socket: str,
    command: Sequence[str],
    env: Mapping[str, str],
    *,
    width: int = 100,
    height: int = 20,
) -> None:
    """Run ``command`` in a new window; the window stays once it exits, for its last screen."""
    subprocess.run(
        [
            "tmux",
            "-S",
            socket,
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            SESSION,
            "-x",
            str(width),
            "-y",
            str(height),
            "-c",
            str(ROOT),
            "env",
            *(f"{key}={value}" for key, value in env.items()),
            *command,
            ";",
            "set-option",
            "-g",
            "remain-on-exit",
            "on",
        ],
        check=True,
        timeout=10,
    )


def tmux_send(socket: str, *keys: str) -> None:
    """``tmux send-keys``: key names ("Enter", "C-d"), or text after ``-l``."""
    subprocess.run(["tmux", "-S", socket, "send-keys", "-t", SESSION, *keys], timeout=10)


def tmux_screen(socket: str, *, scrollback: bool = False) -> list[str]:
    """The window's lines as shown (with ``scrollback``, from the first line ever shown)."""
    history = ["-S", "-"] if scrollback else []
    shown = subprocess.run(
        ["tmux", "-S", socket, "capture-pane", "-p", *history, "-t", SESSION],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout
    return shown.rstrip("\n").splitlines()


def tmux_wait_for(
    socket: str,
    condition: str,
    predicate: Callable[[list[str]], bool],
    *,
    scrollback: bool = False,
    timeout: float = 10.0,
) -> list[str]:
    """Poll the screen until ``predicate`` holds; else fail, saying ``condition`` and showing it."""
    deadline = time.monotonic() + timeout
    while True:
        screen = tmux_screen(socket, scrollback=scrollback)
        if predicate(screen):
            return screen
        if time.monotonic() > deadline:
            raise AssertionError(f"{condition}; the screen:\n" + "\n".join(screen))
        time.sleep(0.05)
