"""The `fast-langgraph` console script, on files made by langgraph's own SqliteSaver
running a real graph, and on ours."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

from conftest import read_only_file
from fast_langgraph import RustSQLiteCheckpointer
from fast_langgraph.cli import Progress, diff_values, main, parse_duration

CONVERSATIONS = {"alice": ["hi", "how are you?"], "bob": ["hello"]}


class Chat(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    turns: int


def _reply(state: Chat) -> dict[str, Any]:
    return {
        "messages": [AIMessage(f"echo: {state['messages'][-1].text}")],
        "turns": state.get("turns", 0) + 1,
    }


def _chat_graph(checkpointer: Any) -> Any:
    builder = StateGraph(Chat)
    builder.add_node("reply", _reply)
    builder.add_edge(START, "reply")
    builder.add_edge("reply", END)
    return builder.compile(checkpointer=checkpointer)


def _chat(checkpointer: Any) -> None:
    graph = _chat_graph(checkpointer)
    for thread_id, texts in CONVERSATIONS.items():
        for text in texts:
            graph.invoke(
                {"messages": [HumanMessage(text)]}, {"configurable": {"thread_id": thread_id}}
            )


@pytest.fixture
def sqlite_saver_db(tmp_path: Path) -> Iterator[str]:
    """A file written only by langgraph's SqliteSaver (never opened by us)."""
    path = str(tmp_path / "sqlite_saver.db")
    conn = sqlite3.connect(path, check_same_thread=False)
    _chat(SqliteSaver(conn))
    conn.close()
    yield path


@pytest.fixture
def our_db(tmp_path: Path) -> Iterator[str]:
    path = str(tmp_path / "ours.db")
    with RustSQLiteCheckpointer(path) as saver:
        _chat(saver)
    yield path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def saver_ids(path: str, thread_id: str) -> list[str]:
    """The thread's checkpoint ids, newest first, read straight from the file
    (read-only: SqliteSaver itself would switch the file to WAL on open)."""
    conn = sqlite3.connect(f"{Path(path).absolute().as_uri()}?mode=ro", uri=True)
    try:
        found = conn.execute(
            "SELECT checkpoint_id FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = '' "
            "ORDER BY checkpoint_id DESC",
            (thread_id,),
        ).fetchall()
    finally:
        conn.close()
    return [row[0] for row in found]


# -- reading -------------------------------------------------------------------------


def test_threads_lists_every_thread_of_a_sqlite_saver_file(
    capsys: pytest.CaptureFixture[str], sqlite_saver_db: str
) -> None:
    threads = run_json(capsys, "threads", sqlite_saver_db)
    by_id = {t["thread_id"]: t for t in threads}
    assert set(by_id) == set(CONVERSATIONS)
    for thread_id, thread in by_id.items():
        assert thread["checkpoints"] == len(saver_ids(sqlite_saver_db, thread_id))
    # bob spoke last: most recent activity first.
    assert threads[0]["thread_id"] == "bob"
    code, out, _ = run(capsys, "threads", sqlite_saver_db)
    assert code == 0
    assert out.splitlines()[0].split()[:3] == ["THREAD", "CHECKPOINTS", "WRITES"]
    assert {line.split()[0] for line in out.splitlines()[1:]} == {"alice", "bob"}


def test_history_lists_checkpoints_newest_first(
    capsys: pytest.CaptureFixture[str], sqlite_saver_db: str
) -> None:
    history = run_json(capsys, "history", sqlite_saver_db, "alice")
    assert [h["checkpoint_id"] for h in history] == saver_ids(sqlite_saver_db, "alice")
    assert history[0]["step"] == max(h["step"] for h in history)
    assert history[-1]["source"] == "input"
    assert history[0]["parent_checkpoint_id"] == history[1]["checkpoint_id"]
    assert len(run_json(capsys, "history", sqlite_saver_db, "alice", "--limit", "2")) == 2
    code, out, _ = run(capsys, "history", sqlite_saver_db, "alice")
    assert code == 0
    assert history[-1]["checkpoint_id"] in out.splitlines()[-1]


