"""Run wstest (Autobahn|Testsuite) on 127.0.0.1 only, with its web page off.

This file runs on Python 2.7, inside tests/conformance/.wstest-venv (see setup.sh);
it is also valid Python 3 so that linters can read it.

wstest has no option to choose the address it listens on: the fuzzing server calls
Twisted's ``listenTCP(port, factory, backlog, interface='')``, and ``''`` means every
interface. It also serves a web page on port 8080 unless ``--webport 0``. This
launcher makes every listen of the reactor default to ``--bind`` (127.0.0.1), always
passes ``--webport 0``, then runs wstest with the other arguments:

    .wstest-venv/bin/python wstest_local.py [--bind 127.0.0.1] -m fuzzingserver -s spec.json
"""

from __future__ import print_function  # noqa: UP010

import sys

# The position of ``interface`` among the positional arguments of each listen method:
# listenTCP(port, factory, backlog=50, interface=''),
# listenSSL(port, factory, contextFactory, backlog=50, interface='').
INTERFACE_ARG = {"listenTCP": 3, "listenSSL": 4}
LOOPBACK = ("127.0.0.1", "::1")


def bind_to(listen, index, address):
    def bound_listen(*args, **kwargs):
        if len(args) > index:
            args = list(args)
            if not args[index]:
                args[index] = address
        elif not kwargs.get("interface"):
            kwargs["interface"] = address
        return listen(*args, **kwargs)

    return bound_listen


def main(argv):
    address = "127.0.0.1"
    if len(argv) >= 2 and argv[0] == "--bind":
        address, argv = argv[1], argv[2:]
    if address not in LOOPBACK:
        print("wstest_local.py only binds to 127.0.0.1 or ::1, not " + repr(address))
        return 2

    # autobahntestsuite installs its reactor when imported: import it first.
    import autobahntestsuite  # noqa: F401
    from twisted.internet import reactor

    for name, index in INTERFACE_ARG.items():
        setattr(reactor, name, bind_to(getattr(reactor, name), index, address))

    from autobahntestsuite import wstest

    # The last occurrence of an option wins: the web page stays off.
    sys.argv = ["wstest"] + list(argv) + ["--webport", "0"]  # noqa: RUF005 (Python 2)
    wstest.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
