"""Maintenance: cleanup by age, vacuum, stats, db_size, backup, and the TTL sweeper.

"Old" checkpoints are made by rewriting `checkpoints.created_at` through a second
connection, never by sleeping.
"""

from __future__ import annotations

import logging
import operator
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.channels.delta import DeltaChannel
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.graph import END, START, StateGraph

from fast_langgraph import RustSQLiteCheckpointer
from fast_langgraph._ttl import TTLSweeper, validate_ttl

SWEEPER_THREAD_NAME = "fast-langgraph-ttl-sweeper"
WAIT_SECONDS = 20.0


# -- helpers -------------------------------------------------------------------


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "checkpoints.db")


def put_chain(
    saver: RustSQLiteCheckpointer,
    thread_id: str,
    count: int,
    *,
    writes_per_checkpoint: int = 2,
    payload: str = "x",
    ns: str = "",
) -> list[str]:
    """`count` checkpoints, each the child of the previous, each with writes.
    Returns their ids, oldest first."""
    config: RunnableConfig = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns}}
    ids = []
    for step in range(count):
        checkpoint = empty_checkpoint()
        checkpoint["channel_values"] = {"payload": payload, "step": step}
        config = saver.put(config, checkpoint, {"source": "loop", "step": step}, {})
        if writes_per_checkpoint:
            saver.put_writes(
                config,
                [("payload", f"{thread_id}-{step}-{i}") for i in range(writes_per_checkpoint)],
                task_id=f"task-{step}",
            )
        ids.append(checkpoint["id"])
    return ids


def backdate(path: str, days: float, thread_id: str | None = None) -> None:
    """Make checkpoints (of one thread, or all) look `days` old."""
    with sqlite3.connect(path) as conn:
        sql = "UPDATE checkpoints SET created_at = strftime('%Y-%m-%d %H:%M:%f', 'now', ?)"
        params: tuple[Any, ...] = (f"-{days} days",)
        if thread_id is not None:
            sql += " WHERE thread_id = ?"
            params += (thread_id,)
        conn.execute(sql, params)
    conn.close()


def rows(path: str, table: str, thread_id: str | None = None) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        sql = f"SELECT * FROM {table}"
        params: tuple[Any, ...] = ()
        if thread_id is not None:
            sql += " WHERE thread_id = ?"
            params = (thread_id,)
        result = sorted(conn.execute(sql, params).fetchall(), key=repr)
    conn.close()
    return result


def checkpoint_ids(saver: RustSQLiteCheckpointer, thread_id: str) -> list[str]:
    return [
        t.config["configurable"]["checkpoint_id"]
        for t in saver.list({"configurable": {"thread_id": thread_id}})
    ]


def orphan_writes(path: str) -> int:
    with sqlite3.connect(path) as conn:
        (count,) = conn.execute(
            "SELECT COUNT(*) FROM writes AS w WHERE NOT EXISTS (SELECT 1 FROM checkpoints AS c "
            "WHERE c.thread_id = w.thread_id AND c.checkpoint_ns = w.checkpoint_ns "
            "AND c.checkpoint_id = w.checkpoint_id)"
        ).fetchone()
    conn.close()
    return int(count)


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Writers:
    """Background threads each appending checkpoints (with writes) to their own
    thread id until stopped; records every id they got back."""

    def __init__(self, saver: RustSQLiteCheckpointer, names: list[str]) -> None:
        self.saver = saver
        self.written: dict[str, list[str]] = {name: [] for name in names}
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(name,)) for name in names]

    def _run(self, name: str) -> None:
        try:
            while not self._stop.is_set():
                self.written[name] += put_chain(self.saver, name, 1)
        except BaseException as exc:
            self.errors.append(exc)

    def __enter__(self) -> Writers:
        for thread in self._threads:
            thread.start()
        # Let every writer get going before the operation under test starts.
        wait_until(lambda: all(len(ids) >= 3 for ids in self.written.values()), "writers")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


