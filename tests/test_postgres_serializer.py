"""Our public serializer inside langgraph's own PostgreSQL savers, on a real server.

`PostgresSaver(conn, serde=fast_langgraph.serde.JsonPlusSerializer())` and the same
for `AsyncPostgresSaver`: the official conformance suite passes, and a conversation
stores the very same bytes (checkpoint_blobs, checkpoint_writes, checkpoints) and
gives the same state history as with langgraph's own serializer.

The server is tests/pg_server.py's (the session fixture `postgres`); every saver
gets a database of its own. Nothing is mocked.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import psycopg
import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.report import CapabilityReport
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer as LangGraphSerializer
from langgraph.checkpoint.serde.types import TASKS
from langgraph.types import Command
from pg_server import PostgresServer
from psycopg.rows import dict_row

import fast_langgraph
import fast_langgraph.serde
from conftest import GraphBuilders, human, thread

# What PostgresSaver 3.x implements; copy_thread and delete_for_runs it does not.
POSTGRES_CAPABILITIES = ("put", "put_writes", "get_tuple", "list", "delete_thread", "prune")

_databases = itertools.count()


def new_database(server: PostgresServer, label: str) -> str:
    """The URL of a fresh, empty database."""
    return server.create_database(f"{label}_{next(_databases)}")


def connect(url: str) -> psycopg.Connection[Any]:
    """A connection as `PostgresSaver.from_conn_string` opens one."""
    return psycopg.connect(url, autocommit=True, prepare_threshold=0, row_factory=dict_row)


async def aconnect(url: str) -> psycopg.AsyncConnection[Any]:
    return await psycopg.AsyncConnection.connect(
        url, autocommit=True, prepare_threshold=0, row_factory=dict_row
    )


def ours() -> fast_langgraph.serde.JsonPlusSerializer:
    serde = fast_langgraph.serde.JsonPlusSerializer()
    assert serde.implementation == fast_langgraph.__impl__
    return serde


def assert_conformance(report: CapabilityReport, capabilities: Sequence[str]) -> None:
    report.print_report()
    detected = {name for name, result in report.results.items() if result.detected}
    assert detected == set(capabilities)
    for capability in capabilities:
        result = report.results[capability]
        assert result.tests_skipped == 0, f"{capability}: {result.tests_skipped} skipped"
        assert result.tests_failed == 0, f"{capability}: {result.failures}"
        assert result.tests_passed > 0, f"{capability}: no test ran"
        assert result.passed is True, capability
    assert report.passed_all()


class SyncPostgresSaver(PostgresSaver):
    """PostgresSaver with its async methods answered by its SYNC ones, called
    directly: the conformance suite only calls async methods, and PostgresSaver
    has none. Only the methods PostgresSaver itself implements get a twin, so the
    suite detects exactly PostgresSaver's capabilities."""

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self.get_tuple(config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        for item in self.list(config, filter=filter, before=before, limit=limit):
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return self.put(config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        self.put_writes(config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        self.delete_thread(thread_id)

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        self.prune(thread_ids, strategy=strategy)


def test_the_sync_adapter_covers_exactly_what_postgres_saver_implements() -> None:
    """A capability is run through the adapter only where PostgresSaver has the
    sync method (and so the suite cannot miss one, nor invent one)."""
    sync_names = {
        "put": "put",
        "put_writes": "put_writes",
        "get_tuple": "get_tuple",
        "list": "list",
        "delete_thread": "delete_thread",
        "delete_for_runs": "delete_for_runs",
        "copy_thread": "copy_thread",
        "prune": "prune",
    }
    implemented = {
        capability
        for capability, method in sync_names.items()
        if getattr(PostgresSaver, method) is not getattr(BaseCheckpointSaver, method)
    }
    assert implemented == set(POSTGRES_CAPABILITIES)
    for capability in POSTGRES_CAPABILITIES:
        assert f"a{sync_names[capability]}" in SyncPostgresSaver.__dict__


async def test_postgres_saver_with_our_serializer_passes_conformance(
    postgres: PostgresServer,
) -> None:
    connections: list[psycopg.Connection[Any]] = []

    @checkpointer_test(name="PostgresSaver+ours")
    async def fresh_saver() -> AsyncIterator[PostgresSaver]:
        conn = connect(new_database(postgres, "conformance_sync"))
        connections.append(conn)
        saver = SyncPostgresSaver(conn, serde=ours())
        saver.setup()
        try:
            yield saver
        finally:
            conn.close()

    report = await validate(fresh_saver)
    assert all(conn.closed for conn in connections)
    assert_conformance(report, POSTGRES_CAPABILITIES)


async def test_async_postgres_saver_with_our_serializer_passes_conformance(
    postgres: PostgresServer,
) -> None:
    @checkpointer_test(name="AsyncPostgresSaver+ours")
    async def fresh_saver() -> AsyncIterator[AsyncPostgresSaver]:
        conn = await aconnect(new_database(postgres, "conformance_async"))
        saver = AsyncPostgresSaver(conn, serde=ours())
        await saver.setup()
        try:
            yield saver
        finally:
            await conn.close()

    report = await validate(fresh_saver)
    assert_conformance(report, POSTGRES_CAPABILITIES)


# -- a conversation, byte for byte -----------------------------------------------------------


class MirroredPostgresSaver(PostgresSaver):
    """A PostgresSaver that also hands every write, with the very same arguments,
    to `mirror` (another saver, on another database). The graph runs on this one:
    its reads and writes go through this saver's serializer; the mirror only
    stores what it is given, so both databases get identical inputs (checkpoint
    ids, channel versions, task ids, message ids) and must hold identical rows.

    LangGraph saves a task's writes in the background while the graph goes on, and
    `add_messages` gives an id to a message that has none in place, so what one
    write serializes can depend on timing; both savers therefore get one deep
    copy of each call's values, taken once."""

    def __init__(self, conn: psycopg.Connection[Any], serde: Any, mirror: PostgresSaver) -> None:
        super().__init__(conn, serde=serde)
        self.mirror = mirror

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        checkpoint = copy.deepcopy(checkpoint)
        stored = super().put(config, checkpoint, metadata, new_versions)
        assert self.mirror.put(config, checkpoint, metadata, new_versions) == stored
        return stored

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        writes = copy.deepcopy(list(writes))
        super().put_writes(config, writes, task_id, task_path)
        self.mirror.put_writes(config, writes, task_id, task_path)


TABLES = {
    "checkpoints": "thread_id, checkpoint_ns, checkpoint_id",
    "checkpoint_blobs": "thread_id, checkpoint_ns, channel, version",
    "checkpoint_writes": "thread_id, checkpoint_ns, checkpoint_id, task_id, idx",
}


def rows_of(conn: psycopg.Connection[Any], table: str) -> list[dict[str, Any]]:
    with conn.cursor(binary=True, row_factory=dict_row) as cur:
        cur.execute(f"SELECT * FROM {table} ORDER BY {TABLES[table]}")
        return cur.fetchall()


def converse(graphs: type[GraphBuilders], saver: PostgresSaver) -> list[RunnableConfig]:
    """Messages, an interrupt and its resume, a subgraph that interrupts, Send
    fan-out and a DeltaChannel, each on a thread of its own; the threads' configs."""
    chat = graphs.chat(saver)
    for text in ("hello", "how are you", "bye"):
        chat.invoke({"messages": [human(text)]}, thread("chat"))

    approval = graphs.approval(saver)
    approval.invoke({"messages": [human("the refund")]}, thread("approval"))
    approval.invoke(Command(resume="yes"), thread("approval"))

    nested = graphs.with_subgraph(saver)
    nested.invoke({"messages": [human("ask the child")]}, thread("subgraph"))
    nested.invoke(Command(resume="fine"), thread("subgraph"))

    fan_out = graphs.fan_out(saver)
    fan_out.invoke({"topics": ["sqlite", "postgres", "rust"]}, thread("fan-out"))

    delta = graphs.delta(saver)
    for text in ("one", "two", "three", "four", "five"):
        delta.invoke({"messages": [human(text)], "log": [f"user: {text}"]}, thread("delta"))
    return [thread(name) for name in ("chat", "approval", "subgraph", "fan-out", "delta")]


def history(graphs: type[GraphBuilders], saver: PostgresSaver) -> dict[str, list[Any]]:
    builders = {
        "chat": graphs.chat,
        "approval": graphs.approval,
        "subgraph": graphs.with_subgraph,
        "fan-out": graphs.fan_out,
        "delta": graphs.delta,
    }
    return {
        name: list(build(saver).get_state_history(thread(name))) for name, build in builders.items()
    }


@pytest.fixture
def conversation_savers(
    postgres: PostgresServer,
) -> Iterator[tuple[MirroredPostgresSaver, PostgresSaver]]:
    """(PostgresSaver with our serializer, mirroring into PostgresSaver with
    langgraph's), each on a fresh database."""
    theirs_conn = connect(new_database(postgres, "conversation_langgraph"))
    ours_conn = connect(new_database(postgres, "conversation_ours"))
    try:
        theirs = PostgresSaver(theirs_conn, serde=LangGraphSerializer())
        theirs.setup()
        mine = MirroredPostgresSaver(ours_conn, ours(), mirror=theirs)
        mine.setup()
        yield mine, theirs
    finally:
        ours_conn.close()
        theirs_conn.close()


def test_a_conversation_stores_the_same_bytes_and_history(
    graphs: type[GraphBuilders],
    conversation_savers: tuple[MirroredPostgresSaver, PostgresSaver],
) -> None:
    mine, theirs = conversation_savers
    configs = converse(graphs, mine)

    # The graph really ran: answers, the resumed interrupts, every Send, the delta log.
    chat = graphs.chat(mine).get_state(thread("chat")).values["messages"]
    assert [m.content for m in chat][-2:] == ["bye", "you said: bye"]
    assert graphs.approval(mine).get_state(thread("approval")).values["approved"] is True
    results = graphs.fan_out(mine).get_state(thread("fan-out")).values["results"]
    assert sorted(results) == ["notes on postgres", "notes on rust", "notes on sqlite"]
    delta_state = graphs.delta(mine).get_state(thread("delta")).values
    assert delta_state["log"][-3:] == ["user: five", "replied to five", "audited 10"]

    for table in TABLES:
        stored = rows_of(mine.conn, table)  # type: ignore[arg-type]
        expected = rows_of(theirs.conn, table)  # type: ignore[arg-type]
        assert len(stored) == len(expected) > 0, table
        for got, want in zip(stored, expected, strict=True):
            assert got == want, (table, got, want)
    blobs = rows_of(mine.conn, "checkpoint_blobs")  # type: ignore[arg-type]
    assert {row["type"] for row in blobs} >= {"msgpack"}
    writes = rows_of(mine.conn, "checkpoint_writes")  # type: ignore[arg-type]
    # Interrupts, resumes, Send packets, messages and the DeltaChannel's writes.
    assert {"__interrupt__", "__resume__", TASKS, "messages", "log"} <= {
        row["channel"] for row in writes
    }

    ours_history = history(graphs, mine)
    theirs_history = history(graphs, theirs)
    assert ours_history == theirs_history
    for config in configs:
        name = config["configurable"]["thread_id"]
        assert len(ours_history[name]) > 1, name
        # Read back through the savers too: every checkpoint of every namespace
        # (the subgraph's included) with its pending writes.
        assert list(mine.list(config)) == list(theirs.list(config))
    namespaces = {t.config["configurable"]["checkpoint_ns"] for t in mine.list(thread("subgraph"))}
    assert len(namespaces) == 2


def test_each_stored_blob_reads_back_the_same_through_either_serializer(
    graphs: type[GraphBuilders],
    conversation_savers: tuple[MirroredPostgresSaver, PostgresSaver],
) -> None:
    """Every blob and write langgraph's serializer stored decodes through ours to
    what langgraph's decodes, and ours encodes it back to the same bytes."""
    mine, theirs = conversation_savers
    converse(graphs, mine)
    langgraph_serde = LangGraphSerializer()
    our_serde = ours()
    checked = 0
    for table, column in (("checkpoint_blobs", "blob"), ("checkpoint_writes", "blob")):
        for row in rows_of(theirs.conn, table):  # type: ignore[arg-type]
            if row["type"] == "empty":
                continue
            stored = (row["type"], bytes(row[column]))
            decoded = our_serde.loads_typed(stored)
            assert decoded == langgraph_serde.loads_typed(stored), row
            assert our_serde.dumps_typed(decoded) == stored, row
            checked += 1
    assert checked > 20
