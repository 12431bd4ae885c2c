"""The child processes the reliability scenarios start (and kill).

Run by path with the parent's interpreter and environment (so FAST_LANGGRAPH_IMPL
and the engine under test are the parent's): `python _child.py MODE ...`.
It talks to the parent through lines on stdout ("ready", "done <seconds>",
"summary <json>") and through an acknowledgement file: one line is appended,
with a single write(2), after each put or put_writes has returned. Data handed
to write(2) is the kernel's, so it survives a SIGKILL of this process; a line
in that file is a promise the database must keep.

Modes:
  puts DB ACKS --prefix P [--threads N] [--saver fast|sqlitesaver]
       [--durability normal|full] [--seconds S]   write until killed (or S s)
  reader DB [--saver fast|sqlitesaver] --seconds S  read and check what it reads
  open DB                                          first open (migration) after "go"
  op DB OP [--via saver|cli] [--target T]
                                                   cleanup, prune, prune-delete,
                                                   vacuum or backup after "go"
  diskfull WORKDIR [--size 2m] [--ballast-kb N]    in a private mount namespace:
                                                   fill a tmpfs, free it, write again
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import payload  # this folder is sys.path[0]: the script runs by path
from langgraph.checkpoint.sqlite import SqliteSaver

from fast_langgraph import RustSQLiteCheckpointer


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def wait_for_go() -> None:
    say("ready")
    if sys.stdin.readline().strip() != "go":
        raise SystemExit("expected 'go' on stdin")


def is_lock_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def open_saver(db: str, kind: str, durability: str = "normal") -> Any:
    if kind == "fast":
        return RustSQLiteCheckpointer(db, durability=durability)  # type: ignore[arg-type]
    # As LangGraph's docs open it (Python's default 5 s busy timeout).
    return SqliteSaver(sqlite3.connect(db, check_same_thread=False))


def close_saver(saver: Any) -> None:
    if isinstance(saver, RustSQLiteCheckpointer):
        saver.close()
    else:
        saver.conn.close()


class Counters:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.values: dict[str, int] = {}
        self.errors: list[str] = []

    def add(self, name: str, n: int = 1) -> None:
        with self.lock:
            self.values[name] = self.values.get(name, 0) + n

    def error(self, exc: BaseException) -> None:
        with self.lock:
            self.values["errors"] = self.values.get("errors", 0) + 1
            if len(self.errors) < 5:
                self.errors.append(f"{type(exc).__name__}: {exc}")

    def summary(self) -> str:
        return "summary " + json.dumps({**self.values, "error_samples": self.errors})


# -- puts -----------------------------------------------------------------------


def write_loop(
    saver: Any, thread_id: str, acks_fd: int, deadline: float | None, counters: Counters
) -> None:
    parent: str | None = None
    step = 0
    while deadline is None or time.monotonic() < deadline:
        try:
            stored = payload.put_step(saver, thread_id, step, parent)
            checkpoint_id = stored["configurable"]["checkpoint_id"]
            os.write(acks_fd, payload.ack_line("cp", thread_id, checkpoint_id, step))
            counters.add("puts")
            parent = checkpoint_id
            payload.put_step_writes(saver, stored, thread_id, step)
            os.write(acks_fd, payload.ack_line("w", thread_id, checkpoint_id, step))
            counters.add("put_writes")
            if step % 7 == 3:  # reads between writes, as a graph does
                found = saver.get_tuple(payload.config(thread_id))
                if found is None or found.config["configurable"]["checkpoint_id"] != parent:
                    raise AssertionError(f"{thread_id}: latest is not {parent} just written")
        except Exception as exc:
            # Said at once too: a writer that gets killed never prints its summary.
            if is_lock_error(exc):
                counters.add("lock_errors")
                say("lock")
            else:
                counters.error(exc)
                say(f"error {type(exc).__name__}: {exc}".replace("\n", " "))
                time.sleep(0.01)  # an unexpected error: report it, don't spin
        step += 1


def run_puts(args: argparse.Namespace) -> int:
    saver = open_saver(args.db, args.saver, args.durability)
    acks_fd = os.open(args.acks, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    counters = Counters()
    deadline = time.monotonic() + args.seconds if args.seconds > 0 else None
    threads = [
        threading.Thread(
            target=write_loop,
            args=(saver, f"{args.prefix}-t{n}", acks_fd, deadline, counters),
            daemon=True,
        )
        for n in range(args.threads)
    ]
    say("ready")
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    close_saver(saver)
    say(counters.summary())
    return 0


# -- reader ---------------------------------------------------------------------


def run_reader(args: argparse.Namespace) -> int:
    saver = open_saver(args.db, args.saver)
    counters = Counters()
    deadline = time.monotonic() + args.seconds
    seen: list[str] = []
    say("ready")
    n = 0
    while time.monotonic() < deadline:
        n += 1
        try:
            if n % 2 or not seen:
                tuples = list(saver.list(None, limit=10))
            else:
                found = saver.get_tuple(payload.config(seen[n % len(seen)]))
                tuples = [] if found is None else [found]
            for found in tuples:
                thread_id = found.config["configurable"]["thread_id"]
                if thread_id not in seen:
                    seen.append(thread_id)
                counters.add("reads")
                # A reader may see a checkpoint before its writes, never half of them.
                for problem in payload.check_tuple(found, thread_id, writes_acknowledged=False):
                    counters.add("bad_reads")
                    counters.error(AssertionError(problem))
        except Exception as exc:
            counters.add("lock_errors" if is_lock_error(exc) else "read_errors")
            if not is_lock_error(exc):
                counters.error(exc)
    close_saver(saver)
    say(counters.summary())
    return 0


# -- first open, maintenance ----------------------------------------------------


def run_open(args: argparse.Namespace) -> int:
    wait_for_go()
    start = time.monotonic()
    saver = RustSQLiteCheckpointer(args.db)
    say(f"done {time.monotonic() - start:.6f}")
    saver.close()
    return 0


def run_op(args: argparse.Namespace) -> int:
    if args.via == "cli":
        from fast_langgraph.cli import main as cli

        argv = payload.cli_argv(args.op, args.db, args.target or "")
        wait_for_go()
        start = time.monotonic()
        code = cli(argv)
        say(f"done {time.monotonic() - start:.6f}")
        return code
    saver = RustSQLiteCheckpointer(args.db)
    threads = [t for (t,) in saver.conn.execute("SELECT DISTINCT thread_id FROM checkpoints")]
    wait_for_go()
    start = time.monotonic()
    if args.op == "cleanup":
        saver.cleanup(timedelta(0), keep_latest=True, batch_size=2)
    elif args.op == "prune":
        saver.prune(threads, strategy="keep_latest")
    elif args.op == "prune-delete":
        saver.prune(threads, strategy="delete")
    elif args.op == "vacuum":
        saver.vacuum()
    elif args.op == "backup":
        saver.backup(args.target)
    else:
        raise SystemExit(f"unknown op {args.op}")
    say(f"done {time.monotonic() - start:.6f}")
    saver.close()
    return 0


# -- disk full ------------------------------------------------------------------


def run_diskfull(args: argparse.Namespace) -> int:
    """Runs inside `unshare -m`: the tmpfs is private to this process and goes
    away with it. Reports everything in one summary line; the parent checks the
    copy left in WORKDIR/out."""
    work = Path(args.workdir)
    mnt = work / "mnt"
    result: dict[str, Any] = {"acknowledged": 0, "enospc": 0}
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={args.size}", "tmpfs", str(mnt)],
        check=True,
        capture_output=True,
    )
    db = mnt / "full.db"
    ballast = mnt / "ballast"
    ballast.write_bytes(os.urandom(args.ballast_kb * 1024))
    acks_fd = os.open(work / "acks", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    saver = RustSQLiteCheckpointer(str(db))
    thread_id = "diskfull"
    parent: str | None = None
    step = 0

    def put() -> None:
        nonlocal parent, step
        stored = payload.put_step(saver, thread_id, step, parent)
        parent = stored["configurable"]["checkpoint_id"]
        os.write(acks_fd, payload.ack_line("cp", thread_id, parent, step))
        result["acknowledged"] += 1
        payload.put_step_writes(saver, stored, thread_id, step)
        os.write(acks_fd, payload.ack_line("w", thread_id, parent, step))
        step += 1

    error: BaseException | None = None
    while step < args.max_steps:
        try:
            put()
        except Exception as exc:
            error = exc
            break
    if error is None:
        result["never_full"] = f"{step} puts and no error; is {mnt} really a {args.size} tmpfs?"
    else:
        result["enospc"] += 1
        result["error_type"] = f"{type(error).__module__}.{type(error).__name__}"
        result["error"] = str(error)
        result["error_code"] = getattr(error, "sqlite_errorname", None)
    # Still full: a read must work, and another write must fail the same way.
    check = sqlite3.connect(str(db))
    result["integrity_when_full"] = [row[0] for row in check.execute("PRAGMA integrity_check")]
    check.close()
    try:
        put()
        result["write_when_still_full"] = "succeeded"
    except sqlite3.Error as exc:
        result["enospc"] += 1
        result["write_when_still_full"] = f"{type(exc).__name__}: {exc}"
    os.remove(ballast)
    result["after_freeing"] = 0
    try:
        for _ in range(args.after):
            put()
            result["after_freeing"] += 1
    except Exception as exc:
        result["after_freeing_error"] = f"{type(exc).__name__}: {exc}"
    saver.close()
    check = sqlite3.connect(str(db))
    result["integrity_after"] = [row[0] for row in check.execute("PRAGMA integrity_check")]
    check.close()
    # The tmpfs dies with this process: leave a copy (with any WAL) for the parent.
    out = work / "out"
    out.mkdir(exist_ok=True)
    for suffix in ("", "-wal"):
        if os.path.exists(f"{db}{suffix}"):
            shutil.copyfile(f"{db}{suffix}", out / f"full.db{suffix}")
    say("summary " + json.dumps(result))
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="_child.py")
    sub = parser.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("puts")
    p.add_argument("db")
    p.add_argument("acks")
    p.add_argument("--prefix", required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--saver", choices=["fast", "sqlitesaver"], default="fast")
    p.add_argument("--durability", choices=["normal", "full"], default="normal")
    p.add_argument("--seconds", type=float, default=0.0)
    p.set_defaults(run=run_puts)
    p = sub.add_parser("reader")
    p.add_argument("db")
    p.add_argument("--saver", choices=["fast", "sqlitesaver"], default="fast")
    p.add_argument("--seconds", type=float, required=True)
    p.set_defaults(run=run_reader)
    p = sub.add_parser("open")
    p.add_argument("db")
    p.set_defaults(run=run_open)
    p = sub.add_parser("op")
    p.add_argument("db")
    p.add_argument("op", choices=["cleanup", "prune", "prune-delete", "vacuum", "backup"])
    p.add_argument("--via", choices=["saver", "cli"], default="saver")
    p.add_argument("--target")
    p.set_defaults(run=run_op)
    p = sub.add_parser("diskfull")
    p.add_argument("workdir")
    p.add_argument("--size", default="2m")
    p.add_argument("--ballast-kb", type=int, default=512)
    p.add_argument("--max-steps", type=int, default=5000)
    p.add_argument("--after", type=int, default=5)
    p.set_defaults(run=run_diskfull)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
