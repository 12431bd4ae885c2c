"""`RustSQLiteCheckpointer`: the LangGraph checkpoint saver users import.

This class owns what LangGraph sees (configs, metadata, versions, sync and async
methods, maintenance). Storage is `fast_langgraph_pure.Engine`, on Python's own
sqlite3; the codec that turns values into bytes is the one `_selector.codec_for`
picks for the saver's serializer. It serves sync and async graphs from one object.
"""

from __future__ import annotations

import asyncio
import builtins
import functools
import os
import random
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from types import TracebackType
from typing import Any, Final, Literal, TypedDict, TypeVar, cast

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    DeltaChannelHistory,
    get_checkpoint_metadata,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from fast_langgraph import _atomic, _selector
from fast_langgraph._filters import compile_filter
from fast_langgraph._ttl import TTLSweeper, validate_ttl
from fast_langgraph.serde import JsonPlusSerializer
from fast_langgraph_pure import Engine
from fast_langgraph_pure.compact import STORAGE_MODES
from fast_langgraph_pure.engine import CLEANUP_BATCH_SIZE, CleanupProgress
from fast_langgraph_pure.protocol import CleanupCounts, Codec, PageCursor, Row, Stats

Durability = Literal["normal", "full"]
DURABILITY_CHOICES: Final = ("normal", "full")
StorageMode = Literal["default", "compact"]
# The layout of new files when `storage` is not given: how the test suite runs
# whole in compact mode (`nox -s "tests(rust, compiled, compact)"`).
STORAGE_ENV: Final = "FAST_LANGGRAPH_STORAGE"
PRUNE_STRATEGIES: Final = ("keep_latest", "delete")
# Rows fetched per engine call while iterating list(); no lock is held between pages,
# so calling the saver inside a list() loop is safe.
LIST_PAGE_SIZE: Final = 100
_T = TypeVar("_T")


class TTLConfig(TypedDict, total=False):
    """Time-to-live settings, as LangGraph's platform names them."""

    strategy: Literal["delete", "keep_latest"]
    default_ttl: float  # minutes
    sweep_interval_minutes: float


def _configurable(config: Any) -> Mapping[str, Any]:
    configurable = config.get("configurable") if isinstance(config, Mapping) else None
    if not isinstance(configurable, Mapping):
        raise ValueError(
            "config must be a dict with a 'configurable' dict, "
            f"e.g. {{'configurable': {{'thread_id': '1'}}}}; got {config!r}"
        )
    return configurable


def _thread_id(configurable: Mapping[str, Any]) -> str:
    thread_id = configurable.get("thread_id")
    if thread_id is None or thread_id == "":
        raise ValueError("config['configurable']['thread_id'] is required")
    return str(thread_id)


def _checkpoint_ns(configurable: Mapping[str, Any]) -> str:
    ns = configurable.get("checkpoint_ns")
    return "" if ns is None else str(ns)


def _config(thread_id: str, checkpoint_ns: str, checkpoint_id: str) -> RunnableConfig:
    return {
        "configurable": {
            "thread_id": thread_id,
            "checkpoint_ns": checkpoint_ns,
            "checkpoint_id": checkpoint_id,
        }
    }


def _to_tuple(row: Row, config: RunnableConfig | None = None) -> CheckpointTuple:
    thread_id, checkpoint_ns, checkpoint_id, parent_id, checkpoint, metadata, writes = row
    return CheckpointTuple(
        config or _config(thread_id, checkpoint_ns, checkpoint_id),
        cast(Checkpoint, checkpoint),
        cast(CheckpointMetadata, metadata),
        _config(thread_id, checkpoint_ns, parent_id) if parent_id else None,
        writes,
    )


def _ids(value: Sequence[str], argument: str) -> builtins.list[str]:
    """A sequence of ids as a list of str; a lone str is refused, since iterating
    it would act on one-letter ids."""
    if isinstance(value, (str, bytes)):
        raise TypeError(
            f"{argument} must be a list of ids, not a single {type(value).__name__}: "
            f"pass [{value!r}]"
        )
    return [str(item) for item in value]


def _created_before(age: timedelta) -> str:
    """The UTC cutoff in the text form stored in checkpoints.created_at."""
    cutoff = datetime.now(timezone.utc) - age
    return cutoff.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


