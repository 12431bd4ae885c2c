"""A saver across os.fork(): the child never hangs, never uses the parent's SQLite
connections, and either works on a connection of its own or says clearly why not.

Every child runs in `in_child`: it reports through a pipe and ends with os._exit; a
child that has not finished within CHILD_TIMEOUT is killed and the test fails.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import select
import signal
import sqlite3
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

import fast_langgraph_pure._fork as fork_module
from fast_langgraph import RustSQLiteCheckpointer
from fast_langgraph.sqlite.aio import AsyncSqliteSaver

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

CHILD_TIMEOUT = 30.0


def in_child(body: Callable[[], Any], timeout: float = CHILD_TIMEOUT) -> Any:
    """Fork; run `body` in the child and return what it returned (or, when it
    raised, ("raised", "Type: message")). Fails the test if the child hangs or
    dies."""
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns that forking a process with threads may deadlock the
        # child: that is the very thing under test.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            os.close(read_end)
            try:
                result: Any = ("returned", body())
            except BaseException as exc:
                result = ("raised", f"{type(exc).__name__}: {exc}")
            with os.fdopen(write_end, "wb") as out:
                pickle.dump(result, out)
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    deadline = time.monotonic() + timeout
    data = b""
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                pytest.fail(f"the forked child did not finish within {timeout} s: it hung")
            ready, _, _ = select.select([read_end], [], [], left)
            if ready:
                chunk = os.read(read_end, 65536)
                if not chunk:
                    break
                data += chunk
    finally:
        os.close(read_end)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"child status {status}"
    kind, value = pickle.loads(data)
    if kind == "raised":
        return ("raised", value)
    return value


def config(thread_id: str, checkpoint_id: str | None = None) -> RunnableConfig:
    configurable: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ""}
    if checkpoint_id is not None:
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable}


def put(
    saver: RustSQLiteCheckpointer,
    thread_id: str,
    parent: str | None = None,
    metadata: dict[str, Any] | None = None,
    payload: Any = "x",
) -> str:
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = {"msgs": payload}
    stored = saver.put(config(thread_id, parent), checkpoint, metadata or {}, {})  # type: ignore[arg-type]
    saver.put_writes(stored, [("msgs", "w")], task_id="task")
    return checkpoint["id"]


def use(saver: RustSQLiteCheckpointer, thread_id: str) -> dict[str, Any]:
    """What a child does with an inherited saver: write, read back, list."""
    checkpoint_id = put(saver, thread_id)
    found = saver.get_tuple(config(thread_id))
    return {
        "put": checkpoint_id,
        "got": None if found is None else found.checkpoint["id"],
        "writes": None if found is None else len(found.pending_writes or []),
        "listed": len(list(saver.list(config(thread_id)))),
    }


def integrity(path: str) -> str:
    conn = sqlite3.connect(path)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


class BlockingSerde(JsonPlusSerializer):
    """langgraph's serializer, except that once armed, its next decode blocks until
    released: a saver call stopped mid-way, holding the write lock and an open
    write transaction (deleting operations decode delta ancestors in there)."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = False
        self.entered = threading.Event()
        self.release = threading.Event()

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        if self.armed:
            self.armed = False
            self.entered.set()
            self.release.wait()
        return super().loads_typed(data)


def delta_thread(saver: RustSQLiteCheckpointer, thread_id: str) -> None:
    """A root and a child whose DeltaChannel counters make pruning decode the root."""
    root = put(saver, thread_id)
    put(saver, thread_id, root, metadata={"counters_since_delta_snapshot": {"msgs": 1}})


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "fork.db")


@pytest.fixture
def stalled() -> Iterator[list[threading.Thread]]:
    """Threads a test leaves blocked; joined at the end whatever happens."""
    threads: list[threading.Thread] = []
    yield threads
    for thread in threads:
        thread.join(CHILD_TIMEOUT)


# -- a file: the child gets connections of its own -----------------------------------


