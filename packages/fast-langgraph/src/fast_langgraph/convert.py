"""`fast-langgraph convert SRC DEST --to compact|sqlitesaver`: one checkpoint
file into a new one in the other storage layout, verified.

Rows move as stored: the serializer's bytes (a compact source's spliced back
from its chunks), metadata, parent links, created_at and pending writes, never
decoded, so any serializer's data converts. The copy is written beside DEST
and renamed into place only once it has been read back row by row and matched
against the source (`fast_langgraph._atomic`): an interrupted conversion leaves
no DEST. The source is opened read-only and never changed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Final

from fast_langgraph import _atomic, _selector
from fast_langgraph.saver import RustSQLiteCheckpointer, open_engine
from fast_langgraph.serde import JsonPlusSerializer

# --to names the layout by who reads it; the engine's names for them.
TARGETS: Final = {"compact": "compact", "sqlitesaver": "default"}
# Checkpoints per transaction (each read back and compared before the next).
PAGE_ROWS: Final = 64
WRITES_PAGE_ROWS: Final = 2000


class ConvertError(Exception):
    """A conversion refused or failed, in one line; `kind` is a CLI error kind."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def convert(
    source: str,
    target: str,
    to: str,
    *,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Write `source`'s checkpoints to a new file `target` in the layout `to`
    ("compact" or "sqlitesaver"), verify it, and return what was done.
    `progress(checkpoints done, checkpoints in all)` is called per page."""
    if to not in TARGETS:
        raise ConvertError(f"--to must be one of {', '.join(TARGETS)}, not {to!r}", "bad_argument")
    if os.path.lexists(target):
        if os.path.exists(target) and os.path.samefile(source, target):
            raise ConvertError(
                f"{target} is the source itself: convert to another file", "bad_argument"
            )
        if not force:
            raise ConvertError(
                f"{target} already exists (use --force to overwrite it)", "target_exists"
            )
    split = _selector.codec_for(JsonPlusSerializer()).codec.split_checkpoint
    with RustSQLiteCheckpointer(source, read_only=True) as reader:
        origin = reader._engine
        counts = origin.counts_by_thread()
        total = sum(checkpoints for checkpoints, _writes in counts.values())
        with _atomic.written_atomically(target) as partial:
            copy = open_engine(partial, durability="normal", storage=TARGETS[to])
            try:
                done = 0
                after: tuple[str, str, str] | None = None
                while True:
                    rows = origin.stored_rows(after, PAGE_ROWS)
                    if not rows:
                        break
                    copy.add_stored_rows(rows, [], split)
                    if copy.stored_rows(after, PAGE_ROWS) != rows:
                        raise ConvertError(
                            f"{target}: the copy of thread {rows[0][0]!r} does not read back "
                            "as the source; nothing was written",
                            "verification_failed",
                        )
                    after = (rows[-1][0], rows[-1][1], rows[-1][2])
                    done += len(rows)
                    if progress is not None:
                        progress(done, total)
                written: tuple[str, str, str, str, int] | None = None
                while True:
                    writes = origin.stored_writes(written, WRITES_PAGE_ROWS)
                    if not writes:
                        break
                    copy.add_stored_rows([], writes, split)
                    last = writes[-1]
                    written = (last[0], last[1], last[2], last[3], last[5])
                if copy.counts_by_thread() != counts:
                    raise ConvertError(
                        f"{target}: the copy's counts per thread differ from the source's; "
                        "nothing was written",
                        "verification_failed",
                    )
            finally:
                copy.close()
    return {
        "source": source,
        "target": target,
        "to": to,
        "threads": len(counts),
        "checkpoints": total,
        "writes": sum(writes for _checkpoints, writes in counts.values()),
        "source_bytes": os.path.getsize(source),
        "target_bytes": os.path.getsize(target),
    }
