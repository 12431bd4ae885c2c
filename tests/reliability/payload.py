"""What the scenarios write, and how a reader proves it came back whole.

Every value is a pure function of (thread id, step): a checkpoint whose channel
values are LangChain messages, an int and a random-looking blob of up to
`BLOB_MAX` bytes, and three pending writes. A process that wrote them only has
to report the checkpoint id; any other process can rebuild what must be stored
and compare it field by field. The blobs vary in size so that a kill lands in
every part of a write (codec, SQLite page writes, WAL append, commit).

Imported both by the parent (as part of the `reliability` package) and by the
child process script `_child.py` (as a top-level module, run by path), so it
imports nothing from the package.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.base import Checkpoint, empty_checkpoint
from langgraph.checkpoint.base.id import uuid6

BLOB_MAX = 12_000


def _rng(thread_id: str, step: int) -> random.Random:
    return random.Random(f"{thread_id}/{step}")


def channel_values(thread_id: str, step: int) -> dict[str, Any]:
    rng = _rng(thread_id, step)
    return {
        "messages": [
            HumanMessage(f"question {step} on {thread_id}", id=f"h-{step}"),
            AIMessage("answer " * rng.randint(0, 200), id=f"a-{step}"),
        ],
        "step": step,
        "blob": rng.randbytes(rng.randint(0, BLOB_MAX)),
    }


def pending_writes(thread_id: str, step: int) -> list[tuple[str, Any]]:
    rng = _rng(thread_id, -step - 1)
    return [
        ("messages", [AIMessage(f"write {step}", id=f"w-{step}")]),
        ("blob", rng.randbytes(rng.randint(0, BLOB_MAX // 4))),
        ("step", step),
    ]


def task_id(step: int) -> str:
    return f"task-{step}"


def config(thread_id: str, checkpoint_id: str | None = None) -> dict[str, Any]:
    configurable: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ""}
    if checkpoint_id is not None:
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable}


def checkpoint(thread_id: str, step: int) -> Checkpoint:
    cp = empty_checkpoint()
    cp["id"] = str(uuid6(clock_seq=step))
    cp["channel_values"] = channel_values(thread_id, step)
    cp["channel_versions"] = {"messages": step + 1, "step": step + 1, "blob": step + 1}
    return cp


def put_step(saver: Any, thread_id: str, step: int, parent_id: str | None) -> dict[str, Any]:
    """`saver.put` of step `step` (ours or langgraph's SqliteSaver); returns its config."""
    cp = checkpoint(thread_id, step)
    metadata = {"source": "loop", "step": step, "parents": {}}
    stored: dict[str, Any] = saver.put(
        config(thread_id, parent_id), cp, metadata, dict(cp["channel_versions"])
    )
    return stored


def put_step_writes(saver: Any, stored: Mapping[str, Any], thread_id: str, step: int) -> None:
    saver.put_writes(stored, pending_writes(thread_id, step), task_id(step))


def check_tuple(found: Any, thread_id: str, *, writes_acknowledged: bool) -> list[str]:
    """Problems with one CheckpointTuple read back: empty when it is whole."""
    where = f"{thread_id}/{found.config['configurable'].get('checkpoint_id')}"
    step = found.metadata.get("step") if isinstance(found.metadata, dict) else None
    if not isinstance(step, int):
        return [f"{where}: metadata {found.metadata!r} has no step"]
    problems = []
    if found.checkpoint.get("channel_values") != channel_values(thread_id, step):
        problems.append(f"{where}: channel values of step {step} differ from what was written")
    if found.metadata.get("source") != "loop":
        problems.append(f"{where}: metadata differs: {found.metadata!r}")
    expected = [
        (task_id(step), channel, value) for channel, value in pending_writes(thread_id, step)
    ]
    got = list(found.pending_writes or [])
    if got != expected and (writes_acknowledged or got):
        # Writes are one transaction: all of them, or (not yet acknowledged) none.
        problems.append(
            f"{where}: pending writes of step {step} are {len(got)} entries, "
            f"not {'the 3 acknowledged' if writes_acknowledged else '0 or 3'} or they differ"
        )
    return problems


def cli_argv(op: str, db: str, target: str, *, force: bool = False) -> list[str]:
    """The `fast-langgraph` command line of a maintenance operation."""
    if op == "cleanup":
        argv = ["cleanup", db, "--older-than", "0s", "--batch-size", "2"]
        if _cli_knows([*argv, "--yes"]):  # newer CLIs ask before deleting
            argv.append("--yes")
        return argv
    if op == "vacuum":
        return ["vacuum", db]
    if op == "backup":
        return ["backup", db, target, *(["--force"] if force else [])]
    raise ValueError(f"no command for {op}")


def _cli_knows(argv: list[str]) -> bool:
    import contextlib
    import io

    from fast_langgraph.cli import build_parser

    try:
        with contextlib.redirect_stderr(io.StringIO()):
            build_parser().parse_args(argv)
    except (Exception, SystemExit):
        return False
    return True


# -- acknowledgements ---------------------------------------------------------


@dataclass
class Acks:
    """What writer processes reported as acknowledged (their call returned)."""

    checkpoints: dict[str, dict[str, int]] = field(default_factory=dict)  # thread -> id -> step
    writes: set[str] = field(default_factory=set)  # checkpoint ids whose put_writes returned

    def add_file(self, path: Path) -> None:
        if path.exists():
            self.add_lines(path.read_text(encoding="utf-8").split("\n"))

    def add_lines(self, lines: Iterable[str]) -> None:
        for line in lines:
            parts = line.split()
            # A line cut short by the kill lacks fields: it was never acknowledged.
            if len(parts) != 4 or parts[0] not in ("cp", "w") or not parts[3].isdigit():
                continue
            kind, thread_id, checkpoint_id, step = parts
            if kind == "cp":
                self.checkpoints.setdefault(thread_id, {})[checkpoint_id] = int(step)
            else:
                self.writes.add(checkpoint_id)

    @property
    def count(self) -> int:
        return sum(len(ids) for ids in self.checkpoints.values())


def ack_line(kind: str, thread_id: str, checkpoint_id: str, step: int) -> bytes:
    return f"{kind} {thread_id} {checkpoint_id} {step}\n".encode()


def verify_threads(saver: Any, acks: Acks, label: str) -> tuple[set[str], list[str]]:
    """Read every acknowledged thread through `saver` (ours or SqliteSaver): each
    acknowledged checkpoint present, every checkpoint present whole. Returns
    (ids of the acknowledged checkpoints found, problems)."""
    found_ids: set[str] = set()
    problems: list[str] = []
    for thread_id, acked in sorted(acks.checkpoints.items()):
        stored = {
            t.config["configurable"]["checkpoint_id"]: t for t in saver.list(config(thread_id))
        }
        for checkpoint_id, step in sorted(acked.items()):
            if checkpoint_id in stored:
                found_ids.add(checkpoint_id)
            else:
                problems.append(
                    f"{label}: acknowledged checkpoint {thread_id}/{checkpoint_id} "
                    f"(step {step}) is lost"
                )
        for checkpoint_id, found in stored.items():
            acked_writes = checkpoint_id in acks.writes
            for problem in check_tuple(found, thread_id, writes_acknowledged=acked_writes):
                problems.append(f"{label}: {problem}")
    return found_ids, problems
