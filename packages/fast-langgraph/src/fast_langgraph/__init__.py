"""fast-langgraph: a fast, file-compatible SQLite checkpoint saver for LangGraph.

    from fast_langgraph import RustSQLiteCheckpointer
    graph = builder.compile(checkpointer=RustSQLiteCheckpointer("checkpoints.db"))

`__impl__` names the codec this process uses for JsonPlusSerializer: "rust" (the
native codec of fast-langgraph-rs) or "python" (langgraph's own). Set
FAST_LANGGRAPH_IMPL=rust or python to insist on one. `ENGINE_COMPILED` tells
whether the storage engine was compiled with mypyc. Each saver's
`implementation` says what runs for its own serializer.
"""

from fast_langgraph._selector import current as _current_selection
from fast_langgraph._version import __version__
from fast_langgraph.saver import RustSQLiteCheckpointer, TTLConfig
from fast_langgraph_pure import COMPILED as ENGINE_COMPILED

__impl__: str = _current_selection().name

__all__ = ["ENGINE_COMPILED", "RustSQLiteCheckpointer", "TTLConfig", "__impl__", "__version__"]
