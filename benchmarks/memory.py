"""Does the saver leak? Resident memory after many puts of small states."""

from __future__ import annotations

import asyncio
import gc
import os

from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig

from benchmarks.contenders import close_saver, open_saver
from benchmarks.states import State, conversation_turn, metadata


def resident_bytes() -> int:
    """This process's RSS, from /proc (Linux); 0 where that is not available."""
    try:
        with open("/proc/self/statm") as statm:
            resident_pages = int(statm.read().split()[1])
    except OSError:
        return 0
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def small_state() -> State:
    """Two short messages: the loop measures the saver, not the serializer."""
    messages = [conversation_turn(0, 100)[0], AIMessage(content="ok", id="ai-ok")]
    return State("small", messages, {"messages": messages, "step": 1})


def rss_after_puts(
    kind: str, path: str, loop: asyncio.AbstractEventLoop, checkpoints: list[int]
) -> dict[str, int]:
    """RSS in bytes after each count in `checkpoints` (ascending) of chained puts."""
    saver = open_saver(kind, path, loop)
    state = small_state()
    config: RunnableConfig = {"configurable": {"thread_id": "memory", "checkpoint_ns": ""}}
    readings: dict[str, int] = {}
    done = 0
    for target in checkpoints:
        while done < target:
            checkpoint = state.checkpoint(saver.get_next_version, done)
            config = saver.put(config, checkpoint, metadata(done), {})
            done += 1
        gc.collect()
        readings[str(target)] = resident_bytes()
    close_saver(saver, loop)
    return readings
