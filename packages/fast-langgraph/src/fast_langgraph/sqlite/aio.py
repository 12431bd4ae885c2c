"""Drop-in name for `langgraph.checkpoint.sqlite.aio.AsyncSqliteSaver`.

from fast_langgraph.sqlite.aio import AsyncSqliteSaver

async with AsyncSqliteSaver.from_conn_string("checkpoints.db") as saver:
    ...
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.base import SerializerProtocol

from fast_langgraph.saver import RustSQLiteCheckpointer
from fast_langgraph_pure import Engine

_T = TypeVar("_T")


class _NotOpenYet:
    """Stands in for the engine until the aiosqlite connection has been asked for its file."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(
            "AsyncSqliteSaver built on an aiosqlite connection opens its file on the "
            "first async call; await one (or use AsyncSqliteSaver.from_conn_string) "
            "before calling sync methods"
        )


class AsyncSqliteSaver(RustSQLiteCheckpointer):
    """AsyncSqliteSaver's constructor and `from_conn_string`, our engine.

    Given an `aiosqlite.Connection`, the saver asks it which file it has open and
    opens that file with its own connections (an in-memory aiosqlite database
    cannot be shared, so a fresh in-memory database is used). Unlike
    AsyncSqliteSaver, the sync methods work from any thread too.
    """

    def __init__(self, conn: Any, *, serde: SerializerProtocol | None = None) -> None:
        if isinstance(conn, str):
            super().__init__(conn, serde=serde)
            return
        BaseCheckpointSaver.__init__(self, serde=serde)
        self._sweeper = None
        self._codec_choice = None
        self._aiosqlite_conn = conn
        self._engine = _NotOpenYet()  # type: ignore[assignment]

    async def _in_thread(self, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        if isinstance(self._engine, _NotOpenYet):
            await self._open_aiosqlite_file()
        return await super()._in_thread(fn, *args, **kwargs)

    async def _open_aiosqlite_file(self) -> None:
        async with self._aiosqlite_conn.execute("PRAGMA database_list") as cursor:
            rows = await cursor.fetchall()
        path = next((row[2] for row in rows if row[1] == "main"), "") or ":memory:"
        engine = await asyncio.get_running_loop().run_in_executor(
            None, functools.partial(Engine, path)
        )
        if isinstance(self._engine, _NotOpenYet):
            self._engine = engine
        else:  # another task opened it meanwhile
            engine.close()

    def close(self) -> None:
        if not isinstance(self._engine, _NotOpenYet):
            super().close()

    @classmethod
    @asynccontextmanager
    async def from_conn_string(  # type: ignore[override]
        cls, conn_string: str
    ) -> AsyncIterator[AsyncSqliteSaver]:
        loop = asyncio.get_running_loop()
        saver = await loop.run_in_executor(None, cls, conn_string)
        try:
            yield saver
        finally:
            await loop.run_in_executor(None, saver.close)


__all__ = ["AsyncSqliteSaver"]
