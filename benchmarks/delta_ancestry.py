"""The delta-ancestry walk of prune, cleanup and delete_for_runs on one long chain.

Builds a thread of N checkpoints, each the child of the one before, whose metadata
carries `counters_since_delta_snapshot` for a channel that no checkpoint stores (no
snapshot anywhere: every survivor's walk reaches the root), then times each deleting
operation on a fresh copy of the file. This was quadratic in N (issue 10, item 4).

    python -m benchmarks.delta_ancestry               # N = 4000 and 20000
    python -m benchmarks.delta_ancestry 1000 4000     # other sizes
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

import fast_langgraph
from fast_langgraph import _selector
from fast_langgraph_pure import Engine

CODEC = _selector.codec_for(JsonPlusSerializer()).codec


def build(path: Path, length: int) -> None:
    """One thread "t" of `length` chained checkpoints, every one a delta
    checkpoint of channel "msgs" with no snapshot of it, each with one write."""
    Engine(str(path)).close()  # the schema
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = {"other": 1}
    type_, blob = CODEC.dumps_typed(checkpoint)
    write_type, write_blob = CODEC.dumps_typed("hi")
    ids = [f"{n:08d}-0000-6000-8000-000000000000" for n in range(length)]
    checkpoints = []
    writes = []
    for n, cid in enumerate(ids):
        metadata = {
            "step": n,
            "run_id": f"run-{n}",
            "counters_since_delta_snapshot": {"msgs": [n, n]},
        }
        parent = ids[n - 1] if n else None
        checkpoints.append(("t", "", cid, parent, type_, blob, json.dumps(metadata).encode()))
        writes.append(("t", "", cid, "task", "", 0, "msgs", write_type, write_blob))
    conn = sqlite3.connect(path)
    with conn:
        conn.executemany(
            "INSERT INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, "
            "parent_checkpoint_id, type, checkpoint, metadata) VALUES (?, ?, ?, ?, ?, ?, ?)",
            checkpoints,
        )
        conn.executemany(
            "INSERT INTO writes (thread_id, checkpoint_ns, checkpoint_id, task_id, "
            "task_path, idx, channel, type, value) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            writes,
        )
    conn.close()


def timed(source: Path, work_dir: Path, name: str, length: int) -> float:
    copy = work_dir / f"{name}.db"
    shutil.copy(source, copy)
    engine = Engine(str(copy))
    started = time.perf_counter()
    if name == "prune(keep_latest)":
        engine.prune(["t"], True, CODEC)
    elif name == "delete_for_runs(newest)":
        engine.delete_for_runs([f"run-{length - 1}"], CODEC)
    else:  # cleanup of everything, keep_latest
        engine.cleanup("9999-01-01 00:00:00", True, False, CODEC)
    elapsed = time.perf_counter() - started
    left = engine.stats(1)["checkpoints"]
    engine.close()
    copy.unlink()
    # Every checkpoint is needed by the newest, so nothing may go but the newest
    # itself (delete_for_runs): the walk must not lose any of them.
    expected = length - 1 if name == "delete_for_runs(newest)" else length
    assert left == expected, (name, left, expected)
    return elapsed


def main(sizes: list[int]) -> None:
    engine = "compiled" if fast_langgraph.ENGINE_COMPILED else "interpreted"
    print(f"engine: {engine}, codec: {fast_langgraph.__impl__}")
    with tempfile.TemporaryDirectory() as folder:
        work_dir = Path(folder)
        for length in sizes:
            source = work_dir / f"chain-{length}.db"
            build(source, length)
            for name in ("prune(keep_latest)", "delete_for_runs(newest)", "cleanup(keep_latest)"):
                seconds = timed(source, work_dir, name, length)
                print(f"{length:>7} checkpoints  {name:<24} {seconds:8.3f} s")


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [4000, 20000])
