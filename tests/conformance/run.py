"""Run the Autobahn|Testsuite fuzzing server against wsapi and other Python clients.

    python tests/conformance/run.py                  # quick set, every client
    python tests/conformance/run.py --full           # all 517 cases (tens of minutes)
    python tests/conformance/run.py --clients wsapi-asyncio,wsapi-trio --cases '6.4.*,7.*'
    python tests/conformance/run.py --setup-only     # make the wstest virtualenv, run nothing

The runner makes tests/conformance/.wstest-venv when it is missing (Python 2.7 from
pyenv, virtualenv<20.22, the pins of requirements-wstest.txt), writes a fuzzing-server
spec, starts ``wstest -m fuzzingserver`` on 127.0.0.1 only with its web page off, runs
each client agent of agents.py in turn, then reads the server's index.json and prints,
per client, the count of each outcome, the cases that are not OK and the 9.* durations.

Exit status: 0 when every case of every wsapi agent is OK (INFORMATIONAL for 7.1.6,
7.13.1 and 7.13.2, which are informational for every client), 1 when one is not, 2 when
wstest could not be set up or run.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import fcntl
import hashlib
import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
VENV = HERE / ".wstest-venv"
BOOTSTRAP = HERE / ".virtualenv-bootstrap"
REQUIREMENTS = HERE / "requirements-wstest.txt"
BUILD_REQUIREMENTS = HERE / "requirements-wstest-build.txt"
VIRTUALENV_REQUIREMENTS = HERE / "requirements-virtualenv.txt"
LAUNCHER = HERE / "wstest_local.py"
AGENTS = HERE / "agents.py"
STAMP = VENV / ".wsapi-setup-stamp"
SETUP_LOCK = BOOTSTRAP.with_name(".wstest-setup.lock")
DEFAULT_REPORT_DIR = HERE / "reports"

PYTHON27_VERSION = "2.7.18"

ALL_CLIENTS = ("wsapi-asyncio", "wsapi-trio", "wsapi-onmessage", "websockets", "aiohttp", "wsproto")
#: wsapi reading with ``async for``, on asyncio and on trio, and answering from a
#: synchronous ``onmessage`` listener (asyncio's inline dispatch).
WSAPI_CLIENTS = ("wsapi-asyncio", "wsapi-trio", "wsapi-onmessage")
#: The library each client needs in this interpreter.
CLIENT_MODULES = {
    "wsapi-asyncio": "wsapi",
    "wsapi-trio": "trio",
    "wsapi-onmessage": "wsapi",
    "websockets": "websockets",
    "aiohttp": "aiohttp",
    "wsproto": "wsproto",
}
#: The quick set leaves out the big messages (9.*) and permessage-deflate (12.*, 13.*).
QUICK_EXCLUDE = ("9.*", "12.*", "13.*")
#: Cases whose outcome is INFORMATIONAL for every client (wstest reports, never judges).
INFORMATIONAL_CASES = frozenset({"7.1.6", "7.13.1", "7.13.2"})
OUTCOMES = ("OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED")
#: Wall-clock limits for one agent, in seconds.
AGENT_TIMEOUT = {"quick": 900, "full": 4 * 3600}


class SetupError(RuntimeError):
    """wstest cannot be installed or started on this machine."""


# -- the wstest virtualenv -------------------------------------------------------------


def find_python27() -> Path | None:
    """pyenv's 2.7.18 (or $WSTEST_PYTHON27, or python2.7 on PATH), or None."""
    candidates: list[Path] = []
    if os.environ.get("WSTEST_PYTHON27"):
        candidates.append(Path(os.environ["WSTEST_PYTHON27"]))
    roots = []
    if os.environ.get("PYENV_ROOT"):
        roots.append(os.environ["PYENV_ROOT"])
    pyenv = shutil.which("pyenv")
    if pyenv:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pyenv, "root"], capture_output=True, text=True, timeout=30, check=True
            )
            roots.append(out.stdout.strip())
    roots.append(str(Path.home() / ".pyenv"))
    for root in roots:
        candidates.append(Path(root) / "versions" / PYTHON27_VERSION / "bin" / "python")
    which = shutil.which("python2.7")
    if which:
        candidates.append(Path(which))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _stamp(python27: Path) -> str:
    digest = hashlib.sha256()
    digest.update(str(python27).encode() + b"\0")
    for path in (VIRTUALENV_REQUIREMENTS, BUILD_REQUIREMENTS, REQUIREMENTS, LAUNCHER):
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def wstest_python() -> Path:
    return VENV / "bin" / "python"


