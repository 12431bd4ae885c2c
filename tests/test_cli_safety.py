"""The `fast-langgraph` tool is safe to point at data that matters: cleanup asks
before deleting, --json errors are JSON, a killed backup never blocks the next,
read commands leave no -wal/-shm behind, and read_only=True opens files on
read-only media. Each runs in-process (`main`) and as a subprocess."""

from __future__ import annotations

import io
import json
import os
import pty
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import START, MessagesState, StateGraph

from fast_langgraph import RustSQLiteCheckpointer
from fast_langgraph.cli import BACKUP_PARTIAL_SUFFIX, ERROR_KINDS, main

if sys.platform != "win32":
    import fcntl

CLI = [sys.executable, "-m", "fast_langgraph.cli"]
SIDE_FILES = ("-wal", "-shm", "-journal")


def _reply(state: MessagesState) -> dict[str, Any]:
    return {"messages": [AIMessage(f"echo: {state['messages'][-1].text}")]}


def _chat(saver: Any) -> None:
    builder = StateGraph(MessagesState)
    builder.add_node("reply", _reply)
    builder.add_edge(START, "reply")
    graph = builder.compile(checkpointer=saver)
    for thread_id, texts in {"alice": ["hi", "how are you?"], "bob": ["hello"]}.items():
        for text in texts:
            graph.invoke(
                {"messages": [HumanMessage(text)]}, {"configurable": {"thread_id": thread_id}}
            )


@pytest.fixture
def db(tmp_path: Path) -> str:
    """A database our saver wrote and closed: no -wal, no -shm beside it."""
    path = str(tmp_path / "safety.db")
    with RustSQLiteCheckpointer(path) as saver:
        _chat(saver)
    return path


