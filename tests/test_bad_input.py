"""Bad input fails loudly, with the right exception, and leaves the database as it was."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import Checkpoint, empty_checkpoint
from langgraph.checkpoint.base.id import uuid6

from conftest import dump_tables, read_only_file
from fast_langgraph import RustSQLiteCheckpointer

UNSAFE_FILTER_KEYS = [
    "a') OR 1=1 --",
    "$",
    "a b",
    "a'b",
    "",
    "a..b",
    ".a",
    "a;DROP TABLE writes",
    "$.a",
]


def config(thread_id: str = "t", checkpoint_id: str | None = None) -> RunnableConfig:
    configurable: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ""}
    if checkpoint_id:
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable}


def checkpoint(**channel_values: Any) -> Checkpoint:
    cp = empty_checkpoint()
    cp["id"] = str(uuid6(clock_seq=-1))
    cp["channel_values"] = channel_values
    return cp


@pytest.fixture
def filled(file_saver: RustSQLiteCheckpointer) -> RustSQLiteCheckpointer:
    """A file saver with two checkpoints and some writes."""
    first = file_saver.put(config(), checkpoint(n=1), {"source": "loop", "step": 0}, {})  # type: ignore[typeddict-item]
    file_saver.put_writes(first, [("a", 1)], "task")
    file_saver.put(first, checkpoint(n=2), {"source": "loop", "step": 1}, {})  # type: ignore[typeddict-item]
    return file_saver


MALFORMED_CONFIGS: list[Any] = [
    None,
    {},
    {"configurable": None},
    {"configurable": {}},
    {"configurable": {"thread_id": None}},
    {"configurable": {"thread_id": ""}},
    {"configurable": "thread-1"},
    "thread-1",
]


@pytest.mark.parametrize("bad", MALFORMED_CONFIGS, ids=repr)
def test_malformed_configs_are_refused_without_touching_the_file(
    filled: RustSQLiteCheckpointer, db_path: Path, bad: Any
) -> None:
    before = dump_tables(db_path)
    with pytest.raises(ValueError, match=r"configurable|thread_id"):
        filled.get_tuple(bad)
    with pytest.raises(ValueError, match=r"configurable|thread_id"):
        filled.put(bad, checkpoint(), {"step": 0}, {})  # type: ignore[typeddict-item]
    with pytest.raises(ValueError, match=r"configurable|thread_id"):
        filled.put_writes(bad, [("a", 1)], "task")
    assert dump_tables(db_path) == before


def test_put_writes_needs_a_checkpoint_id(filled: RustSQLiteCheckpointer, db_path: Path) -> None:
    before = dump_tables(db_path)
    with pytest.raises(ValueError, match="checkpoint_id"):
        filled.put_writes(config(), [("a", 1)], "task")
    assert dump_tables(db_path) == before


def test_a_checkpoint_without_an_id_is_refused(
    filled: RustSQLiteCheckpointer, db_path: Path
) -> None:
    before = dump_tables(db_path)
    cp = dict(checkpoint())
    del cp["id"]
    with pytest.raises(ValueError, match="id"):
        filled.put(config(), cp, {"step": 0}, {})  # type: ignore[arg-type, typeddict-item]
    assert dump_tables(db_path) == before


def test_list_with_a_malformed_config_or_before_is_refused(filled: RustSQLiteCheckpointer) -> None:
    with pytest.raises(ValueError, match="configurable"):
        list(filled.list({"nothing": 1}))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="configurable"):
        list(filled.list(config(), before={"configurable": None}))  # type: ignore[arg-type]


class NotSerializable:
    __slots__ = ("payload",)

    def __init__(self) -> None:
        self.payload = threading.Lock()


def test_a_value_the_serializer_rejects_changes_nothing(
    filled: RustSQLiteCheckpointer, db_path: Path
) -> None:
    before = dump_tables(db_path)
    latest = filled.get_tuple(config())
    assert latest is not None
    with pytest.raises(TypeError, match="serializable"):
        filled.put(latest.config, checkpoint(bad=NotSerializable()), {"step": 2}, {})  # type: ignore[typeddict-item]
    with pytest.raises(TypeError, match="serializable"):
        # The good writes before and after the bad one are not stored either.
        filled.put_writes(
            latest.config, [("ok", 1), ("bad", NotSerializable()), ("ok2", 2)], "task-x"
        )
    with pytest.raises(TypeError):
        filled.put(latest.config, checkpoint(), {"step": 2, "bad": NotSerializable()}, {})  # type: ignore[typeddict-unknown-key]
    assert dump_tables(db_path) == before
    # The saver still works afterwards.
    filled.put_writes(latest.config, [("ok", 1)], "task-y")
    assert len(dump_tables(db_path)["writes"]) == len(before["writes"]) + 1


@pytest.mark.parametrize("key", UNSAFE_FILTER_KEYS)
def test_unsafe_filter_keys_are_refused_before_any_query(
    filled: RustSQLiteCheckpointer, db_path: Path, key: str
) -> None:
    before = dump_tables(db_path)
    with pytest.raises(ValueError, match="filter key"):
        list(filled.list(None, filter={key: "x"}))
    with pytest.raises(ValueError, match="filter key"):
        list(filled.list(config(), filter={"source": "loop", key: 1}))
    assert dump_tables(db_path) == before


@pytest.mark.parametrize("key", ["a') OR 1=1 --", "$"])
async def test_unsafe_filter_keys_are_refused_by_alist(
    filled: RustSQLiteCheckpointer, key: str
) -> None:
    with pytest.raises(ValueError, match="filter key"):
        [t async for t in filled.alist(None, filter={key: "x"})]


def test_filter_validation_happens_before_the_database_is_touched(db_path: Path) -> None:
    saver = RustSQLiteCheckpointer(str(db_path))
    saver.close()
    # On a closed saver any query fails; a bad key must be reported first.
    with pytest.raises(ValueError, match="filter key"):
        list(saver.list(None, filter={"a') OR 1=1 --": 1}))
    with pytest.raises(sqlite3.ProgrammingError):
        list(saver.list(None, filter={"fine": 1}))


def test_a_closed_saver_raises_a_sqlite_error(file_saver: RustSQLiteCheckpointer) -> None:
    stored = file_saver.put(config(), checkpoint(), {"step": 0}, {})  # type: ignore[typeddict-item]
    file_saver.close()
    file_saver.close()  # idempotent
    for call in (
        lambda: file_saver.get_tuple(config()),
        lambda: list(file_saver.list(None)),
        lambda: file_saver.put(config(), checkpoint(), {"step": 1}, {}),  # type: ignore[typeddict-item]
        lambda: file_saver.put_writes(stored, [("a", 1)], "task"),
        lambda: file_saver.delete_thread("t"),
    ):
        with pytest.raises(sqlite3.ProgrammingError):
            call()


def test_a_path_in_a_missing_folder(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "folder"
    with pytest.raises(sqlite3.OperationalError):
        RustSQLiteCheckpointer(str(missing / "checkpoints.db"))
    assert not (tmp_path / "no").exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "content",
    [b"this is not a database, just some text\n" * 200, bytes(range(256)) * 64],
    ids=["text", "binary"],
)
def test_a_file_that_is_not_a_database(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(content)
    with pytest.raises(sqlite3.DatabaseError):
        saver = RustSQLiteCheckpointer(str(path))
        saver.get_tuple(config())  # in case opening is lazy
    assert path.read_bytes() == content


def make_database(path: Path) -> bytes:
    """A closed database file with one checkpoint; returns its bytes."""
    with RustSQLiteCheckpointer.from_conn_string(str(path)) as saver:
        saver.put(config(), checkpoint(n=1), {"step": 0}, {})  # type: ignore[typeddict-item]
    return path.read_bytes()


def test_read_only_saver_reads_and_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints.db"
    original = make_database(path)
    os.chmod(path, 0o444)
    saver = RustSQLiteCheckpointer(str(path), read_only=True)
    try:
        found = saver.get_tuple(config())
        assert found is not None and found.checkpoint["channel_values"] == {"n": 1}
        assert len(list(saver.list(None))) == 1
        for write in (
            lambda: saver.put(config(), checkpoint(), {"step": 1}, {}),  # type: ignore[typeddict-item]
            lambda: saver.put_writes(found.config, [("a", 1)], "task"),
            lambda: saver.delete_thread("t"),
            lambda: saver.prune(["t"], strategy="delete"),
        ):
            with pytest.raises(sqlite3.OperationalError):
                write()
    finally:
        saver.close()
    assert path.read_bytes() == original


def test_a_read_only_file_opened_for_writing(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints.db"
    original = make_database(path)
    with read_only_file(path):
        with pytest.raises(sqlite3.Error):
            saver = RustSQLiteCheckpointer(str(path))
            try:
                saver.put(config(), checkpoint(), {"step": 1}, {})  # type: ignore[typeddict-item]
            finally:
                saver.close()
        assert path.read_bytes() == original


def test_read_only_on_a_missing_file_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(sqlite3.OperationalError):
        RustSQLiteCheckpointer(str(tmp_path / "absent.db"), read_only=True)
    assert list(tmp_path.iterdir()) == []


def test_bad_constructor_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="durability"):
        RustSQLiteCheckpointer(str(tmp_path / "x.db"), durability="sometimes")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []
