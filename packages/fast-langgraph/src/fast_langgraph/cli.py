"""The `fast-langgraph` console script: inspect and maintain a checkpoint database.

    fast-langgraph threads DB                      threads, newest activity first
    fast-langgraph history DB THREAD               a thread's checkpoints, newest first
    fast-langgraph show DB THREAD [CHECKPOINT]     the state at a checkpoint
    fast-langgraph diff DB THREAD A B              what changed from checkpoint A to B
    fast-langgraph stats DB                        counts and sizes, largest threads
    fast-langgraph cleanup DB --older-than 30d     delete old checkpoints (asks first; --yes)
    fast-langgraph vacuum DB                       give freed space back to the disk
    fast-langgraph backup DB TARGET                online copy of a live database
    fast-langgraph convert DB DEST --to compact    the other storage layout (or sqlitesaver)
    fast-langgraph bench                           a quick benchmark against SqliteSaver
    fast-langgraph migrate SRC DEST                copy to or from PostgreSQL (PostgresSaver)

Every command takes --json for machine-readable output on stdout. Read commands
open the database read-only and never write to it (nor leave -wal/-shm files
beside a file that had none). Works on files written by langgraph's SqliteSaver
too. Times carry their time zone (UTC). Errors are one line on stderr and exit
code 1 (2 for a malformed command line); with --json that line is one JSON
object, {"error": message, "kind": ERROR_KINDS key}. Ctrl-C exits 130. Progress
(rich) is drawn on stderr, only when it is a terminal.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import enum
import errno
import json
import logging
import math
import os
import re
import shlex
import signal
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime, timedelta, timezone
from datetime import time as dtime
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Final, NoReturn, TextIO
from uuid import UUID

from langchain_core.messages import BaseMessage
from langgraph.checkpoint.base import CheckpointTuple
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    ProgressColumn,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.progress import Progress as RichProgress

from fast_langgraph import _atomic, _bench
from fast_langgraph._version import __version__
from fast_langgraph.saver import RustSQLiteCheckpointer
from fast_langgraph_pure import storage
from fast_langgraph_pure.engine import CLEANUP_BATCH_SIZE
from fast_langgraph_pure.protocol import CleanupCounts
from fast_langgraph_pure.storage import created_at_from_checkpoint_id

EXIT_OK: Final = 0
EXIT_ERROR: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130

# The `kind` of an error, as --json prints it: {"error": message, "kind": kind}.
ERROR_KINDS: Final = {
    "usage": "a malformed command line (exit 2)",
    "bad_argument": "a value the command refuses (a bad duration, --batch-size 0, ...)",
    "not_found": "the database file does not exist, or is not a file",
    "not_a_database": "the file is not a SQLite database",
    "not_a_checkpoint_database": "a SQLite database without checkpoint tables",
    "cannot_open": "SQLite cannot open the file (permissions, read-only media, ...)",
    "database": "any other SQLite error",
    "unknown_thread": "no such thread in the database",
    "unknown_checkpoint": "no such checkpoint (or not in that namespace)",
    "target_exists": "the backup or convert target exists and --force was not given",
    "cannot_write": "the backup target cannot be written",
    "busy": "another backup is writing the same target",
    "confirmation_required": "cleanup would delete without --yes, and stdin is not a terminal",
    "cancelled": "cleanup was not confirmed; nothing was deleted",
    "interrupted": "Ctrl-C (exit 130)",
    "internal": "an unexpected failure",
    # migrate (fast_langgraph.migrate.ERROR_KINDS has its other kinds above):
    "cannot_connect": "PostgreSQL cannot be reached, or refuses the user or database",
    "target_differs": "the target holds some of the threads with rows the source has not",
    "cannot_convert": "a checkpoint the serializer cannot read, or PostgreSQL cannot store",
    "verification_failed": "the migrated copy does not read back the same",
}
# What a backup is written to before it is renamed to its target.
BACKUP_PARTIAL_SUFFIX: Final = _atomic.PARTIAL_SUFFIX

DURATION_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION_PART: Final = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_DURATION_WHOLE: Final = re.compile(r"(?:\d+(?:\.\d+)?[smhdw])+")

# LangChain message types as the chat roles people know.
MESSAGE_ROLES: Final = {"human": "user", "ai": "assistant"}
# Channels LangGraph keeps for its own bookkeeping; shown with --all.
INTERNAL_CHANNEL_PREFIXES: Final = ("__", "branch:")


class CLIError(Exception):
    """A failure explained to the user in one line (no traceback); `kind` (a key
    of ERROR_KINDS) names it for --json."""

    def __init__(self, message: str, kind: str = "bad_argument") -> None:
        super().__init__(message)
        self.kind = kind


class UsageError(Exception):
    """argparse's complaint about the command line, raised instead of printed so
    that --json can print it as JSON."""

    def __init__(self, message: str, prog: str, usage: str) -> None:
        super().__init__(message)
        self.prog = prog
        self.usage = usage


class ArgumentParser(argparse.ArgumentParser):
    """argparse, raising UsageError where it would print and exit (its
    subcommand parsers are of this class too)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, self.prog, self.format_usage())


