"""Our default layout against an earlier commit's, in many fresh processes.

`python -m benchmarks` runs one worker process per side for the whole run, so a
side's figures share that process's fate. On this machine the median of the same
call differs by up to 1.6x from one process to the next, in either build alike
(where the process's memory and CPU land): one process per side can show a change
of 20% that is not there. Here each side gets `--pairs` fresh worker processes,
started alternately (before, after; then after, before; ...), each measuring every
operation on our saver at its defaults (WAL, synchronous=NORMAL). A side's figure
is the median of its processes' medians; the ratio after ÷ before comes with the
range of the pairs' own ratios.

    benchmarks/before.sh COMMIT /tmp/before && benchmarks/before.sh WORKTREE /tmp/after
    /tmp/after-venv/bin/python -m benchmarks.before_after \\
        --before /tmp/before-venv/bin/python --after /tmp/after-venv/bin/python

writes its section of docs/benchmarks.md (`--out ''` prints it instead);
`python -m benchmarks` runs it as its phase `before_after` when given a before
worker (`--python-for before=...`), with this interpreter as after.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from typing import Any, Final

from benchmarks.contenders import OURS, contenders_of
from benchmarks.runner import REPO_ROOT, WorkerProcess
from benchmarks.sections import replace_section
from benchmarks.stats import milliseconds

SECTION_TITLE: Final = "## Default layout against before"
# The rows of "Ours against before" measured here; list(limit=10) gets a fifth of
# the calls (it reads ten checkpoints).
OPERATIONS: Final = ("put", "put_writes", "get_tuple_latest", "list_limit_10")
CALLS: Final = 200  # per operation per process
SIZE: Final = "35KB"
LIST_THREAD_LENGTH: Final = 100
# A side's figure may differ from the other's by this much and still match.
TOLERANCE: Final = 0.05


def _log(message: str) -> None:
    print(f"[before-after {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _calls(op: str, calls: int) -> int:
    return max(1, calls // 5) if op == "list_limit_10" else calls


def _one_process(python: str, workdir: str, calls: int) -> dict[str, Any]:
    """Medians (ms) of every operation in one fresh worker, and its commit."""
    worker = WorkerProcess("rust", python, "rust", workdir)
    try:
        hello = worker.request("hello")
        if hello["impl"] != "rust":
            raise SystemExit(f"{python} does not load the native codec: {hello.get('error')}")
        ours = next(c for c in contenders_of("rust", hello.get("commit")) if c.name == OURS)
        medians: dict[str, float] = {}
        for op in OPERATIONS:
            reps = _calls(op, calls)
            # A warm-up call set first, as in the full run's rounds.
            for warm in (True, False):
                samples = worker.request(
                    "operation",
                    kind=ours.kind,
                    is_async=False,
                    op=op,
                    size=SIZE,
                    reps=max(1, reps // 10) if warm else reps,
                    list_thread_length=LIST_THREAD_LENGTH,
                )
            medians[op] = statistics.median(milliseconds(samples))
        return {"commit": hello.get("commit"), "medians": medians}
    finally:
        worker.stop()


def measure(before: str, after: str, pairs: int, calls: int = CALLS) -> dict[str, Any]:
    """`pairs` processes of each python, alternately, `calls` per operation each."""
    sides: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="before-after-") as workdir:
        for pair in range(pairs):
            order = ("before", "after") if pair % 2 == 0 else ("after", "before")
            for side in order:
                python = before if side == "before" else after
                _log(f"pair {pair + 1} of {pairs}: {side}")
                sides[side].append(_one_process(python, workdir, calls))
    rows = []
    for op in OPERATIONS:
        befores = [one["medians"][op] for one in sides["before"]]
        afters = [one["medians"][op] for one in sides["after"]]
        pair_ratios = [a / b for a, b in zip(afters, befores, strict=True)]
        rows.append(
            {
                "op": op,
                "calls_per_process": _calls(op, calls),
                "before_ms": statistics.median(befores),
                "after_ms": statistics.median(afters),
                "before_range": [min(befores), max(befores)],
                "after_range": [min(afters), max(afters)],
                "ratio": statistics.median(afters) / statistics.median(befores),
                "pair_ratio_range": [min(pair_ratios), max(pair_ratios)],
            }
        )
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        # A build from a working tree has no commit.
        "commits": {side: runs[0]["commit"] or "the working tree" for side, runs in sides.items()},
        "pairs": pairs,
        "size": SIZE,
        "load_before": round(load, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "rows": rows,
    }


def render_section(data: dict[str, Any] | None) -> list[str]:
    if not data:
        return []
    if "error" in data:
        return [SECTION_TITLE, "", f"Not measured: {data['error']}", ""]
    commits = data["commits"]
    lines = [
        SECTION_TITLE,
        "",
        f"{data['date']}; `{data['command']}`, {data['seconds']:.0f} s; load average "
        f"{data['load_before']} before, {data['load_after']} after.",
        "",
        f"Our saver at its defaults (WAL, synchronous=NORMAL, native codec), {data['size']} "
        f"states, on before = {commits['before']} and after = {commits['after']}: "
        f"{data['pairs']} fresh worker processes per side, started alternately. A side's "
        "figure is the median of its processes' medians (their range beside it); a ratio "
        "below 1 is faster after. Why: `benchmarks/before_after.py`.",
        "",
        "| operation | before, ms | after, ms | after ÷ before | pairs' ratios | within "
        f"{TOLERANCE:.0%} |",
        "|---|---|---|---|---|---|",
    ]
    for row in data["rows"]:
        low, high = row["pair_ratio_range"]
        within = "yes" if row["ratio"] <= 1 + TOLERANCE else "**no**"
        lines.append(
            f"| {row['op']} | {row['before_ms']:.3f} ({row['before_range'][0]:.3f} to "
            f"{row['before_range'][1]:.3f}) | {row['after_ms']:.3f} ({row['after_range'][0]:.3f} to "
            f"{row['after_range'][1]:.3f}) | {row['ratio']:.2f} | {low:.2f}-{high:.2f} | "
            f"{within} |"
        )
    lines.append("")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.before_after",
        description="Our default layout against an earlier build, in many fresh processes.",
    )
    parser.add_argument("--before", required=True, help="the earlier build's python")
    parser.add_argument("--after", default=sys.executable, help="this build's python")
    parser.add_argument("--pairs", type=int, default=8, help="processes per side (default 8)")
    parser.add_argument(
        "--calls", type=int, default=CALLS, help=f"calls per operation per process ({CALLS})"
    )
    parser.add_argument(
        "--out",
        default=os.path.join(REPO_ROOT, "docs", "benchmarks.md"),
        help="the report whose section to replace ('' prints the section)",
    )
    parser.add_argument("--save", default=None, help="save the results as JSON")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    data = measure(args.before, args.after, args.pairs, args.calls)
    data["seconds"] = round(time.perf_counter() - started, 1)
    data["command"] = "python -m benchmarks.before_after " + " ".join(
        shlex.quote(arg) for arg in (sys.argv[1:] if argv is None else argv)
    )
    if args.save:
        with open(args.save, "w") as target:
            json.dump(data, target, indent=1)
    section = "\n".join(render_section(data))
    if not args.out:
        print(section)
        return 0
    existing = ""
    if os.path.exists(args.out):
        with open(args.out) as current:
            existing = current.read()
    with open(args.out, "w") as target:
        target.write(
            replace_section(existing, SECTION_TITLE, section, after="## At equal durability")
        )
    _log(f"section written into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
