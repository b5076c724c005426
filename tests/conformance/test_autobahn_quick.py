"""The Autobahn|Testsuite quick set (all cases but 9.*, 12.*, 13.*) for wsapi on asyncio and trio.

The test runs ``tests/conformance/run.py --quick`` in a subprocess. It makes the wstest
virtualenv first when it is missing (about a minute, once); without Python 2.7 or when
the install fails, the test is skipped, or fails with ``WSAPI_REQUIRE_PEERS=1`` (CI).
The full set is ``python tests/conformance/run.py --full`` (docs/conformance.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conformance import run as runner
from tests.peers import require_peer

pytestmark = pytest.mark.peer

#: Seconds for the whole test: the quick set takes about 10 s per wsapi agent, the
#: first set-up of the wstest virtualenv about a minute.
TIMEOUT = 600


def wstest_status() -> tuple[bool, str]:
    try:
        runner.setup_wstest(quiet=True)
    except runner.SetupError as exc:
        return False, (
            f"Autobahn|Testsuite (wstest) is not available: {exc}. "
            "Run `bash tests/conformance/setup.sh` (needs pyenv's Python 2.7.18)."
        )
    return True, ""


@pytest.mark.timeout(TIMEOUT)
def test_autobahn_quick_set(tmp_path: Path) -> None:
    require_peer(*wstest_status())
    summary_path = tmp_path / "summary.json"
    command = [
        sys.executable,
        str(runner.HERE / "run.py"),
        "--quick",
        "--clients",
        ",".join(runner.WSAPI_CLIENTS),
        "--report-dir",
        str(tmp_path / "reports"),
        "--json",
        str(summary_path),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT - 60)
    output = done.stdout + done.stderr
    assert done.returncode in (0, 1) and summary_path.exists(), (
        f"the conformance runner failed (exit {done.returncode}):\n{output}"
    )
    summary = json.loads(summary_path.read_text())

    lines = []
    for client, result in summary["clients"].items():
        assert result["counts"]["OK"] > 0, f"{client} ran no case:\n{output}"
        for case_id, entry in result["not_ok"].items():
            if runner.case_passes(case_id, entry):
                continue
            lines.append(
                f"{client} {case_id}: {entry['behavior']} (close {entry['behaviorClose']}, "
                f"remoteCloseCode {entry['remoteCloseCode']})\n"
                f"    {runner.plain(entry.get('description'))}\n"
                f"    result: {runner.plain(entry.get('result'))}\n"
                f"    close: {runner.plain(entry.get('resultClose'))}\n"
                f"    expected: {runner.plain(entry.get('expected'))}\n"
                f"    received: {runner.plain(entry.get('received'))}"
            )
    problems = summary["wsapi_problems"]
    assert not problems and not lines, (
        f"{len(problems)} wsapi Autobahn case(s) not OK (reports in {tmp_path / 'reports'}):\n"
        + "\n".join(lines or problems)
    )
