#!/usr/bin/env bash
# Make tests/conformance/.wstest-venv: Autobahn|Testsuite (wstest) on pyenv's Python 2.7.18,
# made with virtualenv<20.22, with the pins of requirements-wstest.txt. Idempotent: a
# second run only checks a stamp file. Pass --force-setup to remake it.
#
#   bash tests/conformance/setup.sh
#
# Needs Python 3.10+ (python3, or $PYTHON) and $(pyenv root)/versions/2.7.18/bin/python
# (or WSTEST_PYTHON27=/path/to/python2.7). run.py calls the same setup by itself.
set -euo pipefail
HERE="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
exec "${PYTHON:-python3}" "$HERE/run.py" --setup-only "$@"
