"""The scenarios. Each takes a work folder, a seeded `random.Random` and its
scale (kills, seconds, processes...), and returns an `Outcome` whose `problems`
list is empty when everything held. The fast tests run them small; soak.py
runs them for as long as it is given.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from langgraph.checkpoint.sqlite import SqliteSaver

from fast_langgraph import RustSQLiteCheckpointer
from fast_langgraph.cli import main as cli_main
from fast_langgraph_pure.storage import SCHEMA_VERSION

from .harness import (
    Child,
    ChildFailed,
    Outcome,
    copy_db,
    dump,
    integrity,
    orphan_writes,
    remove_db,
    verify,
)
from .payload import Acks, cli_argv, put_step, put_step_writes

# Problems reported per scenario run at most: the first ones say what broke.
MAX_PROBLEMS = 20
# Between "go" reaching the child and its work starting (a pipe, a wake-up).
LATENCY = 0.003


def fill(saver: Any, threads: int, steps: int, prefix: str) -> Acks:
    """`threads` threads of `steps` checkpoints with writes, through `saver`."""
    acks = Acks()
    for n in range(threads):
        thread_id = f"{prefix}{n}"
        parent: str | None = None
        for step in range(steps):
            stored = put_step(saver, thread_id, step, parent)
            parent = stored["configurable"]["checkpoint_id"]
            put_step_writes(saver, stored, thread_id, step)
            acks.checkpoints.setdefault(thread_id, {})[parent] = step
            acks.writes.add(parent)
    return acks


def fill_ours(db: Path, threads: int, steps: int) -> Acks:
    remove_db(db)
    with RustSQLiteCheckpointer(str(db)) as saver:
        return fill(saver, threads, steps, "ours-")


def fill_sqlitesaver(db: Path, threads: int, steps: int) -> Acks:
    """A file only langgraph's SqliteSaver has ever written (closed: no WAL left)."""
    remove_db(db)
    conn = sqlite3.connect(db, check_same_thread=False)
    # Only makes the set-up fast (no fsync per commit); the file is the same.
    conn.execute("PRAGMA synchronous = OFF")
    try:
        return fill(SqliteSaver(conn), threads, steps, "theirs-")
    finally:
        conn.close()


def _limit(problems: list[str]) -> list[str]:
    if len(problems) <= MAX_PROBLEMS:
        return problems
    return [*problems[:MAX_PROBLEMS], f"... and {len(problems) - MAX_PROBLEMS} more"]


def _timed_run(args: list[str], work: Path) -> float:
    """Run an "open"/"op" child to its end; the seconds its work took."""
    child = Child(args, work)
    child.wait_line("ready")
    child.send("go")
    seconds = float(child.wait_line("done").split()[1])
    code = child.finish(120)
    if code != 0:
        raise ChildFailed(f"{args}: {child.describe()}")
    return seconds


def _kill_at_work(child: Child, rng: random.Random, window: float) -> bool:
    """Send "go", SIGKILL at a uniformly random moment of the expected
    `window`; True when the kill hit the operation (it had not said "done")."""
    child.wait_line("ready")
    child.send("go")
    time.sleep(rng.uniform(0, window))
    hit = child.kill()
    return hit and not any(line.startswith("done") for line in child.lines)


# -- kill -9 during puts --------------------------------------------------------


