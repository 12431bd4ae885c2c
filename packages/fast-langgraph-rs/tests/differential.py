"""Differential fuzzing of the native decoder against langgraph's.

The reference for `loads_typed` is `JsonPlusSerializer().loads_typed(("msgpack",
data))`; for metadata `json.loads` and `json.dumps(m, ensure_ascii=False)` in
UTF-8. The native codec must give the same result on any input, malformed or
not: equal values of the very same types (for pydantic models also the same
`__dict__`, fields set and extras), or an exception of the same type and
message.

Inputs: legitimately encoded checkpoints, messages and other values, mutated on
the MessagePack tree (type swaps, invalid UTF-8, wrong arity, changed extension
codes, odd keys, values that validation would alter) and on the bytes (flips,
truncation, splicing, huge lengths); random MessagePack; JSON text mutated and
generated; random metadata values to encode.

Used by `test_decoder_differential.py` (a few seconds, fixed seeds) and by the
soak entry point `tests/reliability/fuzz_decoder.py` (as long as asked).
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import json
import logging
import math
import random
import struct
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    ChatMessage,
    ChatMessageChunk,
    FunctionMessage,
    FunctionMessageChunk,
    HumanMessage,
    HumanMessageChunk,
    RemoveMessage,
    SystemMessage,
    SystemMessageChunk,
    ToolMessage,
    ToolMessageChunk,
)
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.serde.types import _DeltaSnapshot
from langgraph.types import Command, Interrupt, Send
from pydantic import BaseModel

import fast_langgraph_rs as native

# --- comparing outcomes ------------------------------------------------------


def difference(ours: Any, reference: Any, path: str = "value") -> str | None:
    """Where `ours` differs from `reference` (types included), or None."""
    if type(ours) is not type(reference):
        return f"{path}: {type(ours).__name__} != {type(reference).__name__}"
    if isinstance(reference, BaseException):
        if str(ours) != str(reference):
            return f"{path}: {type(reference).__name__}({ours}) != ({reference})"
        return None
    if isinstance(reference, float):
        # repr tells NaN from NaN and -0.0 from 0.0 as equality cannot.
        return None if repr(ours) == repr(reference) else f"{path}: {ours!r} != {reference!r}"
    if isinstance(reference, dict):
        if len(ours) != len(reference):
            return f"{path}: keys {list(ours)!r} != {list(reference)!r}"
        for index, (left, right) in enumerate(zip(ours, reference, strict=True)):
            found = difference(left, right, f"{path}.keys()[{index}]")
            if found:
                return found
            found = difference(ours[left], reference[right], f"{path}[{right!r}]")
            if found:
                return found
        return None
    if isinstance(reference, (list, tuple)):
        if len(ours) != len(reference):
            return f"{path}: length {len(ours)} != {len(reference)}"
        for index, (left, right) in enumerate(zip(ours, reference, strict=True)):
            found = difference(left, right, f"{path}[{index}]")
            if found:
                return found
        return None
    if isinstance(reference, BaseModel):
        for attribute in ("__dict__", "__pydantic_extra__", "__pydantic_private__"):
            found = difference(
                getattr(ours, attribute), getattr(reference, attribute), f"{path}.{attribute}"
            )
            if found:
                return found
        if ours.__pydantic_fields_set__ != reference.__pydantic_fields_set__:
            return (
                f"{path}.__pydantic_fields_set__: "
                f"{sorted(ours.__pydantic_fields_set__)} != "
                f"{sorted(reference.__pydantic_fields_set__)}"
            )
        return None
    if isinstance(reference, (set, frozenset)):
        # Sorted reprs: NaN members never compare equal.
        if sorted(map(repr, ours)) != sorted(map(repr, reference)):
            return f"{path}: {ours!r} != {reference!r}"
        return None
    if isinstance(reference, _DeltaSnapshot):
        return difference(ours.value, reference.value, f"{path}.value")
    if isinstance(reference, Send):
        return difference((ours.node, ours.arg), (reference.node, reference.arg), path)
    if dataclasses.is_dataclass(reference):
        for item in dataclasses.fields(reference):
            found = difference(
                getattr(ours, item.name), getattr(reference, item.name), f"{path}.{item.name}"
            )
            if found:
                return found
        return None
    eq: Any = type(reference).__eq__
    if eq is object.__eq__:
        # Compared by identity: compare what they hold instead.
        held = getattr(reference, "__dict__", None)
        return None if held is None else difference(vars(ours), held, f"{path}.__dict__")
    try:
        equal = bool(ours == reference)
    except Exception as error:
        return f"{path}: comparing raised {error!r}"
    return None if equal else f"{path}: {ours!r} != {reference!r}"


def outcome(call: Callable[[], Any]) -> Any:
    """The call's result, or the exception it raised."""
    try:
        return call()
    except Exception as error:
        return error


# --- a MessagePack tree that can hold what Python objects cannot -------------


@dataclass(frozen=True)
class Str:
    """A MessagePack str of any bytes (invalid UTF-8 included)."""

    raw: bytes


