"""The documentation stays true to the code.

- every ``docs/examples/*.py`` runs (same interpreter, loopback only) and exits 0, and
  where a page shows its output, the output matches (ports normalised);
- every fenced python block that starts with ``# docs/examples/NAME.py`` is that file, byte
  for byte;
- the ``>>>`` examples in the docstrings of every ``wsapi`` module pass;
- every name in ``wsapi.__all__`` is documented under ``docs/reference/``.

The examples run in parallel subprocesses, started once per module, so the file stays fast.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import wsapi

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"
README = ROOT / "README.md"
PAGES = [README, *sorted(DOCS.rglob("*.md"))]
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.py"))

#: The two set-up commands of the README; CI runs the second one verbatim.
SETUP_COMMANDS = (
    "python -m pip install . && python -m wsapi demo",
    "python -m pip install -e '.[test]' && python -m pytest",
)

#: Seconds an example may take (they take well under one each).
TIMEOUT = 60

# A fenced block at the start of a line: info string, then the body up to the closing fence.
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
QUOTE_HEADER = re.compile(r"# (docs/examples/[\w.-]+\.py)\n")

# Runs before each example, in its process: any address but loopback is refused, so an
# example cannot reach the network by mistake (DNS included).
LOOPBACK_GUARD = """
import ipaddress, socket

def _loopback(host):
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if host is None or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False

def _refused(what, host):
    return f"docs examples may only use loopback addresses: {what} {host!r} refused"

_getaddrinfo = socket.getaddrinfo
def _guarded_getaddrinfo(host, *args, **kwargs):
    if not _loopback(host):
        raise socket.gaierror(socket.EAI_FAIL, _refused("getaddrinfo", host))
    return _getaddrinfo(host, *args, **kwargs)
socket.getaddrinfo = _guarded_getaddrinfo

def _guard(method):
    def guarded(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
            raise PermissionError(_refused("connect", address[0]))
        return method(self, address)
    return guarded
socket.socket.connect = _guard(socket.socket.connect)
socket.socket.connect_ex = _guard(socket.socket.connect_ex)
"""


def _script(path: Path) -> str:
    """The ``-c`` program that runs one example under the loopback guard."""
    if path.name.startswith("test_"):
        # A pytest module: run by pytest (importing it first would defeat assertion rewriting).
        run = f"import pytest, sys\nsys.exit(pytest.main([{str(path)!r}, '-q']))\n"
    else:
        run = f"import runpy\nrunpy.run_path({str(path)!r}, run_name='__main__')\n"
    return LOOPBACK_GUARD + run


DEMO_SCRIPT = LOOPBACK_GUARD + (
    "import runpy, sys\n"
    "sys.argv = ['wsapi', 'demo']\n"
    "runpy.run_module('wsapi', run_name='__main__')\n"
)


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


@dataclass
class Shown:
    """A ``console`` block: the command after ``$ `` and the output printed below it."""

    page: Path
    command: str
    output: str


def _fences(path: Path) -> Iterator[tuple[str, str]]:
    for match in FENCE.finditer(path.read_text(encoding="utf-8")):
        yield match.group(1).strip(), match.group(2)


def _quotes() -> list[tuple[Path, str, str]]:
    """(page, example path, block text) for each python block quoting an example."""
    quotes = []
    for page in PAGES:
        for info, body in _fences(page):
            header = QUOTE_HEADER.match(body)
            if info == "python" and header:
                quotes.append((page, header.group(1), body))
    return quotes


def _shown_outputs() -> list[Shown]:
    shown = []
    for page in PAGES:
        for info, body in _fences(page):
            first, _, rest = body.partition("\n")
            if info == "console" and first.startswith("$ "):
                shown.append(Shown(page, first[2:].strip(), rest))
    return shown


def _normalise(text: str) -> str:
    """Output with the parts that change from run to run replaced: ports, trailing blanks."""
    text = re.sub(r"(127\.0\.0\.1|localhost|\[::1\]):\d+", r"\1:PORT", text)
    text = re.sub(r"\bport \d+", "port PORT", text)
    lines = [line.rstrip() for line in text.strip("\n").splitlines()]
    return "\n".join(lines)


def _name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@pytest.fixture(scope="module")
def runs() -> dict[str, Run]:
    """Every example, and the README's demo, run once in parallel subprocesses."""
    commands = {f"python {_name(path)}": _script(path) for path in EXAMPLE_FILES}
    commands["python -m wsapi demo"] = DEMO_SCRIPT
    processes = {
        command: subprocess.Popen(
            [sys.executable, "-c", script],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        for command, script in commands.items()
    }
    results = {}
    try:
        for command, process in processes.items():
            stdout, stderr = process.communicate(timeout=TIMEOUT)
            results[command] = Run(process.returncode, stdout, stderr)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.communicate()
    return results


# -- (a) the examples run, and print what the pages show ----------------------------------


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda path: path.name)
def test_example_runs(path: Path, runs: dict[str, Run]) -> None:
    run = runs[f"python {_name(path)}"]
    assert run.returncode == 0, f"{_name(path)} failed:\n{run.stdout}\n{run.stderr}"
    assert run.stderr == "", f"{_name(path)} wrote to stderr:\n{run.stderr}"


def test_demo_runs(runs: dict[str, Run]) -> None:
    run = runs["python -m wsapi demo"]
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr}"


