"""Type stubs for the native module (written by hand; checked with mypy.stubtest)."""

from typing import Any, Final, final

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

__all__ = [
    "Codec",
    "__version__",
    "dumps_metadata",
    "dumps_typed",
    "loads_metadata",
    "loads_typed",
    "probe",
]

__version__: Final[str]

def probe() -> None:
    """Load now what the codec loads on first use; RuntimeError naming every
    name it relies on that is missing or changed."""

def dumps_typed(serde: JsonPlusSerializer, obj: Any) -> tuple[str, bytes]:
    """`JsonPlusSerializer.dumps_typed(serde, obj)`: the same bytes."""

def loads_typed(
    serde: JsonPlusSerializer, data: tuple[str, bytes], *, trusted_hook: bool = False
) -> Any:
    """`JsonPlusSerializer.loads_typed(serde, data)`: the same objects.

    LangChain messages of `SAFE_MSGPACK_TYPES` (and `_DeltaSnapshot` values)
    are rebuilt natively when `serde._unpack_ext_hook` is langgraph's default
    hook, or when `trusted_hook` is true: the caller vouches that the hook
    treats those exactly as langgraph's default hook does. Every other
    extension value goes to `serde._unpack_ext_hook`."""

def dumps_metadata(metadata: Any) -> bytes:
    """`json.dumps(metadata, ensure_ascii=False).encode("utf-8", "ignore")`."""

def loads_metadata(data: bytes) -> Any:
    """`json.loads(data)`."""

@final
class Codec:
    """The codec bound to one serializer: what the storage engine calls.
    `trusted_hook` as for `loads_typed`."""

    def __new__(cls, serde: JsonPlusSerializer, *, trusted_hook: bool = False) -> Codec: ...
    @property
    def serde(self) -> JsonPlusSerializer:
        """The serializer this codec was made with."""

    @property
    def trusted_hook(self) -> bool:
        """Whether the serializer's ext hook is vouched for (see `loads_typed`)."""

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]: ...
    def loads_typed(self, data: tuple[str, bytes]) -> Any: ...
    def dumps_metadata(self, metadata: Any) -> bytes: ...
    def loads_metadata(self, data: bytes) -> Any: ...
    def split_checkpoint(self, data: bytes) -> tuple[bytes, list[tuple[int, list[bytes]]]] | None:
        """`fast_langgraph_pure.compact.split`, natively."""
