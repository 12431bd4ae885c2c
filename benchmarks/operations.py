"""Single checkpoint operations on one saver, and the floor they cannot beat.

`OperationBench` owns one open saver and, per state size, a thread of
`LIST_THREAD_LENGTH` checkpoints (each with a task's 3 writes) that reads run
against. `FloorBench` times serialization alone and raw sqlite3 statements on
the same bytes.
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import uuid
from collections.abc import Callable
from typing import Any, Final

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from benchmarks.calls import SaverCalls, Thunk, time_sync
from benchmarks.states import State, build_state, metadata

OPERATIONS: Final = (
    "put",
    "put_writes",
    "get_tuple_latest",
    "get_tuple_by_id",
    "list_all",
    "list_limit_10",
)
FLOOR_OPERATIONS: Final = (
    "dumps_typed",
    "loads_typed",
    "ours_dumps_typed",
    "ours_loads_typed",
    "insert_full",
    "insert_normal",
    "select",
)
LIST_THREAD_LENGTH: Final = 100

_states: dict[str, State] = {}


def state_of(size: str) -> State:
    """States are built once per process and shared by every contender in it."""
    if size not in _states:
        _states[size] = build_state(size)
    return _states[size]


def _config(thread_id: str, checkpoint_id: str | None = None) -> RunnableConfig:
    configurable: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ""}
    if checkpoint_id is not None:
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable}


class OperationBench:
    def __init__(
        self,
        saver: BaseCheckpointSaver[Any],
        loop: asyncio.AbstractEventLoop,
        is_async: bool,
        list_thread_length: int = LIST_THREAD_LENGTH,
        checkpoint_version: int | None = None,
    ) -> None:
        self.calls = SaverCalls(saver, loop, is_async)
        # The checkpoints' "v" when set (the PostgreSQL benchmark writes 4, as
        # LangGraph's runtime does); else the states' own.
        self.checkpoint_version = checkpoint_version
        self.saver = saver
        self.list_thread_length = list_thread_length
        self.rng = random.Random(7)
        self.step = 0
        # Per size: the last config of the put chain, and the list thread's ids.
        self.put_heads: dict[str, RunnableConfig] = {}
        self.list_ids: dict[str, list[str]] = {}

    def _next_puts(
        self, size: str, thread_id: str, count: int, head: RunnableConfig
    ) -> list[Thunk]:
        """`count` chained puts on `thread_id` after `head`; configs are known in advance."""
        state = state_of(size)
        thunks: list[Thunk] = []
        config = head
        for _ in range(count):
            self.step += 1
            checkpoint = state.checkpoint(self.saver.get_next_version, self.step)
            if self.checkpoint_version is not None:
                checkpoint["v"] = self.checkpoint_version
            thunks.append(self.calls.put(config, checkpoint, metadata(self.step)))
            config = _config(thread_id, checkpoint["id"])
        self.put_heads[thread_id] = config
        return thunks

    def _list_thread(self, size: str) -> list[str]:
        """Build (once) the thread that reads run against; returns its ids, oldest first."""
        if size in self.list_ids:
            return self.list_ids[size]
        thread_id = f"list-{size}"
        writes = state_of(size).task_writes(self.step)
        ids: list[str] = []
        for thunk in self._next_puts(size, thread_id, self.list_thread_length, _config(thread_id)):
            config = self.calls.run(thunk)
            ids.append(config["configurable"]["checkpoint_id"])
            self.calls.run(self.calls.put_writes(config, writes, str(uuid.uuid4())))
        self.list_ids[size] = ids
        return ids

    def prepare(self, size: str) -> None:
        self._list_thread(size)

    def run(self, operation: str, size: str, reps: int) -> list[int]:
        """Nanoseconds per call of `operation` on the state of `size`, `reps` calls."""
        thunks = self._thunks(operation, size, reps)
        return self.calls.time(thunks)

    def _thunks(self, operation: str, size: str, reps: int) -> list[Thunk]:
        calls = self.calls
        if operation == "put":
            thread_id = f"put-{size}"
            head = self.put_heads.get(thread_id, _config(thread_id))
            return self._next_puts(size, thread_id, reps, head)
        if operation == "put_writes":
            thread_id = f"writes-{size}"
            head = self.put_heads.get(thread_id, _config(thread_id))
            calls.run(self._next_puts(size, thread_id, 1, head)[0])
            target = self.put_heads[thread_id]
            writes = state_of(size).task_writes(self.step)
            return [calls.put_writes(target, writes, str(uuid.uuid4())) for _ in range(reps)]
        ids = self._list_thread(size)
        thread_id = f"list-{size}"
        if operation == "get_tuple_latest":
            return [calls.get_tuple(_config(thread_id)) for _ in range(reps)]
        if operation == "get_tuple_by_id":
            return [calls.get_tuple(_config(thread_id, self.rng.choice(ids))) for _ in range(reps)]
        if operation == "list_all":
            return [calls.list(_config(thread_id), None) for _ in range(reps)]
        if operation == "list_limit_10":
            return [calls.list(_config(thread_id), 10) for _ in range(reps)]
        raise ValueError(f"unknown operation {operation!r}")


_RAW_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS checkpoints (thread_id TEXT NOT NULL, "
    "checkpoint_ns TEXT NOT NULL DEFAULT '', checkpoint_id TEXT NOT NULL, "
    "parent_checkpoint_id TEXT, type TEXT, checkpoint BLOB, metadata BLOB, "
    "PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id))"
)
_RAW_INSERT: Final = (
    "INSERT OR REPLACE INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, "
    "parent_checkpoint_id, type, checkpoint, metadata) VALUES (?, '', ?, NULL, ?, ?, ?)"
)
_RAW_SELECT: Final = (
    "SELECT type, checkpoint, metadata FROM checkpoints WHERE thread_id = ? "
    "AND checkpoint_ns = '' ORDER BY checkpoint_id DESC LIMIT 1"
)


class FloorBench:
    """The cost of the work every saver must do: serialize, and one SQL statement.
    `ours_*` use `fast_langgraph.serde.JsonPlusSerializer` (the native codec in a
    worker that has it), the others langgraph's serializer and Python's sqlite3."""

    def __init__(self, workdir: str) -> None:
        self.serde = JsonPlusSerializer()
        self._ours: Any = None
        self.connections: dict[str, sqlite3.Connection] = {}
        for synchronous in ("FULL", "NORMAL"):
            conn = sqlite3.connect(os.path.join(workdir, f"floor-{synchronous.lower()}.db"))
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={synchronous}")
            conn.execute(_RAW_SCHEMA)
            conn.commit()
            self.connections[synchronous] = conn
        self.serialized: dict[str, tuple[str, bytes]] = {}
        self.counter = 0

    def _serialized(self, size: str) -> tuple[str, bytes]:
        if size not in self.serialized:
            state = state_of(size)
            checkpoint = state.checkpoint(
                lambda current, _: 1 if current is None else current + 1, 0
            )
            self.serialized[size] = self.serde.dumps_typed(checkpoint)
        return self.serialized[size]

    def _insert(self, synchronous: str, size: str) -> Callable[[], Any]:
        conn = self.connections[synchronous]
        type_, blob = self._serialized(size)
        self.counter += 1
        row = (f"floor-{size}", f"{self.counter:012d}", type_, blob, b'{"source": "loop"}')

        def insert() -> None:
            conn.execute(_RAW_INSERT, row)
            conn.commit()

        return insert

    @property
    def ours(self) -> Any:
        if self._ours is None:
            from benchmarks.contenders import our_serializer

            self._ours = our_serializer()
        return self._ours

    def run(self, operation: str, size: str, reps: int) -> list[int]:
        if operation == "ours_dumps_typed":
            checkpoint = state_of(size).checkpoint(lambda current, _: 1, 0)
            ours = self.ours
            return time_sync([lambda: ours.dumps_typed(checkpoint)] * reps)
        if operation == "ours_loads_typed":
            serialized = self._serialized(size)
            ours = self.ours
            return time_sync([lambda: ours.loads_typed(serialized)] * reps)
        if operation == "dumps_typed":
            checkpoint = state_of(size).checkpoint(lambda current, _: 1, 0)
            return time_sync([lambda: self.serde.dumps_typed(checkpoint)] * reps)
        if operation == "loads_typed":
            serialized = self._serialized(size)
            return time_sync([lambda: self.serde.loads_typed(serialized)] * reps)
        if operation == "insert_full":
            return time_sync([self._insert("FULL", size) for _ in range(reps)])
        if operation == "insert_normal":
            return time_sync([self._insert("NORMAL", size) for _ in range(reps)])
        if operation == "select":
            conn = self.connections["NORMAL"]
            if self.counter == 0 or not conn.execute(_RAW_SELECT, (f"floor-{size}",)).fetchone():
                self._insert("NORMAL", size)()
            return time_sync(
                [lambda: conn.execute(_RAW_SELECT, (f"floor-{size}",)).fetchone()] * reps
            )
        raise ValueError(f"unknown floor operation {operation!r}")

    def close(self) -> None:
        for conn in self.connections.values():
            conn.close()