# -- durations ---------------------------------------------------------------------


def parse_duration(text: str) -> timedelta:
    """'30d', '12h', '90m', '45s', '2w', '1.5h' or combinations such as '1d12h'."""
    compact = text.strip().lower().replace(" ", "")
    if not _DURATION_WHOLE.fullmatch(compact):
        raise CLIError(
            f"bad duration {text!r}: use a number and a unit (s, m, h, d or w), "
            "e.g. 30d, 12h or 1d12h"
        )
    seconds = sum(
        float(number) * DURATION_UNITS[unit] for number, unit in _DURATION_PART.findall(compact)
    )
    return timedelta(seconds=seconds)


# -- turning state into something readable -----------------------------------------


def message_view(message: BaseMessage) -> dict[str, Any]:
    """A message as role and text (plus tool calls, which carry no text)."""
    role = getattr(message, "role", None) or MESSAGE_ROLES.get(message.type, message.type)
    view: dict[str, Any] = {"role": str(role), "text": str(message.text)}
    tool_calls = getattr(message, "tool_calls", None)
    if tool_calls:
        view["tool_calls"] = [
            {"name": call.get("name"), "args": to_jsonable(call.get("args"))} for call in tool_calls
        ]
    return view


def to_jsonable(value: Any) -> Any:
    """Any channel value as plain JSON data: messages as role and text,
    models and dataclasses as their fields, anything else unknown as its str()."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, BaseMessage):
        return message_view(value)
    if isinstance(value, Mapping):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(item) for item in value]
    if isinstance(value, (bytes, bytearray)):
        return {"base64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, (datetime, date, dtime)):
        return value.isoformat()
    if isinstance(value, (UUID, timedelta)):
        return str(value)
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return to_jsonable(fields)
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump):
        try:
            return to_jsonable(model_dump())
        except Exception:
            pass
    return str(value)


def is_internal_channel(name: str) -> bool:
    return name.startswith(INTERNAL_CHANNEL_PREFIXES)


def channel_values(checkpoint: Mapping[str, Any], include_internal: bool) -> dict[str, Any]:
    values = checkpoint.get("channel_values") or {}
    return {
        name: to_jsonable(value)
        for name, value in sorted(values.items())
        if include_internal or not is_internal_channel(name)
    }


def _is_message_view(value: Any) -> bool:
    return isinstance(value, dict) and set(value) >= {"role", "text"} and len(value) <= 3


def _format_value(value: Any, indent: str) -> list[str]:
    """Lines for one channel value: a list of messages one per line, else JSON."""
    if isinstance(value, list) and value and all(_is_message_view(v) for v in value):
        return [f"{indent}{_format_message(v)}" for v in value]
    text = json.dumps(value, ensure_ascii=False, indent=2)
    return [f"{indent}{line}" for line in text.splitlines()]


def _format_message(view: Mapping[str, Any]) -> str:
    line = f"{view['role']}: {view['text']}"
    for call in view.get("tool_calls", ()):
        line += f" [tool call {call['name']}({json.dumps(call['args'], ensure_ascii=False)})]"
    return line


# -- output helpers ---------------------------------------------------------------


def human_bytes(size: int) -> str:
    amount = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if amount < 1024 or unit == "GB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    raise AssertionError("unreachable")


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for row in cells:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return lines


def _emit(args: argparse.Namespace, data: Any, lines: Sequence[str]) -> None:
    if args.json:
        json.dump(data, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        for line in lines:
            print(line)


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except ValueError:  # a closed stream
        return False


class Progress:
    """Progress on stderr, drawn by rich, only when stderr is a terminal (never
    in a pipe or a log, whatever FORCE_COLOR says).

    With a total (or `bar`, for a total `update` gives later) it draws a bar
    with done/total; otherwise a spinner with the elapsed time (and the count
    so far, when `advance` is called); `rate` adds a column `update` fills
    (e.g. "1,200/s"). The line is cleared at the end.
    """

    def __init__(
        self,
        label: str,
        total: int | None = None,
        stream: TextIO | None = None,
        unit: str = "",
        bar: bool = False,
        rate: bool = False,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = _is_terminal(self.stream)
        columns: list[ProgressColumn] = [SpinnerColumn(), TextColumn("{task.description}")]
        if bar or total is not None:
            columns += [BarColumn(), MofNCompleteColumn()]
        elif unit:
            columns.append(TextColumn(f"{{task.completed:.0f}} {unit}"))
        if rate:
            columns.append(TextColumn("{task.fields[rate]}"))
        columns.append(TimeElapsedColumn())
        self._bar = RichProgress(
            *columns,
            console=Console(file=self.stream, force_terminal=self.enabled),
            transient=True,
            disable=not self.enabled,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._task = self._bar.add_task(label, total=total, rate="")

    def __enter__(self) -> Progress:
        self._bar.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._bar.stop()

    def advance(self, count: int = 1) -> None:
        self._bar.advance(self._task, count)

    def update(self, completed: int, total: int | None = None, rate: str = "") -> None:
        self._bar.update(self._task, completed=completed, total=total, rate=rate)


class StopOnInterrupt:
    """While active (in the main thread), a first Ctrl-C only sets `requested`,
    for the work to stop at its next safe point; a second one interrupts at once
    (KeyboardInterrupt). The previous SIGINT handler is restored on exit."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.requested = False
        self._stream = stream if stream is not None else sys.stderr
        self._previous: Any = None
        self._installed = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self._stream.write(
            "fast-langgraph: stopping after the current batch (Ctrl-C again to stop at once)\n"
        )
        self._stream.flush()

    def __enter__(self) -> StopOnInterrupt:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._installed:
            # None: a handler not installed from Python; the default is the safe choice.
            previous = self._previous if self._previous is not None else signal.default_int_handler
            signal.signal(signal.SIGINT, previous)
            self._installed = False


