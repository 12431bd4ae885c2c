"""`PythonCodec`: the engine's codec when the native one does not apply.

It runs the saver's own serializer, whatever it is (JsonPlusSerializer without
`fast_langgraph_rs`, a custom or encrypted one), and Python's `json` for
metadata, exactly as SqliteSaver does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, final

from langgraph.checkpoint.serde.base import SerializerProtocol

from fast_langgraph_pure import compact


@final
class PythonCodec:
    __slots__ = ("serde",)

    def __init__(self, serde: SerializerProtocol) -> None:
        self.serde = serde

    # Untyped like `Codec`: serializers may return a bytearray, old rows hold
    # NULLs, and compiled code checks the declared types of a typed call.
    def dumps_typed(self, obj: Any) -> Any:
        serde: Any = self.serde
        return serde.dumps_typed(obj)

    def loads_typed(self, data: Any) -> Any:
        serde: Any = self.serde
        return serde.loads_typed(data)

    def dumps_metadata(self, metadata: Mapping[str, Any]) -> bytes:
        return json.dumps(metadata, ensure_ascii=False).encode("utf-8", "ignore")

    def loads_metadata(self, data: Any) -> Any:
        return json.loads(data)

    def split_checkpoint(self, data: bytes) -> tuple[bytes, list[tuple[int, list[bytes]]]] | None:
        return compact.split(data)
