"""Many writers on one database file: threads sharing a saver, and processes.

Every writer puts small checkpoints on its own thread id; throughput counts the
checkpoints stored per second of wall time, and every exception is kept.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from typing import Any, Final

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver

from benchmarks.contenders import close_saver, open_saver
from benchmarks.states import build_state, metadata

STATE_SIZE: Final = "4KB"
_START_TIMEOUT: Final = 120.0


def _put_many(saver: BaseCheckpointSaver[Any], writer: str, puts: int) -> list[str]:
    """`puts` chained checkpoints on thread `writer`; returns the errors met."""
    state = build_state(STATE_SIZE)
    config: RunnableConfig = {"configurable": {"thread_id": writer, "checkpoint_ns": ""}}
    errors: list[str] = []
    for step in range(puts):
        checkpoint = state.checkpoint(saver.get_next_version, step)
        try:
            config = saver.put(config, checkpoint, metadata(step), {})
        except Exception as exc:  # counting failures is the point
            errors.append(f"{type(exc).__name__}: {exc}")
    return errors


def with_threads(
    kind: str, path: str, loop: asyncio.AbstractEventLoop, writers: int, puts: int
) -> dict[str, Any]:
    """One saver shared by `writers` threads, as an application shares it."""
    saver = open_saver(kind, path, loop)
    build_state(STATE_SIZE)
    barrier = threading.Barrier(writers + 1)
    errors: list[str] = []

    def write(index: int) -> None:
        barrier.wait()
        errors.extend(_put_many(saver, f"writer-thread-{index}", puts))

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    close_saver(saver, loop)
    return {"seconds": seconds, "checkpoints": writers * puts - len(errors), "errors": errors}


def _process_writer(
    kind: str, path: str, index: int, puts: int, barrier: Any, results: Any
) -> None:
    loop = asyncio.new_event_loop()
    try:
        saver = open_saver(kind, path, loop)
        build_state(STATE_SIZE)
    except Exception as exc:  # reported, not raised, so the barrier completes
        barrier.wait(_START_TIMEOUT)
        results.put([f"open: {type(exc).__name__}: {exc}"] * puts)
        return
    barrier.wait(_START_TIMEOUT)
    errors = _put_many(saver, f"writer-process-{index}-{os.getpid()}", puts)
    close_saver(saver, loop)
    results.put(errors)


def with_processes(kind: str, path: str, writers: int, puts: int) -> dict[str, Any]:
    """`writers` processes, each with its own saver on the same file."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(writers + 1)
    results = context.Queue()
    processes = [
        context.Process(target=_process_writer, args=(kind, path, i, puts, barrier, results))
        for i in range(writers)
    ]
    for process in processes:
        process.start()
    barrier.wait(_START_TIMEOUT)
    start = time.perf_counter()
    errors: list[str] = []
    for _ in processes:
        errors.extend(results.get(timeout=600))
    seconds = time.perf_counter() - start
    for process in processes:
        process.join()
    return {"seconds": seconds, "checkpoints": writers * puts - len(errors), "errors": errors}
