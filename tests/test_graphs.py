"""Real LangGraph graphs on our saver, driven through the sync API.

Conversation memory, users on separate threads, a new process resuming a thread,
time travel, interrupts, subgraphs, Send fan-out, DeltaChannel, streaming,
update_state, state history, strict msgpack and user-supplied serializers.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import CheckpointTuple
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.encrypted import EncryptedSerializer
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.types import Command

from conftest import GraphBuilders, contents, delta_log, human, thread, writes_of
from fast_langgraph import RustSQLiteCheckpointer

AES_KEY = b"0123456789abcdef0123456789abcdef"


def run_python(script: str, *args: str, extra_env: dict[str, str] | None = None) -> str:
    """Run `script` in a fresh interpreter with this process's environment; return stdout."""
    env = {**os.environ, **(extra_env or {})}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


# -- persistence --------------------------------------------------------------------------


def test_conversation_persists_across_invokes_and_saver_instances(
    graphs: type[GraphBuilders], db_path: Path
) -> None:
    with RustSQLiteCheckpointer.from_conn_string(str(db_path)) as saver:
        graph = graphs.chat(saver)
        graph.invoke({"messages": [human("hello")]}, thread("1"))
        result = graph.invoke({"messages": [human("again")]}, thread("1"))
        assert contents(result["messages"]) == [
            "hello",
            "you said: hello",
            "again",
            "you said: again",
        ]
    with RustSQLiteCheckpointer.from_conn_string(str(db_path)) as reopened:
        graph = graphs.chat(reopened)
        state = graph.get_state(thread("1"))
        assert contents(state.values["messages"]) == [
            "hello",
            "you said: hello",
            "again",
            "you said: again",
        ]
        assert state.next == ()
        result = graph.invoke({"messages": [human("third")]}, thread("1"))
        assert len(result["messages"]) == 6


def test_users_get_separate_threads(
    graphs: type[GraphBuilders], file_saver: RustSQLiteCheckpointer
) -> None:
    graph = graphs.chat(file_saver)
    for user in ("alice", "bob", "carol"):
        graph.invoke({"messages": [human(f"I am {user}")]}, thread(user))
    graph.invoke({"messages": [human("still alice")]}, thread("alice"))
    assert contents(graph.get_state(thread("alice")).values["messages"]) == [
        "I am alice",
        "you said: I am alice",
        "still alice",
        "you said: still alice",
    ]
    assert contents(graph.get_state(thread("bob")).values["messages"]) == [
        "I am bob",
        "you said: I am bob",
    ]
    assert graph.get_state(thread("nobody")).values == {}
    threads = {t.config["configurable"]["thread_id"] for t in file_saver.list(None)}
    assert threads == {"alice", "bob", "carol"}


RESUME_IN_NEW_PROCESS = """
    import json, sys
    from typing import Annotated, TypedDict
    from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
    from langgraph.graph import START, StateGraph
    from langgraph.graph.message import add_messages
    import fast_langgraph
    from fast_langgraph import RustSQLiteCheckpointer

    class ChatState(TypedDict):
        messages: Annotated[list[AnyMessage], add_messages]

    def reply(state):
        return {"messages": [AIMessage(f"you said: {state['messages'][-1].content}")]}

    builder = StateGraph(ChatState)
    builder.add_node("reply", reply)
    builder.add_edge(START, "reply")
    with RustSQLiteCheckpointer.from_conn_string(sys.argv[1]) as saver:
        graph = builder.compile(checkpointer=saver)
        config = {"configurable": {"thread_id": "conversation"}}
        before = [m.content for m in graph.get_state(config).values["messages"]]
        graph.invoke({"messages": [HumanMessage("from the new process")]}, config)
    print(json.dumps({"impl": fast_langgraph.__impl__, "before": before}))
"""


def test_a_new_process_resumes_the_thread(graphs: type[GraphBuilders], db_path: Path) -> None:
    with RustSQLiteCheckpointer.from_conn_string(str(db_path)) as saver:
        graphs.chat(saver).invoke({"messages": [human("from the test")]}, thread("conversation"))
    report = json.loads(run_python(RESUME_IN_NEW_PROCESS, str(db_path)))
    import fast_langgraph

    assert report == {
        "impl": fast_langgraph.__impl__,
        "before": ["from the test", "you said: from the test"],
    }
    with RustSQLiteCheckpointer.from_conn_string(str(db_path)) as saver:
        state = graphs.chat(saver).get_state(thread("conversation"))
        assert contents(state.values["messages"]) == [
            "from the test",
            "you said: from the test",
            "from the new process",
            "you said: from the new process",
        ]


# -- history, time travel, updates -----------------------------------------------------------


def test_time_travel_from_a_past_checkpoint(
    graphs: type[GraphBuilders], file_saver: RustSQLiteCheckpointer
) -> None:
    graph = graphs.chat(file_saver)
    for text in ("one", "two", "three"):
        graph.invoke({"messages": [human(text)]}, thread("t"))
    history = list(file_saver.list(thread("t")))
    timestamps = [cp.checkpoint["ts"] for cp in history]
    assert timestamps == sorted(timestamps, reverse=True)
    # The checkpoint where the first turn was complete.
    after_one = next(
        cp
        for cp in history
        if len(cp.checkpoint["channel_values"].get("messages", [])) == 2
        and cp.metadata["source"] == "loop"
    )
    past_state = graph.get_state(after_one.config)
    assert contents(past_state.values["messages"]) == ["one", "you said: one"]
    branched = graph.invoke({"messages": [human("instead")]}, after_one.config)
    assert contents(branched["messages"]) == [
        "one",
        "you said: one",
        "instead",
        "you said: instead",
    ]
    # The branch is now the thread's latest state; the old future is still in history.
    assert contents(graph.get_state(thread("t")).values["messages"])[-1] == "you said: instead"
    newest = file_saver.get_tuple(thread("t"))
    assert newest is not None
    chain = []
    cursor: CheckpointTuple | None = newest
    while cursor is not None and cursor.parent_config is not None:
        chain.append(cursor.parent_config["configurable"]["checkpoint_id"])
        cursor = file_saver.get_tuple(cursor.parent_config)
    assert after_one.checkpoint["id"] in chain
    assert len(list(file_saver.list(thread("t")))) == len(history) + 3


def test_get_state_history_and_update_state(
    graphs: type[GraphBuilders], file_saver: RustSQLiteCheckpointer
) -> None:
    graph = graphs.chat(file_saver)
    graph.invoke({"messages": [human("one")]}, thread("t"))
    graph.invoke({"messages": [human("two")]}, thread("t"))
    history = list(graph.get_state_history(thread("t")))
    assert [h.config["configurable"]["checkpoint_id"] for h in history] == [
        t.checkpoint["id"] for t in file_saver.list(thread("t"))
    ]
    assert [h.metadata["source"] for h in history] == [
        "loop",
        "loop",
        "input",
        "loop",
        "loop",
        "input",
    ]
    assert contents(history[0].values["messages"]) == [
        "one",
        "you said: one",
        "two",
        "you said: two",
    ]
    assert history[-1].values == {"messages": []} or history[-1].values == {}
    assert len(list(graph.get_state_history(thread("t"), limit=2))) == 2
    assert [
        h.metadata["step"] for h in graph.get_state_history(thread("t"), filter={"source": "input"})
    ] == [2, -1]

    updated_config = graph.update_state(
        thread("t"), {"messages": [human("edited in")]}, as_node="reply"
    )
    latest = file_saver.get_tuple(thread("t"))
    assert latest is not None
    assert (
        latest.config["configurable"]["checkpoint_id"]
        == updated_config["configurable"]["checkpoint_id"]
    )
    assert latest.metadata["source"] == "update"
    assert contents(graph.get_state(thread("t")).values["messages"])[-1] == "edited in"


def test_stream_persists_each_step(
    graphs: type[GraphBuilders], file_saver: RustSQLiteCheckpointer
) -> None:
    graph = graphs.chat(file_saver)
    updates = list(
        graph.stream({"messages": [human("streamed")]}, thread("t"), stream_mode="updates")
    )
    assert len(updates) == 1 and contents(updates[0]["reply"]["messages"]) == ["you said: streamed"]
    values = list(graph.stream({"messages": [human("more")]}, thread("t"), stream_mode="values"))
    assert contents(values[-1]["messages"]) == [
        "streamed",
        "you said: streamed",
        "more",
        "you said: more",
    ]
    assert contents(graph.get_state(thread("t")).values["messages"]) == contents(
        values[-1]["messages"]
    )


# -- interrupts, subgraphs, fan-out, DeltaChannel ----------------------------------------


