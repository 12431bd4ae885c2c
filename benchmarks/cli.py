"""Command line: `python -m benchmarks [--smoke] [--out FILE] [--save FILE] [--compare FILE]`."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys

from benchmarks import report, runner
from benchmarks.contenders import BASELINE_WORKER, BEFORE_WORKER, DEFAULT_WORKERS, WORKER_IMPL

DEFAULT_OUT = os.path.join("docs", "benchmarks.md")


def _python_for(values: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for value in values:
        worker, separator, python = value.partition("=")
        if not separator or worker not in WORKER_IMPL or not python:
            raise argparse.ArgumentTypeError(
                f"--python-for expects WORKER=PYTHON with WORKER one of "
                f"{', '.join(WORKER_IMPL)}; got {value!r}"
            )
        mapping[worker] = python
    return mapping


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Side-by-side benchmark of fast-langgraph against langgraph's savers.",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes and counts: exercises every code path in seconds (for CI)",
    )
    parser.add_argument(
        "--out",
        default=None,
        help="write the markdown report here and the chart beside it as .png "
        f"(default: {DEFAULT_OUT} for a full run; smoke runs print to stdout)",
    )
    parser.add_argument("--save", default=None, help="save the results as JSON")
    parser.add_argument(
        "--compare", default=None, help="a saved results JSON to compare this run with"
    )
    parser.add_argument(
        "--render",
        default=None,
        metavar="RESULTS_JSON",
        help="measure nothing: write the report (and chart) of a saved run",
    )
    parser.add_argument(
        "--worker",
        action="append",
        choices=[name for name in WORKER_IMPL if name != BASELINE_WORKER],
        default=None,
        help="which of our workers to run besides langgraph's baseline (default: rust and "
        "python, whichever load, plus before when --python-for names it)",
    )
    parser.add_argument(
        "--python-for",
        action="append",
        default=[],
        metavar="WORKER=PYTHON",
        help="run that worker with this interpreter (e.g. before=/tmp/before-venv/bin/python, "
        "built by benchmarks/before.sh)",
    )
    parser.add_argument(
        "--phase",
        action="append",
        choices=list(runner.PHASES),
        default=None,
        help="run only these phases (default: all)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    python_for = _python_for(args.python_for)
    out = args.out or (None if args.smoke else os.path.join(runner.REPO_ROOT, DEFAULT_OUT))
    workers = list(args.worker or DEFAULT_WORKERS)
    if BEFORE_WORKER in python_for and BEFORE_WORKER not in workers:
        workers.append(BEFORE_WORKER)
    if BEFORE_WORKER in workers and BEFORE_WORKER not in python_for:
        raise SystemExit("--worker before needs --python-for before=PYTHON (benchmarks/before.sh)")
    command = "python -m benchmarks " + " ".join(
        shlex.quote(arg) for arg in (sys.argv[1:] if argv is None else argv)
    )
    baseline = None
    if args.compare:
        with open(args.compare) as saved:
            baseline = json.load(saved)
    if args.render:
        with open(args.render) as saved_run:
            results = json.load(saved_run)
    else:
        results = runner.run(
            runner.SMOKE if args.smoke else runner.FULL,
            workers,
            python_for,
            command.strip(),
            tuple(args.phase or runner.PHASES),
        )
    if args.save:
        os.makedirs(os.path.dirname(os.path.abspath(args.save)), exist_ok=True)
        with open(args.save, "w") as target:
            json.dump(results, target, indent=1)
        runner.log(f"results saved to {args.save}")
    if out:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    markdown = report.render(results, baseline, out)
    if out:
        with open(out, "w") as target:
            target.write(markdown)
        runner.log(f"report written to {out}")
    else:
        print(markdown)
    return 1 if results["errors"] else 0
