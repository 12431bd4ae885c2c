"""SqliteSaver's public surface on our savers: code written for langgraph's
SqliteSaver / AsyncSqliteSaver runs unchanged with the import swapped.

`conn` (raw SQL as users write it), `lock`, `is_setup`, `setup()`, `cursor()`,
`from_conn_string`, durability on the aliases, and the errors for a bad path or
a closed saver. langgraph-checkpoint-sqlite's own tests run against the aliases
too: see tests/upstream/run_sqlite_tests.py.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, closing, contextmanager
from pathlib import Path
from typing import Any, cast

import aiosqlite
import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import Checkpoint, empty_checkpoint
from langgraph.checkpoint.sqlite import SqliteSaver as LangGraphSqliteSaver

from fast_langgraph import RustSQLiteCheckpointer
from fast_langgraph.sqlite import SqliteSaver
from fast_langgraph.sqlite.aio import AsyncSqliteSaver

LOCK_TYPE = type(threading.Lock())
# PRAGMA synchronous as SQLite reports it.
SYNCHRONOUS = {"off": 0, "normal": 1, "full": 2}


def config(thread_id: str = "t") -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}


def checkpoint() -> Checkpoint:
    return empty_checkpoint()


def make_database(path: Path, threads: tuple[str, ...] = ("t",)) -> None:
    with RustSQLiteCheckpointer.from_conn_string(str(path)) as saver:
        for thread_id in threads:
            saver.put(config(thread_id), checkpoint(), {}, {})


def synchronous(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA synchronous").fetchone()[0])


# -- every way of making a saver -----------------------------------------------------------


@contextmanager
def on_path(path: Path) -> Iterator[RustSQLiteCheckpointer]:
    with RustSQLiteCheckpointer.from_conn_string(str(path)) as saver:
        yield saver


@contextmanager
def on_memory(path: Path) -> Iterator[RustSQLiteCheckpointer]:
    with RustSQLiteCheckpointer.from_conn_string(":memory:") as saver:
        yield saver


@contextmanager
def on_users_connection(path: Path) -> Iterator[RustSQLiteCheckpointer]:
    with closing(sqlite3.connect(path, check_same_thread=False)) as conn:
        saver = RustSQLiteCheckpointer(conn)
        assert saver.conn is conn
        yield saver


@contextmanager
def alias_on_path(path: Path) -> Iterator[RustSQLiteCheckpointer]:
    with SqliteSaver.from_conn_string(str(path)) as saver:
        yield saver


@contextmanager
def alias_on_memory(path: Path) -> Iterator[RustSQLiteCheckpointer]:
    with SqliteSaver.from_conn_string(":memory:") as saver:
        yield saver


@contextmanager
def alias_on_users_connection(path: Path) -> Iterator[RustSQLiteCheckpointer]:
    # As LangGraph's docs build it.
    with closing(sqlite3.connect(str(path), check_same_thread=False)) as conn:
        saver = SqliteSaver(conn)
        assert saver.conn is conn
        yield saver


@contextmanager
def read_only(path: Path) -> Iterator[RustSQLiteCheckpointer]:
    make_database(path)
    with RustSQLiteCheckpointer(str(path), read_only=True) as saver:
        yield saver


SYNC_SAVERS: dict[str, Callable[[Path], AbstractContextManager[RustSQLiteCheckpointer]]] = {
    "path": on_path,
    "memory": on_memory,
    "user connection": on_users_connection,
    "alias on path": alias_on_path,
    "alias on memory": alias_on_memory,
    "alias on user connection": alias_on_users_connection,
}


@pytest.fixture(params=list(SYNC_SAVERS))
def any_saver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RustSQLiteCheckpointer]:
    with SYNC_SAVERS[request.param](tmp_path / "checkpoints.db") as saver:
        yield saver


# -- conn, lock, is_setup, setup(), cursor() -------------------------------------------------


def test_raw_sql_on_conn_sees_what_the_saver_wrote(any_saver: RustSQLiteCheckpointer) -> None:
    any_saver.put(config("a"), checkpoint(), {}, {})
    any_saver.put(config("b"), checkpoint(), {}, {})
    conn = any_saver.conn
    assert isinstance(conn, sqlite3.Connection)
    threads = conn.execute("SELECT DISTINCT thread_id FROM checkpoints ORDER BY 1").fetchall()
    assert threads == [("a",), ("b",)]
    # A cleanup as users write it, then the saver sees it.
    with any_saver.lock:
        conn.execute("DELETE FROM checkpoints WHERE thread_id = ?", ("a",))
        conn.commit()
    assert any_saver.get_tuple(config("a")) is None
    assert any_saver.get_tuple(config("b")) is not None


def test_raw_sql_on_a_read_only_saver(tmp_path: Path) -> None:
    with read_only(tmp_path / "checkpoints.db") as saver:
        rows = saver.conn.execute("SELECT DISTINCT thread_id FROM checkpoints").fetchall()
        assert rows == [("t",)]
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            saver.conn.execute("DELETE FROM checkpoints")


def test_lock_setup_and_is_setup(any_saver: RustSQLiteCheckpointer) -> None:
    assert isinstance(any_saver.lock, LOCK_TYPE)
    any_saver.setup()
    any_saver.setup()  # idempotent
    assert any_saver.is_setup is True
    tables = {
        name
        for (name,) in any_saver.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
    }
    assert {"checkpoints", "writes"} <= tables


def test_the_lock_holds_the_savers_writes_back(tmp_path: Path) -> None:
    with SqliteSaver.from_conn_string(str(tmp_path / "checkpoints.db")) as saver:
        done = threading.Event()

        def put() -> None:
            saver.put(config(), checkpoint(), {}, {})
            done.set()

        with saver.lock:
            writer = threading.Thread(target=put)
            writer.start()
            assert not done.wait(0.3), "a put ran while the user held saver.lock"
        writer.join(5)
        assert done.is_set()


def test_cursor_commits_and_holds_the_lock(any_saver: RustSQLiteCheckpointer) -> None:
    any_saver.put(config("a"), checkpoint(), {}, {})
    with any_saver.cursor() as cur:
        assert any_saver.lock.locked()
        cur.execute("DELETE FROM checkpoints WHERE thread_id = 'a'")
    assert not any_saver.lock.locked()
    assert any_saver.get_tuple(config("a")) is None
    with any_saver.cursor(transaction=False) as cur:
        cur.execute("SELECT COUNT(*) FROM checkpoints")
        assert cur.fetchone() == (0,)


def test_cursor_commit_is_seen_by_other_connections(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints.db"
    make_database(path, threads=("a", "b"))
    with closing(sqlite3.connect(path, check_same_thread=False)) as conn:
        saver = SqliteSaver(conn)
        with saver.cursor() as cur:
            cur.execute("DELETE FROM checkpoints WHERE thread_id = 'a'")
        with closing(sqlite3.connect(path)) as other:
            assert other.execute("SELECT thread_id FROM checkpoints").fetchall() == [("b",)]


def test_clones_share_conn_and_lock(any_saver: RustSQLiteCheckpointer) -> None:
    clone = cast(RustSQLiteCheckpointer, any_saver.with_allowlist([]))
    assert clone.conn is any_saver.conn
    assert clone.lock is any_saver.lock


def test_saver_commits_a_transaction_the_user_left_open(tmp_path: Path) -> None:
    """SqliteSaver commits whatever is pending on its connection with its own
    write; ours does the same instead of failing with "cannot start a
    transaction within a transaction"."""
    path = tmp_path / "checkpoints.db"
    with closing(sqlite3.connect(path, check_same_thread=False)) as conn:
        saver = SqliteSaver(conn)
        conn.execute("CREATE TABLE notes (text TEXT)")
        conn.execute("INSERT INTO notes VALUES ('mine')")  # opens sqlite3's implicit transaction
        assert conn.in_transaction
        saver.put(config(), checkpoint(), {}, {})
        assert not conn.in_transaction
        with closing(sqlite3.connect(path)) as other:
            assert other.execute("SELECT text FROM notes").fetchall() == [("mine",)]
            assert other.execute("SELECT COUNT(*) FROM checkpoints").fetchone() == (1,)


