"""The one home of the SQL: schema, pragmas, migrations and every statement.

The file format is langgraph-checkpoint-sqlite 3.1's (tables `checkpoints` and
`writes`, same columns, keys and blob encodings), so `SqliteSaver` keeps reading
and writing files we have opened. Our additions live in migration 1 and are
invisible to it: a `created_at` column filled in by a trigger when SqliteSaver
inserts, its index, and a trigger that deletes a checkpoint's writes with it.

Migrations are a ladder kept as data: `MIGRATIONS[n]` brings a file from
`user_version` n to n + 1, and `migrate` walks the steps a file still needs.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Final, final

# -- schema ------------------------------------------------------------------

# SqliteSaver's DDL, verbatim: a fresh file must look exactly like one it made.
CREATE_CHECKPOINTS: Final = """CREATE TABLE IF NOT EXISTS checkpoints (
    thread_id TEXT NOT NULL,
    checkpoint_ns TEXT NOT NULL DEFAULT '',
    checkpoint_id TEXT NOT NULL,
    parent_checkpoint_id TEXT,
    type TEXT,
    checkpoint BLOB,
    metadata BLOB,
    PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id)
)"""

CREATE_WRITES: Final = """CREATE TABLE IF NOT EXISTS writes (
    thread_id TEXT NOT NULL,
    checkpoint_ns TEXT NOT NULL DEFAULT '',
    checkpoint_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    task_path TEXT NOT NULL DEFAULT '',
    idx INTEGER NOT NULL,
    channel TEXT NOT NULL,
    type TEXT,
    value BLOB,
    PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id, task_id, idx)
)"""

# Files made before SqliteSaver had `task_path` lack the column.
ADD_WRITES_TASK_PATH: Final = "ALTER TABLE writes ADD COLUMN task_path TEXT NOT NULL DEFAULT ''"

# The tables every version starts from (what SqliteSaver 3.1 creates).
BASE_SCHEMA: Final = (CREATE_CHECKPOINTS, CREATE_WRITES)

# Timestamps are UTC text with milliseconds, e.g. '2024-05-04 06:32:42.235':
# sortable as text and understood by SQLite's date functions.
CREATED_AT_FORMAT: Final = "%Y-%m-%d %H:%M:%f"
NOW_SQL: Final = "strftime('%Y-%m-%d %H:%M:%f', 'now')"

ADD_CHECKPOINTS_CREATED_AT: Final = "ALTER TABLE checkpoints ADD COLUMN created_at TEXT"

CREATE_CREATED_AT_INDEX: Final = (
    "CREATE INDEX IF NOT EXISTS checkpoints_created_at ON checkpoints (created_at)"
)

# Rows inserted by SqliteSaver (which knows nothing of created_at) get one too.
CREATE_CREATED_AT_TRIGGER: Final = f"""CREATE TRIGGER IF NOT EXISTS checkpoints_created_at_default
AFTER INSERT ON checkpoints
FOR EACH ROW WHEN NEW.created_at IS NULL
BEGIN
    UPDATE checkpoints SET created_at = {NOW_SQL}
    WHERE thread_id = NEW.thread_id
      AND checkpoint_ns = NEW.checkpoint_ns
      AND checkpoint_id = NEW.checkpoint_id;
END"""

# So that `DELETE FROM checkpoints WHERE ...` by hand leaves no orphan writes.
# (INSERT OR REPLACE does not fire it: recursive_triggers is off.)
CREATE_DELETE_WRITES_TRIGGER: Final = """CREATE TRIGGER IF NOT EXISTS checkpoints_delete_writes
AFTER DELETE ON checkpoints
FOR EACH ROW
BEGIN
    DELETE FROM writes
    WHERE thread_id = OLD.thread_id
      AND checkpoint_ns = OLD.checkpoint_ns
      AND checkpoint_id = OLD.checkpoint_id;