def test_interrupt_and_resume_across_saver_instances(
    graphs: type[GraphBuilders], db_path: Path
) -> None:
    with RustSQLiteCheckpointer.from_conn_string(str(db_path)) as saver:
        graph = graphs.approval(saver)
        first = graph.invoke({"messages": [human("the plan")]}, thread("t"))
        assert [i.value for i in first["__interrupt__"]] == [{"question": "approve the plan?"}]
        state = graph.get_state(thread("t"))
        assert state.next == ("ask",)
        assert [i.value for i in state.tasks[0].interrupts] == [{"question": "approve the plan?"}]
    with RustSQLiteCheckpointer.from_conn_string(str(db_path)) as saver:
        graph = graphs.approval(saver)
        done = graph.invoke(Command(resume="yes"), thread("t"))
        assert done["approved"] is True
        assert contents(done["messages"]) == ["the plan", "answer: yes", "you said: answer: yes"]
        assert graph.get_state(thread("t")).next == ()


def test_subgraph_checkpoints_live_in_their_namespace(
    graphs: type[GraphBuilders], file_saver: RustSQLiteCheckpointer
) -> None:
    graph = graphs.with_subgraph(file_saver)
    graph.invoke({"messages": [human("hi")]}, thread("t"))
    namespaces = {t.config["configurable"]["checkpoint_ns"] for t in file_saver.list(thread("t"))}
    child_ns = [ns for ns in namespaces if ns.startswith("child:")]
    assert "" in namespaces and len(child_ns) == 1
    only_child = list(
        file_saver.list({"configurable": {"thread_id": "t", "checkpoint_ns": child_ns[0]}})
    )
    assert only_child and all(
        t.config["configurable"]["checkpoint_ns"] == child_ns[0] for t in only_child
    )
    state = graph.get_state(thread("t"), subgraphs=True)
    child_state = state.tasks[0].state
    assert child_state is not None and child_state.next == ("inner",)
    assert [i.value for i in state.interrupts] == ["child asks"]
    done = graph.invoke(Command(resume="yes"), thread("t"))
    assert contents(done["messages"]) == ["hi", "child heard yes", "you said: child heard yes"]


def test_send_fan_out_gathers_every_branch(
    graphs: type[GraphBuilders], file_saver: RustSQLiteCheckpointer
) -> None:
    topics = [f"topic {n}" for n in range(6)]
    ours = graphs.fan_out(file_saver).invoke({"topics": topics}, thread("t"))
    reference = graphs.fan_out(InMemorySaver()).invoke({"topics": topics}, thread("t"))
    assert ours == reference
    assert sorted(ours["results"]) == sorted(f"notes on {t}" for t in topics)
    # The parallel tasks' writes are stored on the checkpoint that scheduled them.
    writes = [w for t in file_saver.list(thread("t")) for w in writes_of(t)]
    assert sorted(value[0] for _, channel, value in writes if channel == "results") == sorted(
        ours["results"]
    )


def test_delta_channel_thread(graphs: type[GraphBuilders], db_path: Path) -> None:
    turns = ["a", "b", "c", "d"]
    with RustSQLiteCheckpointer.from_conn_string(str(db_path)) as saver:
        graph = graphs.delta(saver)
        for text in turns:
            graph.invoke({"messages": [human(text)], "log": [f"user: {text}"]}, thread("t"))
        assert graph.get_state(thread("t")).values["log"] == delta_log(turns)
    with RustSQLiteCheckpointer.from_conn_string(str(db_path)) as reopened:
        graph = graphs.delta(reopened)
        assert graph.get_state(thread("t")).values["log"] == delta_log(turns)
        history = list(graph.get_state_history(thread("t")))
        assert history[0].values["log"] == delta_log(turns)
        assert any(
            "counters_since_delta_snapshot" in t.metadata for t in reopened.list(thread("t"))
        )


# -- serializers --------------------------------------------------------------------------


