"""fast-langgraph's Rust engine: the `Engine` protocol of `fast_langgraph._engine`
on rusqlite, built as the native module `fast_langgraph_rs._native`.

Importing this package proves that the native module runs on the very SQLite
library Python's `sqlite3` module uses, and raises ImportError otherwise: two
copies of SQLite in one process break each other's POSIX file locks, so a file
opened through both could be corrupted. The selector in `fast_langgraph` then
falls back to the pure engine.
"""

from __future__ import annotations

import ctypes
from typing import Final

from fast_langgraph_rs import _native

__version__: Final = "0.1.0"


def _check_native_version() -> None:
    if _native.__version__ != __version__:
        raise ImportError(
            f"fast_langgraph_rs._native is version {_native.__version__}, but the "
            f"fast_langgraph_rs package is {__version__}: reinstall fast-langgraph-rs"
        )


def _python_sqlite_libversion_address() -> int | None:
    """Where the SQLite library of Python's `_sqlite3` has `sqlite3_libversion`."""
    import _sqlite3

    # A `_sqlite3` built into the interpreter has no file: look in the process.
    library = ctypes.CDLL(getattr(_sqlite3, "__file__", None))
    function = getattr(library, "sqlite3_libversion", None)
    if function is None:
        return None
    return ctypes.cast(function, ctypes.c_void_p).value


def _check_one_sqlite() -> None:
    ours = _native.sqlite_libversion_address()
    try:
        python_side = _python_sqlite_libversion_address()
    except (ImportError, OSError) as exc:
        raise ImportError(
            f"fast_langgraph_rs cannot check which SQLite Python's sqlite3 uses: {exc}"
        ) from exc
    if python_side != ours:
        raise ImportError(
            "fast_langgraph_rs links a different SQLite library than Python's sqlite3 "
            f"(sqlite3_libversion at {ours:#x} here, "
            f"{'not found' if python_side is None else hex(python_side)} for sqlite3); "
            "two copies of SQLite in one process corrupt each other's file locks. "
            "Build fast-langgraph-rs against the system libsqlite3 that Python uses, "
            "or use the pure engine (FAST_LANGGRAPH_IMPL=pure)."
        )


_check_native_version()
_check_one_sqlite()

from fast_langgraph_rs._native import Engine  # noqa: E402

__all__ = ["Engine", "__version__"]
