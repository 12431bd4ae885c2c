"""The small benchmark behind `fast-langgraph bench`.

Our saver against langgraph's `SqliteSaver` (when langgraph-checkpoint-sqlite is
importable) on the same workload: `put`, `get_tuple` and `list(limit=10)` of one
thread whose state is LangChain messages, each saver on its own file in a
temporary folder that is removed afterwards. Operations alternate between the
savers, so a busy machine slows both alike; the result is the median of each.
It needs only what the package installs and runs in seconds. The full benchmark
(graphs end to end, several state sizes, async, charts) is `make bench` in a
source checkout of fast-langgraph.
"""

from __future__ import annotations

import importlib.metadata
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Final

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver, Checkpoint, empty_checkpoint
from langgraph.checkpoint.base.id import uuid6
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

import fast_langgraph
from fast_langgraph.saver import Durability, RustSQLiteCheckpointer

DEFAULT_ITERATIONS: Final = 200
DEFAULT_STATE_KB: Final = 35
LIST_LIMIT: Final = 10
# Untimed calls per saver and operation first: connections, caches, imports.
WARMUP: Final = 3
OPERATIONS: Final = ("put", "get_tuple", f"list(limit={LIST_LIMIT})")
OURS: Final = "fast-langgraph"
THEIRS: Final = "SqliteSaver"
THREAD_ID: Final = "bench"
# PRAGMA synchronous as a number, in words.
SYNCHRONOUS_NAMES: Final = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
# What each `durability=` sets (see RustSQLiteCheckpointer).
DURABILITY_SYNCHRONOUS: Final = {"normal": "NORMAL", "full": "FULL"}
MESSAGE_TEXT: Final = "The quick brown fox jumps over the lazy dog. " * 20


def _thread_config() -> RunnableConfig:
    return {"configurable": {"thread_id": THREAD_ID, "checkpoint_ns": ""}}


@dataclass
class _Contender:
    name: str
    saver: BaseCheckpointSaver[Any]
    description: dict[str, Any]
    # The config of its latest put: the parent of the next one.
    config: RunnableConfig = field(default_factory=_thread_config)
    timings: dict[str, list[float]] = field(default_factory=dict)


def make_messages(state_kb: float) -> tuple[list[BaseMessage], int]:
    """A conversation whose serialized checkpoint is about `state_kb` KB, and that size."""
    messages: list[BaseMessage] = []
    serde = JsonPlusSerializer()
    size = 0
    while size < state_kb * 1024:
        n = len(messages)
        kind = HumanMessage if n % 2 == 0 else AIMessage
        messages.append(kind(f"{n}: {MESSAGE_TEXT}", id=f"message-{n}"))
        size = len(serde.dumps_typed(_checkpoint(messages, 0))[1])
    return messages, size


def _checkpoint(messages: list[BaseMessage], step: int) -> Checkpoint:
    checkpoint = empty_checkpoint()
    checkpoint["id"] = str(uuid6(clock_seq=step))
    checkpoint["ts"] = datetime.now(timezone.utc).isoformat()
    checkpoint["channel_values"] = {"messages": messages}
    checkpoint["channel_versions"] = {"messages": f"{step + 1:032}.0"}
    return checkpoint


def _synchronous(conn: sqlite3.Connection) -> str:
    value = int(conn.execute("PRAGMA synchronous").fetchone()[0])
    return SYNCHRONOUS_NAMES.get(value, str(value))


def _sqlite_saver_version() -> str:
    try:
        return importlib.metadata.version("langgraph-checkpoint-sqlite")
    except importlib.metadata.PackageNotFoundError:
        return "unknown version"


@contextmanager
def _contenders(
    folder: Path, durability: Durability
) -> Iterator[tuple[_Contender, _Contender | None, dict[str, Any]]]:
    """Our saver, SqliteSaver (None when it cannot be imported) and what is
    known of SqliteSaver's settings (or why it is missing)."""
    with ExitStack() as stack:
        path = folder / "fast-langgraph.db"
        ours = stack.enter_context(RustSQLiteCheckpointer(str(path), durability=durability))
        mine = _Contender(
            OURS,
            ours,
            {
                "version": fast_langgraph.__version__,
                "impl": fast_langgraph.__impl__,
                "engine_compiled": fast_langgraph.ENGINE_COMPILED,
                "implementation": ours.implementation,
                "implementation_detail": ours.implementation_detail,
                "durability": durability,
                "journal_mode": _journal_mode(path),
                "synchronous": DURABILITY_SYNCHRONOUS[durability],
            },
        )
        try:
            from langgraph.checkpoint.sqlite import SqliteSaver
        except ImportError as exc:
            yield mine, None, {"available": False, "reason": f"cannot import it ({exc})"}
            return
        conn = sqlite3.connect(str(folder / "sqlite-saver.db"), check_same_thread=False)
        stack.callback(conn.close)
        theirs = SqliteSaver(conn)
        theirs.setup()
        description = {
            "available": True,
            "version": _sqlite_saver_version(),
            "journal_mode": str(conn.execute("PRAGMA journal_mode").fetchone()[0]),
            "synchronous": _synchronous(conn),
        }
        yield mine, _Contender(THEIRS, theirs, description), description


def _journal_mode(path: Path) -> str:
    """The journal mode of a file, as another connection sees it (WAL is a
    property of the file)."""
    conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    try:
        return str(conn.execute("PRAGMA journal_mode").fetchone()[0])
    finally:
        conn.close()


