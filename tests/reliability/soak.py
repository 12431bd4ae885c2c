"""The long reliability run: every scenario at scale, then a table of figures.

    python -m tests.reliability.soak --minutes 10      time-boxed (from the repo root)
    python -m tests.reliability.soak --puts-kills 200 --migration-kills 100 \\
        --maintenance-kills 20 --concurrency-seconds 60 --disk-full-rounds 3 \\
        --fuzz-seconds 60                              fixed counts
    nox -s soak -- --minutes 30                        in a venv with the native
                                                       codec and compiled engine

With --minutes, the concurrency runs (4 processes x 4 threads, then mixed with
SqliteSaver writers) get a twentieth of the time each (a minute at most), then
the check of everything they wrote; disk full three rounds; the decoder fuzzer
(tests/reliability/fuzz_decoder.py, when present) a twentieth; the rest goes
to rounds of SIGKILLs over every kill scenario in turn. The codec
and engine are whatever this interpreter loads (FAST_LANGGRAPH_IMPL is honoured
and passed to every child). Exits 1 on any lost acknowledged checkpoint, failed
integrity_check, crash or other problem, printing them; the work folder is then
kept for inspection.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import fast_langgraph

from . import scenarios
from .harness import Outcome

KILL_CHUNK = 5  # kills per scenario per turn of the time-boxed rotation
FUZZER = Path(__file__).with_name("fuzz_decoder.py")

Runner = Callable[[Path, random.Random, int], Outcome]


def kill_scenarios() -> list[tuple[str, Runner, int]]:
    """(name, run(work, rng, kills), weight): puts and migration get twice the
    turns of each maintenance variant."""
    runs: list[tuple[str, Runner, int]] = [
        ("puts", lambda w, r, k: scenarios.kill_during_puts(w, r, kills=k), 2),
        ("migration", lambda w, r, k: scenarios.kill_during_migration(w, r, kills=k), 2),
    ]
    variants = [("cleanup", "saver"), ("cleanup", "cli"), ("prune", "saver")]
    variants += [("prune-delete", "saver"), ("vacuum", "saver"), ("vacuum", "cli")]
    variants += [("backup", "saver"), ("backup", "cli")]
    for op, via in variants:

        def run(w: Path, r: random.Random, k: int, op: str = op, via: str = via) -> Outcome:
            return scenarios.kill_during_maintenance(w, r, op=op, via=via, kills=k)

        runs.append((f"{op}-{via}", run, 1))
    return runs


class Report:
    def __init__(self) -> None:
        self.outcomes: dict[str, Outcome] = {}
        self.start = time.monotonic()
        self.fuzz_output = "not run (--fuzz-seconds 0)"
        self.fuzz_inputs: str | None = None
        self.fuzz_problem: str | None = None

    def add(self, outcome: Outcome) -> None:
        if outcome.scenario in self.outcomes:
            self.outcomes[outcome.scenario].add(outcome)
        else:
            self.outcomes[outcome.scenario] = outcome
        elapsed = time.monotonic() - self.start
        print(
            f"[{elapsed / 60:5.1f} min] {outcome.scenario}: {outcome.kills} kills, "
            f"{outcome.found}/{outcome.acknowledged} found, {len(outcome.problems)} problems",
            file=sys.stderr,
            flush=True,
        )

    @property
    def failed(self) -> bool:
        return self.fuzz_problem is not None or any(o.problems for o in self.outcomes.values())


def guarded(name: str, run: Callable[[], Outcome]) -> Outcome:
    """A scenario that raised (a child that never started, a harness bug) is a
    failed scenario in the table, not the end of the run."""
    try:
        return run()
    except Exception:
        outcome = Outcome(f"{name} (raised)")
        outcome.problems.append(traceback.format_exc(limit=5))
        return outcome


def run_fuzzer(seconds: float, report: Report) -> None:
    """tests/reliability/fuzz_decoder.py, when there, in its own process (a
    crash in native code must be reported, not take the soak down)."""
    if not FUZZER.exists():
        report.fuzz_output = f"{FUZZER.name} not present: no decoder fuzzing in this run"
        return
    package = __package__ or "reliability"
    root = Path(__file__).resolve().parents[len(package.split("."))]
    code = (
        f"import sys; sys.path.insert(0, {str(root)!r}); "
        f"from {package}.fuzz_decoder import main; sys.exit(main(sys.argv[1:]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, "--seconds", str(int(seconds))],
        capture_output=True,
        text=True,
        timeout=seconds + 600,
    )
    report.fuzz_output = (result.stdout + result.stderr).strip()
    found = re.search(r"([\d][\d,_]*)\s+(?:\w+\s+)?(?:inputs|cases|blobs|mutations)", result.stdout)
    report.fuzz_inputs = found.group(1) if found else None
    if result.returncode == 2:  # its way of saying the native codec is not installed
        report.fuzz_output = f"not run: {report.fuzz_output}"
    elif result.returncode != 0:
        report.fuzz_problem = f"{FUZZER.name} exited {result.returncode}"
    print(f"fuzz_decoder: exit {result.returncode}", file=sys.stderr, flush=True)


def table(report: Report) -> str:
    header = ("scenario", "runs", "kills", "missed", "acknowledged", "found", "lost")
    header += ("lock errors", "ENOSPC", "reads", "result")
    rows = [header]
    for o in report.outcomes.values():
        rows.append(
            (
                o.scenario,
                str(o.runs),
                str(o.kills),
                str(o.missed),
                str(o.acknowledged),
                str(o.found),
                str(o.lost),
                str(o.lock_errors),
                str(o.enospc),
                str(o.reads),
                "FAILED" if o.problems else "ok",
            )
        )
    total = Outcome("total")
    for o in report.outcomes.values():
        total.add(o)
    rows.append(
        (
            "total",
            str(total.runs),
            str(total.kills),
            str(total.missed),
            str(total.acknowledged),
            str(total.found),
            str(total.lost),
            str(total.lock_errors),
            str(total.enospc),
            str(total.reads),
            "FAILED" if total.problems else "ok",
        )
    )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for n, row in enumerate(rows):
        cells = [
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("| " + " | ".join(cells) + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def environment() -> str:
    engine = "compiled" if fast_langgraph.ENGINE_COMPILED else "interpreted"
    versions = ", ".join(
        f"{name} {metadata.version(name)}" for name in ("langgraph", "langgraph-checkpoint-sqlite")
    )
    return (
        f"fast-langgraph {fast_langgraph.__version__}: codec {fast_langgraph.__impl__}, "
        f"engine {engine}; Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}; "
        f"{versions}"
    )


def print_report(report: Report, seed: int, argv: list[str]) -> None:
    minutes = (time.monotonic() - report.start) / 60
    print()
    print(f"fast-langgraph reliability soak: {minutes:.1f} minutes, seed {seed}")
    print(f"  {environment()}")
    print(f"  python -m tests.reliability.soak {' '.join(argv)}")
    print()
    print(table(report))
    print()
    for o in report.outcomes.values():
        details = [f"{state}: {n}" for state, n in o.states.items()] + o.notes
        if details:
            print(f"{o.scenario}: {'; '.join(details)}")
    print()
    inputs = f" ({report.fuzz_inputs} inputs tried)" if report.fuzz_inputs else ""
    print(f"decoder fuzzing{inputs}:")
    for line in report.fuzz_output.splitlines():
        print(f"  {line}")
    problems = [(o.scenario, p) for o in report.outcomes.values() for p in o.problems]
    if report.fuzz_problem:
        problems.append(("decoder fuzzing", report.fuzz_problem))
    if problems:
        print()
        print(f"PROBLEMS ({len(problems)}):")
        for scenario, problem in problems:
            print(f"  {scenario}: {problem}")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="python -m tests.reliability.soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--minutes", type=float, help="time-box the whole run (overrides the counts)"
    )
    parser.add_argument("--puts-kills", type=int, default=100)
    parser.add_argument("--migration-kills", type=int, default=100)
    parser.add_argument(
        "--maintenance-kills", type=int, default=20, help="per operation and way in"
    )
    parser.add_argument("--concurrency-seconds", type=float, default=60.0)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--disk-full-rounds", type=int, default=3)
    parser.add_argument("--fuzz-seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--workdir", type=Path, default=None, help="default: a new temporary folder"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="fast-langgraph-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    report = Report()
    print(f"soak: {environment()}; seed {seed}; work folder {work}", file=sys.stderr, flush=True)

    concurrency = args.concurrency_seconds
    fuzz_seconds = args.fuzz_seconds
    if args.minutes is not None:
        concurrency = min(60.0, args.minutes * 60 * 0.05)
        fuzz_seconds = max(5.0, args.minutes * 60 * 0.05)
    deadline = time.monotonic() + (args.minutes or 0) * 60

    p, t = args.processes, args.threads
    if concurrency > 0:
        for theirs in (0, p // 2):
            report.add(
                guarded(
                    "concurrency",
                    lambda theirs=theirs: scenarios.concurrent_writers(
                        work,
                        rng,
                        processes=p,
                        threads=t,
                        seconds=concurrency,
                        sqlitesaver_processes=theirs,
                    ),
                )
            )
    if args.disk_full_rounds > 0:
        report.add(
            guarded(
                "disk full", lambda: scenarios.disk_full(work, rng, rounds=args.disk_full_rounds)
            )
        )
    if fuzz_seconds > 0:
        run_fuzzer(fuzz_seconds, report)
    if args.minutes is None:
        counts = {"puts": args.puts_kills, "migration": args.migration_kills}
        for name, run, _weight in kill_scenarios():
            kills = counts.get(name, args.maintenance_kills)
            if kills > 0:
                report.add(guarded(name, lambda run=run, kills=kills: run(work, rng, kills)))
    else:
        turns = kill_scenarios()
        while time.monotonic() < deadline and not report.failed:
            for name, run, weight in turns:
                if time.monotonic() >= deadline or report.failed:
                    break
                report.add(guarded(name, lambda run=run, k=KILL_CHUNK * weight: run(work, rng, k)))

    print_report(report, seed, argv)
    if report.failed:
        print(f"\nwork folder kept for inspection: {work}")
        return 1
    if not args.keep and args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
