"""The demo runs end to end (with few timed invokes) and shows what it promises."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Final

import pytest
from langgraph.checkpoint.sqlite import SqliteSaver

import fast_langgraph
from fast_langgraph.saver import STORAGE_ENV

DEMO: Final = Path(__file__).resolve().parent.parent / "demo" / "demo.py"
TIMED_SAVERS: Final = (
    "langgraph SqliteSaver (default)",
    "fast-langgraph (default)",
    "fast-langgraph durability='full'",
    "langgraph SqliteSaver + synchronous=NORMAL",
)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    demo_dir = tmp_path_factory.mktemp("demo")
    env = dict(os.environ, DEMO_QUICK="1", DEMO_DIR=str(demo_dir))
    # What a user runs: new files in the default layout, whatever the session's.
    env.pop(STORAGE_ENV, None)
    # The demo starts child processes from its own directory: make paths absolute.
    entries = [e for e in env.get("PYTHONPATH", "").split(os.pathsep) if e]
    env["PYTHONPATH"] = os.pathsep.join(str(Path(e).resolve()) for e in entries)
    result = subprocess.run(
        [sys.executable, str(DEMO)],
        cwd=demo_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout, demo_dir


def test_reports_the_codec_and_engine(demo_run: tuple[str, Path]) -> None:
    output, _ = demo_run
    engine = "compiled" if fast_langgraph.ENGINE_COMPILED else "interpreted"
    first = output.splitlines()[0]
    assert f"codec: {fast_langgraph.__impl__}, engine: {engine}" in first


def test_sections_in_order(demo_run: tuple[str, Path]) -> None:
    output, _ = demo_run
    headers = [line for line in output.splitlines() if line.startswith("== ")]
    assert headers == [
        "== 1. Persistence across processes ==",
        "== 2. One thread per user ==",
        "== 3. Time travel ==",
        "== 4. Cleanup ==",
        "== 5. Timing against langgraph's SqliteSaver ==",
    ]


def test_second_process_resumes_the_first_ones_conversation(demo_run: tuple[str, Path]) -> None:
    output, _ = demo_run
    writer = re.search(r"process (\d+) wrote 4 messages to thread 'support-42'", output)
    reader = re.search(r"process (\d+) resumed thread 'support-42' with 4 messages:", output)
    assert writer and reader
    assert writer.group(1) != reader.group(1)
    assert "thread 'support-42' now has 6 messages" in output


def test_threads_are_separate(demo_run: tuple[str, Path]) -> None:
    output, _ = demo_run
    users = output.split("== 2.")[1].split("== 3.")[0]
    alice, bob = users.split("bob sees")
    assert "alice sees 4 messages:" in alice and "refund" not in alice
    assert bob.startswith(" 2 messages:") and "order" not in bob


def test_time_travel_forks_and_keeps_the_original(demo_run: tuple[str, Path]) -> None:
    output, _ = demo_run
    travel = output.split("== 3.")[1].split("== 4.")[0]
    assert "alice's thread has 8 checkpoints" in travel
    fork, original = travel.split("the original branch is still there:")
    assert "user: actually, I want a refund" in fork
    assert "user: where is my order?" in original
    assert "actually" not in original


def test_cleanup_keeps_the_latest_checkpoint_of_each_thread(demo_run: tuple[str, Path]) -> None:
    output, _ = demo_run
    assert "after cleanup: 3 threads, 3 checkpoints, 0 writes" in output
    assert "goes on from its latest checkpoint: 6 messages" in output


def test_timing_covers_defaults_and_equal_durability(demo_run: tuple[str, Path]) -> None:
    output, _ = demo_run
    assert "10 invokes of the graph above per saver" in output
    for saver in TIMED_SAVERS:
        assert re.search(rf"^  {re.escape(saver)} +(FULL|NORMAL) +\d+\.\d\d$", output, re.M)
    assert re.search(r"at equal durability, synchronous=FULL: +\d+\.\d\dx", output)
    assert re.search(r"at equal durability, synchronous=NORMAL: +\d+\.\d\dx", output)


def test_langgraph_sqlitesaver_reads_the_demo_database(demo_run: tuple[str, Path]) -> None:
    _, demo_dir = demo_run
    conn = sqlite3.connect(demo_dir / "checkpoints.db", check_same_thread=False)
    try:
        saver = SqliteSaver(conn)
        latest = saver.get_tuple({"configurable": {"thread_id": "support-42"}})
        assert latest is not None
        messages = latest.checkpoint["channel_values"]["messages"]
        assert [m.content for m in messages][-2:] == [
            "I want a refund",
            "I have started a refund; it takes 3-5 days.",
        ]
    finally:
        conn.close()