END"""

SELECT_CREATED_AT_BACKFILL: Final = (
    "SELECT rowid, checkpoint_id FROM checkpoints WHERE created_at IS NULL"
)
UPDATE_CREATED_AT: Final = "UPDATE checkpoints SET created_at = ? WHERE rowid = ?"
UPDATE_CREATED_AT_NOW: Final = (
    f"UPDATE checkpoints SET created_at = {NOW_SQL} WHERE created_at IS NULL"
)

# The DDL of step 1, run after `BASE_SCHEMA`, `task_path` and `created_at`
# exist and `created_at` is backfilled (see `_add_created_at`).
CREATED_AT_DDL: Final = (
    CREATE_CREATED_AT_INDEX,
    CREATE_CREATED_AT_TRIGGER,
    CREATE_DELETE_WRITES_TRIGGER,
)

# -- created_at from uuid6 ids -----------------------------------------------

_UUID6_PATTERN: Final = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-6[0-9a-fA-F]{3}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
# 100 ns intervals between the UUID epoch (1582-10-15) and the Unix epoch.
_UUID_EPOCH_OFFSET: Final = 0x01B21DD213814000
_UNIX_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
_LAST_MILLISECOND: Final = 253402300799999  # 9999-12-31 23:59:59.999 UTC


def created_at_from_checkpoint_id(checkpoint_id: str) -> str | None:
    """The creation time a uuid6 checkpoint id carries, in `CREATED_AT_FORMAT`
    truncated to milliseconds; None when the id is not a canonical uuid6
    (hyphenated hex, version digit 6) or its time is before 1970 or after 9999.
    """
    if _UUID6_PATTERN.fullmatch(checkpoint_id) is None:
        return None
    digits = checkpoint_id.replace("-", "")
    # uuid6 stores the 60-bit timestamp high bits first: 48 bits, the version
    # nibble, then the low 12 bits.
    ticks = (int(digits[:12], 16) << 12) | int(digits[13:16], 16)
    milliseconds = (ticks - _UUID_EPOCH_OFFSET) // 10_000
    if milliseconds < 0 or milliseconds > _LAST_MILLISECOND:
        return None
    moment = _UNIX_EPOCH + timedelta(milliseconds=milliseconds)
    return f"{moment:%Y-%m-%d %H:%M:%S}.{milliseconds % 1000:03d}"


# A file opened read-only without `created_at` (one only SqliteSaver has
# written) is dated in memory instead, as migration 1 would date it: this SQL
# function, registered on the connection that needs it, gives a checkpoint id's
# time (NULL for an id that carries none).
CREATED_AT_FROM_ID_FUNCTION: Final = "fast_langgraph_created_at_from_id"


def _created_at_from_id_sql(value: object) -> str | None:
    return created_at_from_checkpoint_id(value) if isinstance(value, str) else None


def register_created_at_from_id(conn: sqlite3.Connection) -> None:
    """Make `CREATED_AT_FROM_ID_FUNCTION` callable in SQL on `conn` (this
    connection only; the file is not touched)."""
    conn.create_function(
        CREATED_AT_FROM_ID_FUNCTION, 1, _created_at_from_id_sql, deterministic=True
    )


# -- opening -----------------------------------------------------------------

BUSY_TIMEOUT_SECONDS: Final = 5.0
_WAL_RETRY_SECONDS: Final = 0.005
DURABILITY_SYNCHRONOUS: Final = {"normal": "NORMAL", "full": "FULL"}


def configure_writer(conn: sqlite3.Connection, durability: str) -> None:
    """Pragmas for a writable connection, outside any transaction."""
    synchronous = DURABILITY_SYNCHRONOUS.get(durability)
    if synchronous is None:
        raise ValueError(f"durability must be 'normal' or 'full', not {durability!r}")
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
    enable_wal(conn)
    conn.execute(f"PRAGMA synchronous = {synchronous}")


def enable_wal(conn: sqlite3.Connection) -> None:
    """Switch the file to WAL (a no-op when it already is).

    The switch needs the file to itself, and SQLite reports "database is locked"
    at once, without its busy handler, when another process is opening or
    switching the same file: retry until the busy timeout has passed.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL").fetchall()
            return
        except sqlite3.OperationalError as exc:
            if "database is locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(_WAL_RETRY_SECONDS)


def configure_reader(conn: sqlite3.Connection) -> None:
    """Pragmas for a connection that only reads."""
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
    conn.execute("PRAGMA query_only = 1")


def user_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def table_columns(conn: sqlite3.Connection, table: str) -> set[str]:
    """Column names of `table` (empty when it does not exist)."""
    return {str(row[1]) for row in conn.execute(f"PRAGMA table_info({table})")}


def main_file(conn: sqlite3.Connection) -> str:
    """The path of `conn`'s main database ("" when it lives in memory)."""
    for _seq, name, file in conn.execute("PRAGMA database_list"):
        if name == "main":
            return str(file or "")
    return ""


# -- foreign files -----------------------------------------------------------

# The columns every SqliteSaver since langgraph 0.2 gives its tables, as
# (required, optional): files made before SqliteSaver had `task_path` lack it.
# The columns our migrations add are optional too. Any other set of columns
# means the table is another application's, and the file is left alone.
# (langgraph before 0.2 keyed checkpoints by `thread_ts`; no saver reads those.)
KNOWN_COLUMNS: Final = {
    "checkpoints": (
        frozenset(
            {
                "thread_id",
                "checkpoint_ns",
                "checkpoint_id",
                "parent_checkpoint_id",
                "type",
                "checkpoint",
                "metadata",
            }
        ),
        frozenset({"created_at"}),
    ),
    "writes": (
        frozenset(
            {
                "thread_id",
                "checkpoint_ns",
                "checkpoint_id",
                "task_id",
                "idx",
                "channel",
                "type",
                "value",
            }
        ),
        frozenset({"task_path"}),
    ),
}


