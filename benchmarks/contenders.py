"""The savers compared, the worker processes they run in, and how a worker opens each.

A contender is a saver configuration. langgraph's own savers run in the
"baseline" worker (FAST_LANGGRAPH_IMPL unset, nothing of ours imported). Our
code runs in workers of its own, because `FAST_LANGGRAPH_IMPL` is read once per
process: "rust" (the native codec), "python" (the Python codec) and, when given
an interpreter with `--python-for before=...`, "before": an earlier commit built
into its own virtualenv by `benchmarks/before.sh`.
"""

from __future__ import annotations

import asyncio
import contextlib
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
RUST_WORKER: Final = "rust"
PYTHON_WORKER: Final = "python"
BEFORE_WORKER: Final = "before"
# FAST_LANGGRAPH_IMPL of each worker (None: unset).
WORKER_IMPL: Final[dict[str, str | None]] = {
    BASELINE_WORKER: None,
    RUST_WORKER: "rust",
    PYTHON_WORKER: "python",
    BEFORE_WORKER: "rust",  # the native codec (at 1d75a4f, the Rust storage engine too)
}
# Started unless asked otherwise; "before" only with an interpreter of its own.
DEFAULT_WORKERS: Final = (RUST_WORKER, PYTHON_WORKER)

# The rows ratios are computed against: SqliteSaver at its defaults (FULL), and
# its equal-durability twin for NORMAL rows.
REFERENCE: Final = "SqliteSaver"
REFERENCE_NORMAL: Final = "SqliteSaver (NORMAL)"
OURS: Final = "ours"
OURS_FULL: Final = "ours (full)"
OURS_CONNECTION: Final = "ours from sqlite3.Connection"
OURS_PYTHON: Final = "ours, Python codec"


def before_name(commit: str | None, full: bool = False) -> str:
    """The label of the earlier commit's rows, e.g. "before (191c73f, full)"."""
    what = commit[:7] if commit else "an earlier commit"
    return f"before ({what}{', full' if full else ''})"


@dataclass(frozen=True)
class Contender:
    name: str  # shown in reports
    kind: str  # how the worker opens it, see `open_saver`
    durability: str  # "FULL", "NORMAL" or "memory"
    worker: str  # the worker process it runs in
    is_async: bool = False
    at_defaults: bool = False  # constructed without durability options: in the defaults table
    e2e: bool = True  # also run end to end (time budget)
    scale: bool = True  # also read the 200k-checkpoint database
    processes: bool = False  # also 4 writer processes on one file (spawning is slow)
    # The durability is the one measured on its connection when the run starts
    # (a saver given a connection may keep that connection's settings).
    durability_measured: bool = False

    @property
    def ours(self) -> bool:
        """Our storage engine (it reads its own upgraded copy of a database)."""
        return self.kind.startswith("ours")


def contenders_of(worker: str, commit: str | None = None) -> tuple[Contender, ...]:
    """The contenders that run in `worker`."""
    if worker == BASELINE_WORKER:
        return (
            Contender(REFERENCE, "sqlite", "FULL", worker, at_defaults=True, processes=True),
            Contender(REFERENCE_NORMAL, "sqlite-normal", "NORMAL", worker, processes=True),
            Contender(
                "AsyncSqliteSaver", "async-sqlite", "FULL", worker, is_async=True, at_defaults=True
            ),
            Contender("InMemorySaver", "memory", "memory", worker, at_defaults=True, scale=False),
        )
    if worker == RUST_WORKER:
        return (
            Contender(OURS, "ours", "NORMAL", worker, at_defaults=True, processes=True),
            Contender(OURS_FULL, "ours-full", "FULL", worker, processes=True),
            Contender(
                OURS_CONNECTION,
                "ours-connection",
                "NORMAL",
                worker,
                at_defaults=True,
                durability_measured=True,
            ),
            Contender(
                "SqliteSaver + our serializer",
                "sqlite-serde",
                "FULL",
                worker,
                at_defaults=True,
                e2e=False,
            ),
            Contender(
                "SqliteSaver (NORMAL) + our serializer",
                "sqlite-normal-serde",
                "NORMAL",
                worker,
                scale=False,
            ),
            Contender(
                "InMemorySaver + our serializer",
                "memory-serde",
                "memory",
                worker,
                at_defaults=True,
                scale=False,
            ),
        )
    if worker == PYTHON_WORKER:
        return (Contender(OURS_PYTHON, "ours", "NORMAL", worker, at_defaults=True),)
    if worker == BEFORE_WORKER:
        return (
            Contender(
                before_name(commit), "ours", "NORMAL", worker, at_defaults=True, processes=True
            ),
            Contender(
                before_name(commit, full=True),
                "ours-full",
                "FULL",
                worker,
                processes=True,
            ),
        )
    raise ValueError(f"unknown worker {worker!r}")


def equal_durability_reference(durability: str) -> str | None:
    """The SqliteSaver row with the same durability (None for in-memory savers)."""
    return {"NORMAL": REFERENCE_NORMAL, "FULL": REFERENCE}.get(durability)


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


