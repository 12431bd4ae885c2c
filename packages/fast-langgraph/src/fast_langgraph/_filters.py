"""Metadata filters for `list()`: the one home of their validation and meaning.

Keys are checked before anything reaches an engine, and the engines bind the
resulting JSON path as a parameter: a key never becomes SQL text. Values compare
as SqliteSaver compares them, so a filter means the same on either saver.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

_KEY_PATTERN: Final = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")


def _sql_value(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float)):
        # bool is an int: SQLite binds True/False as 1/0, as JSON true/false extract.
        return value
    if isinstance(value, (dict, list)):
        # json_extract returns objects and arrays as compact JSON text.
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def compile_filter(filter: Mapping[str, Any] | None) -> list[tuple[str, Any]]:
    """Validate `{key: value}` and return `(json_path, sql_value)` pairs."""
    if not filter:
        return []
    compiled: list[tuple[str, Any]] = []
    for key, value in filter.items():
        if not isinstance(key, str) or not _KEY_PATTERN.fullmatch(key):
            raise ValueError(
                f"Invalid filter key: {key!r}. Filter keys must contain only "
                "letters, digits, underscores and hyphens, with dots between nested keys."
            )
        compiled.append((f"$.{key}", _sql_value(value)))
    return compiled
