"""A big database (many threads of small checkpoints) in SqliteSaver's format.

Built once with bulk SQL, since a saver would take far longer, and cached: the
rows are what SqliteSaver itself writes (same tables, serializer and metadata
JSON). Each thread's checkpoint is serialized once and its id patched per row,
which is exact because uuid6 ids all have the same length.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any, Final

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.base import LATEST_VERSION
from langgraph.checkpoint.base.id import uuid6
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver

from benchmarks.states import _text

_INSERT_CHECKPOINT: Final = (
    "INSERT INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, "
    "parent_checkpoint_id, type, checkpoint, metadata) VALUES (?, '', ?, ?, ?, ?, ?)"
)
_INSERT_WRITE: Final = (
    "INSERT INTO writes (thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, "
    "idx, channel, type, value) VALUES (?, '', ?, ?, '', 0, 'messages', ?, ?)"
)
_PLACEHOLDER_ID: Final = "00000000-0000-6000-8000-000000000000"


def thread_name(index: int) -> str:
    return f"scale-{index:05d}"


def _thread_rows(
    serde: JsonPlusSerializer, index: int, per_thread: int
) -> Iterator[tuple[tuple[Any, ...], tuple[Any, ...]]]:
    """(checkpoint row, write row) for every checkpoint of thread `index`."""
    rng = random.Random(index)
    human = HumanMessage(content=_text(rng, 120), id=f"h-{index}")
    answer = AIMessage(content=_text(rng, 300), id=f"a-{index}")
    checkpoint = {
        "v": LATEST_VERSION,
        "id": _PLACEHOLDER_ID,
        "ts": datetime.now(timezone.utc).isoformat(),
        "channel_values": {"messages": [human, answer], "step": 3},
        "channel_versions": {"__start__": "1", "messages": "3", "step": "3"},
        "versions_seen": {"__input__": {}, "agent": {"messages": "2"}},
        "updated_channels": ["messages"],
    }
    type_, blob = serde.dumps_typed(checkpoint)
    write_type, write_blob = serde.dumps_typed([answer])
    thread_id = thread_name(index)
    parent: str | None = None
    for step in range(per_thread):
        checkpoint_id = str(uuid6(clock_seq=step))
        row_blob = blob.replace(_PLACEHOLDER_ID.encode(), checkpoint_id.encode())
        meta = json.dumps({"source": "loop", "step": step, "parents": {}}).encode()
        yield (
            (thread_id, checkpoint_id, parent, type_, row_blob, meta),
            (thread_id, checkpoint_id, str(uuid.uuid4()), write_type, write_blob),
        )
        parent = checkpoint_id


def build(path: str, threads: int, per_thread: int) -> None:
    """Write a fresh database at `path` (built beside it, then moved into place)."""
    partial = path + ".partial"
    for leftover in (partial, partial + "-wal", partial + "-shm"):
        if os.path.exists(leftover):
            os.remove(leftover)
    conn = sqlite3.connect(partial, check_same_thread=False)
    SqliteSaver(conn).setup()  # SqliteSaver's own schema, WAL on
    conn.execute("PRAGMA synchronous=OFF")
    serde = JsonPlusSerializer()
    for first in range(0, threads, 100):
        checkpoints: list[tuple[Any, ...]] = []
        writes: list[tuple[Any, ...]] = []
        for index in range(first, min(first + 100, threads)):
            for checkpoint_row, write_row in _thread_rows(serde, index, per_thread):
                checkpoints.append(checkpoint_row)
                writes.append(write_row)
        conn.executemany(_INSERT_CHECKPOINT, checkpoints)
        conn.executemany(_INSERT_WRITE, writes)
        conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    os.replace(partial, path)


def ensure(path: str, threads: int, per_thread: int) -> bool:
    """Build the database unless a complete one is there; True when built now."""
    if os.path.exists(path):
        return False
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    build(path, threads, per_thread)
    return True


def copy(source: str, target: str) -> None:
    """A private copy for savers that upgrade the file they open."""
    if not os.path.exists(target):
        shutil.copyfile(source, target + ".partial")
        os.replace(target + ".partial", target)


def warm(path: str) -> None:
    """Read the whole file once so every contender finds it in the page cache; else
    the first contender to read each page would pay for the disk alone."""
    with open(path, "rb") as database:
        while database.read(1 << 20):
            pass


def file_bytes(path: str) -> int:
    """The database's size on disk, WAL included."""
    return sum(os.path.getsize(name) for name in (path, path + "-wal") if os.path.exists(name))