def test_show_renders_messages_as_role_and_text(
    capsys: pytest.CaptureFixture[str], sqlite_saver_db: str
) -> None:
    code, out, err = run(capsys, "show", sqlite_saver_db, "alice")
    assert (code, err) == (0, "")
    assert "user: hi\n" in out
    assert "assistant: echo: how are you?\n" in out
    assert "turns:\n    2\n" in out

    shown = run_json(capsys, "show", sqlite_saver_db, "alice")
    assert shown["checkpoint_id"] == saver_ids(sqlite_saver_db, "alice")[0]
    assert shown["channel_values"]["messages"] == [
        {"role": "user", "text": "hi"},
        {"role": "assistant", "text": "echo: hi"},
        {"role": "user", "text": "how are you?"},
        {"role": "assistant", "text": "echo: how are you?"},
    ]
    assert shown["channel_values"]["turns"] == 2
    assert not any(name.startswith(("__", "branch:")) for name in shown["channel_values"])


def test_show_a_given_checkpoint(capsys: pytest.CaptureFixture[str], sqlite_saver_db: str) -> None:
    first_turn = next(
        h for h in reversed(run_json(capsys, "history", sqlite_saver_db, "alice")) if h["step"] == 1
    )
    shown = run_json(capsys, "show", sqlite_saver_db, "alice", first_turn["checkpoint_id"])
    assert shown["checkpoint_id"] == first_turn["checkpoint_id"]
    assert [m["text"] for m in shown["channel_values"]["messages"]] == ["hi", "echo: hi"]


def test_diff_shows_what_changed_between_two_checkpoints(
    capsys: pytest.CaptureFixture[str], sqlite_saver_db: str
) -> None:
    steps = {
        h["step"]: h["checkpoint_id"] for h in run_json(capsys, "history", sqlite_saver_db, "alice")
    }
    a, b = steps[1], steps[max(steps)]
    diff = run_json(capsys, "diff", sqlite_saver_db, "alice", a, b)
    assert diff["changed"]["messages"] == {
        "appended": [
            {"role": "user", "text": "how are you?"},
            {"role": "assistant", "text": "echo: how are you?"},
        ]
    }
    assert diff["changed"]["turns"] == {"before": 1, "after": 2}
    assert diff["added"] == diff["removed"] == {}

    code, out, _ = run(capsys, "diff", sqlite_saver_db, "alice", a, b)
    assert code == 0
    assert "~ messages: appended 2" in out
    assert "+ user: how are you?" in out
    assert "    - 1\n    + 2" in out
    _, same, _ = run(capsys, "diff", sqlite_saver_db, "alice", a, a)
    assert "no channel changed" in same


def test_diff_values_reports_added_removed_and_replaced() -> None:
    diff = diff_values({"a": 1, "gone": [1], "l": [1, 2]}, {"a": 1, "new": "x", "l": [9]})
    assert diff == {
        "added": {"new": "x"},
        "removed": {"gone": [1]},
        "changed": {"l": {"before": [1, 2], "after": [9]}},
        "unchanged": ["a"],
    }


def test_stats_on_a_sqlite_saver_file(
    capsys: pytest.CaptureFixture[str], sqlite_saver_db: str
) -> None:
    stats = run_json(capsys, "stats", sqlite_saver_db)
    total = sum(len(saver_ids(sqlite_saver_db, t)) for t in CONVERSATIONS)
    assert (stats["threads"], stats["checkpoints"]) == (2, total)
    assert stats["writes"] > 0
    assert stats["db_size"] >= os.path.getsize(sqlite_saver_db)
    assert stats["largest_threads"][0]["thread_id"] == "alice"
    assert len(run_json(capsys, "stats", sqlite_saver_db, "--top", "1")["largest_threads"]) == 1
    code, out, _ = run(capsys, "stats", sqlite_saver_db)
    assert code == 0
    assert f"checkpoints  {total}" in out


