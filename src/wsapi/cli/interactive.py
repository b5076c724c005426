"""Reading what to send: the interactive prompt on a terminal, or lines from standard input.

On a terminal the prompt has line editing and history: prompt_toolkit's when
the ``wsapi[cli]`` extra is installed (its ``patch_stdout`` prints incoming
events above the line being typed), else ``input()`` with the standard
library's ``readline``, in a thread so that the connection keeps running;
``Console`` then erases the prompt, prints the event and redraws the prompt
with what was typed so far.

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

#: ``read_line()`` returns a line without its end, or None at the end of input.
ReadLine = Callable[[], "str | None"]


class Console:
    """Where the timeline and notes go; keeps a plain prompt's typed line intact.

    Streams are looked up at each write, so prompt_toolkit's ``patch_stdout``
    takes effect while it is active. A closed pipe (``wsapi ... | head``)
    calls ``on_broken_pipe`` once, and output stops.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._prompt: str | None = None
        self._typed: Callable[[], str] = str
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
            if self.broken and not to_stderr:
                return
            self._writes += 1
            try:
                stream: TextIO = sys.stderr if to_stderr else sys.stdout
                if self._prompt is None:
                    if to_stderr:
                        sys.stdout.flush()
                    stream.write(text + "\n")
                    stream.flush()
                    return
                # Erase the prompt line, print, and draw the prompt again with
                # what the user has typed so far.
                sys.stdout.write("\r\x1b[K")
                sys.stdout.flush()
                stream.write(text + "\n")
                stream.flush()
                sys.stdout.write(self._prompt + self._typed())
                sys.stdout.flush()
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

    def prompt_shown(self, prompt: str, typed: Callable[[], str]) -> None:
        with self._lock:
            self._prompt = prompt
            self._typed = typed

    def prompt_hidden(self) -> int:
        """The prompt was answered; returns the write count, for ``erase_answer``."""
        with self._lock:
            self._prompt = None
            return self._writes

    def erase_answer(self, writes: int, shown: str) -> None:
        """Erase the answered prompt line (the timeline shows what was sent instead).

        Nothing is erased if something was printed after the answer: the line
        above the cursor is no longer the prompt.
        """
        with self._lock:
            if writes != self._writes or self.broken:
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


def plain_prompt_reader(console: Console, prompt: str = PROMPT) -> ReadLine:
    """``input(prompt)`` with readline's editing and history, cooperating with ``console``."""
    readline = _readline_module()
    typed: Callable[[], str] = readline.get_line_buffer if readline is not None else str

    def read_line() -> str | None:
        console.prompt_shown(prompt, typed)
        try:
            line = input(prompt)
        except EOFError:
            console.prompt_hidden()
            console.out("")
            return None
        writes = console.prompt_hidden()
        if line.strip():
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
