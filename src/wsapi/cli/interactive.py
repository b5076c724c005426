"""Reading what to send: the interactive prompt on a terminal, or lines from standard input.

On a terminal the prompt has line editing and history: prompt_toolkit's when
the ``wsapi[cli]`` extra is installed (its ``patch_stdout`` prints incoming
events above the line being typed), else ``input()`` with the standard
library's ``readline``, in a thread so that the connection keeps running;
``Console`` then erases the prompt, prints the event and redraws the prompt
with what was typed so far. readline's pre-input hook and the terminal's mode
tell ``Console`` when the prompt is on the screen and when it has been
answered, so that neither a message that comes just before the prompt is
drawn nor one that comes just after Enter garbles the screen.

Off a terminal, standard input is read in a thread with ``os.read`` (no
buffered-file lock, so the thread may be abandoned at exit safely), one
message per line.
"""

from __future__ import annotations

import importlib
import math
import os
import shutil
import sys
import threading
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import TextIO

import anyio
from anyio.from_thread import BlockingPortal

__all__ = [
    "PROMPT",
    "Console",
    "have_prompt_toolkit",
    "plain_prompt_reader",
    "prompt_toolkit_loop",
    "pump_lines",
    "stdin_line_reader",
]

PROMPT = "> "

#: How long output waits for ``input()`` to draw a prompt it is about to draw.
PROMPT_DRAW_WAIT = 1.0

# Back to the start of the line, and clear it.
_CLEAR_LINE = "\r\x1b[K"

#: ``read_line()`` returns a line without its end, or None at the end of input.
ReadLine = Callable[[], "str | None"]


def _always() -> bool:
    return True


class Console:
    """Where the timeline and notes go; keeps a plain prompt's typed line intact.

    Streams are looked up at each write, so prompt_toolkit's ``patch_stdout``
    takes effect while it is active. A closed pipe (``wsapi ... | head``)
    calls ``on_broken_pipe`` once, and output stops.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._drawn = threading.Condition(self._lock)
        self._pending: str | None = None  # input() is about to draw this prompt
        self._prompt: str | None = None  # this prompt is on the screen
        self._typed: Callable[[], str] = str
        self._editing: Callable[[], bool] = _always
        self._answer_moved = False
        self._writes = 0
        self.broken = False
        self.on_broken_pipe: Callable[[], None] = lambda: None

    @staticmethod
    def prepare_streams() -> None:
        """Characters the terminal's encoding lacks come out as escapes, not as a crash."""
        for stream in (sys.stdout, sys.stderr):
            reconfigure = getattr(stream, "reconfigure", None)
            if reconfigure is not None:
                try:
                    reconfigure(errors="backslashreplace")
                except (ValueError, OSError):
                    pass

    def out(self, text: str) -> None:
        """A line (or several) of the timeline, on standard output."""
        self._write(False, text)

    def err(self, text: str) -> None:
        """A note or a diagnostic, on standard error."""
        self._write(True, text)

    def _write(self, to_stderr: bool, text: str) -> None:
        with self._lock:
            if self._pending is not None:
                self._wait_for_prompt()
            if self.broken and not to_stderr:
                return
            self._writes += 1
            try:
                stream: TextIO = sys.stderr if to_stderr else sys.stdout
                if self._prompt is not None and self._editing():
                    # Erase the prompt line, print, and draw the prompt again
                    # with what the user has typed so far.
                    sys.stdout.write(_CLEAR_LINE)
                    sys.stdout.flush()
                    stream.write(text + "\n")
                    stream.flush()
                    sys.stdout.write(self._prompt + self._typed())
                    sys.stdout.flush()
                    return
                if self._prompt is not None:
                    # Enter was pressed and input() has not returned yet: the
                    # cursor is on the line below the answer, as if no prompt
                    # were shown, and the answer can no longer be erased.
                    self._answer_moved = True
                if to_stderr:
                    sys.stdout.flush()
                stream.write(text + "\n")
                stream.flush()
            except BrokenPipeError:
                self._broken()

    def _broken(self) -> None:
        if self.broken:
            return
        self.broken = True
        try:
            # Later writes and the flush at exit go nowhere instead of failing.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        except (OSError, ValueError):
            pass
        self.on_broken_pipe()

    # -- the plain prompt ---------------------------------------------------------

    def prompt_coming(
        self, prompt: str, typed: Callable[[], str], editing: Callable[[], bool] = _always
    ) -> None:
        """``input()`` is about to draw ``prompt``, and will call ``prompt_shown()`` once it has.

        Output meanwhile waits for it (at most ``PROMPT_DRAW_WAIT`` seconds,
        should the call never come): printed before the prompt is drawn, an
        event would make ``input()`` draw a second prompt after the redrawn
        one (``> > ``). ``typed()`` is what the user has typed so far;
        ``editing()`` is false once Enter is pressed, before ``input()`` returns.
        """
        with self._lock:
            self._pending = prompt
            self._typed = typed
            self._editing = editing
            self._answer_moved = False

    def prompt_shown(self, prompt: str | None = None, typed: Callable[[], str] = str) -> None:
        """The prompt is on the screen: ``prompt``, or the one ``prompt_coming()`` announced."""
        with self._lock:
            if prompt is None:
                self._prompt = self._pending
            else:
                self._prompt, self._typed = prompt, typed
                self._editing = _always
                self._answer_moved = False
            self._pending = None
            self._drawn.notify_all()

    def _wait_for_prompt(self) -> None:
        if not self._drawn.wait_for(lambda: self._pending is None, PROMPT_DRAW_WAIT):
            self.prompt_shown()

    def prompt_hidden(self) -> int | None:
        """The prompt was answered; returns what ``erase_answer`` needs, or None
        if the answer cannot be erased (something was printed below it)."""
        with self._lock:
            self._prompt = self._pending = None
            self._drawn.notify_all()
            return None if self._answer_moved else self._writes

    def holding(self) -> threading.RLock:
        """The lock that keeps output out, as a context manager (while drawing a prompt)."""
        return self._lock

    def erase_answer(self, writes: int | None, shown: str) -> None:
        """Erase the answered prompt line (the timeline shows what was sent instead).

        Nothing is erased if something was printed after the answer: the line
        above the cursor is no longer the prompt.
        """
        with self._lock:
            if writes is None or writes != self._writes or self.broken:
                return
            columns = shutil.get_terminal_size((80, 24)).columns
            rows = max(1, math.ceil(len(shown) / max(columns, 1)))
            try:
                sys.stdout.write(f"\x1b[{rows}F\x1b[J")
                sys.stdout.flush()
            except BrokenPipeError:
                self._broken()


