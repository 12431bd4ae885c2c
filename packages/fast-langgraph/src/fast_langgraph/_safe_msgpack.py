"""Safe decoding by default: stored bytes build only what a legitimate write made.

LangGraph's `JsonPlusSerializer` is permissive by default: a msgpack extension
value naming any importable `(module, name)` is called with the stored
arguments (it only logs a warning), so whoever can write the database can make
a reader run `os.system`, `subprocess.Popen` or `builtins.eval`.

The hook here keeps the permissive mode's reach for the values a
`JsonPlusSerializer` writes and refuses everything else. The rule: a
`(module, name)` in `SAFE_MSGPACK_TYPES` is rebuilt exactly as langgraph's hook
rebuilds it; any other name must resolve to a class of the kind its extension
code declares (what `jsonplus._msgpack_default` writes under that code, see
`_KINDS`). Functions, builtins and classes of any other kind are refused as
strict mode refuses them: the same "Blocked deserialization" warning, the same
serde event, and the stored argument returned unbuilt. Nested values go through
this hook too, so no part of a payload is decoded permissively.

Strict mode, explicit allowlists and hooks given to the constructor are left
to langgraph: `secure()` and `install()` change only a permissive serializer
that has langgraph's default hook.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import importlib
import logging
from collections import deque
from collections.abc import Callable, Sequence
from datetime import date, time, timedelta, timezone
from decimal import Decimal
from enum import Enum
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
)
from pathlib import PurePath
from typing import Any, Final, Literal, TypeVar
from uuid import UUID
from zoneinfo import ZoneInfo

import ormsgpack
from langgraph.checkpoint.serde import _msgpack as lg_msgpack
from langgraph.checkpoint.serde import jsonplus
from langgraph.checkpoint.serde import types as lg_types
from langgraph.checkpoint.serde.event_hooks import emit_serde_event
from langgraph.store.base import Item

EXT_CONSTRUCTOR_SINGLE_ARG: Final = jsonplus.EXT_CONSTRUCTOR_SINGLE_ARG
EXT_CONSTRUCTOR_POS_ARGS: Final = jsonplus.EXT_CONSTRUCTOR_POS_ARGS
EXT_CONSTRUCTOR_KW_ARGS: Final = jsonplus.EXT_CONSTRUCTOR_KW_ARGS
EXT_METHOD_SINGLE_ARG: Final = jsonplus.EXT_METHOD_SINGLE_ARG
EXT_PYDANTIC_V1: Final = jsonplus.EXT_PYDANTIC_V1
EXT_PYDANTIC_V2: Final = jsonplus.EXT_PYDANTIC_V2
EXT_NUMPY_ARRAY: Final = jsonplus.EXT_NUMPY_ARRAY
# Newer langgraph-checkpoint releases only; older ones decode code 7 to None.
_DeltaSnapshot: Any = getattr(lg_types, "_DeltaSnapshot", None)
EXT_DELTA_SNAPSHOT: int | None = getattr(jsonplus, "EXT_DELTA_SNAPSHOT", None)

# langgraph's logger and warn-once sets, so a type warned about once is warned
# about once whichever hook saw it (ours when langgraph's are missing).
_logger = getattr(jsonplus, "logger", logging.getLogger(jsonplus.__name__))
_WARNED_BLOCKED: set[tuple[str, str]] = getattr(jsonplus, "_warned_blocked_types", set())
_WARNED_UNREGISTERED: set[tuple[str, str]] = getattr(jsonplus, "_warned_unregistered_types", set())
_WARNED_UNRECONSTRUCTABLE: set[tuple[str, str]] = getattr(
    jsonplus, "_warned_unreconstructable_types", set()
)
_MAX_WARNED: Final[int] = getattr(jsonplus, "_MAX_WARNED_TYPES", 1000)

# The code object every hook langgraph's `_create_msgpack_ext_hook` makes shares:
# how a default hook is told from one a user installed.
_LANGGRAPH_HOOK_CODE: Final = jsonplus._create_msgpack_ext_hook(True).__code__

_S = TypeVar("_S")


# -- the kinds each extension code is written for (jsonplus._msgpack_default) ----------


def _declares(cls: type, *names: str) -> bool:
    """Whether instances of `cls` have these attributes by its declaration
    (class attributes, slots, annotations of any class in its MRO)."""
    declared: set[str] = set()
    for klass in cls.__mro__:
        declared.update(vars(klass))
        # Annotations may be computed on access (3.14) and fail on forward references.
        with contextlib.suppress(Exception):
            declared.update(klass.__annotations__)
    return all(name in declared for name in names)


def _has_method(cls: type, name: str) -> bool:
    return callable(getattr(cls, name, None))


def _is_send(cls: type) -> bool:
    # jsonplus writes any SendProtocol (an object with `node` and `arg`, such as
    # langgraph.types.Send, whose slots they are) under code 1 as cls(node, arg[, timeout]).
    return _declares(cls, "node", "arg")


_SINGLE_ARG_BASES: Final = (
    Enum,
    UUID,
    Decimal,
    set,
    frozenset,
    deque,
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
    ZoneInfo,
)
_POS_ARGS_BASES: Final = (PurePath, timedelta, date, timezone)


def _single_arg(cls: type) -> bool:
    return issubclass(cls, _SINGLE_ARG_BASES) or _has_method(cls, "get_secret_value")


def _pos_args(cls: type) -> bool:
    return issubclass(cls, _POS_ARGS_BASES) or _is_send(cls)


def _kw_args(cls: type) -> bool:
    if dataclasses.is_dataclass(cls) or issubclass(cls, (time, Item)):
        return True
    # namedtuple, typing.NamedTuple
    return issubclass(cls, tuple) and _has_method(cls, "_asdict") and hasattr(cls, "_fields")


_KINDS: Final[dict[int, Callable[[type], bool]]] = {
    EXT_CONSTRUCTOR_SINGLE_ARG: _single_arg,
    EXT_CONSTRUCTOR_POS_ARGS: _pos_args,
    EXT_CONSTRUCTOR_KW_ARGS: _kw_args,
    EXT_PYDANTIC_V1: lambda cls: _has_method(cls, "dict"),
    EXT_PYDANTIC_V2: lambda cls: _has_method(cls, "model_dump"),
}


def declared_kind(code: int, target: object) -> bool:
    """Whether `target` is a class a JsonPlusSerializer writes under `code`."""
    kind = _KINDS.get(code)
    if kind is None or not isinstance(target, type):
        return False
    try:
        return kind(target)
    except Exception:  # an odd metaclass: not something jsonplus wrote
        return False


# -- warnings and events, as langgraph's hook gives them --------------------------------


def _warn_once(seen: set[tuple[str, str]], key: tuple[str, str], msg: str, *args: object) -> None:
    if key in seen or len(seen) >= _MAX_WARNED:
        return
    seen.add(key)
    _logger.warning(msg, *args)


def _blocked(module: str, name: str) -> None:
    emit_serde_event({"kind": "msgpack_blocked", "module": module, "name": name})
    _warn_once(
        _WARNED_BLOCKED,
        (module, name),
        "Blocked deserialization of %s.%s - not in allowed_msgpack_modules. "
        "Add to allowed_msgpack_modules to allow: [(%r, %r)]",
        module,
        name,
        module,
        name,
    )


def _unregistered(module: str, name: str) -> None:
    emit_serde_event({"kind": "msgpack_unregistered_allowed", "module": module, "name": name})
    _warn_once(
        _WARNED_UNREGISTERED,
        (module, name),
        "Deserializing unregistered type %s.%s from checkpoint. "
        "This will be blocked in a future version. "
        "Set LANGGRAPH_STRICT_MSGPACK=true to block now, or add "
        "to allowed_msgpack_modules to allow explicitly: [(%r, %r)]",
        module,
        name,
        module,
        name,
    )


def _method_blocked(module: str, name: str, method: str) -> None:
    emit_serde_event(
        {"kind": "msgpack_method_blocked", "module": module, "name": name, "method": method}
    )
    _logger.warning(
        "Blocked deserialization of method call %s.%s.%s - not in allowed methods set.",
        module,
        name,
        method,
    )


def _local_fallback(tup: Any, exc: Exception) -> Any:
    try:
        module, name, payload = tup[0], tup[1], tup[2]
    except Exception:
        return None
    _warn_once(
        _WARNED_UNRECONSTRUCTABLE,
        (str(module), str(name)),
        "Could not reconstruct %s.%s from checkpoint (%s); returning its serialized data instead.",
        module,
        name,
        type(exc).__name__,
    )
    return payload


# What langgraph's hook returns when a constructor fails (newer releases keep the data).
_reconstruction_fallback: Callable[[Any, Exception], Any] = getattr(
    jsonplus, "_reconstruction_fallback", _local_fallback
)


def _send_from_args(args: Sequence[Any]) -> Any:
    from langgraph.types import Send

    if len(args) == 2:
        return Send(*args)
    return Send(args[0], args[1], timeout=args[2])


# -- the hook ------------------------------------------------------------------------

_BLOCKED: Final = object()


def _resolve(module: str, name: str) -> Any:
    return getattr(importlib.import_module(module), name)


def _admit(code: int, module: str, name: str) -> Any:
    """The object to call for `(module, name)` under `code`, or `_BLOCKED`."""
    if (module, name) in lg_msgpack.SAFE_MSGPACK_TYPES:
        return _resolve(module, name)
    # Resolving imports the module, as the permissive hook always did; nothing
    # named is called unless it is a class of the declared kind. A name that
    # does not resolve is no such class either.
    try:
        target = _resolve(module, name)
    except Exception:
        target = None
    if declared_kind(code, target):
        _unregistered(module, name)
        return target
    _blocked(module, name)
    return _BLOCKED


def _unpack(data: bytes) -> Any:
    return ormsgpack.unpackb(data, ext_hook=guarded_hook, option=ormsgpack.OPT_NON_STR_KEYS)


def guarded_hook(code: int, data: bytes) -> Any:
    """langgraph's permissive ext hook, building only the kinds jsonplus writes.

    Shaped as `jsonplus._create_msgpack_ext_hook`'s hook, code by code, so a
    value it admits comes back exactly as langgraph would give it."""
    if code == EXT_DELTA_SNAPSHOT and _DeltaSnapshot is not None:
        return _DeltaSnapshot(_unpack(data))
    if code in (EXT_CONSTRUCTOR_SINGLE_ARG, EXT_CONSTRUCTOR_POS_ARGS, EXT_CONSTRUCTOR_KW_ARGS):
        tup = None
        try:
            tup = _unpack(data)
            target = _admit(code, tup[0], tup[1])
            if target is _BLOCKED:
                return tup[2]
            if code == EXT_CONSTRUCTOR_SINGLE_ARG:
                return target(tup[2])
            if code == EXT_CONSTRUCTOR_POS_ARGS:
                if tup[0] == "langgraph.types" and tup[1] == "Send":
                    return _send_from_args(tup[2])
                return target(*tup[2])
            return target(**tup[2])
        except Exception as exc:
            return _reconstruction_fallback(tup, exc)
    if code == EXT_METHOD_SINGLE_ARG:
        tup = None
        try:
            tup = _unpack(data)
            if (tup[0], tup[1], tup[3]) not in lg_msgpack.SAFE_MSGPACK_METHODS:
                _method_blocked(tup[0], tup[1], tup[3])
                return tup[2]
            return getattr(_resolve(tup[0], tup[1]), tup[3])(tup[2])
        except Exception as exc:
            return _reconstruction_fallback(tup, exc)
    if code in (EXT_PYDANTIC_V1, EXT_PYDANTIC_V2):
        tup = None
        try:
            tup = _unpack(data)
            cls = _admit(code, tup[0], tup[1])
            if cls is _BLOCKED:
                return tup[2]
            try:
                return cls(**tup[2])
            except Exception:
                if code == EXT_PYDANTIC_V1:
                    return cls.construct(**tup[2])
                return cls.model_construct(**tup[2])
        except Exception:
            # As langgraph: the stored kwargs when the model cannot be rebuilt.
            return None if tup is None else tup[2]
    if code == EXT_NUMPY_ARRAY:
        try:
            numpy = importlib.import_module("numpy")
            dtype, shape, order, buffer = _unpack(data)
            array = numpy.frombuffer(buffer, dtype=numpy.dtype(dtype))
            return array.reshape(shape, order=order)
        except Exception:
            return None
    return None


# -- choosing and installing it --------------------------------------------------------


def safe_ext_hook(
    allowed_modules: set[tuple[str, ...]] | Literal[True] | None,
) -> Callable[[int, bytes], Any]:
    """The ext hook for a normalized `allowed_msgpack_modules`: the guarded one
    for the permissive default (True), langgraph's own for strict mode (None)
    and explicit allowlists."""
    if allowed_modules is True:
        return guarded_hook
    hook: Callable[[int, bytes], Any] = jsonplus._create_msgpack_ext_hook(allowed_modules)
    return hook


def is_guarded(serde: object) -> bool:
    """Whether `serde` decodes extension values with the guarded hook."""
    return getattr(serde, "_unpack_ext_hook", None) is guarded_hook


def _needs_guard(serde: Any) -> bool:
    """Permissive, with langgraph's default hook (no hook of the user's)."""
    if getattr(serde, "_allowed_msgpack_modules", None) is not True:
        return False
    if getattr(serde, "_custom_unpack_ext_hook", True):
        return False
    hook = getattr(serde, "_unpack_ext_hook", None)
    return getattr(hook, "__code__", None) is _LANGGRAPH_HOOK_CODE


def install(serde: jsonplus.JsonPlusSerializer) -> None:
    """Give a permissive JsonPlusSerializer with langgraph's default hook the
    guarded one, in place; any other serializer is left as it is."""
    if _needs_guard(serde):
        serde._unpack_ext_hook = safe_ext_hook(serde._allowed_msgpack_modules)


def secure(serde: _S) -> _S:
    """`serde` itself unless it is langgraph's or our JsonPlusSerializer (exact
    class) in permissive mode with langgraph's default hook; then a shallow copy
    with the guarded hook (the caller's object is never changed)."""
    from fast_langgraph.serde import JsonPlusSerializer

    if type(serde) not in (jsonplus.JsonPlusSerializer, JsonPlusSerializer):
        return serde
    if not _needs_guard(serde):
        return serde
    clone = copy.copy(serde)
    install(clone)  # type: ignore[arg-type]
    return clone


__all__ = ["declared_kind", "guarded_hook", "install", "is_guarded", "safe_ext_hook", "secure"]