@dataclass(frozen=True)
class F32:
    value: float


@dataclass
class Ext:
    code: int
    payload: Any  # a node, or `bytes` written as they are


@dataclass
class Map:
    items: list[tuple[Any, Any]] = field(default_factory=list)


def s(text: str) -> Str:
    return Str(text.encode())


class Writer:
    """MessagePack as ormsgpack writes it, or, with `wide`, in longer encodings
    every decoder must accept as well."""

    def __init__(self, rng: random.Random | None = None, wide: float = 0.0) -> None:
        self.rng = rng
        self.wide = wide

    def _wide(self) -> bool:
        return self.rng is not None and self.rng.random() < self.wide

    def write(self, node: Any) -> bytes:
        out = bytearray()
        self._write(out, node)
        return bytes(out)

    def _length(self, out: bytearray, n: int, fix: int | None, fix_max: int, codes: bytes) -> None:
        if fix is not None and n <= fix_max and not self._wide():
            out.append(fix | n)
        elif codes[0] and n < 0x100 and not self._wide():
            out += bytes([codes[0], n])
        elif n < 0x10000 and not self._wide():
            out += bytes([codes[1]]) + struct.pack(">H", n)
        else:
            out += bytes([codes[2]]) + struct.pack(">I", n)

    def _write(self, out: bytearray, node: Any) -> None:
        if node is None:
            out.append(0xC0)
        elif node is True or node is False:
            out.append(0xC3 if node else 0xC2)
        elif isinstance(node, int):
            self._int(out, node)
        elif isinstance(node, float):
            out += b"\xcb" + struct.pack(">d", node)
        elif isinstance(node, F32):
            value = node.value
            if math.isfinite(value) and abs(value) > 3.4e38:
                value = math.copysign(math.inf, value)  # beyond float32: its infinity
            out += b"\xca" + struct.pack(">f", value)
        elif isinstance(node, Str):
            self._length(out, len(node.raw), 0xA0, 31, b"\xd9\xda\xdb")
            out += node.raw
        elif isinstance(node, (bytes, bytearray)):
            self._length(out, len(node), None, 0, b"\xc4\xc5\xc6")
            out += node
        elif isinstance(node, list):
            self._length(out, len(node), 0x90, 15, b"\x00\xdc\xdd")
            for item in node:
                self._write(out, item)
        elif isinstance(node, Map):
            self._length(out, len(node.items), 0x80, 15, b"\x00\xde\xdf")
            for key, value in node.items:
                self._write(out, key)
                self._write(out, value)
        elif isinstance(node, Ext):
            payload = node.payload if isinstance(node.payload, bytes) else self.write(node.payload)
            fixed = {1: 0xD4, 2: 0xD5, 4: 0xD6, 8: 0xD7, 16: 0xD8}
            if len(payload) in fixed and not self._wide():
                out.append(fixed[len(payload)])
            else:
                self._length(out, len(payload), None, 0, b"\xc7\xc8\xc9")
            out += struct.pack(">b", node.code) + payload
        else:
            raise TypeError(f"not a node: {node!r}")

    def _int(self, out: bytearray, value: int) -> None:
        value = max(-(2**63), min(value, 2**64 - 1))  # what MessagePack can hold
        wide = self._wide()
        if 0 <= value < 0x80 and not wide:
            out.append(value)
        elif -32 <= value < 0 and not wide:
            out += struct.pack(">b", value)
        elif value >= 0:
            for code, fmt, limit in ((0xCC, ">B", 8), (0xCD, ">H", 16), (0xCE, ">I", 32)):
                if value < 1 << limit and not (wide and limit < 64 and self._wide()):
                    out += bytes([code]) + struct.pack(fmt, value)
                    return
            out += b"\xcf" + struct.pack(">Q", value)
        else:
            for code, fmt, limit in ((0xD0, ">b", 7), (0xD1, ">h", 15), (0xD2, ">i", 31)):
                if value >= -(1 << limit) and not (wide and self._wide()):
                    out += bytes([code]) + struct.pack(fmt, value)
                    return
            out += b"\xd3" + struct.pack(">q", value)


class Truncated(Exception):
    pass


def parse(data: bytes) -> Any:
    """The tree of well-formed MessagePack; extension payloads that are
    themselves one MessagePack value become trees too."""
    node, end = _parse(data, 0)
    if end != len(data):
        raise Truncated("trailing bytes")
    return node


def _take(data: bytes, at: int, n: int) -> bytes:
    if at + n > len(data):
        raise Truncated("truncated")
    return data[at : at + n]


