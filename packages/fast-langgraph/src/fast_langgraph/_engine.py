"""The seam between the public saver and an implementation.

`RustSQLiteCheckpointer` (in `saver.py`) owns everything LangGraph sees: configs,
metadata merging, versions, async wrappers, the TTL sweeper. It delegates storage
and (de)serialization to one `Engine`, supplied by the implementation the selector
picked: `fast_langgraph_pure.Engine` or `fast_langgraph_rs.Engine`.

Both engines implement exactly this protocol and must behave identically; the
test suite runs once per engine. Every method is synchronous and thread-safe:
the saver calls them from many threads at once (LangGraph's background executor,
async methods running in the default executor, the TTL sweeper).

Conventions shared by both engines:
- A `Row` is `(thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id,
  checkpoint, metadata, pending_writes)` with the checkpoint and metadata decoded
  and `pending_writes` a list of `(task_id, channel, value)` sorted by
  `(task_path, task_id, idx)`.
- `serde` is the saver's current serializer, passed on every call because
  `with_allowlist` clones the saver with a different one. Checkpoint and write
  values are encoded as `serde.dumps_typed` would (the Rust engine may encode
  natively only when the bytes decode identically); metadata is UTF-8 JSON
  exactly as `json.dumps(metadata, ensure_ascii=False)` writes it.
- Database failures raise `sqlite3.Error` subclasses. A failed call leaves the
  database as it was (every write is one transaction).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypedDict

from langgraph.checkpoint.base import DeltaChannelHistory, PendingWrite
from langgraph.checkpoint.serde.base import SerializerProtocol

Row = tuple[str, str, str, "str | None", dict[str, Any], dict[str, Any], list[PendingWrite]]

# A metadata filter after validation: (JSON path such as "$.source" or "$.a.b",
# value to compare with json_extract's result; None means "missing or null").
# Paths are bound as SQL parameters, never spliced into SQL text.
MetadataFilter = Sequence[tuple[str, Any]]

# Position of the last row of a page, for keyset pagination:
# (checkpoint_id, thread_id, checkpoint_ns). The next page holds rows ordered
# strictly after it in (checkpoint_id DESC, thread_id DESC, checkpoint_ns DESC).
PageCursor = tuple[str, str, str]


class CleanupCounts(TypedDict):
    checkpoints: int
    writes: int


class ThreadStats(TypedDict):
    thread_id: str
    checkpoints: int
    writes: int
    bytes: int  # sum of blob and metadata lengths, not including SQLite overhead
    latest_checkpoint_id: str | None
    latest_created_at: str | None


class Stats(TypedDict):
    threads: int
    checkpoints: int
    writes: int
    bytes_on_disk: int  # page_count * page_size, plus the WAL file if any
    data_bytes: int  # sum of ThreadStats.bytes over all threads
    largest_threads: list[ThreadStats]  # largest `bytes` first; `top` of them (all if top < 0)


class Engine(Protocol):
    """What an implementation provides. Constructed as
    `Engine(path, durability=..., read_only=...)` where `path` is a file path or
    ":memory:"; `durability` is "normal" (WAL, synchronous=NORMAL) or "full"
    (WAL, synchronous=FULL). Opening a writable file creates or upgrades the
    schema (see the storage module of each engine); `read_only=True` never writes
    to the file and fails with sqlite3.OperationalError when a write is attempted.
    """

    @property
    def path(self) -> str: ...

    def close(self) -> None:
        """Release the file. Idempotent. Later calls raise sqlite3.ProgrammingError."""

    # -- the checkpoint contract --------------------------------------------

    def get(
        self,
        thread_id: str,
        checkpoint_ns: str,
        checkpoint_id: str | None,
        serde: SerializerProtocol,
    ) -> Row | None:
        """The checkpoint with that id, or the latest (greatest id) when None."""

    def list_page(
        self,
        thread_id: str | None,
        checkpoint_ns: str | None,
        checkpoint_id: str | None,
        filters: MetadataFilter,
        before_id: str | None,
        after: PageCursor | None,
        limit: int,
        serde: SerializerProtocol,
    ) -> list[Row]:
        """At most `limit` rows newest first, pending writes fetched in one query
        for the whole page. None for thread_id/checkpoint_ns means "any";
        before_id keeps checkpoint_id < before_id. Rows whose metadata is not
        valid JSON (e.g. NaN written by json.dumps) simply never match a filter."""

    def put(
        self,
        thread_id: str,
        checkpoint_ns: str,
        checkpoint_id: str,
        parent_checkpoint_id: str | None,
        checkpoint: Mapping[str, Any],
        metadata: Mapping[str, Any],
        serde: SerializerProtocol,
    ) -> None:
        """INSERT OR REPLACE the row, created_at set to now (UTC)."""

    def put_writes(
        self,
        thread_id: str,
        checkpoint_ns: str,
        checkpoint_id: str,
        task_id: str,
        task_path: str,
        writes: Sequence[tuple[int, str, Any]],
        replace: bool,
        serde: SerializerProtocol,
    ) -> None:
        """Store (idx, channel, value) rows in one transaction; INSERT OR REPLACE
        when `replace`, else INSERT OR IGNORE (first writer wins)."""

    def delete_thread(self, thread_id: str) -> None: ...

    def delete_for_runs(self, run_ids: Sequence[str], serde: SerializerProtocol) -> None:
        """Delete checkpoints whose metadata run_id is in run_ids, and their
        writes, except ancestors that a surviving checkpoint's DeltaChannel
        reconstruction still needs (see `delta ancestry` in the storage module)."""

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy every checkpoint and write (all namespaces, parents intact).
        Rows already on the target with the same key are replaced."""

    def prune(
        self, thread_ids: Sequence[str], keep_latest: bool, serde: SerializerProtocol
    ) -> None:
        """keep_latest: keep the newest checkpoint of each namespace, its writes,
        and the delta ancestry it needs; otherwise delete the threads."""

    def delta_history(
        self,
        thread_id: str,
        checkpoint_ns: str,
        checkpoint_id: str | None,
        channels: Sequence[str],
        serde: SerializerProtocol,
    ) -> dict[str, DeltaChannelHistory]:
        """Same result as BaseCheckpointSaver.get_delta_channel_history: walk
        the parent chain from the target's parent, collect each channel's writes
        (oldest first, writes_sort_key order within a checkpoint) until an
        ancestor whose channel_values holds the channel (the seed)."""

    # -- operations ---------------------------------------------------------

    def cleanup(
        self,
        created_before: str,
        keep_latest: bool,
        dry_run: bool,
        serde: SerializerProtocol,
    ) -> CleanupCounts:
        """Delete checkpoints with created_at < created_before (text in SQLite's
        'YYYY-MM-DD HH:MM:SS' UTC form) and their writes. keep_latest spares the
        newest checkpoint of every (thread, namespace); delta ancestry of any
        surviving checkpoint is always spared. dry_run counts without deleting."""

    def stats(self, top: int) -> Stats:
        """Counts and sizes from indexes and blob lengths, never decoding blobs.
        `top` < 0 lists every thread."""

    def db_size(self) -> int:
        """Bytes the database occupies on disk (main file plus WAL)."""

    def vacuum(self) -> None: ...

    def backup(self, target_path: str) -> None:
        """Copy the live database to target_path with SQLite's online backup API."""