class _Paging:
    """Walks list() results page by page (keyset pagination) up to a limit."""

    __slots__ = ("after", "remaining")

    def __init__(self, limit: int | None) -> None:
        self.after: PageCursor | None = None
        # -1: no limit (None or negative, as SQLite's LIMIT treats negatives).
        self.remaining = -1 if limit is None or limit < 0 else limit

    def next_size(self) -> int:
        """Rows to ask for next; 0 when done."""
        if self.remaining < 0:
            return LIST_PAGE_SIZE
        return min(self.remaining, LIST_PAGE_SIZE)

    def advance(self, rows: list[Row], size: int) -> None:
        if len(rows) < size:
            self.remaining = 0
            return
        if self.remaining > 0:
            self.remaining -= len(rows)
        last = rows[-1]
        self.after = (last[2], last[0], last[1])


def open_engine(
    conn: str | os.PathLike[str] | sqlite3.Connection,
    *,
    durability: Durability | None,
    read_only: bool = False,
    storage: str | None = None,
) -> Engine:
    """The engine on a path or a caller's connection, in the storage layout
    asked for (`storage`), the file's own, or for a new file the one
    FAST_LANGGRAPH_STORAGE names."""
    new_files = os.environ.get(STORAGE_ENV) or "default"
    if new_files not in STORAGE_MODES:
        raise ValueError(
            f"the {STORAGE_ENV} environment variable must be one of {STORAGE_MODES}, "
            f"not {new_files!r}"
        )
    if storage is not None and storage not in STORAGE_MODES:
        raise ValueError(f"storage must be one of {STORAGE_MODES}, not {storage!r}")
    if isinstance(conn, sqlite3.Connection):
        return Engine.from_connection(
            conn, durability=durability, storage_mode=storage, new_file_mode=new_files
        )
    return Engine(
        os.fspath(conn),
        durability=durability,
        read_only=read_only,
        storage_mode=storage,
        new_file_mode=new_files,
    )


