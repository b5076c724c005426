"""The plain prompt against output from another thread, on a screen rendered by tmux.

``Console`` redraws the prompt below each event printed while the prompt is
shown. Two moments used to leave two prompts on a line, ``> > ``, with the
user typing after them: an event that came just before ``input()`` drew its
prompt (say the echo of the line just sent), and one that came just after
Enter, before ``input()`` returned. Both windows last microseconds; here
``input()`` is wrapped so that an event is printed, from another thread, in
each of them, every time.
"""

from __future__ import annotations

import sys

import pytest

from tests.cli.helpers import cli_env
from tests.cli.tmux import tmux_send, tmux_start, tmux_wait_for

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX terminal")

LINES = 20

# Runs in tmux. argv[1] is "readline", or "none" for a Python without the
# readline module (input() then draws the prompt without it).
_CHILD = """
import builtins, sys, threading
from wsapi.cli import interactive
if sys.argv[1] == "none":
    interactive._readline_module = lambda: None
console = interactive.Console()
count = 0
def event(wait):
    global count
    count += 1
    thread = threading.Thread(target=console.out, args=(f"event {count}",))
    thread.start()
    thread.join(wait)
real_input = builtins.input
def racing_input(prompt=""):
    # The event may wait for the prompt to be drawn: give it 50 ms, then draw.
    event(0.05)
    line = real_input(prompt)
    event(None)
    return line
builtins.input = racing_input
read_line = interactive.plain_prompt_reader(console)
lines = []
while (line := read_line()) is not None:
    lines.append(line)
console.out(f"read {len(lines)} lines, {sum(line == 'abc' for line in lines)} whole")
"""


@pytest.mark.parametrize("readline", ["readline", "none"])
def test_each_prompt_is_drawn_once_while_events_arrive(tmux: str, readline: str) -> None:
    tmux_start(tmux, [sys.executable, "-c", _CHILD, readline], cli_env(TERM="xterm"))
    for _ in range(LINES):
        # Keys typed before the prompt is back are the terminal's, not the prompt's.
        tmux_wait_for(tmux, "no prompt", lambda screen: bool(screen) and screen[-1] == ">")
        tmux_send(tmux, "-l", "abc")
        tmux_send(tmux, "Enter")
    tmux_wait_for(tmux, "no prompt", lambda screen: bool(screen) and screen[-1] == ">")
    tmux_send(tmux, "C-d")
    screen = tmux_wait_for(
        tmux,
        "the prompt did not end",
        lambda screen: any(line.startswith("read ") for line in screen),
        scrollback=True,
    )
    shown = "\n".join(screen)
    assert f"read {LINES} lines, {LINES} whole" in shown, shown
    assert sum(line.startswith("event ") for line in screen) == 2 * LINES + 1, shown
    doubled = [line for line in screen if line.startswith("> >")]
    assert not doubled, f"{len(doubled)} prompts were drawn twice:\n{shown}"