# -- cleanup ---------------------------------------------------------------------


def test_cleanup_deletes_old_checkpoints_and_their_writes_keeping_the_latest(db: str) -> None:
    with RustSQLiteCheckpointer(db) as saver:
        old_ids = put_chain(saver, "old", 5)
        fresh_ids = put_chain(saver, "fresh", 3)
        backdate(db, 40, "old")
        fresh_rows = rows(db, "checkpoints", "fresh"), rows(db, "writes", "fresh")

        counts = saver.cleanup(timedelta(days=30), keep_latest=True)

        assert counts == {"checkpoints": 4, "writes": 8}
        assert checkpoint_ids(saver, "old") == [old_ids[-1]]
        latest = saver.get_tuple({"configurable": {"thread_id": "old"}})
        assert latest is not None
        assert [w[2] for w in latest.pending_writes or []] == ["old-4-0", "old-4-1"]
        assert checkpoint_ids(saver, "fresh") == fresh_ids[::-1]
    assert (rows(db, "checkpoints", "fresh"), rows(db, "writes", "fresh")) == fresh_rows
    assert orphan_writes(db) == 0


def test_cleanup_without_keep_latest_deletes_whole_old_threads(db: str) -> None:
    with RustSQLiteCheckpointer(db) as saver:
        put_chain(saver, "old", 3)
        put_chain(saver, "fresh", 2)
        backdate(db, 40, "old")
        counts = saver.cleanup(timedelta(days=30), keep_latest=False)
        assert counts == {"checkpoints": 3, "writes": 6}
        assert checkpoint_ids(saver, "old") == []
        assert len(checkpoint_ids(saver, "fresh")) == 2
    assert orphan_writes(db) == 0


def test_cleanup_keeps_the_latest_of_every_namespace(db: str) -> None:
    with RustSQLiteCheckpointer(db) as saver:
        put_chain(saver, "t", 3)
        sub_ids = put_chain(saver, "t", 3, ns="child:1")
        backdate(db, 40)
        saver.cleanup(timedelta(days=30))
        remaining = saver.list({"configurable": {"thread_id": "t", "checkpoint_ns": "child:1"}})
        assert [c.config["configurable"]["checkpoint_id"] for c in remaining] == [sub_ids[-1]]
        assert len(checkpoint_ids(saver, "t")) == 2  # one per namespace


def test_cleanup_dry_run_counts_and_changes_nothing(db: str) -> None:
    with RustSQLiteCheckpointer(db) as saver:
        put_chain(saver, "a", 4)
        put_chain(saver, "b", 2)
        backdate(db, 10)
        before = rows(db, "checkpoints"), rows(db, "writes")
        dry = saver.cleanup(timedelta(days=1), dry_run=True)
        assert (rows(db, "checkpoints"), rows(db, "writes")) == before
        real = saver.cleanup(timedelta(days=1))
    assert dry == real == {"checkpoints": 4, "writes": 8}


def test_cleanup_of_nothing_old_deletes_nothing(db: str) -> None:
    with RustSQLiteCheckpointer(db) as saver:
        put_chain(saver, "a", 3)
        assert saver.cleanup(timedelta(days=30), keep_latest=False) == {
            "checkpoints": 0,
            "writes": 0,
        }
        assert len(checkpoint_ids(saver, "a")) == 3


@pytest.mark.parametrize("bad", [timedelta(days=-1), 30, "30d", None])
def test_cleanup_rejects_what_is_not_a_non_negative_timedelta(db: str, bad: Any) -> None:
    with RustSQLiteCheckpointer(db) as saver, pytest.raises(ValueError, match="older_than"):
        saver.cleanup(bad)


