"""Shared fixtures, and the guard that the suite really runs the implementation asked for.

nox sets FAST_LANGGRAPH_IMPL (the codec: rust or python),
FAST_LANGGRAPH_EXPECT_COMPILED (the engine: 1 compiled, 0 interpreted) and
FAST_LANGGRAPH_STORAGE (the layout of new files: default or compact). When they
are set and what was loaded differs, the session fails before any test runs: a suite that
silently tested the wrong engine would prove nothing.

Also the one home of what several test files share: saver fixtures, the graphs
the graph tests run (`GraphBuilders`), and small helpers, which the tests import
with `from conftest import ...` (pytest puts tests/ on sys.path).
"""

from __future__ import annotations

import operator
import os
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.channels.delta import DeltaChannel
from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple, PendingWrite
from langgraph.graph import START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import Command, Send, StateSnapshot, interrupt

import fast_langgraph
from fast_langgraph import RustSQLiteCheckpointer
from fast_langgraph.saver import STORAGE_ENV
from fast_langgraph_pure.compact import STORAGE_MODES


def implementation_mismatch(
    requested: str, expect_compiled: str, loaded: str, compiled: bool
) -> str | None:
    """Why the loaded codec (`loaded`, i.e. `__impl__`) and engine (`compiled`)
    do not satisfy the environment, or None when they do."""
    requested = requested.strip().lower()
    if requested:
        if requested not in ("rust", "python"):
            return f"FAST_LANGGRAPH_IMPL={requested!r} is not one of rust, python"
        if loaded != requested:
            return f"FAST_LANGGRAPH_IMPL={requested} but fast_langgraph.__impl__ is {loaded!r}"
    expect_compiled = expect_compiled.strip()
    if expect_compiled in ("0", "1"):
        if compiled != (expect_compiled == "1"):
            return (
                f"FAST_LANGGRAPH_EXPECT_COMPILED={expect_compiled} but the storage engine "
                f"is {'compiled' if compiled else 'interpreted'}"
            )
    elif expect_compiled:
        return f"FAST_LANGGRAPH_EXPECT_COMPILED={expect_compiled!r} must be 1 or 0"
    return None


def pytest_report_header(config: pytest.Config) -> list[str]:
    module = Path(fast_langgraph.__file__).parent
    engine = "compiled" if fast_langgraph.ENGINE_COMPILED else "interpreted"
    return [
        f"fast-langgraph codec: {fast_langgraph.__impl__}, engine: {engine} "
        f"(fast_langgraph {fast_langgraph.__version__} from {module})",
        f"FAST_LANGGRAPH_IMPL={os.environ.get('FAST_LANGGRAPH_IMPL', '')!r} "
        f"FAST_LANGGRAPH_EXPECT_COMPILED={os.environ.get('FAST_LANGGRAPH_EXPECT_COMPILED', '')!r} "
        f"FAST_LANGGRAPH_STORAGE={os.environ.get(STORAGE_ENV, '')!r} (new files: {storage_mode()})",
    ]


def storage_mode() -> str:
    """The layout savers give new files in this run: "compact" in the nox
    sessions of compact storage, else "default"."""
    return os.environ.get(STORAGE_ENV) or "default"


@pytest.fixture
def default_layout(monkeypatch: pytest.MonkeyPatch) -> None:
    """For a test about SqliteSaver's file layout itself (SqliteSaver reading
    what we wrote, the tables' bytes): new files get that layout in every
    session, compact ones included. Compact files have their own such tests in
    test_compact.py."""
    monkeypatch.delenv(STORAGE_ENV, raising=False)