def kill_during_puts(
    work: Path, rng: random.Random, *, kills: int, max_delay: float = 0.4, rotate: int = 5
) -> Outcome:
    """Writer processes (1 or 2 at once, 1-3 threads each, either durability)
    put checkpoints and writes in a loop on one file and are SIGKILLed at a
    random moment; after each kill every checkpoint acknowledged on that file
    so far must read back whole through a fresh saver, and those of this round
    through SqliteSaver too.
    The file is reused for `rotate` rounds (recovering again and again), then
    started afresh."""
    out = Outcome("kill -9 during puts")
    db = work / "puts.db"
    acks_file = work / "puts.acks"
    attempt = 0
    while out.kills < kills and attempt < 2 * kills + 5 and not out.problems:
        if attempt % rotate == 0:
            remove_db(db)
            acks_file.unlink(missing_ok=True)
        attempt += 1
        prefix = f"r{attempt}p"
        children = [
            Child(
                [
                    "puts",
                    str(db),
                    str(acks_file),
                    "--prefix",
                    f"{prefix}{n}",
                    "--threads",
                    str(rng.randint(1, 3)),
                    "--durability",
                    rng.choice(("normal", "full")),
                ],
                work,
            )
            for n in range(rng.choice((1, 1, 2)))
        ]
        for child in children:
            child.wait_line("ready")
        time.sleep(rng.uniform(0.02, max_delay))
        for child in children:
            if child.kill():
                out.kills += 1
            else:
                out.problems.append(f"a writer ended before it was killed: {child.describe()}")
            out.lock_errors += child.lines.count("lock")
            out.problems += [
                f"a writer's call failed: {x}" for x in child.lines if x.startswith("error ")
            ]
        acks = Acks()
        acks.add_file(acks_file)
        this_round = Acks(writes=acks.writes)
        for thread_id, ids in acks.checkpoints.items():
            if thread_id.startswith(prefix):
                this_round.checkpoints[thread_id] = ids
        new = {i for ids in this_round.checkpoints.values() for i in ids}
        found, problems = verify(db, acks, theirs=this_round)
        out.runs += 1
        out.acknowledged += len(new)
        out.found += len(new & found)
        out.problems += _limit(problems)
    return out


# -- kill -9 during the first open of a SqliteSaver file (migration) ----------


