"""The command-line sessions shown in docs/cli.md and the README are real.

Every ```text block whose first line starts with ``$ wsapi`` (or ``$ printf``...
piped into wsapi) is run: each ``$ `` line in the block is a shell command,
and the lines below it, up to the next ``$ ``, are what it prints (standard
output and error together). The pages use ``ws://127.0.0.1:8765``; the test
points that at the websockets test server (tests/peers/websockets_server.py,
whose routes the pages use), and the proxy ``http://127.0.0.1:3128`` at tinyproxy
(tests/peers/tinyproxy.py; the sessions that use it skip without it). The
commands of one page run in order, in one temporary directory, so a later block
can replay a file an earlier one saved.
What changes from run to run (times, ports, keys, dates, versions) is
normalised on both sides before comparing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli.helpers import ROOT, cli_env
from tests.peers.tinyproxy import TinyproxyServer
from tests.peers.websockets_server import WebsocketsServer
from wsapi.cli.commands import HELP

PAGES = [ROOT / "docs" / "cli.md", ROOT / "README.md"]
DOCS_ADDRESS = "127.0.0.1:8765"
DOCS_PROXY = "127.0.0.1:3128"

FENCE = re.compile(r"^```text\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)

# (pattern, replacement): what differs between two runs of the same session.
VOLATILE = [
    # Times, with the blanks that right-align them (a slow start takes 100 ms or more):
    # the timeline's first column, and wsapi doctor's column.
    (re.compile(r"^ *\d+\.\d ms  ", re.MULTILINE), "T ms  "),
    (re.compile(r" +\d+\.\d ms  "), " T ms  "),
    (re.compile(r'"ms": [\d.]+'), '"ms": T'),
    (re.compile(r'"started": "[^"]*"'), '"started": "DATE"'),
    (re.compile(r'"wsapi": "[^"]*"'), '"wsapi": "VERSION"'),
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:PORT"),
    (re.compile(r"\bport \d+"), "port PORT"),
    (re.compile(r'(Sec-WebSocket-(?:Key|Accept)(?:: |", "))[A-Za-z0-9+/=]+'), r"\1KEY"),
    (re.compile(r'\b(Date(?:: |", "))[^"\n]+'), r"\1DATE"),
    (re.compile(r"Python/\d+\.\d+ websockets/[\w.]+"), "SERVER"),
    (re.compile(r"tinyproxy/[\w.]+"), "tinyproxy/VERSION"),
    (re.compile(r"wsapi/[\w.]+ \(Python \d+\.\d+\)"), "USER-AGENT"),
    (re.compile(r"[ \t]+$", re.MULTILINE), ""),
]


def normalise(text: str) -> str:
    for pattern, replacement in VOLATILE:
        text = pattern.sub(replacement, text)
    return text.strip("\n")


@dataclass
class Shown:
    page: Path
    command: str
    output: str


def sessions(page: Path) -> list[Shown]:
    shown = []
    for block in FENCE.findall(page.read_text(encoding="utf-8")):
        if not block.startswith("$ "):
            continue
        for chunk in re.split(r"^\$ ", block, flags=re.MULTILINE)[1:]:
            command, _, output = chunk.partition("\n")
            if "wsapi " in command:
                shown.append(Shown(page, command, output))
    return shown


@pytest.fixture(scope="module")
def shell_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with a ``wsapi`` command (this interpreter's) first in PATH."""
    directory = tmp_path_factory.mktemp("cli-docs")
    bin_dir = directory / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "wsapi"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m wsapi "$@"\n')
    shim.chmod(0o755)
    return directory


def run_shown(
    shown: Shown, server: WebsocketsServer, directory: Path, request: pytest.FixtureRequest
) -> str:
    command = shown.command.replace(DOCS_ADDRESS, f"127.0.0.1:{server.port}")
    if DOCS_PROXY in command:
        proxy: TinyproxyServer = request.getfixturevalue("tinyproxy_server")  # or skip
        command = command.replace(DOCS_PROXY, f"127.0.0.1:{proxy.port}")
    env = cli_env(PATH=f"{directory / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    process = subprocess.run(
        ["/bin/sh", "-c", "exec 2>&1\n" + command],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=30,
        cwd=directory,
        env=env,
    )
    return process.stdout


@pytest.mark.skipif(sys.platform == "win32", reason="the sessions are POSIX shell commands")
@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_shown_sessions_match(
    page: Path,
    websockets_server: WebsocketsServer,
    shell_dir: Path,
    request: pytest.FixtureRequest,
) -> None:
    shown = sessions(page)
    assert shown, f"{page.name} shows no wsapi session"
    for session in shown:
        actual = run_shown(session, websockets_server, shell_dir, request)
        if os.environ.get("WSAPI_PRINT_DOCS"):  # to write the pages: see the real output
            print(f"$ {session.command}\n{actual}")
            continue
        assert normalise(actual) == normalise(session.output), (
            f"{page.name}: `$ {session.command}` printed:\n{actual}"
        )


def test_the_commands_table_is_the_help() -> None:
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert HELP in text, "docs/cli.md must show the interactive commands as /help prints them"


def test_the_exit_statuses_are_documented() -> None:
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for status in ("| 0 |", "| 1 |", "| 2 |", "| 3 |", "| 4 |", "| 5 |", "| 130 |"):
        assert status in text