def pytest_sessionstart(session: pytest.Session) -> None:
    reason = implementation_mismatch(
        os.environ.get("FAST_LANGGRAPH_IMPL", ""),
        os.environ.get("FAST_LANGGRAPH_EXPECT_COMPILED", ""),
        fast_langgraph.__impl__,
        fast_langgraph.ENGINE_COMPILED,
    )
    if reason is not None:
        pytest.exit(f"wrong implementation loaded: {reason}", returncode=3)
    if storage_mode() not in STORAGE_MODES:
        pytest.exit(f"{STORAGE_ENV}={storage_mode()!r} is not one of {STORAGE_MODES}", returncode=3)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark what needs a PostgreSQL server, so a platform without one can say so
    with `-m "not postgres"` (the release workflow's macOS and Windows legs)."""
    for item in items:
        if "postgres" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Any]:
    """A real PostgreSQL server for the whole run (tests/pg_server.py): started on
    first use, stopped at the end. Each test makes its own database in it."""
    # Imported here: tests/upstream/run_sqlite_tests.py loads this file by path.
    from pg_server import PostgresServer

    with PostgresServer() as server:
        yield server


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A database file that does not exist yet, in a fresh folder."""
    return tmp_path / "checkpoints.db"


@pytest.fixture
def file_saver(db_path: Path) -> Iterator[RustSQLiteCheckpointer]:
    with RustSQLiteCheckpointer.from_conn_string(str(db_path)) as saver:
        yield saver


@pytest.fixture
def memory_saver() -> Iterator[RustSQLiteCheckpointer]:
    with RustSQLiteCheckpointer.from_conn_string(":memory:") as saver:
        yield saver


@pytest.fixture(params=["file", "memory"])
def saver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RustSQLiteCheckpointer]:
    """A fresh saver, once on a file and once on ":memory:"."""
    target = str(tmp_path / "checkpoints.db") if request.param == "file" else ":memory:"
    with RustSQLiteCheckpointer.from_conn_string(target) as fresh:
        yield fresh


@contextmanager
def read_only_file(path: Path | str) -> Iterator[None]:
    """Make `path` unwritable for this process, root included.

    Root ignores file modes, so as root the file is made immutable (`chattr +i`);
    otherwise it is chmod 0o444. Restored on exit.
    """
    if os.geteuid() != 0:
        os.chmod(path, 0o444)
        try:
            yield
        finally:
            os.chmod(path, 0o644)
        return
    subprocess.run(["chattr", "+i", str(path)], check=True, capture_output=True)
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True, capture_output=True)


def dump_tables(path: Path | str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the checkpoint tables, in a stable order, for before/after comparisons."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {
            table: sorted(conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
            for table in ("checkpoints", "writes")
        }
    finally:
        conn.close()


# -- graphs shared by the sync and async graph tests ----------------------------------------
# Real LangGraph graphs with LangChain messages and no LLM: each node answers deterministically.


class ChatState(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


class ApprovalState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    approved: bool


class FanOutState(TypedDict, total=False):
    topics: list[str]
    results: Annotated[list[str], operator.add]


def concatenate(state: list[str], batches: Any) -> list[str]:
    """A DeltaChannel reducer: batching-invariant list concatenation."""
    merged = list(state)
    for batch in batches:
        merged.extend(batch)
    return merged


class DeltaChatState(TypedDict, total=False):
    log: Annotated[list[str], DeltaChannel(concatenate, snapshot_frequency=2)]
    messages: Annotated[list[AnyMessage], add_messages]


def _reply(state: ChatState) -> dict[str, Any]:
    return {"messages": [AIMessage(f"you said: {state['messages'][-1].content}")]}


async def _areply(state: ChatState) -> dict[str, Any]:
    return _reply(state)


class GraphBuilders:
    """Builders for the graphs the graph tests run (sync and async nodes)."""

    @staticmethod
    def chat(saver: BaseCheckpointSaver[Any], *, use_async: bool = False) -> Any:
        """START -> reply: echoes the last message."""
        builder = StateGraph(ChatState)
        builder.add_node("reply", _areply if use_async else _reply)
        builder.add_edge(START, "reply")
        return builder.compile(checkpointer=saver)

    @staticmethod
    def approval(saver: BaseCheckpointSaver[Any]) -> Any:
        """START -> ask (interrupts for a yes/no) -> reply."""

        def ask(state: ApprovalState) -> dict[str, Any]:
            answer = interrupt({"question": f"approve {state['messages'][-1].content}?"})
            return {"approved": answer == "yes", "messages": [AIMessage(f"answer: {answer}")]}

        builder = StateGraph(ApprovalState)
        builder.add_node("ask", ask)
        builder.add_node("reply", _reply)
        builder.add_edge(START, "ask")
        builder.add_edge("ask", "reply")
        return builder.compile(checkpointer=saver)

    @staticmethod
    def with_subgraph(saver: BaseCheckpointSaver[Any]) -> Any:
        """START -> child (a subgraph that interrupts) -> reply."""

        def inner(state: ChatState) -> dict[str, Any]:
            answer = interrupt("child asks")
            return {"messages": [AIMessage(f"child heard {answer}")]}

        child_builder = StateGraph(ChatState)
        child_builder.add_node("inner", inner)
        child_builder.add_edge(START, "inner")
        builder = StateGraph(ChatState)
        builder.add_node("child", child_builder.compile())
        builder.add_node("reply", _reply)
        builder.add_edge(START, "child")
        builder.add_edge("child", "reply")
        return builder.compile(checkpointer=saver)

    @staticmethod
    def fan_out(saver: BaseCheckpointSaver[Any]) -> Any:
        """START -Send-> research (once per topic), results gathered with operator.add."""

        def research(task: Any) -> dict[str, Any]:  # a Send payload, not the state
            return {"results": [f"notes on {task['topic']}"]}

        def dispatch(state: FanOutState) -> list[Send]:
            return [Send("research", {"topic": topic}) for topic in state["topics"]]

        builder = StateGraph(FanOutState)
        builder.add_node("research", research)  # type: ignore[arg-type]
        builder.add_conditional_edges(START, dispatch, ["research"])
        return builder.compile(checkpointer=saver)

    @staticmethod
    def delta(saver: BaseCheckpointSaver[Any]) -> Any:
        """START -> reply -> audit; `log` is a DeltaChannel snapshotted every 2 updates."""

        def reply(state: DeltaChatState) -> dict[str, Any]:
            heard = state["messages"][-1].content
            return {"messages": [AIMessage(f"you said: {heard}")], "log": [f"replied to {heard}"]}

        def audit(state: DeltaChatState) -> dict[str, Any]:
            return {"log": [f"audited {len(state['messages'])}"]}

        builder = StateGraph(DeltaChatState)
        builder.add_node("reply", reply)
        builder.add_node("audit", audit)
        builder.add_edge(START, "reply")
        builder.add_edge("reply", "audit")
        return builder.compile(checkpointer=saver)


def delta_log(turns: list[str]) -> list[str]:
    """The DeltaChatState log after sending `turns` one per invoke."""
    log: list[str] = []
    for number, text in enumerate(turns, start=1):
        log += [f"user: {text}", f"replied to {text}", f"audited {2 * number}"]
    return log


def writes_of(found: CheckpointTuple | None) -> list[PendingWrite]:
    """The pending writes of a tuple that must exist (savers always return a list)."""
    assert found is not None and found.pending_writes is not None
    return found.pending_writes


def thread(thread_id: str) -> RunnableConfig:
    """The config a graph is invoked with."""
    return {"configurable": {"thread_id": thread_id}}


def human(text: str) -> HumanMessage:
    return HumanMessage(text)


def contents(messages: list[AnyMessage]) -> list[str]:
    return [str(m.content) for m in messages]


# -- conversations of every kind (test_migrate_postgres, test_compact) ---------------------


def turn(text: str) -> dict[str, Any]:
    return {"messages": [human(text)], "log": [f"user: {text}"]}


def scenarios(graphs: type[GraphBuilders]) -> dict[str, tuple[Callable[..., Any], list[Any], Any]]:
    """thread -> (graph builder, what it was sent, what it is sent after the move):
    a chat, an interrupt to resume, a subgraph's interrupt, Send fan-out, and
    a DeltaChannel snapshotted every 2 updates."""
    return {
        "chat": (
            graphs.chat,
            [{"messages": [human("hi")]}, {"messages": [human("you?")]}],
            {"messages": [human("bye")]},
        ),
        "approval": (graphs.approval, [{"messages": [human("the plan")]}], Command(resume="yes")),
        "subgraph": (graphs.with_subgraph, [{"messages": [human("go")]}], Command(resume="fine")),
        "fan-out": (graphs.fan_out, [{"topics": ["a", "b", "c"]}], {"topics": ["d", "e"]}),
        "delta": (graphs.delta, [turn(t) for t in ("one", "two", "three", "four")], turn("five")),
    }


def populate(saver: BaseCheckpointSaver[Any], graphs: type[GraphBuilders]) -> None:
    for name, (builder, inputs, _) in scenarios(graphs).items():
        graph = builder(saver)
        for value in inputs:
            graph.invoke(value, thread(name))


def carry_on(saver: BaseCheckpointSaver[Any], graphs: type[GraphBuilders]) -> None:
    for name, (builder, _, after) in scenarios(graphs).items():
        builder(saver).invoke(after, thread(name))


def _plain(value: Any, exact: bool) -> Any:
    """Values to compare: messages whole (ids included) when `exact`, else as
    type and text (a message made after the move has a new random id)."""
    if isinstance(value, BaseMessage):
        return value if exact else (value.type, value.content)
    if isinstance(value, dict):
        return {k: _plain(v, exact) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, exact) for v in value]
    return value


def snapshot_view(snapshot: StateSnapshot, exact: bool) -> dict[str, Any]:
    metadata = dict(snapshot.metadata or {})
    if not exact:  # ids of checkpoints and runs made after the move differ by nature
        for key in ("parents", "run_id"):
            metadata.pop(key, None)
    view: dict[str, Any] = {
        "values": _plain(snapshot.values, exact),
        "next": snapshot.next,
        "metadata": metadata,
        "tasks": [
            (
                task.name,
                task.path,
                [_plain(i.value, exact) for i in task.interrupts],
                _plain(task.result, exact),
                repr(task.error) if task.error else None,
                snapshot_view(task.state, exact) if isinstance(task.state, StateSnapshot) else None,
            )
            for task in snapshot.tasks
        ],
        "interrupts": [_plain(i.value, exact) for i in snapshot.interrupts],
    }
    if exact:
        parent = snapshot.parent_config
        view["ids"] = (
            snapshot.config["configurable"].get("checkpoint_ns", ""),
            snapshot.config["configurable"]["checkpoint_id"],
            parent["configurable"]["checkpoint_id"] if parent else None,
            snapshot.created_at,
            [t.id for t in snapshot.tasks],
            [i.id for i in snapshot.interrupts],
        )
    return view


def histories(
    saver: BaseCheckpointSaver[Any], graphs: type[GraphBuilders], exact: bool
) -> dict[str, Any]:
    """Each thread's whole history through its graph, and its state now with the
    subgraphs' states (read from their namespaces)."""
    seen: dict[str, Any] = {}
    for name, (builder, _, _) in scenarios(graphs).items():
        graph = builder(saver)
        seen[name] = [snapshot_view(s, exact) for s in graph.get_state_history(thread(name))]
        now = graph.get_state(thread(name), subgraphs=True)
        seen[f"{name} now"] = snapshot_view(now, exact)
    return seen


@pytest.fixture
def graphs() -> type[GraphBuilders]:
    return GraphBuilders