def _file_state(path: str) -> tuple[bytes, int]:
    return Path(path).read_bytes(), os.stat(path).st_mtime_ns


def _read_commands(path: str) -> list[list[str]]:
    return [
        ["threads", path],
        ["history", path, "alice"],
        ["show", path, "alice"],
        ["diff", path, "alice", *saver_ids(path, "alice")[:2]],
        ["stats", path],
        ["cleanup", path, "--older-than", "0s", "--dry-run"],
    ]


@pytest.mark.parametrize("made_by", ["sqlite_saver_db", "our_db"])
def test_read_commands_never_write_to_a_wal_database(
    capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest, made_by: str
) -> None:
    db = request.getfixturevalue(made_by)
    commands = _read_commands(db)
    if made_by == "sqlite_saver_db":  # a dry run needs created_at, which it lacks
        commands = [argv for argv in commands if "--dry-run" not in argv]
    before = _file_state(db)
    for argv in commands:
        assert run(capsys, *argv)[0] == 0, argv
    assert _file_state(db) == before
    # SQLite itself gives every reader of a WAL database a -wal and a -shm file
    # (the shared-memory index); a read-only connection cannot remove them on
    # close. Nothing is written: the WAL holds no frame.
    wal = Path(f"{db}-wal")
    assert not wal.exists() or wal.stat().st_size == 0


def test_read_commands_leave_no_file_behind_on_a_rollback_journal_database(
    capsys: pytest.CaptureFixture[str], our_db: str
) -> None:
    with sqlite3.connect(our_db) as conn:
        conn.execute("PRAGMA journal_mode = DELETE")
    conn.close()
    commands = _read_commands(our_db)
    siblings = sorted(os.listdir(Path(our_db).parent))
    before = _file_state(our_db)
    for argv in commands:
        assert run(capsys, *argv)[0] == 0, argv
    assert _file_state(our_db) == before
    assert sorted(os.listdir(Path(our_db).parent)) == siblings


def test_read_commands_work_on_a_read_only_file(
    capsys: pytest.CaptureFixture[str], sqlite_saver_db: str
) -> None:
    with read_only_file(sqlite_saver_db):
        assert run_json(capsys, "show", sqlite_saver_db, "bob")["channel_values"]["turns"] == 1


# -- maintenance ------------------------------------------------------------------


def test_cleanup_dry_run_counts_and_changes_nothing(
    capsys: pytest.CaptureFixture[str], our_db: str
) -> None:
    before = _file_state(our_db)
    result = run_json(capsys, "cleanup", our_db, "--older-than", "0s", "--dry-run")
    total = sum(len(saver_ids(our_db, t)) for t in CONVERSATIONS)
    assert result["dry_run"] is True
    assert result["checkpoints"] == total - 2  # every thread keeps its latest
    assert _file_state(our_db) == before
    code, out, _ = run(capsys, "cleanup", our_db, "--older-than", "0s", "--dry-run")
    assert (code, out) == (
        0,
        f"would delete {total - 2} checkpoints and {result['writes']} writes\n",
    )


def test_cleanup_keeps_the_latest_by_default_and_sqlite_saver_still_works(
    capsys: pytest.CaptureFixture[str], sqlite_saver_db: str
) -> None:
    latest = {t: saver_ids(sqlite_saver_db, t)[0] for t in CONVERSATIONS}
    assert run_json(capsys, "cleanup", sqlite_saver_db, "--older-than", "1d")["checkpoints"] == 0
    result = run_json(capsys, "cleanup", sqlite_saver_db, "--older-than", "0s")
    assert result["checkpoints"] > 0
    assert {t: saver_ids(sqlite_saver_db, t) for t in CONVERSATIONS} == {
        t: [cid] for t, cid in latest.items()
    }
    # The migrated file is still SqliteSaver's: it reads and extends the thread.
    conn = sqlite3.connect(sqlite_saver_db, check_same_thread=False)
    graph = _chat_graph(SqliteSaver(conn))
    config: Any = {"configurable": {"thread_id": "alice"}}
    graph.invoke({"messages": [HumanMessage("still there?")]}, config)
    texts = [m.text for m in graph.get_state(config).values["messages"]]
    conn.close()
    assert texts[-2:] == ["still there?", "echo: still there?"]
    assert len(texts) == 6


