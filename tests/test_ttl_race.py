"""The TTL sweep against writers: a thread written to while a sweep runs is never
touched, nor any checkpoint acknowledged after the sweep started.

"Old" threads are made by rewriting `checkpoints.created_at`, never by sleeping.
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import empty_checkpoint

from fast_langgraph import RustSQLiteCheckpointer

DELETE: Any = {"strategy": "delete", "default_ttl": 60}
KEEP_LATEST: Any = {"strategy": "keep_latest", "default_ttl": 60}


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "ttl.db")


def put(saver: RustSQLiteCheckpointer, thread_id: str, parent: str | None = None) -> str:
    """One checkpoint with two writes; returns its id."""
    configurable: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ""}
    if parent is not None:
        configurable["checkpoint_id"] = parent
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = {"note": f"{thread_id} after {parent}"}
    stored = saver.put({"configurable": configurable}, checkpoint, {"source": "loop"}, {})
    saver.put_writes(stored, [("a", 1), ("b", 2)], task_id="task")
    return checkpoint["id"]


def put_chain(saver: RustSQLiteCheckpointer, thread_id: str, count: int) -> list[str]:
    ids: list[str] = []
    for _ in range(count):
        ids.append(put(saver, thread_id, ids[-1] if ids else None))
    return ids


def age(path: str, thread_ids: list[str], days: float = 1.0) -> None:
    """Make every checkpoint of those threads look `days` old."""
    conn = sqlite3.connect(path)
    with conn:
        conn.executemany(
            "UPDATE checkpoints SET created_at = strftime('%Y-%m-%d %H:%M:%f', 'now', ?) "
            "WHERE thread_id = ?",
            [(f"-{days} days", thread_id) for thread_id in thread_ids],
        )
    conn.close()


def table(path: str, name: str, thread_id: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        found = conn.execute(f"SELECT * FROM {name} WHERE thread_id = ?", (thread_id,)).fetchall()
    finally:
        conn.close()
    return sorted(found, key=repr)


def checkpoint_ids(saver: RustSQLiteCheckpointer, thread_id: str) -> set[str]:
    config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
    return {t.config["configurable"]["checkpoint_id"] for t in saver.list(config)}


def sweep(
    saver: RustSQLiteCheckpointer,
    ttl: Any,
    started: threading.Event,
    done: threading.Event,
    errors: list[BaseException],
) -> None:
    started.set()
    try:
        saver.sweep_expired(ttl)
    except BaseException as exc:  # reported by the test
        errors.append(exc)
    finally:
        done.set()


@pytest.fixture
def on_first_write_transaction() -> Iterator[
    Callable[[RustSQLiteCheckpointer, Callable[[], None]], None]
]:
    """`arm(saver, action)`: run `action` once, when `saver` next starts a write
    transaction (at BEGIN IMMEDIATE, before SQLite takes the write lock): the
    moment after the sweep chose its threads and before it deletes any."""
    armed: list[sqlite3.Connection] = []

    def arm(saver: RustSQLiteCheckpointer, action: Callable[[], None]) -> None:
        fired = threading.Event()

        def trace(statement: str) -> None:
            if statement.startswith("BEGIN IMMEDIATE") and not fired.is_set():
                fired.set()
                action()

        saver.conn.set_trace_callback(trace)
        armed.append(saver.conn)

    yield arm
    for conn in armed:
        with contextlib.suppress(sqlite3.ProgrammingError):  # closed with its saver
            conn.set_trace_callback(None)


@pytest.mark.parametrize("ttl", [DELETE, KEEP_LATEST], ids=["delete", "keep_latest"])
def test_a_thread_resumed_between_listing_and_deleting_is_left_whole(
    db: str, ttl: Any, on_first_write_transaction: Any
) -> None:
    with RustSQLiteCheckpointer(db) as sweeper, RustSQLiteCheckpointer(db) as app:
        resumed = put_chain(app, "resumed", 3)
        idle = put_chain(app, "idle", 3)
        put_chain(app, "active", 2)
        age(db, ["resumed", "idle"])
        before = table(db, "checkpoints", "resumed"), table(db, "writes", "resumed")
        added: list[str] = []

        # Both idle threads are listed as expired; then, before the first delete,
        # another connection writes to one of them.
        on_first_write_transaction(sweeper, lambda: added.append(put(app, "resumed", resumed[-1])))
        counts = sweeper.sweep_expired(ttl)

        assert added, "the race was not staged"
        # The resumed thread is whole: its history, its writes, and the new checkpoint.
        assert checkpoint_ids(app, "resumed") == {*resumed, *added}
        after = table(db, "checkpoints", "resumed"), table(db, "writes", "resumed")
        assert set(before[0]) <= set(after[0]) and set(before[1]) <= set(after[1])
        assert len(after[1]) == 2 * 4
        # The other idle thread was swept as usual.
        if ttl["strategy"] == "delete":
            assert checkpoint_ids(app, "idle") == set()
            assert counts == {"checkpoints": 3, "writes": 6}
        else:
            assert checkpoint_ids(app, "idle") == {idle[-1]}
            assert counts == {"checkpoints": 2, "writes": 4}
        assert len(checkpoint_ids(app, "active")) == 2


@pytest.mark.parametrize("ttl", [DELETE, KEEP_LATEST], ids=["delete", "keep_latest"])
def test_no_checkpoint_acknowledged_after_a_sweep_started_is_ever_lost(db: str, ttl: Any) -> None:
    rng = random.Random(20240611)
    with RustSQLiteCheckpointer(db) as sweeper, RustSQLiteCheckpointer(db) as other:
        for round_ in range(150):
            names = [f"r{round_}-t{n}" for n in range(rng.randint(2, 4))]
            latest = {name: put_chain(sweeper, name, 2)[-1] for name in names}
            age(db, names)
            # Half the rounds write through the sweeping saver, half through another
            # connection (as another process would).
            writer = sweeper if round_ % 2 else other
            started = threading.Event()
            done = threading.Event()
            errors: list[BaseException] = []
            thread = threading.Thread(target=sweep, args=(sweeper, ttl, started, done, errors))
            thread.start()
            started.wait()
            # Writes from "the sweep started" until it ends, at random moments.
            acknowledged: list[tuple[str, str]] = []
            while True:
                name = rng.choice(names)
                for _ in range(rng.randint(0, 200)):
                    pass  # a few microseconds of jitter
                acknowledged.append((name, put(writer, name, latest[name])))
                if done.is_set():
                    break
            thread.join()
            assert not errors
            # Every acknowledged checkpoint is there, with its writes.
            for name in names:
                stored = {
                    t.config["configurable"]["checkpoint_id"]: len(t.pending_writes or [])
                    for t in sweeper.list({"configurable": {"thread_id": name}})
                }
                for written_to, checkpoint_id in acknowledged:
                    if written_to == name:
                        assert stored.get(checkpoint_id) == 2, (round_, name, checkpoint_id)