class ForeignSchemaError(sqlite3.DatabaseError):
    """The file has a `checkpoints` or `writes` table that is not SqliteSaver's:
    another application's data, which opening must not alter."""


def describe(conn: sqlite3.Connection) -> str:
    """The file behind `conn`, for error messages."""
    path = main_file(conn)
    return repr(path) if path else "the in-memory database"


def check_tables(conn: sqlite3.Connection, *, writing: bool = False) -> None:
    """Refuse, before anything is changed, a file whose `checkpoints` or
    `writes` table has columns no SqliteSaver (nor we) ever gave it, with a
    `ForeignSchemaError` naming the file, the table and the columns. Missing
    tables are fine (they are created). `writing`: also refuse a schema version
    newer than ours, which `migrate` would refuse after changing the journal
    mode. Reads the schema only: no lock beyond a read, nothing written."""
    for table, (required, optional) in KNOWN_COLUMNS.items():
        columns = table_columns(conn, table)
        if not columns:
            continue
        missing = sorted(required - columns)
        unexpected = sorted(columns - required - optional)
        if not missing and not unexpected:
            continue
        problems = []
        if unexpected:
            problems.append(f"unexpected column(s) {', '.join(unexpected)}")
        if missing:
            problems.append(f"no column(s) {', '.join(missing)}")
        hint = (
            "it looks like a checkpoint file of langgraph before 0.2 (keyed by thread_ts), "
            "which no current saver reads; start a new file"
            if "thread_ts" in columns
            else "it belongs to another application; open another file for checkpoints "
            f"(or rename that application's {table!r} table)"
        )
        raise ForeignSchemaError(
            f"cannot use {describe(conn)}: its {table!r} table is not a LangGraph checkpoint "
            f"table ({'; '.join(problems)}); {hint}. Nothing in the file was changed."
        )
    if writing:
        _refuse_newer(conn, user_version(conn))


def _refuse_newer(conn: sqlite3.Connection, version: int) -> None:
    if version > SCHEMA_VERSION:
        raise sqlite3.OperationalError(
            f"cannot use {describe(conn)}: its schema version (PRAGMA user_version) "
            f"{version} is newer than this fast-langgraph supports ({SCHEMA_VERSION}): "
            "upgrade fast-langgraph (or, if another application made this file, open "
            "another file for checkpoints)"
        )


def _add_created_at(conn: sqlite3.Connection) -> None:
    """Step 1: SqliteSaver's tables (with `task_path`, which files older than
    SqliteSaver 2 lack), `checkpoints.created_at` dated from uuid6 ids, its
    index, and the triggers."""
    for statement in BASE_SCHEMA:
        conn.execute(statement)
    if "task_path" not in table_columns(conn, "writes"):
        conn.execute(ADD_WRITES_TASK_PATH)
    if "created_at" not in table_columns(conn, "checkpoints"):
        conn.execute(ADD_CHECKPOINTS_CREATED_AT)
    backfill: list[tuple[str, int]] = []
    for rowid, checkpoint_id in conn.execute(SELECT_CREATED_AT_BACKFILL).fetchall():
        created_at = created_at_from_checkpoint_id(str(checkpoint_id))
        if created_at is not None:
            backfill.append((created_at, int(rowid)))
    conn.executemany(UPDATE_CREATED_AT, backfill)
    conn.execute(UPDATE_CREATED_AT_NOW)
    for statement in CREATED_AT_DDL:
        conn.execute(statement)


# The ladder: `MIGRATIONS[n]` takes a file from user_version n to n + 1.
# Append new steps; never edit one that has shipped.
MIGRATIONS: Final[tuple[Callable[[sqlite3.Connection], None], ...]] = (_add_created_at,)