def our_serializer() -> Any:
    """`fast_langgraph.serde.JsonPlusSerializer()`, the public serializer."""
    from fast_langgraph.serde import JsonPlusSerializer

    return JsonPlusSerializer()


def _sqlite_saver(path: str, synchronous: str | None, serde: Any = None) -> Any:
    from langgraph.checkpoint.sqlite import SqliteSaver

    # As SqliteSaver.from_conn_string opens it.
    conn = sqlite3.connect(path, check_same_thread=False)
    if synchronous is not None:
        conn.execute(f"PRAGMA synchronous={synchronous}")
    saver = SqliteSaver(conn, serde=serde)
    saver.setup()
    return saver


async def _async_sqlite_saver(path: str) -> BaseCheckpointSaver[Any]:
    import aiosqlite
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    conn = await aiosqlite.connect(path)
    saver = AsyncSqliteSaver(conn)
    await saver.setup()
    return saver


# Connections we opened for a saver that does not own them, closed after it.
_borrowed: dict[int, sqlite3.Connection] = {}


def _our_saver(path: str, durability: str, from_connection: bool = False) -> Any:
    from fast_langgraph import RustSQLiteCheckpointer

    options: dict[str, Any] = {"durability": "full"} if durability == "full" else {}
    if not from_connection:
        return RustSQLiteCheckpointer(path, **options)
    conn = sqlite3.connect(path, check_same_thread=False)
    saver = RustSQLiteCheckpointer(conn, **options)
    _borrowed[id(saver)] = conn
    return saver


def _in_memory_saver(serde: Any = None) -> BaseCheckpointSaver[Any]:
    from langgraph.checkpoint.memory import InMemorySaver

    return InMemorySaver(serde=serde)


def open_saver(kind: str, path: str, loop: asyncio.AbstractEventLoop) -> BaseCheckpointSaver[Any]:
    """Open contender `kind` on the database file `path` (async ones on `loop`)."""
    openers: dict[str, Callable[[], BaseCheckpointSaver[Any]]] = {
        "sqlite": lambda: _sqlite_saver(path, None),
        "sqlite-normal": lambda: _sqlite_saver(path, "NORMAL"),
        "async-sqlite": lambda: loop.run_until_complete(_async_sqlite_saver(path)),
        "memory": _in_memory_saver,
        "noop": NoopSaver,
        "sqlite-serde": lambda: _sqlite_saver(path, None, our_serializer()),
        "sqlite-normal-serde": lambda: _sqlite_saver(path, "NORMAL", our_serializer()),
        "memory-serde": lambda: _in_memory_saver(our_serializer()),
        "ours": lambda: _our_saver(path, "normal"),
        "ours-full": lambda: _our_saver(path, "full"),
        "ours-connection": lambda: _our_saver(path, "normal", from_connection=True),
    }
    return openers[kind]()


def _connection_of(saver: Any) -> sqlite3.Connection | None:
    """The connection a saver writes through, where one can be found: the one we
    gave it, its `conn`, or its engine's writer connection."""
    candidates = [_borrowed.get(id(saver)), getattr(saver, "conn", None)]
    with contextlib.suppress(AttributeError):
        candidates.append(saver._engine._conn)
    return next((c for c in candidates if isinstance(c, sqlite3.Connection)), None)


def describe_open_saver(saver: Any, loop: asyncio.AbstractEventLoop) -> dict[str, Any]:
    """What an open saver really runs with: its connection's journal mode and
    synchronous setting (when it has a sqlite3 connection to ask), its
    `implementation` and its serializer's."""
    found: dict[str, Any] = {
        "class": f"{type(saver).__module__}.{type(saver).__qualname__}",
        "implementation": getattr(saver, "implementation", None),
        "serde": f"{type(saver.serde).__module__}.{type(saver.serde).__qualname__}",
        "serde_implementation": getattr(saver.serde, "implementation", None),
    }
    conn = _connection_of(saver)
    pragmas: dict[str, Any] = {}
    if conn is not None:
        for pragma in ("synchronous", "journal_mode"):
            pragmas[pragma] = conn.execute(f"PRAGMA {pragma}").fetchone()[0]
    elif type(getattr(saver, "conn", None)).__module__.startswith("aiosqlite"):

        async def ask(pragma: str) -> Any:
            async with saver.conn.execute(f"PRAGMA {pragma}") as cursor:
                return (await cursor.fetchone())[0]

        for pragma in ("synchronous", "journal_mode"):
            pragmas[pragma] = loop.run_until_complete(ask(pragma))
    if pragmas:
        found["synchronous"] = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(
            pragmas["synchronous"], str(pragmas["synchronous"])
        )
        found["journal_mode"] = str(pragmas["journal_mode"]).upper()
    return found


def close_saver(saver: BaseCheckpointSaver[Any], loop: asyncio.AbstractEventLoop) -> None:
    borrowed = _borrowed.pop(id(saver), None)
    close = getattr(saver, "close", None)
    if callable(close):
        close()
    else:
        conn = getattr(saver, "conn", None)
        if isinstance(conn, sqlite3.Connection):
            conn.close()
        elif conn is not None:  # aiosqlite
            loop.run_until_complete(conn.close())
    if borrowed is not None:
        borrowed.close()
