"""The `fast-langgraph` console script, on files made by langgraph's own SqliteSaver
running a real graph, and on ours."""

from __future__ import annotations

import io
import json
import operator
import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.channels.delta import DeltaChannel
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

import fast_langgraph
from conftest import read_only_file
from fast_langgraph import RustSQLiteCheckpointer, cli
from fast_langgraph.cli import Progress, StopOnInterrupt, diff_values, main, parse_duration

REPO_ROOT = Path(__file__).resolve().parent.parent

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
    assert (
        run_json(capsys, "cleanup", sqlite_saver_db, "--older-than", "1d", "-y")["checkpoints"] == 0
    )
    result = run_json(capsys, "cleanup", sqlite_saver_db, "--older-than", "0s", "--yes")
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
        capsys, "cleanup", our_db, "--older-than", "0s", "--no-keep-latest", "--vacuum", "--yes"
    )
    assert result["checkpoints"] == 2 * 3 + 3  # alice: 2 turns, bob: 1; 3 checkpoints a turn
    assert saver_ids(our_db, "alice") == saver_ids(our_db, "bob") == []
    assert result["db_size_after"] <= result["db_size_before"]


def test_a_dry_run_on_a_sqlite_saver_file_dates_checkpoints_by_their_ids_in_memory(
    capsys: pytest.CaptureFixture[str], sqlite_saver_db: str
) -> None:
    # The file has no created_at column, and a dry run may not add one.
    before = _file_state(sqlite_saver_db)
    assert run_json(capsys, "cleanup", sqlite_saver_db, "--older-than", "1d", "--dry-run") == {
        "checkpoints": 0,
        "writes": 0,
        "dry_run": True,
        "interrupted": False,
        "db_size_before": os.path.getsize(sqlite_saver_db),
        "db_size_after": os.path.getsize(sqlite_saver_db),
    }
    would = run_json(capsys, "cleanup", sqlite_saver_db, "--older-than", "0s", "--dry-run")
    would_all = run_json(
        capsys, "cleanup", sqlite_saver_db, "--older-than", "0s", "--dry-run", "--no-keep-latest"
    )
    assert _file_state(sqlite_saver_db) == before
    total = sum(len(saver_ids(sqlite_saver_db, t)) for t in CONVERSATIONS)
    assert would["checkpoints"] == total - 2
    assert would_all["checkpoints"] == total
    # ...and the real cleanup (which migrates the file first) agrees.
    done = run_json(capsys, "cleanup", sqlite_saver_db, "--older-than", "0s", "--yes")
    assert (done["checkpoints"], done["writes"]) == (would["checkpoints"], would["writes"])


@pytest.mark.usefixtures("default_layout")
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


def test_a_backup_that_cannot_be_written_names_the_target_and_why(
    capsys: pytest.CaptureFixture[str], our_db: str, tmp_path: Path
) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    a_folder = tmp_path / "folder"
    a_folder.mkdir()
    cases = [
        ([str(tmp_path / "missing" / "copy.db")], "No such file or directory"),
        ([str(a_file / "copy.db")], "Not a directory"),
        ([str(a_folder), "--force"], "Is a directory"),
    ]
    assert run(capsys, "stats", our_db)[0] == 0  # any reader of a WAL file adds -wal, -shm
    before = sorted(os.listdir(tmp_path))
    for argv, cause in cases:
        code, out, err = run(capsys, "backup", our_db, *argv)
        assert (code, out) == (1, ""), argv
        assert err == f"fast-langgraph: error: cannot write the backup {argv[0]}: {cause}\n"
        assert our_db not in err  # the source is fine: not blamed
    assert sorted(os.listdir(tmp_path)) == before  # nothing left behind


def test_a_backup_onto_the_database_itself_is_refused(
    capsys: pytest.CaptureFixture[str], our_db: str
) -> None:
    before = _file_state(our_db)
    code, _, err = run(capsys, "backup", our_db, our_db, "--force")
    assert code == 1
    assert "the database itself" in err
    assert _file_state(our_db) == before


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
        (["cleanup", other_db, "--older-than", "1d", "--yes"], "not a checkpoint database"),
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


def _docs_state() -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in (REPO_ROOT / "docs").rglob("*")}


