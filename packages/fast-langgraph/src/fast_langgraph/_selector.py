"""The one place that decides which codec runs, process-wide and for each saver.

There is one storage engine (`fast_langgraph_pure`, Python's sqlite3). What
varies is the codec that turns checkpoints into bytes: the native one of
`fast_langgraph_rs` (JsonPlusSerializer's exact bytes, several times faster) or
the saver's serializer itself, in Python.

`FAST_LANGGRAPH_IMPL`, read once per process:
- unset or empty: "rust" when `fast_langgraph_rs` imports, its version equals
  ours and its compatibility check passes, else "python". A native codec that
  is installed but refused is reported with one warning saying why.
- "rust": the native codec or ImportError saying why not.
- "python": never the native codec.

For each saver, `codec_for(serde)` decides: the native codec serves
langgraph's `JsonPlusSerializer` (its exact class; allowlists, strict mode and
pickle_fallback honoured as that class honours them), our
`fast_langgraph.serde.JsonPlusSerializer`, and the inner serializer of an
`EncryptedSerializer` built on either. Any other serializer runs as it is.

Either way the codec gets the serializer secured (`_safe_msgpack.secure`): a
permissive JsonPlusSerializer decodes with the guarded hook, which builds from
stored bytes only the kinds of class JsonPlusSerializer writes. The saver keeps
the caller's serializer object as `saver.serde`; only the codec's copy differs.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import importlib.util
import os
import warnings
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Final

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.serde.encrypted import EncryptedSerializer
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer as LanggraphJsonPlus

from fast_langgraph import _safe_msgpack
from fast_langgraph._version import __version__
from fast_langgraph_pure import PythonCodec
from fast_langgraph_pure.protocol import Codec

ENV_VAR: Final = "FAST_LANGGRAPH_IMPL"
RUST: Final = "rust"
PYTHON: Final = "python"
CHOICES: Final = (RUST, PYTHON)
# The distributions whose private names the native codec relies on.
WATCHED_DISTRIBUTIONS: Final = ("langgraph-checkpoint", "langchain-core", "pydantic")


@dataclass(frozen=True)
class Selection:
    """What this process runs: `name` is "rust" or "python"; `native` the
    loaded `fast_langgraph_rs` module (None for "python"); `reason` why the
    native codec is not used ("" when it is)."""

    name: str
    native: ModuleType | None
    reason: str


@dataclass(frozen=True)
class CodecChoice:
    """The codec one saver uses for one serializer, and the truth about it:
    `implementation` is "rust" when the native codec encodes and decodes the
    values, else "python"; `detail` says what runs, and why in plain words."""

    codec: Codec
    implementation: str
    detail: str


def _versions() -> str:
    found = []
    for name in WATCHED_DISTRIBUTIONS:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return ", ".join(found)


def _self_test(native: ModuleType) -> None:
    """Encode and decode a sample the way LangGraph does, natively and with
    langgraph's own serializer, and insist on the same bytes and objects. This
    catches a pydantic or langchain-core whose internals moved in a way no
    name check sees."""
    reference = LanggraphJsonPlus()
    sample = {
        "messages": [
            SystemMessage("be brief"),
            HumanMessage("hi", id="h1"),
            AIMessage(
                "",
                id="a1",
                tool_calls=[{"name": "add", "args": {"a": 1}, "id": "c1", "type": "tool_call"}],
                usage_metadata={"input_tokens": 3, "output_tokens": 4, "total_tokens": 7},
            ),
            ToolMessage("2", tool_call_id="c1", id="t1"),
        ],
        "count": 3,
        "nested": {"ok": True, "ratio": 0.5, "none": None, "raw": b"\x00"},
    }
    expected = reference.dumps_typed(sample)
    if native.dumps_typed(reference, sample) != expected:
        raise ImportError("its bytes differ from langgraph's JsonPlusSerializer on a sample")
    decoded = native.loads_typed(reference, expected)
    wanted = reference.loads_typed(expected)
    if decoded != wanted:
        raise ImportError("it decodes a sample differently from langgraph's JsonPlusSerializer")
    for got, want in zip(decoded["messages"], wanted["messages"], strict=True):
        for attribute in ("__dict__", "__pydantic_fields_set__", "__pydantic_extra__"):
            if getattr(got, attribute) != getattr(want, attribute):
                raise ImportError(f"a decoded message's {attribute} differs from pydantic's")


def _load_native() -> ModuleType:
    """`fast_langgraph_rs`, checked; ImportError saying why it cannot be used."""
    native = importlib.import_module("fast_langgraph_rs")
    if native.__version__ != __version__:
        raise ImportError(
            f"fast-langgraph-rs {native.__version__} does not match fast-langgraph "
            f"{__version__}: pip install 'fast-langgraph[rust]=={__version__}'"
        )
    try:
        native.probe()
    except RuntimeError as exc:
        raise ImportError(
            f"the native codec relies on names that are missing or changed ({exc}) "
            f"with {_versions()}"
        ) from exc
    try:
        _self_test(native)
    except ImportError as exc:
        raise ImportError(f"the native codec's self-test failed: {exc} with {_versions()}") from exc
    return native


def select(requested: str | None = None) -> Selection:
    """Choose the codec as `requested` (default: the environment variable) says."""
    if requested is None:
        requested = os.environ.get(ENV_VAR, "")
    requested = requested.strip().lower()
    if requested and requested not in CHOICES:
        raise ImportError(f"{ENV_VAR}={requested!r} is not one of {', '.join(CHOICES)}")
    if requested == PYTHON:
        return Selection(PYTHON, None, f"{ENV_VAR}=python")
    try:
        return Selection(RUST, _load_native(), "")
    except ImportError as exc:
        if requested == RUST:
            raise ImportError(
                f"{ENV_VAR}=rust, but the native codec cannot be used: {exc}"
            ) from exc
        if importlib.util.find_spec("fast_langgraph_rs") is None:
            return Selection(
                PYTHON,
                None,
                "fast-langgraph-rs is not installed (pip install 'fast-langgraph[rust]')",
            )
        reason = f"fast-langgraph-rs is installed but not used: {exc}"
        warnings.warn(
            f"fast-langgraph runs its Python codec: {reason}", RuntimeWarning, stacklevel=2
        )
        return Selection(PYTHON, None, reason)


@functools.cache
def current() -> Selection:
    """The selection for this process (made once, on first use)."""
    return select()


def _native_serves(serde: Any) -> bool:
    from fast_langgraph.serde import JsonPlusSerializer

    return type(serde) is LanggraphJsonPlus or type(serde) is JsonPlusSerializer


def _secured(serde: SerializerProtocol) -> SerializerProtocol:
    """`serde` with permissive JsonPlusSerializers (also inside an
    EncryptedSerializer) replaced by guarded copies; `serde` itself otherwise."""
    if type(serde) is EncryptedSerializer:
        inner = _safe_msgpack.secure(serde.serde)
        if inner is not serde.serde:
            return EncryptedSerializer(serde.cipher, inner)
        return serde
    return _safe_msgpack.secure(serde)


def _native_codec(native: ModuleType, serde: SerializerProtocol) -> Codec:
    secured = _safe_msgpack.secure(serde)
    codec: Codec = native.Codec(secured, trusted_hook=_safe_msgpack.is_guarded(secured))
    return codec


def codec_for(serde: SerializerProtocol) -> CodecChoice:
    """The codec a saver with this serializer uses."""
    selection = current()
    native = selection.native
    if native is None:
        return CodecChoice(
            PythonCodec(_secured(serde)),
            PYTHON,
            f"{type(serde).__qualname__} in Python: {selection.reason}",
        )
    if _native_serves(serde):
        return CodecChoice(_native_codec(native, serde), RUST, "native codec (fast-langgraph-rs)")
    if type(serde) is EncryptedSerializer and _native_serves(serde.serde):
        encrypted = EncryptedSerializer(serde.cipher, _native_codec(native, serde.serde))
        return CodecChoice(
            PythonCodec(encrypted),
            RUST,
            "native codec (fast-langgraph-rs) inside EncryptedSerializer, then its cipher",
        )
    return CodecChoice(
        PythonCodec(serde),
        PYTHON,
        f"{type(serde).__module__}.{type(serde).__qualname__} runs as given: the native "
        "codec serves only JsonPlusSerializer (and EncryptedSerializer around it)",
    )