@pytest.mark.parametrize(
    "shown", _shown_outputs(), ids=lambda shown: f"{shown.page.name}:{shown.command}"
)
def test_shown_output_matches(shown: Shown, runs: dict[str, Run]) -> None:
    assert shown.command in runs, (
        f"{_name(shown.page)} shows the output of {shown.command!r}, which is not an example"
    )
    assert _normalise(runs[shown.command].stdout) == _normalise(shown.output)


# -- (b) quoted examples are the files themselves -------------------------------------------


QUOTES = _quotes()


@pytest.mark.parametrize(
    "page, example, block",
    QUOTES,
    ids=[f"{page.name}:{Path(example).name}" for page, example, _ in QUOTES],
)
def test_quoted_example_is_identical(page: Path, example: str, block: str) -> None:
    path = ROOT / example
    assert path.is_file(), f"{_name(page)} quotes {example}, which does not exist"
    assert block == path.read_text(encoding="utf-8"), (
        f"{_name(page)} quotes {example} but the block differs from the file: copy it again"
    )


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda path: path.name)
def test_example_is_quoted_somewhere(path: Path) -> None:
    assert path.read_text(encoding="utf-8").startswith(f"# {_name(path)}\n"), (
        f"{_name(path)} must start with the comment '# {_name(path)}'"
    )
    quoted = {example for _, example, _ in QUOTES}
    assert _name(path) in quoted, f"no page quotes {_name(path)}"


def test_readme_has_the_setup_commands() -> None:
    text = README.read_text(encoding="utf-8")
    for command in SETUP_COMMANDS:
        assert command in text


LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda page: _name(page))
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # a URL, or an anchor in the same page
        if not (page.parent / target.partition("#")[0]).exists():
            broken.append(target)
    assert not broken, f"{_name(page)} links to missing files: {broken}"


# -- (c) the docstrings' examples pass -------------------------------------------------------


def _modules() -> list[str]:
    names = [wsapi.__name__]
    names += [info.name for info in pkgutil.walk_packages(wsapi.__path__, "wsapi.")]
    return sorted(names)


@pytest.mark.parametrize("module_name", _modules())
def test_doctests(module_name: str) -> None:
    module = importlib.import_module(module_name)
    # testmod runs only ">>>" examples: the "Example::" blocks (wsapi.testing) are prose.
    result = doctest.testmod(module, verbose=False, report=True)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {module_name}"


def test_doctests_exist() -> None:
    attempted = sum(
        doctest.testmod(importlib.import_module(name), report=False).attempted
        for name in _modules()
    )
    assert attempted >= 10


# -- (d) the public names are documented ------------------------------------------------------


def test_public_names_are_in_the_reference() -> None:
    reference = "\n".join(
        page.read_text(encoding="utf-8") for page in sorted((DOCS / "reference").glob("*.md"))
    )
    missing = [
        name for name in wsapi.__all__ if not re.search(rf"(?<!\w){re.escape(name)}\b", reference)
    ]
    assert not missing, f"not mentioned in docs/reference/: {missing}"
