"""One SQLite per process: the Rust engine shares Python's SQLite library.

Two copies of SQLite in one process break each other's POSIX locks: closing a
file through one copy drops the locks the other holds on it, and a concurrent
writer can then corrupt the file. Users open the saver's file with Python's
`sqlite3` while the saver is open, so the Rust engine must run on the very
library `_sqlite3` uses. These tests prove that at the symbol level and then
hammer one file from the engine's threads, from `sqlite3` connections opened
and closed in a loop, and from a second process, and check nothing is lost.

They need the Rust engine: they run when FAST_LANGGRAPH_IMPL=rust (where a
failing import is an error) and whenever fast_langgraph_rs happens to import.
"""

from __future__ import annotations

import ctypes
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

if os.environ.get("FAST_LANGGRAPH_IMPL", "").strip().lower() == "rust":
    import fast_langgraph_rs
else:
    fast_langgraph_rs = pytest.importorskip("fast_langgraph_rs")

from fast_langgraph_rs import _native

SERDE = JsonPlusSerializer()
WRITER_THREADS = 3
PUTS_PER_THREAD = 60
CHILD_PUTS = 60


def python_sqlite_libversion_address() -> int | None:
    import _sqlite3

    function = ctypes.CDLL(getattr(_sqlite3, "__file__", None)).sqlite3_libversion
    return ctypes.cast(function, ctypes.c_void_p).value


def test_the_native_module_runs_on_pythons_sqlite() -> None:
    assert _native.sqlite_libversion_address() == python_sqlite_libversion_address()
    assert _native.sqlite_version() == sqlite3.sqlite_version


def test_the_native_module_does_not_carry_its_own_sqlite() -> None:
    # A bundled SQLite would define the API itself; a shared one only imports it.
    native_file = Path(_native.__file__)
    defined = subprocess.run(
        ["nm", "-D", "--defined-only", str(native_file)],
        capture_output=True,
        text=True,
        check=False,
    )
    if defined.returncode != 0:
        pytest.skip(f"nm is not usable here: {defined.stderr.strip()}")
    assert "sqlite3_libversion" not in defined.stdout
    assert "sqlite3_open_v2" not in defined.stdout


def put_checkpoint(engine: Any, thread_id: str, checkpoint_id: str) -> None:
    checkpoint = empty_checkpoint()
    checkpoint["id"] = checkpoint_id
    checkpoint["channel_values"] = {"payload": "x" * 2000, "id": checkpoint_id}
    engine.put(thread_id, "", checkpoint_id, None, checkpoint, {"step": 1}, SERDE)


CHILD_SCRIPT = textwrap.dedent(
    """
    import sys
    from langgraph.checkpoint.base import empty_checkpoint
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
    import fast_langgraph_rs

    serde = JsonPlusSerializer()
    engine = fast_langgraph_rs.Engine(sys.argv[1])
    for i in range(int(sys.argv[2])):
        checkpoint_id = f"child-{i:05d}"
        checkpoint = empty_checkpoint()
        checkpoint["id"] = checkpoint_id
        checkpoint["channel_values"] = {"payload": "y" * 2000}
        engine.put("child", "", checkpoint_id, None, checkpoint, {"step": i}, serde)
        print(checkpoint_id, flush=True)
    engine.close()
    """
)


def test_engine_threads_python_sqlite_and_another_process_share_one_file(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "shared.db")
    engine = fast_langgraph_rs.Engine(path)
    committed: list[str] = []
    committed_lock = threading.Lock()
    errors: list[BaseException] = []
    writers_done = threading.Event()

    def writer(n: int) -> None:
        try:
            for i in range(PUTS_PER_THREAD):
                checkpoint_id = f"thread-{n}-{i:05d}"
                put_checkpoint(engine, f"thread-{n}", checkpoint_id)
                with committed_lock:
                    committed.append(checkpoint_id)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    def python_side() -> None:
        # Open, read and close the file through Python's own sqlite3, over and
        # over: with two SQLite copies each close would drop the engine's locks.
        try:
            while not writers_done.is_set():
                conn = sqlite3.connect(path, timeout=5)
                try:
                    conn.execute("SELECT COUNT(*) FROM checkpoints").fetchone()
                    conn.execute("SELECT checkpoint_id FROM writes LIMIT 1").fetchall()
                finally:
                    conn.close()
        except BaseException as exc:
            errors.append(exc)

    child = subprocess.Popen(
        [sys.executable, "-c", CHILD_SCRIPT, path, str(CHILD_PUTS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITER_THREADS)]
    reader = threading.Thread(target=python_side)
    reader.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    child_out, child_err = child.communicate(timeout=120)
    writers_done.set()
    reader.join()
    assert not errors, errors
    assert child.returncode == 0, child_err

    # Something a user might do meanwhile, in this process: read through sqlite3
    # while the engine is still open, then close that connection.
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        stored = {row[0] for row in conn.execute("SELECT checkpoint_id FROM checkpoints")}
    finally:
        conn.close()
    child_committed = child_out.split()
    assert len(child_committed) == CHILD_PUTS
    assert len(committed) == WRITER_THREADS * PUTS_PER_THREAD
    assert set(committed) | set(child_committed) <= stored

    # The engine still reads and writes normally afterwards.
    put_checkpoint(engine, "after", "after-00001")
    row = engine.get("after", "", None, SERDE)
    assert row is not None and row[2] == "after-00001"
    engine.close()
