"""fast-langgraph: a fast, file-compatible SQLite checkpoint saver for LangGraph.

    from fast_langgraph import RustSQLiteCheckpointer
    graph = builder.compile(checkpointer=RustSQLiteCheckpointer("checkpoints.db"))

`__impl__` names the engine this process uses: "rust", "pure" or "pure-compiled"
(set FAST_LANGGRAPH_IMPL=rust or pure to insist on one).
"""

from fast_langgraph._selector import current as _current_implementation
from fast_langgraph._version import __version__
from fast_langgraph.saver import RustSQLiteCheckpointer, TTLConfig

__impl__: str = _current_implementation().name

__all__ = ["RustSQLiteCheckpointer", "TTLConfig", "__impl__", "__version__"]