async def pump_lines(read_line: ReadLine, on_line: Callable[[str], Awaitable[None]]) -> None:
    """Call ``read_line`` in a daemon thread and ``on_line`` in the event loop, line by line.

    The thread waits for each line to be handled before it reads the next
    (the prompt comes back once the message is sent). Returns at the end of
    input; if cancelled, the thread is left blocked in its read and dies with
    the process.
    """
    done = anyio.Event()

    async def deliver(line: str | None) -> None:
        if line is None:
            done.set()
        else:
            await on_line(line)

    def run(portal: BlockingPortal) -> None:
        while True:
            try:
                line = read_line()
            except Exception:
                line = None
            try:
                portal.call(deliver, line)
            except BaseException:  # the portal is stopping: the session is over
                return
            if line is None:
                return

    async with BlockingPortal() as portal:
        thread = threading.Thread(target=run, args=(portal,), name="wsapi input", daemon=True)
        thread.start()
        try:
            await done.wait()
        finally:
            await portal.stop(cancel_remaining=True)


def stdin_line_reader(fd: int | None = None) -> ReadLine:
    """Lines from standard input, read with ``os.read`` (UTF-8, ``\\r\\n`` or ``\\n``)."""
    if fd is None:
        fd = sys.stdin.fileno()
    buffer = bytearray()
    ended = False

    def read_line() -> str | None:
        nonlocal ended
        while True:
            end = buffer.find(b"\n")
            if end >= 0:
                line = bytes(buffer[:end])
                del buffer[: end + 1]
                return line.removesuffix(b"\r").decode("utf-8", errors="replace")
            if ended:
                if buffer:
                    line = bytes(buffer)
                    buffer.clear()
                    return line.removesuffix(b"\r").decode("utf-8", errors="replace")
                return None
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                ended = True
            buffer.extend(chunk)

    return read_line


