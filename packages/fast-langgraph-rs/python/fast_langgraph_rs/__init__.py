"""fast-langgraph's native codec: langgraph's `JsonPlusSerializer` format, faster.

`dumps_typed(serde, obj)` and `loads_typed(serde, data)` do what
`JsonPlusSerializer.dumps_typed` / `loads_typed` do for any instance of it
(subclasses included): the very same bytes, the same objects back, the same
allowlist rules. `dumps_metadata` / `loads_metadata` store checkpoint metadata
as `json.dumps(m, ensure_ascii=False)` in UTF-8. `Codec(serde)` binds the four
to one serializer; it is what the storage engine calls. Whatever the native
paths do not cover goes to langgraph's own functions, so results and errors
are always langgraph's.

`loads_typed(serde, data, trusted_hook=True)` (and `Codec(serde,
trusted_hook=True)`) is for a serializer whose `_unpack_ext_hook` is not
langgraph's own but treats the LangChain messages of `SAFE_MSGPACK_TYPES`
and `_DeltaSnapshot` values exactly as langgraph's does: those are then still
rebuilt natively, and every other extension value goes to that hook. Without it, a hook other
than langgraph's default sees every extension value.

`probe()` loads everything the codec otherwise loads on first use and raises
RuntimeError naming any name it relies on (in langgraph, pydantic or
langchain-core) that is missing or changed.
"""

from __future__ import annotations

from typing import Final

from fast_langgraph_rs import _native

# Cargo.toml's version, compiled in: the crate and this package are one build.
__version__: Final = _native.__version__

from fast_langgraph_rs._native import (
    Codec,
    dumps_metadata,
    dumps_typed,
    loads_metadata,
    loads_typed,
    probe,
)

__all__ = [
    "Codec",
    "__version__",
    "dumps_metadata",
    "dumps_typed",
    "loads_metadata",
    "loads_typed",
    "probe",
]