def test_a_failed_write_leaves_the_users_open_transaction_alone(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints.db"
    with closing(sqlite3.connect(path, check_same_thread=False)) as conn:
        saver = SqliteSaver(conn)
        conn.execute("CREATE TABLE notes (text TEXT)")
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON checkpoints BEGIN SELECT RAISE(ABORT, 'no'); END"
        )
        conn.execute("INSERT INTO notes VALUES ('mine')")
        with pytest.raises(sqlite3.IntegrityError, match="no"):
            saver.put(config(), checkpoint(), {}, {})
        assert conn.in_transaction  # still the user's to commit or roll back
        conn.commit()
        assert conn.execute("SELECT text FROM notes").fetchall() == [("mine",)]


# -- setup() never waits on another writer when the schema is current ----------------------


@pytest.fixture
def busy_db(tmp_path: Path) -> Iterator[Path]:
    """A set-up file while another connection holds the write lock."""
    path = tmp_path / "busy.db"
    make_database(path)
    with closing(sqlite3.connect(path, isolation_level=None)) as writer:
        writer.execute("BEGIN IMMEDIATE")
        yield path
        writer.execute("ROLLBACK")


@contextmanager
def returns_at_once() -> Iterator[None]:
    started = time.monotonic()
    yield
    assert time.monotonic() - started < 1.0, "waited for the other writer"