def _readline_module() -> ModuleType | None:
    try:
        import readline  # line editing and history for input(), where available
    except ImportError:  # Windows, or a Python built without it
        return None
    return readline


def _input_uses_readline(readline: ModuleType | None) -> bool:
    """Whether ``input()`` goes through readline, and readline can say when its
    prompt is drawn. CPython's own test: standard input and output are the
    process's first two descriptors, and terminals."""
    if readline is None or not hasattr(readline, "set_pre_input_hook"):
        return False
    try:
        return (
            sys.stdin.fileno() == 0 and sys.stdout.fileno() == 1 and os.isatty(0) and os.isatty(1)
        )
    except (AttributeError, ValueError, OSError):
        return False


def _editing_line(fd: int) -> Callable[[], bool]:
    """Whether readline is editing a line: it takes the terminal out of
    canonical mode when it starts, and puts it back when Enter is pressed,
    before ``input()`` returns."""
    import termios

    def editing() -> bool:
        try:
            return not termios.tcgetattr(fd)[3] & termios.ICANON
        except (termios.error, OSError):
            return True

    return editing


def plain_prompt_reader(console: Console, prompt: str = PROMPT) -> ReadLine:
    """``input(prompt)`` with readline's editing and history, cooperating with ``console``.

    With readline, its pre-input hook tells ``console`` when the prompt is on
    the screen, and the terminal's mode when Enter has been pressed. Without
    it, the prompt is written here, under the console's lock, starting with
    clearing its line (a prompt redrawn after Enter is replaced, not doubled);
    what is typed cannot be redrawn, nor the answer erased.
    """
    readline = _readline_module()
    uses_readline = _input_uses_readline(readline)
    typed: Callable[[], str] = str
    editing: Callable[[], bool] = _always
    if uses_readline:
        assert readline is not None
        readline.set_pre_input_hook(console.prompt_shown)
        typed = readline.get_line_buffer
        editing = _editing_line(sys.stdin.fileno())

    def ask() -> str:
        if uses_readline:
            console.prompt_coming(prompt, typed, editing)
            return input(prompt)
        with console.holding():
            sys.stdout.write(_CLEAR_LINE + prompt)
            sys.stdout.flush()
            console.prompt_shown(prompt)
        return input()

    def read_line() -> str | None:
        try:
            line = ask()
        except EOFError:
            console.prompt_hidden()
            console.out("")
            return None
        writes = console.prompt_hidden()
        if line.strip() and uses_readline:
            console.erase_answer(writes, prompt + line)
        return line

    return read_line


def have_prompt_toolkit() -> bool:
    """Whether the ``wsapi[cli]`` extra (prompt_toolkit 3) is installed and imports.

    Anything else (not installed, an older version, a broken install) means
    the plain prompt, not a crash.
    """
    try:
        module = importlib.import_module("prompt_toolkit")
        importlib.import_module("prompt_toolkit.patch_stdout")
        major = int(str(module.__version__).split(".")[0])
    except Exception:
        return False
    return major >= 3


async def prompt_toolkit_loop(
    on_line: Callable[[str], Awaitable[None]],
    on_interrupt: Callable[[], None],
    prompt: str = PROMPT,
) -> None:
    """Read lines with prompt_toolkit until Ctrl-D (returns) or Ctrl-C (``on_interrupt``).

    Runs on asyncio (prompt_toolkit's loop). Output printed meanwhile goes
    above the prompt, through ``patch_stdout``.
    """
    # The wsapi[cli] extra: absent from a plain install (and from mypy's view there).
    from prompt_toolkit import PromptSession  # type: ignore[import-not-found,unused-ignore]
    from prompt_toolkit.history import (  # type: ignore[import-not-found,unused-ignore]
        InMemoryHistory,
    )
    from prompt_toolkit.patch_stdout import (  # type: ignore[import-not-found,unused-ignore]
        patch_stdout,
    )

    session: PromptSession[str] = PromptSession(history=InMemoryHistory(), erase_when_done=True)
    with patch_stdout(raw=True):
        while True:
            try:
                line = await session.prompt_async(
                    prompt, handle_sigint=False, set_exception_handler=False
                )
            except EOFError:
                return
            except KeyboardInterrupt:
                on_interrupt()
                return
            await on_line(line)
