"""The ``wsapi`` command line (``python -m wsapi``): a thin client of the library."""

from .main import main

__all__ = ["main"]
