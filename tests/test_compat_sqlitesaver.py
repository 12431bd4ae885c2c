"""One file, two savers: langgraph's SqliteSaver and ours read and continue each other's threads.

The files are made by real graph runs (messages, an interrupt pending, a subgraph
namespace, Send fan-out), then every checkpoint tuple is compared field by field.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple
from langgraph.checkpoint.sqlite import SqliteSaver as LangGraphSqliteSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver as LangGraphAsyncSqliteSaver
from langgraph.types import Command

import fast_langgraph.sqlite
import fast_langgraph.sqlite.aio
from conftest import GraphBuilders, contents, human, thread
from fast_langgraph import RustSQLiteCheckpointer

SaverOpener = Callable[[Path], AbstractContextManager[BaseCheckpointSaver[Any]]]


def langgraph_saver(path: Path) -> AbstractContextManager[BaseCheckpointSaver[Any]]:
    return LangGraphSqliteSaver.from_conn_string(str(path))


def our_saver(path: Path) -> AbstractContextManager[BaseCheckpointSaver[Any]]:
    return RustSQLiteCheckpointer.from_conn_string(str(path))


def our_drop_in_on_a_connection(path: Path) -> AbstractContextManager[BaseCheckpointSaver[Any]]:
    """`fast_langgraph.sqlite.SqliteSaver(sqlite3.connect(...))`, as SqliteSaver is built."""

    class Opened(AbstractContextManager[BaseCheckpointSaver[Any]]):
        def __enter__(self) -> BaseCheckpointSaver[Any]:
            self.conn = sqlite3.connect(str(path), check_same_thread=False)
            self.saver = fast_langgraph.sqlite.SqliteSaver(self.conn)
            return self.saver

        def __exit__(self, *exc: object) -> None:
            self.saver.close()
            self.conn.close()

    return Opened()


def write_scenario(graphs: type[GraphBuilders], saver: BaseCheckpointSaver[Any]) -> None:
    """A file with every kind of row a graph makes."""
    chat = graphs.chat(saver)
    chat.invoke({"messages": [human("hello")]}, thread("chat"))
    chat.invoke({"messages": [human("again")]}, thread("chat"))
    graphs.approval(saver).invoke({"messages": [human("the plan")]}, thread("approval"))
    graphs.with_subgraph(saver).invoke({"messages": [human("hi")]}, thread("subgraph"))
    graphs.fan_out(saver).invoke({"topics": ["a", "b", "c"]}, thread("fan-out"))


def in_key_order(tuples: Any) -> list[CheckpointTuple]:
    def key(t: CheckpointTuple) -> tuple[str, str, str]:
        configurable = t.config["configurable"]
        return (configurable["thread_id"], configurable["checkpoint_ns"], t.checkpoint["id"])

    return sorted(tuples, key=key)


def every_tuple(saver: BaseCheckpointSaver[Any]) -> list[CheckpointTuple]:
    return in_key_order(saver.list(None))


def assert_same_tuples(expected: list[CheckpointTuple], actual: list[CheckpointTuple]) -> None:
    assert len(actual) == len(expected)
    for theirs, ours in zip(expected, actual, strict=True):
        assert ours.config == theirs.config
        assert ours.checkpoint == theirs.checkpoint
        assert ours.metadata == theirs.metadata
        assert ours.parent_config == theirs.parent_config
        assert ours.pending_writes == theirs.pending_writes


def assert_reads_the_same(
    reader: BaseCheckpointSaver[Any], writer: BaseCheckpointSaver[Any]
) -> None:
    expected = every_tuple(writer)
    assert_same_tuples(expected, every_tuple(reader))
    for tup in expected:
        assert_same_tuples([tup], [reader.get_tuple(tup.config)])  # type: ignore[list-item]
    for thread_id in {t.config["configurable"]["thread_id"] for t in expected}:
        latest_theirs = writer.get_tuple(thread(thread_id))
        latest_ours = reader.get_tuple(thread(thread_id))
        assert latest_theirs is not None and latest_ours is not None
        assert_same_tuples([latest_theirs], [latest_ours])


def continue_scenario(graphs: type[GraphBuilders], saver: BaseCheckpointSaver[Any]) -> None:
    """Carry on every thread of `write_scenario`, checking the state it left."""
    chat = graphs.chat(saver)
    result = chat.invoke({"messages": [human("third")]}, thread("chat"))
    assert contents(result["messages"]) == [
        "hello",
        "you said: hello",
        "again",
        "you said: again",
        "third",
        "you said: third",
    ]
    approval = graphs.approval(saver)
    assert approval.get_state(thread("approval")).next == ("ask",)
    done = approval.invoke(Command(resume="yes"), thread("approval"))
    assert done["approved"] is True
    subgraph = graphs.with_subgraph(saver)
    done = subgraph.invoke(Command(resume="fine"), thread("subgraph"))
    assert contents(done["messages"]) == ["hi", "child heard fine", "you said: child heard fine"]
    fan_out = graphs.fan_out(saver)
    assert sorted(fan_out.get_state(thread("fan-out")).values["results"]) == [
        "notes on a",
        "notes on b",
        "notes on c",
    ]


@pytest.mark.parametrize("reader_opener", [our_saver, our_drop_in_on_a_connection])
def test_we_read_and_continue_what_sqlitesaver_wrote(
    graphs: type[GraphBuilders], db_path: Path, reader_opener: SaverOpener
) -> None:
    with langgraph_saver(db_path) as theirs:
        write_scenario(graphs, theirs)
    with langgraph_saver(db_path) as theirs, reader_opener(db_path) as ours:
        assert_reads_the_same(ours, theirs)
    with reader_opener(db_path) as ours:
        continue_scenario(graphs, ours)
    # SqliteSaver still reads the file, including what we added.
    with langgraph_saver(db_path) as theirs, our_saver(db_path) as ours:
        assert_reads_the_same(theirs, ours)


@pytest.mark.usefixtures("default_layout")
@pytest.mark.parametrize("writer_opener", [our_saver, our_drop_in_on_a_connection])
def test_sqlitesaver_reads_and_continues_what_we_wrote(
    graphs: type[GraphBuilders], db_path: Path, writer_opener: SaverOpener
) -> None:
    with writer_opener(db_path) as ours:
        write_scenario(graphs, ours)
    with writer_opener(db_path) as ours, langgraph_saver(db_path) as theirs:
        assert_reads_the_same(theirs, ours)
    with langgraph_saver(db_path) as theirs:
        continue_scenario(graphs, theirs)
    with langgraph_saver(db_path) as theirs, our_saver(db_path) as ours:
        assert_reads_the_same(ours, theirs)


def test_threads_alternate_between_the_savers(graphs: type[GraphBuilders], db_path: Path) -> None:
    openers: list[SaverOpener] = [
        langgraph_saver,
        our_saver,
        langgraph_saver,
        our_drop_in_on_a_connection,
    ]
    expected: list[str] = []
    for turn, opener in enumerate(openers):
        with opener(db_path) as saver:
            result = graphs.chat(saver).invoke({"messages": [human(f"turn {turn}")]}, thread("t"))
        expected += [f"turn {turn}", f"you said: turn {turn}"]
        assert contents(result["messages"]) == expected
    with langgraph_saver(db_path) as theirs, our_saver(db_path) as ours:
        assert_reads_the_same(ours, theirs)


async def test_async_drop_ins_read_sqlitesaver_files(
    graphs: type[GraphBuilders], db_path: Path
) -> None:
    with langgraph_saver(db_path) as theirs:
        write_scenario(graphs, theirs)
        expected = every_tuple(theirs)
    async with fast_langgraph.sqlite.aio.AsyncSqliteSaver.from_conn_string(str(db_path)) as ours:
        found = [t async for t in ours.alist(None)]
        assert_same_tuples(expected, in_key_order(found))
        done = await graphs.approval(ours).ainvoke(Command(resume="no"), thread("approval"))
        assert done["approved"] is False
    async with aiosqlite.connect(str(db_path)) as conn:
        on_connection = fast_langgraph.sqlite.aio.AsyncSqliteSaver(conn)
        latest = await on_connection.aget_tuple(thread("approval"))
        assert latest is not None
        assert contents(latest.checkpoint["channel_values"]["messages"]) == [
            "the plan",
            "answer: no",
            "you said: answer: no",
        ]
        on_connection.close()
    # And langgraph's own AsyncSqliteSaver reads what ours added.
    async with LangGraphAsyncSqliteSaver.from_conn_string(str(db_path)) as theirs:
        latest = await theirs.aget_tuple(thread("approval"))
        assert latest is not None
        assert latest.checkpoint["channel_values"]["approved"] is False
