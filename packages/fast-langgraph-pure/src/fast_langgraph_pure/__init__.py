"""fast-langgraph's storage engine: LangGraph checkpoints in SQLite through
Python's own sqlite3 (so a process holds exactly one SQLite library).

`Engine` stores and loads; `storage` is the one home of the schema, the
migration ladder and every SQL statement; `protocol` holds the types the
engine takes and returns; `PythonCodec` runs a serializer written in Python.
`COMPILED` tells whether the hot modules were compiled with mypyc.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Final

from fast_langgraph_pure import engine as _engine_module
from fast_langgraph_pure.codec import PythonCodec
from fast_langgraph_pure.engine import Engine

# pyproject.toml is the one place the version is written.
__version__: Final = version("fast-langgraph-pure")

# A compiled module is a native extension file instead of engine.py.
COMPILED: Final = _engine_module.__file__ is not None and _engine_module.__file__.endswith(
    (".so", ".pyd")
)

__all__ = ["COMPILED", "Engine", "PythonCodec", "__version__"]
