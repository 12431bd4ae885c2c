"""The savers compared, and how a worker opens each of them.

A contender is a saver configuration. Baselines (langgraph's savers) run in the
"baseline" worker; each of our implementations runs in its own worker process,
because `FAST_LANGGRAPH_IMPL` is read once per process.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)

BASELINE_WORKER: Final = "baseline"
# The row every ratio is computed against, and its equal-durability twin.
REFERENCE: Final = "SqliteSaver"
REFERENCE_NORMAL: Final = "SqliteSaver (NORMAL)"


@dataclass(frozen=True)
class Contender:
    name: str  # shown in reports
    kind: str  # how the worker opens it, see `open_saver`
    durability: str  # "FULL", "NORMAL" or "memory"
    worker: str  # BASELINE_WORKER or the name of one of our implementations
    is_async: bool = False

    @property
    def ours(self) -> bool:
        return self.worker != BASELINE_WORKER


BASELINES: Final = (
    Contender(REFERENCE, "sqlite", "FULL", BASELINE_WORKER),
    Contender(REFERENCE_NORMAL, "sqlite-normal", "NORMAL", BASELINE_WORKER),
    Contender("AsyncSqliteSaver", "async-sqlite", "FULL", BASELINE_WORKER, is_async=True),
    Contender("InMemorySaver", "memory", "memory", BASELINE_WORKER),
)


def ours(impl: str) -> tuple[Contender, Contender]:
    """Our saver at its default durability and at SqliteSaver's."""
    return (
        Contender(impl, "ours", "NORMAL", impl),
        Contender(f"{impl} (full)", "ours-full", "FULL", impl),
    )


def equal_durability_reference(contender: Contender) -> str:
    """The SqliteSaver row with the same durability as `contender`."""
    return REFERENCE_NORMAL if contender.durability == "NORMAL" else REFERENCE


class NoopSaver(BaseCheckpointSaver[str]):
    """Stores nothing: what remains of a run's cost is LangGraph's own bookkeeping."""

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return None

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        return iter(())

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return {
            "configurable": {
                "thread_id": config["configurable"]["thread_id"],
                "checkpoint_ns": config["configurable"].get("checkpoint_ns", ""),
                "checkpoint_id": checkpoint["id"],
            }
        }

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        return None

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return None

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        nothing: tuple[CheckpointTuple, ...] = ()
        for item in nothing:
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
        return None


def _sqlite_saver(path: str, synchronous: str | None) -> BaseCheckpointSaver[Any]:
    from langgraph.checkpoint.sqlite import SqliteSaver

    # As SqliteSaver.from_conn_string opens it.
    conn = sqlite3.connect(path, check_same_thread=False)
    if synchronous is not None:
        conn.execute(f"PRAGMA synchronous={synchronous}")
    saver = SqliteSaver(conn)
    saver.setup()
    return saver


async def _async_sqlite_saver(path: str) -> BaseCheckpointSaver[Any]:
    import aiosqlite
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    conn = await aiosqlite.connect(path)
    saver = AsyncSqliteSaver(conn)
    await saver.setup()
    return saver


def _our_saver(path: str, durability: str) -> BaseCheckpointSaver[Any]:
    from fast_langgraph import RustSQLiteCheckpointer

    if durability == "full":
        return RustSQLiteCheckpointer(path, durability="full")
    return RustSQLiteCheckpointer(path)


def open_saver(kind: str, path: str, loop: asyncio.AbstractEventLoop) -> BaseCheckpointSaver[Any]:
    """Open contender `kind` on the database file `path` (async ones on `loop`)."""
    openers: dict[str, Callable[[], BaseCheckpointSaver[Any]]] = {
        "sqlite": lambda: _sqlite_saver(path, None),
        "sqlite-normal": lambda: _sqlite_saver(path, "NORMAL"),
        "async-sqlite": lambda: loop.run_until_complete(_async_sqlite_saver(path)),
        "memory": _in_memory_saver,
        "noop": NoopSaver,
        "ours": lambda: _our_saver(path, "normal"),
        "ours-full": lambda: _our_saver(path, "full"),
    }
    return openers[kind]()


def _in_memory_saver() -> BaseCheckpointSaver[Any]:
    from langgraph.checkpoint.memory import InMemorySaver

    return InMemorySaver()


def close_saver(saver: BaseCheckpointSaver[Any], loop: asyncio.AbstractEventLoop) -> None:
    conn = getattr(saver, "conn", None)
    if conn is None:
        close = getattr(saver, "close", None)
        if close is not None:
            close()
    elif isinstance(conn, sqlite3.Connection):
        conn.close()
    else:  # aiosqlite
        loop.run_until_complete(conn.close())
