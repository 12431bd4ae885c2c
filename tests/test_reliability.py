"""The reliability suite, small: a few SIGKILLs per scenario, seconds of concurrency,
one full disk. The scenarios live in tests/reliability/ (docs/reliability.md says what
each checks); `python -m tests.reliability.soak` runs them for minutes.

Every child process runs with this interpreter and environment, so the suite tests
the codec and engine the nox session installed. Each failure message starts with the
seed: RELIABILITY_SEED=<seed> makes the same random choices (kill delays, threads,
durability) again; where a kill lands still depends on the machine's timing.
"""

from __future__ import annotations

import os
import random
import sqlite3
import sys
from pathlib import Path

import pytest
from reliability import scenarios
from reliability.harness import Outcome, verify
from reliability.payload import Acks

from fast_langgraph import RustSQLiteCheckpointer

SEED = int(os.environ.get("RELIABILITY_SEED", random.SystemRandom().randrange(2**32)))
# The scenarios drive child processes with SIGKILL and select() on their pipes.
processes = pytest.mark.skipif(
    sys.platform == "win32", reason="SIGKILL and select() on pipes are POSIX only"
)


@pytest.fixture
def rng() -> random.Random:
    return random.Random(SEED)


def held(outcome: Outcome) -> str:
    """The assertion message: the figures and the first problems."""
    return f"seed {SEED}: {outcome}"


def assert_held(outcome: Outcome, *, kills: int = 0) -> None:
    assert outcome.problems == [], held(outcome)
    assert outcome.kills >= kills, held(outcome)  # a round may kill two writers
    assert outcome.acknowledged > 0 or kills == 0, held(outcome)
    assert outcome.found == outcome.acknowledged, held(outcome)


# -- the checks themselves can fail ---------------------------------------------------


@pytest.fixture
def filled(tmp_path: Path) -> tuple[Path, Acks]:
    db = tmp_path / "filled.db"
    return db, scenarios.fill_ours(db, threads=2, steps=4)


def test_verify_passes_a_whole_file(filled: tuple[Path, Acks]) -> None:
    db, acks = filled
    found, problems = verify(db, acks)
    assert problems == []
    assert len(found) == acks.count == 8


def test_verify_reports_a_lost_checkpoint(filled: tuple[Path, Acks]) -> None:
    db, acks = filled
    with RustSQLiteCheckpointer(str(db)) as saver:
        saver.conn.execute(
            "DELETE FROM checkpoints WHERE rowid = (SELECT max(rowid) FROM checkpoints)"
        )
    found, problems = verify(db, acks)
    assert len(found) == acks.count - 1
    assert any("is lost" in p for p in problems)


def test_verify_reports_half_the_writes_of_a_checkpoint(filled: tuple[Path, Acks]) -> None:
    db, acks = filled
    with RustSQLiteCheckpointer(str(db)) as saver:
        saver.conn.execute("DELETE FROM writes WHERE rowid = (SELECT min(rowid) FROM writes)")
    _found, problems = verify(db, acks)
    assert any("pending writes" in p for p in problems)


def test_verify_reports_changed_values(filled: tuple[Path, Acks]) -> None:
    db, acks = filled
    # Another checkpoint's blob under this one's id: decodes fine, is not what was put.
    with RustSQLiteCheckpointer(str(db)) as saver:
        saver.conn.execute(
            "UPDATE checkpoints SET checkpoint = (SELECT checkpoint FROM checkpoints "
            "ORDER BY rowid LIMIT 1) WHERE rowid = (SELECT max(rowid) FROM checkpoints)"
        )
    _found, problems = verify(db, acks)
    assert any("channel values" in p for p in problems)


def test_verify_reports_a_corrupt_file(filled: tuple[Path, Acks]) -> None:
    db, acks = filled
    RustSQLiteCheckpointer(str(db)).close()  # everything in the main file
    conn = sqlite3.connect(db)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    (root,) = conn.execute(
        "SELECT rootpage FROM sqlite_master WHERE name = 'checkpoints'"
    ).fetchone()
    conn.close()
    data = bytearray(db.read_bytes())
    start = (root - 1) * page_size
    data[start : start + page_size] = bytes(page_size)  # the table's root page, zeroed
    db.write_bytes(bytes(data))
    try:
        _found, problems = verify(db, acks)
    except sqlite3.DatabaseError as exc:  # too broken for integrity_check itself
        problems = [str(exc)]
    assert any("integrity_check" in p or "malformed" in p for p in problems), problems


