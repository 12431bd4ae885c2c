"""Real LangGraph graphs on our saver, driven through the async API (ainvoke, astream...).

The same saver object serves async graphs; `fast_langgraph.sqlite.aio.AsyncSqliteSaver`
is the drop-in name for langgraph's AsyncSqliteSaver.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.encrypted import EncryptedSerializer
from langgraph.types import Command

from conftest import GraphBuilders, contents, delta_log, human, thread
from fast_langgraph import RustSQLiteCheckpointer
from fast_langgraph.sqlite.aio import AsyncSqliteSaver

AES_KEY = b"fedcba9876543210fedcba9876543210"


async def test_conversation_persists_with_async_sqlite_saver(
    graphs: type[GraphBuilders], db_path: Path
) -> None:
    async with AsyncSqliteSaver.from_conn_string(str(db_path)) as saver:
        graph = graphs.chat(saver, use_async=True)
        await graph.ainvoke({"messages": [human("hello")]}, thread("1"))
        result = await graph.ainvoke({"messages": [human("again")]}, thread("1"))
        assert contents(result["messages"]) == [
            "hello",
            "you said: hello",
            "again",
            "you said: again",
        ]
    async with AsyncSqliteSaver.from_conn_string(str(db_path)) as reopened:
        state = await graphs.chat(reopened, use_async=True).aget_state(thread("1"))
        assert contents(state.values["messages"]) == [
            "hello",
            "you said: hello",
            "again",
            "you said: again",
        ]


async def test_users_run_concurrently_on_separate_threads(
    graphs: type[GraphBuilders], file_saver: RustSQLiteCheckpointer
) -> None:
    graph = graphs.chat(file_saver, use_async=True)
    users = [f"user-{n}" for n in range(8)]

    async def conversation(user: str) -> None:
        for turn in range(3):
            await graph.ainvoke({"messages": [human(f"{user} turn {turn}")]}, thread(user))

    await asyncio.gather(*(conversation(user) for user in users))
    for user in users:
        state = await graph.aget_state(thread(user))
        assert contents(state.values["messages"]) == [
            text
            for turn in range(3)
            for text in (f"{user} turn {turn}", f"you said: {user} turn {turn}")
        ]


async def test_time_travel_with_alist(
    graphs: type[GraphBuilders], file_saver: RustSQLiteCheckpointer
) -> None:
    graph = graphs.chat(file_saver, use_async=True)
    for text in ("one", "two"):
        await graph.ainvoke({"messages": [human(text)]}, thread("t"))
    history = [cp async for cp in file_saver.alist(thread("t"))]
    timestamps = [cp.checkpoint["ts"] for cp in history]
    assert timestamps == sorted(timestamps, reverse=True)
    after_one = next(
        cp
        for cp in history
        if len(cp.checkpoint["channel_values"].get("messages", [])) == 2
        and cp.metadata["source"] == "loop"
    )
    branched = await graph.ainvoke({"messages": [human("instead")]}, after_one.config)
    assert contents(branched["messages"]) == [
        "one",
        "you said: one",
        "instead",
        "you said: instead",
    ]
    latest = await file_saver.aget_tuple(thread("t"))
    assert latest is not None
    assert contents(latest.checkpoint["channel_values"]["messages"])[-1] == "you said: instead"


async def test_astream_aupdate_state_and_aget_state_history(
    graphs: type[GraphBuilders], file_saver: RustSQLiteCheckpointer
) -> None:
    graph = graphs.chat(file_saver, use_async=True)
    updates = [
        u
        async for u in graph.astream(
            {"messages": [human("streamed")]}, thread("t"), stream_mode="updates"
        )
    ]
    assert len(updates) == 1 and contents(updates[0]["reply"]["messages"]) == ["you said: streamed"]
    await graph.aupdate_state(thread("t"), {"messages": [human("edited in")]}, as_node="reply")
    history = [h async for h in graph.aget_state_history(thread("t"))]
    assert [h.metadata["source"] for h in history] == ["update", "loop", "loop", "input"]
    assert contents(history[0].values["messages"]) == [
        "streamed",
        "you said: streamed",
        "edited in",
    ]
    assert [h.config["configurable"]["checkpoint_id"] for h in history] == [
        t.checkpoint["id"] async for t in file_saver.alist(thread("t"))
    ]


async def test_interrupt_and_resume(graphs: type[GraphBuilders], db_path: Path) -> None:
    async with AsyncSqliteSaver.from_conn_string(str(db_path)) as saver:
        graph = graphs.approval(saver)
        first = await graph.ainvoke({"messages": [human("the plan")]}, thread("t"))
        assert [i.value for i in first["__interrupt__"]] == [{"question": "approve the plan?"}]
        assert (await graph.aget_state(thread("t"))).next == ("ask",)
    async with AsyncSqliteSaver.from_conn_string(str(db_path)) as saver:
        graph = graphs.approval(saver)
        done = await graph.ainvoke(Command(resume="no"), thread("t"))
        assert done["approved"] is False
        assert contents(done["messages"]) == ["the plan", "answer: no", "you said: answer: no"]


async def test_subgraph_namespace(
    graphs: type[GraphBuilders], file_saver: RustSQLiteCheckpointer
) -> None:
    graph = graphs.with_subgraph(file_saver)
    await graph.ainvoke({"messages": [human("hi")]}, thread("t"))
    namespaces = {
        t.config["configurable"]["checkpoint_ns"] async for t in file_saver.alist(thread("t"))
    }
    assert "" in namespaces and any(ns.startswith("child:") for ns in namespaces)
    state = await graph.aget_state(thread("t"), subgraphs=True)
    assert state.tasks[0].state is not None and state.tasks[0].state.next == ("inner",)
    done = await graph.ainvoke(Command(resume="ok"), thread("t"))
    assert contents(done["messages"]) == ["hi", "child heard ok", "you said: child heard ok"]


async def test_send_fan_out(
    graphs: type[GraphBuilders], file_saver: RustSQLiteCheckpointer
) -> None:
    topics = [f"topic {n}" for n in range(8)]
    ours = await graphs.fan_out(file_saver).ainvoke({"topics": topics}, thread("t"))
    reference = await graphs.fan_out(InMemorySaver()).ainvoke({"topics": topics}, thread("t"))
    assert ours == reference
    assert sorted(ours["results"]) == sorted(f"notes on {t}" for t in topics)


async def test_delta_channel_thread(
    graphs: type[GraphBuilders], file_saver: RustSQLiteCheckpointer
) -> None:
    graph = graphs.delta(file_saver)
    turns = ["a", "b", "c", "d", "e"]
    for text in turns:
        await graph.ainvoke({"messages": [human(text)], "log": [f"user: {text}"]}, thread("t"))
    assert (await graph.aget_state(thread("t"))).values["log"] == delta_log(turns)
    await file_saver.aprune(["t"], strategy="keep_latest")
    assert (await graph.aget_state(thread("t"))).values["log"] == delta_log(turns)
    await graph.ainvoke({"messages": [human("f")], "log": ["user: f"]}, thread("t"))
    assert (await graph.aget_state(thread("t"))).values["log"] == delta_log([*turns, "f"])


async def test_encrypted_serde_async_graph(graphs: type[GraphBuilders], db_path: Path) -> None:
    serde = EncryptedSerializer.from_pycryptodome_aes(key=AES_KEY)
    saver = AsyncSqliteSaver(str(db_path), serde=serde)
    assert saver.serde is serde
    try:
        graph = graphs.chat(saver, use_async=True)
        await graph.ainvoke({"messages": [human("async secret")]}, thread("t"))
        latest = await saver.aget_tuple(thread("t"))
        assert latest is not None
        assert contents(latest.checkpoint["channel_values"]["messages"]) == [
            "async secret",
            "you said: async secret",
        ]
    finally:
        saver.close()
    for file in db_path.parent.iterdir():
        assert b"async secret" not in file.read_bytes(), file.name