def test_setup_on_a_connection_does_not_wait_on_another_writer(busy_db: Path) -> None:
    with closing(sqlite3.connect(busy_db, timeout=0, check_same_thread=False)) as conn:
        with returns_at_once():
            saver = SqliteSaver(conn)
            saver.setup()
        assert saver.get_tuple(config()) is not None


def test_opening_a_path_does_not_wait_on_another_writer(busy_db: Path) -> None:
    with returns_at_once(), SqliteSaver.from_conn_string(str(busy_db)) as saver:
        saver.setup()
        assert saver.get_tuple(config()) is not None


async def test_async_setup_does_not_wait_on_another_writer(busy_db: Path) -> None:
    async with aiosqlite.connect(busy_db, timeout=0) as conn:
        with returns_at_once():
            saver = AsyncSqliteSaver(conn)
            await saver.setup()
        assert await saver.aget_tuple(config()) is not None
        saver.close()
    with returns_at_once():
        async with AsyncSqliteSaver.from_conn_string(str(busy_db)) as saver:
            await saver.setup()


def test_setup_on_a_read_only_connection_to_a_sqlitesaver_file(tmp_path: Path) -> None:
    """A file langgraph's SqliteSaver made (user_version 0), opened through a
    read-only connection: nothing can be migrated, everything can be read."""
    path = tmp_path / "theirs.db"
    with LangGraphSqliteSaver.from_conn_string(str(path)) as theirs:
        theirs.put(config(), checkpoint(), {"source": "input"}, {})
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        saver = SqliteSaver(conn)
        saver.setup()
        found = saver.get_tuple(config())
        assert found is not None and found.metadata == {"source": "input"}
        assert conn.execute("PRAGMA user_version").fetchone() == (0,)


# -- the async alias -----------------------------------------------------------------------