def test_the_documented_raw_sql_cleanup_also_deletes_the_writes(db: str) -> None:
    with RustSQLiteCheckpointer(db) as saver:
        put_chain(saver, "old", 3)
        put_chain(saver, "fresh", 2)
    backdate(db, 40, "old")
    with sqlite3.connect(db) as conn:
        conn.execute(
            "DELETE FROM checkpoints WHERE created_at < datetime('now', ? || ' days')", ("-30",)
        )
    conn.close()
    assert rows(db, "checkpoints", "old") == rows(db, "writes", "old") == []
    assert len(rows(db, "writes", "fresh")) == 4
    assert orphan_writes(db) == 0


class NeverSnapshotted(TypedDict):
    log: Annotated[list[str], DeltaChannel(operator.add, snapshot_frequency=100)]
    turns: Annotated[int, operator.add]


class SnapshottedEvery4(TypedDict):
    log: Annotated[list[str], DeltaChannel(operator.add, snapshot_frequency=4)]
    turns: Annotated[int, operator.add]


DELTA_STATES: dict[int, Any] = {100: NeverSnapshotted, 4: SnapshottedEvery4}


def _delta_graph(saver: RustSQLiteCheckpointer, snapshot_frequency: int) -> Any:
    state = DELTA_STATES[snapshot_frequency]

    def speak(values: Any) -> dict[str, Any]:
        return {"log": [f"turn {values['turns']}"], "turns": 1}

    builder: Any = StateGraph(state)
    builder.add_node("speak", speak)
    builder.add_edge(START, "speak")
    builder.add_edge("speak", END)
    return builder.compile(checkpointer=saver)


# 100: the log is never snapshotted, every ancestor is needed and all are kept.
# 4: snapshots now and then, so the history before the last one goes.
@pytest.mark.parametrize(
    ("snapshot_frequency", "keeps_every_checkpoint"), [(100, True), (4, False)]
)
def test_a_delta_channel_thread_stays_reconstructable_after_cleanup(
    db: str, snapshot_frequency: int, keeps_every_checkpoint: bool
) -> None:
    config: RunnableConfig = {"configurable": {"thread_id": "delta"}}
    with RustSQLiteCheckpointer(db) as saver:
        graph = _delta_graph(saver, snapshot_frequency)
        for n in range(7):
            graph.invoke({"log": [f"user {n}"], "turns": 0}, config)
        expected = graph.get_state(config).values
        assert len(expected["log"]) == 14
        total = len(checkpoint_ids(saver, "delta"))
        backdate(db, 40)

        counts = saver.cleanup(timedelta(0), keep_latest=True)

        assert graph.get_state(config).values == expected
        left = len(checkpoint_ids(saver, "delta"))
        assert counts["checkpoints"] == total - left
        # More than the latest survives: the ancestry its log is rebuilt from.
        assert left > 1
        assert (left == total) is keeps_every_checkpoint
    with RustSQLiteCheckpointer(db) as reopened:
        graph = _delta_graph(reopened, snapshot_frequency)
        assert graph.get_state(config).values == expected
        # What the test guards against: dropping the ancestry loses the log.
        with sqlite3.connect(db) as conn:
            conn.execute(
                "DELETE FROM checkpoints WHERE checkpoint_id < (SELECT MAX(checkpoint_id) "
                "FROM checkpoints)"
            )
        conn.close()
        assert graph.get_state(config).values != expected


def test_cleanup_while_other_threads_write_removes_only_the_old_rows(db: str) -> None:
    with RustSQLiteCheckpointer(db) as saver:
        old_ids = put_chain(saver, "old", 20)
        backdate(db, 40, "old")
        with Writers(saver, ["w1", "w2", "w3"]) as writers:
            counts = saver.cleanup(timedelta(days=30))
        assert not writers.errors
        assert counts == {"checkpoints": 19, "writes": 38}
        assert checkpoint_ids(saver, "old") == [old_ids[-1]]
        for name, ids in writers.written.items():
            assert checkpoint_ids(saver, name) == ids[::-1]
            assert len(rows(db, "writes", name)) == 2 * len(ids)