def wstest_ready() -> bool:
    """Whether the wstest virtualenv exists and matches requirements-wstest.txt."""
    python27 = find_python27()
    if python27 is None or not STAMP.is_file() or not wstest_python().exists():
        return False
    return STAMP.read_text().strip() == _stamp(python27)


def _run_logged(command: list[str], log: list[str], **kwargs: Any) -> None:
    log.append("$ " + " ".join(command))
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONWARNINGS="ignore")
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=1800, **kwargs
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.append(str(exc))
        raise SetupError(f"`{' '.join(command)}` could not run: {exc}") from exc
    log.append(done.stdout + done.stderr)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-25:])
        raise SetupError(f"`{' '.join(command)}` failed (exit {done.returncode}):\n{tail}")


@contextlib.contextmanager
def _setup_lock() -> Iterator[None]:
    with open(SETUP_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def setup_wstest(*, force: bool = False, quiet: bool = False) -> Path:
    """Make tests/conformance/.wstest-venv if needed; return its Python. Raises SetupError.

    Quick when already done: a stamp file records the interpreter and the pins.
    """
    python27 = find_python27()
    if python27 is None:
        raise SetupError(
            f"no Python {PYTHON27_VERSION}: wstest needs pyenv's "
            f"$(pyenv root)/versions/{PYTHON27_VERSION}/bin/python "
            "(or set WSTEST_PYTHON27 to a Python 2.7 interpreter)"
        )
    with _setup_lock():
        if not force and wstest_ready():
            return wstest_python()

        def say(message: str) -> None:
            if not quiet:
                print(f"[setup] {message}", flush=True)

        log: list[str] = []
        started = time.monotonic()
        try:
            virtualenv = BOOTSTRAP / "bin" / "virtualenv"
            bootstrap_python = BOOTSTRAP / "bin" / "python"
            if not bootstrap_python.exists():
                say(f"Python 3 virtualenv {BOOTSTRAP.relative_to(HERE.parents[1])}")
                _run_logged([sys.executable, "-m", "venv", "--clear", str(BOOTSTRAP)], log)
            say(f"pip install --no-deps -r {VIRTUALENV_REQUIREMENTS.name} (virtualenv<20.22)")
            _run_logged(
                [
                    str(bootstrap_python),
                    "-m",
                    "pip",
                    "install",
                    "--no-deps",
                    "-r",
                    str(VIRTUALENV_REQUIREMENTS),
                ],
                log,
            )
            say(f"Python 2.7 virtualenv {VENV.relative_to(HERE.parents[1])} from {python27}")
            _run_logged(
                [
                    str(virtualenv),
                    "--clear",
                    "--no-download",
                    "--no-periodic-update",
                    "--python",
                    str(python27),
                    str(VENV),
                ],
                log,
            )
            say(f"pip install -r {BUILD_REQUIREMENTS.name} and -r {REQUIREMENTS.name} (~1 minute)")
            pip = [str(wstest_python()), "-m", "pip", "install", "--no-deps"]
            _run_logged([*pip, "-r", str(BUILD_REQUIREMENTS)], log)
            _run_logged([*pip, "--no-build-isolation", "-r", str(REQUIREMENTS)], log)
            _run_logged([str(wstest_python()), "-m", "pip", "check"], log)
            versions = wstest_versions(wstest_python())
            if not versions:
                raise SetupError("wstest was installed but autobahntestsuite does not import")
        except SetupError:
            with contextlib.suppress(OSError):
                VENV.mkdir(exist_ok=True)
                (VENV / "setup.log").write_text("\n".join(log))
            raise
        (VENV / "setup.log").write_text("\n".join(log))
        STAMP.write_text(_stamp(python27) + "\n")
        say(f"ready in {time.monotonic() - started:.0f}s: {versions}")
    return wstest_python()


def wstest_versions(python: Path) -> dict[str, str]:
    """{'autobahntestsuite': '0.8.2', 'autobahn': '0.10.9', 'twisted': ...} or {}."""
    code = (
        "import warnings; warnings.simplefilter('ignore')\n"
        "import autobahntestsuite, autobahn, twisted\n"
        "print(autobahntestsuite.version); print(autobahn.version); print(twisted.__version__)\n"
    )
    try:
        done = subprocess.run(
            [str(python), "-W", "ignore", "-c", code],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return {}
    lines = done.stdout.split()
    if done.returncode != 0 or len(lines) != 3:
        return {}
    return dict(zip(("autobahntestsuite", "autobahn", "twisted"), lines, strict=True))


# -- the fuzzing server ----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listening_addresses(pid: int) -> list[str] | None:
    """The local addresses process ``pid`` listens on (``ss -ltnp``), or None without ss."""
    ss = shutil.which("ss")
    if ss is None:
        return None
    out = subprocess.run([ss, "-Hltnp"], capture_output=True, text=True, timeout=30)
    found = []
    for line in out.stdout.splitlines():
        if f"pid={pid}," in line:
            fields = line.split()
            if len(fields) >= 4:
                found.append(fields[3])
    return found


class FuzzingServer:
    """``wstest -m fuzzingserver`` on 127.0.0.1:PORT, as a subprocess."""

    def __init__(self, python: Path, report_dir: Path, cases: list[str], exclude: list[str]):
        self.port = free_port()
        self.url = f"ws://127.0.0.1:{self.port}"
        self.report_dir = report_dir
        self.outdir = report_dir / "clients"
        self.spec = {
            "url": self.url,
            "outdir": str(self.outdir),
            "cases": cases,
            "exclude-cases": exclude,
            "exclude-agent-cases": {},
        }
        self.python = python
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = report_dir / "wstest.log"

    def __enter__(self) -> FuzzingServer:
        spec_path = self.report_dir / "fuzzingserver.json"
        spec_path.write_text(json.dumps(self.spec, indent=2) + "\n")
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [
                    str(self.python),
                    "-W",
                    "ignore",
                    str(LAUNCHER),
                    "--bind",
                    "127.0.0.1",
                    "-m",
                    "fuzzingserver",
                    "-s",
                    str(spec_path),
                ],
                cwd=self.report_dir,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SetupError(
                    f"wstest exited with {self.process.returncode}:\n{self.log_path.read_text()}"
                )
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise SetupError(f"wstest did not listen on {self.url} within 60 s")
        addresses = listening_addresses(self.process.pid)
        if addresses is not None:
            wrong = [a for a in addresses if not a.startswith("127.0.0.1:")]
            if wrong or addresses != [f"127.0.0.1:{self.port}"]:
                raise SetupError(f"wstest listens on {addresses}, not only 127.0.0.1:{self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# -- agents ----------------------------------------------------------------------------


def run_agent(
    client: str, server: FuzzingServer, agent_timeout: float, case_timeout: float
) -> dict[str, Any]:
    """Run one agent of agents.py against the server; return its summary."""
    summary_path = server.report_dir / f"agent-{client}.json"
    log_path = server.report_dir / f"agent-{client}.log"
    summary_path.unlink(missing_ok=True)
    command = [
        sys.executable,
        str(AGENTS),
        client,
        "--url",
        server.url,
        "--summary",
        str(summary_path),
        "--case-timeout",
        str(case_timeout),
    ]
    started = time.monotonic()
    status: int | str
    print(f"--- {client}: running ...", flush=True)
    with open(log_path, "w") as log:
        try:
            done = subprocess.run(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=agent_timeout,
            )
            status = done.returncode
        except subprocess.TimeoutExpired:
            status = "timeout"
    seconds = time.monotonic() - started
    summary: dict[str, Any] = {"agent": client, "exit": status, "wall_seconds": round(seconds, 1)}
    if summary_path.exists():
        summary.update(json.loads(summary_path.read_text()))
        summary["wall_seconds"] = round(seconds, 1)
    print(f"--- {client}: {seconds:.1f}s (log: {log_path})", flush=True)
    if status != 0:
        tail = "\n".join(log_path.read_text().splitlines()[-20:])
        print(f"    agent exited with {status}:\n{tail}")
    return summary


# -- the report ------------------------------------------------------------------------


def case_key(case_id: str) -> tuple[int, ...]:
    return tuple(int(part) for part in case_id.split("."))


def read_results(outdir: Path, clients: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """{client: {case id: index.json entry + details of non-OK cases}} from wstest's report."""
    index_path = outdir / "index.json"
    if not index_path.exists():
        return {client: {} for client in clients}
    index = json.loads(index_path.read_text())
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for client in clients:
        cases = index.get(client, {})
        for case_id, entry in cases.items():
            if not case_passes(case_id, entry):
                report = outdir / entry["reportfile"]
                with contextlib.suppress(OSError, ValueError):
                    detail = json.loads(report.read_text())
                    for key in (
                        "description",
                        "expectation",
                        "expected",
                        "received",
                        "result",
                        "resultClose",
                        "wasClean",
                        "wasNotCleanReason",
                        "localCloseCode",
                        "remoteCloseReason",
                    ):
                        entry[key] = detail.get(key)
        results[client] = dict(sorted(cases.items(), key=lambda item: case_key(item[0])))
    return results


def case_passes(case_id: str, entry: dict[str, Any]) -> bool:
    """OK (or INFORMATIONAL for the informational cases), with an OK closing behaviour."""
    allowed = {"OK", "INFORMATIONAL"} if case_id in INFORMATIONAL_CASES else {"OK"}
    return entry["behavior"] in allowed and entry["behaviorClose"] in allowed


def outcome_counts(cases: dict[str, dict[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(OUTCOMES, 0)
    for entry in cases.values():
        counts[entry["behavior"]] = counts.get(entry["behavior"], 0) + 1
    return counts


def plain(value: Any, limit: int = 240) -> str:
    """``value`` on one line, without wstest's HTML tags, at most ``limit`` characters."""
    text = value if isinstance(value, str) else json.dumps(value)
    text = " ".join(re.sub(r"<[^>]+>", " ", text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def print_report(
    results: dict[str, dict[str, dict[str, Any]]], agents: dict[str, dict[str, Any]]
) -> None:
    print()
    header = f"{'client':<15}{'cases':>6}" + "".join(f"{o:>15}" for o in OUTCOMES)
    print(header + f"{'close not OK':>14}{'agent s':>9}")
    for client, cases in results.items():
        counts = outcome_counts(cases)
        close_bad = sum(
            1 for e in cases.values() if e["behaviorClose"] not in ("OK", "INFORMATIONAL")
        )
        seconds = agents.get(client, {}).get("wall_seconds", "-")
        print(
            f"{client:<15}{len(cases):>6}"
            + "".join(f"{counts.get(o, 0):>15}" for o in OUTCOMES)
            + f"{close_bad:>14}{seconds:>9}"
        )
        extra = set(counts) - set(OUTCOMES)
        if extra:
            print(f"{'':<15}other outcomes: { {o: counts[o] for o in extra} }")

    for client, cases in results.items():
        not_ok = {
            case_id: entry
            for case_id, entry in cases.items()
            if entry["behavior"] != "OK" or entry["behaviorClose"] != "OK"
        }
        print(f"\n{client}: {len(not_ok)} case(s) not OK")
        for case_id, entry in not_ok.items():
            info = " (informational for every client)" if case_id in INFORMATIONAL_CASES else ""
            print(
                f"  {case_id:<8} {entry['behavior']:<14} close {entry['behaviorClose']:<16}"
                f" remoteCloseCode={entry['remoteCloseCode']}{info}"
            )
            if not case_passes(case_id, entry) and "description" in entry:
                print(f"           {plain(entry['description'])}")
                print(f"           result: {plain(entry.get('result'))}")
                print(f"           close:  {plain(entry.get('resultClose'))}")
                print(f"           expected: {plain(entry.get('expected'))}")
                print(f"           received: {plain(entry.get('received'))}")
        agent = agents.get(client, {})
        for error in agent.get("errors", []):
            print(f"  agent error in case #{error['case_index']}: {error['error']}")
        if agent.get("timeouts"):
            print(f"  agent gave up (case timeout) on case #{agent['timeouts']}")

    nine = {
        client: {k: v["duration"] for k, v in cases.items() if k.startswith("9.")}
        for client, cases in results.items()
    }
    nine = {client: durations for client, durations in nine.items() if durations}
    if nine:
        clients = list(nine)
        print("\n9.* durations (ms, measured by wstest)")
        print(f"{'case':<8}" + "".join(f"{c:>15}" for c in clients))
        for case_id in sorted({k for d in nine.values() for k in d}, key=case_key):
            print(f"{case_id:<8}" + "".join(f"{nine[c].get(case_id, '-'):>15}" for c in clients))
        print(f"{'total':<8}" + "".join(f"{sum(nine[c].values()):>15}" for c in clients))


def wsapi_failures(
    results: dict[str, dict[str, dict[str, Any]]], expected_count: int | None
) -> list[str]:
    problems = []
    for client in WSAPI_CLIENTS:
        if client not in results:
            continue
        cases = results[client]
        if expected_count is not None and len(cases) != expected_count:
            problems.append(f"{client}: {len(cases)} cases in the report, {expected_count} run")
        for case_id, entry in cases.items():
            if not case_passes(case_id, entry):
                problems.append(
                    f"{client} {case_id}: {entry['behavior']} / close {entry['behaviorClose']}"
                )
    return problems


# -- main ------------------------------------------------------------------------------


def wsapi_revision() -> str | None:
    """The repository's commit, with ``+dirty`` when src/wsapi has uncommitted changes."""
    root = HERE.parents[1]
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "src/wsapi"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Autobahn|Testsuite conformance runner for wsapi (see docs/conformance.md)."
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--quick",
        dest="mode",
        action="store_const",
        const="quick",
        help="all cases but 9.*, 12.* and 13.* (the default; what CI runs)",
    )
    mode.add_argument(
        "--full", dest="mode", action="store_const", const="full", help="all 517 cases"
    )
    parser.set_defaults(mode="quick")
    parser.add_argument(
        "--clients",
        default=",".join(ALL_CLIENTS),
        help=f"comma-separated, from {','.join(ALL_CLIENTS)} (default: all)",
    )
    parser.add_argument(
        "--cases",
        help="comma-separated case patterns such as '6.4.*,7.1.1' (replaces --quick/--full)",
    )
    parser.add_argument(
        "--report-dir",
        type=Path,
        default=None,
        help=f"where wstest writes its reports (default: {DEFAULT_REPORT_DIR}/MODE)",
    )
    parser.add_argument("--json", type=Path, help="write a JSON summary of the run here")
    parser.add_argument(
        "--case-timeout",
        type=float,
        default=120.0,
        help="seconds an agent waits for one case before giving up (default 120)",
    )
    parser.add_argument(
        "--setup-only", action="store_true", help="make the wstest virtualenv and exit"
    )
    parser.add_argument("--force-setup", action="store_true", help="remake the wstest virtualenv")
    args = parser.parse_args(argv)
    args.clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    unknown = [c for c in args.clients if c not in ALL_CLIENTS]
    if unknown:
        parser.error(f"unknown client(s) {unknown}: choose from {list(ALL_CLIENTS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        python = setup_wstest(force=args.force_setup)
    except SetupError as exc:
        print(f"error: cannot set up wstest: {exc}", file=sys.stderr)
        return 2
    versions = wstest_versions(python)
    if args.setup_only:
        print(f"wstest ready: {python} {versions}")
        return 0

    if args.cases:
        cases = [c.strip() for c in args.cases.split(",") if c.strip()]
        exclude: list[str] = []
        selection = f"cases {cases}"
    else:
        cases = ["*"]
        exclude = list(QUICK_EXCLUDE) if args.mode == "quick" else []
        selection = f"{args.mode} set" + (f" (excluding {exclude})" if exclude else "")
    # A --cases selection may hold the slow 12.* and 13.* cases: give it the full set's limit.
    agent_timeout = AGENT_TIMEOUT["full" if args.cases else args.mode]
    report_dir = (args.report_dir or DEFAULT_REPORT_DIR / args.mode).resolve()
    if report_dir.exists():
        shutil.rmtree(report_dir)
    report_dir.mkdir(parents=True)

    clients = []
    for client in args.clients:
        if importlib.util.find_spec(CLIENT_MODULES[client]) is None:
            print(f"--- {client}: skipped, {CLIENT_MODULES[client]} is not installed")
        else:
            clients.append(client)

    started_at = datetime.datetime.now(datetime.timezone.utc)
    revision = wsapi_revision()
    print(
        f"wstest {versions.get('autobahntestsuite')} (autobahn {versions.get('autobahn')}, "
        f"Twisted {versions.get('twisted')}), {selection}, clients {clients}, "
        f"wsapi at {revision}"
    )
    agents: dict[str, dict[str, Any]] = {}
    try:
        with FuzzingServer(python, report_dir, cases, exclude) as server:
            print(f"fuzzing server on {server.url} (127.0.0.1 only, no web page)")
            print(f"reports in {server.outdir}")
            for client in clients:
                agents[client] = run_agent(client, server, agent_timeout, args.case_timeout)
    except SetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    if wsapi_revision() != revision:
        print(f"warning: the repository changed during the run (was {revision})")
        revision = f"{revision} .. {wsapi_revision()}"
    results = read_results(report_dir / "clients", clients)
    print_report(results, agents)
    case_counts = {a.get("case_count") for a in agents.values() if a.get("case_count")}
    expected_count = case_counts.pop() if len(case_counts) == 1 else None
    problems = wsapi_failures(results, expected_count)
    for client in clients:
        if client in WSAPI_CLIENTS and not results.get(client):
            problems.append(f"{client}: no results in the report")
        if client in WSAPI_CLIENTS and agents.get(client, {}).get("exit") != 0:
            problems.append(f"{client}: the agent exited with {agents[client].get('exit')}")

    if args.json:
        summary = {
            "date": started_at.isoformat(timespec="seconds"),
            "selection": selection,
            "wstest": versions,
            "python": sys.version.split()[0],
            "wsapi_revision": revision,
            "case_count": expected_count,
            "clients": {
                client: {
                    "library": agents.get(client, {}).get("library"),
                    "version": agents.get(client, {}).get("version"),
                    "backend": agents.get(client, {}).get("backend"),
                    "wall_seconds": agents.get(client, {}).get("wall_seconds"),
                    "agent_errors": agents.get(client, {}).get("errors", []),
                    "agent_timeouts": agents.get(client, {}).get("timeouts", []),
                    "counts": outcome_counts(results.get(client, {})),
                    "not_ok": {
                        case_id: entry
                        for case_id, entry in results.get(client, {}).items()
                        if entry["behavior"] != "OK" or entry["behaviorClose"] != "OK"
                    },
                    "durations_9": {
                        case_id: entry["duration"]
                        for case_id, entry in results.get(client, {}).items()
                        if case_id.startswith("9.")
                    },
                }
                for client in clients
            },
            "wsapi_problems": problems,
        }
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
        print(f"\nsummary written to {args.json}")

    if problems:
        print(f"\nFAIL: {len(problems)} wsapi case(s) not OK:")
        for problem in problems:
            print(f"  {problem}")
        return 1
    if any(c in WSAPI_CLIENTS for c in clients):
        print("\nPASS: every wsapi case is OK (or INFORMATIONAL where every client gets it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