# -- the scenarios ------------------------------------------------------------------


@processes
def test_kill_during_puts(tmp_path: Path, rng: random.Random) -> None:
    assert_held(scenarios.kill_during_puts(tmp_path, rng, kills=3, max_delay=0.25), kills=3)


@processes
def test_kill_during_first_open_migration(tmp_path: Path, rng: random.Random) -> None:
    outcome = scenarios.kill_during_migration(tmp_path, rng, kills=3, threads=8, steps=20)
    assert_held(outcome, kills=3)


# The soak runs every operation both ways; here each operation once, the CLI
# where it is the way operators run it.
@pytest.mark.parametrize(
    ("op", "via"),
    [
        ("cleanup", "cli"),
        ("prune", "saver"),
        ("vacuum", "saver"),
        ("backup", "saver"),
        ("backup", "cli"),
    ],
)
@processes
def test_kill_during_maintenance(tmp_path: Path, rng: random.Random, op: str, via: str) -> None:
    outcome = scenarios.kill_during_maintenance(
        tmp_path, rng, op=op, via=via, kills=2, threads=16, steps=6
    )
    assert outcome.problems == [], held(outcome)
    assert outcome.kills == 2, held(outcome)
    assert outcome.found == outcome.acknowledged, held(outcome)


@processes
def test_processes_and_threads_mixed_with_sqlitesaver(tmp_path: Path, rng: random.Random) -> None:
    """Two processes of ours and one of SqliteSaver's, two threads each, and a
    reader of each kind. (The soak runs 4 x 4 alone, then mixed.)"""
    outcome = scenarios.concurrent_writers(
        tmp_path, rng, processes=3, threads=2, seconds=2, sqlitesaver_processes=1
    )
    assert_held(outcome)
    assert outcome.acknowledged > 0 and outcome.reads > 0, held(outcome)
    assert outcome.lock_errors == 0, held(outcome)  # the busy timeout waits them out


@pytest.fixture(scope="module")
def disk_full(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    if not sys.platform.startswith("linux"):
        pytest.skip("the disk-full scenario mounts a tmpfs in a Linux mount namespace")
    _namespace, why = scenarios.mount_namespace()
    if why and os.environ.get("FAST_LANGGRAPH_SKIP_DISK_FULL") == "1":
        pytest.skip(f"FAST_LANGGRAPH_SKIP_DISK_FULL=1, and {why}")
    return scenarios.disk_full(tmp_path_factory.mktemp("diskfull"), random.Random(SEED))


def test_disk_full(disk_full: Outcome) -> None:
    """ENOSPC on a 2 MB tmpfs in a private mount namespace. Where none can be
    had (no root, no CAP_SYS_ADMIN, no unprivileged user namespaces) this fails
    and says why; FAST_LANGGRAPH_SKIP_DISK_FULL=1 skips it there instead."""
    assert disk_full.problems == [], held(disk_full)
    assert disk_full.enospc >= 1, held(disk_full)
    assert disk_full.acknowledged > 0 and disk_full.found == disk_full.acknowledged


def test_disk_full_error_names_the_file(disk_full: Outcome) -> None:
    assert disk_full.states.get(scenarios.UNNAMED, 0) == 0, held(disk_full)
    assert disk_full.states.get(scenarios.NAMED, 0) >= 1, held(disk_full)


@processes
def test_soak_runs_and_prints_its_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The long run's driver, at the smallest scale: its table and exit code."""
    from reliability import soak

    argv = ["--puts-kills", "1", "--migration-kills", "0", "--maintenance-kills", "0"]
    argv += ["--concurrency-seconds", "0", "--disk-full-rounds", "0", "--fuzz-seconds", "1"]
    argv += ["--seed", str(SEED)]
    argv += ["--workdir", str(tmp_path)]
    code = soak.main(argv)
    out = capsys.readouterr().out
    assert "| kill -9 during puts" in out and "| total" in out, out
    assert code == 0, out
