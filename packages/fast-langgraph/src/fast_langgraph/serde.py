"""`JsonPlusSerializer`: langgraph's serializer, with the native codec inside.

    from fast_langgraph.serde import JsonPlusSerializer

    InMemorySaver(serde=JsonPlusSerializer())
    PostgresSaver(conn, serde=JsonPlusSerializer(pickle_fallback=True))

It takes the same arguments as `langgraph.checkpoint.serde.jsonplus.JsonPlusSerializer`
(it is a subclass), writes the very same bytes and reads them back as the same
objects, under the same allowlist rules (strict mode, `allowed_msgpack_modules`,
`with_msgpack_allowlist`). With `fast_langgraph_rs` loaded (see
`fast_langgraph.__impl__`) `dumps_typed` and `loads_typed` run natively; without
it they are langgraph's own. `implementation` says which.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer as _LanggraphJsonPlus

from fast_langgraph import _selector

_native = _selector.current().native
# The native functions take the serializer first; without them, langgraph's methods.
_dumps: Callable[[Any, Any], tuple[str, bytes]] = (
    _native.dumps_typed if _native is not None else _LanggraphJsonPlus.dumps_typed
)
_loads: Callable[[Any, tuple[str, bytes]], Any] = (
    _native.loads_typed if _native is not None else _LanggraphJsonPlus.loads_typed
)


class JsonPlusSerializer(_LanggraphJsonPlus):
    """langgraph's `JsonPlusSerializer`, encoded and decoded by the native codec
    when it is loaded. Same constructor, same bytes, same allowlist rules."""

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        return _dumps(self, obj)

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        return _loads(self, data)

    @property
    def implementation(self) -> str:
        """ "rust" when the native codec runs, "python" when langgraph's does."""
        return _selector.RUST if _native is not None else _selector.PYTHON


__all__ = ["JsonPlusSerializer"]
