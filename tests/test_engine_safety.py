"""The engine never harms a file it should not touch, and fails whole.

- Another application's `checkpoints` or `writes` table: opening refuses the file,
  whatever way it is opened, and changes nothing (not even the journal mode).
- The delta-ancestry walk of prune, cleanup and delete_for_runs is linear on a long
  parent chain and keeps exactly what the original (quadratic) walk kept.
- put_writes refuses a channel or task id that SQLite would silently drop.
- A decode failure or Ctrl-C inside a deleting operation rolls it back whole.
"""

from __future__ import annotations

import _thread
import hashlib
import json
import random
import shutil
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import Checkpoint, empty_checkpoint
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

import fast_langgraph_pure
from conftest import dump_tables
from fast_langgraph import RustSQLiteCheckpointer, _selector
from fast_langgraph_pure import _interrupt, storage

CODEC = _selector.codec_for(JsonPlusSerializer()).codec


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def folder_state(path: Path) -> tuple[str, list[str]]:
    """The file's bytes and the names of everything beside it (-wal, -shm, -journal)."""
    return digest(path), sorted(p.name for p in path.parent.iterdir())


def contents(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the checkpoint tables, read by a connection that, being the
    last one on the file, removes its -wal and -shm on closing (a read-only one
    would leave them behind)."""
    with closing(sqlite3.connect(path)) as conn:
        return {
            table: sorted(conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
            for table in ("checkpoints", "writes")
        }


def new_checkpoint(**channel_values: Any) -> Checkpoint:
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = dict(channel_values)
    return checkpoint


# -- another application's tables --------------------------------------------------------------

# (name, DDL, a row): tables other applications (or langgraph before 0.2) made.
FOREIGN_TABLES = {
    "other-app-checkpoints": (
        "CREATE TABLE checkpoints (id INTEGER PRIMARY KEY, name TEXT NOT NULL, saved_at TEXT)",
        "INSERT INTO checkpoints (name, saved_at) VALUES ('level 3', '2024-01-01')",
    ),
    "other-app-writes": (
        "CREATE TABLE writes (id INTEGER PRIMARY KEY, author TEXT, body TEXT)",
        "INSERT INTO writes (author, body) VALUES ('ann', 'chapter one')",
    ),
    "extra-column": (
        storage.CREATE_CHECKPOINTS.replace("metadata BLOB,", "metadata BLOB, owner TEXT,"),
        "INSERT INTO checkpoints (thread_id, checkpoint_id, owner) VALUES ('t', 'c', 'me')",
    ),
    "missing-column": (
        storage.CREATE_WRITES.replace("type TEXT,", ""),
        "INSERT INTO writes (thread_id, checkpoint_id, task_id, idx, channel) "
        "VALUES ('t', 'c', 'task', 0, 'ch')",
    ),
    "langgraph-0.1": (
        "CREATE TABLE checkpoints (thread_id TEXT NOT NULL, thread_ts TEXT NOT NULL, "
        "parent_ts TEXT, checkpoint BLOB, metadata BLOB, PRIMARY KEY (thread_id, thread_ts))",
        "INSERT INTO checkpoints VALUES ('t', '2024-05-04T06:32:42.235444+00:00', NULL, x'00', x'')",
    ),
}


def make_foreign_file(path: Path, kind: str, journal_mode: str) -> None:
    ddl, insert = FOREIGN_TABLES[kind]
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(f"PRAGMA journal_mode = {journal_mode}").fetchall()
        conn.execute(ddl)
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.execute(insert)
        conn.execute("PRAGMA user_version = 7")  # the other application's own version
        conn.commit()


def open_path(path: Path) -> None:
    fast_langgraph_pure.Engine(str(path)).close()


def open_read_only(path: Path) -> None:
    fast_langgraph_pure.Engine(str(path), read_only=True).close()


def open_saver(path: Path) -> None:
    RustSQLiteCheckpointer(path).close()


def open_saver_read_only(path: Path) -> None:
    RustSQLiteCheckpointer(str(path), read_only=True).close()


def open_from_conn_string(path: Path) -> None:
    with RustSQLiteCheckpointer.from_conn_string(str(path)):
        pass


def open_callers_connection(path: Path) -> None:
    with closing(sqlite3.connect(path, check_same_thread=False)) as conn:
        try:
            RustSQLiteCheckpointer(conn).close()
        finally:
            # The caller's connection is still theirs, open and usable.
            assert conn.execute("SELECT COUNT(*) FROM notes").fetchone() == (0,)


def open_callers_connection_engine(path: Path) -> None:
    with closing(sqlite3.connect(path, check_same_thread=False, isolation_level=None)) as conn:
        fast_langgraph_pure.Engine.from_connection(conn, durability="full").close()


OPENERS: dict[str, Callable[[Path], None]] = {
    "path": open_path,
    "read_only": open_read_only,
    "saver": open_saver,
    "saver-read_only": open_saver_read_only,
    "from_conn_string": open_from_conn_string,
    "callers-connection": open_callers_connection,
    "engine-from_connection": open_callers_connection_engine,
}


@pytest.mark.parametrize("journal_mode", ["delete", "wal"])
@pytest.mark.parametrize("opener", sorted(OPENERS))
@pytest.mark.parametrize("kind", sorted(FOREIGN_TABLES))
def test_another_applications_tables_are_refused_and_left_alone(
    tmp_path: Path, kind: str, opener: str, journal_mode: str
) -> None:
    path = tmp_path / "their.db"
    make_foreign_file(path, kind, journal_mode)
    before = folder_state(path)

    with pytest.raises(storage.ForeignSchemaError) as raised:
        OPENERS[opener](path)

    assert isinstance(raised.value, sqlite3.DatabaseError)
    message = str(raised.value)
    table = "checkpoints" if "checkpoints" in FOREIGN_TABLES[kind][0] else "writes"
    assert str(path) in message and repr(table) in message
    assert "Nothing in the file was changed" in message
    if kind == "langgraph-0.1":
        assert "before 0.2" in message and "thread_ts" in message
    else:
        assert "another application" in message
    if kind == "missing-column":
        assert "no column(s) type" in message
    if kind == "extra-column":
        assert "unexpected column(s) owner" in message
    # Not a byte changed, no -wal, -shm or -journal left behind.
    assert folder_state(path) == before
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == (journal_mode,)
        assert storage.user_version(conn) == 7


def test_a_foreign_table_in_memory_is_refused(tmp_path: Path) -> None:
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    conn.execute(FOREIGN_TABLES["other-app-writes"][0])
    with pytest.raises(storage.ForeignSchemaError, match="the in-memory database"):
        RustSQLiteCheckpointer(conn)
    assert storage.table_columns(conn, "checkpoints") == set()
    conn.close()


def test_migrate_checks_again_under_the_write_lock(tmp_path: Path) -> None:
    """Another process may make its tables between the check on opening and
    the migration: migrate() checks again inside its transaction."""
    path = tmp_path / "their.db"
    make_foreign_file(path, "other-app-checkpoints", "delete")
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA user_version = 0")
        conn.commit()
    before = folder_state(path)
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        with pytest.raises(storage.ForeignSchemaError):
            storage.migrate(conn)
        assert not conn.in_transaction
    assert folder_state(path) == before


def test_a_newer_version_without_our_tables_is_refused_unchanged(tmp_path: Path) -> None:
    """Another application's file that has a user_version of its own, and no
    checkpoint tables at all, is not switched to WAL before being refused."""
    path = tmp_path / "their.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.execute("PRAGMA user_version = 42")
        conn.commit()
    before = folder_state(path)
    with pytest.raises(sqlite3.OperationalError, match="newer") as raised:
        open_path(path)
    assert str(path) in str(raised.value)
    assert folder_state(path) == before


@pytest.mark.parametrize("opener", ["path", "read_only", "engine-from_connection"])
def test_every_sqlitesaver_schema_is_accepted(tmp_path: Path, opener: str) -> None:
    """SqliteSaver's tables with and without `task_path` (older files), with and
    without our `created_at`, or only one of the two tables."""
    variants = {
        "current": (storage.CREATE_CHECKPOINTS, storage.CREATE_WRITES),
        "no-task_path": (
            storage.CREATE_CHECKPOINTS,
            storage.CREATE_WRITES.replace("task_path TEXT NOT NULL DEFAULT '',", ""),
        ),
        "only-checkpoints": (storage.CREATE_CHECKPOINTS,),
        "with-created_at": (
            storage.CREATE_CHECKPOINTS,
            storage.CREATE_WRITES,
            storage.ADD_CHECKPOINTS_CREATED_AT,
        ),
    }
    for name, statements in variants.items():
        path = tmp_path / f"{name}.db"
        with closing(sqlite3.connect(path)) as conn:
            for statement in statements:
                conn.execute(statement)
            conn.commit()
        OPENERS[opener](path)


def test_the_known_columns_are_those_the_schema_makes() -> None:
    """KNOWN_COLUMNS (what a file may have) agrees with the DDL and the ladder."""
    with closing(sqlite3.connect(":memory:")) as conn:
        for statement in storage.BASE_SCHEMA:
            conn.execute(statement)
        fresh = {table: storage.table_columns(conn, table) for table in storage.KNOWN_COLUMNS}
        for step in storage.MIGRATIONS:
            step(conn)
        migrated = {table: storage.table_columns(conn, table) for table in storage.KNOWN_COLUMNS}
    for table, (required, optional) in storage.KNOWN_COLUMNS.items():
        assert required <= fresh[table] <= required | optional
        assert migrated[table] == required | optional


# -- the delta-ancestry walk --------------------------------------------------------------------


def reference_needed(
    parents: dict[str, str | None],
    delta_channels: dict[str, list[str]],
    stored: dict[str, set[str]],
    doomed: set[str],
) -> set[str]:
    """The walk as it was before it was made linear (quadratic on a long chain):
    what the engine must still keep, checkpoint for checkpoint."""
    needed: set[str] = set()
    to_walk = [cid for cid in parents if cid not in doomed and cid in delta_channels]
    queued = set(to_walk)
    while to_walk:
        start = to_walk.pop()
        seeking = set(delta_channels[start])
        walked = {start}
        ancestor = parents[start]
        while seeking and ancestor is not None and ancestor in parents and ancestor not in walked:
            walked.add(ancestor)
            needed.add(ancestor)
            if ancestor in delta_channels and ancestor not in queued:
                queued.add(ancestor)
                to_walk.append(ancestor)
            seeking -= stored[ancestor]
            ancestor = parents[ancestor]
    return needed


def random_namespace(rng: random.Random, size: int) -> list[tuple[str, str | None, Any, Any]]:
    """(id, parent id, stored channel_values, counters) for one namespace: chains,
    branches, roots, parents elsewhere, loops and self-parents made by re-put ids,
    snapshots and DeltaChannel counters at random."""
    ids = [f"c{n:03d}" for n in range(size)]
    result: list[tuple[str, str | None, Any, Any]] = []
    for n, cid in enumerate(ids):
        roll = rng.random()
        parent: str | None
        if n == 0 or roll < 0.08:
            parent = None
        elif roll < 0.14:
            parent = rng.choice(ids)  # a later id (a loop) or itself
        elif roll < 0.18:
            parent = f"gone-{n}"  # a parent deleted earlier, or in another namespace
        else:
            parent = ids[n - 1 - rng.randrange(min(n, 3))]
        values = {channel: n for channel in ("a", "b", "c") if rng.random() < 0.2}
        values["other"] = n
        roll = rng.random()
        counters: Any
        if roll < 0.6:
            counters = {ch: [n, n] for ch in ("a", "b", "c") if rng.random() < 0.6}
        elif roll < 0.7:
            counters = ["not", "a", "dict"]
        else:
            counters = None
        result.append((cid, parent, values, counters))
    return result


def fill(
    engine: fast_langgraph_pure.Engine, thread_id: str, checkpoint_ns: str, namespace: list[Any]
) -> None:
    for n, (cid, parent, values, counters) in enumerate(namespace):
        metadata: dict[str, Any] = {"run_id": f"run-{n % 4}"}
        if counters is not None:
            metadata["counters_since_delta_snapshot"] = counters
        checkpoint = new_checkpoint(**values)
        checkpoint["id"] = cid
        engine.put(thread_id, checkpoint_ns, cid, parent, checkpoint, metadata, CODEC)
        engine.put_writes(thread_id, checkpoint_ns, cid, "task", "", [(0, "a", n)], False, CODEC)


def expected_survivors(namespace: list[Any], doomed: set[str]) -> set[str]:
    parents = {cid: parent for cid, parent, _values, _counters in namespace}
    delta = {
        cid: list(counters)
        for cid, _parent, _values, counters in namespace
        if isinstance(counters, dict) and counters
    }
    stored = {cid: set(values) for cid, _parent, values, _counters in namespace}
    needed = reference_needed(parents, delta, stored, doomed)
    return set(parents) - (doomed - needed)


def survivors_after(
    namespace: list[Any], operation: Callable[[fast_langgraph_pure.Engine], Any]
) -> dict[str, set[str]]:
    """The ids left in each of two namespaces (the same checkpoints in both)
    after `operation` on a fresh database."""
    engine = fast_langgraph_pure.Engine(":memory:")
    for checkpoint_ns in ("", "sub"):
        fill(engine, "t", checkpoint_ns, namespace)
    operation(engine)
    left = {
        checkpoint_ns: {
            row[2]
            for row in engine.list_page("t", checkpoint_ns, None, [], None, None, 10_000, CODEC)
        }
        for checkpoint_ns in ("", "sub")
    }
    engine.close()
    return left


@pytest.mark.parametrize("seed", range(80))
def test_the_walk_keeps_exactly_what_the_quadratic_walk_kept(seed: int) -> None:
    rng = random.Random(seed)
    namespace = random_namespace(rng, rng.randrange(2, 40))
    ids = {cid for cid, _parent, _values, _counters in namespace}
    not_latest = ids - {max(ids)}
    runs = sorted(f"run-{n}" for n in range(4) if rng.random() < 0.5)
    by_run = {cid for n, (cid, *_rest) in enumerate(namespace) if f"run-{n % 4}" in runs}
    cases: list[tuple[Callable[[fast_langgraph_pure.Engine], Any], set[str]]] = [
        (lambda engine: engine.delete_for_runs(runs, CODEC), by_run),
        (lambda engine: engine.prune(["t"], True, CODEC), not_latest),
        (lambda engine: engine.cleanup("9999-01-01 00:00:00", True, False, CODEC), not_latest),
        (lambda engine: engine.cleanup("9999-01-01 00:00:00", False, False, CODEC), ids),
    ]
    for operation, doomed in cases:
        expected = expected_survivors(namespace, doomed)
        assert survivors_after(namespace, operation) == {"": expected, "sub": expected}


CHAIN_LENGTH = 5000


def chain_file(path: Path, length: int, snapshot_at: int | None) -> list[str]:
    """One thread of `length` chained checkpoints, every one a DeltaChannel
    checkpoint of "msgs" except the snapshot (which stores "msgs"), each with one
    write; all created long ago. Written with plain SQL: it is the walk that is tested."""
    fast_langgraph_pure.Engine(str(path)).close()
    ids = [f"{n:08d}-0000-6000-8000-000000000000" for n in range(length)]
    plain = CODEC.dumps_typed(new_checkpoint(other=1))
    snapshot = CODEC.dumps_typed(new_checkpoint(other=1, msgs=["seed"]))
    write = CODEC.dumps_typed("hi")
    with closing(sqlite3.connect(path)) as conn, conn:
        for n, cid in enumerate(ids):
            counters = {} if n == snapshot_at else {"msgs": [n, n]}
            metadata = {"run_id": f"run-{n}", "counters_since_delta_snapshot": counters}
            type_, blob = snapshot if n == snapshot_at else plain
            conn.execute(
                "INSERT INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, "
                "parent_checkpoint_id, type, checkpoint, metadata, created_at) "
                "VALUES ('t', '', ?, ?, ?, ?, ?, '2000-01-01 00:00:00.000')",
                (cid, ids[n - 1] if n else None, type_, blob, json.dumps(metadata).encode()),
            )
            conn.execute(
                "INSERT INTO writes (thread_id, checkpoint_ns, checkpoint_id, task_id, "
                "task_path, idx, channel, type, value) VALUES ('t', '', ?, 'task', '', 0, "
                "'msgs', ?, ?)",
                (cid, *write),
            )
    return ids


def chain_survivors(path: Path) -> list[str]:
    with closing(sqlite3.connect(path)) as conn:
        return [row[0] for row in conn.execute("SELECT checkpoint_id FROM checkpoints ORDER BY 1")]


@pytest.mark.parametrize("snapshot_at", [None, 1234])
@pytest.mark.parametrize("operation", ["prune", "cleanup", "delete_for_runs"])
def test_a_long_chain_keeps_the_whole_ancestry(
    tmp_path: Path, operation: str, snapshot_at: int | None
) -> None:
    """5,000 chained delta checkpoints: every survivor needs its ancestors back
    to the snapshot (or the root). The quadratic walk took seconds here."""
    path = tmp_path / "chain.db"
    ids = chain_file(path, CHAIN_LENGTH, snapshot_at)
    first_needed = snapshot_at or 0
    engine = fast_langgraph_pure.Engine(str(path))
    if operation == "prune":
        engine.prune(["t"], True, CODEC)
        expected = ids[first_needed:]
    elif operation == "cleanup":
        counts = engine.cleanup("2001-01-01 00:00:00", True, False, CODEC)
        expected = ids[first_needed:]
        assert counts == {"checkpoints": first_needed, "writes": first_needed}
    else:
        # The newest and one in the middle go; every other survivor still needs
        # the middle one (it is on their way to the snapshot or root) but the
        # newest is nobody's ancestor.
        engine.delete_for_runs([f"run-{CHAIN_LENGTH - 1}", f"run-{CHAIN_LENGTH // 2}"], CODEC)
        expected = ids[:-1]
    history = engine.delta_history("t", "", ids[-2], ["msgs"], CODEC)
    engine.close()
    assert chain_survivors(path) == expected
    assert len(history["msgs"]["writes"]) == CHAIN_LENGTH - 2 - first_needed
    assert history["msgs"].get("seed") == (["seed"] if snapshot_at else None)


# -- put_writes arguments ----------------------------------------------------------------------


def config(thread_id: str = "t", checkpoint_id: str | None = None) -> RunnableConfig:
    configurable: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ""}
    if checkpoint_id:
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable}


@pytest.fixture
def stored(tmp_path: Path) -> Iterator[tuple[RustSQLiteCheckpointer, RunnableConfig, Path]]:
    path = tmp_path / "c.db"
    with RustSQLiteCheckpointer.from_conn_string(str(path)) as saver:
        saved = saver.put(config(), new_checkpoint(), {}, {})
        yield saver, saved, path


BAD_CHANNELS: list[Any] = [None, 5, b"bytes", ("a",), ["a"]]


@pytest.mark.parametrize("count", [2, 40])  # one statement / executemany
@pytest.mark.parametrize("channel", BAD_CHANNELS, ids=repr)
def test_a_write_without_a_str_channel_is_refused_whole(
    stored: tuple[RustSQLiteCheckpointer, RunnableConfig, Path], channel: Any, count: int
) -> None:
    saver, saved, path = stored
    writes: list[Any] = [("ok", n) for n in range(count)]
    writes[count // 2] = (channel, "lost")
    with pytest.raises(TypeError, match=rf"writes\[{count // 2}\].*channel must be a str"):
        saver.put_writes(saved, writes, "task")
    # The same for a batch of special channels (INSERT OR REPLACE).
    with pytest.raises(TypeError, match="channel"):
        saver.put_writes(saved, [("__error__", "x"), (channel, "lost")], "task")
    assert dump_tables(path)["writes"] == []
    saver.put_writes(saved, [("ok", 1)], "task")
    assert len(dump_tables(path)["writes"]) == 1


@pytest.mark.parametrize("argument", ["task_id", "task_path"])
def test_a_none_task_id_or_task_path_is_refused(
    stored: tuple[RustSQLiteCheckpointer, RunnableConfig, Path], argument: str
) -> None:
    saver, saved, path = stored
    arguments: dict[str, Any] = {"task_id": "task", "task_path": "", argument: None}
    with pytest.raises(TypeError, match=argument):
        saver.put_writes(saved, [("ok", 1)], **arguments)
    assert dump_tables(path)["writes"] == []


@pytest.mark.parametrize("channel", BAD_CHANNELS[:3], ids=repr)
@pytest.mark.parametrize("count", [2, 40])
def test_the_engine_refuses_a_channel_that_is_not_a_str(
    tmp_path: Path, channel: Any, count: int
) -> None:
    """Compiled or not, straight into the engine too (compiled, the declared
    types refuse it before our check does)."""
    engine = fast_langgraph_pure.Engine(str(tmp_path / "c.db"))
    writes: list[Any] = [(n, "ok", n) for n in range(count)]
    writes[-1] = (count, channel, "lost")
    for replace in (False, True):
        with pytest.raises(TypeError):
            engine.put_writes("t", "", "c", "task", "", writes, replace, CODEC)
        with pytest.raises(TypeError):
            engine.put_writes("t", "", "c", None, "", writes[:1], replace, CODEC)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            engine.put_writes("t", "", "c", "task", None, writes[:1], replace, CODEC)  # type: ignore[arg-type]
    with closing(engine.connection.cursor()) as cursor:
        assert cursor.execute("SELECT COUNT(*) FROM writes").fetchone() == (0,)
    engine.close()


# -- failures inside a deleting operation --------------------------------------------------------


class FailingSerializer(JsonPlusSerializer):
    """Writes as JsonPlusSerializer; fails (`error`) on the `after`-th decode."""

    def __init__(self, error: BaseException, after: int = 0) -> None:
        super().__init__()
        self.error = error
        self.after = after
        self.decodes = 0

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        self.decodes += 1
        if self.decodes > self.after:
            raise self.error
        return super().loads_typed(data)


def delta_file(path: Path, length: int = 30) -> list[str]:
    """Two threads of chained DeltaChannel checkpoints (no snapshot), each with
    a write, all created long ago; closed, so the file alone holds everything."""
    with RustSQLiteCheckpointer.from_conn_string(str(path)) as saver:
        ids: list[str] = []
        for thread_id in ("t", "u"):
            parent = config(thread_id)
            for step in range(length):
                metadata: Any = {"run_id": f"run-{step}", "step": step}
                if step:
                    metadata["counters_since_delta_snapshot"] = {"msgs": [step, step]}
                checkpoint = new_checkpoint(other=step)
                parent = saver.put(parent, checkpoint, metadata, {})
                saver.put_writes(parent, [("msgs", step)], "task")
                ids.append(checkpoint["id"])
        saver.conn.execute("UPDATE checkpoints SET created_at = '2000-01-01 00:00:00.000'")
    return ids


DELETING_OPERATIONS: dict[str, Callable[[RustSQLiteCheckpointer], Any]] = {
    "prune": lambda saver: saver.prune(["t", "u"]),
    "delete_for_runs": lambda saver: saver.delete_for_runs(["run-3", "run-29"]),
    "cleanup": lambda saver: saver.cleanup(timedelta(days=1)),
    "sweep_expired": lambda saver: saver.sweep_expired(
        {"strategy": "keep_latest", "default_ttl": 1.0}
    ),
}


@pytest.mark.parametrize("error", [ValueError("cannot decode"), KeyboardInterrupt()], ids=repr)
@pytest.mark.parametrize("after", [0, 10])
@pytest.mark.parametrize("operation", sorted(DELETING_OPERATIONS))
def test_a_decode_failure_rolls_the_operation_back(
    tmp_path: Path, operation: str, after: int, error: BaseException
) -> None:
    path = tmp_path / "delta.db"
    delta_file(path)
    before = folder_state(path)
    tables = contents(path)
    serde = FailingSerializer(error, after)

    saver = RustSQLiteCheckpointer(str(path), serde=serde)
    try:
        assert saver.implementation == "python"  # the serializer runs as given
        with pytest.raises(type(error)):
            DELETING_OPERATIONS[operation](saver)
        assert serde.decodes == after + 1
    finally:
        saver.close()
    assert contents(path) == tables
    assert folder_state(path) == before


def test_a_decode_failure_on_a_callers_connection_in_a_transaction(tmp_path: Path) -> None:
    """Inside a transaction the caller left open: our part is undone, theirs stays."""
    path = tmp_path / "delta.db"
    delta_file(path)
    tables = contents(path)
    conn = sqlite3.connect(path, check_same_thread=False)
    saver = RustSQLiteCheckpointer(conn, serde=FailingSerializer(ValueError("no")))
    conn.execute("CREATE TABLE mine (n INTEGER)")
    conn.execute("INSERT INTO mine VALUES (1)")  # opens the caller's transaction
    with pytest.raises(ValueError):
        saver.prune(["t"])
    assert conn.in_transaction
    conn.commit()
    conn.close()
    assert contents(path) == tables
    with closing(sqlite3.connect(path)) as check:
        assert check.execute("SELECT n FROM mine").fetchall() == [(1,)]


class SlowSerializer(JsonPlusSerializer):
    """Decodes slowly, and says when the first decode started."""

    def __init__(self) -> None:
        super().__init__()
        self.started = threading.Event()

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        self.started.set()
        time.sleep(0.002)
        return super().loads_typed(data)


@pytest.mark.parametrize("operation", ["prune", "delete_for_runs", "cleanup"])
def test_ctrl_c_during_the_walk_rolls_back(tmp_path: Path, operation: str) -> None:
    """A real SIGINT (as Ctrl-C sends) while the walk runs: KeyboardInterrupt
    comes out promptly and the file is as it was."""
    path = tmp_path / "delta.db"
    delta_file(path, length=400)
    before = folder_state(path)
    tables = contents(path)
    serde = SlowSerializer()

    def interrupt() -> None:
        if serde.started.wait(10):
            _thread.interrupt_main()

    saver = RustSQLiteCheckpointer(str(path), serde=serde)
    interrupter = threading.Thread(target=interrupt, daemon=True)
    interrupter.start()
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            DELETING_OPERATIONS[operation](saver)
            time.sleep(5)  # never reached: the interrupt comes during the operation
        elapsed = time.monotonic() - started
    finally:
        interrupter.join()
        saver.close()
    # 400 decodes of 2 ms would take 0.8 s; the interrupt came at the first.
    assert elapsed < 0.5
    assert contents(path) == tables
    assert folder_state(path) == before


def test_the_interrupt_check_stays_interpreted() -> None:
    """Compiled, `_interrupt.check` would never run a signal handler."""
    assert _interrupt.__file__ is not None and _interrupt.__file__.endswith(".py")


@pytest.mark.parametrize("at", ["first", "middle", "last"])
@pytest.mark.parametrize("operation", ["prune", "delete_for_runs", "cleanup"])
def test_ctrl_c_with_the_native_codec_rolls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, operation: str, at: str
) -> None:
    """With the codec a saver on JsonPlusSerializer gets (native when built),
    compiled code runs no bytecode while it walks: the engine checks for Ctrl-C
    after each decode and once more after the deletes, just before the commit.
    SIGINT is raised at the first, middle or last of those checks."""
    length = 300
    source = tmp_path / "source.db"
    chain_file(source, length, None)
    real_check = _interrupt.check
    calls = 0

    def counting() -> None:
        nonlocal calls
        calls += 1
        if calls == fire_at:
            signal.raise_signal(signal.SIGINT)
        real_check()

    def run(path: Path) -> None:
        engine = fast_langgraph_pure.Engine(str(path))
        try:
            if operation == "prune":
                engine.prune(["t"], True, CODEC)
            elif operation == "cleanup":
                engine.cleanup("2001-01-01 00:00:00", True, False, CODEC)
            else:
                engine.delete_for_runs([f"run-{length - 1}"], CODEC)
        finally:
            engine.close()

    monkeypatch.setattr(_interrupt, "check", counting)
    fire_at = 0
    dry = tmp_path / "dry.db"
    shutil.copy(source, dry)
    run(dry)  # counts the checks
    assert calls >= length - 1  # one per decoded ancestor, one after the deletes
    fire_at = {"first": 1, "middle": calls // 2, "last": calls}[at]
    calls = 0
    before = folder_state(source)
    tables = contents(source)
    with pytest.raises(KeyboardInterrupt):
        run(source)
    assert contents(source) == tables
    assert folder_state(source) == before