class RustSQLiteCheckpointer(BaseCheckpointSaver[str]):
    """A fast SQLite checkpoint saver, file-compatible with langgraph's SqliteSaver.

    Args:
        conn: a database path (relative, absolute, or ":memory:") or an open
            `sqlite3.Connection`, as SqliteSaver takes. A connection is driven
            as given (open it with `check_same_thread=False`, as for SqliteSaver)
            and stays the caller's to close.
        serde: the serializer; defaults to `fast_langgraph.serde.JsonPlusSerializer`
            (LangGraph's JsonPlusSerializer, same bytes, native codec inside).
            Any serializer is honoured; see `implementation`.
        durability: "normal" (WAL with synchronous=NORMAL; survives an
            application crash, a power loss may drop the last commits) or "full"
            (synchronous=FULL, one fsync per commit, as SqliteSaver). None, the
            default, means "normal" for a path and, for a connection, leaves its
            `synchronous` as the caller set it (sqlite3's default is FULL).
        ttl: optional time-to-live, e.g. `{"strategy": "delete", "default_ttl":
            60 * 24 * 30, "sweep_interval_minutes": 60}`, swept in the background.
        read_only: open an existing file without ever writing to it.
        storage: "compact" stores each distinct message (each element of a
            list-valued channel, each other large value) once per thread, so a
            long conversation's file and steps stay small; SqliteSaver cannot
            read such a file (`fast-langgraph convert` turns it back).
            "default" is SqliteSaver's layout. None, the default, keeps an
            existing file's layout and makes new files in SqliteSaver's (or in
            the one the FAST_LANGGRAPH_STORAGE environment variable names).
            See docs/compact.md.

    SqliteSaver's surface is here too, for code written against it: `conn` (the
    `sqlite3.Connection` for your own SQL), `lock`, `is_setup`, `setup()`,
    `cursor()`, `jsonplus_serde`. A path that cannot be a database (a directory,
    a missing folder, a URL) raises `sqlite3.OperationalError` naming it; a call
    after `close()` raises `sqlite3.ProgrammingError` saying the saver is closed.

    `implementation` is "rust" when the native codec of fast-langgraph-rs encodes
    and decodes this saver's values, "python" when its serializer runs in Python;
    `implementation_detail` says why.
    """

    serde: SerializerProtocol = JsonPlusSerializer()

    def __init__(
        self,
        conn: str | os.PathLike[str] | sqlite3.Connection,
        *,
        serde: SerializerProtocol | None = None,
        durability: Durability | None = None,
        ttl: TTLConfig | None = None,
        read_only: bool = False,
        storage: StorageMode | None = None,
    ) -> None:
        super().__init__(serde=serde)
        if durability is not None and durability not in DURABILITY_CHOICES:
            raise ValueError(f"durability must be one of {DURABILITY_CHOICES}, got {durability!r}")
        # SqliteSaver has it (unused there too); code written for it may read it.
        self.jsonplus_serde = JsonPlusSerializer()
        # Built (and so validated) before the file is opened: a bad ttl leaves nothing open.
        self._sweeper: TTLSweeper | None = TTLSweeper(self, ttl) if ttl is not None else None
        self._codec_choice: tuple[SerializerProtocol, _selector.CodecChoice] | None = None
        self._engine: Engine = self._open_engine(conn, durability, read_only, storage)
        # The schema is made (or migrated) on opening; see setup().
        self.is_setup = True
        if self._sweeper is not None:
            self._sweeper.start()

    # -- the codec ---------------------------------------------------------------

    def _choice(self) -> _selector.CodecChoice:
        # with_allowlist() clones the saver with another serializer: choose again for it.
        cached = self._codec_choice
        if cached is None or cached[0] is not self.serde:
            cached = (self.serde, _selector.codec_for(self.serde))
            self._codec_choice = cached
        return cached[1]

    @property
    def _codec(self) -> Codec:
        return self._choice().codec

    @property
    def implementation(self) -> str:
        """ "rust" when the native codec encodes and decodes this saver's values,
        "python" when its serializer runs in Python."""
        return self._choice().implementation

    @property
    def implementation_detail(self) -> str:
        """What runs for this saver's values, and why, in plain words."""
        return self._choice().detail

    # -- lifecycle -------------------------------------------------------------

    def _open_engine(
        self, conn: Any, durability: Durability | None, read_only: bool, storage: str | None
    ) -> Engine:
        return open_engine(conn, durability=durability, read_only=read_only, storage=storage)

    @classmethod
    @contextmanager
    def from_conn_string(cls, conn_string: str, **kwargs: Any) -> Iterator[RustSQLiteCheckpointer]:
        """Open a saver on a path (or ":memory:") and close it on exit."""
        saver = cls(conn_string, **kwargs)
        try:
            yield saver
        finally:
            saver.close()

    # -- SqliteSaver's surface: conn, lock, setup(), cursor() ----------------------

    @property
    def conn(self) -> sqlite3.Connection:
        """The `sqlite3.Connection` for your own SQL, as SqliteSaver's `conn`:
        the one you passed in, the one ":memory:" connection, or the file's
        writer connection (autocommit: each statement commits unless you BEGIN).
        A saver opened with read_only=True gives a read-only connection. Hold
        `lock` around its use while other threads use the saver."""
        return self._engine.connection

    @property
    def lock(self) -> threading.Lock:
        """The lock the saver holds while it uses `conn` (SqliteSaver's `lock`)."""
        return self._engine.lock

    def setup(self) -> None:
        """Kept for code written for SqliteSaver; it does nothing more. The
        tables are created (or migrated) when the saver opens the database, and
        only when `PRAGMA user_version` says they are behind, so opening a
        current file never waits on another writer."""

    @contextmanager
    def cursor(self, transaction: bool = True) -> Iterator[sqlite3.Cursor]:
        """SqliteSaver's `cursor()`: a cursor on `conn` with `lock` held,
        committed on exit when `transaction` is true."""
        engine = self._engine
        conn = engine.connection
        with engine.lock:
            cur = conn.cursor()
            try:
                yield cur
            finally:
                if transaction:
                    conn.commit()
                cur.close()

    @property
    def path(self) -> str:
        return self._engine.path

    @property
    def storage(self) -> str:
        """The file's layout: "default" (SqliteSaver's) or "compact"."""
        return self._engine.storage_mode

    def close(self) -> None:
        """Stop the TTL sweeper and release the database. Idempotent."""
        if self._sweeper is not None:
            self._sweeper.stop()
            self._sweeper = None
        self._engine.close()

    def __enter__(self) -> RustSQLiteCheckpointer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> RustSQLiteCheckpointer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._in_thread(self.close)

    # -- the checkpoint contract (sync) -----------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        configurable = _configurable(config)
        checkpoint_id = configurable.get("checkpoint_id")
        row = self._engine.get(
            _thread_id(configurable),
            _checkpoint_ns(configurable),
            str(checkpoint_id) if checkpoint_id else None,
            self._codec,
        )
        if row is None:
            return None
        # Like SqliteSaver: a config naming its checkpoint is handed back as given.
        return _to_tuple(row, config if checkpoint_id else None)

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        fetch_page = self._page_fetcher(config, filter, before)
        paging = _Paging(limit)
        while size := paging.next_size():
            rows = fetch_page(paging.after, size)
            for row in rows:
                yield _to_tuple(row)
            paging.advance(rows, size)

    def _page_fetcher(
        self,
        config: RunnableConfig | None,
        filter: dict[str, Any] | None,
        before: RunnableConfig | None,
    ) -> Callable[[PageCursor | None, int], builtins.list[Row]]:
        """Validate list() arguments eagerly and return a page-fetching function."""
        thread_id = checkpoint_ns = checkpoint_id = None
        if config is not None:
            configurable = _configurable(config)
            if configurable.get("thread_id") not in (None, ""):
                thread_id = _thread_id(configurable)
            if configurable.get("checkpoint_ns") is not None:
                checkpoint_ns = str(configurable["checkpoint_ns"])
            if configurable.get("checkpoint_id"):
                checkpoint_id = str(configurable["checkpoint_id"])
        before_id = None
        if before is not None and _configurable(before).get("checkpoint_id"):
            before_id = str(_configurable(before)["checkpoint_id"])
        filters = compile_filter(filter)
        codec = self._codec

        def fetch(after: PageCursor | None, size: int) -> builtins.list[Row]:
            return self._engine.list_page(
                thread_id, checkpoint_ns, checkpoint_id, filters, before_id, after, size, codec
            )

        return fetch

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        configurable = _configurable(config)
        thread_id = _thread_id(configurable)
        checkpoint_ns = _checkpoint_ns(configurable)
        parent_id = configurable.get("checkpoint_id")
        if not isinstance(checkpoint, Mapping) or not checkpoint.get("id"):
            raise ValueError("checkpoint must be a dict with an 'id'")
        checkpoint_id = str(checkpoint["id"])
        self._engine.put(
            thread_id,
            checkpoint_ns,
            checkpoint_id,
            str(parent_id) if parent_id else None,
            checkpoint,
            get_checkpoint_metadata(config, metadata),
            self._codec,
        )
        return _config(thread_id, checkpoint_ns, checkpoint_id)

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        configurable = _configurable(config)
        thread_id = _thread_id(configurable)
        checkpoint_id = configurable.get("checkpoint_id")
        if not checkpoint_id:
            raise ValueError("put_writes needs config['configurable']['checkpoint_id']")
        # SqliteSaver's INSERT OR IGNORE drops a row with a NULL channel or
        # task_id without a word; refuse it, before anything is written.
        if task_id is None:
            raise TypeError("put_writes: task_id must be a str, not None")
        if task_path is None:
            raise TypeError("put_writes: task_path must be a str, not None (the default is '')")
        if not writes:
            return
        rows = []
        for idx, (channel, value) in enumerate(writes):
            if not isinstance(channel, str):
                raise TypeError(
                    f"put_writes: writes[{idx}] has channel {channel!r}: a channel must be "
                    f"a str, not {type(channel).__name__}, e.g. [('messages', value)]"
                )
            rows.append((WRITES_IDX_MAP.get(channel, idx), channel, value))
        # Special channels (errors, interrupts...) replace; ordinary writes keep the first.
        replace = all(channel in WRITES_IDX_MAP for _idx, channel, _value in rows)
        self._engine.put_writes(
            thread_id,
            _checkpoint_ns(configurable),
            str(checkpoint_id),
            str(task_id),
            str(task_path),
            rows,
            replace,
            self._codec,
        )

    def delete_thread(self, thread_id: str) -> None:
        self._engine.delete_thread(str(thread_id))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        run_ids = _ids(run_ids, "run_ids")
        if run_ids:
            self._engine.delete_for_runs(run_ids, self._codec)

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        self._engine.copy_thread(str(source_thread_id), str(target_thread_id))

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        if strategy not in PRUNE_STRATEGIES:
            raise ValueError(f"strategy must be one of {PRUNE_STRATEGIES}, got {strategy!r}")
        thread_ids = _ids(thread_ids, "thread_ids")
        if thread_ids:
            self._engine.prune(thread_ids, strategy == "keep_latest", self._codec)

    def get_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        if not channels:
            return {}
        configurable = _configurable(config)
        checkpoint_id = configurable.get("checkpoint_id")
        return self._engine.delta_history(
            _thread_id(configurable),
            _checkpoint_ns(configurable),
            str(checkpoint_id) if checkpoint_id else None,
            list(channels),
            self._codec,
        )

    def get_next_version(self, current: str | None, channel: None) -> str:
        """SqliteSaver's version format, so threads can move between the savers."""
        if current is None:
            current_v = 0
        elif isinstance(current, int):
            current_v = current
        else:
            current_v = int(current.split(".")[0])
        return f"{current_v + 1:032}.{random.random():016}"

    # -- the checkpoint contract (async): the same work, off the event loop ------

    async def _in_thread(self, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, functools.partial(fn, *args, **kwargs))

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await self._in_thread(self.get_tuple, config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        fetch_page = self._page_fetcher(config, filter, before)
        paging = _Paging(limit)
        while size := paging.next_size():
            rows = await self._in_thread(fetch_page, paging.after, size)
            for row in rows:
                yield _to_tuple(row)
            paging.advance(rows, size)

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await self._in_thread(self.put, config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        await self._in_thread(self.put_writes, config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        await self._in_thread(self.delete_thread, thread_id)

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        await self._in_thread(self.delete_for_runs, run_ids)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        await self._in_thread(self.copy_thread, source_thread_id, target_thread_id)

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        await self._in_thread(self.prune, thread_ids, strategy=strategy)

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        return await self._in_thread(
            self.get_delta_channel_history, config=config, channels=channels
        )

    # -- operations --------------------------------------------------------------

    def cleanup(
        self,
        older_than: timedelta,
        *,
        keep_latest: bool = True,
        dry_run: bool = False,
        vacuum: bool = False,
        batch_size: int = CLEANUP_BATCH_SIZE,
        progress: CleanupProgress | None = None,
    ) -> CleanupCounts:
        """Delete checkpoints (and their writes) created more than `older_than` ago.

        With keep_latest, each thread keeps its newest checkpoint per namespace.
        Checkpoints a surviving DeltaChannel checkpoint needs are always kept.
        Returns how many rows were (or, with dry_run, would be) deleted.

        The work goes in short transactions of about `batch_size` checkpoints
        (whole namespaces), so writers never wait long and an interruption
        (Ctrl-C, a kill) leaves a consistent file with the batches before it
        done. `progress(deleted so far, checkpoints examined, checkpoints
        expired in all)` is called after each batch, outside any transaction;
        an exception it raises stops the cleanup there, everything it was told
        of being deleted. A dry run on a file opened read-only that has no
        `created_at` yet (one only SqliteSaver wrote) dates the checkpoints
        from their ids, in memory, and changes nothing.
        """
        if not isinstance(older_than, timedelta) or older_than < timedelta(0):
            raise ValueError("older_than must be a non-negative datetime.timedelta")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        counts = self._engine.cleanup(
            _created_before(older_than),
            keep_latest,
            dry_run,
            self._codec,
            batch_size,
            progress,
        )
        if vacuum and not dry_run:
            self._engine.vacuum()
        return counts

    def stats(self, top: int = 10) -> Stats:
        """Threads, checkpoints, writes and bytes, largest threads first."""
        return self._engine.stats(top)

    def db_size(self) -> int:
        """Bytes on disk: the database file plus its WAL."""
        return self._engine.db_size()

    def vacuum(self) -> None:
        """Give the space of deleted rows back to the file system."""
        self._engine.vacuum()

    def backup(self, target_path: str | os.PathLike[str]) -> None:
        """Copy the live database to `target_path` (SQLite's online backup),
        whole or not at all: the copy is written beside it (TARGET.partial) and
        renamed over it once complete, so a killed backup never leaves a partial
        file under the target's name."""
        with _atomic.written_atomically(os.fspath(target_path)) as partial:
            self._engine.backup(partial)

    def sweep_expired(self, ttl: TTLConfig) -> CleanupCounts:
        """Apply a TTL once, thread by thread, as LangGraph's platform does: a thread
        expires when its newest checkpoint is older than `default_ttl` minutes.
        "delete" drops expired threads; "keep_latest" prunes them to their newest
        checkpoint per namespace (and the delta ancestry it needs). Active threads
        are never touched: each expired thread is one short transaction that
        checks the thread's age again before deleting, so a thread written to
        while the sweep runs is left whole. Returns how many rows went."""
        settings = validate_ttl(ttl)
        cutoff = _created_before(timedelta(minutes=settings["default_ttl"]))
        keep_latest = settings["strategy"] == "keep_latest"
        deleted: CleanupCounts = {"checkpoints": 0, "writes": 0}
        engine = self._engine
        codec = self._codec
        for thread_id in engine.expired_threads(cutoff, keep_latest):
            counts = engine.expire_thread(thread_id, cutoff, keep_latest, codec)
            deleted["checkpoints"] += counts["checkpoints"]
            deleted["writes"] += counts["writes"]
        return deleted
