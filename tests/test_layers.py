"""The layers' import boundaries: the sans-IO core and the plain modules import no async library.

Each check runs in a fresh interpreter, so modules other tests imported don't count.
asyncio and socket are not checked: the standard library imports them by itself.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

ASYNC_LIBRARIES = ("anyio", "trio")
NONE_IMPORTED = dict.fromkeys(ASYNC_LIBRARIES, False)

# Replaces the package's __init__ with an empty package, so that only the named
# modules (and what they import themselves) are loaded.
_BYPASS_PACKAGE_INIT = """\
import importlib.util, types
_spec = importlib.util.find_spec("wsapi")
_package = types.ModuleType("wsapi")
_package.__path__ = list(_spec.submodule_search_locations)
_package.__spec__ = _spec
sys.modules["wsapi"] = _package
"""

PROTOCOL_IMPORTS = [
    "import wsapi.protocol.connection, wsapi.protocol.url",
    "import wsapi.protocol.handshake, wsapi.protocol.events, wsapi.protocol.status",
    "import wsapi.protocol.extensions, wsapi.protocol.http",
]
PLAIN_IMPORTS = ["import wsapi.errors, wsapi.response, wsapi.events"]


def imported_after(statement: str, *, bypass_init: bool = False) -> dict[str, bool]:
    """Which of ASYNC_LIBRARIES are in sys.modules after ``statement`` in a new interpreter."""
    code = "import json, sys\n"
    if bypass_init:
        code += _BYPASS_PACKAGE_INIT
    code += (
        f"{statement}\n"
        f"print(json.dumps({{name: name in sys.modules for name in {ASYNC_LIBRARIES!r}}}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("statement", PROTOCOL_IMPORTS + PLAIN_IMPORTS)
def test_modules_themselves_import_no_async_library(statement: str) -> None:
    # The modules' own imports, without wsapi/__init__.py.
    assert imported_after(statement, bypass_init=True) == NONE_IMPORTED


@pytest.mark.parametrize("statement", PROTOCOL_IMPORTS + PLAIN_IMPORTS)
def test_importing_the_layer_imports_no_async_library(statement: str) -> None:
    assert imported_after(statement) == NONE_IMPORTED


def test_the_check_can_see_an_import() -> None:
    # The facade does need anyio: proves the subprocess check is able to fail.
    assert imported_after("import wsapi.websocket", bypass_init=True)["anyio"] is True
    assert imported_after("import wsapi")["anyio"] is False  # the facade loads lazily
    assert imported_after("import wsapi; wsapi.WebSocket")["anyio"] is True