STRICT_MSGPACK_GRAPH = """
    import json, sys
    from dataclasses import dataclass
    from typing import Annotated, TypedDict
    from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
    from langgraph.checkpoint.serde import _msgpack
    from langgraph.graph import START, StateGraph
    from langgraph.graph.message import add_messages
    from fast_langgraph import RustSQLiteCheckpointer

    @dataclass
    class Note:
        text: str

    class State(TypedDict, total=False):
        messages: Annotated[list[AnyMessage], add_messages]
        note: Note

    def reply(state):
        heard = state["messages"][-1].content
        return {"messages": [AIMessage(f"you said: {heard}")], "note": Note(heard)}

    builder = StateGraph(State)
    builder.add_node("reply", reply)
    builder.add_edge(START, "reply")
    assert _msgpack.STRICT_MSGPACK_ENABLED
    with RustSQLiteCheckpointer.from_conn_string(sys.argv[1]) as saver:
        graph = builder.compile(checkpointer=saver)
        config = {"configurable": {"thread_id": "t"}}
        graph.invoke({"messages": [HumanMessage("one")]}, config)
        graph.invoke({"messages": [HumanMessage("two")]}, config)
        state = graph.get_state(config).values
        clone = graph.checkpointer
        # The original saver (no allowlist for Note) must not construct Note from the file.
        raw_note = saver.get_tuple(config).checkpoint["channel_values"]["note"]
        print(json.dumps({
            "cloned": clone is not saver and type(clone) is type(saver),
            "shares_database": saver.get_tuple(config).checkpoint["id"] == clone.get_tuple(config).checkpoint["id"],
            "messages": [m.content for m in state["messages"]],
            "note_type": type(state["note"]).__name__,
            "note_text": state["note"].text,
            "original_saver_note_type": type(raw_note).__name__,
        }))
"""


def test_strict_msgpack_graph_uses_the_allowlist_clone(db_path: Path) -> None:
    report = json.loads(
        run_python(
            STRICT_MSGPACK_GRAPH, str(db_path), extra_env={"LANGGRAPH_STRICT_MSGPACK": "true"}
        )
    )
    assert report == {
        "cloned": True,
        "shares_database": True,
        "messages": ["one", "you said: one", "two", "you said: two"],
        "note_type": "Note",
        "note_text": "two",
        "original_saver_note_type": report["original_saver_note_type"],
    }
    assert report["original_saver_note_type"] != "Note"


class CountingSerializer(JsonPlusSerializer):
    """A user serializer: tags every blob with its own prefix and counts the calls."""

    def __init__(self) -> None:
        super().__init__()
        self.dumped = 0
        self.loaded = 0

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        self.dumped += 1
        tag, data = super().dumps_typed(obj)
        return f"counted-{tag}", data

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        self.loaded += 1
        tag, payload = data
        assert tag.startswith("counted-"), tag
        return super().loads_typed((tag.removeprefix("counted-"), payload))


def stored_types(db_path: Path) -> set[str]:
    conn = sqlite3.connect(db_path)
    try:
        rows = conn.execute("SELECT type FROM checkpoints UNION SELECT type FROM writes").fetchall()
        return {row[0] for row in rows}
    finally:
        conn.close()


def test_a_custom_serde_is_honoured(graphs: type[GraphBuilders], db_path: Path) -> None:
    serde = CountingSerializer()
    with RustSQLiteCheckpointer.from_conn_string(str(db_path), serde=serde) as saver:
        graph = graphs.chat(saver)
        graph.invoke({"messages": [human("one")]}, thread("t"))
        result = graph.invoke({"messages": [human("two")]}, thread("t"))
        assert contents(result["messages"]) == ["one", "you said: one", "two", "you said: two"]
        assert serde.dumped > 0 and serde.loaded > 0
    assert stored_types(db_path) and all(t.startswith("counted-") for t in stored_types(db_path))


def test_an_encrypted_serde_graph(graphs: type[GraphBuilders], db_path: Path) -> None:
    def encrypted() -> EncryptedSerializer:
        return EncryptedSerializer.from_pycryptodome_aes(key=AES_KEY)

    with RustSQLiteCheckpointer.from_conn_string(str(db_path), serde=encrypted()) as saver:
        graph = graphs.chat(saver)
        graph.invoke({"messages": [human("a very secret message")]}, thread("t"))
    assert all(t.endswith("+aes") for t in stored_types(db_path))
    for file in db_path.parent.iterdir():  # the database, and its WAL if one is left
        assert b"very secret" not in file.read_bytes(), file.name
    with RustSQLiteCheckpointer.from_conn_string(str(db_path), serde=encrypted()) as saver:
        graph = graphs.chat(saver)
        result = graph.invoke({"messages": [human("more")]}, thread("t"))
        assert contents(result["messages"]) == [
            "a very secret message",
            "you said: a very secret message",
            "more",
            "you said: more",
        ]
