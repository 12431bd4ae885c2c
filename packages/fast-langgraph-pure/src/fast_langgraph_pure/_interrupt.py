"""Lets the compiled engine notice Ctrl-C in time to roll back.

CPython runs a signal's Python handler (for SIGINT: raise KeyboardInterrupt)
only from its bytecode loop. mypyc-compiled code never enters that loop, so
without this a Ctrl-C during a long compiled stretch, such as the delta-ancestry
walk with the native codec, surfaces only after the work has been committed.
Calling `check` runs one bytecode function: pending handlers run there, and a
KeyboardInterrupt raised inside the write transaction rolls it back.

This module is interpreted on purpose (setup.py does not compile it): compiled,
`check` would check nothing.
"""

from __future__ import annotations


def check() -> None:
    """Raise KeyboardInterrupt now if Ctrl-C came since the last bytecode ran."""