def _parse(data: bytes, at: int) -> tuple[Any, int]:
    head = _take(data, at, 1)[0]
    at += 1

    def unpack(fmt: str, n: int) -> tuple[Any, int]:
        return struct.unpack(fmt, _take(data, at, n))[0], at + n

    if head < 0x80:
        return head, at
    if head >= 0xE0:
        return head - 0x100, at
    if 0x80 <= head <= 0x8F:
        return _map(data, at, head & 0x0F)
    if 0x90 <= head <= 0x9F:
        return _array(data, at, head & 0x0F)
    if 0xA0 <= head <= 0xBF:
        n = head & 0x1F
        return Str(_take(data, at, n)), at + n
    simple = {0xC0: None, 0xC2: False, 0xC3: True}
    if head in simple:
        return simple[head], at
    numbers = {
        0xCA: (">f", 4),
        0xCB: (">d", 8),
        0xCC: (">B", 1),
        0xCD: (">H", 2),
        0xCE: (">I", 4),
        0xCF: (">Q", 8),
        0xD0: (">b", 1),
        0xD1: (">h", 2),
        0xD2: (">i", 4),
        0xD3: (">q", 8),
    }
    if head in numbers:
        value, at = unpack(*numbers[head])
        return (F32(value) if head == 0xCA else value), at
    sizes = {0xC4: 1, 0xC5: 2, 0xC6: 4, 0xD9: 1, 0xDA: 2, 0xDB: 4, 0xC7: 1, 0xC8: 2, 0xC9: 4}
    sizes |= {0xDC: 2, 0xDD: 4, 0xDE: 2, 0xDF: 4}
    fixext = {0xD4: 1, 0xD5: 2, 0xD6: 4, 0xD7: 8, 0xD8: 16}
    if head in fixext:
        n = fixext[head]
    elif head in sizes:
        width = sizes[head]
        n, at = int.from_bytes(_take(data, at, width), "big"), at + width
    else:
        raise Truncated(f"reserved byte {head:#x}")
    if head in (0xC4, 0xC5, 0xC6):
        return _take(data, at, n), at + n
    if head in (0xD9, 0xDA, 0xDB):
        return Str(_take(data, at, n)), at + n
    if head in (0xDC, 0xDD):
        return _array(data, at, n)
    if head in (0xDE, 0xDF):
        return _map(data, at, n)
    code = struct.unpack(">b", _take(data, at, 1))[0]
    payload = _take(data, at + 1, n)
    try:
        inner: Any = parse(payload)
    except (Truncated, RecursionError):
        inner = payload
    return Ext(code, inner), at + 1 + n


def _array(data: bytes, at: int, n: int) -> tuple[Any, int]:
    items = []
    for _ in range(n):
        item, at = _parse(data, at)
        items.append(item)
    return items, at


def _map(data: bytes, at: int, n: int) -> tuple[Any, int]:
    items = []
    for _ in range(n):
        key, at = _parse(data, at)
        value, at = _parse(data, at)
        items.append((key, value))
    return Map(items), at


# --- seeds: what jsonplus really writes --------------------------------------


class Color(enum.Enum):
    RED = "red"
    BLUE = 2


def _messages() -> list[Any]:
    call = {"name": "search", "args": {"q": "weather", "n": 3}, "id": "call_1", "type": "tool_call"}
    usage = {
        "input_tokens": 10,
        "output_tokens": 5,
        "total_tokens": 15,
        "input_token_details": {"audio": 0, "cache_read": 2},
        "output_token_details": {"reasoning": 1},
    }
    raw_calls = [
        {"id": "c9", "function": {"name": "f", "arguments": '{"a": 1}'}, "type": "function"}
    ]
    return [
        HumanMessage("hello", id="m1"),
        HumanMessage([{"type": "text", "text": "hi"}, "there"], name="ann"),
        HumanMessageChunk(content="chunk"),
        SystemMessage("be brief", additional_kwargs={"k": [1, 2]}),
        SystemMessageChunk(content="sys"),
        AIMessage(
            "calling",
            id="m2",
            tool_calls=[call],
            invalid_tool_calls=[
                {
                    "name": "bad",
                    "args": "{",
                    "id": "c2",
                    "error": "json",
                    "type": "invalid_tool_call",
                }
            ],
            usage_metadata=usage,
            response_metadata={"model": "x", "finish_reason": "tool_calls"},
        ),
        AIMessage("", additional_kwargs={"tool_calls": raw_calls}),
        AIMessage(""),
        AIMessageChunk(
            content="part",
            tool_call_chunks=[
                {"name": "f", "args": "{", "id": "c3", "index": 0, "type": "tool_call_chunk"}
            ],
        ),
        ToolMessage("42", tool_call_id="call_1", artifact={"raw": [1, 2]}, status="error"),
        ToolMessage([{"type": "text", "text": "ok"}], tool_call_id="call_2"),
        ToolMessageChunk(content="t", tool_call_id="c"),
        ChatMessage(content="chat", role="critic"),
        ChatMessageChunk(content="chat", role="critic"),
        FunctionMessage(content="fn", name="f"),
        FunctionMessageChunk(content="fn", name="f"),
        RemoveMessage(id="m1"),
    ]


