"""One session of ``wsapi connect`` or ``wsapi replay``: connect, send, show, close, exit status.

The timeline is built on the ``trace=`` hook: every ``TraceEvent`` goes to the
screen (or ``--jsonl``) and to the ``--save`` transcript as it happens. What
is sent comes from ``--send``, standard input (typed at the prompt or piped)
or a replayed transcript. The session ends when the connection closes; it
closes it itself (1000) at the end of input, after ``--count`` messages,
after ``--wait`` seconds of quiet, or on Ctrl-C.
"""

from __future__ import annotations

import signal
import sys
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio

from ..errors import ConnectionFailed, DOMException
from ..events import CloseEvent, ErrorEvent, MessageEvent
from ..trace import TraceEvent
from ..websocket import WebSocket
from . import exit_codes
from .commands import HELP, Action, Close, CommandError, Help, Outgoing, parse_line
from .interactive import (
    Console,
    plain_prompt_reader,
    prompt_toolkit_loop,
    pump_lines,
    stdin_line_reader,
)
from .options import doctor_command
from .timeline import Timeline, close_code_name, escape, quiet_line
from .transcript import TranscriptWriter, dumps, event_record, session_record

__all__ = ["InputMode", "OutputForm", "Session", "SessionConfig"]

#: ``interactive``: the prompt; ``lines``: each stdin line is a text message;
#: ``commands``: each stdin line is read as at the prompt; ``none``: stdin is not read.
InputMode = Literal["interactive", "lines", "commands", "none"]
OutputForm = Literal["human", "jsonl", "quiet"]

#: Stop reading input while this many bytes wait to be written to the socket.
SEND_HIGH_WATER = 1 << 20

#: At the end of (non-interactive) input, close after this many seconds without a message.
LINGER = 1.0


@dataclass
class SessionConfig:
    """Everything a session needs, from the command line or a transcript."""

    url: str
    protocols: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
    outgoing: list[Outgoing] = field(default_factory=list)
    count: int | None = None
    wait: float | None = None
    input_mode: InputMode = "none"
    prompt_toolkit: bool = False
    form: OutputForm = "human"
    timeline: Timeline = field(default_factory=Timeline)
    save: str | None = None
    show_secrets: bool = False
    #: ``--cacert``, ``--insecure``, ``--proxy-cacert`` and ``--proxy-insecure``, for
    #: the ``wsapi doctor`` hint.
    cacert: str | None = None
    insecure: bool = False
    proxy_cacert: str | None = None
    proxy_insecure: bool = False
    #: Replay: send ``outgoing`` at their recorded times.
    timing: bool = False
    #: Replay: the client's recorded Close, and when the recorded connection closed.
    final_close: Close | None = None
    final_close_at: float = 0.0
    end: float | None = None


