"""The storage engine: checkpoints in SQLite through Python's own sqlite3.

`fast_langgraph`'s saver hands every call to one `Engine`; the types it takes
and returns live in `protocol`, and every SQL statement in `storage`.

Connections. A file has one writer connection behind a lock; every write call
is one BEGIN IMMEDIATE transaction, rolled back on any exception. Short reads
borrow the writer connection when it is idle; otherwise reads use a small pool
of query-only connections, so in WAL mode they never wait for the writer.
":memory:" and a connection handed to `from_connection` are a single
connection: reads then take the same lock as writes. `connection` and `lock`
are what SqliteSaver calls `conn` and `lock`: the writer (or single)
connection, for users' own SQL, and the lock the engine holds while using it.

Opening checks the path first (a clear `sqlite3.OperationalError` naming it,
nothing created), then refuses, unchanged, a file whose `checkpoints` or
`writes` table is another application's (`storage.check_tables`), and migrates
only a file whose `user_version` is behind, so opening a current file never
waits on another writer.

Decoding (the codec's loads) happens after the connection is given
back, so a slow decode never holds the lock or a transaction open.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, TypeVar, final

from langgraph.checkpoint.base import DeltaChannelHistory, PendingWrite, writes_sort_key

from fast_langgraph_pure import _fork, _interrupt, compact, storage
from fast_langgraph_pure.protocol import (
    CleanupCounts,
    Codec,
    Key,
    MetadataFilter,
    PageCursor,
    Row,
    Stats,
)

# Serializer tags and blobs are typed Any on purpose: they go between serde and
# SQLite untouched, whatever types a (custom) serializer or an old file uses
# (bytearray, NULL...), and compiled code checks declared types at run time.
# A checkpoints row as selected by storage.CHECKPOINT_COLUMNS.
_CheckpointRow = tuple[str, str, str, "str | None", Any, Any, Any]
# A writes row as selected by Queries.select_writes:
# (task_id, channel, type, value, task_path, idx).
_WriteRow = tuple[str, str, Any, Any, str, int]
# A checkpoints row as stored: (thread_id, checkpoint_ns, checkpoint_id,
# parent_checkpoint_id, type, checkpoint, metadata, created_at).
StoredRow = tuple[str, str, str, "str | None", Any, Any, Any, "str | None"]

T = TypeVar("T")

MEMORY: Final = ":memory:"
# Idle read connections kept for reuse; more are opened under load and closed
# when given back.
_MAX_IDLE_READERS: Final = 4
_READ_ONLY_MESSAGE: Final = "attempt to write a readonly database"
# Wraps a write made inside a transaction the caller left open on their connection.
_SAVEPOINT: Final = "fast_langgraph_write"
_FORKED_MID_WRITE: Final = (
    "this process was forked during this write: its transaction belongs to the parent "
    "process, which commits it; open a new saver in this process"
)
# Expired checkpoints per cleanup transaction (whole namespaces, so a batch may
# hold more): short enough that writers never wait long, large enough that the
# commits do not dominate.
CLEANUP_BATCH_SIZE: Final = 500
# cleanup's progress callback: (counts so far, checkpoints examined, expired in all).
CleanupProgress = Callable[[CleanupCounts, int, int], None]


@final
class Engine:
    """One database file (or ":memory:", or a caller's connection)."""

    __slots__ = (
        "_chunks",
        "_closed",
        "_conn",
        "_durability",
        "_fork",
        "_fork_error",
        "_idle_readers",
        "_lock",
        "_owns_conn",
        "_path",
        "_pool_lock",
        "_pooled",
        "_queries",
        "_read_only",
        "_reader_uri",
        "_user_reader",
    )

    def __init__(
        self,
        path: str,
        *,
        durability: str | None = None,
        read_only: bool = False,
        storage_mode: str | None = None,
        new_file_mode: str = "default",
        _adopt: sqlite3.Connection | None = None,
    ) -> None:
        """Open `path` (":memory:" for a private in-memory database).

        durability: "normal" (the default for a path: WAL, synchronous=NORMAL)
        or "full" (synchronous=FULL). For a caller's connection (`_adopt`)
        None leaves its pragmas as they are.
        storage_mode: "default" (SqliteSaver's layout) or "compact" (see the
        compact module) to insist on one, None for the file's own;
        new_file_mode: the layout of a file without checkpoints yet.
        """
        # `_adopt` is `from_connection`'s way in (mypyc classes have no __new__).
        if durability is not None and durability not in storage.DURABILITY_SYNCHRONOUS:
            raise ValueError(f"durability must be 'normal' or 'full', not {durability!r}")
        self._read_only = read_only
        self._lock = threading.Lock()
        self._pool_lock = threading.Lock()
        self._idle_readers: list[sqlite3.Connection] = []
        self._user_reader: sqlite3.Connection | None = None
        self._reader_uri = ""
        self._closed = False
        self._durability = durability or "normal"
        # What a fork must know of this engine; see `_fork` and `_after_fork`.
        self._fork = _fork.ForkState(self._lock, self._pool_lock)
        self._fork_error = ""
        if _adopt is not None:
            self._path = storage.main_file(_adopt) or MEMORY
            if not _in_memory(self._path):
                _fork.check_usable(self._path)
            self._conn: sqlite3.Connection | None = _adopt
            self._owns_conn = False
            self._pooled = False
            if durability is not None:
                sync = storage.DURABILITY_SYNCHRONOUS[durability]
                _adopt.execute(f"PRAGMA synchronous = {sync}")
            # Before the switch to WAL and any migration: a file in the other
            # layout is refused as it is.
            compact.check_layout(_adopt, storage_mode, new_file_mode)
            self._queries = _set_up_callers_connection(_adopt)
            is_compact = compact.set_up(
                _adopt, storage_mode, new_files=new_file_mode, writable=True
            )
        elif read_only:
            _check_path(path, read_only=True)
            _fork.check_usable(path)
            _refuse_foreign_wal_file(path)
            self._path = path
            self._conn = None
            self._owns_conn = False
            self._pooled = not _in_memory(path)
            # Decided once: every reader of this engine opens the file the same way.
            self._reader_uri = _read_only_uri(path) if self._pooled else ""
            first = self._open_reader() if self._pooled else _connect(path)
            try:
                compact.check_layout(first, storage_mode, new_file_mode)
                self._queries = _queries_for(first)
                is_compact = compact.set_up(
                    first, storage_mode, new_files=new_file_mode, writable=False
                )
            except BaseException:
                first.close()
                raise
            if self._pooled:
                self._idle_readers.append(first)
            else:
                self._conn = first
                self._owns_conn = True
                self._fork.opened(first)
        else:
            _check_path(path, read_only=False)
            _fork.check_usable(path)
            self._path = path
            conn = _connect(path)
            try:
                # Before the first change (the switch to WAL): another
                # application's file is refused as it is.
                storage.check_tables(conn, writing=True)
                compact.check_layout(conn, storage_mode, new_file_mode)
                storage.configure_writer(conn, durability or "normal")
                _migrate_if_behind(conn)
                # Statements fitting the columns really there (a current file
                # that someone altered by hand stays readable).
                queries = _queries_for(conn)
                is_compact = compact.set_up(
                    conn, storage_mode, new_files=new_file_mode, writable=True
                )
            except BaseException:
                conn.close()
                raise
            self._conn = conn
            self._owns_conn = True
            self._pooled = not _in_memory(path)
            self._queries = queries
            self._fork.opened(conn)
        # What the writer knows of stored chunks; None: not a compact file.
        self._chunks: compact.ChunkStore | None = (
            compact.ChunkStore(remembers=self._owns_conn or self._pooled) if is_compact else None
        )
        self._fork.register("" if _in_memory(self._path) else self._path)

    @classmethod
    def from_connection(
        cls,
        conn: sqlite3.Connection,
        *,
        durability: str | None = None,
        storage_mode: str | None = None,
        new_file_mode: str = "default",
    ) -> Engine:
        """Drive a connection the caller opened (and keeps owning: `close`
        leaves it open). Everything goes through it, behind one lock.

        Its pragmas stay as the caller set them, except journal_mode=WAL (as
        SqliteSaver.setup sets it) and, when `durability` is given, synchronous.
        The schema is created or migrated here unless `user_version` says it is
        current; a read-only connection is read as it is.
        """
        return cls(
            "",
            durability=durability,
            storage_mode=storage_mode,
            new_file_mode=new_file_mode,
            _adopt=conn,
        )

    @property
    def path(self) -> str:
        return self._path

    @property
    def storage_mode(self) -> str:
        """The file's layout: "default" (SqliteSaver's) or "compact"."""
        return "default" if self._chunks is None else "compact"

    @property
    def lock(self) -> threading.Lock:
        """Held while the engine uses `connection`; hold it around your own use
        of `connection` when other threads use the engine."""
        if self._fork.forked:
            self._after_fork(raise_refusal=False)
        return self._lock

    @property
    def connection(self) -> sqlite3.Connection:
        """The connection for users' own SQL (SqliteSaver's `conn`): the caller's
        connection, the one ":memory:" connection, or the file's writer. A
        read-only engine has no writer: a read-only connection of its own."""
        if self._fork.forked:
            self._after_fork()
        if self._conn is not None:
            return self._conn
        with self._pool_lock:
            if self._closed:
                raise self._closed_error()
            if self._user_reader is None:
                self._user_reader = self._open_reader()
            return self._user_reader

    def close(self) -> None:
        """Release the file. Idempotent. Later calls raise sqlite3.ProgrammingError."""
        if self._fork.forked:
            self._after_fork(raise_refusal=False)
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._conn is not None and self._owns_conn:
                self._fork.closed(self._conn)
                self._conn.close()
            self._conn = None
        with self._pool_lock:
            idle = self._idle_readers
            self._idle_readers = []
            if self._user_reader is not None:
                idle.append(self._user_reader)
                self._user_reader = None
            # Closed with the pool lock held, so a fork waits until they are.
            for reader in idle:
                self._fork.closed(reader)
                reader.close()

    def _closed_error(self) -> sqlite3.ProgrammingError:
        where = repr(self._path)
        if _in_memory(self._path):
            where += " (its data went with it)"
        return sqlite3.ProgrammingError(
            f"the saver for {where} is closed: close() was called or its `with` block "
            "ended; use the saver inside the `with` block, or open a new one"
        )

    # -- connections ----------------------------------------------------------

    def _open_reader(self) -> sqlite3.Connection:
        if self._read_only:
            conn = _connect(self._path, uri=self._reader_uri)
        else:
            conn = _connect(self._path)
        try:
            storage.configure_reader(conn)
        except BaseException:
            conn.close()
            raise
        self._fork.opened(conn)
        return conn

    def _read(self, work: Callable[[sqlite3.Connection], T], *, short: bool = True) -> T:
        """Run `work` on a connection that sees every committed write.

        A short read borrows the writer connection when it is idle: its page
        cache is warm (it made the last changes), which keeps a single-threaded
        put/get loop as fast as with one connection. Otherwise, and for long
        reads that must not hold up writers, a pooled reader runs `work` in one
        read transaction (a consistent snapshot) without waiting for the writer.
        """
        if self._fork.forked:
            self._after_fork()
        if not self._pooled:
            with self._lock:
                return work(self._open_connection())
        if short and self._conn is not None and self._lock.acquire(blocking=False):
            try:
                return work(self._open_connection())
            finally:
                self._lock.release()
        reader = self._checkout_reader()
        try:
            reader.execute("BEGIN")
            try:
                return work(reader)
            finally:
                reader.execute("COMMIT")
        finally:
            self._return_reader(reader)

    def _checkout_reader(self) -> sqlite3.Connection:
        """A reader for one read; give it back with `_return_reader`. Counted
        as a read in flight from here until it is back (or closed), so that a
        fork waits for it."""
        with self._pool_lock:
            if self._closed:
                raise self._closed_error()
            self._fork.start_read()
            if self._idle_readers:
                return self._idle_readers.pop()
        try:
            return self._open_reader()
        except BaseException:
            with self._pool_lock:
                self._fork.end_read()
            raise

    def _return_reader(self, reader: sqlite3.Connection) -> None:
        if self._fork.forked:
            return  # a copy left by a fork inside this very read: never pooled, never closed
        with self._pool_lock:
            if not self._closed and len(self._idle_readers) < _MAX_IDLE_READERS:
                self._idle_readers.append(reader)
                self._fork.end_read()
                return
        try:
            reader.close()
        finally:
            with self._pool_lock:
                self._fork.closed(reader)
                self._fork.end_read()

    def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` in one BEGIN IMMEDIATE transaction; on any exception the
        database is left as it was."""
        if self._fork.forked:
            self._after_fork()
        if self._read_only and not self._closed:
            raise sqlite3.OperationalError(_READ_ONLY_MESSAGE)
        with self._lock:
            conn = self._open_connection()
            if conn.in_transaction:
                return _write_in_open_transaction(conn, work)
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(conn)
                if self._fork.forked:
                    # `work` forked: this copy of the transaction is the parent's to commit.
                    raise sqlite3.ProgrammingError(_FORKED_MID_WRITE)
                conn.execute("COMMIT")
            except BaseException as exc:
                # Nor may a child roll it back (see `_fork`).
                if conn.in_transaction and not self._fork.forked:
                    conn.execute("ROLLBACK")
                if _is_disk_full(exc):
                    raise _disk_full(self._path) from exc
                raise
            return result

    def _write_statement(self, sql: str, params: tuple[Any, ...]) -> None:
        """One statement, atomic by itself: in autocommit mode SQLite takes the
        write lock for it and commits it, without BEGIN and COMMIT round trips.
        A connection in a transaction, or one that opens transactions implicitly
        (a caller's, in sqlite3's legacy mode), goes through `_write`."""
        if self._fork.forked:
            self._after_fork()
        if not self._read_only:
            with self._lock:
                conn = self._open_connection()
                if conn.isolation_level is None and not conn.in_transaction:
                    try:
                        conn.execute(sql, params)
                    except sqlite3.OperationalError as exc:
                        if _is_disk_full(exc):
                            raise _disk_full(self._path) from exc
                        raise
                    return
        self._write(lambda conn: conn.execute(sql, params))

    def _open_connection(self) -> sqlite3.Connection:
        """The writer (or single) connection; call with the lock held."""
        if self._conn is None:
            raise self._closed_error()
        return self._conn

    def _after_fork(self, raise_refusal: bool = True) -> None:
        """The first call in a process forked from the one that set this
        engine up (`_fork` closed the idle connections it inherited): new
        locks, and the file opened again by this process. Where that cannot be
        (in memory, a caller's connection, connections copied mid-call) every
        call raises sqlite3.ProgrammingError saying why; `close` still works."""
        state = self._fork
        with state.reset_lock:
            if self._fork is state and not self._fork_error:
                self._set_up_after_fork(state)
        if self._fork_error and raise_refusal and not self._closed:
            raise sqlite3.ProgrammingError(self._fork_error)

    def _set_up_after_fork(self, state: _fork.ForkState) -> None:
        inherited = self._conn
        refusal = "" if self._closed else _fork.refusal(state)
        if not refusal and not self._closed:
            if inherited is not None and not self._owns_conn:
                refusal = _fork.CONNECTION_MESSAGE
            elif _in_memory(self._path):
                refusal = _fork.MEMORY_MESSAGE
        conn: sqlite3.Connection | None = None
        if not refusal and not self._closed and not self._read_only:
            # Opened before anything changes: if this fails, the next call retries.
            conn = _connect(self._path)
            try:
                storage.configure_writer(conn, self._durability)
            except BaseException:
                conn.close()
                raise
        if inherited is not None and not self._owns_conn:
            _fork.abandon(inherited)  # the caller's connection: never closed here
        # The inherited connections are closed or abandoned (`_fork`): forget them.
        self._lock = threading.Lock()
        self._pool_lock = threading.Lock()
        self._idle_readers = []
        self._user_reader = None
        self._conn = conn
        fresh = _fork.ForkState(self._lock, self._pool_lock)
        if conn is not None:
            fresh.opened(conn)
        if refusal:
            self._fork_error = refusal
            fresh.forked = True  # every call comes back here, and raises
        else:
            fresh.register("" if _in_memory(self._path) else self._path)
        state.unregister()
        self._fork = fresh

    # -- the checkpoint contract ----------------------------------------------

    def get(
        self,
        thread_id: str,
        checkpoint_ns: str,
        checkpoint_id: str | None,
        codec: Codec,
    ) -> Row | None:
        """The checkpoint with that id, or the latest (greatest id) when None."""
        select_writes = self._queries.select_writes
        chunks = self._chunks

        def read(conn: sqlite3.Connection) -> tuple[_CheckpointRow, list[_WriteRow]] | None:
            if checkpoint_id is None:
                cursor = conn.execute(storage.SELECT_LATEST_CHECKPOINT, (thread_id, checkpoint_ns))
            else:
                cursor = conn.execute(
                    storage.SELECT_CHECKPOINT, (thread_id, checkpoint_ns, checkpoint_id)
                )
            row: _CheckpointRow | None = cursor.fetchone()
            if row is None:
                return None
            if chunks is not None and row[4] == compact.COMPACT_TYPE:
                row = chunks.expand_rows(conn, [row], 0, 4)[0]
            writes: list[_WriteRow] = conn.execute(
                select_writes, (row[0], row[1], row[2])
            ).fetchall()
            return row, writes

        found = self._read(read)
        if found is None:
            return None
        return _decode_row(found[0], found[1], codec)

    def list_page(
        self,
        thread_id: str | None,
        checkpoint_ns: str | None,
        checkpoint_id: str | None,
        filters: MetadataFilter,
        before_id: str | None,
        after: PageCursor | None,
        limit: int,
        codec: Codec,
    ) -> list[Row]:
        """At most `limit` rows newest first, pending writes fetched in one query
        for the whole page. None for thread_id/checkpoint_ns means "any";
        before_id keeps checkpoint_id < before_id. Rows whose metadata is not
        valid JSON (e.g. NaN written by json.dumps) simply never match a filter."""
        if limit <= 0:
            return []
        sql = storage.select_page(
            by_thread=thread_id is not None,
            by_namespace=checkpoint_ns is not None,
            by_checkpoint_id=checkpoint_id is not None,
            filters=len(filters),
            before=before_id is not None,
            after=after is not None,
        )
        params: list[Any] = [p for p in (thread_id, checkpoint_ns, checkpoint_id) if p is not None]
        for json_path, value in filters:
            params.append(json_path)
            params.append(value)
        if before_id is not None:
            params.append(before_id)
        if after is not None:
            params.extend(after)
        params.append(limit)
        select_page_writes = self._queries.select_page_writes
        chunks = self._chunks

        def read(
            conn: sqlite3.Connection,
        ) -> tuple[list[_CheckpointRow], list[tuple[str, str, str, str, str, Any, Any, str, int]]]:
            rows: list[_CheckpointRow] = conn.execute(sql, params).fetchall()
            if not rows:
                return rows, []
            if chunks is not None:
                rows = chunks.expand_rows(conn, rows, 0, 4)
            keys = json.dumps([[r[0], r[1], r[2]] for r in rows])
            return rows, conn.execute(select_page_writes, (keys,)).fetchall()

        rows, write_rows = self._read(read)
        writes_by_key: dict[Key, list[_WriteRow]] = {}
        for t, ns, cid, task_id, channel, type_, value, task_path, idx in write_rows:
            writes_by_key.setdefault((t, ns, cid), []).append(
                (task_id, channel, type_, value, task_path, idx)
            )
        return [
            _decode_row(row, writes_by_key.get((row[0], row[1], row[2]), []), codec) for row in rows
        ]

    def put(
        self,
        thread_id: str,
        checkpoint_ns: str,
        checkpoint_id: str,
        parent_checkpoint_id: str | None,
        checkpoint: Mapping[str, Any],
        metadata: Mapping[str, Any],
        codec: Codec,
    ) -> None:
        """INSERT OR REPLACE the row, created_at set to now (UTC). In a compact
        file the channel values go to chunks (see the compact module)."""
        type_, blob = codec.dumps_typed(checkpoint)
        chunks = self._chunks
        if chunks is not None and type_ == "msgpack":
            parts = codec.split_checkpoint(blob)
            if parts is not None:
                self._put_compact(
                    chunks,
                    (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id),
                    parts,
                    codec.dumps_metadata(metadata),
                )
                return
        params = (
            thread_id,
            checkpoint_ns,
            checkpoint_id,
            parent_checkpoint_id,
            type_,
            blob,
            codec.dumps_metadata(metadata),
        )
        self._write_statement(storage.INSERT_CHECKPOINT, params)

    def _put_compact(
        self,
        chunks: compact.ChunkStore,
        key: tuple[str, str, str, str | None],
        parts: tuple[bytes, list[compact.Cut]],
        metadata: bytes,
    ) -> None:
        def write(conn: sqlite3.Connection) -> tuple[int, dict[int, bytes]]:
            blob, generation, stored = chunks.store(conn, key[0], "msgpack", parts)
            conn.execute(storage.INSERT_CHECKPOINT, (*key, compact.COMPACT_TYPE, blob, metadata))
            return generation, stored

        generation, stored = self._write(write)
        chunks.remember(generation, key[0], stored)  # committed (see ChunkStore)

    def put_writes(
        self,
        thread_id: str,
        checkpoint_ns: str,
        checkpoint_id: str,
        task_id: str,
        task_path: str,
        writes: Sequence[tuple[int, str, Any]],
        replace: bool,
        codec: Codec,
    ) -> None:
        """Store (idx, channel, value) rows atomically; INSERT OR REPLACE when
        `replace`, else INSERT OR IGNORE (first writer wins)."""
        # INSERT OR IGNORE would drop a row with a NULL task_id or channel
        # silently. (Compiled, the declared types already refuse them.)
        if not isinstance(task_id, str) or not isinstance(task_path, str):
            raise TypeError(
                f"put_writes: task_id and task_path must be str, not {type(task_id).__name__} "
                f"and {type(task_path).__name__}"
            )
        rows: list[tuple[str, str, str, str, str, int, str, Any, Any]] = []
        for idx, channel, value in writes:
            if not isinstance(channel, str):
                raise TypeError(
                    f"put_writes: the write at index {idx} has channel {channel!r}: "
                    f"a channel must be a str, not {type(channel).__name__}"
                )
            type_, blob = codec.dumps_typed(value)
            rows.append(
                (
                    thread_id,
                    checkpoint_ns,
                    checkpoint_id,
                    task_id,
                    task_path,
                    idx,
                    channel,
                    type_,
                    blob,
                )
            )
        if not rows:
            return
        if len(rows) <= storage.MAX_WRITES_PER_STATEMENT:
            params: list[Any] = []
            for row in rows:
                params.extend(row)
            self._write_statement(storage.INSERT_WRITES[replace][len(rows)], tuple(params))
            return
        sql = storage.INSERT_WRITE_REPLACE if replace else storage.INSERT_WRITE_IGNORE
        self._write(lambda conn: conn.executemany(sql, rows))

    def delete_thread(self, thread_id: str) -> None:
        is_compact = self._chunks is not None
        self._write(lambda conn: _delete_thread(conn, thread_id, compact_file=is_compact))

    def delete_for_runs(self, run_ids: Sequence[str], codec: Codec) -> None:
        """Delete checkpoints whose metadata run_id is in run_ids, and their
        writes, except ancestors that a surviving checkpoint's DeltaChannel
        reconstruction still needs (see `delta ancestry` in the storage module)."""
        if not run_ids:
            return
        wanted = json.dumps([str(run_id) for run_id in run_ids])
        is_compact = self._chunks is not None

        def write(conn: sqlite3.Connection) -> None:
            candidates: list[Key] = conn.execute(
                storage.SELECT_RUN_CHECKPOINTS, (wanted,)
            ).fetchall()
            _delete_checkpoints(conn, deletable(conn, candidates, codec), compact_file=is_compact)

        self._write(write)

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy every checkpoint and write (all namespaces, parents intact).
        Rows already on the target with the same key are replaced."""

        is_compact = self._chunks is not None

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(storage.COPY_THREAD_CHECKPOINTS, (target_thread_id, source_thread_id))
            conn.execute(storage.COPY_THREAD_WRITES, (target_thread_id, source_thread_id))
            if is_compact:
                compact.copy_thread_chunks(conn, source_thread_id, target_thread_id)

        self._write(write)

    def prune(self, thread_ids: Sequence[str], keep_latest: bool, codec: Codec) -> None:
        """keep_latest: keep the newest checkpoint of each namespace, its writes,
        and the delta ancestry it needs; otherwise delete the threads."""
        if not thread_ids:
            return
        is_compact = self._chunks is not None

        def write(conn: sqlite3.Connection) -> None:
            for thread_id in thread_ids:
                if keep_latest:
                    candidates: list[Key] = conn.execute(
                        storage.SELECT_NON_LATEST_OF_THREAD, (thread_id,)
                    ).fetchall()
                    doomed = deletable(conn, candidates, codec)
                    _delete_checkpoints(conn, doomed, compact_file=is_compact)
                else:
                    _delete_thread(conn, thread_id, compact_file=is_compact)

        self._write(write)

    def delta_history(
        self,
        thread_id: str,
        checkpoint_ns: str,
        checkpoint_id: str | None,
        channels: Sequence[str],
        codec: Codec,
    ) -> dict[str, DeltaChannelHistory]:
        """Same result as BaseCheckpointSaver.get_delta_channel_history: walk
        the parent chain from the target's parent, collect each channel's writes
        (oldest first, writes_sort_key order within a checkpoint) until an
        ancestor whose channel_values holds the channel (the seed)."""
        if not channels:
            return {}
        wanted = list(channels)
        # Newest-first ancestor ids whose writes each channel needs, and seeds.
        chain_by_channel: dict[str, list[str]] = {ch: [] for ch in wanted}
        seeds: dict[str, Any] = {}
        select_ancestor_writes = self._queries.select_ancestor_writes
        chunks = self._chunks

        def read(conn: sqlite3.Connection) -> list[tuple[str, str, str, int, Any, Any, str]]:
            target = checkpoint_id
            if target is None:
                target = conn.execute(
                    storage.SELECT_LATEST_CHECKPOINT_ID, (thread_id, checkpoint_ns)
                ).fetchone()[0]
                if target is None:
                    return []
            seeking = set(wanted)
            walked: set[str] = {target}
            cursor = conn.execute(storage.SELECT_ANCESTORS, (thread_id, checkpoint_ns, target))
            try:
                for cid, type_, blob in cursor:
                    if cid in walked:  # a parent loop made by re-put ids
                        break
                    walked.add(cid)
                    if chunks is not None:
                        type_, blob = chunks.expand(conn, thread_id, type_, blob)
                    for ch in seeking:
                        chain_by_channel[ch].append(cid)
                    values = codec.loads_typed((type_, blob)).get("channel_values") or {}
                    for ch in [ch for ch in seeking if ch in values]:
                        seeds[ch] = values[ch]
                        seeking.discard(ch)
                    if not seeking:
                        break
            finally:
                cursor.close()
            chain_ids = sorted({cid for chain in chain_by_channel.values() for cid in chain})
            if not chain_ids:
                return []
            return conn.execute(
                select_ancestor_writes,
                (thread_id, checkpoint_ns, json.dumps(chain_ids), json.dumps(wanted)),
            ).fetchall()

        write_rows = self._read(read, short=False)  # decodes while walking
        # (channel, checkpoint_id) -> [(task_path, task_id, idx, type, value)]
        found: dict[tuple[str, str], list[tuple[str, str, int, Any, Any]]] = {}
        for cid, ch, task_id, idx, type_, value, task_path in write_rows:
            found.setdefault((ch, cid), []).append((task_path, task_id, idx, type_, value))
        histories: dict[str, DeltaChannelHistory] = {}
        for ch in wanted:
            collected: list[PendingWrite] = []
            for cid in reversed(chain_by_channel[ch]):  # oldest first
                stored = found.get((ch, cid), [])
                stored.sort(key=lambda w: writes_sort_key(w[0], w[1], w[2]))
                for _path, task_id, _idx, type_, value in stored:
                    collected.append((task_id, ch, codec.loads_typed((type_, value))))
            history: DeltaChannelHistory = {"writes": collected}
            if ch in seeds:
                history["seed"] = seeds[ch]
            histories[ch] = history
        return histories

    # -- operations -------------------------------------------------------------

    def cleanup(
        self,
        created_before: str,
        keep_latest: bool,
        dry_run: bool,
        codec: Codec,
        batch_size: int = CLEANUP_BATCH_SIZE,
        progress: CleanupProgress | None = None,
    ) -> CleanupCounts:
        """Delete checkpoints with created_at < created_before (text in SQLite's
        'YYYY-MM-DD HH:MM:SS' UTC form) and their writes. keep_latest spares the
        newest checkpoint of every (thread, namespace); delta ancestry of any
        surviving checkpoint is always spared. dry_run counts without deleting.

        The work goes in batches of whole namespaces, about `batch_size`
        expired checkpoints each, one short transaction per batch (each
        re-reads its namespaces, so concurrent writers are seen), so an
        interruption leaves a consistent file with every batch before it done.
        After each batch, outside any transaction, `progress(counts so far,
        checkpoints examined, checkpoints expired in all)` is called; an
        exception it raises stops the cleanup there.

        A file without `created_at` (only a read-only one, so a dry run) is
        dated in memory from its uuid6 checkpoint ids, as migration 1 would.
        """
        queries = self._queries
        undated = not queries.has_created_at
        is_compact = self._chunks is not None
        select_namespaces = queries.select_expired_namespaces(keep_latest)
        select_expired = queries.select_expired_in_namespace(keep_latest)

        def namespaces(conn: sqlite3.Connection) -> list[tuple[str, str, int]]:
            if undated:
                storage.register_created_at_from_id(conn)
            return [
                (str(thread_id), str(checkpoint_ns), int(count))
                for thread_id, checkpoint_ns, count in conn.execute(
                    select_namespaces, (created_before,)
                )
            ]

        def clean(
            batch: list[tuple[str, str, int]],
        ) -> Callable[[sqlite3.Connection], tuple[int, int]]:
            def work(conn: sqlite3.Connection) -> tuple[int, int]:
                if undated:
                    storage.register_created_at_from_id(conn)
                checkpoints = 0
                writes = 0
                for thread_id, checkpoint_ns, _count in batch:
                    candidates: list[Key] = conn.execute(
                        select_expired, (created_before, thread_id, checkpoint_ns)
                    ).fetchall()
                    doomed = deletable(conn, candidates, codec)
                    for key in doomed:
                        writes += int(
                            conn.execute(storage.COUNT_CHECKPOINT_WRITES, key).fetchone()[0]
                        )
                    if not dry_run:
                        _delete_checkpoints(conn, doomed, compact_file=is_compact)
                    checkpoints += len(doomed)
                return checkpoints, writes

            return work

        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        todo = self._read(namespaces, short=False)
        expired = sum(count for _t, _ns, count in todo)
        counts: CleanupCounts = {"checkpoints": 0, "writes": 0}
        examined = 0
        for batch in _batches(todo, batch_size):
            work = clean(batch)
            checkpoints, writes = self._read(work, short=False) if dry_run else self._write(work)
            counts["checkpoints"] += checkpoints
            counts["writes"] += writes
            examined += sum(count for _t, _ns, count in batch)
            if progress is not None:
                so_far: CleanupCounts = {
                    "checkpoints": counts["checkpoints"],
                    "writes": counts["writes"],
                }
                progress(so_far, examined, expired)
        if not dry_run:
            self._sweep_stray_chunks()
        return counts

    def expired_threads(self, created_before: str, keep_latest: bool) -> list[str]:
        """Threads whose newest checkpoint was created before `created_before`
        (with keep_latest, only those with something to prune). A snapshot,
        read without a lock: `expire_thread` decides again for each."""
        if not self._queries.has_created_at:
            return []  # a SqliteSaver file opened read-only: nothing is dated
        sql = (
            storage.SELECT_PRUNABLE_EXPIRED_THREADS
            if keep_latest
            else storage.SELECT_EXPIRED_THREADS
        )

        def read(conn: sqlite3.Connection) -> list[str]:
            return [str(row[0]) for row in conn.execute(sql, (created_before, created_before))]

        return self._read(read, short=False)

    def expire_thread(
        self, thread_id: str, created_before: str, keep_latest: bool, codec: Codec
    ) -> CleanupCounts:
        """One write transaction: if the thread's newest checkpoint is still
        older than `created_before`, delete the thread, or with keep_latest
        everything but each namespace's newest checkpoint and the delta
        ancestry it needs. The check and the delete see the same data, so a
        thread written to since it was listed is left whole."""
        is_compact = self._chunks is not None

        def write(conn: sqlite3.Connection) -> tuple[int, int]:
            expired = conn.execute(storage.THREAD_IS_EXPIRED, (created_before, thread_id))
            if not expired.fetchone()[0]:
                return 0, 0
            if not keep_latest:
                checkpoints = conn.execute(storage.COUNT_THREAD_CHECKPOINTS, (thread_id,))
                writes = conn.execute(storage.COUNT_THREAD_WRITES, (thread_id,))
                counted = (int(checkpoints.fetchone()[0]), int(writes.fetchone()[0]))
                _delete_thread(conn, thread_id, compact_file=is_compact)
                return counted
            candidates: list[Key] = conn.execute(
                storage.SELECT_NON_LATEST_OF_THREAD, (thread_id,)
            ).fetchall()
            doomed = deletable(conn, candidates, codec)
            doomed_writes = 0
            for key in doomed:
                doomed_writes += int(
                    conn.execute(storage.COUNT_CHECKPOINT_WRITES, key).fetchone()[0]
                )
            _delete_checkpoints(conn, doomed, compact_file=is_compact)
            return len(doomed), doomed_writes

        checkpoints, writes = self._write(write)
        return {"checkpoints": checkpoints, "writes": writes}

    def stats(self, top: int) -> Stats:
        """Counts and sizes from indexes and blob lengths, never decoding blobs.
        `top` < 0 lists every thread. A compact file's chunks count in `bytes`."""
        queries = self._queries
        is_compact = self._chunks is not None

        def read(
            conn: sqlite3.Connection,
        ) -> tuple[
            tuple[int, int, int, int], list[tuple[str, int, int, int, str | None, str | None]]
        ]:
            if is_compact:
                totals = conn.execute(queries.select_totals_compact).fetchone()
                largest = conn.execute(queries.select_largest_threads_compact, (top,)).fetchall()
            else:
                totals = conn.execute(queries.select_totals).fetchone()
                largest = conn.execute(queries.select_largest_threads, (top,)).fetchall()
            return totals, largest

        totals, largest = self._read(read, short=False)
        return {
            "threads": int(totals[0]),
            "checkpoints": int(totals[1]),
            "writes": int(totals[2]),
            "bytes_on_disk": self.db_size(),
            "data_bytes": int(totals[3]),
            "largest_threads": [
                {
                    "thread_id": thread_id,
                    "checkpoints": int(checkpoints),
                    "writes": int(writes),
                    "bytes": int(size),
                    "latest_checkpoint_id": latest_id,
                    "latest_created_at": latest_created_at,
                }
                for thread_id, checkpoints, writes, size, latest_id, latest_created_at in largest
            ],
        }

    def db_size(self) -> int:
        """Bytes the database occupies on disk (main file plus WAL)."""

        def read(conn: sqlite3.Connection) -> int:
            pages = int(conn.execute(storage.PAGE_COUNT).fetchone()[0])
            return pages * int(conn.execute(storage.PAGE_SIZE).fetchone()[0])

        size = self._read(read)
        if not _in_memory(self._path):
            with contextlib.suppress(FileNotFoundError):  # no WAL file yet
                size += os.path.getsize(self._path + "-wal")
        return size

    def vacuum(self) -> None:
        if self._fork.forked:
            self._after_fork()
        if self._read_only:
            raise sqlite3.OperationalError(_READ_ONLY_MESSAGE)
        self._sweep_stray_chunks()
        with self._lock:
            conn = self._open_connection()
            conn.execute("VACUUM")
            # Give the space back now rather than at the next checkpoint.
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def _sweep_stray_chunks(self) -> None:
        """Sweep every thread's chunks in a compact file. Deleting calls sweep
        the threads they delete from; this also collects what they never see:
        chunks left by re-put checkpoints or by deletes made by hand."""
        if self._chunks is not None:
            self._write(compact.sweep)

    def backup(self, target_path: str) -> None:
        """Copy the live database to target_path with SQLite's online backup API."""

        def copy(conn: sqlite3.Connection) -> None:
            target = sqlite3.connect(target_path)
            try:
                conn.backup(target)
            finally:
                target.close()

        if self._fork.forked:
            self._after_fork()
        if self._pooled:
            # The backup API needs no open transaction on the source.
            reader = self._checkout_reader()
            try:
                copy(reader)
            finally:
                self._return_reader(reader)
        else:
            with self._lock:
                copy(self._open_connection())

    # -- rows as stored (fast-langgraph convert) ----------------------------------

    def stored_rows(self, after: Key | None, limit: int) -> list[StoredRow]:
        """Up to `limit` checkpoint rows after the key `after` (None: from the
        first), in key order, as the serializer wrote them (compact rows
        spliced back), with created_at."""
        sql = storage.select_stored_rows(
            has_created_at=self._queries.has_created_at, first=after is None
        )
        params = (*(after or ()), limit)
        undated = not self._queries.has_created_at
        chunks = self._chunks

        def read(conn: sqlite3.Connection) -> list[StoredRow]:
            if undated:
                storage.register_created_at_from_id(conn)
            rows: list[StoredRow] = conn.execute(sql, params).fetchall()
            if chunks is not None:
                rows = chunks.expand_rows(conn, rows, 0, 4)
            return rows

        return self._read(read, short=False)

    def stored_writes(self, after: tuple[str, str, str, str, int] | None, limit: int) -> list[Any]:
        """Up to `limit` writes rows after `after` (thread_id, checkpoint_ns,
        checkpoint_id, task_id, idx; None: from the first), in that order,
        columns as storage.INSERT_WRITE_IGNORE takes them."""
        sql = storage.select_stored_writes(
            has_task_path=self._queries.has_task_path, first=after is None
        )
        params = (*(after or ()), limit)
        return self._read(lambda conn: conn.execute(sql, params).fetchall(), short=False)

    def add_stored_rows(
        self,
        rows: Sequence[StoredRow],
        writes: Sequence[Any],
        split: Callable[[bytes], tuple[bytes, list[compact.Cut]] | None],
    ) -> None:
        """Insert rows as `stored_rows` and `stored_writes` give them, in one
        transaction; in a compact file, "msgpack" checkpoints are cut with
        `split`. Meant for a new file only this engine writes (a converted
        copy): what it stores is remembered before the commit."""
        chunks = self._chunks

        def write(conn: sqlite3.Connection) -> None:
            for row in rows:
                thread_id, checkpoint_ns, checkpoint_id, parent_id, type_, blob = row[:6]
                parts = split(blob) if chunks is not None and type_ == "msgpack" else None
                if chunks is not None and parts is not None:
                    blob, generation, stored = chunks.store(conn, thread_id, type_, parts)
                    chunks.remember(generation, thread_id, stored)
                    type_ = compact.COMPACT_TYPE
                conn.execute(
                    storage.INSERT_STORED_ROW,
                    (thread_id, checkpoint_ns, checkpoint_id, parent_id, type_, blob, *row[6:]),
                )
            conn.executemany(storage.INSERT_WRITE_IGNORE, writes)

        try:
            self._write(write)
        except BaseException:
            if chunks is not None:
                chunks.forget()
            raise

    def counts_by_thread(self) -> dict[str, tuple[int, int]]:
        """thread_id -> (checkpoints, writes)."""

        def read(conn: sqlite3.Connection) -> dict[str, tuple[int, int]]:
            return {
                str(thread_id): (int(checkpoints), int(writes))
                for thread_id, checkpoints, writes in conn.execute(storage.COUNT_BY_THREAD)
            }

        return self._read(read, short=False)


# -- helpers ------------------------------------------------------------------


def _is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and (
        getattr(exc, "sqlite_errorname", "") == "SQLITE_FULL"
    )


def _disk_full(path: str) -> sqlite3.OperationalError:
    """SQLite's bare "database or disk is full", with the file and what to do.
    The write was rolled back: every checkpoint acknowledged before it is intact."""
    error = sqlite3.OperationalError(
        f"{path}: database or disk is full; nothing of this write was stored. Free space "
        "on that disk (or run `fast-langgraph cleanup` on another), then retry"
    )
    # The attributes `except` clauses test (Python 3.11+ sets them on SQLite's own).
    # (typeshed declares them for 3.11+ only; the package supports 3.10.)
    error.sqlite_errorcode = 13  # type: ignore[attr-defined,misc]  # SQLITE_FULL
    error.sqlite_errorname = "SQLITE_FULL"  # type: ignore[attr-defined,misc]
    return error


def _in_memory(path: str) -> bool:
    """ ":memory:" and "" (a private temporary database) exist only inside one
    connection, so everything must go through that one."""
    return path in ("", MEMORY)


def _connect(path: str, *, uri: str | None = None) -> sqlite3.Connection:
    """A connection to `path` (through `uri` when given), its open errors
    naming the path: SQLite's own ("unable to open database file") does not."""
    try:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves.
        conn = sqlite3.connect(
            path if uri is None else uri,
            timeout=storage.BUSY_TIMEOUT_SECONDS,
            isolation_level=None,
            check_same_thread=False,
            uri=uri is not None,
        )
    except sqlite3.OperationalError as exc:
        raise sqlite3.OperationalError(f"cannot open {path!r}: {exc}") from exc
    return conn


def _check_path(path: str, *, read_only: bool) -> None:
    """Refuse, before anything is opened or created, a path SQLite would fail
    on with a bare "unable to open database file" (or, for a URL, quietly
    create a file named after it): the error names the path, the cause and
    what to do."""
    if _in_memory(path):
        return
    scheme = path.split(":", 1)[0].lower() if ":" in path else ""
    if scheme == "sqlite":
        plain = path.split(":", 1)[1]
        plain = plain[3:] if plain.startswith("///") else plain.lstrip("/")
        raise sqlite3.OperationalError(
            f"cannot open {path!r}: it is a URL, and a file path is expected; "
            f"pass the path itself, e.g. {plain.split('?', 1)[0]!r}"
        )
    if scheme == "file":
        raise sqlite3.OperationalError(
            f"cannot open {path!r}: it is a SQLite URI, and a file path is expected; "
            "pass the path itself, or open the URI yourself with "
            "sqlite3.connect(uri, uri=True, check_same_thread=False) and pass the connection"
        )
    if os.path.isdir(path):
        raise sqlite3.OperationalError(
            f"cannot open {path!r}: it is a directory; pass a file path inside it, "
            f"e.g. {os.path.join(path, 'checkpoints.db')!r}"
        )
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise sqlite3.OperationalError(
            f"cannot open {path!r}: {folder!r} is a file, not a folder; pass a path inside a folder"
        )
    if not os.path.isdir(folder):
        raise sqlite3.OperationalError(
            f"cannot open {path!r}: the folder {folder!r} does not exist; create it first, "
            "e.g. with os.makedirs(folder, exist_ok=True) or mkdir -p"
        )
    if read_only and not os.path.exists(path):
        raise sqlite3.OperationalError(
            f"cannot open {path!r}: the file does not exist, and read_only=True opens "
            "only an existing database; check the path, or open it without read_only"
        )


def _read_only_uri(path: str) -> str:
    """The URI read-only connections to `path` use: mode=ro, or, on read-only
    media, mode=ro&immutable=1.

    Reading a WAL database needs its -shm file (the shared-memory index); when
    it is missing and cannot be created (a read-only folder or mount) SQLite
    fails with a bare "unable to open database file". If no -wal file holds
    commits, the main file is the whole database and immutable=1 reads it
    without the index (and without locks: nothing can change it there). A -wal
    with content would be ignored by immutable=1, so that is an error saying
    what to do."""
    uri = Path(path).absolute().as_uri() + "?mode=ro"
    probe = _connect(path, uri=uri)
    try:
        storage.user_version(probe)  # the first read opens the WAL index
        return uri
    except sqlite3.OperationalError as exc:
        if "unable to open database file" not in str(exc):
            return uri  # anything else: the engine's first read reports it, as before
        cause = str(exc)
    finally:
        probe.close()
    wal = path + "-wal"
    if os.path.exists(wal) and os.path.getsize(wal) > 0:
        raise sqlite3.OperationalError(
            f"cannot open {path!r} read-only: it is a WAL database whose {wal!r} holds "
            f"commits not yet in the main file, and SQLite cannot create {path + '-shm'!r} "
            "beside it to read them (read-only media?); checkpoint it where it is "
            "writable (open and close it once with any SQLite client), or copy the "
            "file with its -wal to a writable folder"
        )
    immutable = uri + "&immutable=1"
    probe = _connect(path, uri=immutable)
    try:
        storage.user_version(probe)
    except sqlite3.OperationalError as exc:
        raise sqlite3.OperationalError(
            f"cannot open {path!r} read-only: {cause}, and also not as an immutable "
            f"file ({exc}); check that the file and its folder can be read"
        ) from exc
    finally:
        probe.close()
    return immutable


def _refuse_foreign_wal_file(path: str) -> None:
    """`storage.check_tables` for a read-only open that would leave files
    behind: reading a WAL database whose -wal is absent creates -wal and -shm,
    which a read-only connection cannot remove. Such a file's main file is the
    whole database, so it is checked as it is on disk (immutable=1: nothing
    created, no lock). Anything but another application's tables is left for
    the ordinary open to report (and it checks the tables again)."""
    if _in_memory(path) or os.path.exists(path + "-wal"):
        return
    try:
        with open(path, "rb") as file:
            header = file.read(20)
    except OSError:
        return
    # Bytes 18 and 19 of the header are 2 in WAL mode.
    if len(header) < 20 or header[18] != 2:
        return
    uri = Path(path).absolute().as_uri() + "?mode=ro&immutable=1"
    try:
        probe = _connect(path, uri=uri)
    except sqlite3.Error:
        return
    try:
        storage.check_tables(probe)
    except storage.ForeignSchemaError:
        raise
    except sqlite3.Error:
        return
    finally:
        probe.close()


def _migrate_if_behind(conn: sqlite3.Connection) -> None:
    """storage.migrate, skipped when the file is already current: reading
    user_version needs no lock, so opening a current file (and setup()) never
    waits on another writer. (Versions only go up, so a current file stays so.)"""
    if storage.user_version(conn) != storage.SCHEMA_VERSION:
        storage.migrate(conn)


def _set_up_callers_connection(conn: sqlite3.Connection) -> storage.Queries:
    """What SqliteSaver.setup does to its connection (WAL, tables, task_path),
    plus our migrations, without waiting on other writers when nothing is
    needed. A read-only connection (mode=ro, query_only, an unwritable file) is
    read as it is, with statements fitting its columns. Another application's
    tables are refused before anything changes."""
    storage.check_tables(conn)
    try:
        storage.enable_wal(conn)
        _migrate_if_behind(conn)
    except sqlite3.OperationalError as exc:
        if "readonly database" not in str(exc):
            raise
    return _queries_for(conn)


def _write_in_open_transaction(
    conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]
) -> T:
    """Run `work` inside a transaction the caller left open on their connection
    (sqlite3 opens one implicitly before their INSERT/UPDATE/DELETE): commit
    it with ours, as SqliteSaver does; on failure undo only our part and leave
    theirs open."""
    conn.execute(f"SAVEPOINT {_SAVEPOINT}")
    try:
        result = work(conn)
    except BaseException:
        conn.execute(f"ROLLBACK TO {_SAVEPOINT}")
        conn.execute(f"RELEASE {_SAVEPOINT}")
        raise
    conn.execute(f"RELEASE {_SAVEPOINT}")
    conn.execute("COMMIT")
    return result


def _queries_for(conn: sqlite3.Connection) -> storage.Queries:
    """Statements fitting a file we may not migrate (opened read-only), whose
    tables must still be SqliteSaver's."""
    storage.check_tables(conn)
    return storage.Queries(
        has_task_path="task_path" in storage.table_columns(conn, "writes"),
        has_created_at="created_at" in storage.table_columns(conn, "checkpoints"),
    )


def _decode_row(row: _CheckpointRow, writes: list[_WriteRow], codec: Codec) -> Row:
    thread_id, checkpoint_ns, checkpoint_id, parent_id, type_, blob, metadata = row
    return (
        thread_id,
        checkpoint_ns,
        checkpoint_id,
        parent_id,
        codec.loads_typed((type_, blob)),
        codec.loads_metadata(metadata) if metadata is not None else {},
        _decode_writes(writes, codec),
    )


def _decode_writes(writes: list[_WriteRow], codec: Codec) -> list[PendingWrite]:
    ordered = sorted(writes, key=lambda w: writes_sort_key(w[4], w[0], w[5]))
    return [
        (task_id, channel, codec.loads_typed((type_, value)))
        for task_id, channel, type_, value, _path, _idx in ordered
    ]


def _batches(namespaces: list[tuple[str, str, int]], size: int) -> list[list[tuple[str, str, int]]]:
    """Consecutive namespaces grouped until each group holds `size` expired
    checkpoints or more (a namespace is never split: its delta ancestry is
    decided as a whole)."""
    batches: list[list[tuple[str, str, int]]] = []
    current: list[tuple[str, str, int]] = []
    held = 0
    for namespace in namespaces:
        current.append(namespace)
        held += namespace[2]
        if held >= size:
            batches.append(current)
            current = []
            held = 0
    if current:
        batches.append(current)
    return batches


def _delete_thread(conn: sqlite3.Connection, thread_id: str, *, compact_file: bool) -> None:
    """Delete a whole thread: its checkpoints, writes and (compact file) chunks."""
    conn.execute(storage.DELETE_THREAD_CHECKPOINTS, (thread_id,))
    conn.execute(storage.DELETE_THREAD_WRITES, (thread_id,))
    if compact_file:
        compact.delete_thread_chunks(conn, thread_id)


def _delete_checkpoints(conn: sqlite3.Connection, keys: list[Key], *, compact_file: bool) -> None:
    """Delete these checkpoints and their writes; in a compact file, then
    sweep the chunks of their threads, in the same transaction."""
    conn.executemany(storage.DELETE_CHECKPOINT_WRITES, keys)
    conn.executemany(storage.DELETE_CHECKPOINT, keys)
    if compact_file:
        compact.sweep(conn, sorted({key[0] for key in keys}))
    # A Ctrl-C during the deletes (or the walk before them) undoes them all,
    # rather than surfacing after the commit.
    _interrupt.check()


# -- delta ancestry -------------------------------------------------------------


def deletable(conn: sqlite3.Connection, candidates: list[Key], codec: Codec) -> list[Key]:
    """The candidates a deleting operation may remove: all of them except the
    delta ancestry of the checkpoints that survive.

    A checkpoint K whose metadata has a non-empty `counters_since_delta_snapshot`
    needs, for each channel C named there, every ancestor from K's parent up to
    and including the nearest one whose `channel_values` holds C (or the root),
    with their writes: what `delta_history(K)` reads. Spared ancestors survive
    too, so their own needs are followed in turn. Blobs are decoded only in
    namespaces where some checkpoint carries such counters.
    """
    by_namespace: dict[tuple[str, str], set[str]] = {}
    for thread_id, checkpoint_ns, checkpoint_id in candidates:
        by_namespace.setdefault((thread_id, checkpoint_ns), set()).add(checkpoint_id)
    result: list[Key] = []
    for (thread_id, checkpoint_ns), doomed in by_namespace.items():
        spared = _needed_ancestors(conn, thread_id, checkpoint_ns, doomed, codec)
        result.extend(
            (thread_id, checkpoint_ns, cid) for cid in sorted(doomed) if cid not in spared
        )
    return result


def _needed_ancestors(
    conn: sqlite3.Connection,
    thread_id: str,
    checkpoint_ns: str,
    doomed: set[str],
    codec: Codec,
) -> set[str]:
    """Ids in one namespace that the survivors' delta reconstruction needs."""
    parents: dict[str, str | None] = {}
    delta_channels: dict[str, list[str]] = {}
    for cid, parent_id, counters in conn.execute(
        storage.SELECT_NAMESPACE_LINEAGE, (thread_id, checkpoint_ns)
    ):
        parents[cid] = parent_id
        if counters is not None:
            named = json.loads(counters)
            if isinstance(named, dict) and named:
                delta_channels[cid] = list(named)
    if not delta_channels:
        return set()

    stored_channels: dict[str, set[str]] = {}

    def channels_stored_in(cid: str) -> set[str]:
        if cid not in stored_channels:
            type_, blob = conn.execute(
                storage.SELECT_CHECKPOINT_BLOB, (thread_id, checkpoint_ns, cid)
            ).fetchone()
            type_, blob = compact.expand(conn, thread_id, type_, blob)
            values = codec.loads_typed((type_, blob)).get("channel_values") or {}
            stored_channels[cid] = set(values)
            _interrupt.check()  # one decode per step of the walk: Ctrl-C stops it
        return stored_channels[cid]

    # One walk per channel, memoised: the ancestors a walk seeking C covers
    # from an ancestor A on are the same whichever checkpoint started it, so
    # once A has been walked for C (covered[C]) a later walk stops there. Each
    # (checkpoint, channel) is walked at most once: linear in the chain, where
    # walking every survivor to its seed was quadratic.
    needed: set[str] = set()
    covered: dict[str, set[str]] = {}
    to_walk = [cid for cid in parents if cid not in doomed and cid in delta_channels]
    queued = set(to_walk)
    while to_walk:
        start = to_walk.pop()
        for channel in delta_channels[start]:
            walked = covered.setdefault(channel, set())
            ancestor = parents[start]
            # `start` ends the walk too: a parent loop made by re-put ids.
            while (
                ancestor is not None
                and ancestor != start
                and ancestor in parents
                and ancestor not in walked
            ):
                walked.add(ancestor)
                needed.add(ancestor)
                if ancestor in delta_channels and ancestor not in queued:
                    queued.add(ancestor)
                    to_walk.append(ancestor)
                if channel in channels_stored_in(ancestor):
                    break
                ancestor = parents[ancestor]
    return needed