def seed_values() -> list[Any]:
    messages = _messages()
    checkpoint = {
        "v": 4,
        "ts": "2024-07-31T20:14:19.804150+00:00",
        "id": "1ef4f797-8335-6428-8001-8a1503f9b875",
        "channel_values": {
            "messages": messages[:8],
            "count": 3,
            "branch:to:agent": None,
            "scores": [1.5, -2, 2**40, True],
        },
        "channel_versions": {"__start__": 2, "messages": "00000000000000000000000000000003.0.1"},
        "versions_seen": {"__input__": {}, "agent": {"messages": 2}},
        "updated_channels": ["messages"],
    }
    plain = {
        "text": "é日本😀",
        "bytes": b"\x00\xff",
        "ints": [0, -1, 127, 128, -33, 2**32, -(2**63), 2**64 - 1],
        "floats": [0.0, -0.0, 1e300, float("inf"), float("nan")],
        1: "int key",
        None: [],
        "nested": [[[{"a": {}}]]],
    }
    others = [
        datetime.datetime(2024, 5, 1, 12, 30, 5, 123),
        datetime.datetime(2024, 5, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
        datetime.date(2024, 2, 29),
        datetime.time(23, 59, 1),
        datetime.timedelta(days=1, seconds=5),
        uuid.UUID(int=12345),
        decimal.Decimal("1.25"),
        {1, 2},
        frozenset({"a"}),
        Color.BLUE,
        Send("node", {"x": messages[0]}),
        Interrupt("why?", "i1"),
        Command(goto="n", update={"k": 1}),
        _DeltaSnapshot([messages[0]]),
    ]
    writes = [["task-1", "messages", [messages[5], messages[9]]], ["task-2", "__error__", "x"]]
    return [checkpoint, plain, writes, *messages, *others, others, messages]


# --- mutation -----------------------------------------------------------------

MESSAGE_CLASSES = [
    ("langchain_core.messages.human", "HumanMessage"),
    ("langchain_core.messages.human", "HumanMessageChunk"),
    ("langchain_core.messages.ai", "AIMessage"),
    ("langchain_core.messages.ai", "AIMessageChunk"),
    ("langchain_core.messages.system", "SystemMessage"),
    ("langchain_core.messages.system", "SystemMessageChunk"),
    ("langchain_core.messages.chat", "ChatMessage"),
    ("langchain_core.messages.chat", "ChatMessageChunk"),
    ("langchain_core.messages.tool", "ToolMessage"),
    ("langchain_core.messages.tool", "ToolMessageChunk"),
    ("langchain_core.messages.function", "FunctionMessage"),
    ("langchain_core.messages.function", "FunctionMessageChunk"),
    ("langchain_core.messages.modifier", "RemoveMessage"),
    ("langchain_core.messages.base", "BaseMessage"),
    ("langchain_core.messages.base", "BaseMessageChunk"),
]
FIELD_NAMES = [
    "content",
    "additional_kwargs",
    "response_metadata",
    "type",
    "name",
    "id",
    "role",
    "status",
    "tool_call_id",
    "artifact",
    "tool_calls",
    "invalid_tool_calls",
    "usage_metadata",
    "tool_call_chunks",
    "chunk_position",
    "content_blocks",
    "example",
    "lc",
]
WORDS = [
    "",
    "x",
    "human",
    "ai",
    "tool",
    "system",
    "chat",
    "function",
    "remove",
    "HumanMessageChunk",
    "AIMessageChunk",
    "tool_call",
    "invalid_tool_call",
    "tool_call_chunk",
    "text",
    "success",
    "error",
    "last",
    "model_validate_json",
    "model_construct",
    "name",
    "args",
    "id",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "input_token_details",
    "output_token_details",
    "audio",
    "cache_read",
    "reasoning",
    "function",
    "arguments",
    *FIELD_NAMES,
    *(module for module, _ in MESSAGE_CLASSES),
    *(name for _, name in MESSAGE_CLASSES),
]
BAD_UTF8 = [b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xe6\x97", b"\xf4\x90\x80\x80", b"\x80"]


def invalid_utf8(rng: random.Random, raw: bytes = b"") -> Str:
    at = rng.randint(0, len(raw))
    return Str(raw[:at] + rng.choice(BAD_UTF8) + raw[at:])


def interesting(rng: random.Random) -> Any:
    """A value picked to make validation or the decoder take an unusual turn."""
    choice = rng.randrange(40)
    call = Map(
        [(s("name"), s("f")), (s("args"), Map()), (s("id"), None), (s("type"), s("tool_call"))]
    )
    if choice < 8:
        return rng.choice(
            [
                *(None, True, False, 0, 1, -1, 2**63 - 1, -(2**63), 2**64 - 1, 1.5, -0.0),
                *(math.nan, math.inf, F32(1.5), b"", b"x", b"\xff"),
            ]
        )
    if choice < 18:
        return s(rng.choice(WORDS))
    if choice < 21:
        return invalid_utf8(rng, rng.choice(WORDS).encode())
    if choice < 30:
        return rng.choice(
            [
                [],
                [s("")],
                [Map()],
                [s("a"), Map([(s("type"), s("text")), (s("text"), s("t"))])],
                [1],
                [None],
                [b"x"],
                [[]],
                [s("x"), 2],
                Map(),
                Map([(s("a"), 1)]),
                Map([(1, 2)]),
                Map([(b"k", 1)]),
                Map([(None, 1)]),
                Map([(s("tool_calls"), [])]),
                Map([(s("tool_calls"), [Map([(s("id"), s("c"))])])]),
                [call],
                [Map(call.items[:3])],
                [Map([*call.items, (s("extras"), Map())])],
                [Map(list(reversed(call.items)))],
                [Map([(s("name"), s("f")), (s("args"), Map([(b"k", 1)]))])],
            ]
        )
    if choice < 34:
        tokens = rng.choice([1, 0, -1, True, 1.0, 2**64 - 1, None, s("1")])
        usage = [(s("input_tokens"), tokens), (s("output_tokens"), 2), (s("total_tokens"), 3)]
        extra: list[Any] = rng.choice(
            [
                [],
                [(s("input_token_details"), Map([(s("audio"), tokens)]))],
                [(s("input_token_details"), Map([(s("cache_read"), 1), (s("audio"), 1)]))],
                [(s("output_token_details"), Map([(s("other"), 1)]))],
                [(s("unknown"), 1)],
            ]
        )
        items: list[Any] = [*usage, *extra]
        if rng.random() < 0.3:
            rng.shuffle(items)
        return Map(items)
    if choice < 37:
        module, name = rng.choice(MESSAGE_CLASSES)
        kwargs = Map([(s("content"), s("nested"))])
        return Ext(5, [s(module), s(name), kwargs, s("model_validate_json")])
    return rng.choice(
        [
            Ext(0, [s("uuid"), s("UUID"), s("0" * 32)]),
            Ext(3, [s("datetime"), s("datetime"), s("2024-01-01T00:00:00"), s("fromisoformat")]),
            Ext(rng.randint(-128, 127), b""),
            Ext(7, [1, 2]),
        ]
    )


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every node's path, the root's included."""
    yield prefix
    if isinstance(node, list):
        for index, item in enumerate(node):
            yield from paths(item, (*prefix, index))
    elif isinstance(node, Map):
        for index, (key, value) in enumerate(node.items):
            yield from paths(key, (*prefix, ("k", index)))
            yield from paths(value, (*prefix, ("v", index)))
    elif isinstance(node, Ext) and not isinstance(node.payload, bytes):
        yield from paths(node.payload, (*prefix, "payload"))


def get(node: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        if step == "payload":
            node = node.payload
        elif isinstance(step, tuple):
            key, value = node.items[step[1]]
            node = key if step[0] == "k" else value
        else:
            node = node[step]
    return node


def replaced(node: Any, path: tuple[Any, ...], new: Any) -> Any:
    """A copy of `node` with the node at `path` replaced by `new`."""
    if not path:
        return new
    step, rest = path[0], path[1:]
    if step == "payload":
        return Ext(node.code, replaced(node.payload, rest, new))
    if isinstance(step, tuple):
        items = list(node.items)
        key, value = items[step[1]]
        items[step[1]] = (
            (replaced(key, rest, new), value)
            if step[0] == "k"
            else (key, replaced(value, rest, new))
        )
        return Map(items)
    items = list(node)
    items[step] = replaced(items[step], rest, new)
    return items


def random_tree(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(10 if depth < 4 else 6)
    if kind < 4:
        return interesting(rng) if rng.random() < 0.5 else rng.choice([0, 7, -5, 300, 2.5])
    if kind < 6:
        if rng.random() < 0.2:
            return invalid_utf8(rng)
        return Str(bytes(rng.choice(b"abc\x00\xc3\xa9") for _ in range(rng.randrange(6))))
    if kind < 7:
        return [random_tree(rng, depth + 1) for _ in range(rng.randrange(4))]
    if kind < 8:
        return Map(
            [(random_key(rng), random_tree(rng, depth + 1)) for _ in range(rng.randrange(4))]
        )
    if kind < 9:
        # Only codes and names whose hooks build langgraph's own types, or nothing.
        return Ext(rng.choice([-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 42]), random_tree(rng, depth + 1))
    module, name = rng.choice(MESSAGE_CLASSES)
    kwargs = Map([(s(rng.choice(FIELD_NAMES)), random_tree(rng, depth + 1)) for _ in range(3)])
    return Ext(5, [s(module), s(name), kwargs, s("model_validate_json")])


def random_key(rng: random.Random) -> Any:
    return rng.choice(
        [
            *(s(rng.choice(WORDS)), s(rng.choice(WORDS)), 1, -1, None, True, 2.5, b"k"),
            *(invalid_utf8(rng), F32(0.5), [], [1], Map(), Ext(0, b"\x00")),
        ]
    )


def swap_type(rng: random.Random, node: Any) -> Any:
    """The node as another type holding much the same thing."""
    if isinstance(node, Str):
        return rng.choice([node.raw, invalid_utf8(rng, node.raw), [node], Map([(node, node)])])
    if isinstance(node, bytes):
        return rng.choice([Str(node), [node]])
    if isinstance(node, bool):
        return int(node)
    if isinstance(node, int):
        return rng.choice([float(node), node != 0, Str(str(node).encode()), F32(float(node))])
    if isinstance(node, float):
        return rng.choice([int(node) if math.isfinite(node) else 0, F32(node), Str(b"1.0")])
    if isinstance(node, list):
        return rng.choice(
            [Map([(s(f"k{index}"), item) for index, item in enumerate(node)]), node[:1], None]
        )
    if isinstance(node, Map):
        return rng.choice([[value for _, value in node.items], [], None])
    if isinstance(node, Ext):
        return rng.choice([node.payload, Ext(rng.randint(-128, 127), node.payload)])
    return interesting(rng)


def reshape(rng: random.Random, node: Any) -> Any:
    """Arity and key changes of containers and extension values."""
    if isinstance(node, list):
        items = list(node)
        action = rng.randrange(5)
        if action == 0 and items:
            del items[rng.randrange(len(items))]
        elif action == 1 and items:
            items.insert(rng.randrange(len(items) + 1), rng.choice(items))
        elif action == 2:
            items.append(interesting(rng))
        elif action == 3:
            rng.shuffle(items)
        elif len(items) >= 2:
            # Another message class for the same kwargs.
            module, name = rng.choice(MESSAGE_CLASSES)
            items[0], items[1] = s(module), s(name)
        return items
    if isinstance(node, Map):
        items = list(node.items)
        action = rng.randrange(6)
        if action == 0 and items:
            del items[rng.randrange(len(items))]
        elif action == 1 and items:
            items.insert(rng.randrange(len(items) + 1), rng.choice(items))
        elif action == 2 and items:
            at = rng.randrange(len(items))
            items[at] = (random_key(rng), items[at][1])
        elif action == 3:
            items.append((s(rng.choice(FIELD_NAMES)), interesting(rng)))
        elif action == 4:
            rng.shuffle(items)
        elif items:
            at = rng.randrange(len(items))
            items[at] = (items[at][0], interesting(rng))
        return Map(items)
    if isinstance(node, Ext):
        payload = node.payload
        data = payload if isinstance(payload, bytes) else Writer().write(payload)
        return rng.choice(
            [
                Ext(rng.choice([-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 100]), node.payload),
                Ext(node.code, data[: rng.randrange(len(data) + 1)]),
                Ext(node.code, data + Writer().write(interesting(rng))),
                Ext(node.code, bytes_mutation(rng, data, [])),
            ]
        )
    return swap_type(rng, node)


class TreeMutator:
    def __init__(self, rng: random.Random, trees: list[Any]) -> None:
        self.rng = rng
        self.trees = trees
        # Nodes to splice in: every node of every seed.
        self.donors = [get(tree, path) for tree in trees for path in paths(tree)]

    def mutate(self, tree: Any) -> Any:
        rng = self.rng
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            all_paths = list(paths(tree))
            # Favour nodes inside messages: where the native decoder does most.
            inside = [p for p in all_paths if "payload" in p]
            path = rng.choice(inside if inside and rng.random() < 0.7 else all_paths)
            node = get(tree, path)
            action = rng.randrange(6)
            if action == 0:
                new = interesting(rng)
            elif action == 1:
                new = rng.choice(self.donors)
            elif action == 2:
                new = swap_type(rng, node)
            elif action in (3, 4):
                new = reshape(rng, node)
            else:
                new = random_tree(rng)
            tree = replaced(tree, path, new)
        return tree


def bytes_mutation(rng: random.Random, data: bytes, others: list[bytes]) -> bytes:
    out = bytearray(data)
    for _ in range(rng.choice([1, 1, 2, 4])):
        action = rng.randrange(9)
        at = rng.randrange(len(out) + 1)
        if action == 0 and out:
            out[min(at, len(out) - 1)] ^= 1 << rng.randrange(8)
        elif action == 1 and out:
            out[min(at, len(out) - 1)] = rng.choice(
                b"\x00\x7f\x80\x90\xa0\xc0\xc1\xc2\xc3\xc4\xc7\xca\xcb"
                b"\xcf\xd3\xd4\xd6\xd9\xdb\xdc\xdd\xde\xdf\xff\xe0"
            )
        elif action == 2:
            del out[at:]
        elif action == 3:
            out[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 5)))
        elif action == 4 and out:
            del out[at : at + rng.randrange(1, 8)]
        elif action == 5 and others:
            donor = rng.choice(others)
            start = rng.randrange(len(donor) + 1)
            out[at:at] = donor[start : start + rng.randrange(1, 40)]
        elif action == 6:
            # A length far beyond the data.
            out[at:at] = rng.choice(
                [
                    *(b"\xdb\xff\xff\xff\xff", b"\xdd\x7f\xff\xff\xff", b"\xdf\xff\xff\xff\xff"),
                    *(b"\xc6\xff\xff\xff\xff", b"\xc9\x7f\xff\xff\xff\x05", b"\xdc\xff\xff"),
                ]
            )
        elif action == 7 and out:
            start = rng.randrange(len(out))
            out[at:at] = out[start : start + rng.randrange(1, 16)]
        else:
            out[at:at] = Writer().write(interesting(rng))
    return bytes(out)


# --- metadata ------------------------------------------------------------------

JSON_SEEDS = [
    {"source": "loop", "step": 3, "parents": {}, "writes": None, "run_id": "r-1"},
    {"source": "input", "step": -1, "score": 0.1, "big": 2**70, "tags": ["a", "é", "日本", "😀"]},
    {"nested": {"deep": [[[{"x": [1.5e300, -0.0, 1e-320]}]]]}, "flag": True, "none": None},
    ["top", "level", 1, 2.5],
    'just a string with " quote \\ and \n newline',
    {"empty": {}, "list": [], "unicode": "\u2028\u2029\x00\x1f"},
]
JSON_FRAGMENTS = [
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b"-0",
    b"1e400",
    b"-1e400",
    b"1E5",
    b"1.0e-5",
    b"00",
    b"01",
    b"1.",
    b".5",
    b"+1",
    b"0x10",
    b"123456789012345678901234567890",
    b"-9223372036854775809",
    b"18446744073709551616",
    b'"\\ud800"',
    b'"\\ud83d\\ude00"',
    b'"\\udc00\\ud800"',
    b'"\\u00e9"',
    b'"\\x"',
    b'"\\u12"',
    b'"\t"',
    b'"\xed\xa0\x80"',
    b'"\xff"',
    b'"\xc3\xa9"',
    b"\xef\xbb\xbf{}",
    b"true",
    b"false",
    b"null",
    b"True",
    b"[1,]",
    b"{,}",
    b'{"a":1,"a":2}',
    b'{"a" 1}',
    b"[" * 50 + b"]" * 50,
    b"[" * 1200 + b"]" * 1200,
    b"7" * 5000,  # beyond int()'s default digit limit: json.loads raises ValueError
    b" \t\r\n",
    b"\x0c1",
    b"1 2",
    b"[1]x",
    b'{"a":[1,{"b":null}]}',
]


def json_mutation(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.choice([1, 1, 2, 3])):
        action = rng.randrange(6)
        at = rng.randrange(len(out) + 1)
        if action == 0 and out:
            out[min(at, len(out) - 1)] = rng.choice(
                b'{}[],:"\\0123456789.eE+-tfnul \t\n\xff\xc3\x00'
            )
        elif action == 1:
            out[at:at] = rng.choice(JSON_FRAGMENTS)
        elif action == 2:
            del out[at : at + rng.randrange(1, 6)]
        elif action == 3 and out:
            del out[at:]
        elif action == 4 and out:
            out[min(at, len(out) - 1)] ^= 1 << rng.randrange(8)
        else:
            out[at:at] = rng.choice(BAD_UTF8)
    return bytes(out)


class Text(str):
    pass


class Number(int):
    pass


class Level(enum.IntEnum):
    LOW = 1


def metadata_value(rng: random.Random, depth: int = 0) -> Any:
    """A value for dumps_metadata: mostly JSON data, sometimes not."""
    kind = rng.randrange(12 if depth < 4 else 7)
    if kind == 0:
        return rng.choice([None, True, False, 0, -1, 2**63, -(2**70), 10**30])
    if kind == 1:
        return rng.choice(
            [0.0, -0.0, 0.1, 1e16, 1e-7, 123456789.125, math.inf, -math.inf, math.nan]
        )
    if kind in (2, 3):
        return rng.choice(["", "a", "é", "日本", "😀", "\x00\x1f\x7f", '"\\/', "\ud800", "\u2028"])
    if kind == 4:
        return rng.choice(
            [Text("sub"), Number(5), Level.LOW, b"bytes", decimal.Decimal("1"), uuid.UUID(int=1)]
        )
    if kind == 5:
        return rng.uniform(-1e6, 1e6)
    if kind == 6:
        return rng.randint(-(2**64), 2**64)
    if kind in (7, 8):
        return [metadata_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if kind == 9:
        return tuple(metadata_value(rng, depth + 1) for _ in range(rng.randrange(3)))
    keys: list[Any] = ["a", "b", "é", "source", "step", "\ud800", "😀"]
    if rng.random() < 0.2:
        keys += [1, 2.5, True, None, Text("t"), b"k", (1,)]
    return {rng.choice(keys): metadata_value(rng, depth + 1) for _ in range(rng.randrange(4))}


def reference_dumps_metadata(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "ignore")


# --- the run -------------------------------------------------------------------


@dataclass
class Figures:
    msgpack: int = 0
    metadata: int = 0
    mismatches: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def line(self) -> str:
        return (
            f"{self.msgpack + self.metadata:,} inputs tried ({self.msgpack:,} msgpack, "
            f"{self.metadata:,} metadata), {len(self.mismatches)} mismatches, "
            f"{self.seconds:.1f} s"
        )


def serializers() -> list[tuple[str, JsonPlusSerializer, bool]]:
    """(label, serializer, trusted_hook): langgraph's default and strict serializers."""
    default = JsonPlusSerializer()
    return [
        ("default", default, False),
        ("default, trusted_hook", default, True),
        ("strict", JsonPlusSerializer(allowed_msgpack_modules=None), False),
    ]


def msgpack_mismatch(
    serde: JsonPlusSerializer, data: bytes, trusted_hook: bool = False, buffer: str = "bytes"
) -> str | None:
    reference = outcome(lambda: serde.loads_typed(("msgpack", data)))
    blob: Any = {"bytes": data, "bytearray": bytearray(data), "memoryview": memoryview(data)}[
        buffer
    ]
    ours = outcome(lambda: native.loads_typed(serde, ("msgpack", blob), trusted_hook=trusted_hook))
    found = difference(ours, reference)
    if found and difference(outcome(lambda: serde.loads_typed(("msgpack", data))), reference):
        # The reference disagrees with itself: a mutated name made the permissive
        # hook call something like `builtins.id`. Nothing to compare.
        return None
    return found


def metadata_loads_mismatch(data: bytes) -> str | None:
    return difference(
        outcome(lambda: native.loads_metadata(data)), outcome(lambda: json.loads(data))
    )


def metadata_dumps_mismatch(value: Any) -> str | None:
    reference = outcome(lambda: reference_dumps_metadata(value))
    found = difference(outcome(lambda: native.dumps_metadata(value)), reference)
    if found or isinstance(reference, Exception):
        return found
    return metadata_loads_mismatch(reference)


class Fuzzer:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.serdes = serializers()
        writer = Writer()
        encoded = [JsonPlusSerializer().dumps_typed(value)[1] for value in seed_values()]
        self.trees = [parse(data) for data in encoded]
        # The parser and writer must round-trip the seeds exactly.
        assert [writer.write(tree) for tree in self.trees] == encoded
        self.encoded = encoded
        self.mutator = TreeMutator(self.rng, self.trees)
        self.json_seeds = [
            json.dumps(value, ensure_ascii=False).encode() for value in JSON_SEEDS
        ] + list(JSON_FRAGMENTS)

    def msgpack_input(self) -> bytes:
        rng = self.rng
        kind = rng.randrange(10)
        if kind < 6:
            tree = self.mutator.mutate(rng.choice(self.trees))
            data = Writer(rng, wide=0.05 if rng.random() < 0.2 else 0.0).write(tree)
            if rng.random() < 0.15:
                data = bytes_mutation(rng, data, self.encoded)
            return data
        if kind < 8:
            return bytes_mutation(rng, rng.choice(self.encoded), self.encoded)
        if kind < 9:
            return Writer(rng, wide=0.1).write(random_tree(rng))
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 24)))

    def metadata_input(self) -> tuple[str, Any]:
        rng = self.rng
        kind = rng.randrange(4)
        if kind < 2:
            return "loads", json_mutation(rng, rng.choice(self.json_seeds))
        if kind < 3:
            value = metadata_value(rng)
            try:
                text = json.dumps(value, ensure_ascii=rng.random() < 0.2)
            except (TypeError, ValueError):
                return "dumps", value
            return "loads", text.encode("utf-8", "surrogatepass")
        return "dumps", metadata_value(rng)

    def step(self, figures: Figures) -> None:
        rng = self.rng
        if rng.random() < 0.75:
            data = self.msgpack_input()
            label, serde, trusted = rng.choice(self.serdes)
            buffer = rng.choice(["bytes"] * 8 + ["bytearray", "memoryview"])
            found = msgpack_mismatch(serde, data, trusted, buffer)
            figures.msgpack += 1
            if found:
                figures.mismatches.append(f"msgpack ({label}, {buffer}): {found}; input {data!r}")
        else:
            kind, value = self.metadata_input()
            if kind == "loads":
                found = metadata_loads_mismatch(value)
            else:
                found = metadata_dumps_mismatch(value)
            figures.metadata += 1
            if found:
                figures.mismatches.append(f"metadata {kind}: {found}; input {value!r}")


def run(
    seed: int,
    inputs: int | None = None,
    seconds: float | None = None,
    stop_at_mismatches: int = 20,
) -> Figures:
    """Fuzz until `inputs` inputs were tried or `seconds` elapsed (whichever is given)."""
    if inputs is None and seconds is None:
        raise ValueError("give inputs or seconds")
    # The permissive default serializer logs every unregistered type it meets.
    logging.getLogger("langgraph").setLevel(logging.CRITICAL)
    fuzzer = Fuzzer(seed)
    figures = Figures()
    start = time.monotonic()
    deadline = None if seconds is None else start + seconds
    tried = 0
    while (inputs is None or tried < inputs) and (deadline is None or time.monotonic() < deadline):
        fuzzer.step(figures)
        tried += 1
        if len(figures.mismatches) >= stop_at_mismatches:
            break
    figures.seconds = time.monotonic() - start
    return figures