# -- vacuum and sizes ------------------------------------------------------------


def test_vacuum_gives_the_space_of_deleted_rows_back(db: str) -> None:
    with RustSQLiteCheckpointer(db) as saver:
        put_chain(saver, "big", 30, payload="x" * 20_000)
        put_chain(saver, "small", 1)
        backdate(db, 40, "big")
        saver.cleanup(timedelta(days=30), keep_latest=False)
        before = saver.db_size()
        saver.vacuum()
        after = saver.db_size()
        assert after < before / 4
        assert len(checkpoint_ids(saver, "small")) == 1


def test_cleanup_with_vacuum_shrinks_the_database(db: str) -> None:
    with RustSQLiteCheckpointer(db) as saver:
        put_chain(saver, "big", 30, payload="x" * 20_000)
        backdate(db, 40, "big")
        before = saver.db_size()
        saver.cleanup(timedelta(days=30), vacuum=True)
        assert saver.db_size() < before / 4


@pytest.mark.usefixtures("default_layout")
def test_stats_counts_threads_checkpoints_writes_and_bytes(db: str) -> None:
    with RustSQLiteCheckpointer(db) as saver:
        put_chain(saver, "large", 4, payload="x" * 5_000)
        put_chain(saver, "medium", 3, payload="x" * 1_000)
        put_chain(saver, "small", 2, writes_per_checkpoint=0)

        stats = saver.stats()

        assert (stats["threads"], stats["checkpoints"], stats["writes"]) == (3, 9, 14)
        assert [t["thread_id"] for t in stats["largest_threads"]] == ["large", "medium", "small"]
        large = stats["largest_threads"][0]
        assert (large["checkpoints"], large["writes"]) == (4, 8)
        assert large["bytes"] > 4 * 5_000
        assert large["latest_checkpoint_id"] == checkpoint_ids(saver, "large")[0]
        assert large["latest_created_at"] is not None
        assert stats["data_bytes"] == sum(t["bytes"] for t in stats["largest_threads"])
        assert stats["bytes_on_disk"] >= stats["data_bytes"]
        assert [t["thread_id"] for t in saver.stats(top=1)["largest_threads"]] == ["large"]
        assert len(saver.stats(top=-1)["largest_threads"]) == 3  # -1: every thread


def test_stats_top_minus_one_lists_every_thread(db: str) -> None:
    # sweep_expired relies on it to see all threads.
    with RustSQLiteCheckpointer(db) as saver:
        for n in range(25):
            put_chain(saver, f"t{n}", 1, writes_per_checkpoint=0)
        assert len(saver.stats(top=-1)["largest_threads"]) == 25
        assert saver.stats(top=0)["largest_threads"] == []


class RefusingSerde:
    """A serializer that fails if anything is decoded."""

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

        return JsonPlusSerializer().dumps_typed(obj)

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        raise AssertionError("stats must not decode blobs")


def test_stats_and_db_size_never_decode_a_blob(db: str) -> None:
    with RustSQLiteCheckpointer(db, serde=RefusingSerde()) as saver:  # type: ignore[arg-type]
        put_chain(saver, "a", 3)
        assert saver.stats()["checkpoints"] == 3
        assert saver.db_size() > 0


def test_stats_of_an_empty_database(db: str) -> None:
    with RustSQLiteCheckpointer(db) as saver:
        stats = saver.stats()
        assert (stats["threads"], stats["checkpoints"], stats["writes"]) == (0, 0, 0)
        assert stats["largest_threads"] == []


def test_db_size_is_the_file_plus_its_wal(db: str) -> None:
    with RustSQLiteCheckpointer(db) as saver:
        put_chain(saver, "a", 5, payload="x" * 10_000)
        wal = Path(f"{db}-wal")
        on_disk = Path(db).stat().st_size + (wal.stat().st_size if wal.exists() else 0)
        # The main file may be shorter than its page count until a checkpoint.
        assert saver.db_size() >= 5 * 10_000
        assert saver.db_size() >= Path(db).stat().st_size
        assert saver.db_size() <= on_disk + saver.stats()["bytes_on_disk"]


