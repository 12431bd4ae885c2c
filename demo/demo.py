"""fast-langgraph in five minutes of reading and under a minute of running.

    python demo/demo.py            (or: make demo)
    DEMO_QUICK=1 python demo/demo.py   fewer timed invokes, for tests

A small chat graph whose "model" answers with fixed text (no LLM, no network) shows:
persistence across two processes, one thread per user, time travel and forking,
cleanup, and a timing against langgraph's SqliteSaver on this machine.
Files go to build/demo/ (or $DEMO_DIR), emptied at every run.
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph

import fast_langgraph
from fast_langgraph import RustSQLiteCheckpointer

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
DEMO_DIR: Final = Path(os.environ.get("DEMO_DIR") or REPO_ROOT / "build" / "demo")
QUICK: Final = os.environ.get("DEMO_QUICK") == "1"
TIMED_INVOKES: Final = 10 if QUICK else 100
# The timed conversations restart every few turns so every saver sees the same,
# bounded state size rather than one ever-growing thread.
TURNS_PER_TIMED_THREAD: Final = 10
SUPPORT_THREAD: Final = "support-42"

ANSWERS: Final = {
    "order": "Your order #1234 ships tomorrow.",
    "refund": "I have started a refund; it takes 3-5 days.",
    "hello": "Hello! How can I help?",
}
FALLBACK_ANSWER: Final = "Could you tell me more?"


# -- the graph -------------------------------------------------------------------


class ChatState(MessagesState):
    topic: str


def understand(state: ChatState) -> dict[str, Any]:
    text = str(state["messages"][-1].content).lower()
    topic = next((word for word in ANSWERS if word in text), "other")
    return {"topic": topic}


def respond(state: ChatState) -> dict[str, Any]:
    answer = ANSWERS.get(state["topic"], FALLBACK_ANSWER)
    return {"messages": [AIMessage(answer)]}


def build_graph(checkpointer: BaseCheckpointSaver[Any]) -> CompiledStateGraph[Any]:
    builder = StateGraph(ChatState)
    builder.add_node("understand", understand)
    builder.add_node("respond", respond)
    builder.add_edge(START, "understand")
    builder.add_edge("understand", "respond")
    return builder.compile(checkpointer=checkpointer)


def thread(thread_id: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id}}


def say(graph: CompiledStateGraph[Any], thread_id: str, text: str) -> list[AnyMessage]:
    result = graph.invoke({"messages": [HumanMessage(text)]}, thread(thread_id))
    messages: list[AnyMessage] = result["messages"]
    return messages


def print_transcript(messages: list[AnyMessage], indent: str = "    ") -> None:
    for message in messages:
        who = "user" if message.type == "human" else "bot "
        print(f"{indent}{who}: {message.content}")


def section(title: str) -> None:
    print(f"\n== {title} ==", flush=True)


# -- 1. persistence across processes (the two child steps) ---------------------------


def step_write(db: str) -> None:
    with RustSQLiteCheckpointer(db) as checkpointer:
        graph = build_graph(checkpointer)
        say(graph, SUPPORT_THREAD, "hello")
        messages = say(graph, SUPPORT_THREAD, "where is my order?")
    print(f"  process {os.getpid()} wrote {len(messages)} messages to thread {SUPPORT_THREAD!r}")


def step_resume(db: str) -> None:
    with RustSQLiteCheckpointer(db) as checkpointer:
        graph = build_graph(checkpointer)
        earlier = graph.get_state(thread(SUPPORT_THREAD)).values["messages"]
        print(
            f"  process {os.getpid()} resumed thread {SUPPORT_THREAD!r} "
            f"with {len(earlier)} messages:"
        )
        print_transcript(earlier)
        messages = say(graph, SUPPORT_THREAD, "I want a refund")
        print("  and continued it:")
        print_transcript(messages[len(earlier) :])
        print(f"  thread {SUPPORT_THREAD!r} now has {len(messages)} messages")


CHILD_STEPS: Final[dict[str, Callable[[str], None]]] = {
    "write": step_write,
    "resume": step_resume,
}


def run_child(step: str, db: Path) -> None:
    sys.stdout.flush()
    subprocess.run([sys.executable, __file__, "--step", step, str(db)], check=True)


# -- 2-4. one process ------------------------------------------------------------


def show_users(checkpointer: RustSQLiteCheckpointer) -> None:
    graph = build_graph(checkpointer)
    say(graph, "alice", "hello")
    say(graph, "bob", "I want a refund")
    say(graph, "alice", "where is my order?")
    for user in ("alice", "bob"):
        messages = graph.get_state(thread(user)).values["messages"]
        print(f"  {user} sees {len(messages)} messages:")
        print_transcript(messages)


def show_time_travel(checkpointer: RustSQLiteCheckpointer) -> None:
    graph = build_graph(checkpointer)
    history = list(checkpointer.list(thread("alice")))
    print(f"  alice's thread has {len(history)} checkpoints (newest first):")
    for cp in history:
        count = len(cp.checkpoint["channel_values"].get("messages", []))
        print(
            f"    step {cp.metadata['step']:>2}  {cp.metadata['source']:<5}  "
            f"{cp.checkpoint['ts']}  {count} messages"
        )
    after_first_turn = next(cp for cp in history if cp.metadata["step"] == 2)
    fork = graph.invoke(
        {"messages": [HumanMessage("actually, I want a refund")]}, after_first_turn.config
    )
    print("  forked from step 2 (after the first answer) with a different question:")
    print_transcript(fork["messages"])
    original = graph.get_state(history[0].config).values["messages"]
    print("  the original branch is still there:")
    print_transcript(original)


def show_cleanup(checkpointer: RustSQLiteCheckpointer) -> None:
    def report(label: str) -> None:
        stats = checkpointer.stats()
        print(
            f"  {label}: {stats['threads']} threads, {stats['checkpoints']} checkpoints, "
            f"{stats['writes']} writes, {checkpointer.db_size():,} bytes on disk"
        )

    report("before cleanup")
    # Every checkpoint here is seconds old, so older_than=0 stands in for "30 days".
    would = checkpointer.cleanup(older_than=timedelta(0), dry_run=True)
    print(f"  dry run: would delete {would['checkpoints']} checkpoints, {would['writes']} writes")
    deleted = checkpointer.cleanup(older_than=timedelta(0), keep_latest=True, vacuum=True)
    print(f"  cleanup deleted {deleted['checkpoints']} checkpoints, {deleted['writes']} writes")
    report("after cleanup")
    graph = build_graph(checkpointer)
    messages = say(graph, "alice", "hello again")
    print(f"  alice's conversation goes on from its latest checkpoint: {len(messages)} messages")


# -- 5. timing ---------------------------------------------------------------------


@contextmanager
def langgraph_sqlite_saver(path: Path, synchronous: str | None) -> Iterator[SqliteSaver]:
    conn = sqlite3.connect(path, check_same_thread=False)
    if synchronous is not None:
        conn.execute(f"PRAGMA synchronous={synchronous}")
    try:
        yield SqliteSaver(conn)
    finally:
        conn.close()


@contextmanager
def fast_saver(path: Path, durability: str) -> Iterator[RustSQLiteCheckpointer]:
    with RustSQLiteCheckpointer(path, durability=durability) as saver:  # type: ignore[arg-type]
        yield saver


def median_invoke_ms(saver: BaseCheckpointSaver[Any]) -> float:
    graph = build_graph(saver)
    say(graph, "warm-up", "hello")
    samples: list[float] = []
    for n in range(TIMED_INVOKES):
        thread_id = f"timed-{n // TURNS_PER_TIMED_THREAD}"
        text = ("hello", "where is my order?", "I want a refund")[n % 3]
        start = time.perf_counter()
        say(graph, thread_id, text)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def show_timing() -> None:
    print(
        f"  {TIMED_INVOKES} invokes of the graph above per saver, fresh file each, "
        f"median wall time per invoke; fast-langgraph codec: {fast_langgraph.__impl__}"
    )
    runs: list[tuple[str, str, Callable[[Path], Any]]] = [
        ("langgraph SqliteSaver (default)", "FULL", lambda p: langgraph_sqlite_saver(p, None)),
        ("fast-langgraph (default)", "NORMAL", lambda p: fast_saver(p, "normal")),
        ("fast-langgraph durability='full'", "FULL", lambda p: fast_saver(p, "full")),
        (
            "langgraph SqliteSaver + synchronous=NORMAL",
            "NORMAL",
            lambda p: langgraph_sqlite_saver(p, "NORMAL"),
        ),
    ]
    medians: dict[str, float] = {}
    print(f"  {'saver':<44} {'synchronous':<12} {'median ms/invoke':>16}")
    for index, (name, synchronous, open_saver) in enumerate(runs):
        with open_saver(DEMO_DIR / f"timing-{index}.db") as saver:
            medians[name] = median_invoke_ms(saver)
        print(f"  {name:<44} {synchronous:<12} {medians[name]:>16.2f}", flush=True)

    def speedup(sqlite_saver: str, ours: str) -> str:
        return f"{medians[sqlite_saver] / medians[ours]:.2f}x"

    print("  speedup = SqliteSaver's median / fast-langgraph's median (above 1: faster)")
    print(
        "  at each saver's default (SqliteSaver FULL, fast-langgraph NORMAL): "
        + speedup(runs[0][0], runs[1][0])
    )
    print("  at equal durability, synchronous=FULL:   " + speedup(runs[0][0], runs[2][0]))
    print("  at equal durability, synchronous=NORMAL: " + speedup(runs[3][0], runs[1][0]))
    print("  (one run on this machine; see docs/benchmarks.md for careful measurements)")


# -- main --------------------------------------------------------------------------


def fresh_demo_dir() -> None:
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    for pattern in ("checkpoints.db*", "timing-*.db*"):
        for path in DEMO_DIR.glob(pattern):
            path.unlink()


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--step":
        CHILD_STEPS[sys.argv[2]](sys.argv[3])
        return
    started = time.perf_counter()
    fresh_demo_dir()
    db = DEMO_DIR / "checkpoints.db"
    engine = "compiled" if fast_langgraph.ENGINE_COMPILED else "interpreted"
    print(
        f"fast-langgraph {fast_langgraph.__version__}, codec: {fast_langgraph.__impl__}, "
        f"engine: {engine}"
    )
    print(f"database: {db}")

    section("1. Persistence across processes")
    print("  a first process writes a conversation:")
    run_child("write", db)
    print("  a second process opens the same file:")
    run_child("resume", db)

    with RustSQLiteCheckpointer(db) as checkpointer:
        section("2. One thread per user")
        show_users(checkpointer)
        section("3. Time travel")
        show_time_travel(checkpointer)
        section("4. Cleanup")
        show_cleanup(checkpointer)

    section("5. Timing against langgraph's SqliteSaver")
    show_timing()
    print(f"\ndemo finished in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