# `PRAGMA user_version` of a file carrying every step. SqliteSaver leaves it at 0.
SCHEMA_VERSION: Final = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection) -> None:
    """Walk the ladder from the file's user_version to `SCHEMA_VERSION`.

    Always takes the write lock (BEGIN IMMEDIATE), which also makes opening a
    file we cannot write fail right away rather than at the first put. The
    version is read inside the transaction, so when two processes open one
    file at once the second sees the first one's work and does nothing.
    A file with another application's tables (`check_tables`) or a newer
    version is refused unchanged.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = user_version(conn)
        _refuse_newer(conn, version)
        if version < SCHEMA_VERSION:
            # Again under the write lock: another process may have made the
            # tables since the caller's check.
            check_tables(conn)
        for step in MIGRATIONS[version:]:
            step(conn)
        if version != SCHEMA_VERSION:
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


# -- statements --------------------------------------------------------------

CHECKPOINT_COLUMNS: Final = (
    "thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata"
)

SELECT_CHECKPOINT: Final = (
    f"SELECT {CHECKPOINT_COLUMNS} FROM checkpoints "
    "WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id = ?"
)
SELECT_LATEST_CHECKPOINT: Final = (
    f"SELECT {CHECKPOINT_COLUMNS} FROM checkpoints "
    "WHERE thread_id = ? AND checkpoint_ns = ? "
    "ORDER BY checkpoint_id DESC LIMIT 1"
)
SELECT_LATEST_CHECKPOINT_ID: Final = (
    "SELECT MAX(checkpoint_id) FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = ?"
)

INSERT_CHECKPOINT: Final = (
    "INSERT OR REPLACE INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, "
    "parent_checkpoint_id, type, checkpoint, metadata, created_at) "
    f"VALUES (?, ?, ?, ?, ?, ?, ?, {NOW_SQL})"
)

_WRITE_COLUMNS: Final = (
    "(thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, type, value)"
)
_WRITE_ROW: Final = "(?, ?, ?, ?, ?, ?, ?, ?, ?)"
INSERT_WRITE_REPLACE: Final = f"INSERT OR REPLACE INTO writes {_WRITE_COLUMNS} VALUES {_WRITE_ROW}"
INSERT_WRITE_IGNORE: Final = f"INSERT OR IGNORE INTO writes {_WRITE_COLUMNS} VALUES {_WRITE_ROW}"

# A put_writes batch up to this many rows is one multi-row INSERT: one statement,
# so in autocommit mode one transaction without BEGIN and COMMIT round trips (each
# row's conflict is still resolved on its own). Larger batches use executemany.
MAX_WRITES_PER_STATEMENT: Final = 32


def _insert_writes(verb: str, rows: int) -> str:
    return f"{verb} INTO writes {_WRITE_COLUMNS} VALUES {', '.join([_WRITE_ROW] * rows)}"


# INSERT_WRITES[replace][rows]: the statement for `rows` writes (index 0 unused).
INSERT_WRITES: Final = {
    replace: [_insert_writes(verb, rows) for rows in range(MAX_WRITES_PER_STATEMENT + 1)]
    for replace, verb in ((True, "INSERT OR REPLACE"), (False, "INSERT OR IGNORE"))
}

DELETE_THREAD_CHECKPOINTS: Final = "DELETE FROM checkpoints WHERE thread_id = ?"
DELETE_THREAD_WRITES: Final = "DELETE FROM writes WHERE thread_id = ?"
DELETE_CHECKPOINT: Final = (
    "DELETE FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id = ?"
)
DELETE_CHECKPOINT_WRITES: Final = (
    "DELETE FROM writes WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id = ?"
)
COUNT_CHECKPOINT_WRITES: Final = (
    "SELECT COUNT(*) FROM writes WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id = ?"
)

COPY_THREAD_CHECKPOINTS: Final = (
    "INSERT OR REPLACE INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, "
    "parent_checkpoint_id, type, checkpoint, metadata, created_at) "
    "SELECT ?, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, "
    "checkpoint, metadata, created_at FROM checkpoints WHERE thread_id = ?"
)
COPY_THREAD_WRITES: Final = (
    "INSERT OR REPLACE INTO writes (thread_id, checkpoint_ns, checkpoint_id, "
    "task_id, task_path, idx, channel, type, value) "
    "SELECT ?, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, "
    "type, value FROM writes WHERE thread_id = ?"
)

# Metadata is stored as a BLOB; json functions need it as text. A row whose
# metadata is not valid JSON (json.dumps writes NaN) would make json_extract
# raise and fail the whole query, so every json_extract is behind json_valid,
# inside a CASE, which SQLite evaluates in order.
METADATA_TEXT: Final = "CAST(metadata AS TEXT)"

SELECT_RUN_CHECKPOINTS: Final = (
    "SELECT thread_id, checkpoint_ns, checkpoint_id FROM checkpoints "
    f"WHERE CASE WHEN json_valid({METADATA_TEXT}) "
    f"THEN json_extract({METADATA_TEXT}, '$.run_id') END IN "
    "(SELECT value FROM json_each(?))"
)

SELECT_THREAD_NAMESPACES: Final = (
    "SELECT DISTINCT checkpoint_ns FROM checkpoints WHERE thread_id = ?"
)
SELECT_NON_LATEST_OF_THREAD: Final = (
    "SELECT thread_id, checkpoint_ns, checkpoint_id FROM checkpoints AS c "
    "WHERE thread_id = ? AND checkpoint_id < (SELECT MAX(checkpoint_id) "
    "FROM checkpoints WHERE thread_id = c.thread_id "
    "AND checkpoint_ns = c.checkpoint_ns)"
)

# -- time to live: a thread expires when its newest checkpoint (in any
# namespace) was created before a cutoff. The sweep lists candidates without a
# lock, then checks each again (THREAD_IS_EXPIRED) inside the write transaction
# that deletes it, so a thread written to meanwhile is left alone.

# Threads whose newest checkpoint is older than the cutoff (parameters: the
# cutoff, twice), in id order. The created_at index finds the threads with an
# old checkpoint; only those are grouped.
_EXPIRED_THREADS: Final = (
    "SELECT thread_id FROM checkpoints "
    "WHERE thread_id IN (SELECT thread_id FROM checkpoints WHERE created_at < ?) "
    "GROUP BY thread_id HAVING MAX(created_at) < ?"
)
SELECT_EXPIRED_THREADS: Final = f"{_EXPIRED_THREADS} ORDER BY thread_id"
# The same, but only threads with something to prune: more checkpoints than
# namespaces (each namespace keeps its newest).
SELECT_PRUNABLE_EXPIRED_THREADS: Final = (
    f"{_EXPIRED_THREADS} AND COUNT(*) > COUNT(DISTINCT checkpoint_ns) ORDER BY thread_id"
)
# 1 when the thread's newest checkpoint is older than the cutoff, 0 when not,
# NULL when the thread has no checkpoint; parameters: the cutoff, thread_id.
THREAD_IS_EXPIRED: Final = "SELECT MAX(created_at) < ? FROM checkpoints WHERE thread_id = ?"
COUNT_THREAD_CHECKPOINTS: Final = "SELECT COUNT(*) FROM checkpoints WHERE thread_id = ?"
COUNT_THREAD_WRITES: Final = "SELECT COUNT(*) FROM writes WHERE thread_id = ?"

# For the delta-ancestry walk: every checkpoint of one namespace, without
# blobs, with the channels its DeltaChannel counters name (JSON object text).
SELECT_NAMESPACE_LINEAGE: Final = (
    "SELECT checkpoint_id, parent_checkpoint_id, "
    f"CASE WHEN json_valid({METADATA_TEXT}) "
    f"THEN json_extract({METADATA_TEXT}, '$.counters_since_delta_snapshot') END "
    "FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = ?"
)
SELECT_CHECKPOINT_BLOB: Final = (
    "SELECT type, checkpoint FROM checkpoints "
    "WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id = ?"
)

# Stage 1 of delta_history (parameters: thread_id, checkpoint_ns, target id):
# the target's ancestors, nearest first, following parent ids (ids are not
# ordered across processes). CROSS JOIN keeps `ancestors` the outer loop so
# each step is one primary-key lookup. The recursion carries ids only and each
# row's blob is fetched by key as it is read: carrying the blobs made SQLite
# copy every one (the target's too, never used) through the recursion's queue,
# most of the query's time. Rows are produced lazily: the caller stops reading
# once every channel has its seed, and that ends the recursion (and a loop
# made by re-put ids).
SELECT_ANCESTORS: Final = (
    "WITH RECURSIVE ancestors(checkpoint_id, parent_checkpoint_id) AS ("
    "SELECT p.checkpoint_id, p.parent_checkpoint_id "
    "FROM checkpoints AS t CROSS JOIN checkpoints AS p "
    "ON p.thread_id = t.thread_id AND p.checkpoint_ns = t.checkpoint_ns "
    "AND p.checkpoint_id = t.parent_checkpoint_id "
    "WHERE t.thread_id = ?1 AND t.checkpoint_ns = ?2 AND t.checkpoint_id = ?3 "
    "UNION ALL "
    "SELECT c.checkpoint_id, c.parent_checkpoint_id "
    "FROM ancestors AS a CROSS JOIN checkpoints AS c "
    "ON c.checkpoint_id = a.parent_checkpoint_id "
    "WHERE c.thread_id = ?1 AND c.checkpoint_ns = ?2) "
    "SELECT a.checkpoint_id, c.type, c.checkpoint "
    "FROM ancestors AS a CROSS JOIN checkpoints AS c "
    "ON c.thread_id = ?1 AND c.checkpoint_ns = ?2 AND c.checkpoint_id = a.checkpoint_id"
)

# -- compact storage (see the compact module) -----------------------------------
#
# A compact file has two more tables: the chunks, numbered per thread and found
# again by digest, and one row whose generation a sweep bumps. The second
# table's presence marks the file compact. SqliteSaver never looks at either.

CHUNKS_TABLE: Final = "fast_langgraph_chunks"
COMPACT_MARK_TABLE: Final = "fast_langgraph_compact"
COMPACT_DDL: Final = (
    f"""CREATE TABLE IF NOT EXISTS {CHUNKS_TABLE} (
    thread_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    digest BLOB NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (thread_id, seq)
) WITHOUT ROWID""",
    f"CREATE UNIQUE INDEX IF NOT EXISTS {CHUNKS_TABLE}_digest ON {CHUNKS_TABLE} (thread_id, digest)",
    f"CREATE TABLE IF NOT EXISTS {COMPACT_MARK_TABLE} (generation INTEGER NOT NULL)",
    f"INSERT INTO {COMPACT_MARK_TABLE} (generation) "
    f"SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM {COMPACT_MARK_TABLE})",
)
SELECT_CHUNK_GENERATION: Final = f"SELECT generation FROM {COMPACT_MARK_TABLE}"
BUMP_CHUNK_GENERATION: Final = f"UPDATE {COMPACT_MARK_TABLE} SET generation = generation + 1"
SELECT_CHUNK_RANGE: Final = (
    f"SELECT seq, value FROM {CHUNKS_TABLE} WHERE thread_id = ? AND seq BETWEEN ? AND ?"
)
SELECT_THREAD_CHUNKS: Final = f"SELECT seq, value FROM {CHUNKS_TABLE} WHERE thread_id = ?"
SELECT_THREAD_CHUNK_SEQS: Final = f"SELECT seq FROM {CHUNKS_TABLE} WHERE thread_id = ?"
SELECT_THREAD_CHUNK_DIGESTS: Final = f"SELECT digest, seq FROM {CHUNKS_TABLE} WHERE thread_id = ?"
SELECT_THREAD_CHUNK_ROWS: Final = (
    f"SELECT seq, digest, value FROM {CHUNKS_TABLE} WHERE thread_id = ? ORDER BY seq"
)
SELECT_NEXT_CHUNK: Final = (
    f"SELECT COALESCE(MAX(seq), 0) + 1 FROM {CHUNKS_TABLE} WHERE thread_id = ?"
)
SELECT_CHUNK_BY_DIGEST: Final = f"SELECT seq FROM {CHUNKS_TABLE} WHERE thread_id = ? AND digest = ?"
INSERT_CHUNK: Final = (
    f"INSERT OR IGNORE INTO {CHUNKS_TABLE} (thread_id, seq, digest, value) VALUES (?, ?, ?, ?)"
)
SELECT_CHUNK_THREADS: Final = f"SELECT DISTINCT thread_id FROM {CHUNKS_TABLE}"
DELETE_CHUNK: Final = f"DELETE FROM {CHUNKS_TABLE} WHERE thread_id = ? AND seq = ?"
DELETE_THREAD_CHUNKS: Final = f"DELETE FROM {CHUNKS_TABLE} WHERE thread_id = ?"
SELECT_THREAD_COMPACT_BLOBS: Final = (
    "SELECT checkpoint FROM checkpoints WHERE thread_id = ? AND type = ?"
)
SELECT_THREAD_COMPACT_ROWS: Final = (
    "SELECT checkpoint_ns, checkpoint_id, checkpoint FROM checkpoints "
    "WHERE thread_id = ? AND type = ?"
)
UPDATE_CHECKPOINT_BLOB: Final = (
    "UPDATE checkpoints SET checkpoint = ? "
    "WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id = ?"
)
SELECT_CHUNK_BYTES_BY_THREAD: Final = (
    f"SELECT thread_id, SUM(LENGTH(value)) FROM {CHUNKS_TABLE} GROUP BY thread_id"
)


# -- rows as stored, for `fast-langgraph convert` --------------------------------
# Keyset pages in primary-key order; created_at travels with its row (a file
# without the column, opened read-only, dates rows from their ids).

STORED_ROW_COLUMNS: Final = (
    "thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata"
)


def select_stored_rows(*, has_created_at: bool, first: bool) -> str:
    """Parameters: the last key of the previous page (none for the `first`), the limit."""
    created = "created_at" if has_created_at else f"{CREATED_AT_FROM_ID_FUNCTION}(checkpoint_id)"
    after = "" if first else "WHERE (thread_id, checkpoint_ns, checkpoint_id) > (?, ?, ?) "
    return (
        f"SELECT {STORED_ROW_COLUMNS}, {created} FROM checkpoints {after}"
        "ORDER BY thread_id, checkpoint_ns, checkpoint_id LIMIT ?"
    )


INSERT_STORED_ROW: Final = (
    f"INSERT INTO checkpoints ({STORED_ROW_COLUMNS}, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def select_stored_writes(*, has_task_path: bool, first: bool) -> str:
    """Parameters: the last key of the previous page (none for the `first`), the limit."""
    task_path = "task_path" if has_task_path else "''"
    after = (
        ""
        if first
        else "WHERE (thread_id, checkpoint_ns, checkpoint_id, task_id, idx) > (?, ?, ?, ?, ?) "
    )
    return (
        f"SELECT thread_id, checkpoint_ns, checkpoint_id, task_id, {task_path}, idx, channel, "
        f"type, value FROM writes {after}"
        "ORDER BY thread_id, checkpoint_ns, checkpoint_id, task_id, idx LIMIT ?"
    )


COUNT_BY_THREAD: Final = (
    "SELECT thread_id, SUM(c), SUM(w) FROM ("
    "SELECT thread_id, COUNT(*) AS c, 0 AS w FROM checkpoints GROUP BY thread_id "
    "UNION ALL SELECT thread_id, 0, COUNT(*) FROM writes GROUP BY thread_id) "
    "GROUP BY thread_id"
)


def is_compact(conn: sqlite3.Connection) -> bool:
    return bool(
        conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (COMPACT_MARK_TABLE,)
        ).fetchone()
    )


def has_checkpoints(conn: sqlite3.Connection) -> bool:
    if not table_columns(conn, "checkpoints"):
        return False
    return conn.execute("SELECT 1 FROM checkpoints LIMIT 1").fetchone() is not None


def make_compact(conn: sqlite3.Connection) -> None:
    """Add the compact tables (one transaction; a no-op on a compact file)."""
    in_transaction = conn.in_transaction
    if not in_transaction:
        conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in COMPACT_DDL:
            conn.execute(statement)
        if not in_transaction:
            conn.execute("COMMIT")
    except BaseException:
        if not in_transaction and conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


PAGE_COUNT: Final = "PRAGMA page_count"
PAGE_SIZE: Final = "PRAGMA page_size"


@final
class Queries:
    """The statements whose text depends on the columns a file has.

    Writable files always have every column (we migrate them); a file opened
    read-only may be a SqliteSaver file without `created_at`, or an older one
    without `writes.task_path`, and must still be readable.
    """

    __slots__ = (
        "has_created_at",
        "has_task_path",
        "select_ancestor_writes",
        "select_largest_threads",
        "select_largest_threads_compact",
        "select_page_writes",
        "select_totals",
        "select_totals_compact",
        "select_writes",
    )

    def __init__(self, has_task_path: bool, has_created_at: bool) -> None:
        self.has_task_path = has_task_path
        self.has_created_at = has_created_at
        task_path = "task_path" if has_task_path else "''"
        page_task_path = "w.task_path" if has_task_path else "''"
        created_at = "created_at" if has_created_at else "NULL"
        self.select_writes: Final = (
            f"SELECT task_id, channel, type, value, {task_path}, idx FROM writes "
            "WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id = ?"
        )
        # The writes of a whole page in one query. The page's keys come as one
        # JSON array of [thread_id, checkpoint_ns, checkpoint_id] triples, so the
        # statement text is constant and no page size hits the parameter limit.
        self.select_page_writes: Final = (
            "WITH page(thread_id, checkpoint_ns, checkpoint_id) AS ("
            "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), "
            "json_extract(value, '$[2]') FROM json_each(?)) "
            "SELECT w.thread_id, w.checkpoint_ns, w.checkpoint_id, w.task_id, "
            f"w.channel, w.type, w.value, {page_task_path}, w.idx "
            "FROM page AS p CROSS JOIN writes AS w "
            "ON w.thread_id = p.thread_id AND w.checkpoint_ns = p.checkpoint_ns "
            "AND w.checkpoint_id = p.checkpoint_id"
        )
        # Stage 2 of delta_history: the writes on the walked chain for the
        # wanted channels (JSON arrays of checkpoint ids and of channels); the
        # caller keeps each channel's writes on its own part of the chain.
        self.select_ancestor_writes: Final = (
            f"SELECT checkpoint_id, channel, task_id, idx, type, value, {task_path} "
            "FROM writes WHERE thread_id = ? AND checkpoint_ns = ? "
            "AND checkpoint_id IN (SELECT value FROM json_each(?)) "
            "AND channel IN (SELECT value FROM json_each(?))"
        )
        # One row per thread, from blob lengths only (never decoded); in a
        # compact file its chunks count too.
        chunk_bytes = (
            f"UNION ALL SELECT thread_id, 0, 0, SUM(length(value)), NULL, NULL "
            f"FROM {CHUNKS_TABLE} GROUP BY thread_id "
        )
        per_thread = (
            "SELECT thread_id, SUM(checkpoints) AS checkpoints, "
            "SUM(writes) AS writes, SUM(bytes) AS bytes, "
            "MAX(latest_checkpoint_id) AS latest_checkpoint_id, "
            "MAX(latest_created_at) AS latest_created_at FROM ("
            "SELECT thread_id, COUNT(*) AS checkpoints, 0 AS writes, "
            "SUM(COALESCE(length(checkpoint), 0) + COALESCE(length(metadata), 0)) "
            "AS bytes, MAX(checkpoint_id) AS latest_checkpoint_id, "
            f"MAX({created_at}) AS latest_created_at "
            "FROM checkpoints GROUP BY thread_id "
            "UNION ALL "
            "SELECT thread_id, 0, COUNT(*), SUM(COALESCE(length(value), 0)), "
            "NULL, NULL FROM writes GROUP BY thread_id "
            "{chunks}) GROUP BY thread_id"
        )
        per_thread_compact = per_thread.format(chunks=chunk_bytes)
        per_thread = per_thread.format(chunks="")
        # (thread_id, checkpoints, writes, bytes, latest_checkpoint_id,
        # latest_created_at) of the LIMIT ? largest threads.
        self.select_largest_threads: Final = (
            f"{per_thread} ORDER BY bytes DESC, thread_id ASC LIMIT ?"
        )
        self.select_largest_threads_compact: Final = (
            f"{per_thread_compact} ORDER BY bytes DESC, thread_id ASC LIMIT ?"
        )
        # (threads, checkpoints, writes, bytes) over the whole file.
        totals = (
            "SELECT COUNT(*), COALESCE(SUM(checkpoints), 0), "
            "COALESCE(SUM(writes), 0), COALESCE(SUM(bytes), 0) FROM ({per_thread})"
        )
        self.select_totals: Final = totals.format(per_thread=per_thread)
        self.select_totals_compact: Final = totals.format(per_thread=per_thread_compact)

    def select_expired(self, keep_latest: bool) -> str:
        """Keys of the checkpoints created before `?`, sparing each namespace's
        newest when `keep_latest`. Without a `created_at` column (a file opened
        read-only) each checkpoint is dated from its id, which needs
        `register_created_at_from_id` on the connection."""
        created_at = (
            "created_at" if self.has_created_at else f"{CREATED_AT_FROM_ID_FUNCTION}(checkpoint_id)"
        )
        sql = (
            "SELECT thread_id, checkpoint_ns, checkpoint_id FROM checkpoints AS c "
            f"WHERE {created_at} < ?"
        )
        if keep_latest:
            sql += (
                " AND checkpoint_id < (SELECT MAX(checkpoint_id) FROM checkpoints "
                "WHERE thread_id = c.thread_id AND checkpoint_ns = c.checkpoint_ns)"
            )
        return sql

    def select_expired_namespaces(self, keep_latest: bool) -> str:
        """(thread_id, checkpoint_ns, number of expired checkpoints) for every
        namespace holding some, in key order; parameter: created_before."""
        return (
            "SELECT thread_id, checkpoint_ns, COUNT(*) FROM "
            f"({self.select_expired(keep_latest)}) "
            "GROUP BY thread_id, checkpoint_ns ORDER BY thread_id, checkpoint_ns"
        )

    def select_expired_in_namespace(self, keep_latest: bool) -> str:
        """`select_expired` within one namespace; parameters: created_before,
        thread_id, checkpoint_ns."""
        return f"{self.select_expired(keep_latest)} AND thread_id = ? AND checkpoint_ns = ?"


def select_page(
    by_thread: bool,
    by_namespace: bool,
    by_checkpoint_id: bool,
    filters: int,
    before: bool,
    after: bool,
) -> str:
    """The list query; parameters in the order of the arguments: thread_id,
    checkpoint_ns, checkpoint_id, (path, value) per filter, before_id, the
    page cursor (checkpoint_id, thread_id, checkpoint_ns), then LIMIT."""
    wheres: list[str] = []
    if by_thread:
        wheres.append("thread_id = ?")
    if by_namespace:
        wheres.append("checkpoint_ns = ?")
    if by_checkpoint_id:
        wheres.append("checkpoint_id = ?")
    if filters:
        matches = " AND ".join([f"json_extract({METADATA_TEXT}, ?) IS ?"] * filters)
        wheres.append(f"CASE WHEN json_valid({METADATA_TEXT}) THEN ({matches}) ELSE 0 END")
    if before:
        wheres.append("checkpoint_id < ?")
    if after:
        wheres.append("(checkpoint_id, thread_id, checkpoint_ns) < (?, ?, ?)")
    where = f"WHERE {' AND '.join(wheres)} " if wheres else ""
    # The page is chosen by keys alone (the primary-key index covers them), then
    # its rows are fetched by rowid: sorting whole rows would copy every blob of
    # the thread into SQLite's sorter on each call.
    return (
        f"SELECT {CHECKPOINT_COLUMNS} FROM checkpoints WHERE rowid IN ("
        f"SELECT rowid FROM checkpoints {where}{_PAGE_ORDER} LIMIT ?) {_PAGE_ORDER}"
    )


_PAGE_ORDER: Final = "ORDER BY checkpoint_id DESC, thread_id DESC, checkpoint_ns DESC"
