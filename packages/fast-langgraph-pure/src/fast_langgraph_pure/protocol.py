"""The engine's types: what goes in and what comes out. Defined once, here;
`fast_langgraph` imports them.

- A `Row` is `(thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id,
  checkpoint, metadata, pending_writes)` with the checkpoint and metadata decoded
  and `pending_writes` a list of `(task_id, channel, value)` sorted by
  `(task_path, task_id, idx)`.
- A `Codec` turns values into stored bytes and back. The engine gets one on
  every call, because `with_allowlist` clones a saver with another serializer.
  `fast_langgraph` picks it: the native codec of `fast_langgraph_rs` for
  JsonPlusSerializer, else `fast_langgraph_pure.codec.PythonCodec` around the
  saver's serializer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypedDict

from langgraph.checkpoint.base import PendingWrite

Row = tuple[str, str, str, "str | None", dict[str, Any], dict[str, Any], list[PendingWrite]]

# A metadata filter after validation: (JSON path such as "$.source" or "$.a.b",
# value to compare with json_extract's result; None means "missing or null").
# Paths are bound as SQL parameters, never spliced into SQL text.
MetadataFilter = Sequence[tuple[str, Any]]

# Position of the last row of a page, for keyset pagination:
# (checkpoint_id, thread_id, checkpoint_ns). The next page holds rows ordered
# strictly after it in (checkpoint_id DESC, thread_id DESC, checkpoint_ns DESC).
PageCursor = tuple[str, str, str]

# (thread_id, checkpoint_ns, checkpoint_id)
Key = tuple[str, str, str]


class Codec(Protocol):
    """Values as `serde.dumps_typed`/`loads_typed` store them; metadata as
    SqliteSaver stores it (`json.dumps(m, ensure_ascii=False)` in UTF-8)."""

    # Typed Any on purpose: tags and blobs go between serializer and SQLite
    # untouched, whatever types a custom serializer or an old file uses
    # (bytearray, NULL...), and compiled code checks declared types at run time.
    def dumps_typed(self, obj: Any) -> Any: ...

    def loads_typed(self, data: Any) -> Any: ...

    def dumps_metadata(self, metadata: Mapping[str, Any]) -> bytes: ...

    def loads_metadata(self, data: Any) -> Any: ...

    # `compact.split` (the native codec does it natively): a serialized
    # checkpoint's channel values cut out of its "msgpack" bytes.
    def split_checkpoint(
        self, data: bytes
    ) -> tuple[bytes, list[tuple[int, list[bytes]]]] | None: ...


class CleanupCounts(TypedDict):
    checkpoints: int
    writes: int


class ThreadStats(TypedDict):
    thread_id: str
    checkpoints: int
    writes: int
    bytes: int  # sum of blob and metadata lengths, not including SQLite overhead
    latest_checkpoint_id: str | None
    latest_created_at: str | None


class Stats(TypedDict):
    threads: int
    checkpoints: int
    writes: int
    bytes_on_disk: int  # page_count * page_size, plus the WAL file if any
    data_bytes: int  # sum of ThreadStats.bytes over all threads
    largest_threads: list[ThreadStats]  # largest `bytes` first; `top` of them (all if top < 0)


__all__ = [
    "CleanupCounts",
    "Codec",
    "Key",
    "MetadataFilter",
    "PageCursor",
    "Row",
    "Stats",
    "ThreadStats",
]
