"""The file format, engine level: schema, migration, SqliteSaver compatibility.

`fast_langgraph_pure.storage` is the one home of the schema and the migration
ladder. These tests drive the engine directly, with the codec a saver on
JsonPlusSerializer gets in this process (native or Python, whichever loaded).
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import sqlite3
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from langgraph.checkpoint.base import Checkpoint, empty_checkpoint
from langgraph.checkpoint.base import id as checkpoint_id_module
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver

import fast_langgraph_pure
from conftest import read_only_file
from fast_langgraph import _selector
from fast_langgraph_pure import storage

SERDE = JsonPlusSerializer()
# What the engine is given for SERDE: the codec the selector picks for it.
CODEC = _selector.codec_for(SERDE).codec


def open_engine(path: Path | str, **kwargs: Any) -> fast_langgraph_pure.Engine:
    return fast_langgraph_pure.Engine(str(path), **kwargs)


# -- helpers ----------------------------------------------------------------------


def new_checkpoint(**channel_values: Any) -> Checkpoint:
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = dict(channel_values)
    return checkpoint


def config(thread_id: str, checkpoint_id: str | None = None, ns: str = "") -> Any:
    configurable = {"thread_id": thread_id, "checkpoint_ns": ns}
    if checkpoint_id is not None:
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable}


def make_sqlitesaver_file(path: Path, threads: int = 2, per_thread: int = 3) -> list[str]:
    """A file made by langgraph's SqliteSaver alone; returns the checkpoint ids."""
    ids: list[str] = []
    conn = sqlite3.connect(path, check_same_thread=False)
    try:
        saver = SqliteSaver(conn)
        saver.setup()
        for t in range(threads):
            parent: str | None = None
            for step in range(per_thread):
                checkpoint = new_checkpoint(step=step, text=f"thread {t} step {step} é")
                stored = saver.put(
                    config(f"thread-{t}", parent),
                    checkpoint,
                    {"source": "loop", "step": step, "run_id": f"run-{t}"},
                    {},
                )
                saver.put_writes(stored, [("a", step), ("b", "x")], f"task-{step}", "path")
                parent = checkpoint["id"]
                ids.append(checkpoint["id"])
    finally:
        conn.close()
    return ids


def schema_of(path: Path) -> dict[str, Any]:
    """Everything about a file's schema that matters, in comparable form."""
    conn = sqlite3.connect(path)
    try:
        return {
            "user_version": storage.user_version(conn),
            "tables": {
                table: conn.execute(f"PRAGMA table_info({table})").fetchall()
                for table in ("checkpoints", "writes")
            },
            "objects": sorted(
                conn.execute(
                    "SELECT type, name, tbl_name, sql FROM sqlite_master "
                    "WHERE name NOT LIKE 'sqlite_autoindex%'"
                ).fetchall()
            ),
        }
    finally:
        conn.close()


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rows(path: Path, sql: str) -> list[Any]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def uuid6_at(moment: datetime) -> str:
    """The uuid6 langgraph makes at `moment`."""
    nanoseconds = int(moment.timestamp()) * 10**9 + moment.microsecond * 1000
    with (
        mock.patch.object(time, "time_ns", return_value=nanoseconds),
        mock.patch.object(checkpoint_id_module, "_last_v6_timestamp", None),
    ):
        return str(checkpoint_id_module.uuid6(clock_seq=-1))


# -- storage constants ------------------------------------------------------------


def test_created_at_comes_from_the_uuid6_timestamp() -> None:
    moment = datetime(2024, 5, 4, 6, 32, 42, 235444, tzinfo=timezone.utc)
    assert storage.created_at_from_checkpoint_id(uuid6_at(moment)) == "2024-05-04 06:32:42.235"
    upper = uuid6_at(moment).upper()
    assert storage.created_at_from_checkpoint_id(upper) == "2024-05-04 06:32:42.235"