# -- times ------------------------------------------------------------------------

# checkpoints.created_at: UTC text with milliseconds, e.g. '2025-05-04 06:32:42.235'.
_CREATED_AT_FORMATS: Final = ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S")


def stored_time(created_at: str | None) -> datetime | None:
    """A `created_at` value (UTC, stored without zone) as an aware datetime."""
    if not created_at:
        return None
    for layout in _CREATED_AT_FORMATS:
        try:
            return datetime.strptime(created_at, layout).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    return None


def checkpoint_time(ts: Any) -> datetime | None:
    """A checkpoint's `ts` (ISO 8601, written by LangGraph in UTC) as an aware
    datetime; one without an offset is taken as UTC, as LangGraph writes it."""
    if not isinstance(ts, str) or not ts:
        return None
    try:
        moment = datetime.fromisoformat(ts)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def human_time(moment: datetime | None) -> str:
    """'2026-12-02 05:32:44.123 UTC', or '-'."""
    if moment is None:
        return "-"
    utc = moment.astimezone(timezone.utc)
    return f"{utc:%Y-%m-%d %H:%M:%S}.{utc.microsecond // 1000:03d} UTC"


def iso_time(moment: datetime | None) -> str | None:
    """ISO 8601 with its offset, e.g. '2026-12-02T05:32:44.123+00:00', or None."""
    if moment is None:
        return None
    whole_milliseconds = moment.microsecond % 1000 == 0
    return moment.isoformat(timespec="milliseconds" if whole_milliseconds else "microseconds")


def _thread_time(thread: Mapping[str, Any]) -> datetime | None:
    """When a thread last changed: its newest `created_at` or, in a file that has
    none (written only by SqliteSaver), the time in its newest uuid6 id."""
    moment = stored_time(thread.get("latest_created_at"))
    if moment is None and thread.get("latest_checkpoint_id"):
        moment = stored_time(created_at_from_checkpoint_id(str(thread["latest_checkpoint_id"])))
    return moment


def _thread_view(thread: Mapping[str, Any]) -> dict[str, Any]:
    """A thread of `stats()` with `latest_created_at` as ISO 8601 with offset."""
    return {**thread, "latest_created_at": iso_time(_thread_time(thread))}


# -- opening the database ---------------------------------------------------------


def _existing_file(path: str) -> str:
    if not os.path.exists(path):
        raise CLIError(f"no such database file: {path}", "not_found")
    if not os.path.isfile(path):
        raise CLIError(f"not a file: {path}", "not_found")
    return path


_WAL_SUFFIXES: Final = ("-wal", "-shm")


@contextlib.contextmanager
def open_read_only(path: str) -> Iterator[RustSQLiteCheckpointer]:
    """The saver on `path` without any right to write to it; afterwards the
    -wal and -shm files are gone again if the file had none before."""
    _existing_file(path)
    had_wal_files = any(os.path.lexists(path + suffix) for suffix in _WAL_SUFFIXES)
    try:
        with RustSQLiteCheckpointer(path, read_only=True) as saver:
            yield saver
    finally:
        if not had_wal_files:
            _remove_wal_files(path)


def _remove_wal_files(path: str) -> None:
    """Have SQLite remove the -wal and -shm files that reading a WAL database
    creates, which a read-only connection cannot remove when it closes.

    The last connection to close a WAL database checkpoints it and deletes both;
    with an empty WAL that checkpoint writes nothing (the file keeps its bytes
    and its mtime). SQLite decides whether it is the last one, so a process
    that opened the file meanwhile keeps its files. Skipped when the -wal holds
    frames (someone wrote meanwhile: theirs to checkpoint) or a rollback journal
    is beside the file; a file we cannot write keeps them (best effort)."""
    if os.path.lexists(path + "-journal"):
        return
    if not any(os.path.lexists(path + suffix) for suffix in _WAL_SUFFIXES):
        return
    with contextlib.suppress(FileNotFoundError):
        if os.path.getsize(path + "-wal") > 0:
            return
    uri = Path(path).absolute().as_uri() + "?mode=rw"  # never creates the file
    with contextlib.suppress(sqlite3.Error):
        conn = sqlite3.connect(uri, uri=True)
        try:
            storage.configure_reader(conn)  # query_only: this connection never writes
            storage.user_version(conn)  # a first read, which opens the WAL
        finally:
            conn.close()


