"""The interactive mode under a pseudo-terminal: typing, commands, history, Ctrl-D, Ctrl-C.

Each test runs with the plain prompt (``input()`` and readline, the fallback)
and with prompt_toolkit (the ``wsapi[cli]`` extra) when it is installed.
``test_incoming_messages_leave_the_typed_line_intact`` looks at the rendered
screen, in tmux, to check that incoming events do not garble the line being typed.
"""

from __future__ import annotations

import os
import re
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.helpers import cli_env, pty_session
from tests.cli.tmux import tmux_screen, tmux_send, tmux_start, tmux_wait_for
from tests.peers.websockets_server import WebsocketsServer
from wsapi.cli.interactive import have_prompt_toolkit

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX terminal")

UP = "\x1b[A"
CTRL_C = "\x03"
CTRL_D = "\x04"

MODES = [
    "plain",
    pytest.param(
        "prompt_toolkit",
        marks=pytest.mark.skipif(
            not have_prompt_toolkit(), reason="prompt_toolkit not installed: pip install '.[cli]'"
        ),
    ),
]


def mode_args(mode: str) -> list[str]:
    # Keepalive off: the screen shows only what each test does.
    return ["--ping-interval", "0", *(["--plain"] if mode == "plain" else [])]


def assert_terminal_restored(flags: int) -> None:
    assert flags & termios.ECHO, "echo was left off"
    assert flags & termios.ICANON, "the terminal was left in raw mode"


@pytest.mark.parametrize("mode", MODES)
def test_typing_commands_and_history(websockets_server: WebsocketsServer, mode: str) -> None:
    with pty_session("connect", websockets_server.url("/echo"), *mode_args(mode)) as term:
        term.expect("Connected: type a message and press Enter to send it")
        term.prompt("hello\r")
        term.expect(r"> text +5 B  hello\n")
        term.expect(r"< text +5 B  hello\n")
        term.prompt('/json {"a": [1, 2]}\r')
        term.expect(r'< text +13 B\n +\{\n +"a": \[\n +1,\n +2\n +\]\n +\}')
        term.prompt("/hex 00 41 ff\r")
        term.expect(r"< binary +3 B\n +0000  00 41 ff +\|\.A\.\|")
        term.prompt("/base64 aGk=\r")
        term.expect(r"< binary +2 B\n +0000  68 69 +\|hi\|")
        term.prompt("/ping are you there\r")
        term.expect(r"< pong +13 B  are you there")
        term.prompt("/xml <a><b/></a>\r")
        term.expect(r"< text +11 B  <a><b/></a>")
        term.prompt("/xml <a>\r")
        term.expect("wsapi: not well-formed XML")
        term.prompt("/nonsense\r")
        term.expect(r"wsapi: unknown command /nonsense \(/help lists them")
        term.prompt("/help\r")
        term.expect(r"/close \[CODE \[REASON\]\]")
        # History: four lines back is the first /xml.
        term.prompt(UP * 4 + "\r")
        term.expect(r"< text +11 B  <a><b/></a>")
        term.prompt(CTRL_D)
        assert term.wait() == 0
        term.expect(r"> close +1000 normal closure")
        term.expect(r"= closed +1000 normal closure")
        assert_terminal_restored(term.terminal_flags())


@pytest.mark.parametrize("mode", MODES)
def test_close_command_with_code_and_reason(websockets_server: WebsocketsServer, mode: str) -> None:
    with pty_session("connect", websockets_server.url("/echo"), *mode_args(mode)) as term:
        term.expect("Connected")
        term.prompt("/close 999\r")
        term.expect("the close code must be 1000 or 3000-4999, not 999")
        term.prompt("/close 4321 that is all\r")
        assert term.wait() == 5
        term.expect(r'= closed +4321 "that is all"')
        assert_terminal_restored(term.terminal_flags())


@pytest.mark.parametrize("mode", MODES)
def test_ctrl_c_closes_and_exits_130(websockets_server: WebsocketsServer, mode: str) -> None:
    with pty_session("connect", websockets_server.url("/echo"), *mode_args(mode)) as term:
        term.expect("Connected")
        term.prompt("half a li")
        time.sleep(0.2)
        term.type(CTRL_C)
        assert term.wait() == 130
        term.expect(r"> close +1000 normal closure")
        term.expect(r"= closed +1000")
        assert_terminal_restored(term.terminal_flags())


@pytest.mark.parametrize("mode", MODES)
def test_the_server_closing_ends_the_prompt(websockets_server: WebsocketsServer, mode: str) -> None:
    # The server sends two messages and closes: no key press is needed to exit,
    # even with the plain prompt's thread blocked in input().
    url = websockets_server.url("/send?count=2&size=4")
    with pty_session("connect", url, *mode_args(mode)) as term:
        assert term.wait() == 0
        term.expect(r"< binary +4 B\n +0000  00 00 00 01")
        term.expect(r"= closed +1000 normal closure")
        assert_terminal_restored(term.terminal_flags())


LEFT, RIGHT = "\x1b[D", "\x1b[C"
CTRL_A, CTRL_E, BACKSPACE = "\x01", "\x05", "\x7f"