def test_cleanup_no_keep_latest_deletes_whole_threads(
    capsys: pytest.CaptureFixture[str], our_db: str
) -> None:
    result = run_json(
        capsys, "cleanup", our_db, "--older-than", "0s", "--no-keep-latest", "--vacuum"
    )
    assert result["checkpoints"] == 2 * 3 + 3  # alice: 2 turns, bob: 1; 3 checkpoints a turn
    assert saver_ids(our_db, "alice") == saver_ids(our_db, "bob") == []
    assert result["db_size_after"] <= result["db_size_before"]


def test_a_dry_run_on_an_unmigrated_sqlite_saver_file_says_what_to_do(
    capsys: pytest.CaptureFixture[str], sqlite_saver_db: str
) -> None:
    before = _file_state(sqlite_saver_db)
    code, out, err = run(capsys, "cleanup", sqlite_saver_db, "--older-than", "1d", "--dry-run")
    assert (code, out) == (1, "")
    assert "without --dry-run" in err
    assert err.count("\n") == 1
    assert _file_state(sqlite_saver_db) == before


def test_vacuum_reports_the_sizes(capsys: pytest.CaptureFixture[str], our_db: str) -> None:
    with RustSQLiteCheckpointer(our_db) as saver:
        config: Any = {"configurable": {"thread_id": "big"}}
        from langgraph.checkpoint.base import empty_checkpoint

        for _ in range(20):
            checkpoint = empty_checkpoint()
            checkpoint["channel_values"] = {"blob": "x" * 50_000}
            config = saver.put(config, checkpoint, {}, {})
        saver.delete_thread("big")
    result = run_json(capsys, "vacuum", our_db)
    assert result["db_size_after"] < result["db_size_before"] / 4
    assert result["db_size_after"] == os.path.getsize(our_db) + (
        os.path.getsize(f"{our_db}-wal") if os.path.exists(f"{our_db}-wal") else 0
    )
    assert len(saver_ids(our_db, "alice")) > 0


def test_backup_copies_the_database(
    capsys: pytest.CaptureFixture[str], our_db: str, tmp_path: Path
) -> None:
    target = str(tmp_path / "copy.db")
    result = run_json(capsys, "backup", our_db, target)
    assert result["target"] == target
    assert saver_ids(target, "alice") == saver_ids(our_db, "alice")
    code, _, err = run(capsys, "backup", our_db, target)
    assert code == 1
    assert "already exists" in err
    assert run(capsys, "backup", our_db, target, "--force")[0] == 0


# -- durations ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("45s", timedelta(seconds=45)),
        ("90m", timedelta(minutes=90)),
        ("12h", timedelta(hours=12)),
        ("30d", timedelta(days=30)),
        ("2w", timedelta(weeks=2)),
        ("1.5h", timedelta(minutes=90)),
        ("1d12h", timedelta(hours=36)),
        (" 0s ", timedelta(0)),
        ("7D", timedelta(days=7)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


# -- errors --------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["30", "d", "3x", "-1d", "", "1d 2", "1.d"])
def test_a_bad_duration_is_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str], our_db: str, bad: str
) -> None:
    code, out, err = run(capsys, "cleanup", our_db, f"--older-than={bad}")
    assert (code, out) == (1, "")
    assert err.startswith("fast-langgraph: error: bad duration")
    assert err.count("\n") == 1


