"""Fixtures of the command-line tests."""

from tests.cli.tmux import tmux

__all__ = ["tmux"]
