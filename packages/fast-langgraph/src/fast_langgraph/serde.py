"""`JsonPlusSerializer`: langgraph's serializer, with the native codec inside.

    from fast_langgraph.serde import JsonPlusSerializer

    InMemorySaver(serde=JsonPlusSerializer())
    PostgresSaver(conn, serde=JsonPlusSerializer(pickle_fallback=True))

It takes the same arguments as `langgraph.checkpoint.serde.jsonplus.JsonPlusSerializer`
(it is a subclass), writes the very same bytes and reads them back as the same
objects, under the same allowlist rules (strict mode, `allowed_msgpack_modules`,
`with_msgpack_allowlist`), with one difference: it is safe by default. In
langgraph's default (permissive) mode, a stored value naming something other
than a type in `SAFE_MSGPACK_TYPES` is built only when it names a class of the
kind its encoding declares (a dataclass, a pydantic model, an Enum, ...: what
`JsonPlusSerializer` itself writes that way); functions such as `os.system` and
classes of any other kind are refused as strict mode refuses them (the same
warning; the stored argument is returned unbuilt). Everything it writes reads
back as before. Strict mode, explicit allowlists and a hook of your own
(`__unpack_ext_hook__`) are langgraph's, unchanged.

With `fast_langgraph_rs` loaded (see `fast_langgraph.__impl__`) `dumps_typed`
and `loads_typed` run natively; without it they are langgraph's own.
`implementation` says which.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer as _LanggraphJsonPlus

from fast_langgraph import _safe_msgpack, _selector

_native = _selector.current().native
# The native functions take the serializer first; without them, langgraph's methods.
_dumps: Callable[[Any, Any], tuple[str, bytes]] = (
    _native.dumps_typed if _native is not None else _LanggraphJsonPlus.dumps_typed
)


def _loads(serde: Any, data: tuple[str, bytes]) -> Any:
    if _native is None:
        return _LanggraphJsonPlus.loads_typed(serde, data)
    # The guarded hook rebuilds safe messages as langgraph's does: the native
    # codec may keep rebuilding those itself.
    return _native.loads_typed(serde, data, trusted_hook=_safe_msgpack.is_guarded(serde))


class JsonPlusSerializer(_LanggraphJsonPlus):
    """langgraph's `JsonPlusSerializer`, safe by default, encoded and decoded by
    the native codec when it is loaded. Same constructor, same bytes, same
    allowlist rules; in the default permissive mode, stored values build only
    the kinds of class `JsonPlusSerializer` writes (see the module docstring)."""

    # The arguments are langgraph's, passed on as given (so new ones work too).
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _safe_msgpack.install(self)

    def with_msgpack_allowlist(
        self, extra_allowlist: Iterable[tuple[str, ...] | type]
    ) -> _LanggraphJsonPlus:
        # A permissive serializer comes back as it is (guarded); an allowlist
        # gets langgraph's hook for it. Guard whatever stays permissive.
        clone = super().with_msgpack_allowlist(extra_allowlist)
        _safe_msgpack.install(clone)
        return clone

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        return _dumps(self, obj)

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        return _loads(self, data)

    @property
    def implementation(self) -> str:
        """ "rust" when the native codec runs, "python" when langgraph's does."""
        return _selector.RUST if _native is not None else _selector.PYTHON


__all__ = ["JsonPlusSerializer"]
