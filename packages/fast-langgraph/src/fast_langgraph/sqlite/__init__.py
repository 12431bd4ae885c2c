"""Drop-in names for `langgraph.checkpoint.sqlite`: change only the import.

from fast_langgraph.sqlite import SqliteSaver

with SqliteSaver.from_conn_string("checkpoints.sqlite") as checkpointer:
    ...

conn = sqlite3.connect("checkpoints.sqlite", check_same_thread=False)
checkpointer = SqliteSaver(conn)
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from langgraph.checkpoint.serde.base import SerializerProtocol

from fast_langgraph.saver import Durability, RustSQLiteCheckpointer


class SqliteSaver(RustSQLiteCheckpointer):
    """`langgraph.checkpoint.sqlite.SqliteSaver`'s constructor and surface, our engine.

    Args:
        conn: an open `sqlite3.Connection` (driven as given, like SqliteSaver;
            it stays yours to close) or a path.
        serde: the serializer, as SqliteSaver takes it.
        durability: None (the default) leaves a connection's `synchronous`
            pragma as you set it (sqlite3's default is FULL, SqliteSaver's
            setting) and gives a path "normal" (WAL, synchronous=NORMAL: survives
            an application crash; a power loss may drop the last commits).
            "full" or "normal" sets `PRAGMA synchronous` either way.

    `conn`, `lock`, `is_setup`, `setup()`, `cursor()` and `from_conn_string`
    behave as SqliteSaver's. Unlike SqliteSaver it also serves async graphs.
    """

    def __init__(
        self,
        conn: sqlite3.Connection | str | os.PathLike[str],
        *,
        serde: SerializerProtocol | None = None,
        durability: Durability | None = None,
    ) -> None:
        super().__init__(conn, serde=serde, durability=durability)

    @classmethod
    @contextmanager
    def from_conn_string(  # type: ignore[override]
        cls,
        conn_string: str,
        *,
        serde: SerializerProtocol | None = None,
        durability: Durability | None = None,
    ) -> Iterator[SqliteSaver]:
        """Open a saver on a path (or ":memory:") and close it on exit.

        Unlike SqliteSaver's, the saver opens the file with its own connections
        (a writer and, for reads while it writes, a few readers); `conn` is the
        writer. durability: "normal" (the default) or "full"."""
        saver = cls(conn_string, serde=serde, durability=durability)
        try:
            yield saver
        finally:
            saver.close()


__all__ = ["SqliteSaver"]