@pytest.mark.parametrize("attempt", range(3))
def test_a_fork_during_a_write_waits_for_it_and_the_child_works_on_its_own_connection(
    db: str, attempt: int, stalled: list[threading.Thread]
) -> None:
    serde = BlockingSerde()
    with RustSQLiteCheckpointer(db, serde=serde) as saver:
        delta_thread(saver, "pruned")
        parent_conn = saver.conn
        serde.armed = True
        errors: list[BaseException] = []

        def prune() -> None:
            try:
                saver.prune(["pruned"])
            except BaseException as exc:
                errors.append(exc)

        writer = threading.Thread(target=prune)
        writer.start()
        stalled.append(writer)
        assert serde.entered.wait(CHILD_TIMEOUT)
        # The write is stopped inside its transaction, the saver's lock held. It
        # goes on 0.2 s from now; the fork below waits for it, then forks.
        threading.Timer(0.2, serde.release.set).start()

        def child() -> dict[str, Any]:
            try:
                parent_conn.execute("SELECT 1")
                inherited = "open"
            except sqlite3.ProgrammingError:
                inherited = "closed"  # the idle copy is closed in the child
            report = use(saver, f"child-{attempt}")
            report["own_connection"] = saver.conn is not parent_conn
            report["conn_id"] = id(saver.conn)
            report["inherited"] = inherited
            report["lock_free"] = saver.lock.acquire(timeout=1)
            return report

        started = time.monotonic()
        report = in_child(child)
        assert time.monotonic() - started >= 0.15  # the fork waited for the write
        writer.join(CHILD_TIMEOUT)
        assert not errors

        assert report == {
            "put": report["put"],
            "got": report["put"],
            "writes": 1,
            "listed": 1,
            "own_connection": True,
            "conn_id": report["conn_id"],
            "inherited": "closed",
            "lock_free": True,
        }
        assert report["conn_id"] != id(parent_conn)
        # The parent goes on with its own connection and sees the child's write.
        assert saver.conn is parent_conn
        found = saver.get_tuple(config(f"child-{attempt}"))
        assert found is not None and found.checkpoint["id"] == report["put"]
        use(saver, "parent-after")
    assert integrity(db) == "ok"


def test_forks_while_other_threads_read_and_write_all_give_working_children(db: str) -> None:
    stop = threading.Event()
    errors: list[BaseException] = []
    ttl: Any = {"strategy": "delete", "default_ttl": 60, "sweep_interval_minutes": 0.001}
    with RustSQLiteCheckpointer(db, ttl=ttl) as saver:

        def write(name: str) -> None:
            parent = None
            try:
                while not stop.is_set():
                    parent = put(saver, name, parent)
            except BaseException as exc:
                errors.append(exc)

        def read() -> None:
            try:
                while not stop.is_set():
                    list(saver.list(None, limit=20))  # pooled readers
                    saver.get_tuple(config("w0"))
                    saver.stats()
            except BaseException as exc:
                errors.append(exc)

        workers = [threading.Thread(target=write, args=(f"w{n}",)) for n in range(2)]
        workers += [threading.Thread(target=read) for _ in range(2)]
        for worker in workers:
            worker.start()
        try:
            time.sleep(0.05)
            reports = []
            for attempt in range(5):
                name = f"child-{attempt}"
                reports.append((name, in_child(lambda name=name: use(saver, name))))
                time.sleep(0.02)
        finally:
            stop.set()
            for worker in workers:
                worker.join(CHILD_TIMEOUT)
        assert not errors
        for name, report in reports:
            assert report["got"] == report["put"] and report["writes"] == 1
            found = saver.get_tuple(config(name))
            assert found is not None and found.checkpoint["id"] == report["put"]
    assert integrity(db) == "ok"


def test_a_grandchild_works_too(db: str) -> None:
    with RustSQLiteCheckpointer(db) as saver:
        put(saver, "parent")
        parent_conn = saver.conn

        def child() -> Any:
            mine = use(saver, "child")
            child_conn = saver.conn

            def grandchild() -> Any:
                report = use(saver, "grandchild")
                report["own"] = saver.conn is not child_conn and saver.conn is not parent_conn
                return report

            mine["own"] = child_conn is not parent_conn
            return mine, in_child(grandchild)

        mine, grandchild = in_child(child)
        assert mine["own"] and grandchild["own"]
        assert mine["got"] == mine["put"] and grandchild["got"] == grandchild["put"]
        assert saver.get_tuple(config("grandchild")) is not None


def test_a_read_only_saver_reads_in_the_child(db: str) -> None:
    with RustSQLiteCheckpointer(db) as writer:
        first = put(writer, "t")
    with RustSQLiteCheckpointer(db, read_only=True) as reader:
        assert reader.get_tuple(config("t")) is not None

        def child() -> Any:
            found = reader.get_tuple(config("t"))
            return None if found is None else found.checkpoint["id"]

        assert in_child(child) == first


# -- when the child cannot have the file: a clear error, never a hang ----------------