class Session:
    """Runs one connection; ``run()`` returns the exit status."""

    def __init__(self, config: SessionConfig, console: Console | None = None) -> None:
        self.config = config
        self.console = console or Console()
        self.console.on_broken_pipe = self._on_broken_pipe
        self._ws: WebSocket | None = None
        self._writer: TranscriptWriter | None = None
        self._opened = False
        self._received = 0
        self._activity = 0.0
        self._open_time = 0.0
        self._signal: int | None = None
        self._failure: ConnectionFailed | None = None
        self._error = ""
        self._close_event: CloseEvent | None = None
        self._scope: anyio.CancelScope | None = None

    # -- running -------------------------------------------------------------------

    def create_websocket(self) -> WebSocket:
        """The ``WebSocket``; raises ``DOMException``, ``ValueError`` or ``TypeError``."""
        config = self.config
        ws = WebSocket(config.url, config.protocols or None, trace=self._trace, **config.options)
        ws.onmessage = self._on_message
        ws.onerror = self._on_error
        self._ws = ws
        return ws

    async def run(self) -> int:
        """Connect, run the session, and return the exit status."""
        config = self.config
        ws = self._ws or self.create_websocket()
        if config.save is not None:
            self._writer = TranscriptWriter(config.save)
        first = session_record(ws.url, show_secrets=config.show_secrets)
        if self._writer is not None:
            self._writer.write(first)
        if config.form == "jsonl":
            self.console.out(dumps(first))
        try:
            async with anyio.create_task_group() as outer:
                self._scope = outer.cancel_scope
                outer.start_soon(self._watch_signals)
                await self._connected(ws)
                outer.cancel_scope.cancel()
        finally:
            if self._writer is not None:
                self._writer.close()
        return self._report()

    async def _connected(self, ws: WebSocket) -> None:
        try:
            async with ws:
                self._open_time = self._activity = anyio.current_time()
                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(self._drive)
                    if self.config.wait is not None:
                        tasks.start_soon(self._quiet_timer, self.config.wait)
                    self._close_event = await ws.wait_closed()
                    tasks.cancel_scope.cancel()
        except ConnectionFailed as exc:
            self._failure = exc

    async def _drive(self) -> None:
        """Send ``--send`` (or replayed) messages, then what comes from standard input."""
        config = self.config
        for item in config.outgoing:
            if config.timing:
                await anyio.sleep_until(self._open_time + item.at)
            await self._act(item)
        mode = config.input_mode
        if mode == "interactive":
            self.console.err(
                "Connected: type a message and press Enter to send it; /help lists the "
                "commands; Ctrl-D closes."
            )
            if config.prompt_toolkit:
                await prompt_toolkit_loop(self._on_typed, self._on_prompt_interrupt)
            else:
                await self._plain_prompt()
        elif mode in ("lines", "commands"):
            await pump_lines(stdin_line_reader(), self._on_stdin_line)
        await self._input_done()

    async def _plain_prompt(self) -> None:
        saved = _terminal_attributes()
        try:
            await pump_lines(plain_prompt_reader(self.console), self._on_typed)
        finally:
            self.console.prompt_hidden()
            if saved is not None:
                _restore_terminal(saved)

    async def _input_done(self) -> None:
        """The end of input: close, unless ``--count``/``--wait`` will.

        Ctrl-D at the prompt closes at once. Otherwise answers may still be on
        their way (a server that sees our Close stops answering), so the
        session closes after ``LINGER`` seconds without a message, or at the
        recorded time when a replay keeps the timing.
        """
        config = self.config
        if config.input_mode == "interactive":
            self._close(1000, "")
            return
        if config.count is not None or config.wait is not None:
            return
        close = config.final_close or Close(1000, "")
        if config.timing:
            if config.final_close is not None:
                await anyio.sleep_until(self._open_time + config.final_close_at)
            elif config.end is not None:
                await anyio.sleep_until(self._open_time + config.end)
        else:
            await self._quiet_timer(LINGER, close=False)
        self._close(close.code, close.reason)

    async def _quiet_timer(self, wait: float, *, close: bool = True) -> None:
        """Return (and close with 1000 if ``close``) after ``wait`` seconds without a message."""
        while True:
            remaining = self._activity + wait - anyio.current_time()
            if remaining <= 0:
                break
            await anyio.sleep(remaining)
        if close:
            self._close(1000, "")

    async def _watch_signals(self) -> None:
        try:
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for signum in signals:
                    self._interrupt(signum)
        except (NotImplementedError, RuntimeError, ValueError):
            return  # no signal handling here (Windows, or not the main thread)

    def _interrupt(self, signum: int) -> None:
        """First Ctrl-C: close cleanly; the second, or one while connecting: stop at once."""
        ws = self._ws
        if self._signal is None and ws is not None and ws.readyState == WebSocket.OPEN:
            self._signal = signum
            self.console.err("wsapi: closing (press Ctrl-C again to stop at once)")
            ws.close(1000)
            return
        self._signal = self._signal or signum
        if self._scope is not None:
            self._scope.cancel()

    def _on_prompt_interrupt(self) -> None:
        self._interrupt(signal.SIGINT)

    def _on_broken_pipe(self) -> None:
        self._close(1000, "")

    # -- sending -----------------------------------------------------------------

    async def _on_typed(self, line: str) -> None:
        if not line.strip():
            return
        await self._command(line)

    async def _on_stdin_line(self, line: str) -> None:
        if self.config.input_mode == "commands":
            if line.strip():
                await self._command(line)
        else:
            await self._act(Outgoing("text", line))

    async def _command(self, line: str) -> None:
        try:
            action: Action = parse_line(line)
        except CommandError as exc:
            self.console.err(f"wsapi: {exc}")
            return
        await self._act(action)

    async def _act(self, action: Action) -> None:
        ws = self._ws
        assert ws is not None
        if isinstance(action, Help):
            self.console.err(HELP)
        elif isinstance(action, Close):
            self._close(action.code, action.reason)
        elif isinstance(action, Outgoing):
            if ws.readyState != WebSocket.OPEN:
                self.console.err(f"wsapi: not sent, the connection is closing: {action.kind}")
                return
            try:
                if action.kind == "ping":
                    ws.ping(action.data)
                else:
                    ws.send(action.data)
            except ValueError as exc:  # a hand-edited transcript's ping over 125 bytes
                self.console.err(f"wsapi: not sent: {exc}")
                return
            # Backpressure for piped input. The API has no "drained" event to wait
            # for (as in the browser, bufferedAmount is polled).
            open_ = WebSocket.OPEN
            while ws.bufferedAmount > SEND_HIGH_WATER and ws.readyState == open_:  # noqa: ASYNC110
                await anyio.sleep(0.01)

    def _close(self, code: int | None, reason: str) -> None:
        ws = self._ws
        if ws is None or ws.readyState != WebSocket.OPEN:
            return
        try:
            ws.close(code, reason)
        except DOMException as exc:  # a recorded code the API does not allow
            self.console.err(f"wsapi: {exc.message} Closing with 1000 instead.")
            ws.close(1000)

    # -- what happens on the connection ---------------------------------------------

    def _on_message(self, event: MessageEvent) -> None:
        self._received += 1
        count = self.config.count
        if count is not None and self._received >= count:
            self._close(1000, "")

    def _on_error(self, event: ErrorEvent) -> None:
        self._error = event.message

    def _trace(self, event: TraceEvent) -> None:
        config = self.config
        kind = event.kind
        if kind in ("text", "binary"):
            self._activity = anyio.current_time()
        protocol = extensions = ""
        if kind == "open" and self._ws is not None:
            self._opened = True
            protocol, extensions = self._ws.protocol, self._ws.extensions
        if self._writer is not None or config.form == "jsonl":
            record = event_record(
                event,
                show_secrets=config.show_secrets,
                protocol=protocol,
                extensions=extensions,
            )
            if self._writer is not None:
                self._writer.write(record)
            if config.form == "jsonl":
                self.console.out(dumps(record))
                return
        if config.form == "quiet":
            line = quiet_line(event)
        elif kind in ("error", "closed") and not self._opened:
            line = None  # the diagnostic goes to standard error at the end
        else:
            line = config.timeline.format(event, protocol=protocol, extensions=extensions)
        if line is not None:
            self.console.out(line)

    # -- the outcome -------------------------------------------------------------------

    def _doctor_hint(self) -> str:
        """The ``wsapi doctor`` command for the same request, and what it does."""
        config, options = self.config, self.config.options
        command, left_out = doctor_command(
            config.url,
            protocols=config.protocols,
            headers=options.get("headers", ()),
            origin=options.get("origin"),
            user_agent=options.get("user_agent"),
            compression=options.get("compression", "deflate") is not None,
            cacert=config.cacert,
            insecure=config.insecure,
            proxy=options.get("proxy", True),
            proxy_cacert=config.proxy_cacert,
            proxy_insecure=config.proxy_insecure,
            unix_socket=options.get("unix_socket"),
            show_secrets=config.show_secrets,
        )
        hint = (
            f"`{command}` checks each stage of the connection (DNS, TCP, TLS, HTTP upgrade) "
            "and says which one fails"
        )
        if left_out:
            secrets = left_out[-1]
            if len(left_out) > 1:
                secrets = f"{', '.join(left_out[:-1])} and {secrets}"
            hint += f" (add {secrets} to it: secrets are not shown here)"
        return hint + "."

    def _report(self) -> int:
        """Say how the session ended (on standard error) and return the exit status."""
        if self._failure is not None:
            if self._signal is not None:
                return exit_codes.signal_status(self._signal)
            self.console.err(f"wsapi: {self._failure}")
            self.console.err(f"wsapi: hint: {self._doctor_hint()}")
            return exit_codes.CONNECT_FAILED
        if self._signal is not None:
            return exit_codes.signal_status(self._signal)
        event = self._close_event
        if event is None:  # cancelled before the connection closed
            return exit_codes.ERROR
        status = exit_codes.exit_status(event.code, event.wasClean)
        if status != exit_codes.OK and self.config.form != "human":
            if status == exit_codes.ABNORMAL:
                why = f": {self._error}" if self._error else ""
                self.console.err(f"wsapi: the connection closed abnormally (1006){why}")
            else:
                reason = f' "{escape(event.reason)}"' if event.reason else ""
                self.console.err(
                    f"wsapi: the connection closed with {close_code_name(event.code)}{reason}"
                )
        return status


def _terminal_attributes() -> list[Any] | None:
    try:
        import termios

        return termios.tcgetattr(sys.stdin.fileno())
    except Exception:  # not a terminal, or no termios (Windows)
        return None


def _restore_terminal(saved: list[Any]) -> None:
    """Undo what readline left mid-line: raw mode, bracketed paste, the prompt."""
    try:
        import termios

        termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, saved)
        sys.stdout.write("\r\x1b[K\x1b[?2004l")
        sys.stdout.flush()
    except Exception:
        pass
