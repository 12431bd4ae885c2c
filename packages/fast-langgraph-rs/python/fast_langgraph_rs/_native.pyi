"""Type stubs for the native module (written by hand; checked with mypy.stubtest)."""

from collections.abc import Sequence
from typing import Any, Final, final

from langgraph.checkpoint.base import DeltaChannelHistory, PendingWrite
from langgraph.checkpoint.serde.base import SerializerProtocol

__all__ = [
    "Engine",
    "__version__",
    "_codec_dumps",
    "_codec_dumps_metadata",
    "_codec_is_native",
    "_codec_loads",
    "_codec_loads_metadata",
    "sqlite_libversion_address",
    "sqlite_version",
]

__version__: Final[str]

_Row = tuple[str, str, str, str | None, dict[str, Any], dict[str, Any], list[PendingWrite]]

def sqlite_libversion_address() -> int:
    """Address of `sqlite3_libversion` in the SQLite library this module links."""

def sqlite_version() -> str:
    """Version of the SQLite library this module runs on."""

# Test hooks of the native codec (not API): the codec alone, a plan made per call.
def _codec_dumps(serde: SerializerProtocol, value: Any) -> tuple[str, bytes]: ...
def _codec_loads(serde: SerializerProtocol, tag: str, data: bytes) -> Any: ...
def _codec_is_native(serde: SerializerProtocol) -> bool: ...
def _codec_dumps_metadata(value: Any) -> bytes: ...
def _codec_loads_metadata(data: bytes) -> Any: ...

@final
class Engine:
    """The engine protocol of `fast_langgraph._engine` on rusqlite."""

    def __new__(
        cls, path: str, *, durability: str = "normal", read_only: bool = False
    ) -> Engine: ...
    @property
    def path(self) -> str: ...
    def close(self) -> None: ...
    def get(
        self,
        thread_id: str,
        checkpoint_ns: str,
        checkpoint_id: str | None,
        serde: SerializerProtocol,
    ) -> _Row | None: ...
    def list_page(
        self,
        thread_id: str | None,
        checkpoint_ns: str | None,
        checkpoint_id: str | None,
        filters: Sequence[tuple[str, Any]],
        before_id: str | None,
        after: tuple[str, str, str] | None,
        limit: int,
        serde: SerializerProtocol,
    ) -> list[_Row]: ...
    def put(
        self,
        thread_id: str,
        checkpoint_ns: str,
        checkpoint_id: str,
        parent_checkpoint_id: str | None,
        checkpoint: Any,
        metadata: Any,
        serde: SerializerProtocol,
    ) -> None: ...
    def put_writes(
        self,
        thread_id: str,
        checkpoint_ns: str,
        checkpoint_id: str,
        task_id: str,
        task_path: str,
        writes: Sequence[tuple[int, str, Any]],
        replace: bool,
        serde: SerializerProtocol,
    ) -> None: ...
    def delete_thread(self, thread_id: str) -> None: ...
    def delete_for_runs(self, run_ids: Sequence[str], serde: SerializerProtocol) -> None: ...
    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None: ...
    def prune(
        self, thread_ids: Sequence[str], keep_latest: bool, serde: SerializerProtocol
    ) -> None: ...
    def delta_history(
        self,
        thread_id: str,
        checkpoint_ns: str,
        checkpoint_id: str | None,
        channels: Sequence[str],
        serde: SerializerProtocol,
    ) -> dict[str, DeltaChannelHistory]: ...
    def cleanup(
        self,
        created_before: str,
        keep_latest: bool,
        dry_run: bool,
        serde: SerializerProtocol,
    ) -> dict[str, int]: ...
    def stats(self, top: int) -> dict[str, Any]: ...
    def db_size(self) -> int: ...
    def vacuum(self) -> None: ...
    def backup(self, target_path: str) -> None: ...