def test_bench_is_self_contained_and_writes_nothing_outside_a_temporary_folder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))  # no nox, no make, nothing to run
    monkeypatch.chdir(tmp_path)
    docs = _docs_state()

    result = run_json(capsys, "bench", "--iterations", "3", "--state-kb", "4")

    assert os.listdir(tmp_path) == ["bin"]
    assert _docs_state() == docs
    assert [r["operation"] for r in result["results"]] == ["put", "get_tuple", "list(limit=10)"]
    for row in result["results"]:
        assert row["fast_langgraph_ms"] > 0 and row["sqlite_saver_ms"] > 0
        assert row["speedup"] == pytest.approx(
            row["sqlite_saver_ms"] / row["fast_langgraph_ms"], rel=0.01
        )
    ours = result["fast_langgraph"]
    assert ours["impl"] == fast_langgraph.__impl__
    assert ours["engine_compiled"] == fast_langgraph.ENGINE_COMPILED
    assert (ours["durability"], ours["synchronous"], ours["journal_mode"]) == (
        "normal",
        "NORMAL",
        "wal",
    )
    assert result["sqlite_saver"]["synchronous"] == "FULL"
    assert result["equal_durability"] is False
    assert result["state_bytes"] >= 4 * 1024


def test_bench_states_durability_and_impl_and_points_to_make_bench(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(
        capsys, "bench", "--iterations", "2", "--state-kb", "2", "--durability", "full"
    )
    assert (code, err) == (0, "")
    assert f"codec {fast_langgraph.__impl__} (fast_langgraph.__impl__)" in out
    assert "durability='full' (WAL, synchronous=FULL)" in out
    assert "synchronous=FULL (its default)" in out
    assert "not equal durability" not in out
    assert "SPEEDUP" in out
    assert "`make bench`" in out
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    assert "make bench" in capsys.readouterr().out


def test_bench_without_sqlite_saver_measures_ours_alone(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "langgraph.checkpoint.sqlite", None)
    result = run_json(capsys, "bench", "--iterations", "2", "--state-kb", "2")
    assert result["sqlite_saver"]["available"] is False
    assert "cannot import" in result["sqlite_saver"]["reason"]
    assert all("sqlite_saver_ms" not in row for row in result["results"])
    code, out, _ = run(capsys, "bench", "--iterations", "2", "--state-kb", "2")
    assert code == 0
    assert "SqliteSaver not measured" in out


# -- progress ------------------------------------------------------------------------


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_draws_on_a_terminal_only(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = FakeTerminal()
    with Progress("reading", total=4, stream=terminal) as progress:
        for _ in range(4):
            progress.advance()
    drawn = terminal.getvalue()
    assert "reading" in drawn
    assert "4/4" in drawn

    monkeypatch.setenv("FORCE_COLOR", "1")  # rich would draw into a pipe with it
    pipe = io.StringIO()
    with Progress("reading", total=4, stream=pipe) as progress:
        progress.advance(4)
    with Progress("vacuuming", stream=pipe):
        pass
    assert pipe.getvalue() == ""


def test_the_progress_library_is_a_declared_dependency() -> None:
    # nox installs our packages with --no-deps: the suite's requirements must carry it too.
    pyproject = (REPO_ROOT / "packages/fast-langgraph/pyproject.toml").read_text()
    dependencies = pyproject.split("dependencies = [", 1)[1].split("]", 1)[0]
    assert re.search(r'^\s*"rich[<>=~]', dependencies, re.MULTILINE)
    pinned = (REPO_ROOT / "tests/requirements.txt").read_text().splitlines()
    assert any(re.fullmatch(r"rich==[\d.]+", line) for line in pinned)


def test_commands_draw_no_progress_into_a_pipe(our_db: str) -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "fast_langgraph.cli", "cleanup", our_db, "--older-than", "0s", "-y"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stderr == ""


# -- times ---------------------------------------------------------------------------


def _aware(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    assert moment.utcoffset() == timedelta(0), text
    return moment


@pytest.mark.parametrize("made_by", ["sqlite_saver_db", "our_db"])
def test_every_time_printed_carries_its_time_zone(
    capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest, made_by: str
) -> None:
    db = request.getfixturevalue(made_by)
    now = datetime.now(timezone.utc)
    # --json: ISO 8601 with an offset, also for a SqliteSaver file (dated from the ids).
    for thread in run_json(capsys, "threads", db):
        assert now - timedelta(minutes=5) < _aware(thread["latest_created_at"]) <= now
    for thread in run_json(capsys, "stats", db)["largest_threads"]:
        _aware(thread["latest_created_at"])
    history = run_json(capsys, "history", db, "alice")
    for entry in history:
        _aware(entry["ts"])
    _aware(run_json(capsys, "show", db, "alice")["ts"])
    # Text: every time in UTC, said so.
    utc_time = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC"
    _, threads, _ = run(capsys, "threads", db)
    assert all(re.search(utc_time, line) for line in threads.splitlines()[1:])
    _, history_text, _ = run(capsys, "history", db, "alice")
    assert len(re.findall(utc_time, history_text)) == len(history)
    _, shown, _ = run(capsys, "show", db, "alice")
    assert re.search(rf"^time        {utc_time}$", shown, re.MULTILINE)
    _, stats, _ = run(capsys, "stats", db)
    assert len(re.findall(utc_time, stats)) == len(CONVERSATIONS)


# -- namespaces ---------------------------------------------------------------------


def test_show_and_diff_say_which_ns_holds_a_checkpoint_id(
    capsys: pytest.CaptureFixture[str], our_db: str
) -> None:
    ns = "research:1f0e2c44-8c5c-6d5e-8000-3a9b2a7c1d11"
    with RustSQLiteCheckpointer(our_db) as saver:
        checkpoint = empty_checkpoint()
        config = saver.put(
            {"configurable": {"thread_id": "alice", "checkpoint_ns": ns}}, checkpoint, {}, {}
        )
    sub_id = config["configurable"]["checkpoint_id"]
    for argv in (
        ["show", our_db, "alice", sub_id],
        ["diff", our_db, "alice", sub_id, saver_ids(our_db, "alice")[0]],
    ):
        code, out, err = run(capsys, *argv)
        assert (code, out) == (1, ""), argv
        assert f"is in namespace {ns!r}, not ''" in err
        assert err.rstrip().endswith(f"pass --ns {ns}")
        assert err.count("\n") == 1
    # ...and with it, it works.
    assert run_json(capsys, "show", our_db, "alice", sub_id, "--ns", ns)["checkpoint_ns"] == ns
    code, _, err = run(capsys, "show", our_db, "alice", "--ns", "nowhere")
    assert code == 1
    assert "no checkpoint in namespace 'nowhere'" in err


# -- cleanup in batches, and Ctrl-C -----------------------------------------------


def _counts(path: str) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        found = dict(conn.execute("SELECT thread_id, COUNT(*) FROM checkpoints GROUP BY 1"))
        orphans = conn.execute(
            "SELECT COUNT(*) FROM writes w WHERE NOT EXISTS (SELECT 1 FROM checkpoints c "
            "WHERE c.thread_id = w.thread_id AND c.checkpoint_ns = w.checkpoint_ns "
            "AND c.checkpoint_id = w.checkpoint_id)"
        ).fetchone()[0]
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    assert orphans == 0
    return found


def _history_writes(path: str, thread_id: str) -> int:
    """Writes of every checkpoint of the thread but its latest."""
    with sqlite3.connect(path) as conn:
        found = conn.execute(
            "SELECT COUNT(*) FROM writes WHERE thread_id = ? AND checkpoint_id < "
            "(SELECT MAX(checkpoint_id) FROM checkpoints WHERE thread_id = ?)",
            (thread_id, thread_id),
        ).fetchone()[0]
    conn.close()
    return int(found)


def _interrupt_at_first_batch(monkeypatch: pytest.MonkeyPatch, presses: int = 1) -> None:
    """Ctrl-C (a real SIGINT) as the first batch is reported."""
    update = cli.Progress.update
    pressed: list[int] = []

    def update_then_press(self: Progress, completed: int, total: int | None = None) -> None:
        update(self, completed, total)
        if not pressed:
            pressed.append(1)
            for _ in range(presses):
                signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(cli.Progress, "update", update_then_press)


def test_ctrl_c_during_cleanup_reports_what_was_deleted_and_exits_130(
    capsys: pytest.CaptureFixture[str], our_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _counts(our_db)
    assert before == {"alice": 6, "bob": 3}
    writes = _history_writes(our_db, "alice")
    _interrupt_at_first_batch(monkeypatch)
    handler = signal.getsignal(signal.SIGINT)

    code, out, err = run(
        capsys, "cleanup", our_db, "--older-than", "0s", "--batch-size", "1", "--yes"
    )

    assert (code, out) == (130, "")
    # One batch (alice's history, a thread at a time) went, and the report says so.
    assert _counts(our_db) == {"alice": 1, "bob": 3}
    assert err.splitlines()[-1] == (
        f"fast-langgraph: interrupted: deleted 5 checkpoints and {writes} writes before stopping; "
        "the file is consistent, run the command again to finish"
    )
    assert signal.getsignal(signal.SIGINT) is handler  # restored
    # Running it again finishes the job.
    assert run_json(capsys, "cleanup", our_db, "--older-than", "0s", "--yes")["checkpoints"] == 2
    assert _counts(our_db) == {"alice": 1, "bob": 1}


def test_ctrl_c_during_cleanup_with_json_prints_the_partial_counts(
    capsys: pytest.CaptureFixture[str], our_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = _history_writes(our_db, "alice")
    _interrupt_at_first_batch(monkeypatch)
    code, out, err = run(
        capsys,
        "cleanup",
        our_db,
        "--older-than",
        "0s",
        "--batch-size",
        "1",
        "--json",
        "--vacuum",
        "--yes",
    )
    assert code == 130
    data = json.loads(out)
    assert (data["checkpoints"], data["writes"], data["interrupted"]) == (5, writes, True)
    assert "interrupted: deleted 5 checkpoints" in err
    assert _counts(our_db) == {"alice": 1, "bob": 3}


def test_a_second_ctrl_c_stops_at_once_and_the_batch_in_flight_is_rolled_back() -> None:
    with StopOnInterrupt(stream=io.StringIO()) as stop:
        signal.raise_signal(signal.SIGINT)
        assert stop.requested
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_interrupted_batch_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    path = str(tmp_path / "batches.db")
    with RustSQLiteCheckpointer(path) as saver:
        for thread_id in ("a", "b", "c"):
            config: Any = {"configurable": {"thread_id": thread_id}}
            for _ in range(4):
                config = saver.put(config, empty_checkpoint(), {}, {})
                saver.put_writes(config, [("x", 1)], "task")
        with sqlite3.connect(path) as conn:  # all old, however fast the puts were
            conn.execute("UPDATE checkpoints SET created_at = '2000-01-01 00:00:00.000'")
        conn.close()
        seen: list[tuple[dict[str, int], int, int]] = []

        def stop_after_two(counts: Any, examined: int, expired: int) -> None:
            seen.append((dict(counts), examined, expired))
            if len(seen) == 2:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            saver.cleanup(timedelta(0), batch_size=1, progress=stop_after_two)
    assert seen == [
        ({"checkpoints": 3, "writes": 3}, 3, 9),
        ({"checkpoints": 6, "writes": 6}, 6, 9),
    ]
    assert _counts(path) == {"a": 1, "b": 1, "c": 4}


class DeltaLog(TypedDict):
    log: Annotated[list[str], DeltaChannel(operator.add, snapshot_frequency=100)]


def test_cleanup_in_batches_keeps_the_delta_ancestry_of_every_thread(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = str(tmp_path / "delta.db")

    def speak(state: DeltaLog) -> dict[str, Any]:
        return {"log": [f"reply {len(state['log'])}"]}

    builder: Any = StateGraph(DeltaLog)
    builder.add_node("speak", speak)
    builder.add_edge(START, "speak")
    expected = {}
    with RustSQLiteCheckpointer(path) as saver:
        graph = builder.compile(checkpointer=saver)
        for thread_id in ("d1", "d2", "d3"):
            config: Any = {"configurable": {"thread_id": thread_id}}
            for n in range(3):
                graph.invoke({"log": [f"user {n}"]}, config)
            expected[thread_id] = graph.get_state(config).values
    assert run(capsys, "cleanup", path, "--older-than", "0s", "--batch-size", "1", "-y")[0] == 0
    with RustSQLiteCheckpointer(path) as saver:
        graph = builder.compile(checkpointer=saver)
        for thread_id, values in expected.items():
            assert graph.get_state({"configurable": {"thread_id": thread_id}}).values == values
