"""Compiles the hot modules with mypyc when FAST_LANGGRAPH_MYPYC=1 at build time;
otherwise the wheel is pure Python. Everything else is in pyproject.toml."""

from __future__ import annotations

import os

from setuptools import setup

# `__init__` stays interpreted: it only re-exports and reports COMPILED.
COMPILED_MODULES = [
    "src/fast_langgraph_pure/storage.py",
    "src/fast_langgraph_pure/engine.py",
    "src/fast_langgraph_pure/codec.py",
    "src/fast_langgraph_pure/compact.py",
]

if os.environ.get("FAST_LANGGRAPH_MYPYC") == "1":
    from mypyc.build import mypycify

    # langgraph is not a build requirement: its types only need to be "some
    # Python object" to mypyc, and `mypy --strict` on the sources runs in lint.
    setup(ext_modules=mypycify(["--ignore-missing-imports", *COMPILED_MODULES], opt_level="3"))
else:
    setup()