def open_writable(path: str) -> AbstractContextManager[RustSQLiteCheckpointer]:
    """The saver on an existing checkpoint database (never on another SQLite file,
    which opening writable would fill with our tables)."""
    with open_read_only(path) as probe:
        probe.stats(0)  # fails with "no such table" on a file that is not ours
    return RustSQLiteCheckpointer(path)


def _file_size(path: str) -> int:
    """The database file plus its WAL, measured from outside SQLite."""
    return sum(os.path.getsize(p) for p in (path, f"{path}-wal") if os.path.exists(p))


def _latest_first(threads: list[Any]) -> list[Any]:
    # uuid6 checkpoint ids sort by time, so the greatest id is the latest
    # activity, also in SqliteSaver files that have no created_at column.
    return sorted(threads, key=lambda t: t["latest_checkpoint_id"] or "", reverse=True)


def _thread_config(thread_id: str, ns: str | None, checkpoint_id: str | None = None) -> Any:
    configurable: dict[str, Any] = {"thread_id": thread_id}
    if ns is not None:
        configurable["checkpoint_ns"] = ns
    if checkpoint_id is not None:
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable}


def _get_checkpoint(
    saver: RustSQLiteCheckpointer, thread_id: str, ns: str, checkpoint_id: str | None
) -> CheckpointTuple:
    found = saver.get_tuple(_thread_config(thread_id, ns, checkpoint_id))
    if found is not None:
        return found
    if next(saver.list(_thread_config(thread_id, None), limit=1), None) is None:
        raise CLIError(f"unknown thread {thread_id!r}", "unknown_thread")
    if checkpoint_id is None:
        raise CLIError(
            f"thread {thread_id!r} has no checkpoint in namespace {ns!r}; "
            "`fast-langgraph history DB THREAD` lists its namespaces",
            "unknown_checkpoint",
        )
    # The id may be in another namespace of the thread (a subgraph's): say which.
    elsewhere = next(saver.list(_thread_config(thread_id, None, checkpoint_id), limit=1), None)
    if elsewhere is not None:
        other = str(elsewhere.config["configurable"].get("checkpoint_ns", ""))
        raise CLIError(
            f"checkpoint {checkpoint_id!r} of thread {thread_id!r} is in namespace "
            f"{other!r}, not {ns!r}: pass --ns {shlex.quote(other)}",
            "unknown_checkpoint",
        )
    raise CLIError(
        f"unknown checkpoint {checkpoint_id!r} in thread {thread_id!r}", "unknown_checkpoint"
    )


def _checkpoint_header(found: CheckpointTuple) -> dict[str, Any]:
    configurable = found.config["configurable"]
    parent = found.parent_config["configurable"]["checkpoint_id"] if found.parent_config else None
    return {
        "thread_id": configurable["thread_id"],
        "checkpoint_ns": configurable.get("checkpoint_ns", ""),
        "checkpoint_id": configurable["checkpoint_id"],
        "parent_checkpoint_id": parent,
        "ts": iso_time(checkpoint_time(found.checkpoint.get("ts"))),
        "step": found.metadata.get("step"),
        "source": found.metadata.get("source"),
    }


# -- commands -----------------------------------------------------------------------


def cmd_threads(args: argparse.Namespace) -> int:
    with open_read_only(args.db) as saver, Progress("reading threads"):
        threads = _latest_first(saver.stats(-1)["largest_threads"])
    rows = [
        (
            t["thread_id"],
            t["checkpoints"],
            t["writes"],
            human_bytes(t["bytes"]),
            human_time(_thread_time(t)),
            t["latest_checkpoint_id"] or "-",
        )
        for t in threads
    ]
    threads = [_thread_view(t) for t in threads]
    lines = _table(
        ("THREAD", "CHECKPOINTS", "WRITES", "SIZE", "LAST CHECKPOINT AT", "LAST CHECKPOINT"), rows
    )
    _emit(args, threads, lines if threads else ["no threads"])
    return EXIT_OK


