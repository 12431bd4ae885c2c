"""Drop-in name for `langgraph.checkpoint.sqlite.aio.AsyncSqliteSaver`.

from fast_langgraph.sqlite.aio import AsyncSqliteSaver

async with AsyncSqliteSaver.from_conn_string("checkpoints.db") as saver:
    ...

async with aiosqlite.connect("checkpoints.db") as conn:
    saver = AsyncSqliteSaver(conn)
    ...
"""

from __future__ import annotations

import asyncio
import functools
import os
import sqlite3
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, TypeVar

from langgraph.checkpoint.serde.base import SerializerProtocol

from fast_langgraph.saver import Durability, RustSQLiteCheckpointer, StorageMode, open_engine
from fast_langgraph_pure import Engine
from fast_langgraph_pure.engine import MEMORY
from fast_langgraph_pure.storage import SCHEMA_VERSION

_T = TypeVar("_T")


class _Opening:
    """The engine of a saver built on an aiosqlite connection, opened on first
    use. One object shared by the saver and its `with_allowlist` clones, so
    they open (and close) one engine."""

    __slots__ = ("closed", "engine", "forked")

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.closed = False
        # Set in a forked child: the aiosqlite connection's thread stayed in the parent.
        self.forked = False


class AsyncSqliteSaver(RustSQLiteCheckpointer):
    """AsyncSqliteSaver's constructor and surface, our engine.

    Args:
        conn: an `aiosqlite.Connection`, as AsyncSqliteSaver takes (or a path).
            The saver asks it which file it has open, on `await setup()` or the
            first async call, and opens that file with its own connections;
            `conn` stays the one you gave (yours to close). An in-memory aiosqlite
            database cannot be shared with other connections: there the saver
            keeps its checkpoints in an in-memory database of its own, which SQL
            on `conn` does not see (use a file, or `from_conn_string(":memory:")`).
        serde: the serializer.
        durability: "normal" or "full" sets `PRAGMA synchronous` on the saver's
            connections; None (the default) means "normal" (WAL,
            synchronous=NORMAL: survives an application crash; a power loss may
            drop the last commits). AsyncSqliteSaver leaves SQLite's FULL.
        storage: the storage layout, as for `RustSQLiteCheckpointer`.

    `from_conn_string(path)` opens the file and, for `conn`, an aiosqlite
    connection on it (for ":memory:", one on the saver's own connection, so both
    see the same database). `lock` is an `asyncio.Lock` like AsyncSqliteSaver's;
    the saver's own calls do not need it. Unlike AsyncSqliteSaver, the sync
    methods work on the event loop's thread too once the file is open.
    """

    def __init__(
        self,
        conn: Any,
        *,
        serde: SerializerProtocol | None = None,
        durability: Durability | None = None,
        storage: StorageMode | None = None,
    ) -> None:
        self._aio_conn: Any = None if isinstance(conn, (str, os.PathLike)) else conn
        self._storage = storage
        self._opening = _Opening()
        self._durability = durability
        self._async_lock = asyncio.Lock()
        # AsyncSqliteSaver's `loop`: sync calls made from other threads before the
        # file is open open it through this loop.
        self.loop: asyncio.AbstractEventLoop | None = _running_loop()
        super().__init__(conn, serde=serde, durability=durability, storage=storage)
        self.is_setup = self._aio_conn is None
        _live_savers.add(self)

    def _after_fork_in_child(self) -> None:
        # An asyncio.Lock held at the fork would stay held here for good, and
        # the parent's event loop does not run here. (The engine sees to itself.)
        self._async_lock = asyncio.Lock()
        self.loop = None
        self._opening.forked = True

    def _open_engine(
        self, conn: Any, durability: Durability | None, read_only: bool, storage: str | None
    ) -> Engine:
        if self._aio_conn is None:
            return super()._open_engine(conn, durability, read_only, storage)
        # Opened on first use: see `_engine`. The base class stores what this returns.
        return self._opening.engine  # type: ignore[return-value]

    @property  # type: ignore[override]
    def _engine(self) -> Engine:
        engine = self._opening.engine
        return engine if engine is not None else self._open_from_sync_call()

    @_engine.setter
    def _engine(self, engine: Engine | None) -> None:
        if engine is not None:
            self._opening.engine = engine

    # -- AsyncSqliteSaver's surface -------------------------------------------------

    @property
    def conn(self) -> Any:
        """The aiosqlite connection: the one you passed in, or the one
        `from_conn_string` opened. (A saver built on a path has none: then the
        `sqlite3.Connection` the saver writes with.)"""
        if self._aio_conn is not None:
            return self._aio_conn
        return super().conn

    @property
    def lock(self) -> asyncio.Lock:  # type: ignore[override]
        """An `asyncio.Lock`, as AsyncSqliteSaver's `lock`."""
        return self._async_lock

    async def setup(self) -> None:  # type: ignore[override]
        """Open the aiosqlite connection's file (creating or migrating the tables
        only when `PRAGMA user_version` says they are behind, so a current file
        never waits on another writer). Idempotent; the first async call does
        it too."""
        await self._ensure_open()

    # -- opening on an aiosqlite connection --------------------------------------

    async def _in_thread(self, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        if self._opening.engine is None and self._aio_conn is not None:
            await self._ensure_open()
        return await super()._in_thread(fn, *args, **kwargs)

    async def _ensure_open(self) -> Engine:
        if self._opening.engine is not None:
            return self._opening.engine
        if self._opening.closed:
            raise _closed_before_opening()
        if self._opening.forked:
            raise _forked_before_opening()
        conn = self._aio_conn
        await _ensure_connected(conn)
        async with conn.execute("PRAGMA database_list") as cursor:
            rows = await cursor.fetchall()
        path = next((str(row[2]) for row in rows if row[1] == "main" and row[2]), MEMORY)
        # A file that needs migrating, behind a read-only connection: read it as it is.
        read_only = path != MEMORY and not await _can_migrate(conn)
        engine = await asyncio.get_running_loop().run_in_executor(
            None,
            functools.partial(
                open_engine,
                path,
                durability=self._durability,
                read_only=read_only,
                storage=self._storage,
            ),
        )
        if self._opening.engine is None and not self._opening.closed:
            self._opening.engine = engine
            self.is_setup = True
            return engine
        engine.close()  # another task opened it meanwhile, or the saver was closed
        if self._opening.engine is None:
            raise _closed_before_opening()
        return self._opening.engine

    def _open_from_sync_call(self) -> Engine:
        """A sync method called before the file is open: open it through the
        event loop when called from another thread, as AsyncSqliteSaver runs
        its sync methods."""
        if self._opening.closed:
            raise _closed_before_opening()
        if self._opening.forked:
            raise _forked_before_opening()
        loop = self.loop
        if loop is not None and loop.is_running() and _running_loop() is not loop:
            return asyncio.run_coroutine_threadsafe(self._ensure_open(), loop).result()
        raise asyncio.InvalidStateError(
            "this AsyncSqliteSaver opens its aiosqlite connection's file on the first "
            "async call: `await saver.setup()` first (or call sync methods from another "
            "thread, or use AsyncSqliteSaver.from_conn_string)"
        )

    def close(self) -> None:
        """Release the saver's own connections (not an aiosqlite connection you
        passed in). Idempotent."""
        self._opening.closed = True
        if self._opening.engine is not None:
            super().close()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._opening.engine is None:
            self.close()  # nothing to open just to close it
        else:
            await super().__aexit__(exc_type, exc, tb)

    @classmethod
    @asynccontextmanager
    async def from_conn_string(  # type: ignore[override]
        cls,
        conn_string: str,
        *,
        serde: SerializerProtocol | None = None,
        durability: Durability | None = None,
    ) -> AsyncIterator[AsyncSqliteSaver]:
        """Open a saver on a path (or ":memory:"), with an aiosqlite connection
        on the same database as `conn`; close both on exit."""
        loop = asyncio.get_running_loop()
        saver = await loop.run_in_executor(
            None, functools.partial(cls, conn_string, serde=serde, durability=durability)
        )
        saver.loop = loop
        try:
            saver._aio_conn = await _aiosqlite_connection_beside(saver._engine)
            try:
                yield saver
            finally:
                if saver._aio_conn is not None:
                    await saver._aio_conn.close()
        finally:
            await loop.run_in_executor(None, saver.close)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _closed_before_opening() -> sqlite3.ProgrammingError:
    return sqlite3.ProgrammingError(
        "this AsyncSqliteSaver is closed: close() was called or its `with` block ended; "
        "use the saver inside the `with` block, or make a new one"
    )


def _forked_before_opening() -> sqlite3.ProgrammingError:
    # Awaiting the aiosqlite connection here would wait forever: its thread is the parent's.
    return sqlite3.ProgrammingError(
        "this AsyncSqliteSaver was made on an aiosqlite connection before this process "
        "was forked, and that connection's thread stayed in the parent process; open a "
        "new aiosqlite connection and saver in this process"
    )


# Savers whose asyncio state a fork resets in the child (weakly: never kept alive).
_live_savers: weakref.WeakSet[AsyncSqliteSaver] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for saver in list(_live_savers):
        saver._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


async def _ensure_connected(conn: Any) -> None:
    """Start an aiosqlite connection that was made but never awaited, as
    AsyncSqliteSaver.setup does."""
    is_alive = getattr(conn, "is_alive", None)
    if callable(is_alive):
        started = bool(is_alive())
    else:
        thread = getattr(conn, "_thread", None)
        started = thread is not None and thread.is_alive()
    if not started:
        await conn


async def _can_migrate(conn: Any) -> bool:
    """Whether the saver may bring the file up to date: it is current already,
    or `conn` can write to it (rewriting user_version with its own value is a
    write that changes nothing)."""
    async with conn.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    version = int(row[0])
    if version >= SCHEMA_VERSION:
        return True
    try:
        async with conn.execute(f"PRAGMA user_version = {version}"):
            pass
    except sqlite3.OperationalError as exc:
        if "readonly database" in str(exc):
            return False
        raise
    return True


async def _aiosqlite_connection_beside(engine: Engine) -> Any:
    """An aiosqlite connection on the engine's database, for `conn`; None
    without aiosqlite (then `conn` is the engine's sqlite3 connection)."""
    try:
        import aiosqlite
    except ImportError:
        return None
    if engine.path in ("", MEMORY):
        shared = engine.connection
        conn = aiosqlite.Connection(lambda: shared, iter_chunk_size=64)
    else:
        conn = aiosqlite.connect(engine.path)
    return await conn


__all__ = ["AsyncSqliteSaver"]