@pytest.fixture(params=["path", "memory"])
async def async_alias(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    target = str(tmp_path / "checkpoints.db") if request.param == "path" else ":memory:"
    async with AsyncSqliteSaver.from_conn_string(target) as saver:
        yield saver


async def test_async_alias_conn_is_an_aiosqlite_connection(async_alias: Any) -> None:
    await async_alias.setup()
    await async_alias.setup()
    assert async_alias.is_setup is True
    assert isinstance(async_alias.conn, aiosqlite.Connection)
    assert isinstance(async_alias.lock, asyncio.Lock)
    await async_alias.aput(config("a"), checkpoint(), {}, {})
    async with async_alias.conn.execute("SELECT DISTINCT thread_id FROM checkpoints") as cur:
        assert list(await cur.fetchall()) == [("a",)]
    async with async_alias.lock:
        await async_alias.conn.execute("DELETE FROM checkpoints")
        await async_alias.conn.commit()
    assert await async_alias.aget_tuple(config("a")) is None
    # Unlike langgraph's AsyncSqliteSaver, the sync methods work on the loop thread too.
    assert async_alias.get_tuple(config("a")) is None


async def test_async_alias_on_the_users_aiosqlite_connection(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints.db"
    async with aiosqlite.connect(path) as conn:
        saver = AsyncSqliteSaver(conn)
        assert saver.conn is conn
        assert isinstance(saver.lock, asyncio.Lock)
        assert saver.is_setup is False
        await saver.setup()
        assert saver.is_setup is True
        await saver.aput(config("a"), checkpoint(), {}, {})
        async with conn.execute("SELECT DISTINCT thread_id FROM checkpoints") as cur:
            assert list(await cur.fetchall()) == [("a",)]
        # Sync calls from another thread, as langgraph's background executor makes them.
        assert await asyncio.to_thread(saver.get_tuple, config("a")) is not None
        saver.close()


async def test_async_alias_sync_call_before_it_has_opened(tmp_path: Path) -> None:
    async with aiosqlite.connect(tmp_path / "checkpoints.db") as conn:
        saver = AsyncSqliteSaver(conn)
        # From another thread it opens the file through the event loop, as
        # langgraph's AsyncSqliteSaver runs its sync methods.
        assert await asyncio.to_thread(saver.get_tuple, config()) is None
        saver.close()
        saver = AsyncSqliteSaver(conn)
        with pytest.raises(asyncio.InvalidStateError, match=r"await saver\.setup\(\)"):
            saver.get_tuple(config())


# -- durability ----------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [RustSQLiteCheckpointer, SqliteSaver])
def test_a_users_connection_keeps_its_pragmas(tmp_path: Path, cls: Any) -> None:
    with closing(sqlite3.connect(tmp_path / "c.db", check_same_thread=False)) as conn:
        conn.execute("PRAGMA synchronous = OFF")
        cls(conn)
        assert synchronous(conn) == SYNCHRONOUS["off"]


@pytest.mark.parametrize("cls", [RustSQLiteCheckpointer, SqliteSaver])
@pytest.mark.parametrize("durability", ["normal", "full"])
def test_durability_given_for_a_users_connection(tmp_path: Path, cls: Any, durability: str) -> None:
    with closing(sqlite3.connect(tmp_path / "c.db", check_same_thread=False)) as conn:
        conn.execute("PRAGMA synchronous = OFF")
        cls(conn, durability=durability)
        assert synchronous(conn) == SYNCHRONOUS[durability]


@pytest.mark.parametrize("cls", [RustSQLiteCheckpointer, SqliteSaver, AsyncSqliteSaver])
@pytest.mark.parametrize("durability", [None, "normal", "full"])
def test_durability_on_a_path(tmp_path: Path, cls: Any, durability: str | None) -> None:
    options: dict[str, Any] = {} if durability is None else {"durability": durability}
    with cls(str(tmp_path / "c.db"), **options) as saver:
        assert synchronous(saver.conn) == SYNCHRONOUS[durability or "normal"]
    with SqliteSaver.from_conn_string(str(tmp_path / "d.db"), **options) as saver:
        assert synchronous(saver.conn) == SYNCHRONOUS[durability or "normal"]


def test_bad_durability_on_the_aliases(tmp_path: Path) -> None:
    with closing(sqlite3.connect(tmp_path / "c.db")) as conn, pytest.raises(ValueError):
        SqliteSaver(conn, durability="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="durability"):
        AsyncSqliteSaver(str(tmp_path / "d.db"), durability="sometimes")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == [tmp_path / "c.db"]


def test_no_pragma_or_schema_query_per_call_on_a_users_connection(tmp_path: Path) -> None:
    """A saver on a sqlite3.Connection does per call what one on a path does:
    its statements and a transaction, nothing else."""
    with closing(sqlite3.connect(tmp_path / "c.db", check_same_thread=False)) as conn:
        saver = SqliteSaver(conn)
        statements: list[str] = []
        conn.set_trace_callback(statements.append)
        stored = saver.put(config(), checkpoint(), {}, {})
        saver.put_writes(stored, [("a", 1)], "task")
        saver.get_tuple(config())
        list(saver.list(config(), limit=5))
        conn.set_trace_callback(None)
        assert not [s for s in statements if "PRAGMA" in s.upper() or "sqlite_master" in s]


# -- errors when opening -------------------------------------------------------------------

OPENERS: dict[str, Callable[[str], Any]] = {
    "RustSQLiteCheckpointer": RustSQLiteCheckpointer,
    "SqliteSaver": SqliteSaver,
    "SqliteSaver.from_conn_string": lambda p: SqliteSaver.from_conn_string(p).__enter__(),
    "AsyncSqliteSaver": AsyncSqliteSaver,
}


@pytest.fixture(params=list(OPENERS))
def opener(request: pytest.FixtureRequest) -> Callable[[str], Any]:
    return OPENERS[request.param]


def expect_open_error(tmp_path: Path, open_it: Callable[[], Any], *needles: str) -> str:
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(sqlite3.OperationalError) as caught:
        open_it()
    message = str(caught.value)
    for needle in needles:
        assert needle in message, message
    assert sorted(tmp_path.rglob("*")) == before, "opening created something"
    return message


def test_opening_a_directory(tmp_path: Path, opener: Callable[[str], Any]) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    expect_open_error(
        tmp_path, lambda: opener(str(folder)), str(folder), "is a directory", "checkpoints.db"
    )


def test_opening_in_a_missing_folder(tmp_path: Path, opener: Callable[[str], Any]) -> None:
    path = tmp_path / "no" / "such" / "checkpoints.db"
    expect_open_error(
        tmp_path, lambda: opener(str(path)), str(path), str(tmp_path / "no" / "such"), "mkdir"
    )


def test_opening_inside_a_file(tmp_path: Path, opener: Callable[[str], Any]) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a folder")
    path = notes / "checkpoints.db"
    expect_open_error(tmp_path, lambda: opener(str(path)), str(path), "is a file, not a folder")


def test_other_open_errors_name_the_path(tmp_path: Path, opener: Callable[[str], Any]) -> None:
    path = tmp_path / ("x" * 300 + ".db")  # longer than a file name may be
    expect_open_error(tmp_path, lambda: opener(str(path)), repr(str(path)), "unable to open")


def test_opening_a_missing_file_read_only(tmp_path: Path) -> None:
    path = tmp_path / "absent.db"
    expect_open_error(
        tmp_path,
        lambda: RustSQLiteCheckpointer(str(path), read_only=True),
        str(path),
        "does not exist",
        "read_only",
    )


@pytest.mark.parametrize(
    ("given", "suggested"),
    [
        ("sqlite:///checkpoints.db", "'checkpoints.db'"),
        ("sqlite:////var/data/checkpoints.db", "'/var/data/checkpoints.db'"),
        ("file:checkpoints.db?mode=ro", "sqlite3.connect"),
    ],
)
def test_opening_a_url(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    opener: Callable[[str], Any],
    given: str,
    suggested: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    expect_open_error(tmp_path, lambda: opener(given), repr(given), suggested)


def test_open_errors_are_caught_as_sqlite_errors(tmp_path: Path) -> None:
    try:
        SqliteSaver(str(tmp_path))
    except sqlite3.Error as error:
        assert str(tmp_path) in str(error)
    else:
        pytest.fail("opening a directory did not fail")


# -- a closed saver ------------------------------------------------------------------------

CALLS: dict[str, Callable[[RustSQLiteCheckpointer], Any]] = {
    "get_tuple": lambda s: s.get_tuple(config()),
    "list": lambda s: list(s.list(None)),
    "put": lambda s: s.put(config(), checkpoint(), {}, {}),
    "delete_thread": lambda s: s.delete_thread("t"),
    "conn": lambda s: s.conn,
    "cursor": lambda s: s.cursor().__enter__(),
}


@pytest.mark.parametrize("call", list(CALLS))
@pytest.mark.parametrize("where", ["path", "memory"])
def test_a_closed_saver_says_so(tmp_path: Path, call: str, where: str) -> None:
    target = str(tmp_path / "checkpoints.db") if where == "path" else ":memory:"
    with SqliteSaver.from_conn_string(target) as saver:
        saver.put(config(), checkpoint(), {}, {})
    with pytest.raises(sqlite3.ProgrammingError) as caught:
        CALLS[call](saver)
    message = str(caught.value)
    assert "closed" in message and repr(target) in message, message
    assert "with" in message, message  # says what to do


async def test_a_closed_async_saver_says_so(tmp_path: Path) -> None:
    path = str(tmp_path / "checkpoints.db")
    async with AsyncSqliteSaver.from_conn_string(path) as saver:
        await saver.aput(config(), checkpoint(), {}, {})
    with pytest.raises(sqlite3.ProgrammingError, match="closed") as caught:
        await saver.aget_tuple(config())
    assert repr(path) in str(caught.value)
