"""Child processes, SIGKILL, and the checks every scenario makes afterwards."""

from __future__ import annotations

import os
import select
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langgraph.checkpoint.sqlite import SqliteSaver

from fast_langgraph import RustSQLiteCheckpointer
from fast_langgraph_pure import compact, storage

from .payload import Acks, verify_threads

CHILD = Path(__file__).with_name("_child.py")
START_TIMEOUT = 60.0  # imports on a loaded 2-core machine


def child_env() -> dict[str, str]:
    """This process's environment (FAST_LANGGRAPH_IMPL included), with relative
    PYTHONPATH entries made absolute: the children run in other folders."""
    env = dict(os.environ)
    entries = [e for e in env.get("PYTHONPATH", "").split(os.pathsep) if e]
    env["PYTHONPATH"] = os.pathsep.join(str(Path(e).resolve()) for e in entries)
    return env


class ChildFailed(Exception):
    pass


class Child:
    """`python _child.py ARGS`, with the parent's interpreter and environment;
    `prefix` runs it under another command (e.g. `unshare -m`); `env` adds to
    the environment."""

    def __init__(
        self,
        args: Sequence[str],
        cwd: Path,
        prefix: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.stderr_path = cwd / f"child-{time.monotonic_ns()}.stderr"
        self._stderr = self.stderr_path.open("wb")
        self.proc = subprocess.Popen(
            [*prefix, sys.executable, str(CHILD), *args],
            cwd=cwd,
            env={**child_env(), **(env or {})},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        self._buffer = b""
        self._stderr_text: str | None = None
        self.lines: list[str] = []

    def _read_some(self, timeout: float) -> bool:
        """Read what stdout has within `timeout`; False at end of file."""
        if self.proc.stdout is None or self.proc.stdout.closed:
            return False
        fd = self.proc.stdout.fileno()
        ready, _, _ = select.select([fd], [], [], max(0.0, timeout))
        if not ready:
            return True
        chunk = os.read(fd, 65536)
        if not chunk:
            return False
        self._buffer += chunk
        *complete, self._buffer = self._buffer.split(b"\n")
        self.lines.extend(line.decode() for line in complete)
        return True

    def wait_line(self, prefix: str, timeout: float = START_TIMEOUT) -> str:
        deadline = time.monotonic() + timeout
        while True:
            for line in self.lines:
                if line.startswith(prefix):
                    self.lines.remove(line)
                    return line
            if not self._read_some(deadline - time.monotonic()):
                raise ChildFailed(f"child ended before {prefix!r}: {self.describe()}")
            if time.monotonic() > deadline:
                raise ChildFailed(f"no {prefix!r} from the child in {timeout} s: {self.describe()}")

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def kill(self) -> bool:
        """SIGKILL; True when the child was still running (the kill hit it)."""
        alive = self.proc.poll() is None
        if alive:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._drain()
        return alive and self.proc.returncode == -signal.SIGKILL

    def finish(self, timeout: float) -> int:
        """Wait for the child to exit, reading its stdout meanwhile (a child
        blocked on a full pipe would never exit)."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise ChildFailed(f"child still running after {timeout} s: {self.describe()}")
            if not self._read_some(min(0.5, left)):  # stdout closed: only the exit is left
                try:
                    self.proc.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    continue  # the deadline check above kills it
        self._drain()
        return self.proc.returncode

    def _drain(self) -> None:
        """Read stdout to its end (the child is gone; bounded in case a process
        it started still holds the pipe)."""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and self._read_some(deadline - time.monotonic()):
            pass
        self.close()

    def close(self) -> None:
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None and not stream.closed:
                stream.close()
        if self._stderr_text is None:
            self._stderr.close()
            self._stderr_text = self.stderr()
            self.stderr_path.unlink(missing_ok=True)

    def stderr(self) -> str:
        if self._stderr_text is not None:
            return self._stderr_text
        return self.stderr_path.read_text(errors="replace")[-3000:]

    def describe(self) -> str:
        code = self.proc.poll()
        return f"exit {code}, stdout {self.lines[-5:]!r}, stderr:\n{self.stderr()}"


# -- what every scenario checks -----------------------------------------------


def integrity(db: Path) -> list[str]:
    """PRAGMA integrity_check on a plain connection (which also recovers a WAL
    left by a killed writer, as any next opener does): [] when it says ok."""
    conn = sqlite3.connect(db, timeout=30)
    try:
        rows = [str(row[0]) for row in conn.execute("PRAGMA integrity_check")]
    finally:
        conn.close()
    return [] if rows == ["ok"] else [f"integrity_check of {db.name}: {rows[:5]}"]


def dump(db: Path) -> dict[str, dict[tuple[Any, ...], tuple[Any, ...]]]:
    """Every row of both tables by primary key (all columns, created_at too)."""
    conn = sqlite3.connect(db, timeout=30)
    try:
        tables: dict[str, dict[tuple[Any, ...], tuple[Any, ...]]] = {}
        for table, key_len in (("checkpoints", 3), ("writes", 5)):
            names = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
            key_cols = ["thread_id", "checkpoint_ns", "checkpoint_id", "task_id", "idx"][:key_len]
            order = key_cols + [n for n in names if n not in key_cols]
            rows = conn.execute(f"SELECT {', '.join(order)} FROM {table}").fetchall()
            tables[table] = {row[:key_len]: row[key_len:] for row in rows}
        return tables
    finally:
        conn.close()


def orphan_writes(db: Path) -> int:
    conn = sqlite3.connect(db, timeout=30)
    try:
        return int(
            conn.execute(
                "SELECT count(*) FROM writes w WHERE NOT EXISTS (SELECT 1 FROM checkpoints c "
                "WHERE c.thread_id = w.thread_id AND c.checkpoint_ns = w.checkpoint_ns "
                "AND c.checkpoint_id = w.checkpoint_id)"
            ).fetchone()[0]
        )
    finally:
        conn.close()


def verify(db: Path, acks: Acks, theirs: Acks | None = None) -> tuple[set[str], list[str]]:
    """integrity_check, then every acknowledged checkpoint read back whole by a
    fresh saver of ours and by langgraph's SqliteSaver (only those in `theirs`
    when given: its reads are slow, and what it read before is still checked
    by ours). (ids found, problems)."""
    problems = integrity(db)
    if problems:
        return set(), problems
    found: set[str] = set()
    try:
        with RustSQLiteCheckpointer(str(db)) as saver:
            found, ours = verify_threads(saver, acks, "fast-langgraph")
        problems += ours
    except Exception as exc:  # a read that fails is a finding, not a crash of the suite
        problems.append(f"fast-langgraph: reading {db.name} raised {type(exc).__name__}: {exc}")
    if _is_compact(db):
        return found, problems + compact_problems(db)
    try:
        conn = sqlite3.connect(db, check_same_thread=False)
        try:
            _found, read = verify_threads(SqliteSaver(conn), theirs or acks, "SqliteSaver")
        finally:
            conn.close()
        problems += read
    except Exception as exc:
        problems.append(f"SqliteSaver: reading {db.name} raised {type(exc).__name__}: {exc}")
    return found, problems


def _is_compact(db: Path) -> bool:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return storage.is_compact(conn)
    finally:
        conn.close()


def compact_problems(db: Path) -> list[str]:
    """A compact file (the suite's compact sessions): every chunk a checkpoint
    refers to is there, and SqliteSaver refuses the file rather than misread it."""
    problems: list[str] = []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        stored = set(conn.execute(f"SELECT thread_id, seq FROM {storage.CHUNKS_TABLE}"))
        rows = conn.execute(
            "SELECT thread_id, checkpoint FROM checkpoints WHERE type = ?", (compact.COMPACT_TYPE,)
        ).fetchall()
        missing = {(t, seq) for t, blob in rows for seq in compact.referenced(blob)} - stored
        if missing:
            problems.append(f"{db.name}: chunks referred to but missing: {sorted(missing)[:5]}")
        if rows:
            try:
                SqliteSaver(conn).get_tuple({"configurable": {"thread_id": rows[0][0]}})
                problems.append(f"{db.name}: SqliteSaver read a compact checkpoint")
            except NotImplementedError as exc:
                if "compact storage" not in str(exc):
                    problems.append(f"{db.name}: SqliteSaver refused it unclearly: {exc}")
    finally:
        conn.close()
    return problems


def remove_db(db: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


def copy_db(source: Path, target: Path) -> None:
    """A byte copy of a closed database (main file and any WAL)."""
    remove_db(target)
    for suffix in ("", "-wal"):
        if Path(f"{source}{suffix}").exists():
            Path(f"{target}{suffix}").write_bytes(Path(f"{source}{suffix}").read_bytes())


@dataclass
class Outcome:
    """The figures of one scenario run; `problems` empty means it held."""

    scenario: str
    runs: int = 0
    kills: int = 0  # SIGKILLs that hit a child at work
    missed: int = 0  # the child had finished its operation before the kill
    acknowledged: int = 0
    found: int = 0
    lock_errors: int = 0
    enospc: int = 0
    reads: int = 0
    problems: list[str] = field(default_factory=list)
    # What the kills left behind, e.g. {"untouched": 40, "migrated": 62}.
    states: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def count(self, state: str) -> None:
        self.states[state] = self.states.get(state, 0) + 1

    def add(self, other: Outcome) -> None:
        self.runs += other.runs
        self.kills += other.kills
        self.missed += other.missed
        self.acknowledged += other.acknowledged
        self.found += other.found
        self.lock_errors += other.lock_errors
        self.enospc += other.enospc
        self.reads += other.reads
        self.problems += other.problems
        # Notes say the same thing run after run ("X takes ~N ms"): the first says it.
        seen = {note.split(" takes ")[0] for note in self.notes}
        self.notes += [note for note in other.notes if note.split(" takes ")[0] not in seen]
        for state, n in other.states.items():
            self.states[state] = self.states.get(state, 0) + n

    @property
    def lost(self) -> int:
        return self.acknowledged - self.found