# -- backup -------------------------------------------------------------------------


def test_backup_is_an_equal_database_even_while_writers_run(db: str, tmp_path: Path) -> None:
    during = str(tmp_path / "during.db")
    after = str(tmp_path / "after.db")
    with RustSQLiteCheckpointer(db) as saver:
        put_chain(saver, "static", 10)
        with Writers(saver, ["w1", "w2"]):
            saver.backup(during)
        saver.backup(after)
        final = rows(db, "checkpoints"), rows(db, "writes")

    # Once writers stop, the copy is row for row the same.
    assert (rows(after, "checkpoints"), rows(after, "writes")) == final
    # During writes: a consistent snapshot, every copied row as in the source.
    assert rows(during, "checkpoints", "static") == rows(db, "checkpoints", "static")
    assert set(rows(during, "checkpoints")) <= set(final[0])
    assert set(rows(during, "writes")) <= set(final[1])
    assert orphan_writes(during) == 0
    with RustSQLiteCheckpointer(during) as copy:
        assert len(checkpoint_ids(copy, "static")) == 10


# -- TTL ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ttl", "message"),
    [
        ("30d", "must be a dict"),
        ({}, "default_ttl"),
        ({"default_ttl": 0}, "positive"),
        ({"default_ttl": -5}, "positive"),
        ({"default_ttl": float("nan")}, "positive"),
        ({"default_ttl": True}, "number of minutes"),
        ({"default_ttl": "60"}, "number of minutes"),
        ({"default_ttl": 60, "strategy": "archive"}, "strategy"),
        ({"default_ttl": 60, "sweep_interval_minutes": 0}, "sweep_interval_minutes"),
        ({"default_ttl": 60, "sweep_interval": 5}, "unknown ttl key"),
    ],
)
def test_a_bad_ttl_is_refused_up_front(db: str, ttl: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_ttl(ttl)
    with pytest.raises(ValueError, match=message):
        RustSQLiteCheckpointer(db, ttl=ttl)


def test_ttl_defaults() -> None:
    assert validate_ttl({"default_ttl": 90}) == {
        "strategy": "delete",
        "default_ttl": 90.0,
        "sweep_interval_minutes": 60.0,
    }


def _sweeper_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == SWEEPER_THREAD_NAME]


@pytest.fixture
def expired_and_fresh(db: str) -> Iterator[str]:
    """A file with threads idle for two hours and threads active now."""
    with RustSQLiteCheckpointer(db) as saver:
        for name in ("idle1", "idle2"):
            put_chain(saver, name, 3)
        for name in ("fresh1", "fresh2"):
            put_chain(saver, name, 3)
    backdate(db, 2 / 24, "idle1")
    backdate(db, 2 / 24, "idle2")
    yield db


def test_sweep_expired_delete_drops_idle_threads_only(expired_and_fresh: str) -> None:
    db = expired_and_fresh
    with RustSQLiteCheckpointer(db) as saver:
        # A thread with old history but a fresh latest checkpoint is active.
        put_chain(saver, "active", 3)
        with sqlite3.connect(db) as conn:
            conn.execute(
                "UPDATE checkpoints SET created_at = '2000-01-01 00:00:00.000' "
                "WHERE thread_id = 'active' AND checkpoint_id < "
                "(SELECT MAX(checkpoint_id) FROM checkpoints WHERE thread_id = 'active')"
            )
        conn.close()
        counts = saver.sweep_expired({"strategy": "delete", "default_ttl": 60})
        assert counts == {"checkpoints": 6, "writes": 12}
        assert checkpoint_ids(saver, "idle1") == checkpoint_ids(saver, "idle2") == []
        for name in ("fresh1", "fresh2", "active"):
            assert len(checkpoint_ids(saver, name)) == 3
    assert orphan_writes(db) == 0


