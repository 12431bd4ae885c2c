"""Move checkpoints between a SQLite file and PostgreSQL.

    from fast_langgraph.migrate import migrate

    report = migrate("checkpoints.db", "postgresql://app@db.internal/app")
    print(report.summary())

SQLite to PostgreSQL fills langgraph's `PostgresSaver` schema (created by its
own `setup()`), so an unmodified `PostgresSaver` serves the result; PostgreSQL
to SQLite writes a file that `SqliteSaver` and `RustSQLiteCheckpointer` read.
Which side is the `postgresql://` URL decides the direction. Every thread and
namespace is copied: each checkpoint with its parent link and metadata, every
pending write with its task path, `DeltaChannel` snapshots and history.

PostgresSaver keeps a checkpoint's plain values (None, bool, int, float, str)
inside the checkpoint's JSONB and every other channel value in
`checkpoint_blobs`, once per (channel, version); a `DeltaChannel` snapshot is a
blob with `true` left in its place. Values in LangGraph's msgpack format move as
the bytes they are (split out of, or spliced into, the checkpoint without
rebuilding any object), so no class of the application has to be importable
and nothing can be lost in a decode; other formats (pickle, an
`EncryptedSerializer`'s) go through the serializer.

Each batch is one transaction and rows the target already has are left alone,
so a rerun after Ctrl-C, `kill -9` or a crash finishes the job and duplicates
nothing. A thread the target already holds is copied only when its rows there
are a subset of the source's (an earlier, interrupted run); otherwise nothing
is written and `MigrationError` says which thread differs.

psycopg and langgraph-checkpoint-postgres come with the `postgres` extra:
`pip install "fast-langgraph[postgres]"`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import queue
import random
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import ormsgpack
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import CheckpointTuple
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.serde.jsonplus import EXT_DELTA_SNAPSHOT
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer as _LanggraphJsonPlus
from langgraph.checkpoint.serde.types import TASKS, _DeltaSnapshot

from fast_langgraph.saver import RustSQLiteCheckpointer
from fast_langgraph.serde import JsonPlusSerializer
from fast_langgraph_pure import compact, storage
from fast_langgraph_pure.storage import created_at_from_checkpoint_id

try:
    import psycopg
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg.conninfo import conninfo_to_dict
    from psycopg.rows import dict_row
    from psycopg.types.json import Jsonb
except ImportError as _missing:  # the [postgres] extra is not installed
    raise ImportError(
        "fast_langgraph.migrate needs psycopg and langgraph-checkpoint-postgres: "
        f'pip install "fast-langgraph[postgres]" ({_missing})'
    ) from _missing

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_SAMPLE",
    "ERROR_KINDS",
    "MigrationError",
    "MigrationInterrupted",
    "MigrationReport",
    "ThreadReport",
    "migrate",
]

# MigrationError.kind: what each means.
ERROR_KINDS: Final = {
    "bad_argument": "SRC and DEST are not one SQLite file and one postgresql:// URL",
    "not_found": "the SQLite source does not exist",
    "not_a_database": "the SQLite file is not a SQLite database",
    "not_a_checkpoint_database": "a database without checkpoint tables (or not PostgresSaver's)",
    "cannot_connect": "PostgreSQL cannot be reached, or refuses the user or database",
    "cannot_write": "the SQLite target cannot be created where it is",
    "unknown_thread": "a thread asked for is not in the source",
    "target_differs": "the target holds some of the threads with rows the source has not",
    "cannot_convert": "a checkpoint the serializer cannot read, or PostgreSQL cannot store",
    "database": "any other database error",
}

DEFAULT_BATCH_SIZE: Final = 500  # checkpoints per transaction
DEFAULT_SAMPLE: Final = 20  # checkpoints read back through both savers
# A batch is also committed once its rows reach this many bytes, so a file of
# huge states never holds gigabytes in memory.
BATCH_BYTES: Final = 16 * 1024 * 1024
# Source rows read per query: a page, within one thread.
PAGE_ROWS: Final = 64
# Small threads of a PostgreSQL source are read together, up to this many rows
# (checkpoints and writes); a longer thread is read alone, page by page.
GROUP_ROWS: Final = 256
# Threads per key lookup (`= ANY(%s)`, `json_each(?)`).
THREAD_CHUNK: Final = 500
# Connections writing batches to PostgreSQL at once (a SQLite target has one).
POSTGRES_WRITERS: Final = 2
CONNECT_TIMEOUT_SECONDS: Final = 10
POSTGRES_SCHEMES: Final = ("postgresql://", "postgres://")
# Blob types whose bytes are msgpack, or no encoding at all: moved as bytes.
_RAW_TYPES: Final = frozenset({"msgpack", "bytes", "bytearray", "null"})

# A channel version as PostgresSaver.get_next_version(None) makes one.
_FIRST_VERSION: Final = f"{1:032}.{0.0:016}"

Direction = Literal["sqlite-to-postgres", "postgres-to-sqlite"]
CheckpointKey = tuple[str, str]  # (checkpoint_ns, checkpoint_id)
WriteKey = tuple[str, str, str, int]  # (checkpoint_ns, checkpoint_id, task_id, idx)
BlobKey = tuple[str, str, str]  # (checkpoint_ns, channel, version)


class MigrationError(Exception):
    """A migration that cannot run, explained in one line (which file, URL or
    thread, and what to do). Nothing was written unless the message says so.
    `kind` names the failure for machines (the command line's --json), one of
    ERROR_KINDS."""

    def __init__(self, message: str, kind: str = "database") -> None:
        super().__init__(message)
        self.kind = kind


class MigrationInterrupted(KeyboardInterrupt):
    """Ctrl-C (or a `progress` callback raising KeyboardInterrupt) stopped the
    migration. From the callback, the batches being written are committed first;
    a KeyboardInterrupt anywhere else rolls them back. Either way every batch
    counted in `report` is in the target whole, and running the migration again
    finishes it."""

    def __init__(self, report: MigrationReport) -> None:
        super().__init__("migration interrupted")
        self.report = report


# -- the report ---------------------------------------------------------------------


@dataclass
class ThreadReport:
    """One thread: rows in the source, copied by this run, and in the target
    afterwards (None until verification counted them)."""

    thread_id: str
    checkpoints: int
    writes: int
    copied_checkpoints: int = 0
    copied_writes: int = 0
    target_checkpoints: int | None = None
    target_writes: int | None = None

    @property
    def matches(self) -> bool | None:
        if self.target_checkpoints is None or self.target_writes is None:
            return None
        return (self.target_checkpoints, self.target_writes) == (self.checkpoints, self.writes)


@dataclass
class MigrationReport:
    """What a migration found, did and verified. `ok` is the verdict;
    `summary()` one line; `to_dict()` the JSON the command line prints."""

    source: str
    target: str
    direction: Direction
    dry_run: bool
    threads: int = 0
    checkpoints: int = 0  # in the source, for the threads copied
    writes: int = 0
    already_there_checkpoints: int = 0  # found in the target before this run
    already_there_writes: int = 0
    copied_checkpoints: int = 0
    copied_writes: int = 0
    copied_blobs: int = 0  # rows of PostgresSaver's checkpoint_blobs
    batches: int = 0
    done_checkpoints: int = 0  # checkpoints dealt with so far (copied or already there)
    seconds: float = 0.0
    interrupted: bool = False
    verified: bool | None = None  # None: verification did not run
    sampled: int = 0
    mismatches: list[str] = field(default_factory=list)
    other_target_threads: int = 0  # threads the target holds that were not copied
    warnings: list[str] = field(default_factory=list)
    per_thread: list[ThreadReport] = field(default_factory=list)

    @property
    def checkpoints_per_second(self) -> float:
        return self.copied_checkpoints / self.seconds if self.seconds > 0 else 0.0

    @property
    def ok(self) -> bool:
        return not self.interrupted and not self.mismatches and self.verified is not False

    def summary(self) -> str:
        threads = _count(self.threads, "thread")
        if self.dry_run:
            todo_c = self.checkpoints - self.already_there_checkpoints
            todo_w = self.writes - self.already_there_writes
            return (
                f"dry run: would copy {_count(todo_c, 'checkpoint')} and "
                f"{_count(todo_w, 'write')} of {threads} from {self.source} to {self.target} "
                f"({_count(self.already_there_checkpoints, 'checkpoint')} already there); "
                "nothing written"
            )
        line = (
            f"copied {_count(self.copied_checkpoints, 'checkpoint')} and "
            f"{_count(self.copied_writes, 'write')} of {threads} from {self.source} to "
            f"{self.target} in {self.seconds:.1f} s "
            f"({self.checkpoints_per_second:,.0f} checkpoints/s)"
        )
        if self.already_there_checkpoints or self.already_there_writes:
            line += (
                f"; {_count(self.already_there_checkpoints, 'checkpoint')} and "
                f"{_count(self.already_there_writes, 'write')} were already there"
            )
        if self.interrupted:
            return line + "; interrupted: run it again to finish"
        if self.verified is None:
            return line + "; not verified"
        if self.verified:
            return (
                line + f"; verified: counts of {threads} match, "
                f"{_count(self.sampled, 'sampled checkpoint')} read back identical"
            )
        return line + f"; VERIFICATION FAILED: {_count(len(self.mismatches), 'mismatch')}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "direction": self.direction,
            "dry_run": self.dry_run,
            "threads": self.threads,
            "checkpoints": self.checkpoints,
            "writes": self.writes,
            "already_there": {
                "checkpoints": self.already_there_checkpoints,
                "writes": self.already_there_writes,
            },
            "copied": {
                "checkpoints": self.copied_checkpoints,
                "writes": self.copied_writes,
                "blobs": self.copied_blobs,
            },
            "batches": self.batches,
            "seconds": round(self.seconds, 3),
            "checkpoints_per_second": round(self.checkpoints_per_second, 1),
            "interrupted": self.interrupted,
            "verification": {
                "ran": self.verified is not None,
                "ok": self.verified,
                "sampled_checkpoints": self.sampled,
                "mismatches": list(self.mismatches),
            },
            "other_target_threads": self.other_target_threads,
            "warnings": list(self.warnings),
            "ok": self.ok,
            "per_thread": [
                {
                    "thread_id": t.thread_id,
                    "checkpoints": t.checkpoints,
                    "writes": t.writes,
                    "copied_checkpoints": t.copied_checkpoints,
                    "copied_writes": t.copied_writes,
                    "target_checkpoints": t.target_checkpoints,
                    "target_writes": t.target_writes,
                }
                for t in self.per_thread
            ],
            "summary": self.summary(),
        }


def _count(number: int, noun: str) -> str:
    plural = noun + ("es" if noun.endswith("ch") else "s")
    return f"{number:,} {noun if number == 1 else plural}"


# -- naming endpoints ---------------------------------------------------------------


def is_postgres_url(text: str) -> bool:
    return text.strip().lower().startswith(POSTGRES_SCHEMES)


def redact_url(url: str) -> str:
    """The URL without its password (in the authority or as a parameter)."""
    url = re.sub(r"(://[^/@:]*):[^/@]*@", r"\1:***@", url)
    return re.sub(r"(?i)([?&]password=)[^&]*", r"\1***", url)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return "; ".join(lines[:2]) if lines else type(exc).__name__


def _connect_postgres(url: str, label: str, **kwargs: Any) -> psycopg.Connection[Any]:
    """A connection, with a timeout unless the URL sets one; failures as one line."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.Error as exc:
        raise MigrationError(
            f"{label}: not a valid PostgreSQL URL ({_first_line(exc)})", kind="bad_argument"
        ) from None
    if "connect_timeout" not in params:
        kwargs["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
    try:
        return psycopg.connect(url, **kwargs)
    except psycopg.OperationalError as exc:
        reason = _first_line(exc)
        hint = "check the host, port, user, password and database name in the URL"
        if "password" in reason or "authentication" in reason or "role" in reason:
            hint = "check the user name and password in the URL"
        elif "does not exist" in reason and "database" in reason:
            hint = "create the database first (createdb), or fix its name in the URL"
        raise MigrationError(
            f"cannot connect to {label}: {reason}; {hint}", kind="cannot_connect"
        ) from None


# -- msgpack moved as bytes ---------------------------------------------------------


# Extension values (LangChain messages, models, snapshots...) stay bytes: nothing
# is imported or rebuilt, and packing writes them back unchanged.
_RAW_OPTIONS: Final = ormsgpack.OPT_NON_STR_KEYS


def _raw_loads(data: bytes) -> Any:
    return ormsgpack.unpackb(data, ext_hook=ormsgpack.Ext, option=_RAW_OPTIONS)


def _raw_dumps(obj: Any) -> bytes:
    return ormsgpack.packb(obj, option=_RAW_OPTIONS)


def _is_snapshot(data: bytes) -> bool:
    """Whether msgpack `data` is one extension value of type 7, a `_DeltaSnapshot`."""
    head = data[0] if data else 0
    if 0xD4 <= head <= 0xD8:  # fixext 1-16: the type follows
        return data[1] == EXT_DELTA_SNAPSHOT
    offset = {0xC7: 2, 0xC8: 3, 0xC9: 5}.get(head)  # ext 8/16/32: after the length
    return offset is not None and len(data) > offset and data[offset] == EXT_DELTA_SNAPSHOT


def _moves_as_bytes(serde: SerializerProtocol | None) -> bool:
    """Whether values in this serializer's msgpack can move without decoding:
    LangGraph's JsonPlusSerializer and ours write exactly that format."""
    return serde is None or type(serde) in (_LanggraphJsonPlus, JsonPlusSerializer)


def _version_text(version: Any) -> str:
    # As PostgreSQL's jsonb_each_text prints a version from the checkpoint's JSONB.
    return version if isinstance(version, str) else json.dumps(version)


# Text that json.dumps may write and PostgreSQL's JSONB refuses.
_JSONB_REFUSES: Final = ("NaN", "Infinity", "\\u0000")
_JSONB_REFUSES_BYTES: Final = tuple(t.encode() for t in _JSONB_REFUSES)
# One encoder for every checkpoint (building one per call costs as much as encoding).
_JSON: Final = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _json_for_postgres(data: Any, label: str, what: object, part: str = "") -> str:
    """JSON text for a JSONB column; a value JSONB refuses is a MigrationError
    naming the file, the checkpoint and `part` ("" or "'s metadata")."""
    try:
        text = _JSON.encode(data)
    except (TypeError, ValueError) as exc:
        raise MigrationError(
            f"{label}: {what}{part} cannot be stored as PostgreSQL JSONB: {exc}",
            kind="cannot_convert",
        ) from None
    if "\\u0000" in text:
        raise MigrationError(
            f"{label}: {what}{part} contains a NUL character (\\u0000), which PostgreSQL "
            "JSONB cannot store",
            kind="cannot_convert",
        )
    return text


# -- what moves between the two sides -----------------------------------------------


class _Where:
    """A checkpoint's place, formatted only when a message needs it."""

    __slots__ = ("checkpoint_id", "ns", "thread_id")

    def __init__(self, thread_id: str, ns: str, checkpoint_id: str) -> None:
        self.thread_id, self.ns, self.checkpoint_id = thread_id, ns, checkpoint_id

    def __str__(self) -> str:
        where = f"checkpoint {self.checkpoint_id} of thread {self.thread_id!r}"
        return where + (f" (namespace {self.ns!r})" if self.ns else "")


@dataclass
class _Keys:
    """A thread's rows, by key only."""

    checkpoints: dict[CheckpointKey, str | None] = field(default_factory=dict)  # -> parent
    writes: set[WriteKey] = field(default_factory=set)


@dataclass
class _Plan:
    """What the target already holds of a thread (a subset of the source's)."""

    keys: _Keys
    blobs: set[BlobKey]
    complete: bool


@dataclass
class _Unit:
    """One source checkpoint (or none: leftover writes) as target rows."""

    thread_id: str
    key: CheckpointKey | None
    checkpoints: list[tuple[Any, ...]] = field(default_factory=list)
    blobs: list[tuple[Any, ...]] = field(default_factory=list)
    writes: list[tuple[Any, ...]] = field(default_factory=list)
    nbytes: int = 0
    already_there: bool = False  # the checkpoint was in the target before


@dataclass
class _Written:
    checkpoints: int = 0
    writes: int = 0
    blobs: int = 0


def _chunks(items: Sequence[str], size: int = THREAD_CHUNK) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


# A write row, source and target alike: (thread_id, checkpoint_ns, checkpoint_id,
# task_id, task_path, idx, channel, type, blob).
def _write_key(row: tuple[Any, ...]) -> WriteKey:
    return (row[1], row[2], row[3], row[5])


def _group_writes(
    rows: Iterable[tuple[Any, ...]],
) -> dict[tuple[str, str, str], list[tuple[Any, ...]]]:
    """Write rows by (thread_id, checkpoint_ns, checkpoint_id)."""
    grouped: dict[tuple[str, str, str], list[tuple[Any, ...]]] = {}
    for row in rows:
        grouped.setdefault((row[0], row[1], row[2]), []).append(row)
    return grouped


def _page_units(
    units: list[_Unit],
    writes: dict[tuple[str, str, str], list[tuple[Any, ...]]],
    plans: Mapping[str, _Plan],
) -> list[_Unit]:
    """Give each unit its checkpoint's writes, and the page's other writes of a
    thread (orphans, or new writes of a checkpoint already copied) to that
    thread's last unit, so every write commits with or after its checkpoint.
    Writes the target has already are left out."""
    none: set[WriteKey] = set()
    last_of: dict[str, _Unit] = {}
    for unit in units:
        last_of[unit.thread_id] = unit
        if unit.key is None:
            continue
        plan = plans.get(unit.thread_id)
        seen = plan.keys.writes if plan is not None else none
        for row in writes.pop((unit.thread_id, *unit.key), ()):
            if _write_key(row) not in seen:
                unit.writes.append(row)
                unit.nbytes += len(row[8])
    for (thread_id, _, _), rows in writes.items():
        plan = plans.get(thread_id)
        seen = plan.keys.writes if plan is not None else none
        keep = [row for row in rows if _write_key(row) not in seen]
        if keep:
            if thread_id not in last_of:
                last_of[thread_id] = _Unit(thread_id, None)
                units.append(last_of[thread_id])
            last_of[thread_id].writes.extend(keep)
    return units


# -- SQLite -------------------------------------------------------------------------


class _SqliteFile:
    """A checkpoint file opened read-only; shared by the source and the target."""

    is_target = False

    def __init__(self, path: str, label: str) -> None:
        self.path = path
        self.label = label
        self.conn: sqlite3.Connection | None = None
        self.has_writes = True
        self.task_path = "task_path"

    def _open_read_only(self) -> sqlite3.Connection:
        if os.path.isdir(self.path):
            raise MigrationError(
                f"{self.label}: is a directory, not a SQLite file", kind="not_found"
            )
        uri = Path(self.path).absolute().as_uri() + "?mode=ro"
        try:
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 5000")
            tables = {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master")}
        except sqlite3.DatabaseError as exc:
            if "not a database" in str(exc):
                raise MigrationError(
                    f"{self.label}: not a SQLite database", kind="not_a_database"
                ) from None
            raise MigrationError(f"{self.label}: cannot open it ({exc})", kind="database") from None
        if "checkpoints" not in tables:
            conn.close()
            if self.is_target:
                raise MigrationError(
                    f"{self.label}: a SQLite file that is not a checkpoint database (it has "
                    "no checkpoints table); pass a new file name",
                    kind="not_a_checkpoint_database",
                )
            raise MigrationError(
                f"{self.label}: not a checkpoint database (it has no checkpoints table)",
                kind="not_a_checkpoint_database",
            )
        self.has_writes = "writes" in tables
        for table in ("checkpoints", "writes") if self.has_writes else ("checkpoints",):
            columns = {str(r[1]) for r in conn.execute(f"PRAGMA table_info({table})")}
            missing = storage.KNOWN_COLUMNS[table][0] - columns  # SqliteSaver's own
            if missing:
                conn.close()
                raise MigrationError(
                    f"{self.label}: not a checkpoint database (its {table} table has no "
                    f"column {', '.join(sorted(missing))}: another application's?)",
                    kind="not_a_checkpoint_database",
                )
            if table == "writes":
                self.task_path = "task_path" if "task_path" in columns else "''"
        return conn

    def _db(self) -> sqlite3.Connection:
        if self.conn is None:
            raise RuntimeError("not open")
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            self.conn.close()
            self.conn = None

    def thread_counts(self, thread_ids: list[str] | None) -> dict[str, tuple[int, int]]:
        writes = (
            "UNION ALL SELECT thread_id, 0, COUNT(*) FROM writes GROUP BY thread_id"
            if self.has_writes
            else ""
        )
        sql = (
            "SELECT thread_id, SUM(c), SUM(w) FROM (SELECT thread_id, COUNT(*) AS c, 0 AS w "
            f"FROM checkpoints GROUP BY thread_id {writes}) GROUP BY thread_id"
        )
        counts = {str(t): (int(c), int(w)) for t, c, w in self._db().execute(sql)}
        if thread_ids is None:
            return counts
        return {t: counts[t] for t in thread_ids if t in counts}

    def existing_threads(self, thread_ids: list[str]) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(thread_ids):
            ids = json.dumps(chunk)
            for table in ("checkpoints", "writes") if self.has_writes else ("checkpoints",):
                sql = (
                    f"SELECT DISTINCT thread_id FROM {table} "
                    "WHERE thread_id IN (SELECT value FROM json_each(?))"
                )
                found.update(str(r[0]) for r in self._db().execute(sql, (ids,)))
        return found

    def keys(self, thread_ids: list[str]) -> dict[str, _Keys]:
        keys: dict[str, _Keys] = {t: _Keys() for t in thread_ids}
        ids = json.dumps(thread_ids)
        db = self._db()
        for tid, ns, cid, parent in db.execute(
            "SELECT thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id "
            "FROM checkpoints WHERE thread_id IN (SELECT value FROM json_each(?))",
            (ids,),
        ):
            keys[tid].checkpoints[(ns, cid)] = parent
        if self.has_writes:
            for tid, ns, cid, task_id, idx in db.execute(
                "SELECT thread_id, checkpoint_ns, checkpoint_id, task_id, idx "
                "FROM writes WHERE thread_id IN (SELECT value FROM json_each(?))",
                (ids,),
            ):
                keys[tid].writes.add((ns, cid, task_id, int(idx)))
        return keys


_WAL_FILES: Final = ("-wal", "-shm")


@contextlib.contextmanager
def _leave_no_wal_files(path: str) -> Iterator[None]:
    """Reading a WAL database read-only creates its -wal and -shm files, which a
    read-only connection cannot remove: remove them afterwards if the file had
    none, so that a migration leaves its source exactly as it found it."""
    had = any(os.path.lexists(path + suffix) for suffix in _WAL_FILES)
    try:
        yield
    finally:
        if not had:
            _remove_wal_files(path)


def _remove_wal_files(path: str) -> None:
    # The last connection to close a WAL database checkpoints it and deletes
    # both files; with an empty WAL that writes nothing to the database. Left
    # alone when the WAL holds commits (someone wrote meanwhile) or a rollback
    # journal is there; a file we cannot write keeps them (best effort).
    if os.path.lexists(path + "-journal") or not os.path.lexists(path + "-shm"):
        return
    with contextlib.suppress(FileNotFoundError):
        if os.path.getsize(path + "-wal") > 0:
            return
    uri = Path(path).absolute().as_uri() + "?mode=rw"  # never creates the file
    with contextlib.suppress(sqlite3.Error):
        conn = sqlite3.connect(uri, uri=True)
        try:
            conn.execute("PRAGMA query_only = 1")
            conn.execute("PRAGMA user_version").fetchone()  # opens the WAL
        finally:
            conn.close()


class _SqliteSource(_SqliteFile):
    """Reads a SQLite file (ours or SqliteSaver's) without ever writing to it and
    turns its rows into PostgresSaver's."""

    def __init__(self, path: str, serde: SerializerProtocol | None, fallback: SerializerProtocol):
        super().__init__(path, path)
        self.chunk_store: compact.ChunkStore | None = None
        self.raw = _moves_as_bytes(serde)
        self.serde = serde if serde is not None else fallback
        self.warnings: list[str] = []

    def open(self) -> None:
        if not os.path.exists(self.path):
            raise MigrationError(f"{self.label}: no such file", kind="not_found")
        self.conn = self._open_read_only()
        # One read transaction: every query of the run sees one snapshot.
        self.conn.execute("BEGIN")
        # A compact file's checkpoints are spliced back from their chunks
        # (fast_langgraph_pure.compact), each chunk read once per run.
        self.chunk_store = compact.ChunkStore() if storage.is_compact(self.conn) else None

    def units(
        self, thread_ids: Sequence[str], plans: Mapping[str, _Plan], counts: Any = None
    ) -> Iterator[_Unit]:
        """The target rows of these threads, checkpoint by checkpoint, in key order;
        a page of a thread at a time (queries are cheap in-process)."""
        for thread_id in thread_ids:
            yield from self._thread_units(thread_id, plans)

    def _thread_units(self, thread_id: str, plans: Mapping[str, _Plan]) -> Iterator[_Unit]:
        db = self._db()
        plan = plans.get(thread_id)
        known: set[BlobKey] = set(plan.blobs) if plan is not None else set()
        present = plan.keys.checkpoints if plan is not None else {}
        after: CheckpointKey | None = None
        while True:
            bound = "AND (checkpoint_ns, checkpoint_id) > (?, ?) " if after else ""
            rows = db.execute(
                "SELECT checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, "
                f"metadata FROM checkpoints WHERE thread_id = ? {bound}"
                "ORDER BY checkpoint_ns, checkpoint_id LIMIT ?",
                (thread_id, *(after or ()), PAGE_ROWS),
            ).fetchall()
            if self.chunk_store is not None:
                rows = [
                    row[1:]
                    for row in self.chunk_store.expand_rows(
                        db, [(thread_id, *row) for row in rows], 0, 4
                    )
                ]
            last: CheckpointKey | None = (
                (rows[-1][0], rows[-1][1]) if len(rows) == PAGE_ROWS else None
            )
            writes = _group_writes(self._writes(thread_id, after, last))
            units: list[_Unit] = []
            for ns, cid, parent, type_, blob, metadata in rows:
                if (ns, cid) in present:
                    units.append(_Unit(thread_id, (ns, cid), already_there=True))
                    continue
                units.append(
                    self._convert(thread_id, ns, cid, parent, type_, blob, metadata, known)
                )
            yield from _page_units(units, writes, plans)
            if last is None:
                return
            after = last

    def _writes(
        self, thread_id: str, after: CheckpointKey | None, last: CheckpointKey | None
    ) -> list[tuple[Any, ...]]:
        if not self.has_writes:
            return []
        where = "thread_id = ?"
        params: list[Any] = [thread_id]
        if after is not None:
            where += " AND (checkpoint_ns, checkpoint_id) > (?, ?)"
            params += after
        if last is not None:
            where += " AND (checkpoint_ns, checkpoint_id) <= (?, ?)"
            params += last
        # PostgreSQL's blob column is NOT NULL: a NULL value is an empty one.
        return (
            self._db()
            .execute(
                f"SELECT thread_id, checkpoint_ns, checkpoint_id, task_id, {self.task_path}, "
                f"CAST(idx AS INTEGER), channel, type, COALESCE(value, x'') FROM writes "
                f"WHERE {where}",
                params,
            )
            .fetchall()
        )

    def _decode(self, type_: Any, blob: Any, what: object) -> dict[str, Any]:
        if blob is None:
            raise MigrationError(f"{self.label}: {what} has no data", kind="cannot_convert")
        try:
            if self.raw and type_ == "msgpack":
                checkpoint = _raw_loads(bytes(blob))
            else:
                checkpoint = self.serde.loads_typed((str(type_), bytes(blob)))
        except Exception as exc:
            raise MigrationError(
                f"{self.label}: cannot decode {what} ({type(exc).__name__}: {_first_line(exc)}); "
                "pass the serializer the application uses (serde=, or --pickle-fallback "
                "for pickled checkpoints)",
                kind="cannot_convert",
            ) from None
        if not isinstance(checkpoint, dict):
            raise MigrationError(f"{self.label}: {what} is not a checkpoint", kind="cannot_convert")
        return checkpoint

    def _encode(self, value: Any, raw: bool) -> tuple[str, bytes]:
        if raw:
            if isinstance(value, (bytes, bytearray)):
                return "bytes", bytes(value)
            return "msgpack", _raw_dumps(value)
        return self.serde.dumps_typed(value)

    def _convert(
        self,
        thread_id: str,
        ns: str,
        cid: str,
        parent: str | None,
        type_: Any,
        blob: Any,
        metadata: Any,
        known: set[BlobKey],
    ) -> _Unit:
        what = _Where(thread_id, ns, cid)
        checkpoint = self._decode(type_, blob, what)
        raw = self.raw and type_ == "msgpack"
        values: Mapping[str, Any] = checkpoint.get("channel_values") or {}
        versions: dict[str, Any] = checkpoint.get("channel_versions") or {}
        if "pending_sends" in checkpoint:
            # Before checkpoint format 4 the sends lived here; PostgresSaver reads
            # them as the __pregel_tasks channel.
            sends = checkpoint.pop("pending_sends")
            if sends and TASKS not in values:
                values = {**values, TASKS: sends}
                if TASKS not in versions:
                    versions = {**versions, TASKS: max(versions.values(), default=_FIRST_VERSION)}
                    checkpoint["channel_versions"] = versions
        inline: dict[str, Any] = {}
        blobs: list[tuple[Any, ...]] = []
        nbytes = 0
        for name, value in values.items():
            kind = type(value)
            # What PostgresSaver keeps in the JSONB, unless JSONB refuses it
            # (NUL characters, NaN, infinities): then a blob.
            if value is None or kind is int or kind is bool:
                inline[name] = value
                continue
            if kind is str:
                if "\x00" not in value:
                    inline[name] = value
                    continue
            elif kind is float and math.isfinite(value):
                inline[name] = value
                continue
            version = versions.get(name)
            if version is None:
                self.warnings.append(
                    f"{what}: channel {name!r} has a value but no version, "
                    "which PostgresSaver cannot store; left out"
                )
                continue
            key = (ns, name, version if type(version) is str else _version_text(version))
            if raw:
                # Only an extension value can be a snapshot; it is cheap to pack.
                data = _raw_dumps(value) if kind is ormsgpack.Ext else None
                if data is not None and _is_snapshot(data):
                    inline[name] = True  # PostgresSaver's marker; the blob holds the value
                if key in known:
                    continue  # one blob per (channel, version)
                if kind is bytes:
                    enc, data = "bytes", value
                else:
                    enc, data = "msgpack", data if data is not None else _raw_dumps(value)
            else:
                if isinstance(value, _DeltaSnapshot):
                    inline[name] = True
                if key in known:
                    continue
                enc, data = self.serde.dumps_typed(value)
            known.add(key)
            blobs.append((thread_id, ns, name, key[2], enc, data))
            nbytes += len(data)
        stored = {**checkpoint, "channel_values": inline}
        checkpoint_json = _json_for_postgres(stored, self.label, what)
        metadata_json = self._metadata(metadata, what)
        nbytes += len(checkpoint_json) + len(metadata_json)
        row = (thread_id, ns, cid, parent, checkpoint_json, metadata_json)
        return _Unit(thread_id, (ns, cid), [row], blobs, nbytes=nbytes)

    def _metadata(self, metadata: Any, what: object) -> str | bytes:
        """The metadata as JSON text for a JSONB column. What json.dumps wrote
        goes as it is (bytes or str, as stored), unless it may hold what JSONB
        refuses (NaN, infinities, NUL characters): then it is parsed, to say which."""
        if metadata is None:
            return "{}"
        stored: str | bytes = metadata if isinstance(metadata, bytes) else str(metadata)
        if isinstance(stored, bytes):
            plain = stored.startswith(b"{") and not any(t in stored for t in _JSONB_REFUSES_BYTES)
        else:
            plain = stored.startswith("{") and not any(t in stored for t in _JSONB_REFUSES)
        if plain:
            return stored
        try:
            data = json.loads(metadata)
        except (ValueError, TypeError) as exc:
            raise MigrationError(
                f"{self.label}: {what} has metadata that is not JSON ({exc})", kind="cannot_convert"
            ) from None
        return _json_for_postgres(data, self.label, what, "'s metadata")


class _SqliteTarget(_SqliteFile):
    """Writes a SQLite file SqliteSaver reads: our schema, INSERT OR IGNORE."""

    is_target = True

    def __init__(self, path: str) -> None:
        super().__init__(path, path)
        self.writer: sqlite3.Connection | None = None

    def open(self, dry_run: bool) -> None:
        if os.path.isdir(self.path):
            raise MigrationError(
                f"{self.label}: is a directory; pass a file path inside it", kind="cannot_write"
            )
        folder = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(folder):
            raise MigrationError(
                f"{self.label}: the folder {folder} does not exist; create it first",
                kind="cannot_write",
            )
        if os.path.exists(self.path) and os.path.getsize(self.path) > 0:
            self.conn = self._open_read_only()

    def close(self) -> None:
        # The writer last: closing the last connection checkpoints the WAL and
        # removes the -wal and -shm files.
        super().close()
        if self.writer is not None:
            if self.writer.in_transaction:
                self.writer.execute("ROLLBACK")
            self.writer.close()
            self.writer = None

    def thread_counts(self, thread_ids: list[str] | None) -> dict[str, tuple[int, int]]:
        if self.conn is None:
            return {}
        return super().thread_counts(thread_ids)

    def existing_threads(self, thread_ids: list[str]) -> set[str]:
        return set() if self.conn is None else super().existing_threads(thread_ids)

    def all_threads(self) -> set[str]:
        if self.conn is None:
            return set()
        return set(super().thread_counts(None))

    def blob_keys(self, thread_id: str) -> set[BlobKey]:
        return set()

    def prepare(self) -> None:
        # Our saver makes (or brings up to date) the schema SqliteSaver reads:
        # SqliteSaver's layout, whatever FAST_LANGGRAPH_STORAGE says of new files.
        try:
            RustSQLiteCheckpointer(self.path, storage="default").close()
        except sqlite3.Error as exc:
            raise MigrationError(
                f"{self.label}: cannot create the database ({exc})", kind="cannot_write"
            ) from None
        self.close()
        self.conn = self._open_read_only()
        writer = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        writer.execute("PRAGMA busy_timeout = 5000")
        writer.execute("PRAGMA synchronous = NORMAL")
        self.writer = writer

    def cancel(self) -> None:
        """Stop the statement in flight (from another thread); its batch rolls back."""
        if self.writer is not None:
            self.writer.interrupt()

    def writers(self) -> list[_SqliteTarget]:
        # SQLite takes one writer at a time: a second connection would only wait.
        return [self]

    def write(self, units: list[_Unit], before_commit: Callable[[], None]) -> _Written:
        if self.writer is None:
            raise RuntimeError("not prepared")
        checkpoints = [r for u in units for r in u.checkpoints]
        writes = [r for u in units for r in u.writes]
        written = _Written()
        self.writer.execute("BEGIN IMMEDIATE")
        try:
            cur = self.writer.executemany(
                "INSERT OR IGNORE INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, "
                "parent_checkpoint_id, type, checkpoint, metadata, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                checkpoints,
            )
            written.checkpoints = max(cur.rowcount, 0)
            cur = self.writer.executemany(
                "INSERT OR IGNORE INTO writes (thread_id, checkpoint_ns, checkpoint_id, task_id, "
                "task_path, idx, channel, type, value) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                writes,
            )
            written.writes = max(cur.rowcount, 0)
            before_commit()
            self.writer.execute("COMMIT")
        except BaseException:
            if self.writer.in_transaction:
                self.writer.execute("ROLLBACK")
            raise
        return written


# -- PostgreSQL ---------------------------------------------------------------------

_PG_TABLES: Final = ("checkpoints", "checkpoint_blobs", "checkpoint_writes")
_PG_COLUMNS: Final = {
    "checkpoints": {
        "thread_id",
        "checkpoint_ns",
        "checkpoint_id",
        "parent_checkpoint_id",
        "checkpoint",
        "metadata",
    },
    "checkpoint_blobs": {"thread_id", "checkpoint_ns", "channel", "version", "type", "blob"},
    "checkpoint_writes": {
        "thread_id",
        "checkpoint_ns",
        "checkpoint_id",
        "task_id",
        "idx",
        "channel",
        "type",
        "blob",
    },
}


class _Postgres:
    """A database in PostgresSaver's schema; shared by the source and the target."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.label = redact_url(url)
        self.conn: psycopg.Connection[Any] | None = None
        self.tables: set[str] = set()
        self.task_path = "task_path"

    def _db(self) -> psycopg.Connection[Any]:
        if self.conn is None:
            raise RuntimeError("not open")
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(psycopg.Error):
                self.conn.close()
            self.conn = None

    def _inspect(self) -> None:
        rows = (
            self._db()
            .execute(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = ANY(%s)",
                (list(_PG_TABLES),),
            )
            .fetchall()
        )
        columns: dict[str, set[str]] = {}
        for table, column in rows:
            columns.setdefault(str(table), set()).add(str(column))
        self.tables = set(columns)
        for table, have in columns.items():
            missing = _PG_COLUMNS[table] - have
            if missing:
                raise MigrationError(
                    f"{self.label}: its {table} table is not PostgresSaver's (no column "
                    f"{', '.join(sorted(missing))}); use another database or schema",
                    kind="not_a_checkpoint_database",
                )
        if "task_path" not in columns.get("checkpoint_writes", {"task_path"}):
            self.task_path = "''"

    def thread_counts(self, thread_ids: list[str] | None) -> dict[str, tuple[int, int]]:
        if "checkpoints" not in self.tables:
            return {}
        where = "WHERE thread_id = ANY(%(ids)s)" if thread_ids is not None else ""
        writes = (
            f"UNION ALL SELECT thread_id, 0, count(*) FROM checkpoint_writes {where} "
            "GROUP BY thread_id"
            if "checkpoint_writes" in self.tables
            else ""
        )
        sql = (
            "SELECT thread_id, sum(c)::bigint, sum(w)::bigint FROM ("
            f"SELECT thread_id, count(*) AS c, 0 AS w FROM checkpoints {where} "
            f"GROUP BY thread_id {writes}) AS t GROUP BY thread_id"
        )
        counts: dict[str, tuple[int, int]] = {}
        for chunk in [None] if thread_ids is None else _chunks(thread_ids):
            for tid, c, w in self._db().execute(sql, {"ids": chunk}):
                counts[str(tid)] = (int(c), int(w))
        return counts

    def existing_threads(self, thread_ids: list[str]) -> set[str]:
        found: set[str] = set()
        for table in ("checkpoints", "checkpoint_writes", "checkpoint_blobs"):
            if table not in self.tables:
                continue
            for chunk in _chunks(thread_ids):
                rows = self._db().execute(
                    f"SELECT DISTINCT thread_id FROM {table} WHERE thread_id = ANY(%s)", (chunk,)
                )
                found.update(str(r[0]) for r in rows)
        return found

    def all_threads(self) -> set[str]:
        if "checkpoints" not in self.tables:
            return set()
        return {str(r[0]) for r in self._db().execute("SELECT DISTINCT thread_id FROM checkpoints")}

    def keys(self, thread_ids: list[str]) -> dict[str, _Keys]:
        keys: dict[str, _Keys] = {t: _Keys() for t in thread_ids}
        db = self._db()
        if "checkpoints" in self.tables:
            for tid, ns, cid, parent in db.execute(
                "SELECT thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id "
                "FROM checkpoints WHERE thread_id = ANY(%s)",
                (thread_ids,),
            ):
                keys[tid].checkpoints[(ns, cid)] = parent
        if "checkpoint_writes" in self.tables:
            for tid, ns, cid, task_id, idx in db.execute(
                "SELECT thread_id, checkpoint_ns, checkpoint_id, task_id, idx "
                "FROM checkpoint_writes WHERE thread_id = ANY(%s)",
                (thread_ids,),
            ):
                keys[tid].writes.add((ns, cid, task_id, int(idx)))
        return keys


# PostgresSaver's tables as this module fills them: columns, their types for a
# binary COPY, and the key a row conflicts on.
_TARGET_TABLES: Final = (
    (
        "checkpoint_blobs",
        "thread_id, checkpoint_ns, channel, version, type, blob",
        ("text", "text", "text", "text", "text", "bytea"),
        "thread_id, checkpoint_ns, channel, version",
    ),
    (
        "checkpoints",
        "thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, checkpoint, metadata",
        ("text", "text", "text", "text", "jsonb", "jsonb"),
        "thread_id, checkpoint_ns, checkpoint_id",
    ),
    (
        "checkpoint_writes",
        "thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, type, blob",
        ("text", "text", "text", "text", "text", "int4", "text", "text", "bytea"),
        "thread_id, checkpoint_ns, checkpoint_id, task_id, idx",
    ),
)


def _as_is(text: str | bytes) -> str | bytes:
    # JSON text made (or stored) already: psycopg sends it as it is.
    return text


class _PostgresTarget(_Postgres):
    """Fills PostgresSaver's tables, one transaction per batch, with COPY.

    The rows sent are only ones the target lacked when the run planned, so they
    are copied straight into the tables. Should another writer (a second run,
    the application) have added some of them since, the batch is rolled back
    and sent again through temporary tables and INSERT ... ON CONFLICT DO NOTHING.
    """

    def open(self, dry_run: bool) -> None:
        self.conn = _connect_postgres(self.url, self.label, autocommit=True)
        self._inspect()

    def blob_keys(self, thread_id: str) -> set[BlobKey]:
        if "checkpoint_blobs" not in self.tables:
            return set()
        rows = self._db().execute(
            "SELECT checkpoint_ns, channel, version FROM checkpoint_blobs WHERE thread_id = %s",
            (thread_id,),
        )
        return {(str(ns), str(ch), str(v)) for ns, ch, v in rows}

    def cancel(self) -> None:
        """Stop the statement in flight (from another thread); its batch rolls back."""
        if self.conn is not None:
            with contextlib.suppress(psycopg.Error):
                self.conn.cancel_safe(timeout=5)

    def prepare(self) -> None:
        # PostgresSaver's own setup: its tables, indexes and migration records.
        PostgresSaver(self._db()).setup()
        self._inspect()

    def writers(self) -> list[_PostgresTarget]:
        """This connection and POSTGRES_WRITERS - 1 more, to write in parallel."""
        more = []
        try:
            for _ in range(POSTGRES_WRITERS - 1):
                extra = _PostgresTarget(self.url)
                extra.open(False)
                more.append(extra)
        except BaseException:
            for extra in more:
                extra.close()
            raise
        return [self, *more]

    def write(self, units: list[_Unit], before_commit: Callable[[], None]) -> _Written:
        rows = (
            [r for u in units for r in u.blobs],
            [
                (*r[:4], Jsonb(r[4], dumps=_as_is), Jsonb(r[5], dumps=_as_is))
                for u in units
                for r in u.checkpoints
            ],
            [r for u in units for r in u.writes],
        )
        db = self._db()
        try:
            with db.transaction(), db.cursor() as cur:
                for (table, columns, types, _), table_rows in zip(
                    _TARGET_TABLES, rows, strict=True
                ):
                    if table_rows:
                        _copy(cur, f"{table} ({columns})", types, table_rows)
                before_commit()
            return _Written(len(rows[1]), len(rows[2]), len(rows[0]))
        except psycopg.errors.UniqueViolation:
            pass
        counts: list[int] = []
        with db.transaction(), db.cursor() as cur:
            for (table, columns, types, key), table_rows in zip(_TARGET_TABLES, rows, strict=True):
                if not table_rows:
                    counts.append(0)
                    continue
                stage = f"fast_langgraph_{table}"
                cur.execute(
                    f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table}) ON COMMIT DELETE ROWS"
                )
                _copy(cur, f"{stage} ({columns})", types, table_rows)
                cur.execute(
                    f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {stage} "
                    f"ON CONFLICT ({key}) DO NOTHING"
                )
                counts.append(max(cur.rowcount, 0))
            before_commit()
        return _Written(counts[1], counts[2], counts[0])


def _copy(
    cur: psycopg.Cursor[Any], table: str, types: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    with cur.copy(f"COPY {table} FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(list(types))
        for row in rows:
            copy.write_row(row)


class _PostgresSource(_Postgres):
    """Reads PostgresSaver's tables in one read-only snapshot and turns them into
    SQLite rows: each checkpoint whole again, as PostgresSaver itself loads it."""

    def __init__(self, url: str, serde: SerializerProtocol | None, fallback: SerializerProtocol):
        super().__init__(url)
        self.raw = _moves_as_bytes(serde)
        self.serde = serde if serde is not None else fallback
        self.warnings: list[str] = []

    def open(self) -> None:
        conn = _connect_postgres(self.url, self.label, autocommit=False)
        conn.read_only = True
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        self.conn = conn
        self._inspect()
        if "checkpoints" not in self.tables:
            raise MigrationError(
                f"{self.label}: not a PostgresSaver database (it has no checkpoints table)",
                kind="not_a_checkpoint_database",
            )

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(psycopg.Error):
                self.conn.rollback()
        super().close()

    def units(
        self,
        thread_ids: Sequence[str],
        plans: Mapping[str, _Plan],
        counts: Mapping[str, tuple[int, int]],
    ) -> Iterator[_Unit]:
        """The target rows of these threads, checkpoint by checkpoint. Small
        threads are read in groups (three queries for GROUP_ROWS rows of many
        threads: a thread per user must not cost three round trips each); a
        long one alone, a page at a time along the primary key."""
        group: list[str] = []
        size = 0
        for thread_id in thread_ids:
            rows = sum(counts.get(thread_id, (0, 0)))
            if rows > GROUP_ROWS:
                if group:
                    yield from self._group_units(group, plans)
                    group, size = [], 0
                yield from self._thread_units(thread_id, plans)
                continue
            if group and size + rows > GROUP_ROWS:
                yield from self._group_units(group, plans)
                group, size = [], 0
            group.append(thread_id)
            size += rows
        if group:
            yield from self._group_units(group, plans)

    _SELECT_CHECKPOINTS = (
        "SELECT thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, checkpoint, "
        "metadata, (SELECT coalesce(array_agg(array[key, value]), '{}') "
        "FROM jsonb_each_text(checkpoint -> 'channel_versions')) FROM checkpoints "
    )

    def _group_units(self, thread_ids: list[str], plans: Mapping[str, _Plan]) -> Iterator[_Unit]:
        rows = (
            self._db()
            .execute(
                self._SELECT_CHECKPOINTS + "WHERE thread_id = ANY(%s) "
                "ORDER BY thread_id, checkpoint_ns, checkpoint_id",
                (thread_ids,),
            )
            .fetchall()
        )
        writes = self._writes("thread_id = ANY(%s)", [thread_ids])
        yield from self._page(rows, writes, plans, {})

    def _thread_units(self, thread_id: str, plans: Mapping[str, _Plan]) -> Iterator[_Unit]:
        cache: dict[tuple[str, str, str, str], tuple[str, bytes]] = {}
        after: CheckpointKey | None = None
        key = "(thread_id, checkpoint_ns, checkpoint_id)"
        while True:
            bound = f"AND {key} > (%s, %s, %s) " if after else ""
            rows = (
                self._db()
                .execute(
                    self._SELECT_CHECKPOINTS + f"WHERE thread_id = %s {bound}"
                    "ORDER BY thread_id, checkpoint_ns, checkpoint_id LIMIT %s",
                    (thread_id, *((thread_id, *after) if after else ()), PAGE_ROWS),
                )
                .fetchall()
            )
            last: CheckpointKey | None = (
                (rows[-1][1], rows[-1][2]) if len(rows) == PAGE_ROWS else None
            )
            where, params = "thread_id = %s", [thread_id]
            if after is not None:
                where += f" AND {key} > (%s, %s, %s)"
                params += [thread_id, *after]
            if last is not None:
                where += f" AND {key} <= (%s, %s, %s)"
                params += [thread_id, *last]
            yield from self._page(rows, self._writes(where, params), plans, cache)
            if last is None:
                return
            after = last

    def _page(
        self,
        rows: list[Any],
        writes: list[tuple[Any, ...]],
        plans: Mapping[str, _Plan],
        cache: dict[tuple[str, str, str, str], tuple[str, bytes]],
    ) -> list[_Unit]:
        def present(thread_id: str, ns: str, cid: str) -> bool:
            plan = plans.get(thread_id)
            return plan is not None and (ns, cid) in plan.keys.checkpoints

        self._load_blobs([r for r in rows if not present(r[0], r[1], r[2])], cache)
        units: list[_Unit] = []
        for tid, ns, cid, parent, checkpoint, metadata, versions in rows:
            if present(tid, ns, cid):
                units.append(_Unit(tid, (ns, cid), already_there=True))
                continue
            units.append(self._convert(tid, ns, cid, parent, checkpoint, metadata, versions, cache))
        return _page_units(units, _group_writes(writes), plans)

    def _load_blobs(
        self, rows: list[Any], cache: dict[tuple[str, str, str, str], tuple[str, bytes]]
    ) -> None:
        """Fetch the blobs these checkpoints use that the cache lacks; forget the
        ones no checkpoint of the page uses (a thread's pages go in order, so
        unchanged channels stay cached)."""
        wanted = {(r[0], r[1], ch, v) for r in rows for ch, v in r[6]}
        for key in [k for k in cache if k not in wanted]:
            del cache[key]
        missing = [k for k in wanted if k not in cache]
        if not missing or "checkpoint_blobs" not in self.tables:
            return
        for tid, ns, channel, version, type_, blob in self._db().execute(
            "SELECT b.thread_id, b.checkpoint_ns, b.channel, b.version, b.type, b.blob "
            "FROM checkpoint_blobs b JOIN unnest(%s::text[], %s::text[], %s::text[], %s::text[]) "
            "AS k(thread_id, ns, channel, version) ON b.thread_id = k.thread_id "
            "AND b.checkpoint_ns = k.ns AND b.channel = k.channel AND b.version = k.version",
            [[k[n] for k in missing] for n in range(4)],
        ):
            cache[(tid, ns, channel, version)] = (str(type_), bytes(blob or b""))

    def _writes(self, where: str, params: list[Any]) -> list[tuple[Any, ...]]:
        if "checkpoint_writes" not in self.tables:
            return []
        return [
            (tid, ns, cid, task_id, path, int(idx), channel, type_, bytes(blob))
            for tid, ns, cid, task_id, path, idx, channel, type_, blob in self._db().execute(
                "SELECT thread_id, checkpoint_ns, checkpoint_id, task_id, "
                f"{self.task_path}, idx, channel, type, blob "
                f"FROM checkpoint_writes WHERE {where}",
                params,
            )
        ]

    def _pending_sends(self, thread_id: str, parent: str) -> list[tuple[str, bytes]]:
        # PostgresSaver._migrate_pending_sends's source: the parent's TASKS writes.
        if "checkpoint_writes" not in self.tables:
            return []
        rows = self._db().execute(
            f"SELECT type, blob FROM checkpoint_writes WHERE thread_id = %s "
            f"AND checkpoint_id = %s AND channel = %s ORDER BY {self.task_path}, task_id, idx",
            (thread_id, parent, TASKS),
        )
        return [(str(t), bytes(b)) for t, b in rows]

    def _decode(self, type_: str, data: bytes, raw: bool) -> Any:
        if raw:
            if type_ == "msgpack":
                return _raw_loads(data)
            if type_ == "null":
                return None
            return bytes(data)  # "bytes", "bytearray": msgpack bin either way
        return self.serde.loads_typed((type_, data))

    def _convert(
        self,
        thread_id: str,
        ns: str,
        cid: str,
        parent: str | None,
        checkpoint: dict[str, Any],
        metadata: Any,
        versions: list[list[str]],
        cache: dict[tuple[str, str, str, str], tuple[str, bytes]],
    ) -> _Unit:
        what = _Where(thread_id, ns, cid)
        found = [
            (channel, cache.get((thread_id, ns, channel, version))) for channel, version in versions
        ]
        stored = [
            (channel, blob) for channel, blob in found if blob is not None and blob[0] != "empty"
        ]
        sends = (
            self._pending_sends(thread_id, parent)
            if parent and int(checkpoint.get("v", 4)) < 4
            else []
        )
        raw = self.raw and all(t in _RAW_TYPES for _, (t, _) in stored)
        raw = raw and all(t in _RAW_TYPES for t, _ in sends)
        try:
            values = dict(checkpoint.get("channel_values") or {})
            for channel, (type_, data) in stored:
                values[channel] = self._decode(type_, data, raw)
            if sends:
                values[TASKS] = [self._decode(t, b, raw) for t, b in sends]
                channel_versions = dict(checkpoint.get("channel_versions") or {})
                channel_versions[TASKS] = (
                    max(channel_versions.values()) if channel_versions else _FIRST_VERSION
                )
                checkpoint = {**checkpoint, "channel_versions": channel_versions}
            whole = {**checkpoint, "channel_values": values}
            type_, blob = ("msgpack", _raw_dumps(whole)) if raw else self.serde.dumps_typed(whole)
        except Exception as exc:
            raise MigrationError(
                f"{self.label}: cannot convert {what} ({type(exc).__name__}: {_first_line(exc)}); "
                "pass the serializer the application uses (serde=)",
                kind="cannot_convert",
            ) from None
        meta = json.dumps(metadata if metadata is not None else {}, ensure_ascii=False)
        meta_bytes = meta.encode("utf-8", "ignore")
        row = (
            thread_id,
            ns,
            cid,
            parent,
            type_,
            blob,
            meta_bytes,
            created_at_from_checkpoint_id(cid),
        )
        return _Unit(thread_id, (ns, cid), [row], nbytes=len(blob) + len(meta_bytes))


# -- planning: what the target already holds ----------------------------------------


def _differs(source: _Keys, target: _Keys) -> str | None:
    """Why the target's rows of a thread are not a subset of the source's."""
    for key, parent in target.checkpoints.items():
        if key not in source.checkpoints:
            return f"it has checkpoint {key[1]} (namespace {key[0]!r}), which the source has not"
        if source.checkpoints[key] != parent:
            return f"its checkpoint {key[1]} has another parent"
    for write in target.writes:
        if write not in source.writes:
            return (
                f"it has a write of task {write[2]} to checkpoint {write[1]}, "
                "which the source has not"
            )
    return None


# -- verification -------------------------------------------------------------------


def _encoded(serde: SerializerProtocol, value: Any) -> tuple[str, bytes]:
    return serde.dumps_typed(value)


def _normalized_checkpoint(checkpoint: Mapping[str, Any]) -> str:
    rest = {k: v for k, v in checkpoint.items() if k not in ("channel_values", "pending_sends")}
    versions = dict(rest.get("channel_versions") or {})
    versions.pop(TASKS, None)  # PostgresSaver adds it to checkpoints older than format 4
    rest["channel_versions"] = {k: _version_text(v) for k, v in versions.items()}
    return json.dumps(rest, sort_keys=True, default=str)


def compare_tuples(
    lite: CheckpointTuple | None, pg: CheckpointTuple | None, serde: SerializerProtocol
) -> str | None:
    """How a checkpoint read through a SQLite saver and through PostgresSaver
    differ (None: they do not). Values are compared as the serializer encodes
    them. PostgresSaver may show a `DeltaChannel` snapshot at later checkpoints
    of the same channel version (it stores one blob per version); that is the
    value the SQLite side rebuilds from history, so it is no difference."""
    if lite is None or pg is None:
        return "missing in " + ("the SQLite file" if lite is None else "PostgreSQL")
    ids = [
        (
            t.config["configurable"].get("checkpoint_ns", ""),
            t.config["configurable"]["checkpoint_id"],
        )
        for t in (lite, pg)
    ]
    if ids[0] != ids[1]:
        return f"different checkpoints ({ids[0]} and {ids[1]})"
    parents = [
        t.parent_config["configurable"]["checkpoint_id"] if t.parent_config else None
        for t in (lite, pg)
    ]
    if parents[0] != parents[1]:
        return f"parent {parents[0]} in SQLite, {parents[1]} in PostgreSQL"
    if dict(lite.metadata) != dict(pg.metadata):
        return "different metadata"
    if _normalized_checkpoint(lite.checkpoint) != _normalized_checkpoint(pg.checkpoint):
        return "different versions, ids or times"
    lite_values = dict(lite.checkpoint.get("channel_values") or {})
    pg_values = dict(pg.checkpoint.get("channel_values") or {})
    sends = lite.checkpoint.get("pending_sends")
    if sends and TASKS not in lite_values:
        lite_values[TASKS] = sends
    for name in sorted(lite_values.keys() | pg_values.keys()):
        if name not in pg_values:
            return f"channel {name!r} is missing in PostgreSQL"
        if name not in lite_values:
            if isinstance(pg_values[name], _DeltaSnapshot):
                continue
            return f"channel {name!r} is missing in the SQLite file"
        if _encoded(serde, lite_values[name]) != _encoded(serde, pg_values[name]):
            return f"channel {name!r} differs"
    writes = [
        sorted(
            (task, channel, _encoded(serde, value))
            for task, channel, value in t.pending_writes or ()
        )
        for t in (lite, pg)
    ]
    if writes[0] != writes[1]:
        return f"pending writes differ ({len(writes[0])} in SQLite, {len(writes[1])} in PostgreSQL)"
    return None


def _verify_sample(
    report: MigrationReport,
    sqlite_path: str,
    url: str,
    serde: SerializerProtocol,
    sample: list[tuple[str, str, str]],
    latest: list[str],
) -> None:
    configs: list[RunnableConfig] = [
        {"configurable": {"thread_id": t, "checkpoint_ns": ns, "checkpoint_id": cid}}
        for t, ns, cid in sample
    ]
    configs += [{"configurable": {"thread_id": t, "checkpoint_ns": ""}} for t in latest]
    with (
        RustSQLiteCheckpointer(sqlite_path, read_only=True, serde=serde) as lite,
        _connect_postgres(url, redact_url(url), autocommit=True, row_factory=dict_row) as conn,
    ):
        pg = PostgresSaver(conn, serde=serde)
        for config in configs:
            configurable = config["configurable"]
            ours, theirs = lite.get_tuple(config), pg.get_tuple(config)
            if ours is None and theirs is None and "checkpoint_id" not in configurable:
                continue  # a thread with writes only, or only subgraph checkpoints
            difference = compare_tuples(ours, theirs, serde)
            report.sampled += 1
            if difference is not None:
                where = configurable.get("checkpoint_id") or "latest checkpoint"
                report.mismatches.append(
                    f"thread {configurable['thread_id']!r}, {where}: {difference}"
                )


# -- the migration ------------------------------------------------------------------


class _StopRequested(Exception):
    """The progress callback asked to stop (it raised KeyboardInterrupt)."""


class _Abandoned(Exception):
    """A batch given up because an earlier one failed or the run is stopping."""


class _Writer:
    """Writes batches on threads of their own (one connection each), so that the
    next batches are read and converted while these go to the database, which
    waits without holding the GIL. Batches commit in the order they were
    submitted, whatever connection writes them: after a crash every batch before
    the first missing one is complete. The main thread accounts for them as
    they commit."""

    def __init__(self, targets: Sequence[_SqliteTarget | _PostgresTarget]) -> None:
        self._targets = list(targets)
        self._todo: queue.Queue[tuple[int, list[_Unit]] | None] = queue.Queue(
            maxsize=len(self._targets)
        )
        self._done: queue.Queue[tuple[list[_Unit], _Written]] = queue.Queue()
        self._failure: BaseException | None = None
        self._stopping = False
        self._turn = 0  # the batch allowed to commit next
        self._submitted = 0
        self._turns = threading.Condition()
        self._threads = [
            threading.Thread(
                target=self._work, args=(t,), name="fast-langgraph-migrate", daemon=True
            )
            for t in self._targets
        ]
        for thread in self._threads:
            thread.start()

    def _wait_turn(self, seq: int) -> None:
        with self._turns:
            while self._turn != seq:
                if self._failure is not None or self._stopping:
                    raise _Abandoned
                self._turns.wait(0.05)

    def _work(self, target: _SqliteTarget | _PostgresTarget) -> None:
        while True:
            item = self._todo.get()
            if item is None:
                return
            seq, batch = item
            try:
                written = target.write(batch, functools.partial(self._wait_turn, seq))
            except BaseException as exc:  # handed to the main thread
                with self._turns:
                    if self._failure is None and not isinstance(exc, _Abandoned):
                        self._failure = exc
                    self._stopping = True
                    self._turns.notify_all()
                return
            self._done.put((batch, written))
            with self._turns:
                self._turn = seq + 1
                self._turns.notify_all()

    def _alive(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    def _put(self, item: tuple[int, list[_Unit]] | None) -> None:
        # With a timeout, so that writers that died never leave us waiting.
        while True:
            if self._failure is not None:
                raise self._failure
            if not self._alive():
                return
            try:
                self._todo.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    def submit(self, batch: list[_Unit]) -> None:
        self._put((self._submitted, batch))
        self._submitted += 1

    def finished(self) -> list[tuple[list[_Unit], _Written]]:
        done: list[tuple[list[_Unit], _Written]] = []
        while True:
            try:
                done.append(self._done.get_nowait())
            except queue.Empty:
                return done

    def close(self, *, drop_queued: bool = False, cancel: bool = False) -> None:
        """Wait for the writers to finish: after every batch, or (drop_queued)
        after the ones being written; `cancel` also stops those (rolled back)."""
        if drop_queued or cancel:
            while True:
                try:
                    self._todo.get_nowait()
                except queue.Empty:
                    break
        if cancel:
            with self._turns:
                self._stopping = True
                self._turns.notify_all()
            for target in self._targets:
                target.cancel()
        for _ in self._threads:
            if cancel or drop_queued:
                with contextlib.suppress(queue.Full):
                    self._todo.put_nowait(None)
            else:
                self._put(None)
        for thread in self._threads:
            thread.join()
        if self._failure is not None and not cancel:
            raise self._failure


class _Reservoir:
    """A uniform random sample of the checkpoints seen."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: list[tuple[str, str, str]] = []
        self.seen = 0
        self._random = random.Random()

    def offer(self, item: tuple[str, str, str]) -> None:
        self.seen += 1
        if len(self.items) < self.size:
            self.items.append(item)
        elif self._random.random() * self.seen < self.size:  # kept with chance size/seen
            self.items[self._random.randrange(self.size)] = item


def _thread_list(threads: Sequence[str] | None) -> list[str] | None:
    if threads is None:
        return None
    if isinstance(threads, (str, bytes)):
        raise TypeError(f"threads must be a list of thread ids, not a str: pass [{threads!r}]")
    return list(dict.fromkeys(str(t) for t in threads))


def migrate(
    src: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    threads: Sequence[str] | None = None,
    dry_run: bool = False,
    serde: SerializerProtocol | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    verify: bool = True,
    sample: int = DEFAULT_SAMPLE,
    progress: Callable[[MigrationReport], None] | None = None,
) -> MigrationReport:
    """Copy checkpoints from `src` to `dest`: a SQLite file path and a
    `postgresql://` URL, either way round.

    threads: only these thread ids (each must be in `src`); default every thread.
    dry_run: count what would be copied, check the target, write nothing.
    serde: the serializer the application's savers use, when it is not the
        default JsonPlusSerializer (an `EncryptedSerializer`, one with
        `pickle_fallback=True`): then every checkpoint is decoded and re-encoded
        with it. Default: values in LangGraph's msgpack format move as bytes,
        and our `JsonPlusSerializer` handles anything else and the verification.
    batch_size: checkpoints per transaction (a batch also ends at 16 MB).
    verify: afterwards, compare per-thread counts and read `sample` random
        checkpoints (plus the latest of up to `sample` threads) back through
        both savers (SQLite's and PostgresSaver); differences go to
        `report.mismatches` and make `report.ok` false.
    progress: called after each committed batch with the report so far; if it
        raises KeyboardInterrupt the migration stops there.

    Raises MigrationError (one line, nothing written unless it says so) for
    bad input: an unreachable server, wrong credentials, a source that is not
    a checkpoint database, a thread the target holds with other rows. Raises
    MigrationInterrupted (a KeyboardInterrupt, with `.report`) on Ctrl-C: the
    batch in flight is rolled back, and running again finishes the job.
    """
    src, dest = os.fspath(src), os.fspath(dest)
    wanted = _thread_list(threads)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if sample < 0:
        raise ValueError(f"sample must be 0 or more, got {sample}")
    fallback = serde if serde is not None else JsonPlusSerializer()
    source: _SqliteSource | _PostgresSource
    target: _SqliteTarget | _PostgresTarget
    if is_postgres_url(src) and is_postgres_url(dest):
        raise MigrationError(
            "both SRC and DEST are PostgreSQL URLs: one side must be a SQLite file "
            "(to copy between PostgreSQL databases, use pg_dump)",
            kind="bad_argument",
        )
    if is_postgres_url(dest):
        source, target = _SqliteSource(src, serde, fallback), _PostgresTarget(dest)
        direction: Direction = "sqlite-to-postgres"
        sqlite_path, url = src, dest
    elif is_postgres_url(src):
        source, target = _PostgresSource(src, serde, fallback), _SqliteTarget(dest)
        direction = "postgres-to-sqlite"
        sqlite_path, url = dest, src
    else:
        raise MigrationError(
            f"neither {src} nor {dest} is a postgresql:// URL: one side must be PostgreSQL "
            "(to copy a SQLite file, use `fast-langgraph backup`)",
            kind="bad_argument",
        )
    report = MigrationReport(source.label, target.label, direction, dry_run)
    try:
        with contextlib.ExitStack() as stack:
            if os.path.isfile(sqlite_path):  # what reading it creates goes again
                stack.enter_context(_leave_no_wal_files(sqlite_path))
            stack.callback(source.close)
            stack.callback(target.close)
            source.open()
            target.open(dry_run)
            drawn = _run(report, source, target, wanted, dry_run, batch_size, sample, progress)
            if verify and not dry_run:
                _verify_counts(report, target)
                _verify_sample(report, sqlite_path, url, fallback, *drawn)
                report.verified = not report.mismatches
    except KeyboardInterrupt as exc:
        report.interrupted = True
        if isinstance(exc, MigrationInterrupted):
            raise
        raise MigrationInterrupted(report) from None
    except psycopg.Error as exc:
        raise MigrationError(f"{redact_url(url)}: {_first_line(exc)}") from None
    except sqlite3.Error as exc:
        raise MigrationError(f"{sqlite_path}: {exc}") from None
    return report


def _run(
    report: MigrationReport,
    source: _SqliteSource | _PostgresSource,
    target: _SqliteTarget | _PostgresTarget,
    wanted: list[str] | None,
    dry_run: bool,
    batch_size: int,
    sample: int,
    progress: Callable[[MigrationReport], None] | None,
) -> tuple[list[tuple[str, str, str]], list[str]]:
    """Plan, then copy batch by batch. Returns what verification reads back:
    a random sample of checkpoints, and threads whose latest checkpoint to read."""
    counts = source.thread_counts(wanted)
    if wanted is not None:
        unknown = [t for t in wanted if t not in counts]
        if unknown:
            raise MigrationError(
                f"{source.label} has no thread {', '.join(map(repr, unknown))} "
                f"(`fast-langgraph threads` lists a SQLite file's threads)",
                kind="unknown_thread",
            )
    thread_ids = sorted(counts)
    report.threads = len(thread_ids)
    report.checkpoints = sum(c for c, _ in counts.values())
    report.writes = sum(w for _, w in counts.values())
    per_thread = {t: ThreadReport(t, *counts[t]) for t in thread_ids}
    report.per_thread = list(per_thread.values())
    report.other_target_threads = len(target.all_threads() - set(thread_ids))

    # The target may hold some threads already: from an interrupted run (a
    # subset of the source's rows: finish them) or from elsewhere (refuse).
    plans: dict[str, _Plan] = {}
    reservoir = _Reservoir(sample)
    present = sorted(target.existing_threads(thread_ids))
    differing: list[str] = []
    for chunk in _chunks(present):
        theirs = target.keys(chunk)
        ours = source.keys(chunk)
        for tid in chunk:
            why = _differs(ours[tid], theirs[tid])
            if why is not None:
                differing.append(f"{tid!r} ({why})")
                continue
            complete = (
                theirs[tid].checkpoints.keys() == ours[tid].checkpoints.keys()
                and theirs[tid].writes == ours[tid].writes
            )
            blobs = set() if complete or dry_run else target.blob_keys(tid)
            plans[tid] = _Plan(theirs[tid], blobs, complete)
            report.already_there_checkpoints += len(theirs[tid].checkpoints)
            report.already_there_writes += len(theirs[tid].writes)
            for ns, cid in theirs[tid].checkpoints:
                reservoir.offer((tid, ns, cid))
    if differing:
        more = f" and {len(differing) - 3} more" if len(differing) > 3 else ""
        raise MigrationError(
            f"{target.label} already holds {len(differing)} of these threads with rows "
            f"{source.label} does not have: {'; '.join(differing[:3])}{more}. Nothing was "
            "written. Leave them out (pass --thread for the others), or delete them from "
            "the target first",
            kind="target_differs",
        )
    if dry_run:
        return [], []

    target.prepare()
    started = time.monotonic()
    connections = target.writers()
    writer = _Writer(connections)
    batch: list[_Unit] = []
    batch_bytes = batch_rows = 0

    def account(notify: bool) -> None:
        """Count the batches the writer has committed; tell `progress`."""
        finished = writer.finished()
        for units, written in finished:
            report.batches += 1
            report.copied_checkpoints += written.checkpoints
            report.copied_writes += written.writes
            report.copied_blobs += written.blobs
            for unit in units:
                per = per_thread[unit.thread_id]
                per.copied_checkpoints += len(unit.checkpoints)
                per.copied_writes += len(unit.writes)
                if unit.key is not None:
                    report.done_checkpoints += 1
        report.seconds = time.monotonic() - started
        if finished and notify and progress is not None:
            try:
                progress(report)
            except KeyboardInterrupt:
                raise _StopRequested from None

    todo = []
    for tid in thread_ids:
        plan = plans.get(tid)
        if plan is not None and plan.complete:
            report.done_checkpoints += per_thread[tid].checkpoints
        else:
            todo.append(tid)
    try:
        if todo:
            for unit in source.units(todo, plans, counts):
                if unit.key is not None and not unit.already_there:
                    reservoir.offer((unit.thread_id, *unit.key))
                batch.append(unit)
                batch_bytes += unit.nbytes
                batch_rows += len(unit.checkpoints)
                if batch_rows >= batch_size or batch_bytes >= BATCH_BYTES:
                    writer.submit(batch)
                    batch, batch_bytes, batch_rows = [], 0, 0
                    account(notify=True)
        if batch:
            writer.submit(batch)
        writer.close()
        account(notify=True)
    except _StopRequested:
        # Asked to stop (Ctrl-C once): the batch being written commits, the next is dropped.
        writer.close(drop_queued=True)
        account(notify=False)
        raise KeyboardInterrupt from None
    except BaseException:
        writer.close(drop_queued=True, cancel=True)
        account(notify=False)
        raise
    finally:
        for extra in connections[1:]:
            extra.close()
    report.warnings.extend(source.warnings)
    latest = random.sample(thread_ids, min(sample, len(thread_ids)))
    return reservoir.items, latest


def _verify_counts(report: MigrationReport, target: _SqliteTarget | _PostgresTarget) -> None:
    """Per thread: the source as it was read (one snapshot), the target now."""
    after = target.thread_counts([t.thread_id for t in report.per_thread])
    for per in report.per_thread:
        per.target_checkpoints, per.target_writes = after.get(per.thread_id, (0, 0))
        if not per.matches:
            report.mismatches.append(
                f"thread {per.thread_id!r}: {per.checkpoints} checkpoints and {per.writes} "
                f"writes in the source, {per.target_checkpoints} and {per.target_writes} "
                "in the target"
            )
