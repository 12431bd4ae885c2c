"""Drop-in names for `langgraph.checkpoint.sqlite`: change only the import.

from fast_langgraph.sqlite import SqliteSaver
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from langgraph.checkpoint.serde.base import SerializerProtocol

from fast_langgraph.saver import RustSQLiteCheckpointer


class SqliteSaver(RustSQLiteCheckpointer):
    """`langgraph.checkpoint.sqlite.SqliteSaver`'s constructor, our engine.

    Takes an open `sqlite3.Connection` (driven as given, like SqliteSaver) or a
    path; `from_conn_string` opens the path with our own connections. Unlike
    SqliteSaver it also serves async graphs.
    """

    def __init__(
        self,
        conn: sqlite3.Connection | str,
        *,
        serde: SerializerProtocol | None = None,
    ) -> None:
        super().__init__(conn, serde=serde)

    @classmethod
    @contextmanager
    def from_conn_string(cls, conn_string: str) -> Iterator[SqliteSaver]:  # type: ignore[override]
        saver = cls(conn_string)
        try:
            yield saver
        finally:
            saver.close()


__all__ = ["SqliteSaver"]
