"""The exit statuses of ``wsapi connect`` and ``wsapi replay``, in one place.

A script can tell from the status alone how the session ended:

====  ==========================================================================
code  meaning
====  ==========================================================================
0     the connection closed cleanly with 1000 (normal), 1001 (going away) or
      no status code (1005)
1     an unexpected internal error (a bug in wsapi: please report it)
2     a usage error: a bad option, URL, header, file or transcript
3     the connection could not be established (the message says why)
4     the connection closed abnormally: 1006, no closing handshake (TCP
      dropped, protocol error, keepalive or close timeout)
5     the connection closed cleanly, but with another code (1002-1015, or an
      application's 3000-4999: the code is printed)
130   interrupted by Ctrl-C (SIGINT); 143 by SIGTERM
====  ==========================================================================

>>> exit_status(1000, True), exit_status(1006, False), exit_status(4000, True)
(0, 4, 5)
"""

from __future__ import annotations

import signal

__all__ = [
    "ABNORMAL",
    "CLOSE_CODE",
    "CONNECT_FAILED",
    "ERROR",
    "INTERRUPTED",
    "NORMAL_CLOSE_CODES",
    "OK",
    "USAGE",
    "exit_status",
    "signal_status",
]

OK = 0
ERROR = 1
USAGE = 2  # what argparse uses for a bad command line
CONNECT_FAILED = 3
ABNORMAL = 4
CLOSE_CODE = 5
INTERRUPTED = 128 + signal.SIGINT  # 130, as shells report Ctrl-C

#: Close codes that end a session successfully.
NORMAL_CLOSE_CODES = frozenset({1000, 1001, 1005})


def exit_status(code: int, was_clean: bool) -> int:
    """The exit status for a connection that closed with ``code``."""
    if not was_clean or code == 1006:
        return ABNORMAL
    if code in NORMAL_CLOSE_CODES:
        return OK
    return CLOSE_CODE


def signal_status(signum: int) -> int:
    """The shell's convention for a process ended by signal ``signum``: 128 + ``signum``."""
    return 128 + int(signum)