@pytest.mark.parametrize(
    "checkpoint_id",
    [
        "not-a-uuid",
        "",
        "1ef4f797833564288001",  # no hyphens
        "1ef4f797-8335-4428-8001-8a1503f9b875",  # version 4
        "00000000-0000-6000-8000-000000000000",  # before 1970
    ],
)
def test_created_at_is_none_for_ids_that_are_not_uuid6(checkpoint_id: str) -> None:
    assert storage.created_at_from_checkpoint_id(checkpoint_id) is None


# -- the schema ---------------------------------------------------------------------


def test_fresh_file_has_sqlitesaver_schema_plus_ours(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs.db"
    make_sqlitesaver_file(theirs, threads=0)
    ours = tmp_path / "ours.db"
    open_engine(ours).close()

    their_schema, our_schema = schema_of(theirs), schema_of(ours)
    assert their_schema["user_version"] == 0
    assert our_schema["user_version"] == storage.SCHEMA_VERSION
    # Same writes table; the same checkpoints table plus created_at at the end.
    assert our_schema["tables"]["writes"] == their_schema["tables"]["writes"]
    assert our_schema["tables"]["checkpoints"][:-1] == their_schema["tables"]["checkpoints"]
    assert our_schema["tables"]["checkpoints"][-1][1:3] == ("created_at", "TEXT")
    names = {(kind, name) for kind, name, _table, _sql in our_schema["objects"]}
    assert names == {
        ("table", "checkpoints"),
        ("table", "writes"),
        ("index", "checkpoints_created_at"),
        ("trigger", "checkpoints_created_at_default"),
        ("trigger", "checkpoints_delete_writes"),
    }
    assert rows(ours, "PRAGMA journal_mode") == [("wal",)]


def test_migration_walks_only_the_steps_a_file_lacks(tmp_path: Path) -> None:
    path = tmp_path / "ours.db"
    open_engine(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    storage.migrate(conn)
    conn.close()
    assert statements == ["BEGIN IMMEDIATE", "PRAGMA user_version", "COMMIT"]
    assert len(storage.MIGRATIONS) == storage.SCHEMA_VERSION


# -- migration ------------------------------------------------------------------------


def test_migration_upgrades_a_sqlitesaver_file(tmp_path: Path) -> None:
    path = tmp_path / "legacy.db"
    ids = make_sqlitesaver_file(path)
    before = rows(path, "SELECT * FROM checkpoints ORDER BY checkpoint_id")
    writes_before = rows(path, "SELECT * FROM writes ORDER BY checkpoint_id, task_id, idx")

    open_engine(path).close()

    assert schema_of(path)["user_version"] == storage.SCHEMA_VERSION
    after = rows(path, "SELECT * FROM checkpoints ORDER BY checkpoint_id")
    assert [row[:-1] for row in after] == before  # data untouched, created_at appended
    created = {row[2]: row[-1] for row in after}
    assert created == {cid: storage.created_at_from_checkpoint_id(cid) for cid in ids}
    assert rows(path, "SELECT * FROM writes ORDER BY checkpoint_id, task_id, idx") == writes_before


def test_migration_backfills_now_for_ids_that_are_not_uuid6(tmp_path: Path) -> None:
    path = tmp_path / "legacy.db"
    make_sqlitesaver_file(path, threads=0)
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, type, checkpoint)"
        " VALUES ('t', '', 'custom-id', 'null', x'')"
    )
    conn.commit()
    conn.close()
    start = datetime.now(timezone.utc) - timedelta(seconds=1)

    open_engine(path).close()

    [(created_at,)] = rows(path, "SELECT created_at FROM checkpoints")
    stamped = datetime.strptime(created_at, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=timezone.utc)
    assert start <= stamped <= datetime.now(timezone.utc) + timedelta(seconds=1)


