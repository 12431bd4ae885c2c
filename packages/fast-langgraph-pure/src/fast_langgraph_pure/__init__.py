"""fast-langgraph's portable engine: SQLite through Python's sqlite3.

`Engine` implements the protocol in `fast_langgraph._engine`; `storage` holds the
schema and SQL both engines share. `COMPILED` tells whether the hot modules were
compiled with mypyc.
"""

from __future__ import annotations

from typing import Final

from fast_langgraph_pure import engine as _engine_module
from fast_langgraph_pure.engine import Engine

__version__: Final = "0.1.0"

# A compiled module is a native extension file instead of engine.py.
COMPILED: Final = _engine_module.__file__ is not None and _engine_module.__file__.endswith(
    (".so", ".pyd")
)

__all__ = ["COMPILED", "Engine", "__version__"]