def test_sweep_expired_keep_latest_prunes_idle_threads_to_their_latest(
    expired_and_fresh: str,
) -> None:
    db = expired_and_fresh
    with RustSQLiteCheckpointer(db) as saver:
        latest = checkpoint_ids(saver, "idle1")[0]
        ttl: Any = {"strategy": "keep_latest", "default_ttl": 60}
        assert saver.sweep_expired(ttl) == {"checkpoints": 4, "writes": 8}
        assert checkpoint_ids(saver, "idle1") == [latest]
        assert len(checkpoint_ids(saver, "fresh1")) == 3
        # Nothing left to prune: the next sweep deletes nothing.
        assert saver.sweep_expired(ttl) == {"checkpoints": 0, "writes": 0}


def test_the_ttl_sweeper_runs_in_the_background_without_disturbing_writers(
    expired_and_fresh: str,
) -> None:
    db = expired_and_fresh
    ttl: Any = {"strategy": "delete", "default_ttl": 60, "sweep_interval_minutes": 0.001}
    saver = RustSQLiteCheckpointer(db, ttl=ttl)
    try:
        with Writers(saver, ["w1", "w2"]) as writers:
            wait_until(lambda: checkpoint_ids(saver, "idle2") == [], "the sweep")
            sweeper = saver._sweeper
            wait_until(lambda: sweeper.sweeps >= 3, "several sweeps")
        assert not writers.errors
        assert sweeper.failures == 0
        assert checkpoint_ids(saver, "idle1") == []
        for name in ("fresh1", "fresh2"):
            assert len(checkpoint_ids(saver, name)) == 3
        for name, ids in writers.written.items():
            assert checkpoint_ids(saver, name) == ids[::-1]
        assert _sweeper_threads()
    finally:
        saver.close()
    assert not _sweeper_threads()
    assert orphan_writes(db) == 0


def test_close_stops_the_sweeper_promptly_even_with_a_long_interval(db: str) -> None:
    saver = RustSQLiteCheckpointer(db, ttl={"default_ttl": 60, "sweep_interval_minutes": 600})
    assert len(_sweeper_threads()) == 1
    saver.close()
    # stop() joins with a timeout; a sweeper that ignored the stop would still be alive.
    assert not _sweeper_threads()
    saver.close()  # idempotent


class FlakySaver:
    """Fails its first sweep, then succeeds."""

    def __init__(self) -> None:
        self.calls = 0

    def sweep_expired(self, ttl: Any) -> Any:
        self.calls += 1
        if self.calls == 1:
            raise sqlite3.OperationalError("database is locked")
        return {"checkpoints": 1, "writes": 0}


def test_a_failed_sweep_is_logged_and_the_sweeper_keeps_going(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sweeper = TTLSweeper(FlakySaver(), {"default_ttl": 1, "sweep_interval_minutes": 0.0005})
    with caplog.at_level(logging.INFO, logger="fast_langgraph.ttl"):
        sweeper.start()
        try:
            wait_until(lambda: sweeper.sweeps >= 2, "sweeps after the failure")
            assert sweeper.is_alive()
        finally:
            sweeper.stop()
    assert not sweeper.is_alive()
    assert sweeper.failures == 1
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(failures) == 1
    assert "database is locked" in (failures[0].exc_text or "")
    assert any("deleted 1 checkpoints" in r.getMessage() for r in caplog.records)


def test_a_sweeper_starts_once() -> None:
    sweeper = TTLSweeper(FlakySaver(), {"default_ttl": 1, "sweep_interval_minutes": 600})
    sweeper.start()
    try:
        with pytest.raises(RuntimeError):
            sweeper.start()
    finally:
        sweeper.stop()
    assert not sweeper.is_alive()