def _timed(call: Callable[[_Contender], object], contender: _Contender) -> float:
    started = time.perf_counter()
    call(contender)
    return (time.perf_counter() - started) * 1000.0


def run(
    *,
    iterations: int = DEFAULT_ITERATIONS,
    state_kb: float = DEFAULT_STATE_KB,
    durability: Durability = "normal",
    tick: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Measure and return the result as plain data (what `--json` prints).
    `tick` is called after each timed round (3 x `iterations` in all)."""
    if iterations < 1:
        raise ValueError(f"iterations must be at least 1, got {iterations}")
    if state_kb <= 0:
        raise ValueError(f"the state size must be positive, got {state_kb} KB")
    messages, state_bytes = make_messages(state_kb)
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="fast-langgraph-bench-") as folder,
        _contenders(Path(folder), durability) as (ours, theirs, theirs_description),
    ):
        running = [ours] if theirs is None else [ours, theirs]
        step = 0

        def put(contender: _Contender) -> None:
            nonlocal step
            step += 1
            contender.config = contender.saver.put(
                contender.config,
                _checkpoint(messages, step),
                {"source": "loop", "step": step, "parents": {}},
                {"messages": f"{step + 1:032}.0"},
            )

        latest = _thread_config()
        calls: dict[str, Callable[[_Contender], object]] = {
            "put": put,
            "get_tuple": lambda c: c.saver.get_tuple(latest),
            OPERATIONS[2]: lambda c: list(c.saver.list(latest, limit=LIST_LIMIT)),
        }
        for operation in OPERATIONS:
            call = calls[operation]
            for contender in running:
                for _ in range(WARMUP):
                    call(contender)
                contender.timings[operation] = []
            for round_ in range(iterations):
                # Alternate who goes first, so neither always runs on a warmer cache.
                order = running if round_ % 2 == 0 else running[::-1]
                for contender in order:
                    contender.timings[operation].append(_timed(call, contender))
                if tick is not None:
                    tick()
        return _result(
            ours, theirs, theirs_description, iterations, state_bytes, len(messages), started
        )


def _result(
    ours: _Contender,
    theirs: _Contender | None,
    theirs_description: dict[str, Any],
    iterations: int,
    state_bytes: int,
    message_count: int,
    started: float,
) -> dict[str, Any]:
    rows = []
    for operation in OPERATIONS:
        ours_ms = statistics.median(ours.timings[operation])
        row: dict[str, Any] = {"operation": operation, "fast_langgraph_ms": round(ours_ms, 4)}
        if theirs is not None:
            theirs_ms = statistics.median(theirs.timings[operation])
            row["sqlite_saver_ms"] = round(theirs_ms, 4)
            row["speedup"] = round(theirs_ms / ours_ms, 2) if ours_ms > 0 else None
        rows.append(row)
    return {
        "iterations": iterations,
        "state_bytes": state_bytes,
        "messages": message_count,
        "fast_langgraph": ours.description,
        "sqlite_saver": theirs_description,
        "equal_durability": theirs_description.get("synchronous")
        == ours.description["synchronous"],
        "results": rows,
        "seconds": round(time.perf_counter() - started, 2),
    }


def report(result: dict[str, Any]) -> list[str]:
    """The result in words and a table, for a terminal."""
    ours = result["fast_langgraph"]
    theirs = result["sqlite_saver"]
    engine = "compiled" if ours["engine_compiled"] else "interpreted"
    lines = [
        f"put, get_tuple and list(limit={LIST_LIMIT}) on one thread, state of "
        f"{result['messages']} LangChain messages ({result['state_bytes'] / 1024:.1f} KB "
        f"serialized), {result['iterations']} rounds each, medians",
        f"  {OURS} {ours['version']}: codec {ours['impl']} (fast_langgraph.__impl__), "
        f"engine {engine}, durability={ours['durability']!r} "
        f"(WAL, synchronous={ours['synchronous']})",
    ]
    if theirs["available"]:
        lines.append(
            f"  {THEIRS} {theirs['version']}: journal_mode={theirs['journal_mode']}, "
            f"synchronous={theirs['synchronous']} (its default)"
        )
        if not result["equal_durability"]:
            lines.append(
                f"  not equal durability: synchronous={theirs['synchronous']} flushes every "
                "commit to disk; `--durability full` compares at equal durability"
            )
    else:
        lines.append(f"  {THEIRS} not measured: {theirs['reason']}")
    lines.append("")
    headers = ["OPERATION", OURS.upper()]
    if theirs["available"]:
        headers += [THEIRS.upper(), "SPEEDUP"]
    table: list[list[str]] = [headers]
    for row in result["results"]:
        cells = [row["operation"], f"{row['fast_langgraph_ms']:.3f} ms"]
        if theirs["available"]:
            speedup = row["speedup"]
            cells += [
                f"{row['sqlite_saver_ms']:.3f} ms",
                "-" if speedup is None else f"{speedup:.2f}x",
            ]
        table.append(cells)
    widths = [max(len(r[i]) for r in table) for i in range(len(headers))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in table]
    lines += [
        "",
        f"took {result['seconds']:.1f} s; temporary files only, removed. The full benchmark "
        "(graphs end to end, state sizes, async, charts) is `make bench` in a source checkout.",
    ]
    return lines
