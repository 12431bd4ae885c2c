"""The one place that decides which engine implementation is used.

`FAST_LANGGRAPH_IMPL` unset (or empty): the Rust engine when it imports and its
version equals ours, else the pure one. `rust` or `pure`: that one, or ImportError
listing why it could not be loaded.
"""

from __future__ import annotations

import functools
import importlib
import os
from dataclasses import dataclass
from typing import Any, Final

from fast_langgraph._version import __version__

ENV_VAR: Final = "FAST_LANGGRAPH_IMPL"
CHOICES: Final = ("rust", "pure")


@dataclass(frozen=True)
class Implementation:
    name: str  # "rust", "pure" or "pure-compiled"
    engine_class: Any
    version: str


def _load_rust() -> Implementation:
    module = importlib.import_module("fast_langgraph_rs")
    if module.__version__ != __version__:
        raise ImportError(
            f"fast-langgraph-rs {module.__version__} does not match "
            f"fast-langgraph {__version__}; install fast-langgraph[rust]=={__version__}"
        )
    return Implementation("rust", module.Engine, module.__version__)


def _load_pure() -> Implementation:
    module = importlib.import_module("fast_langgraph_pure")
    if module.__version__ != __version__:
        raise ImportError(
            f"fast-langgraph-pure {module.__version__} does not match fast-langgraph {__version__}"
        )
    name = "pure-compiled" if module.COMPILED else "pure"
    return Implementation(name, module.Engine, module.__version__)


_LOADERS: Final = {"rust": _load_rust, "pure": _load_pure}


def select(requested: str | None = None) -> Implementation:
    """Load the implementation named by `requested` (default: the env var)."""
    if requested is None:
        requested = os.environ.get(ENV_VAR, "").strip().lower()
    if requested and requested not in CHOICES:
        raise ImportError(f"{ENV_VAR}={requested!r} is not one of {', '.join(CHOICES)}")
    attempts = [requested] if requested else list(CHOICES)
    errors: list[str] = []
    for name in attempts:
        try:
            return _LOADERS[name]()
        except ImportError as exc:
            errors.append(f"{name}: {exc}")
    raise ImportError("no fast-langgraph implementation could be loaded:\n  " + "\n  ".join(errors))


@functools.cache
def current() -> Implementation:
    """The implementation chosen for this process (by the env var, once)."""
    return select()


def load_pure() -> Implementation:
    """The portable engine, used for user-supplied sqlite3 connections."""
    return _load_pure()
