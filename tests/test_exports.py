"""The public names of ``wsapi``: what API.md promises is exported, and nothing private."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import wsapi

# The import lines of the API contract (API.md):
#   from wsapi import WebSocket, DOMException, WebSocketError, ConnectionFailed, ConnectionClosed
#   from wsapi import Event, MessageEvent, CloseEvent, ErrorEvent
CONTRACT_NAMES = (
    "WebSocket",
    "DOMException",
    "WebSocketError",
    "ConnectionFailed",
    "ConnectionClosed",
    "Event",
    "MessageEvent",
    "CloseEvent",
    "ErrorEvent",
)

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_all_covers_the_contract() -> None:
    missing = [name for name in CONTRACT_NAMES if name not in wsapi.__all__]
    assert missing == []


def test_contract_names_import() -> None:
    namespace: dict[str, object] = {}
    exec(f"from wsapi import {', '.join(CONTRACT_NAMES)}", namespace)
    for name in CONTRACT_NAMES:
        assert namespace[name] is getattr(wsapi, name)


def test_every_name_in_all_exists_once() -> None:
    assert len(set(wsapi.__all__)) == len(wsapi.__all__)
    for name in wsapi.__all__:
        assert hasattr(wsapi, name), name


def test_no_private_names() -> None:
    private = [name for name in wsapi.__all__ if name.startswith("_") and name != "__version__"]
    assert private == []


def test_exported_objects_belong_to_wsapi() -> None:
    for name in wsapi.__all__:
        obj = getattr(wsapi, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__module__.split(".")[0] == "wsapi", (name, obj.__module__)


def test_error_hierarchy() -> None:
    assert issubclass(wsapi.ConnectionFailed, wsapi.WebSocketError)
    assert issubclass(wsapi.ConnectionClosed, wsapi.WebSocketError)
    assert not issubclass(wsapi.DOMException, wsapi.WebSocketError)
    for name in ("MessageEvent", "CloseEvent", "ErrorEvent"):
        assert issubclass(getattr(wsapi, name), wsapi.Event)


def test_star_import_gives_all() -> None:
    namespace: dict[str, object] = {}
    exec("from wsapi import *", namespace)
    assert set(wsapi.__all__) <= set(namespace)


def test_version_matches_pyproject() -> None:
    # tomllib is Python 3.11+: read the [project] table's version line directly.
    text = PYPROJECT.read_text(encoding="utf-8")
    project = text.split("[project]", 1)[1].split("\n[", 1)[0]
    match = re.search(r'^version\s*=\s*"([^"]+)"', project, re.MULTILINE)
    assert match is not None, "no version in pyproject.toml's [project] table"
    assert wsapi.__version__ == match.group(1)
    assert re.fullmatch(r"\d+\.\d+\.\d+([.-]?\w+)*", wsapi.__version__)
