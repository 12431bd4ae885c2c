"""Drive a saver through its sync or async API, timing each call alike."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver, Checkpoint, CheckpointMetadata

# A prepared call: for a sync saver it does the work, for an async one it
# returns the awaitable that does.
Thunk = Callable[[], Any]


def time_sync(thunks: list[Thunk]) -> list[int]:
    """Nanoseconds taken by each call."""
    gc.collect()
    timings: list[int] = []
    for thunk in thunks:
        start = time.perf_counter_ns()
        thunk()
        timings.append(time.perf_counter_ns() - start)
    return timings


class SaverCalls:
    """The four checkpoint operations as thunks, for either half of the API."""

    def __init__(
        self, saver: BaseCheckpointSaver[Any], loop: asyncio.AbstractEventLoop, is_async: bool
    ) -> None:
        self.saver = saver
        self.loop = loop
        self.is_async = is_async

    def run(self, thunk: Thunk) -> Any:
        """Call once, untimed (setup work)."""
        result = thunk()
        return self.loop.run_until_complete(result) if self.is_async else result

    def time(self, thunks: list[Thunk]) -> list[int]:
        if not self.is_async:
            return time_sync(thunks)

        async def timed() -> list[int]:
            timings: list[int] = []
            for thunk in thunks:
                start = time.perf_counter_ns()
                await thunk()
                timings.append(time.perf_counter_ns() - start)
            return timings

        gc.collect()
        return self.loop.run_until_complete(timed())

    def put(
        self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata
    ) -> Thunk:
        saver = self.saver
        versions = dict(checkpoint["channel_versions"])
        if self.is_async:
            return lambda: saver.aput(config, checkpoint, metadata, versions)
        return lambda: saver.put(config, checkpoint, metadata, versions)

    def put_writes(
        self, config: RunnableConfig, writes: list[tuple[str, Any]], task_id: str
    ) -> Thunk:
        saver = self.saver
        if self.is_async:
            return lambda: saver.aput_writes(config, writes, task_id)
        return lambda: saver.put_writes(config, writes, task_id)

    def get_tuple(self, config: RunnableConfig) -> Thunk:
        saver = self.saver
        if self.is_async:
            return lambda: saver.aget_tuple(config)
        return lambda: saver.get_tuple(config)

    def list(self, config: RunnableConfig, limit: int | None) -> Thunk:
        saver = self.saver
        if self.is_async:

            async def collect() -> list[Any]:
                return [item async for item in saver.alist(config, limit=limit)]

            return collect
        return lambda: list(saver.list(config, limit=limit))