def test_a_fork_that_cannot_wait_for_a_write_leaves_the_child_a_clear_error(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stalled: list[threading.Thread]
) -> None:
    monkeypatch.setattr(fork_module, "FORK_WAIT_SECONDS", 0.3)
    serde = BlockingSerde()
    other_db = str(tmp_path / "other.db")
    with RustSQLiteCheckpointer(db, serde=serde) as saver:
        # A big namespace cleaned first, so that the transaction has written (and,
        # with a tiny page cache, spilled to the WAL) when it stops in the second.
        for _ in range(200):
            put(saver, "a-big", payload="x" * 4000)
        delta_thread(saver, "b-delta")
        conn = sqlite3.connect(db)
        with conn:
            conn.execute("UPDATE checkpoints SET created_at = '2000-01-01 00:00:00.000'")
        conn.close()
        with saver.lock:
            saver.conn.execute("PRAGMA cache_size = 5")
            saver.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        wal_before = os.path.getsize(db + "-wal")
        serde.armed = True
        errors: list[BaseException] = []

        def cleanup() -> None:
            try:
                saver.cleanup(timedelta(hours=1), batch_size=10_000)
            except BaseException as exc:
                errors.append(exc)

        def child() -> dict[str, Any]:
            def attempt(action: Callable[[], Any]) -> str:
                try:
                    action()
                except sqlite3.ProgrammingError as exc:
                    return str(exc)
                return "worked"

            report = {
                "put": attempt(lambda: put(saver, "child")),
                "get": attempt(lambda: saver.get_tuple(config("a-big"))),
                "conn": attempt(lambda: saver.conn),
                "new saver": attempt(lambda: RustSQLiteCheckpointer(db)),
            }
            with RustSQLiteCheckpointer(other_db) as other:  # another file is fine
                report["other file"] = use(other, "elsewhere")
            saver.close()  # and closing works
            report["after close"] = attempt(lambda: saver.get_tuple(config("a-big")))
            return report

        writer = threading.Thread(target=cleanup)
        writer.start()
        stalled.append(writer)
        try:
            assert serde.entered.wait(CHILD_TIMEOUT)
            spilled = os.path.getsize(db + "-wal") > wal_before
            report = in_child(child)
        finally:
            serde.release.set()

        writer.join(CHILD_TIMEOUT)
        assert not errors
        assert spilled  # the open transaction had written to the WAL: the risky case

        for key in ("put", "get", "conn", "new saver"):
            assert "forked while another thread was using a saver" in report[key], key
            assert "spawn" in report[key]
        assert report["other file"]["got"] == report["other file"]["put"]
        assert "is closed" in report["after close"]
        # The parent's transaction, copied mid-way into the child, was left alone
        # there: it committed here, and the file is sound.
        assert integrity(db) == "ok"
        assert saver.get_tuple(config("child")) is None
        use(saver, "parent-after")
        assert len(list(saver.list(config("a-big")))) == 1
    assert integrity(db) == "ok"


def test_a_memory_saver_in_the_child_says_it_cannot_be_shared() -> None:
    with RustSQLiteCheckpointer(":memory:") as saver:
        put(saver, "t")

        def child() -> list[str]:
            found = []
            for action in (lambda: put(saver, "c"), lambda: saver.get_tuple(config("t"))):
                try:
                    action()
                    found.append("worked")
                except sqlite3.ProgrammingError as exc:
                    found.append(str(exc))
            saver.close()
            return found

        for message in in_child(child):
            assert "in-memory database" in message and "fork" in message
            assert "Open a new saver in this process" in message
        assert saver.get_tuple(config("t")) is not None  # the parent's is untouched


def test_a_saver_on_a_users_connection_in_the_child_says_to_open_a_new_one(db: str) -> None:
    conn = sqlite3.connect(db, check_same_thread=False)
    try:
        saver = RustSQLiteCheckpointer(conn)
        put(saver, "t")

        def child() -> str:
            try:
                saver.get_tuple(config("t"))
            except sqlite3.ProgrammingError as exc:
                saver.close()
                return str(exc)
            return "worked"

        message = in_child(child)
        assert "sqlite3.Connection opened before this process was forked" in message
        assert "Open a new connection and a new saver" in message
        assert saver.get_tuple(config("t")) is not None
        saver.close()
    finally:
        conn.close()


# -- the async saver ------------------------------------------------------------------


def test_the_async_savers_lock_held_at_the_fork_is_free_in_the_child(db: str) -> None:
    loop = asyncio.new_event_loop()
    try:
        saver = AsyncSqliteSaver(db)
        loop.run_until_complete(saver.lock.acquire())  # held across the fork

        async def child_work() -> Any:
            async with saver.lock:
                await saver.aput(config("child"), empty_checkpoint(), {}, {})
            found = await saver.aget_tuple(config("child"))
            return found is not None

        assert in_child(lambda: asyncio.run(child_work())) is True
        saver.lock.release()
        saver.close()
    finally:
        loop.close()


def test_an_async_saver_on_an_unopened_aiosqlite_connection_refuses_in_the_child(
    db: str,
) -> None:
    aiosqlite = pytest.importorskip("aiosqlite")
    loop = asyncio.new_event_loop()
    try:
        conn = loop.run_until_complete(aiosqlite.connect(db))  # its thread: the parent's
        saver = AsyncSqliteSaver(conn)

        def child() -> Any:
            return asyncio.run(saver.aget_tuple(config("t")))

        result = in_child(child)
        assert result[0] == "raised"
        assert "aiosqlite connection before this process was forked" in result[1]
        loop.run_until_complete(saver.setup())  # the parent's saver still opens
        assert loop.run_until_complete(saver.aget_tuple(config("t"))) is None
        saver.close()
        loop.run_until_complete(conn.close())
    finally:
        loop.close()
