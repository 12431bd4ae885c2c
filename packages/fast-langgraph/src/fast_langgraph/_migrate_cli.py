"""`fast-langgraph migrate SRC DEST`: `fast_langgraph.migrate` on the command line.

    fast-langgraph migrate checkpoints.db postgresql://app@db/app     SQLite -> PostgreSQL
    fast-langgraph migrate postgresql://app@db/app back.db            PostgreSQL -> SQLite

Registered by `cli.build_parser`; `fast_langgraph.migrate` (which needs the
`postgres` extra) is imported only when the command runs, so the other
commands work without psycopg.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fast_langgraph.cli import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    CLIError,
    Progress,
    StopOnInterrupt,
    _print_error,
)

if TYPE_CHECKING:
    from fast_langgraph.migrate import MigrationReport

HELP = (
    "copy checkpoints between a SQLite file and PostgreSQL (langgraph's PostgresSaver "
    "schema), either way: the side given as a postgresql:// URL decides the direction"
)


def register_migrate(command: Callable[[str, Any, str], argparse.ArgumentParser]) -> None:
    """Add the `migrate` subcommand through cli.build_parser's `command` helper."""
    sub = command("migrate", cmd_migrate, HELP)
    sub.add_argument("src", metavar="SRC", help="a SQLite checkpoint file or a postgresql:// URL")
    sub.add_argument(
        "dest",
        metavar="DEST",
        help="a postgresql:// URL (tables made by PostgresSaver.setup() if missing) "
        "or a SQLite file (created if missing)",
    )
    sub.add_argument(
        "--thread",
        action="append",
        dest="threads",
        metavar="THREAD",
        help="copy only this thread (repeat for more); default: every thread",
    )
    sub.add_argument(
        "--dry-run",
        action="store_true",
        help="count what would be copied and check the target; write nothing",
    )
    sub.add_argument(
        "--batch-size",
        type=int,
        default=None,
        metavar="N",
        help="checkpoints per transaction (default 500); Ctrl-C stops after the current one",
    )
    sub.add_argument(
        "--sample",
        type=int,
        default=None,
        metavar="N",
        help="checkpoints read back through both savers to verify (default 20)",
    )
    sub.add_argument("--no-verify", action="store_true", help="skip the verification at the end")
    sub.add_argument(
        "--pickle-fallback",
        action="store_true",
        help="read values the application pickled (JsonPlusSerializer(pickle_fallback=True))",
    )


def _emit(args: argparse.Namespace, report: MigrationReport, lines: list[str]) -> None:
    if args.json:
        json.dump(report.to_dict(), sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        for line in lines:
            print(line)


def cmd_migrate(args: argparse.Namespace) -> int:
    try:
        from fast_langgraph import migrate as migration
    except ImportError as exc:
        raise CLIError(str(exc), "bad_argument") from None
    from fast_langgraph.serde import JsonPlusSerializer

    options: dict[str, Any] = {}
    if args.batch_size is not None:
        if args.batch_size < 1:
            raise CLIError(f"--batch-size must be at least 1, got {args.batch_size}")
        options["batch_size"] = args.batch_size
    if args.sample is not None:
        if args.sample < 0:
            raise CLIError(f"--sample must be 0 or more, got {args.sample}")
        options["sample"] = args.sample
    if args.pickle_fallback:
        options["serde"] = JsonPlusSerializer(pickle_fallback=True)
    with (
        Progress("migrating checkpoints", bar=True, rate=True) as progress,
        StopOnInterrupt() as stop,
    ):

        def on_batch(report: MigrationReport) -> None:
            # Called after each committed batch: a stop here loses nothing.
            progress.update(
                report.done_checkpoints,
                report.checkpoints,
                f"{report.checkpoints_per_second:,.0f}/s",
            )
            if stop.requested:
                raise KeyboardInterrupt

        try:
            report = migration.migrate(
                args.src,
                args.dest,
                threads=args.threads,
                dry_run=args.dry_run,
                verify=not args.no_verify,
                progress=on_batch,
                **options,
            )
        except migration.MigrationInterrupted as exc:
            report = exc.report
        except migration.MigrationError as exc:
            raise CLIError(str(exc), exc.kind) from None
    if report.interrupted:
        if args.json:
            _emit(args, report, [])
        _print_error(
            args.json,
            f"interrupted: copied {report.copied_checkpoints} checkpoints and "
            f"{report.copied_writes} writes ({report.done_checkpoints} of {report.checkpoints} "
            f"checkpoints done) before stopping; {report.target} is consistent, run the same "
            "command again to finish",
            "interrupted",
            prefix="",
        )
        return EXIT_INTERRUPTED
    lines = [report.summary()]
    lines += [f"warning: {w}" for w in report.warnings]
    lines += [f"mismatch: {m}" for m in report.mismatches]
    _emit(args, report, lines)
    if not report.ok:
        raise CLIError(
            f"verification failed: {len(report.mismatches)} mismatches (in the report); the "
            "copy is kept: inspect it, or delete those threads from the target and run again",
            "verification_failed",
        )
    return EXIT_OK
