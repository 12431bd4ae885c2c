"""Many threads, tasks and processes on one database: nothing lost, nothing locked, loop not blocked."""

from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import Checkpoint, empty_checkpoint
from langgraph.checkpoint.base.id import uuid6

from conftest import GraphBuilders, contents, human, writes_of
from fast_langgraph import RustSQLiteCheckpointer

WORKERS = 8
CHECKPOINTS_PER_WORKER = 25


def config(thread_id: str, checkpoint_id: str | None = None) -> RunnableConfig:
    configurable: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ""}
    if checkpoint_id:
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable}


def checkpoint(**channel_values: Any) -> Checkpoint:
    cp = empty_checkpoint()
    cp["id"] = str(uuid6(clock_seq=-1))
    cp["channel_values"] = channel_values
    return cp


def write_thread(saver: RustSQLiteCheckpointer, thread_id: str, count: int) -> list[str]:
    """Put a chain of `count` checkpoints with writes, reading after every step."""
    written: list[str] = []
    parent: str | None = None
    for step in range(count):
        stored = saver.put(
            config(thread_id, parent),
            checkpoint(step=step),
            {"step": step, "worker": thread_id},  # type: ignore[typeddict-unknown-key]
            {},
        )
        parent = stored["configurable"]["checkpoint_id"]
        written.append(parent)
        saver.put_writes(stored, [("a", step), ("b", thread_id)], f"task-{step}")
        latest = saver.get_tuple(config(thread_id))
        assert latest is not None and latest.checkpoint["id"] == parent
        assert latest.pending_writes == [
            (f"task-{step}", "a", step),
            (f"task-{step}", "b", thread_id),
        ]
        if step % 5 == 0:
            assert len(list(saver.list(config(thread_id)))) == step + 1
            list(saver.list(None, limit=10))
    return written


def test_many_threads_on_one_saver(saver: RustSQLiteCheckpointer) -> None:
    with ThreadPoolExecutor(WORKERS) as pool:
        futures = [
            pool.submit(write_thread, saver, f"worker-{n}", CHECKPOINTS_PER_WORKER)
            for n in range(WORKERS)
        ]
        written = {f"worker-{n}": future.result() for n, future in enumerate(futures)}
    for thread_id, checkpoint_ids in written.items():
        listed = list(saver.list(config(thread_id)))
        assert [t.checkpoint["id"] for t in listed] == checkpoint_ids[::-1]
        assert all(len(writes_of(t)) == 2 for t in listed)
    assert len(list(saver.list(None))) == WORKERS * CHECKPOINTS_PER_WORKER


def test_parallel_put_writes_for_one_checkpoint(saver: RustSQLiteCheckpointer) -> None:
    stored = saver.put(config("t"), checkpoint(), {"step": 0}, {})  # type: ignore[typeddict-item]
    tasks = [f"task-{n:02}" for n in range(24)]

    def write(task_id: str) -> None:
        saver.put_writes(
            stored, [(f"ch{i}", f"{task_id}/{i}") for i in range(4)], task_id, f"~{task_id}"
        )

    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(write, tasks))
    found = saver.get_tuple(stored)
    assert found is not None
    assert found.pending_writes == [(t, f"ch{i}", f"{t}/{i}") for t in tasks for i in range(4)]


def write_from_process(path: str, thread_id: str, count: int, start: Any) -> None:
    """Runs in a child process: open the (maybe not yet created) file and write a thread."""
    start.wait(60)
    with RustSQLiteCheckpointer.from_conn_string(path) as saver:
        write_thread(saver, thread_id, count)


def test_two_processes_write_one_file(db_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    processes = [
        context.Process(target=write_from_process, args=(str(db_path), f"process-{n}", 30, start))
        for n in range(2)
    ]
    for process in processes:
        process.start()
    start.set()  # both open the brand-new file at about the same time
    for process in processes:
        process.join(120)
        assert process.exitcode == 0
    with RustSQLiteCheckpointer.from_conn_string(str(db_path)) as saver:
        for n in range(2):
            listed = list(saver.list(config(f"process-{n}")))
            assert [t.metadata["step"] for t in listed] == list(range(29, -1, -1))
            assert all(len(writes_of(t)) == 2 for t in listed)
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("SELECT count(*) FROM checkpoints").fetchone() == (60,)
        assert conn.execute("SELECT count(*) FROM writes").fetchone() == (120,)
    finally:
        conn.close()


async def test_concurrent_ainvoke_on_many_threads(
    graphs: type[GraphBuilders], file_saver: RustSQLiteCheckpointer
) -> None:
    graph = graphs.chat(file_saver, use_async=True)
    users = [f"user-{n}" for n in range(20)]

    async def converse(user: str) -> list[str]:
        for turn in range(3):
            result = await graph.ainvoke({"messages": [human(f"{user}:{turn}")]}, config(user))
        return contents(result["messages"])

    results = await asyncio.gather(*(converse(user) for user in users))
    for user, messages in zip(users, results, strict=True):
        expected = [
            text for turn in range(3) for text in (f"{user}:{turn}", f"you said: {user}:{turn}")
        ]
        assert messages == expected
        state = await graph.aget_state(config(user))
        assert contents(state.values["messages"]) == expected


async def ticks_while(work: Callable[[], Any]) -> tuple[Any, int]:
    """Run `work()` (a coroutine) while a ticker yields to the loop; return (result, ticks)."""
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0)

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    ticks = 0
    try:
        result = await work()
    finally:
        done.set()
        await ticking
    return result, ticks


async def test_saver_io_does_not_block_the_event_loop(file_saver: RustSQLiteCheckpointer) -> None:
    # A few MB of state: serializing and writing it takes a while on any machine.
    big = [f"line {n} " + "x" * 40 for n in range(120_000)]
    cp = checkpoint(big=big)
    stored, ticks = await ticks_while(lambda: file_saver.aput(config("t"), cp, {"step": 0}, {}))  # type: ignore[typeddict-item]
    assert ticks >= 2, "the event loop did not run while aput worked"
    found, ticks = await ticks_while(lambda: file_saver.aget_tuple(stored))
    assert ticks >= 2, "the event loop did not run while aget_tuple worked"
    assert found.checkpoint["channel_values"]["big"] == big