def cmd_history(args: argparse.Namespace) -> int:
    entries: list[dict[str, Any]] = []
    with (
        open_read_only(args.db) as saver,
        Progress("reading checkpoints", unit="checkpoints") as progress,
    ):
        for found in saver.list(_thread_config(args.thread, args.ns), limit=args.limit):
            entry = _checkpoint_header(found)
            entry["pending_writes"] = len(found.pending_writes or ())
            entries.append(entry)
            progress.advance()
    if not entries:
        raise CLIError(f"unknown thread {args.thread!r}", "unknown_thread")
    show_ns = any(e["checkpoint_ns"] for e in entries)
    headers = [
        "CHECKPOINT",
        *(["NAMESPACE"] if show_ns else []),
        "STEP",
        "SOURCE",
        "TIME",
        "WRITES",
    ]
    rows = [
        (
            e["checkpoint_id"],
            *([e["checkpoint_ns"] or "-"] if show_ns else []),
            "-" if e["step"] is None else e["step"],
            e["source"] or "-",
            human_time(checkpoint_time(e["ts"])),
            e["pending_writes"],
        )
        for e in entries
    ]
    _emit(args, entries, _table(headers, rows))
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    with open_read_only(args.db) as saver:
        found = _get_checkpoint(saver, args.thread, args.ns, args.checkpoint)
    data = _checkpoint_header(found)
    data["metadata"] = to_jsonable(found.metadata)
    data["channel_values"] = channel_values(found.checkpoint, args.all)
    data["pending_writes"] = [
        {"task_id": task_id, "channel": channel, "value": to_jsonable(value)}
        for task_id, channel, value in found.pending_writes or ()
    ]
    lines = [
        f"thread      {data['thread_id']}"
        + (f"  (namespace {data['checkpoint_ns']})" if data["checkpoint_ns"] else ""),
        f"checkpoint  {data['checkpoint_id']}",
        f"parent      {data['parent_checkpoint_id'] or '-'}",
        f"time        {human_time(checkpoint_time(data['ts']))}",
        f"step        {'-' if data['step'] is None else data['step']}"
        f"  source {data['source'] or '-'}",
        "",
        "channels:" if data["channel_values"] else "channels: (none)",
    ]
    for name, value in data["channel_values"].items():
        lines.append(f"  {name}:")
        lines.extend(_format_value(value, "    "))
    if data["pending_writes"]:
        lines += ["", "pending writes:"]
        for write in data["pending_writes"]:
            lines.append(f"  {write['channel']} (task {write['task_id']}):")
            lines.extend(_format_value(write["value"], "    "))
    _emit(args, data, lines)
    return EXIT_OK


