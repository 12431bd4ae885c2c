"""Our saver against an earlier build of it, in paired short batches.

This machine's speed wanders: the median of the same call, in one process,
moves between about 0.12 and 0.20 ms from one second to the next. A comparison
of two medians each pooled over several seconds then shows differences of 20% or
more that neither build causes. Here a worker process of each build runs the
same operation in short batches, back to back (before, after; then after,
before; ...), so each pair of batches meets the same machine; the ratio after ÷
before is taken per pair, and the figure is the median of those ratios, with
their quartiles. `--pairs` pairs of fresh processes do it in turn, so no one
process's luck decides. Our saver at its defaults (WAL, synchronous=NORMAL) and
with durability="full", 35 KB states, the native codec (`--codec python` for the
Python one).

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

from benchmarks.contenders import OURS, OURS_FULL, RUST_WORKER, contenders_of
from benchmarks.runner import REPO_ROOT, WorkerError, WorkerProcess
from benchmarks.sections import replace_section
from benchmarks.stats import milliseconds

SECTION_TITLE: Final = "## Default layout against before"
# The rows of "Ours against before" measured here; list(limit=10) gets a fifth of
# the calls per batch (it reads ten checkpoints).
OPERATIONS: Final = ("put", "put_writes", "get_tuple_latest", "list_limit_10")
BATCH: Final = 20  # calls per batch
ROUNDS: Final = 25  # batch pairs per operation per pair of processes
# Our saver at its defaults (NORMAL) and at durability="full", as in "Ours against before".
SAVERS: Final = (OURS, OURS_FULL)
SIZE: Final = "35KB"
LIST_THREAD_LENGTH: Final = 100
# After may be this much slower than before and still match.
TOLERANCE: Final = 0.05
SIDES: Final = ("before", "after")
CODEC_NAMES: Final = {"rust": "native", "python": "Python"}


def _log(message: str) -> None:
    print(f"[before-after {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _calls(op: str, batch: int) -> int:
    return max(1, batch // 5) if op == "list_limit_10" else batch


class _Side:
    """One build's worker process, on `codec`, and the kind of each of our
    savers in it."""

    def __init__(self, name: str, python: str, codec: str, workdir: str) -> None:
        self.worker = WorkerProcess(name, python, codec, workdir)
        hello = self.worker.request("hello")
        if hello["impl"] != codec:
            self.worker.stop()
            raise WorkerError(
                f"{python} does not run our saver on the {codec} codec: "
                f"{hello.get('error') or hello['impl']}"
            )
        self.commit: str | None = hello.get("commit")
        # "ours" and "ours (full)" open the same way in any of our workers.
        self.kinds = {c.name: c.kind for c in contenders_of(RUST_WORKER, self.commit)}

    def batch(self, saver: str, op: str, calls: int) -> float:
        """The median ms of `calls` calls of `op`."""
        samples = self.worker.request(
            "operation",
            kind=self.kinds[saver],
            is_async=False,
            op=op,
            size=SIZE,
            reps=calls,
            list_thread_length=LIST_THREAD_LENGTH,
        )
        return statistics.median(milliseconds(samples))


def measure(
    before: str,
    after: str,
    pairs: int,
    rounds: int = ROUNDS,
    batch: int = BATCH,
    codec: str = "rust",
) -> dict[str, Any]:
    """`pairs` pairs of fresh processes, `rounds` batch pairs of every operation each,
    our saver on `codec` ("rust" or "python") in both builds."""
    pythons = {"before": before, "after": after}
    ms: dict[str, dict[str, list[float]]] = {}
    ratios: dict[str, list[float]] = {}
    commits: dict[str, str | None] = {}
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="before-after-") as workdir:
        for pair in range(pairs):
            _log(f"processes {pair + 1} of {pairs}")
            sides = {side: _Side(side, pythons[side], codec, workdir) for side in SIDES}
            try:
                commits = {side: sides[side].commit for side in SIDES}
                for saver in SAVERS:
                    for op in OPERATIONS:
                        key = f"{saver}/{op}"
                        calls = _calls(op, batch)
                        for side in SIDES:  # warm-up, not counted
                            sides[side].batch(saver, op, calls)
                        for round_index in range(rounds):
                            order = SIDES if round_index % 2 == 0 else SIDES[::-1]
                            got = {side: sides[side].batch(saver, op, calls) for side in order}
                            for side in SIDES:
                                ms.setdefault(key, {}).setdefault(side, []).append(got[side])
                            ratios.setdefault(key, []).append(got["after"] / got["before"])
            finally:
                for side in sides.values():
                    side.worker.stop()
    rows = []
    for saver in SAVERS:
        for op in OPERATIONS:
            key = f"{saver}/{op}"
            quartiles = statistics.quantiles(ratios[key], n=4)
            rows.append(
                {
                    "saver": saver,
                    "op": op,
                    "batches": len(ratios[key]),
                    "calls_per_batch": _calls(op, batch),
                    "before_ms": statistics.median(ms[key]["before"]),
                    "after_ms": statistics.median(ms[key]["after"]),
                    "ratio": statistics.median(ratios[key]),
                    "ratio_quartiles": [quartiles[0], quartiles[2]],
                }
            )
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commits": {side: _short(commit) for side, commit in commits.items()},
        "codec": codec,
        "pairs": pairs,
        "rounds": rounds,
        "size": SIZE,
        "load_before": round(load, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "rows": rows,
    }


def _short(commit: str | None) -> str:
    """ "fb5b7ae" for a commit, "fb5b7ae+worktree" for a tree built on it."""
    if not commit:
        return "the working tree"
    sha, plus, rest = commit.partition("+")
    return sha[:7] + plus + rest


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
        f'`{OURS}` (WAL, synchronous=NORMAL) and `{OURS_FULL}` (durability="full"), '
        f"{CODEC_NAMES[data['codec']]} codec, {data['size']} states, before = {commits['before']} and after = "
        f"{commits['after']}: a worker process of each build runs the same operation in short "
        f"batches back to back, {data['rounds']} batch pairs per operation, in "
        f"{data['pairs']} pairs of fresh processes. The ratio after ÷ before is taken per "
        "batch pair (the machine's speed wanders from second to second; a pair meets the "
        "same machine), and its median is shown with its quartiles; below 1 is faster "
        "after. The milliseconds are the medians of the batches' medians. Why: "
        "`benchmarks/before_after.py`.",
        "",
        "| saver | operation | before, ms | after, ms | after ÷ before | quartiles | "
        f"within {TOLERANCE:.0%} |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in data["rows"]:
        low, high = row["ratio_quartiles"]
        within = "yes" if row["ratio"] <= 1 + TOLERANCE else "**no**"
        lines.append(
            f"| `{row['saver']}` | {row['op']} | {row['before_ms']:.3f} | "
            f"{row['after_ms']:.3f} | {row['ratio']:.2f} | {low:.2f}-{high:.2f} | {within} |"
        )
    lines.append("")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.before_after",
        description="Our saver against an earlier build of it, in paired short batches.",
    )
    parser.add_argument("--before", required=True, help="the earlier build's python")
    parser.add_argument("--after", default=sys.executable, help="this build's python")
    parser.add_argument(
        "--pairs", type=int, default=2, help="pairs of fresh processes, in turn (default 2)"
    )
    parser.add_argument(
        "--rounds", type=int, default=ROUNDS, help=f"batch pairs per operation ({ROUNDS})"
    )
    parser.add_argument("--batch", type=int, default=BATCH, help=f"calls per batch ({BATCH})")
    parser.add_argument(
        "--codec", choices=tuple(CODEC_NAMES), default="rust", help="our codec (default rust)"
    )
    parser.add_argument(
        "--out",
        default=os.path.join(REPO_ROOT, "docs", "benchmarks.md"),
        help="the report whose section to replace ('' prints the section)",
    )
    parser.add_argument("--save", default=None, help="save the results as JSON")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    data = measure(args.before, args.after, args.pairs, args.rounds, args.batch, args.codec)
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