def _error_cases(tmp_path: Path, db: str) -> list[tuple[list[str], str]]:
    not_a_db = tmp_path / "notes.txt"
    not_a_db.write_text("hello, this is not SQLite at all" * 100)
    other_db = str(tmp_path / "other.db")
    with sqlite3.connect(other_db) as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    return [
        (["threads", str(tmp_path / "missing.db")], "no such database file"),
        (["stats", str(not_a_db)], "not a SQLite database"),
        (["stats", other_db], "not a checkpoint database"),
        (["cleanup", other_db, "--older-than", "1d"], "not a checkpoint database"),
        (["vacuum", str(tmp_path)], "not a file"),
        (["history", db, "nobody"], "unknown thread 'nobody'"),
        (["show", db, "nobody"], "unknown thread 'nobody'"),
        (["show", db, "alice", "no-such-id"], "unknown checkpoint 'no-such-id'"),
        (["diff", db, "alice", "no-such-id", "x"], "unknown checkpoint"),
    ]


def test_errors_are_one_line_and_a_non_zero_exit(
    capsys: pytest.CaptureFixture[str], our_db: str, tmp_path: Path
) -> None:
    for argv, message in _error_cases(tmp_path, our_db):
        code, out, err = run(capsys, *argv)
        assert code == 1, argv
        assert out == "", argv
        assert message in err, (argv, err)
        assert err.count("\n") == 1 and "Traceback" not in err, (argv, err)
    # ...and the foreign database was left alone (no tables of ours added).
    with sqlite3.connect(tmp_path / "other.db") as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    conn.close()
    assert tables == ["t"]


def test_the_console_script_exits_non_zero_without_a_traceback(
    tmp_path: Path, sqlite_saver_db: str
) -> None:
    def cli(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "fast_langgraph.cli", *argv],
            capture_output=True,
            text=True,
            check=False,
        )

    missing = cli("show", str(tmp_path / "missing.db"), "t")
    assert missing.returncode == 1
    assert (
        missing.stderr
        == f"fast-langgraph: error: no such database file: {tmp_path / 'missing.db'}\n"
    )
    shown = cli("show", sqlite_saver_db, "bob", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["channel_values"]["turns"] == 1
    usage = cli("cleanup", sqlite_saver_db)  # --older-than missing: argparse's usage error
    assert usage.returncode == 2
    assert "Traceback" not in usage.stderr


# -- bench -----------------------------------------------------------------------------


def test_bench_outside_a_checkout_says_where_to_run_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "bench")
    assert (code, out) == (1, "")
    assert "noxfile.py" in err
    assert err.count("\n") == 1


def test_bench_runs_the_nox_bench_session(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "nox-args.txt"
    fake_nox = bin_dir / "nox"
    fake_nox.write_text(f'#!/bin/sh\necho "$@" > {record}\nexit 3\n')
    fake_nox.chmod(0o755)
    (tmp_path / "noxfile.py").write_text("")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    code, out, _ = run(capsys, "bench", "--json")
    assert code == 3
    assert json.loads(out)["returncode"] == 3
    assert record.read_text() == "-s bench\n"
    assert run(capsys, "bench", "--", "--smoke")[0] == 3
    assert record.read_text() == "-s bench -- --smoke\n"


# -- progress ------------------------------------------------------------------------


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_draws_a_bar_on_a_terminal_only() -> None:
    terminal = FakeTerminal()
    with Progress("reading", total=4, stream=terminal, redraw_seconds=0.0) as progress:
        for _ in range(4):
            progress.advance()
    drawn = terminal.getvalue()
    assert "reading [" in drawn
    assert "4/4" in drawn
    assert drawn.endswith("\r\x1b[K")  # the line is cleared at the end

    pipe = io.StringIO()
    with Progress("reading", total=4, stream=pipe) as progress:
        progress.advance(4)
    assert pipe.getvalue() == ""


def test_progress_without_a_total_spins_while_a_long_call_runs() -> None:
    terminal = FakeTerminal()
    with Progress("vacuuming", stream=terminal):
        deadline = time.monotonic() + 5
        while "vacuuming" not in terminal.getvalue():
            assert time.monotonic() < deadline
            time.sleep(0.01)
    assert "s" in terminal.getvalue().split("vacuuming")[1]