def test_migration_adds_task_path_to_older_files(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute(storage.CREATE_CHECKPOINTS)
    conn.execute(storage.CREATE_WRITES.replace("task_path TEXT NOT NULL DEFAULT '',", ""))
    conn.execute(
        "INSERT INTO writes (thread_id, checkpoint_ns, checkpoint_id, task_id, idx, channel,"
        " type, value) VALUES ('t', '', 'c', 'task', 0, 'ch', 'null', x'')"
    )
    conn.commit()
    conn.close()

    open_engine(path).close()

    assert "task_path" in storage.table_columns(sqlite3.connect(path), "writes")
    assert rows(path, "SELECT task_id, task_path FROM writes") == [("task", "")]


def test_migration_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "legacy.db"
    make_sqlitesaver_file(path)
    open_engine(path).close()
    schema = schema_of(path)
    data = rows(path, "SELECT * FROM checkpoints ORDER BY checkpoint_id")

    open_engine(path).close()
    open_engine(path).close()

    assert schema_of(path) == schema
    assert rows(path, "SELECT * FROM checkpoints ORDER BY checkpoint_id") == data


def test_newer_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    open_engine(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {storage.SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(sqlite3.OperationalError, match="newer"):
        open_engine(path)


def _open_after_barrier(path: str, barrier: Any, results: Any) -> None:
    barrier.wait()
    try:
        engine = fast_langgraph_pure.Engine(path)
        engine.close()
        results.put("ok")
    except Exception as exc:  # reported to the parent, which asserts on it
        results.put(f"{type(exc).__name__}: {exc}")


@pytest.mark.parametrize("start", ["sqlitesaver-file", "no-file", "rollback-journal-file"])
def test_processes_opening_one_file_at_once(tmp_path: Path, start: str) -> None:
    path = tmp_path / "shared.db"
    ids: list[str] = []
    if start == "sqlitesaver-file":
        ids = make_sqlitesaver_file(path)
    elif start == "rollback-journal-file":  # switching it to WAL needs every lock
        sqlite3.connect(path).execute("CREATE TABLE unrelated (x)").connection.close()
    context = multiprocessing.get_context("spawn")
    processes_count = 3
    barrier = context.Barrier(processes_count)
    results = context.Queue()
    processes = [
        context.Process(target=_open_after_barrier, args=(str(path), barrier, results))
        for _ in range(processes_count)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=60)

    assert outcomes == ["ok"] * processes_count
    assert schema_of(path)["user_version"] == storage.SCHEMA_VERSION
    assert rows(path, "PRAGMA journal_mode") == [("wal",)]
    created = dict(rows(path, "SELECT checkpoint_id, created_at FROM checkpoints"))
    assert created == {cid: storage.created_at_from_checkpoint_id(cid) for cid in ids}


# -- SqliteSaver keeps working -----------------------------------------------------------


def test_sqlitesaver_reads_and_writes_after_migration(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    make_sqlitesaver_file(path, threads=1)
    engine = open_engine(path)
    ours = new_checkpoint(answer=42, text="ünïcode")
    engine.put("t", "", ours["id"], None, ours, {"source": "input", "step": -1}, CODEC)
    engine.put_writes(
        "t", "", ours["id"], "task", "p", [(0, "a", 1), (-1, "__error__", "boom")], False, CODEC
    )
    engine.close()

    conn = sqlite3.connect(path, check_same_thread=False)
    saver = SqliteSaver(conn)
    theirs = saver.get_tuple(config("t"))
    assert theirs is not None
    assert theirs.checkpoint == ours
    assert theirs.metadata == {"source": "input", "step": -1}
    assert theirs.pending_writes == [("task", "__error__", "boom"), ("task", "a", 1)]
    later = new_checkpoint(answer=43)
    saver.put(config("t", ours["id"]), later, {"source": "loop", "step": 0}, {})
    saver.put_writes(config("t", later["id"]), [("a", 2)], "task2", "q")
    conn.close()

    engine = open_engine(path)
    row = engine.get("t", "", None, CODEC)
    engine.close()
    assert row == (
        "t",
        "",
        later["id"],
        ours["id"],
        later,
        {"source": "loop", "step": 0},
        [("task2", "a", 2)],
    )
    # The trigger gave SqliteSaver's row a created_at.
    [(created_at,)] = rows(
        path, f"SELECT created_at FROM checkpoints WHERE checkpoint_id = '{later['id']}'"
    )
    assert created_at is not None and created_at.startswith(str(datetime.now(timezone.utc).year))


def test_our_rows_are_encoded_exactly_as_sqlitesaver_encodes_them(tmp_path: Path) -> None:
    checkpoint = new_checkpoint(text="ü", n=1)
    metadata: Any = {"source": "input", "step": -1, "note": "ü"}
    engine = open_engine(tmp_path / "ours.db")
    engine.put("t", "", checkpoint["id"], None, checkpoint, metadata, CODEC)
    engine.put_writes(
        "t", "", checkpoint["id"], "task", "", [(0, "ch", {"k": [1, 2]})], False, CODEC
    )
    engine.close()
    conn = sqlite3.connect(tmp_path / "theirs.db", check_same_thread=False)
    saver = SqliteSaver(conn)
    saver.put(config("t"), checkpoint, metadata, {})
    saver.put_writes(config("t", checkpoint["id"]), [("ch", {"k": [1, 2]})], "task", "")
    conn.close()

    select_checkpoint = "SELECT thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata FROM checkpoints"
    assert rows(tmp_path / "ours.db", select_checkpoint) == rows(
        tmp_path / "theirs.db", select_checkpoint
    )
    assert rows(tmp_path / "ours.db", "SELECT * FROM writes") == rows(
        tmp_path / "theirs.db", "SELECT * FROM writes"
    )


def test_deleting_a_checkpoint_by_hand_deletes_its_writes(tmp_path: Path) -> None:
    path = tmp_path / "legacy.db"
    ids = make_sqlitesaver_file(path, threads=1)
    open_engine(path).close()
    conn = sqlite3.connect(path)
    conn.execute("DELETE FROM checkpoints WHERE checkpoint_id = ?", (ids[0],))
    conn.commit()
    conn.close()
    assert rows(path, f"SELECT COUNT(*) FROM writes WHERE checkpoint_id = '{ids[0]}'") == [(0,)]
    assert rows(path, "SELECT COUNT(*) FROM writes") == [(2 * (len(ids) - 1),)]


def test_delta_history_matches_sqlitesaver(tmp_path: Path) -> None:
    """Same answer as SqliteSaver's get_delta_channel_history on the same file."""
    path = tmp_path / "delta.db"
    engine = open_engine(path)
    parent: str | None = None
    chain: list[str] = []
    for step in range(6):
        values = {"msgs": ["seed"]} if step == 1 else {"other": step}
        checkpoint = new_checkpoint(**values)
        engine.put("t", "", checkpoint["id"], parent, checkpoint, {"step": step}, CODEC)
        # Two tasks per step, given out of writes_sort_key order.
        engine.put_writes(
            "t",
            "",
            checkpoint["id"],
            "task-b",
            "~b",
            [(0, "msgs", f"b{step}"), (1, "other", step)],
            False,
            CODEC,
        )
        engine.put_writes(
            "t", "", checkpoint["id"], "task-a", "~a", [(0, "msgs", f"a{step}")], False, CODEC
        )
        parent = checkpoint["id"]
        chain.append(checkpoint["id"])
    ours_latest = engine.delta_history("t", "", None, ["msgs", "other", "missing"], CODEC)
    ours_middle = engine.delta_history("t", "", chain[3], ["msgs"], CODEC)
    ours_unknown = engine.delta_history("t", "", "no-such-id", ["msgs"], CODEC)
    engine.close()

    conn = sqlite3.connect(path, check_same_thread=False)
    saver = SqliteSaver(conn)
    theirs_latest = saver.get_delta_channel_history(
        config=config("t"), channels=["msgs", "other", "missing"]
    )
    theirs_middle = saver.get_delta_channel_history(config=config("t", chain[3]), channels=["msgs"])
    conn.close()
    assert ours_latest == theirs_latest
    assert ours_middle == theirs_middle
    assert ours_latest["msgs"]["seed"] == ["seed"]
    assert [w[2] for w in ours_latest["msgs"]["writes"]][:2] == ["a1", "b1"]
    assert ours_unknown == {"msgs": {"writes": []}}


# (checkpoint_id, parent_checkpoint_id, channel_values) per checkpoint of thread "t";
# ids sort as their order in the list, so `None` as target means the last one.
ODD_CHAINS: dict[str, list[tuple[str, str | None, dict[str, Any]]]] = {
    "loop through the target": [("a", "b", {}), ("b", "a", {"other": 1})],
    "loop above the target": [
        ("a", "b", {}),
        ("b", "a", {}),
        ("c", "b", {"other": 2}),
        ("d", "c", {}),
    ],
    "parent missing": [("b", "gone", {}), ("c", "b", {})],
    "root target": [("a", None, {"msgs": ["seed"]})],
    "seeds at different depths": [
        ("a", None, {"msgs": ["old"], "other": 0}),
        ("b", "a", {"other": 1}),
        ("c", "b", {}),
        ("d", "c", {"msgs": ["newer"]}),
        ("e", "d", {}),
        ("f", "e", {}),
    ],
    "the seed is the parent": [("a", None, {}), ("b", "a", {"msgs": []}), ("c", "b", {})],
}


@pytest.mark.parametrize("shape", list(ODD_CHAINS))
def test_delta_history_of_odd_chains_matches_sqlitesaver(tmp_path: Path, shape: str) -> None:
    """Loops made by re-put ids, missing parents, roots: the same walk as SqliteSaver.
    Another namespace and another thread hold the same ids with other parents and
    seeds everywhere, and a walk must never step into them."""
    path = tmp_path / "odd.db"
    engine = open_engine(path)
    chain = ODD_CHAINS[shape]
    for cid, parent, values in chain:
        for thread_id, ns, stored in (
            ("t", "", values),
            ("t", "inner", {"msgs": ["wrong namespace"]}),
            ("u", "", {"msgs": ["wrong thread"]}),
        ):
            checkpoint = new_checkpoint(**stored)
            checkpoint["id"] = cid
            other_parent = parent if thread_id == "t" and ns == "" else None
            engine.put(thread_id, ns, cid, other_parent, checkpoint, {}, CODEC)
            written = [(0, "msgs", f"{cid}:{ns}{thread_id}")]
            engine.put_writes(thread_id, ns, cid, "task", "", written, False, CODEC)
    channels = ["msgs", "other", "missing"]
    ours = {
        target: engine.delta_history("t", "", target, channels, CODEC)
        for target in [None, *(cid for cid, _, _ in chain)]
    }
    engine.close()
    conn = sqlite3.connect(path, check_same_thread=False)
    saver = SqliteSaver(conn)
    try:
        for target, found in ours.items():
            theirs = saver.get_delta_channel_history(config=config("t", target), channels=channels)
            assert found == theirs, target
    finally:
        conn.close()


# -- read-only ------------------------------------------------------------------------------


def test_read_only_legacy_file_is_readable_and_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "legacy.db"
    ids = make_sqlitesaver_file(path)
    digest = file_digest(path)

    engine = open_engine(path, read_only=True)
    row = engine.get("thread-0", "", None, CODEC)
    assert row is not None and row[2] == ids[2]
    assert [r[2] for r in engine.list_page("thread-1", "", None, [], None, None, 10, CODEC)] == ids[
        5:2:-1
    ]
    stats = engine.stats(10)
    assert (stats["threads"], stats["checkpoints"], stats["writes"]) == (2, 6, 12)
    assert stats["largest_threads"][0]["latest_created_at"] is None
    history = engine.delta_history("thread-0", "", None, ["a"], CODEC)
    assert history["a"]["writes"] == [("task-0", "a", 0), ("task-1", "a", 1)]
    # No created_at: a dry run dates the checkpoints from their uuid6 ids, in memory.
    assert engine.cleanup("9999-01-01 00:00:00", False, True, CODEC) == {
        "checkpoints": 6,
        "writes": 12,
    }
    assert engine.cleanup("1970-01-02 00:00:00", False, True, CODEC) == {
        "checkpoints": 0,
        "writes": 0,
    }
    with pytest.raises(sqlite3.OperationalError):
        engine.cleanup("9999-01-01 00:00:00", False, False, CODEC)
    with pytest.raises(sqlite3.OperationalError):
        engine.put("t", "", "x", None, new_checkpoint(), {}, CODEC)
    with pytest.raises(sqlite3.OperationalError):
        engine.delete_thread("thread-0")
    backup = tmp_path / "copy.db"
    engine.backup(str(backup))
    engine.close()

    assert file_digest(path) == digest
    assert schema_of(path)["user_version"] == 0
    assert rows(backup, "SELECT COUNT(*) FROM checkpoints") == [(6,)]


def test_read_only_migrated_file_supports_dry_run_cleanup(tmp_path: Path) -> None:
    path = tmp_path / "migrated.db"
    make_sqlitesaver_file(path)
    open_engine(path).close()
    engine = open_engine(path, read_only=True)
    counts = engine.cleanup("9999-01-01 00:00:00", True, True, CODEC)
    engine.close()
    assert counts == {"checkpoints": 4, "writes": 8}


def test_read_only_missing_file_fails_without_creating_it(tmp_path: Path) -> None:
    path = tmp_path / "missing.db"
    with pytest.raises(sqlite3.OperationalError):
        open_engine(path, read_only=True)
    assert not path.exists()


# -- opening failures ---------------------------------------------------------------------------


def test_path_in_missing_folder_fails_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "no" / "such" / "folder" / "c.db"
    with pytest.raises(sqlite3.OperationalError):
        open_engine(path)
    assert not (tmp_path / "no").exists()


def test_file_that_is_not_a_database_fails_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"this is not a database, just some text" * 100)
    digest = file_digest(path)
    with pytest.raises(sqlite3.DatabaseError):
        open_engine(path)
    with pytest.raises(sqlite3.DatabaseError):
        open_engine(path, read_only=True)
    assert file_digest(path) == digest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.db"]


def test_read_only_file_fails_cleanly_when_opened_writable(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    make_sqlitesaver_file(path)
    digest = file_digest(path)
    with read_only_file(path):
        with pytest.raises(sqlite3.OperationalError):
            open_engine(path)
        assert file_digest(path) == digest


def test_unknown_durability_is_refused_before_touching_disk(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    with pytest.raises(ValueError):
        open_engine(path, durability="fast")
    assert not path.exists()


# -- transactions, threads, lifecycle ------------------------------------------------------


@pytest.mark.parametrize("where", ["file", "memory"])
def test_failed_write_leaves_the_database_unchanged(tmp_path: Path, where: str) -> None:
    engine = open_engine(tmp_path / "c.db" if where == "file" else ":memory:")
    checkpoint = new_checkpoint()
    engine.put("t", "", checkpoint["id"], None, checkpoint, {}, CODEC)
    # The second row cannot be bound (a lone surrogate is not UTF-8) after the
    # first one was inserted in the same transaction.
    bad: list[Any] = [(0, "ok", 1), (1, "\ud800", 2)]
    with pytest.raises(UnicodeEncodeError):
        engine.put_writes("t", "", checkpoint["id"], "task", "", bad, False, CODEC)
    row = engine.get("t", "", None, CODEC)
    engine.close()
    assert row is not None and row[6] == []


def test_many_threads_at_once(tmp_path: Path) -> None:
    engine = open_engine(tmp_path / "busy.db")
    errors: list[BaseException] = []
    per_thread = 15

    def work(n: int) -> None:
        try:
            parent: str | None = None
            for step in range(per_thread):
                checkpoint = new_checkpoint(step=step)
                engine.put(f"t{n}", "", checkpoint["id"], parent, checkpoint, {"step": step}, CODEC)
                engine.put_writes(
                    f"t{n}", "", checkpoint["id"], "task", "", [(0, "c", step)], False, CODEC
                )
                assert engine.get(f"t{n}", "", None, CODEC)[2] == checkpoint["id"]
                engine.list_page(None, None, None, [], None, None, 5, CODEC)
                parent = checkpoint["id"]
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = engine.stats(0)
    engine.close()
    assert errors == []
    assert (stats["threads"], stats["checkpoints"], stats["writes"]) == (
        8,
        8 * per_thread,
        8 * per_thread,
    )


@pytest.mark.parametrize("where", ["file", "memory"])
def test_close_is_idempotent_and_final(tmp_path: Path, where: str) -> None:
    engine = open_engine(tmp_path / "c.db" if where == "file" else ":memory:")
    engine.close()
    engine.close()
    with pytest.raises(sqlite3.ProgrammingError):
        engine.get("t", "", None, CODEC)
    with pytest.raises(sqlite3.ProgrammingError):
        engine.put("t", "", "id", None, new_checkpoint(), {}, CODEC)


def test_readers_are_not_blocked_by_an_open_write_transaction(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    engine = open_engine(path)
    checkpoint = new_checkpoint()
    engine.put("t", "", checkpoint["id"], None, checkpoint, {}, CODEC)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        started = time.monotonic()
        row = engine.get("t", "", None, CODEC)
        assert time.monotonic() - started < 2  # far below the 5 s busy timeout
        assert row is not None
    finally:
        other.execute("ROLLBACK")
        other.close()
        engine.close()


def test_stats_counts_rows_and_blob_bytes(tmp_path: Path) -> None:
    path = tmp_path / "stats.db"
    make_sqlitesaver_file(path, threads=3, per_thread=2)
    engine = open_engine(path)
    stats = engine.stats(2)
    size = engine.db_size()
    engine.close()
    by_thread: dict[str, int] = {}
    for thread_id, checkpoint, metadata in rows(
        path, "SELECT thread_id, checkpoint, metadata FROM checkpoints"
    ):
        by_thread[thread_id] = by_thread.get(thread_id, 0) + len(checkpoint) + len(metadata)
    for thread_id, value in rows(path, "SELECT thread_id, value FROM writes"):
        by_thread[thread_id] += len(value)
    largest = sorted(by_thread.items(), key=lambda item: (-item[1], item[0]))[:2]
    assert (stats["threads"], stats["checkpoints"], stats["writes"]) == (3, 6, 12)
    assert stats["data_bytes"] == sum(by_thread.values())
    assert [(t["thread_id"], t["bytes"]) for t in stats["largest_threads"]] == largest
    assert all(t["latest_created_at"] is not None for t in stats["largest_threads"])
    assert size >= path.stat().st_size > 0


def test_backup_and_vacuum(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    make_sqlitesaver_file(path)
    engine = open_engine(path)
    engine.delete_thread("thread-0")
    engine.vacuum()
    engine.backup(str(tmp_path / "copy.db"))
    engine.close()
    assert rows(tmp_path / "copy.db", "SELECT DISTINCT thread_id FROM checkpoints") == [
        ("thread-1",)
    ]
    assert schema_of(tmp_path / "copy.db") == schema_of(path)


# -- delta ancestry ------------------------------------------------------------------------------


def _delta_thread(engine: Any, thread_id: str) -> list[str]:
    """c0 (root) -> c1 (seeds "msgs") -> c2 -> c3 -> c4, c2..c4 counting "msgs"
    since that snapshot; every checkpoint gets one write."""
    ids: list[str] = []
    parent: str | None = None
    for step in range(5):
        checkpoint = new_checkpoint(**({"msgs": ["snapshot"]} if step == 1 else {}))
        metadata: dict[str, Any] = {"step": step, "run_id": f"run-{step}"}
        if step >= 2:
            metadata["counters_since_delta_snapshot"] = {"msgs": [step - 1, step - 1]}
        engine.put(thread_id, "", checkpoint["id"], parent, checkpoint, metadata, CODEC)
        engine.put_writes(
            thread_id, "", checkpoint["id"], "task", "", [(0, "msgs", step)], False, CODEC
        )
        parent = checkpoint["id"]
        ids.append(checkpoint["id"])
    return ids


def _ids(engine: Any, thread_id: str) -> list[str]:
    return sorted(
        row[2] for row in engine.list_page(thread_id, None, None, [], None, None, 100, CODEC)
    )


def test_prune_keeps_the_delta_ancestry_of_the_latest(tmp_path: Path) -> None:
    engine = open_engine(tmp_path / "delta.db")
    ids = _delta_thread(engine, "t")
    history = engine.delta_history("t", "", None, ["msgs"], CODEC)
    engine.prune(["t"], True, CODEC)
    assert _ids(engine, "t") == ids[1:]  # c0 is older than the snapshot
    assert engine.delta_history("t", "", None, ["msgs"], CODEC) == history
    engine.close()


def test_delete_for_runs_and_cleanup_spare_needed_ancestors(tmp_path: Path) -> None:
    engine = open_engine(tmp_path / "delta.db")
    ids = _delta_thread(engine, "t")
    engine.delete_for_runs(["run-0", "run-2", "run-4"], CODEC)
    # c4 goes; c3 survives and needs c2 and c1; c0 is needed by nobody.
    assert _ids(engine, "t") == ids[1:4]
    counts = engine.cleanup("9999-01-01 00:00:00", False, True, CODEC)
    assert counts == {"checkpoints": 3, "writes": 3}
    engine.cleanup("9999-01-01 00:00:00", True, False, CODEC)
    # The newest (c3) is kept, and with it the ancestry it needs.
    assert _ids(engine, "t") == ids[1:4]
    engine.close()


def test_threads_without_delta_counters_are_pruned_plainly(tmp_path: Path) -> None:
    path = tmp_path / "plain.db"
    ids = make_sqlitesaver_file(path, threads=1, per_thread=4)
    engine = open_engine(path)
    engine.prune(["thread-0"], True, CODEC)
    assert _ids(engine, "thread-0") == [ids[-1]]
    engine.close()
    assert rows(path, "SELECT DISTINCT checkpoint_id FROM writes") == [(ids[-1],)]


# -- the pure engine's own promises -----------------------------------------------------------


def test_from_connection_drives_the_callers_connection(tmp_path: Path) -> None:
    path = tmp_path / "theirs.db"
    make_sqlitesaver_file(path, threads=1)
    conn = sqlite3.connect(path, check_same_thread=False)
    engine = fast_langgraph_pure.Engine.from_connection(conn)
    assert engine.path == str(path)
    assert storage.user_version(conn) == storage.SCHEMA_VERSION
    checkpoint = new_checkpoint()
    engine.put("t", "", checkpoint["id"], None, checkpoint, {}, CODEC)
    engine.close()
    with pytest.raises(sqlite3.ProgrammingError):
        engine.get("t", "", None, CODEC)
    # Still the caller's, still open, and it sees what the engine wrote.
    assert conn.execute("SELECT COUNT(*) FROM checkpoints WHERE thread_id = 't'").fetchone() == (1,)
    conn.close()


def test_list_page_reads_writes_in_one_query(tmp_path: Path) -> None:
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    engine = fast_langgraph_pure.Engine.from_connection(conn)
    for n in range(5):
        checkpoint = new_checkpoint()
        engine.put(f"t{n}", "", checkpoint["id"], None, checkpoint, {}, CODEC)
        engine.put_writes(f"t{n}", "", checkpoint["id"], "task", "", [(0, "c", n)], False, CODEC)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    page = engine.list_page(None, None, None, [], None, None, 10, CODEC)
    conn.set_trace_callback(None)
    assert [row[6] for row in page] == [[("task", "c", n)] for n in reversed(range(5))]
    # One query for the page, one for all its writes (no query per row).
    assert len(statements) == 2, statements
    engine.close()


def test_compiled_flag_matches_the_build() -> None:
    expected = os.environ.get("FAST_LANGGRAPH_EXPECT_COMPILED")
    suffix_says = not fast_langgraph_pure.engine.__file__.endswith(".py")
    assert fast_langgraph_pure.COMPILED is suffix_says
    if expected is not None:
        assert fast_langgraph_pure.COMPILED is (expected == "1")