@pytest.mark.parametrize("mode", MODES)
def test_files_bad_json_and_line_editing(
    websockets_server: WebsocketsServer, mode: str, tmp_path: Path
) -> None:
    blob = tmp_path / "blob.bin"
    blob.write_bytes(b"\x00\x01FILE")
    note = tmp_path / "note.txt"
    note.write_text("from a file", encoding="utf-8")
    with pty_session("connect", websockets_server.url("/echo"), *mode_args(mode)) as term:
        term.expect("Connected")
        term.prompt(f"/file {blob}\r")
        term.expect(r"> binary +6 B\n +0000  00 01 46 49 4c 45 +\|\.\.FILE\|")
        term.expect(r"< binary +6 B\n +0000  00 01 46 49 4c 45 +\|\.\.FILE\|")
        term.prompt(f"/textfile {note}\r")
        term.expect(r"< text +11 B  from a file")
        term.prompt(f"/file {tmp_path / 'missing.bin'}\r")
        term.expect(r"wsapi: cannot read .*missing\.bin")
        term.prompt("/json {broken\r")
        term.expect("wsapi: not valid JSON")
        # Editing: arrows, Ctrl-A (start), Ctrl-E (end), backspace.
        term.prompt("helo wrld" + LEFT * 3 + "o" + CTRL_A + RIGHT * 3 + "l" + CTRL_E + "!!")
        term.type(BACKSPACE + "\r")
        term.expect(r"> text +12 B  hello world!\n")
        term.expect(r"< text +12 B  hello world!\n")
        term.prompt(CTRL_D)
        assert term.wait() == 0
        assert_terminal_restored(term.terminal_flags())


def test_the_plain_prompt_when_prompt_toolkit_is_missing(
    websockets_server: WebsocketsServer, tmp_path: Path
) -> None:
    # A prompt_toolkit that cannot be imported stands for one that is not installed.
    fake = tmp_path / "prompt_toolkit"
    fake.mkdir()
    (fake / "__init__.py").write_text('raise ImportError("not installed (this test)")\n')
    path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    url = websockets_server.url("/echo")
    with pty_session("connect", url, "--ping-interval", "0", PYTHONPATH=path) as term:
        term.expect("Connected")
        term.prompt("hello\r")
        term.expect(r"< text +5 B  hello\n")
        term.prompt("ag" + LEFT + "g" + CTRL_A + "ag\r")  # readline's editing
        term.expect(r"< text +5 B  agagg\n")
        term.prompt(UP * 2 + "\r")  # and its history
        term.expect(r"< text +5 B  hello\n")
        term.prompt(CTRL_D)
        assert term.wait() == 0
        term.expect(r"= closed +1000 normal closure")
        assert "Traceback" not in term.text and "prompt_toolkit" not in term.text
        assert_terminal_restored(term.terminal_flags())


def test_colours_on_a_terminal_only(websockets_server: WebsocketsServer) -> None:
    url = websockets_server.url("/close")
    with pty_session("connect", url, "--no-stdin") as term:
        assert term.wait() == 0
        assert "\x1b[32m< close   \x1b[0m 1000 normal closure" in term.output
        assert re.search(r"\x1b\[2m +\d+\.\d ms\x1b\[0m  ", term.output)
    for off in ({"NO_COLOR": "1"}, {"args": "--color=never"}):
        args = [off["args"]] if "args" in off else []
        env = {} if args else off
        with pty_session("connect", url, "--no-stdin", *args, **env) as term:
            assert term.wait() == 0
            assert "= closed   1000 normal closure" in term.text
            assert "\x1b" not in term.output, off


# -- the screen, rendered by tmux ---------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_incoming_messages_leave_the_typed_line_intact(
    websockets_server: WebsocketsServer, tmux: str, mode: str
) -> None:
    # Keepalive pings every 0.1 s put events on the screen while the user types.
    command = [
        sys.executable,
        "-m",
        "wsapi",
        "connect",
        websockets_server.url("/echo"),
        "--ping-interval",
        "0.1",
        *(["--plain"] if mode == "plain" else []),
    ]
    env = cli_env(TERM="xterm", PROMPT_TOOLKIT_NO_CPR="1")
    tmux_start(tmux, command, env)

    def send(*keys: str) -> None:
        tmux_send(tmux, *keys)

    def wait_for(condition: str, predicate: Callable[[list[str]], bool]) -> list[str]:
        return tmux_wait_for(tmux, condition, predicate)

    wait_for("no prompt", lambda screen: bool(screen) and screen[-1].rstrip() == ">")
    send("-l", "a line being typed")
    pongs_before = sum("< pong" in line for line in tmux_screen(tmux))
    # Events keep coming; the prompt and what was typed stay on the last line, below them.
    # (prompt_toolkit erases and redraws its prompt around each output: the screen is
    # looked at between two redraws.)
    screen = wait_for(
        "the typed line was garbled, or no events came while typing",
        lambda screen: (
            sum("< pong" in line for line in screen) >= pongs_before + 3
            and screen[-1] == "> a line being typed"
        ),
    )
    typed = [line for line in screen if "a line being typed" in line]
    assert typed == ["> a line being typed"], "\n".join(screen)
    events = [line for line in screen if " ms  " in line]
    assert all(line.lstrip()[0].isdigit() for line in events), "\n".join(screen)
    send("Enter")
    wait_for(
        "the line was not sent",
        lambda screen: any(line.endswith("< text     18 B  a line being typed") for line in screen),
    )
    send("C-d")
    wait_for("no clean close", lambda screen: any("= closed   1000" in line for line in screen))