@pytest.fixture
def sqlite_saver_db(tmp_path: Path) -> str:
    """A database only langgraph's SqliteSaver wrote, closed."""
    path = str(tmp_path / "sqlite_saver.db")
    conn = sqlite3.connect(path, check_same_thread=False)
    _chat(SqliteSaver(conn))
    conn.close()
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def cli(*argv: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(
        [*CLI, *argv], capture_output=True, text=True, check=False, timeout=120, **kwargs
    )


def side_files(path: str) -> list[str]:
    return [suffix for suffix in SIDE_FILES if os.path.lexists(path + suffix)]


def read_closed(path: str) -> sqlite3.Connection:
    """A connection reading a file nobody has open, as it is on disk: immutable,
    so it neither needs nor leaves -wal/-shm files (which would hide whether
    the tool did)."""
    return sqlite3.connect(f"{Path(path).absolute().as_uri()}?mode=ro&immutable=1", uri=True)


def checkpoint_count(path: str) -> int:
    conn = read_closed(path)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM checkpoints").fetchone()[0])
    finally:
        conn.close()


def file_state(path: str) -> tuple[bytes, int]:
    return Path(path).read_bytes(), os.stat(path).st_mtime_ns


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


# -- 1. cleanup asks before deleting ----------------------------------------------------


def test_cleanup_without_a_terminal_or_yes_refuses_and_deletes_nothing(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    before = file_state(db)
    code, out, err = run(capsys, "cleanup", db, "--older-than", "0s")
    assert (code, out) == (1, "")
    assert err.startswith("fast-langgraph: error: cleanup deletes checkpoints and asks first")
    assert "--yes" in err and err.count("\n") == 1
    assert file_state(db) == before

    piped = cli("cleanup", db, "--older-than", "0s")
    assert (piped.returncode, piped.stdout) == (1, "")
    assert "stdin is not a terminal" in piped.stderr and "--yes" in piped.stderr
    assert file_state(db) == before


def test_cleanup_dry_run_needs_no_confirmation(capsys: pytest.CaptureFixture[str], db: str) -> None:
    total = checkpoint_count(db)
    code, out, _ = run(capsys, "cleanup", db, "--older-than", "0s", "--dry-run")
    assert code == 0 and out.startswith(f"would delete {total - 2} checkpoints")
    assert cli("cleanup", db, "--older-than", "0s", "--dry-run").returncode == 0
    assert checkpoint_count(db) == total


@pytest.mark.parametrize("flag", ["--yes", "-y"])
def test_cleanup_with_yes_deletes_without_asking(
    capsys: pytest.CaptureFixture[str], db: str, flag: str
) -> None:
    total = checkpoint_count(db)
    code, out, err = run(capsys, "cleanup", db, "--older-than", "0s", flag)
    assert (code, err) == (0, "")
    assert out.startswith(f"deleted {total - 2} checkpoints")
    assert checkpoint_count(db) == 2


def test_cleanup_on_a_terminal_shows_the_counts_and_deletes_on_yes(
    capsys: pytest.CaptureFixture[str], db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    total = checkpoint_count(db)
    would = json.loads(cli("cleanup", db, "--older-than", "0s", "--dry-run", "--json").stdout)
    monkeypatch.setattr(sys, "stdin", FakeTerminal("y\n"))
    code, out, err = run(capsys, "cleanup", db, "--older-than", "0s")
    assert code == 0
    assert err == (
        f"{db}: cleanup will delete {total - 2} checkpoints and {would['writes']} writes "
        "older than 0s (each thread keeps its latest).\nDelete them? [y/N] "
    )
    assert out == f"deleted {total - 2} checkpoints and {would['writes']} writes\n"
    assert checkpoint_count(db) == 2


@pytest.mark.parametrize("answer", ["n\n", "\n", "", "maybe\n"])
def test_cleanup_on_a_terminal_deletes_nothing_without_a_yes(
    capsys: pytest.CaptureFixture[str], db: str, monkeypatch: pytest.MonkeyPatch, answer: str
) -> None:
    before = file_state(db)
    monkeypatch.setattr(sys, "stdin", FakeTerminal(answer))
    code, out, err = run(capsys, "cleanup", db, "--older-than", "0s", "--no-keep-latest")
    assert (code, out) == (1, "")
    assert "(whole threads included).\nDelete them? [y/N] " in err
    assert err.endswith("fast-langgraph: error: cancelled: nothing was deleted\n")
    assert file_state(db) == before
    assert side_files(db) == []


def test_cleanup_with_nothing_to_delete_asks_nothing(
    capsys: pytest.CaptureFixture[str], db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", FakeTerminal(""))
    code, out, err = run(capsys, "cleanup", db, "--older-than", "30d")
    assert (code, out, err) == (0, "deleted 0 checkpoints and 0 writes\n", "")


def _cleanup_on_a_pty(db: str, typed: bytes, *extra: str) -> subprocess.CompletedProcess[str]:
    """The console script with a pseudo-terminal as stdin, `typed` typed ahead."""
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(
            [*CLI, "cleanup", db, "--older-than", "0s", *extra],
            stdin=terminal,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.close(terminal)
        os.write(controller, typed)
        out, err = process.communicate(timeout=120)
    finally:
        os.close(controller)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_cleanup_on_a_pseudo_terminal_answered_yes_and_no(db: str) -> None:
    total = checkpoint_count(db)
    refused = _cleanup_on_a_pty(db, b"n\n")
    assert refused.returncode == 1, refused.stderr
    assert f"cleanup will delete {total - 2} checkpoints" in refused.stderr
    assert "Delete them? [y/N] " in refused.stderr
    assert refused.stderr.endswith("fast-langgraph: error: cancelled: nothing was deleted\n")
    assert checkpoint_count(db) == total

    accepted = _cleanup_on_a_pty(db, b"y\n", "--json")
    assert accepted.returncode == 0, accepted.stderr
    assert "Delete them? [y/N] " in accepted.stderr
    assert json.loads(accepted.stdout)["checkpoints"] == total - 2
    assert checkpoint_count(db) == 2


# -- 2. --json errors are JSON ----------------------------------------------------------


def _json_error_cases(tmp_path: Path, db: str) -> list[tuple[list[str], str, int]]:
    garbage = tmp_path / "notes.txt"
    garbage.write_text("hello, this is not SQLite at all" * 100)
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(Path(db).read_bytes()[:100] + b"\x07" * 8000)
    foreign = str(tmp_path / "foreign.db")
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    return [
        (["stats", str(tmp_path / "missing.db")], "not_found", 1),
        (["threads", str(tmp_path)], "not_found", 1),
        (["stats", str(garbage)], "not_a_database", 1),
        (["show", str(corrupt), "alice"], "database", 1),
        (["stats", foreign], "not_a_checkpoint_database", 1),
        (["cleanup", foreign, "--older-than", "1d", "--yes"], "not_a_checkpoint_database", 1),
        (["history", db, "nobody"], "unknown_thread", 1),
        (["show", db, "nobody"], "unknown_thread", 1),
        (["show", db, "alice", "no-such-id"], "unknown_checkpoint", 1),
        (["diff", db, "alice", "no-such-id", "x"], "unknown_checkpoint", 1),
        (["cleanup", db, "--older-than", "soon", "--yes"], "bad_argument", 1),
        (["cleanup", db, "--older-than", "0s"], "confirmation_required", 1),
        (["backup", db, db, "--force"], "bad_argument", 1),
        (["backup", db, str(tmp_path / "no" / "copy.db")], "cannot_write", 1),
        (["stats", db, "--top", "many"], "usage", 2),
        (["cleanup", db], "usage", 2),
        (["stats"], "usage", 2),
        (["no-such-command", db], "usage", 2),
    ]


def _assert_one_json_error(code: int, out: str, err: str, kind: str, exit_code: int) -> None:
    assert (code, out) == (exit_code, ""), (kind, err)
    assert err.count("\n") == 1 and err.endswith("\n"), err
    error = json.loads(err)
    assert set(error) == {"error", "kind"}
    assert error["kind"] == kind, error
    assert error["kind"] in ERROR_KINDS
    assert error["error"] and "Traceback" not in error["error"]


def test_every_error_with_json_is_one_json_object_on_stderr(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
) -> None:
    for argv, kind, exit_code in _json_error_cases(tmp_path, db):
        code, out, err = run(capsys, *argv, "--json")
        _assert_one_json_error(code, out, err, kind, exit_code)
        # Without --json: the same failure as text.
        code, out, err = run(capsys, *argv)
        assert (code, out) == (exit_code, ""), argv
        assert not err.startswith("{") and "error: " in err, argv


def test_the_console_script_prints_json_errors_too(db: str, tmp_path: Path) -> None:
    cases = _json_error_cases(tmp_path, db)
    for argv, kind, exit_code in [cases[0], cases[3], cases[6], cases[11], cases[14]]:
        done = cli(*argv, "--json")
        _assert_one_json_error(done.returncode, done.stdout, done.stderr, kind, exit_code)


def test_json_errors_name_the_problem(capsys: pytest.CaptureFixture[str], db: str) -> None:
    code, _, err = run(capsys, "show", db, "nobody", "--json")
    assert json.loads(err) == {"error": "unknown thread 'nobody'", "kind": "unknown_thread"}
    code, _, err = run(capsys, "stats", "--json", db, "--top", "x")
    assert code == 2
    message = json.loads(err)["error"]
    assert message.startswith("fast-langgraph stats: argument --top: invalid int value")
    # Argparse's own text (usage, then the error) without --json, exit 2.
    code, _, err = run(capsys, "stats", db, "--top", "x")
    assert code == 2
    assert err.startswith("usage: fast-langgraph stats")
    assert err.endswith("fast-langgraph stats: error: argument --top: invalid int value: 'x'\n")


def test_json_after_a_double_dash_is_not_the_flag(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    code, out, err = run(capsys, "show", db, "--", "--json")
    assert (code, out) == (1, "")
    assert err == "fast-langgraph: error: unknown thread '--json'\n"


# -- 3. a killed backup never blocks the next ------------------------------------------

# The console script with `backup` slowed down: the saver's own atomic write
# (fast_langgraph._atomic) around SQLite's online backup a page at a time, stopping
# for good once a few pages are in (with the target's transaction open and its
# journal beside it), to be killed there.
STALLED_BACKUP = """
import sys, time
from fast_langgraph import _atomic, cli
from fast_langgraph.saver import RustSQLiteCheckpointer

def stalled_backup(self, target_path):
    import sqlite3
    with _atomic.written_atomically(target_path) as partial:
        target = sqlite3.connect(partial)
        target.execute("PRAGMA cache_size = 1")  # pages spill into the file as they come

        def progress(status, remaining, total):
            if total - remaining >= 4:
                print("stalled", total - remaining, total, flush=True)
                time.sleep(600)

        self.conn.backup(target, pages=1, progress=progress)

RustSQLiteCheckpointer.backup = stalled_backup
sys.exit(cli.main(sys.argv[1:]))
"""


def _big_db(path: str) -> None:
    with RustSQLiteCheckpointer(path) as saver:
        config: Any = {"configurable": {"thread_id": "big"}}
        for n in range(12):
            checkpoint = empty_checkpoint()
            checkpoint["channel_values"] = {"blob": f"{n}" * 20_000}
            config = saver.put(config, checkpoint, {}, {})


def _kill_mid_backup(source: str, target: str, *extra: str) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", STALLED_BACKUP, "backup", source, target, *extra],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("stalled 4 "), process.stderr.read() if process.stderr else ""
        partial = target + BACKUP_PARTIAL_SUFFIX
        assert os.path.getsize(partial) > 0
        assert os.path.exists(partial + "-journal")  # killed inside the copy's transaction
    finally:
        process.kill()  # SIGKILL: nothing of ours runs
        process.communicate(timeout=60)
    assert process.returncode == -9


def _same_checkpoints(a: str, b: str) -> bool:
    def rows(path: str) -> list[Any]:
        conn = read_closed(path)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            return conn.execute("SELECT * FROM checkpoints ORDER BY checkpoint_id").fetchall()
        finally:
            conn.close()

    return rows(a) == rows(b)


def _backups(folder: Path) -> list[str]:
    # The killed run also leaves the source's -wal/-shm (a read-only reader's,
    # which only a later writer removes): not the backup's business.
    return sorted(name for name in os.listdir(folder) if not name.startswith("big.db"))


def test_a_backup_killed_half_way_leaves_no_target_and_a_retry_succeeds(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source, target = str(tmp_path / "big.db"), str(tmp_path / "copy.db")
    _big_db(source)
    _kill_mid_backup(source, target)
    assert not os.path.lexists(target)  # nothing half-written under the name

    # In-process retry: no --force needed, the leftover is reused.
    code, out, err = run(capsys, "backup", source, target)
    assert (code, err) == (0, ""), err
    assert out.startswith(f"backed up {source} to {target}")
    assert _same_checkpoints(source, target)
    assert _backups(tmp_path) == ["copy.db"]

    # And once more, retried by the console script.
    os.remove(target)
    _kill_mid_backup(source, target)
    done = cli("backup", source, target, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["target"] == target
    assert _same_checkpoints(source, target)
    assert _backups(tmp_path) == ["copy.db"]


def test_a_killed_forced_backup_keeps_the_previous_backup_whole(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source, target = str(tmp_path / "big.db"), str(tmp_path / "copy.db")
    _big_db(source)
    assert run(capsys, "backup", source, target)[0] == 0
    previous = Path(target).read_bytes()
    with RustSQLiteCheckpointer(source) as saver:
        saver.delete_thread("big")
        saver.vacuum()
    _kill_mid_backup(source, target, "--force")
    assert Path(target).read_bytes() == previous
    assert run(capsys, "backup", source, target, "--force")[0] == 0
    assert checkpoint_count(target) == 0
    assert _backups(tmp_path) == ["copy.db"]


@pytest.mark.skipif(sys.platform == "win32", reason="no flock on Windows")
def test_a_second_backup_to_a_target_being_written_is_refused(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
) -> None:
    target = str(tmp_path / "copy.db")
    partial = target + BACKUP_PARTIAL_SUFFIX
    fd = os.open(partial, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running backup holds it
        os.write(fd, b"in progress")
        code, out, err = run(capsys, "backup", db, target, "--json")
        _assert_one_json_error(code, out, err, "busy", 1)
        assert json.loads(err)["error"] == (
            f"another backup is writing {target} (into {partial}); wait for it to finish"
        )
        assert not os.path.lexists(target)
        assert Path(partial).read_bytes() == b"in progress"  # theirs: left alone
    finally:
        os.close(fd)
    assert run(capsys, "backup", db, target)[0] == 0
    assert not os.path.lexists(partial)


def test_a_backup_through_a_symlink_replaces_what_it_points_to(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
) -> None:
    real = tmp_path / "backups" / "real.db"
    real.parent.mkdir()
    real.write_bytes(b"old")
    link = tmp_path / "latest.db"
    link.symlink_to(real)
    assert run(capsys, "backup", db, str(link), "--force")[0] == 0
    assert link.is_symlink()
    assert _same_checkpoints(db, str(real))


# -- 4. read commands leave no -wal/-shm behind ----------------------------------------


def _read_commands(path: str, elsewhere: Path) -> list[list[str]]:
    conn = read_closed(path)
    ids = [
        r[0]
        for r in conn.execute(
            "SELECT checkpoint_id FROM checkpoints WHERE thread_id = 'alice' "
            "ORDER BY checkpoint_id DESC"
        )
    ]
    conn.close()
    return [
        ["threads", path],
        ["history", path, "alice"],
        ["show", path, "alice"],
        ["show", path, "alice", ids[-1], "--all"],
        ["diff", path, "alice", ids[1], ids[0]],
        ["stats", path],
        ["cleanup", path, "--older-than", "0s", "--dry-run"],
        ["backup", path, str(elsewhere / "backup.db"), "--force"],
    ]


@pytest.mark.parametrize("made_by", ["db", "sqlite_saver_db"])
def test_read_commands_leave_a_closed_database_exactly_as_it_was(
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    made_by: str,
) -> None:
    path = request.getfixturevalue(made_by)
    elsewhere = tmp_path_factory.mktemp("backups")
    assert side_files(path) == []
    siblings = sorted(os.listdir(Path(path).parent))
    before = file_state(path)
    for argv in _read_commands(path, elsewhere):
        for as_json in ((), ("--json",)):
            code, _, err = run(capsys, *argv, *as_json)
            assert code == 0, (argv, err)
            assert side_files(path) == [], argv
            assert file_state(path) == before, argv
    for argv in _read_commands(path, elsewhere)[::3]:
        done = cli(*argv)
        assert done.returncode == 0, (argv, done.stderr)
        assert side_files(path) == [], argv
    assert file_state(path) == before
    assert sorted(os.listdir(Path(path).parent)) == siblings
    # A failing read (unknown thread) leaves nothing either.
    assert run(capsys, "show", path, "nobody")[0] == 1
    assert side_files(path) == []


def test_read_commands_leave_a_live_writers_files_alone(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
) -> None:
    with RustSQLiteCheckpointer(db) as writer:  # open: the -wal and -shm are its
        config = writer.put(
            {"configurable": {"thread_id": "live"}}, empty_checkpoint(), {"step": 1}, {}
        )
        wal = Path(db + "-wal")
        assert wal.stat().st_size > 0
        for argv in _read_commands(db, tmp_path):
            assert run(capsys, *argv)[0] == 0, argv
            assert side_files(db) == ["-wal", "-shm"]
        assert run(capsys, "show", db, "live")[0] == 0  # its uncheckpointed commit is read
        assert writer.get_tuple(config) is not None
    assert side_files(db) == []  # ...and the writer removed them when it closed


# -- 5. read_only=True on read-only media ----------------------------------------------


@contextmanager
def read_only_folder(folder: Path) -> Iterator[None]:
    """Make `folder` and the files in it unwritable, as on read-only media: as
    root (who ignores modes) with `chattr +i` on each, otherwise with modes."""
    paths = [*sorted(folder.iterdir()), folder]
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in paths}
        for p in paths:
            p.chmod(0o555 if p.is_dir() else 0o444)
        try:
            yield
        finally:
            for p, mode in modes.items():
                p.chmod(mode)
        return
    made = subprocess.run(["chattr", "+i", *map(str, paths)], capture_output=True, check=False)
    if made.returncode != 0:
        subprocess.run(["chattr", "-i", *map(str, paths)], capture_output=True, check=False)
        pytest.skip(f"chattr +i does not work here: {made.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", *map(str, paths)], check=True, capture_output=True)


@pytest.fixture
def media(tmp_path: Path) -> Path:
    folder = tmp_path / "media"
    folder.mkdir()
    return folder


@pytest.mark.parametrize("made_by", ["db", "sqlite_saver_db"])
def test_read_only_opens_a_wal_database_on_read_only_media(
    request: pytest.FixtureRequest, media: Path, made_by: str
) -> None:
    path = str(media / "copied.db")
    shutil.copyfile(request.getfixturevalue(made_by), path)
    with read_only_folder(media):
        # SQLite alone cannot: it needs a -shm file it may not create.
        conn = sqlite3.connect(f"{Path(path).as_uri()}?mode=ro", uri=True)
        with pytest.raises(sqlite3.OperationalError, match="unable to open database file"):
            conn.execute("SELECT COUNT(*) FROM checkpoints").fetchone()
        conn.close()
        with RustSQLiteCheckpointer(path, read_only=True) as saver:
            latest = saver.get_tuple({"configurable": {"thread_id": "alice"}})
            assert latest is not None
            texts = [m.text for m in latest.checkpoint["channel_values"]["messages"]]
            assert texts[-1] == "echo: how are you?"
            assert len(list(saver.list(None))) == checkpoint_count(path)
            assert saver.stats()["threads"] == 2
            assert saver.conn.execute("SELECT COUNT(*) FROM writes").fetchone()[0] > 0
            with pytest.raises(sqlite3.OperationalError, match="readonly"):
                saver.delete_thread("alice")
        assert sorted(os.listdir(media)) == ["copied.db"]


def test_the_cli_reads_a_database_on_read_only_media(
    capsys: pytest.CaptureFixture[str], db: str, media: Path, tmp_path: Path
) -> None:
    path = str(media / "copied.db")
    shutil.copyfile(db, path)
    with read_only_folder(media):
        for argv in _read_commands(path, tmp_path):
            code, _, err = run(capsys, *argv)
            assert code == 0, (argv, err)
        shown = cli("show", path, "bob", "--json")
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout and json.loads(shown.stdout)["thread_id"] == "bob"
        # Writing commands fail, saying why.
        code, _, err = run(capsys, "vacuum", path, "--json")
        assert code == 1 and json.loads(err)["kind"] in ("database", "cannot_open")
        assert sorted(os.listdir(media)) == ["copied.db"]
    assert _same_checkpoints(db, str(tmp_path / "backup.db"))


def _copy_with_live_wal(source: str, media: Path, suffixes: tuple[str, ...]) -> str:
    """A copy of `source` taken while a writer has commits only in its -wal (as a
    file copied from a running application): the main file and `suffixes`."""
    target = str(media / "live.db")
    with RustSQLiteCheckpointer(source) as writer:
        writer.put({"configurable": {"thread_id": "in-wal"}}, empty_checkpoint(), {}, {})
        assert os.path.getsize(source + "-wal") > 0
        for suffix in ("", *suffixes):
            shutil.copyfile(source + suffix, target + suffix)
    return target


def test_a_wal_with_commits_on_read_only_media_is_an_error_that_says_what_to_do(
    capsys: pytest.CaptureFixture[str], db: str, media: Path
) -> None:
    path = _copy_with_live_wal(db, media, ("-wal",))
    with read_only_folder(media):
        with pytest.raises(sqlite3.OperationalError) as raised:
            RustSQLiteCheckpointer(path, read_only=True)
        message = str(raised.value)
        assert message.startswith(f"cannot open {path!r} read-only: it is a WAL database")
        assert f"{path + '-wal'!r} holds commits not yet in the main file" in message
        assert "checkpoint it where it is writable" in message
        assert "copy the file with its -wal to a writable folder" in message
        code, out, err = run(capsys, "stats", path, "--json")
        _assert_one_json_error(code, out, err, "cannot_open", 1)
        assert json.loads(err)["error"] == message
        assert sorted(os.listdir(media)) == ["live.db", "live.db-wal"]
    # Copied to writable media, it opens, commits included.
    with RustSQLiteCheckpointer(path, read_only=True) as saver:
        assert saver.get_tuple({"configurable": {"thread_id": "in-wal"}}) is not None


def test_an_empty_wal_on_read_only_media_is_no_obstacle(db: str, media: Path) -> None:
    path = str(media / "copied.db")
    shutil.copyfile(db, path)
    Path(path + "-wal").touch()
    with read_only_folder(media), RustSQLiteCheckpointer(path, read_only=True) as saver:
        assert saver.stats()["threads"] == 2


def test_a_wal_with_its_shm_on_read_only_media_is_read_commits_included(
    db: str, media: Path
) -> None:
    path = _copy_with_live_wal(db, media, ("-wal", "-shm"))
    with read_only_folder(media), RustSQLiteCheckpointer(path, read_only=True) as saver:
        assert saver.get_tuple({"configurable": {"thread_id": "in-wal"}}) is not None
        assert saver.stats()["threads"] == 3
