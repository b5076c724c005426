"""How hard the fuzz tests push: a bounded run by default, a long one on request.

The default (``ci``) keeps ``pytest tests/fuzz`` under 30 seconds and is
derandomised, so that CI is reproducible. ``WSAPI_FUZZ=long`` multiplies the
examples and draws them at random (each run explores new inputs); the number
of examples per test can also be set directly with ``WSAPI_FUZZ_EXAMPLES=N``.
Failures print the shrunk input and a ``@reproduce_failure`` line.

    WSAPI_FUZZ=long python -m pytest tests/fuzz -q -p no:cacheprovider
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

__all__ = ["LONG", "fuzz_settings"]

#: True when the long run was asked for (``WSAPI_FUZZ=long``).
LONG = os.environ.get("WSAPI_FUZZ", "").lower() == "long"

_LONG_FACTOR = 50


def fuzz_settings(ci_examples: int) -> settings:
    """Settings for one fuzz test: ``ci_examples`` in CI, far more in the long run."""
    override = os.environ.get("WSAPI_FUZZ_EXAMPLES")
    if override:
        examples = int(override)
    elif LONG:
        examples = ci_examples * _LONG_FACTOR
    else:
        examples = ci_examples
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=not LONG,
        database=None,
        print_blob=True,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    )