def diff_values(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """Channel by channel: added, removed, changed (with what a list appended)."""
    changed: dict[str, Any] = {}
    for name in sorted(before.keys() & after.keys()):
        old, new = before[name], after[name]
        if old == new:
            continue
        change: dict[str, Any] = {"before": old, "after": new}
        if isinstance(old, list) and isinstance(new, list) and new[: len(old)] == old:
            change = {"appended": new[len(old) :]}
        changed[name] = change
    return {
        "added": {name: after[name] for name in sorted(after.keys() - before.keys())},
        "removed": {name: before[name] for name in sorted(before.keys() - after.keys())},
        "changed": changed,
        "unchanged": sorted(n for n in before.keys() & after.keys() if before[n] == after[n]),
    }


def cmd_diff(args: argparse.Namespace) -> int:
    with open_read_only(args.db) as saver:
        first = _get_checkpoint(saver, args.thread, args.ns, args.a)
        second = _get_checkpoint(saver, args.thread, args.ns, args.b)
    diff = diff_values(
        channel_values(first.checkpoint, args.all), channel_values(second.checkpoint, args.all)
    )
    data = {"thread_id": args.thread, "from": args.a, "to": args.b, **diff}
    lines = [f"{args.a} -> {args.b}"]
    for name, value in diff["added"].items():
        lines.append(f"+ {name}:")
        lines.extend(_format_value(value, "    "))
    for name, value in diff["removed"].items():
        lines.append(f"- {name}:")
        lines.extend(_format_value(value, "    "))
    for name, change in diff["changed"].items():
        if "appended" in change:
            lines.append(f"~ {name}: appended {len(change['appended'])}")
            lines.extend(_format_value(change["appended"], "    + "))
        else:
            lines.append(f"~ {name}:")
            lines.extend(_format_value(change["before"], "    - "))
            lines.extend(_format_value(change["after"], "    + "))
    if len(lines) == 1:
        lines.append("no channel changed")
    _emit(args, data, lines)
    return EXIT_OK


def cmd_stats(args: argparse.Namespace) -> int:
    with open_read_only(args.db) as saver, Progress("measuring"):
        stats = saver.stats(args.top)
        size = saver.db_size()
    data = {
        **stats,
        "largest_threads": [_thread_view(t) for t in stats["largest_threads"]],
        "db_size": size,
    }
    lines = [
        f"threads      {stats['threads']}",
        f"checkpoints  {stats['checkpoints']}",
        f"writes       {stats['writes']}",
        f"data         {human_bytes(stats['data_bytes'])}",
        f"on disk      {human_bytes(size)}",
    ]
    if stats["largest_threads"]:
        lines += ["", "largest threads:"]
        lines += _table(
            ("THREAD", "CHECKPOINTS", "WRITES", "SIZE", "LAST CHECKPOINT AT"),
            [
                (
                    t["thread_id"],
                    t["checkpoints"],
                    t["writes"],
                    human_bytes(t["bytes"]),
                    human_time(_thread_time(t)),
                )
                for t in stats["largest_threads"]
            ],
        )
    _emit(args, data, lines)
    return EXIT_OK


def _confirm_cleanup(args: argparse.Namespace, older_than: timedelta) -> None:
    """Before a cleanup deletes anything: count what it would delete, say so and
    wait for a yes on the terminal. With no terminal to ask on, refuse: a
    script says --yes."""
    if not _is_terminal(sys.stdin):
        raise CLIError(
            "cleanup deletes checkpoints and asks first, but stdin is not a terminal: "
            "pass --yes to delete without asking (or --dry-run to only count)",
            "confirmation_required",
        )
    with open_read_only(args.db) as saver, Progress("counting", bar=True) as progress:
        would = saver.cleanup(
            older_than,
            keep_latest=args.keep_latest,
            dry_run=True,
            batch_size=args.batch_size,
            progress=lambda _counts, examined, expired: progress.update(examined, expired),
        )
    if would["checkpoints"] == 0 and would["writes"] == 0:
        return  # nothing to lose: nothing to ask
    kept = "each thread keeps its latest" if args.keep_latest else "whole threads included"
    sys.stderr.write(
        f"{args.db}: cleanup will delete {would['checkpoints']} checkpoints and "
        f"{would['writes']} writes older than {args.older_than} ({kept}).\n"
        "Delete them? [y/N] "
    )
    sys.stderr.flush()
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
        raise CLIError("cancelled: nothing was deleted", "cancelled")


def cmd_cleanup(args: argparse.Namespace) -> int:
    older_than = parse_duration(args.older_than)
    if args.batch_size < 1:
        raise CLIError(f"--batch-size must be at least 1, got {args.batch_size}")
    size_before = _file_size(_existing_file(args.db))
    if not args.dry_run and not args.yes:
        _confirm_cleanup(args, older_than)
    # A dry run reads only, so it never touches the file; on a file only
    # SqliteSaver wrote it dates the checkpoints from their ids, in memory.
    opener: Callable[[str], AbstractContextManager[RustSQLiteCheckpointer]] = (
        open_read_only if args.dry_run else open_writable
    )
    deleted: CleanupCounts = {"checkpoints": 0, "writes": 0}
    interrupted = False
    with (
        opener(args.db) as saver,
        Progress("cleaning up", bar=True) as progress,
        StopOnInterrupt() as stop,
    ):

        def on_batch(counts: CleanupCounts, examined: int, expired: int) -> None:
            # Called after each committed batch: what `deleted` says is on disk.
            deleted.update(counts)
            progress.update(examined, expired)
            if stop.requested:
                raise KeyboardInterrupt

        try:
            deleted = saver.cleanup(
                older_than,
                keep_latest=args.keep_latest,
                dry_run=args.dry_run,
                vacuum=args.vacuum,
                batch_size=args.batch_size,
                progress=on_batch,
            )
        except KeyboardInterrupt:
            interrupted = True
    data = {
        **deleted,
        "dry_run": args.dry_run,
        "interrupted": interrupted,
        "db_size_before": size_before,
        "db_size_after": _file_size(args.db),
    }
    if interrupted:
        if args.json:
            _emit(args, data, [])
        done = (
            "nothing was deleted (dry run)"
            if args.dry_run
            else f"deleted {deleted['checkpoints']} checkpoints and {deleted['writes']} writes "
            "before stopping; the file is consistent, run the command again to finish"
        )
        _print_error(args.json, f"interrupted: {done}", "interrupted", prefix="")
        return EXIT_INTERRUPTED
    verb = "would delete" if args.dry_run else "deleted"
    lines = [f"{verb} {deleted['checkpoints']} checkpoints and {deleted['writes']} writes"]
    if args.vacuum and not args.dry_run:
        lines.append(f"size {human_bytes(size_before)} -> {human_bytes(data['db_size_after'])}")
    _emit(args, data, lines)
    return EXIT_OK


def cmd_vacuum(args: argparse.Namespace) -> int:
    size_before = _file_size(_existing_file(args.db))
    with open_writable(args.db) as saver, Progress("vacuuming"):
        saver.vacuum()
    size_after = _file_size(args.db)
    data = {"db_size_before": size_before, "db_size_after": size_after}
    freed = max(0, size_before - size_after)
    lines = [
        f"size {human_bytes(size_before)} -> {human_bytes(size_after)} ({human_bytes(freed)} freed)"
    ]
    _emit(args, data, lines)
    return EXIT_OK


def _cannot_write(target: str, cause: str) -> CLIError:
    return CLIError(f"cannot write the backup {target}: {cause}", "cannot_write")


def cmd_backup(args: argparse.Namespace) -> int:
    source, target = args.db, args.target
    _existing_file(source)
    if os.path.lexists(target):
        if not args.force:
            raise CLIError(
                f"{target} already exists (use --force to overwrite it)", "target_exists"
            )
        if os.path.isdir(target):
            raise _cannot_write(target, os.strerror(errno.EISDIR))
        if os.path.exists(target) and os.path.samefile(source, target):
            raise CLIError(f"{target} is the database itself: back up to another file")
    with open_read_only(source) as saver, Progress("backing up"):
        saver.stats(0)  # a clear error about the source before the target is touched
        try:
            saver.backup(target)  # whole or not at all (see fast_langgraph._atomic)
        except _atomic.TargetBusyError as exc:
            raise CLIError(str(exc), "busy") from None
        except _atomic.TargetUnwritableError as exc:
            raise _cannot_write(target, exc.cause) from None
        except sqlite3.Error as exc:
            raise _cannot_write(target, str(exc)) from None
    data = {"target": target, "bytes": _file_size(target)}
    _emit(args, data, [f"backed up {source} to {target} ({human_bytes(data['bytes'])})"])
    return EXIT_OK


def cmd_convert(args: argparse.Namespace) -> int:
    from fast_langgraph.convert import ConvertError, convert

    source, target = args.db, args.target
    _existing_file(source)
    if os.path.isdir(target):
        raise _cannot_write(target, os.strerror(errno.EISDIR))
    with Progress("converting", bar=True) as progress:
        try:
            data = convert(
                source,
                target,
                args.to,
                force=args.force,
                progress=lambda done, total: progress.update(done, total),
            )
        except ConvertError as exc:
            raise CLIError(str(exc), exc.kind) from None
        except _atomic.TargetBusyError as exc:
            raise CLIError(str(exc), "busy") from None
        except _atomic.TargetUnwritableError as exc:
            raise _cannot_write(target, exc.cause) from None
    summary = (
        f"converted {source} to {target} ({args.to}): {data['threads']} "
        f"thread{'' if data['threads'] == 1 else 's'}, "
        f"{data['checkpoints']} checkpoints, {data['writes']} writes, verified; "
        f"{human_bytes(data['source_bytes'])} -> {human_bytes(data['target_bytes'])}"
    )
    _emit(args, data, [summary])
    return EXIT_OK


def cmd_bench(args: argparse.Namespace) -> int:
    if args.iterations < 1:
        raise CLIError(f"--iterations must be at least 1, got {args.iterations}")
    if not args.state_kb > 0:
        raise CLIError(f"--state-kb must be positive, got {args.state_kb}")
    rounds = args.iterations * len(_bench.OPERATIONS)
    with Progress("benchmarking", total=rounds) as progress:
        result = _bench.run(
            iterations=args.iterations,
            state_kb=args.state_kb,
            durability=args.durability,
            tick=progress.advance,
        )
    _emit(args, result, _bench.report(result))
    return EXIT_OK


# -- argument parsing -----------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="fast-langgraph",
        description="Inspect and maintain a LangGraph SQLite checkpoint database "
        "(fast-langgraph or SqliteSaver files).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, handler: Any, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.add_argument("--json", action="store_true", help="machine-readable output")
        sub.set_defaults(handler=handler)
        return sub

    def database(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("db", metavar="DB", help="the SQLite checkpoint file")

    def namespace(sub: argparse.ArgumentParser, default: str | None) -> None:
        sub.add_argument(
            "--ns",
            default=default,
            metavar="NS",
            help="checkpoint namespace (subgraphs)" + ("" if default is None else "; default ''"),
        )

    def internal(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--all",
            action="store_true",
            help="include LangGraph's internal channels (__*, branch:*)",
        )

    sub = command("threads", cmd_threads, "list threads, most recent activity first")
    database(sub)

    sub = command("history", cmd_history, "list a thread's checkpoints, newest first")
    database(sub)
    sub.add_argument("thread", metavar="THREAD")
    namespace(sub, None)
    sub.add_argument("--limit", type=int, default=None, help="at most this many checkpoints")

    sub = command("show", cmd_show, "show the state at a checkpoint (default: the latest)")
    database(sub)
    sub.add_argument("thread", metavar="THREAD")
    sub.add_argument("checkpoint", metavar="CHECKPOINT", nargs="?", default=None)
    namespace(sub, "")
    internal(sub)

    sub = command("diff", cmd_diff, "what changed in the channel values from checkpoint A to B")
    database(sub)
    sub.add_argument("thread", metavar="THREAD")
    sub.add_argument("a", metavar="A")
    sub.add_argument("b", metavar="B")
    namespace(sub, "")
    internal(sub)

    sub = command("stats", cmd_stats, "counts and sizes, largest threads first")
    database(sub)
    sub.add_argument("--top", type=int, default=10, help="how many threads to list (default 10)")

    sub = command("cleanup", cmd_cleanup, "delete checkpoints older than a duration")
    database(sub)
    sub.add_argument(
        "--older-than",
        required=True,
        metavar="DURATION",
        help="age such as 30d, 12h, 90m, 45s, 2w or 1d12h",
    )
    sub.add_argument(
        "--keep-latest",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="keep each thread's newest checkpoint however old (default: yes)",
    )
    sub.add_argument("--dry-run", action="store_true", help="count, delete nothing")
    sub.add_argument(
        "-y",
        "--yes",
        action="store_true",
        help="delete without asking (needed when stdin is not a terminal)",
    )
    sub.add_argument("--vacuum", action="store_true", help="vacuum afterwards")
    sub.add_argument(
        "--batch-size",
        type=int,
        default=CLEANUP_BATCH_SIZE,
        metavar="N",
        help="checkpoints deleted per transaction, whole threads at a time "
        f"(default {CLEANUP_BATCH_SIZE}); Ctrl-C stops after the current one",
    )

    sub = command("vacuum", cmd_vacuum, "rebuild the file to give freed space back to the disk")
    database(sub)

    sub = command("backup", cmd_backup, "copy a live database (SQLite online backup)")
    database(sub)
    sub.add_argument("target", metavar="TARGET", help="the copy to write")
    sub.add_argument("--force", action="store_true", help="overwrite TARGET if it exists")

    sub = command(
        "convert",
        cmd_convert,
        "copy a checkpoint file into a new one in the other storage layout: compact "
        "(each distinct message stored once) or sqlitesaver (what langgraph's SqliteSaver "
        "reads), verified row by row",
    )
    database(sub)
    sub.add_argument("target", metavar="DEST", help="the new file to write")
    sub.add_argument("--to", required=True, choices=("compact", "sqlitesaver"))
    sub.add_argument("--force", action="store_true", help="overwrite DEST if it exists")

    sub = command(
        "bench",
        cmd_bench,
        "a quick benchmark: put, get_tuple and list of this saver against langgraph's "
        "SqliteSaver (when installed), in a temporary folder, in seconds. The full "
        "benchmark (graphs, sizes, async, charts) is `make bench` in a source checkout",
    )
    sub.add_argument(
        "--iterations",
        type=int,
        default=_bench.DEFAULT_ITERATIONS,
        metavar="N",
        help=f"timed calls per operation and saver (default {_bench.DEFAULT_ITERATIONS})",
    )
    sub.add_argument(
        "--state-kb",
        type=float,
        default=_bench.DEFAULT_STATE_KB,
        metavar="KB",
        help=f"serialized size of the state (default {_bench.DEFAULT_STATE_KB})",
    )
    sub.add_argument(
        "--durability",
        choices=("normal", "full"),
        default="normal",
        help="this saver's durability (default normal, its default; SqliteSaver always "
        "runs at synchronous=FULL, so `full` compares at equal durability)",
    )

    # In its own module, which imports the [postgres] extra only when it runs.
    from fast_langgraph._migrate_cli import register_migrate

    register_migrate(command)
    return parser


def _explain(exc: sqlite3.Error, db: str | None) -> tuple[str, str]:
    """A SQLite error as (message naming the file, kind)."""
    message = str(exc)
    where = f"{db}: " if db else ""
    if "file is not a database" in message:
        return f"{where}not a SQLite database", "not_a_database"
    if "no such table" in message:
        return f"{where}not a checkpoint database (it has no checkpoints table)", (
            "not_a_checkpoint_database"
        )
    if message.startswith("cannot open "):  # the engine's own: names the path, says why
        return message, "cannot_open"
    if "unable to open database" in message:
        return f"{where}cannot open the database ({message})", "cannot_open"
    return f"{where}database error: {message}", "database"


def _print_error(as_json: bool, message: str, kind: str, *, prefix: str = "error: ") -> None:
    """One line on stderr: `fast-langgraph: error: MESSAGE`, or with --json one
    JSON object, {"error": MESSAGE, "kind": KIND} (KIND a key of ERROR_KINDS)."""
    if as_json:
        line = json.dumps({"error": message, "kind": kind}, ensure_ascii=False)
    else:
        line = f"fast-langgraph: {prefix}{message}"
    print(line, file=sys.stderr)


def _wants_json(argv: Sequence[str]) -> bool:
    """--json on the command line (before any `--`), known before parsing it, so
    that even a malformed command line is reported as JSON."""
    for arg in argv:
        if arg == "--":
            return False
        if arg == "--json":
            return True
    return False


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (the console script exits with it)."""
    # Warnings from LangGraph (e.g. a type it refuses to decode) as one line each.
    logging.basicConfig(format="warning: %(message)s", level=logging.WARNING)
    arguments = list(sys.argv[1:] if argv is None else argv)
    as_json = _wants_json(arguments)
    try:
        args = build_parser().parse_args(arguments)
    except UsageError as exc:
        if as_json:
            _print_error(True, f"{exc.prog}: {exc}", "usage")
        else:  # argparse's own output
            sys.stderr.write(exc.usage)
            print(f"{exc.prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    db = getattr(args, "db", None)
    try:
        return int(args.handler(args))
    except CLIError as exc:
        _print_error(as_json, str(exc), exc.kind)
    except sqlite3.Error as exc:
        _print_error(as_json, *_explain(exc, db))
    except KeyboardInterrupt:
        _print_error(as_json, "interrupted", "interrupted", prefix="")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `fast-langgraph history DB T | head`: the reader left; not an error.
        # Point stdout at /dev/null so the interpreter's final flush stays quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:  # never a traceback: one line that says what failed
        _print_error(as_json, f"{type(exc).__name__}: {exc}", "internal")
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