def _schema(db: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return sorted(conn.execute("SELECT type, name, sql FROM sqlite_master").fetchall())
    finally:
        conn.close()


def _user_version(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def _migration_state(db: Path, before: dict[str, Any], schema_before: list[Any]) -> list[str]:
    """A killed first open leaves the file as SqliteSaver left it, or migrated
    all the way (every row as it was, plus created_at): nothing in between."""
    version = _user_version(db)
    after = dump(db)
    if version == 0:
        problems = []
        if _schema(db) != schema_before:
            problems.append("user_version 0 but the schema changed")
        if after != before:
            problems.append("user_version 0 but rows changed")
        return problems
    if version != SCHEMA_VERSION:
        return [f"user_version {version} after a killed migration"]
    names = {row[1] for row in _schema(db)}
    problems = [
        f"migrated but {name} is missing"
        for name in ("checkpoints_created_at", "checkpoints_created_at_default")
        if name not in names
    ]
    for table in ("checkpoints", "writes"):
        if after[table].keys() != before[table].keys():
            problems.append(f"migration changed the keys of {table}")
        elif any(after[table][k][: len(row)] != row for k, row in before[table].items()):
            problems.append(f"migration changed rows of {table}")
    conn = sqlite3.connect(db)
    try:
        undated = conn.execute("SELECT count(*) FROM checkpoints WHERE created_at IS NULL")
        if undated.fetchone()[0]:
            problems.append("migrated but created_at left NULL")
    finally:
        conn.close()
    return problems


def kill_during_migration(
    work: Path, rng: random.Random, *, kills: int, threads: int = 20, steps: int = 30
) -> Outcome:
    """A file written only by langgraph's SqliteSaver is opened by ours for the
    first time (which migrates it) and SIGKILLed at a random point of that open.
    Then: integrity_check; the file untouched or migrated whole; a new open
    migrates it; every SqliteSaver checkpoint reads back whole through both."""
    out = Outcome("kill -9 during first-open migration")
    pristine = work / "sqlitesaver-only.db"
    acks = fill_sqlitesaver(pristine, threads, steps)
    before = dump(pristine)
    schema_before = _schema(pristine)
    db = work / "migrating.db"
    copy_db(pristine, db)
    seconds = _timed_run(["open", str(db)], work)
    window = seconds * 1.2 + LATENCY
    out.notes.append(f"first open of {acks.count} checkpoints takes ~{seconds * 1000:.0f} ms")
    attempt = 0
    while out.kills < kills and attempt < 3 * kills + 5 and not out.problems:
        attempt += 1
        copy_db(pristine, db)
        if _kill_at_work(Child(["open", str(db)], work), rng, window):
            out.kills += 1
        else:
            out.missed += 1
            window *= 0.8  # the timed run was slower than this one
        problems = integrity(db)
        if not problems:
            out.count("left untouched" if _user_version(db) == 0 else "left migrated")
            problems += _migration_state(db, before, schema_before)
            found, more = verify(db, acks)
            problems += more
            if _user_version(db) != SCHEMA_VERSION:
                problems.append("the next open did not migrate the file")
            out.acknowledged += acks.count
            out.found += len(found)
        out.runs += 1
        out.problems += _limit(problems)
    return out


# -- kill -9 during cleanup, prune, vacuum, backup -------------------------------

MAINTENANCE = ("cleanup", "prune", "prune-delete", "vacuum", "backup")


def _run_op_here(op: str, via: str, db: Path, target: Path) -> list[str]:
    """The operation run again, to completion, in this process: the retry."""
    if via == "cli":
        argv = cli_argv(op, str(db), str(target), force=target.exists())
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = cli_main(argv)
        return (
            [] if code == 0 else [f"retry `fast-langgraph {' '.join(argv)}`: {stderr.getvalue()}"]
        )
    with RustSQLiteCheckpointer(str(db)) as saver:
        if op == "cleanup":
            saver.cleanup(timedelta(0), keep_latest=True, batch_size=2)
        elif op == "prune":
            saver.prune(sorted({k[0] for k in dump(db)["checkpoints"]}), strategy="keep_latest")
        elif op == "prune-delete":
            saver.prune(sorted({k[0] for k in dump(db)["checkpoints"]}), strategy="delete")
        elif op == "vacuum":
            saver.vacuum()
        else:
            saver.backup(target)
    return []


def _subset_problems(
    after: dict[str, Any], before: dict[str, Any], must: dict[str, Any]
) -> list[str]:
    """Deleting operations: what is left is rows of before, unchanged, and
    includes every row the finished operation keeps."""
    problems = []
    for table in ("checkpoints", "writes"):
        changed = [k for k, row in after[table].items() if before[table].get(k) != row]
        if changed:
            problems.append(
                f"{table}: {len(changed)} rows that were not there before, e.g. {changed[0]}"
            )
        gone = [k for k in must[table] if k not in after[table]]
        if gone:
            problems.append(f"{table}: {len(gone)} rows deleted that must survive, e.g. {gone[0]}")
    return problems


def _strays(target: Path) -> list[str]:
    """Files beside a backup target other than it (and its WAL, while open)."""
    own = {target.name, f"{target.name}-wal", f"{target.name}-shm"}
    return sorted(p.name for p in target.parent.iterdir() if p.name not in own)


def _backup_problems(
    target: Path, before: dict[str, Any], out: Outcome, *, whole: bool
) -> list[str]:
    """What a killed backup left at its target: nothing, or a whole copy. With
    `whole` False (the saver method, which promises no more) a SQLite file
    holding less (SQLite rolls the unfinished copy back to an empty database)
    is counted, not a problem; a corrupt one always is."""
    if _strays(target):
        out.count("stray files beside the target")
    if not target.exists():
        out.count("target absent")
        return []
    problems = integrity(target)
    if problems:
        return problems
    try:
        copied: dict[str, Any] | None = dump(target)
    except sqlite3.Error:
        copied = None
    if copied == before:
        out.count("target whole")
        return []
    out.count("target an incomplete copy (integrity ok)")
    if whole:
        return [f"a killed backup left {target.name} holding less than the source"]
    return []


def kill_during_maintenance(
    work: Path,
    rng: random.Random,
    *,
    op: str,
    via: str,
    kills: int,
    threads: int = 40,
    steps: int = 10,
) -> Outcome:
    """`op` (cleanup, prune, prune-delete, vacuum or backup), through the saver
    method or the `fast-langgraph` command, SIGKILLed at a random point. Then:
    integrity_check of the database; no row changed, none gone that the
    finished operation keeps, no orphan writes (vacuum and backup: rows exactly
    as before); the survivors read whole through a fresh saver and SqliteSaver;
    a backup target absent or whole; and a retry finishes the job."""
    out = Outcome(f"kill -9 during {op} ({via})")
    pristine = work / f"{op}-{via}-pristine.db"
    acks = fill_ours(pristine, threads, steps)
    if op == "vacuum":  # free pages for vacuum to give back
        with RustSQLiteCheckpointer(str(pristine)) as saver:
            for thread_id in sorted(acks.checkpoints)[::2]:
                saver.delete_thread(thread_id)
                del acks.checkpoints[thread_id]
    time.sleep(0.01)  # cleanup's cutoff is "now": every checkpoint is older
    before = dump(pristine)
    db = work / f"{op}-{via}.db"
    backups = work / f"{op}-{via}-backups"
    target = backups / "copy.db"
    args = ["op", str(db), op, "--via", via, "--target", str(target)]

    def reset() -> None:
        copy_db(pristine, db)
        shutil.rmtree(backups, ignore_errors=True)
        backups.mkdir()

    reset()
    seconds = _timed_run(args, work)
    window = seconds * 1.2 + LATENCY
    finished = dump(db) if op in ("cleanup", "prune", "prune-delete") else before
    out.notes.append(f"{op} ({via}) of {acks.count} checkpoints takes ~{seconds * 1000:.0f} ms")
    attempt = 0
    while out.kills < kills and attempt < 3 * kills + 5 and not out.problems:
        attempt += 1
        reset()
        if _kill_at_work(Child(args, work), rng, window):
            out.kills += 1
        else:
            out.missed += 1
            window *= 0.8
        problems = integrity(db)
        if not problems:
            after = dump(db)
            if op in ("vacuum", "backup"):
                if after != before:
                    problems.append(f"{op} changed the rows of the database")
            else:
                problems += _subset_problems(after, before, finished)
                if op.startswith("prune") and after not in (before, finished):
                    problems.append("prune is one transaction, yet it was left half done")
                orphans = orphan_writes(db)
                if orphans:
                    problems.append(f"{orphans} writes left without their checkpoint")
                out.count(
                    "left as before"
                    if after == before
                    else "left finished"
                    if after == finished
                    else "left partly done"
                )
            if op == "backup":
                problems += _backup_problems(target, before, out, whole=via == "cli")
            # Survivors: what is still there must read whole; what must survive, does.
            survivors = Acks(writes=acks.writes)
            for thread_id, ids in acks.checkpoints.items():
                kept = {i: s for i, s in ids.items() if (thread_id, "", i) in after["checkpoints"]}
                if kept:
                    survivors.checkpoints[thread_id] = kept
            found, more = verify(db, survivors)
            problems += more
            must = {k[2] for k in finished["checkpoints"]}
            out.acknowledged += len(must)
            out.found += len(must & found)
            # The retry.
            problems += _run_op_here(op, via, db, target)
            if not problems:
                final = dump(db)
                if op == "backup":
                    problems += integrity(target)
                    if not problems and dump(target) != before:
                        problems.append("the retried backup differs from the source")
                    if _strays(target):
                        out.count("stray files left after the retry")
                elif final != finished:
                    problems.append(f"the retried {op} did not end where an uninterrupted one does")
        out.runs += 1
        out.problems += _limit(problems)
    return out


# -- processes x threads, with readers ------------------------------------------


def concurrent_writers(
    work: Path,
    rng: random.Random,
    *,
    processes: int,
    threads: int,
    seconds: float,
    sqlitesaver_processes: int = 0,
) -> Outcome:
    """`processes` writer processes of `threads` threads each (the first
    `sqlitesaver_processes` of them langgraph's SqliteSaver) put checkpoints and
    writes on one file for `seconds`, while a reader process (two with
    SqliteSaver writers: one of each saver) lists and reads, checking every
    checkpoint it sees is whole. Then every acknowledged checkpoint must be
    there. Lock errors are counted (ours in `lock_errors`, SqliteSaver's in a
    note): the busy timeout should make ours 0."""
    mixed = f", {sqlitesaver_processes} of them SqliteSaver" if sqlitesaver_processes else ""
    out = Outcome(f"{processes} processes x {threads} threads{mixed}, with readers")
    db = work / "concurrency.db"
    remove_db(db)
    # SqliteSaver's writers need its layout (a compact file is one it refuses),
    # whatever the suite's FAST_LANGGRAPH_STORAGE gives new files.
    layout = {"FAST_LANGGRAPH_STORAGE": "default"} if sqlitesaver_processes else {}
    RustSQLiteCheckpointer(str(db), storage="default" if layout else None).close()
    writers: list[tuple[str, Child]] = []  # and the readers, started last
    for n in range(processes):
        kind = "sqlitesaver" if n < sqlitesaver_processes else "fast"
        acks_file = work / f"concurrency-{n}.acks"
        acks_file.unlink(missing_ok=True)
        args = ["puts", str(db), str(acks_file), "--prefix", f"{kind}{n}"]
        args += ["--threads", str(threads), "--saver", kind, "--seconds", str(seconds)]
        args += ["--durability", rng.choice(("normal", "full"))]
        writers.append((kind, Child(args, work, env=layout)))
    for kind in ("fast", "sqlitesaver") if sqlitesaver_processes else ("fast",):
        args = ["reader", str(db), "--seconds", str(seconds), "--saver", kind]
        writers.append((f"{kind} reader", Child(args, work, env=layout)))
    theirs_lock_errors = 0
    for kind, child in writers:
        try:
            code = child.finish(seconds + 120)
            line = child.wait_line("summary ", timeout=1)
        except ChildFailed as exc:
            out.problems.append(f"{kind} process: {exc}")
            continue
        summary = json.loads(line.split(" ", 1)[1])
        if code != 0:
            out.problems.append(f"{kind} process exited {code}: {child.describe()}")
        if summary.get("errors"):
            out.problems.append(f"{kind} process errors: {summary['error_samples']}")
        if kind.startswith("sqlitesaver"):
            theirs_lock_errors += summary.get("lock_errors", 0)
        else:
            out.lock_errors += summary.get("lock_errors", 0)
        out.reads += summary.get("reads", 0)
    acks = Acks()
    for n in range(processes):
        acks.add_file(work / f"concurrency-{n}.acks")
    found, problems = verify(db, acks)
    out.runs += 1
    out.acknowledged += acks.count
    out.found += len(found)
    out.problems += _limit(problems)
    if sqlitesaver_processes:
        out.notes.append(f"SqliteSaver's lock errors: {theirs_lock_errors}")
    return out


# -- disk full --------------------------------------------------------------------

# A private mount namespace, so the tmpfs is seen by the child alone and goes
# away with it. As root (or with CAP_SYS_ADMIN) the first works; otherwise a user
# namespace may be allowed to mount a tmpfs of its own.
NAMESPACES = (
    ["unshare", "--mount", "--propagation", "private"],
    ["unshare", "--user", "--map-root-user", "--mount", "--propagation", "private"],
)
NAMED = "ENOSPC error names the file"
UNNAMED = "ENOSPC error does not name the file"


def mount_namespace() -> tuple[list[str] | None, str]:
    """The command prefix that runs a process in a private mount namespace where
    it may mount a tmpfs, or (None, why there is none here)."""
    if not sys.platform.startswith("linux"):
        return None, f"mount namespaces are Linux only (this is {sys.platform})"
    for tool in ("unshare", "mount"):
        if shutil.which(tool) is None:
            return None, f"`{tool}` is not installed (util-linux)"
    errors = []
    for prefix in NAMESPACES:
        probe = subprocess.run(
            [*prefix, "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
            capture_output=True,
            text=True,
        )
        if probe.returncode == 0:
            return list(prefix), ""
        errors.append(f"`{' '.join(prefix)}`: {probe.stderr.strip() or probe.returncode}")
    return None, (
        "cannot mount a tmpfs in a private mount namespace ("
        + "; ".join(errors)
        + "). Run as root, or in a container with --cap-add SYS_ADMIN (or --privileged), "
        "or where unprivileged user namespaces are allowed"
    )


def disk_full(work: Path, rng: random.Random, *, rounds: int = 1, size: str = "2m") -> Outcome:
    """A database on a `size` tmpfs (in a private mount namespace: nothing on
    the host is mounted) beside a ballast file of random size; checkpoints are put until the
    disk is full. The saver must raise a sqlite3.Error (SQLITE_FULL) (whether
    it names the file is counted in `states`); the file must pass integrity_check while still full; once the ballast
    is deleted, writes work again; every acknowledged checkpoint reads whole."""
    out = Outcome("disk full (ENOSPC on a tmpfs)")
    if rounds <= 0:
        return out
    namespace, why = mount_namespace()
    if namespace is None:
        out.problems.append(f"the disk-full scenario cannot run here: {why}")
        return out
    for n in range(rounds):
        folder = work / f"diskfull-{n}"
        shutil.rmtree(folder, ignore_errors=True)
        (folder / "mnt").mkdir(parents=True)
        # A different ballast each round: the disk fills at another point of a write.
        ballast_kb = rng.randint(256, 1024)
        args = ["diskfull", str(folder), "--size", size, "--ballast-kb", str(ballast_kb)]
        child = Child(args, folder, prefix=namespace)
        problems: list[str] = []
        try:
            code = child.finish(180)
            summary = json.loads(child.wait_line("summary ", timeout=1).split(" ", 1)[1])
        except ChildFailed as exc:
            out.problems.append(f"disk-full child: {exc}")
            continue
        if code != 0:
            problems.append(f"disk-full child exited {code}: {child.describe()}")
        out.enospc += summary.get("enospc", 0)
        if "never_full" in summary:
            problems.append(summary["never_full"])
        else:
            error, kind = summary.get("error", ""), summary.get("error_type", "")
            if not kind.startswith("sqlite3."):
                problems.append(f"a full disk raised {kind}: {error}, not a sqlite3.Error")
            if summary.get("error_code") not in (None, "SQLITE_FULL"):
                problems.append(f"a full disk raised {summary['error_code']}, not SQLITE_FULL")
            if "full" not in error.lower():
                problems.append(f"the error does not say the disk is full: {error!r}")
            # Wanted, not a matter of data: counted, and test_reliability checks it.
            out.count(NAMED if "full.db" in error else UNNAMED)
        for key in ("integrity_when_full", "integrity_after"):
            if summary.get(key) != ["ok"]:
                problems.append(f"{key}: {summary.get(key)}")
        if summary.get("write_when_still_full") == "succeeded":
            out.notes.append("a write right after ENOSPC succeeded (SQLite found room)")
        if summary.get("after_freeing") != 5:
            problems.append(
                f"after freeing space only {summary.get('after_freeing')} of 5 puts worked: "
                f"{summary.get('after_freeing_error')}"
            )
        acks = Acks()
        acks.add_file(folder / "acks")
        found, more = verify(folder / "out" / "full.db", acks)
        problems += more
        if acks.count != summary.get("acknowledged"):
            problems.append(
                f"{acks.count} acknowledgements on file, the child counted {summary.get('acknowledged')}"
            )
        out.runs += 1
        out.acknowledged += acks.count
        out.found += len(found)
        out.problems += _limit(problems)
        if not problems:
            shutil.rmtree(folder, ignore_errors=True)
    return out
