"""The native codec against langgraph's JsonPlusSerializer, over a generated corpus.

`dumps_typed` / `loads_typed` (and the same methods of `Codec`) are held to
byte-identical output and to the very objects JsonPlusSerializer builds (same
types, same values, same key order), under strict-mode and custom allowlists,
for subclasses of JsonPlusSerializer too; `dumps_metadata` / `loads_metadata`
to `json.dumps(..., ensure_ascii=False)` in UTF-8 and `json.loads`.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import json
import math
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
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
from fast_langgraph_rs import Codec

SERDE = JsonPlusSerializer()
CORPUS_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


class Color(enum.Enum):
    RED = "red"
    BLUE = 2


class DeltaSnapshotSubclass(_DeltaSnapshot):
    pass


# --- comparing decoded values ------------------------------------------------


def assert_same(ours: Any, reference: Any, path: str = "value") -> None:
    """Same type, same value, same dict key order, all the way down (NaN == NaN)."""
    assert type(ours) is type(reference), f"{path}: {type(ours)} != {type(reference)}"
    if isinstance(reference, float):
        assert (math.isnan(ours) and math.isnan(reference)) or ours == reference, path
    elif isinstance(reference, dict):
        assert list(ours) == list(reference), f"{path}: keys {list(ours)} != {list(reference)}"
        for key in reference:
            assert_same(ours[key], reference[key], f"{path}[{key!r}]")
    elif isinstance(reference, (list, tuple)):
        assert len(ours) == len(reference), path
        for index, (left, right) in enumerate(zip(ours, reference, strict=True)):
            assert_same(left, right, f"{path}[{index}]")
    elif isinstance(reference, BaseModel):
        assert_same(ours.__dict__, reference.__dict__, f"{path}.__dict__")
        assert_same(ours.__pydantic_extra__, reference.__pydantic_extra__, f"{path}.extra")
        assert ours.__pydantic_fields_set__ == reference.__pydantic_fields_set__, path
        assert ours.__pydantic_private__ == reference.__pydantic_private__, path
    elif isinstance(reference, _DeltaSnapshot):
        assert_same(ours.value, reference.value, f"{path}.value")
    elif dataclasses.is_dataclass(reference):
        for field in dataclasses.fields(reference):
            assert_same(
                getattr(ours, field.name), getattr(reference, field.name), f"{path}.{field.name}"
            )
    elif isinstance(reference, Send):
        assert_same((ours.node, ours.arg), (reference.node, reference.arg), path)
    else:
        assert ours == reference, f"{path}: {ours!r} != {reference!r}"


def nested_lists(depth: int) -> list[Any]:
    value: list[Any] = ["x"]
    for _ in range(depth):
        value = [value]
    return value


def check_round_trip(value: Any, serde: JsonPlusSerializer = SERDE) -> None:
    try:
        reference_typed = serde.dumps_typed(value)
    except Exception as error:
        # Such as integers beyond 64 bits: the very same error.
        with pytest.raises(type(error)) as ours:
            native.dumps_typed(serde, value)
        assert str(ours.value) == str(error)
        return
    ours_typed = native.dumps_typed(serde, value)
    assert ours_typed == reference_typed
    assert type(ours_typed[1]) is type(reference_typed[1])
    assert Codec(serde).dumps_typed(value) == reference_typed
    reference = serde.loads_typed(reference_typed)
    assert_same(native.loads_typed(serde, reference_typed), reference)
    # Databases hand back bytes, whatever was stored.
    tag, data = reference_typed
    assert_same(Codec(serde).loads_typed((tag, bytes(data))), reference)


# --- strategies --------------------------------------------------------------

texts = st.text(max_size=40) | st.sampled_from(["", "é", "日本語", "😀", "a" * 40, '\x00\n\t"'])
keys = st.text(max_size=12)
ints = st.integers(min_value=-(2**63), max_value=2**64 - 1) | st.sampled_from(
    [0, 127, 128, 255, 256, 65535, 65536, 2**32, -32, -33, -129, -(2**31) - 1]
)
floats = st.floats(allow_nan=True, allow_infinity=True)
scalars = st.none() | st.booleans() | ints | floats | texts | st.binary(max_size=40)
plain_data = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(keys, children, max_size=5)
        | st.tuples(children, children)
    ),
    max_leaves=25,
)
json_data = st.recursive(
    st.none() | st.booleans() | st.integers() | floats | texts,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(keys, children, max_size=5),
    max_leaves=25,
)
optional_ids = st.none() | st.text(min_size=1, max_size=10)
contents = texts | st.lists(
    texts | st.fixed_dictionaries({"type": st.just("text"), "text": texts}), max_size=3
)
tool_calls = st.lists(
    st.builds(
        lambda name, args, id_: {"name": name, "args": args, "id": id_},
        texts,
        st.dictionaries(keys, json_data, max_size=3),
        optional_ids,
    ),
    max_size=3,
)
invalid_tool_calls = st.lists(
    st.builds(
        lambda name, args, id_, error: {"name": name, "args": args, "id": id_, "error": error},
        st.none() | texts,
        st.none() | texts,
        optional_ids,
        st.none() | texts,
    ),
    max_size=2,
)
token_counts = st.integers(min_value=0, max_value=10**6)
usage_metadata = st.none() | st.builds(
    lambda i, o, details: {
        "input_tokens": i,
        "output_tokens": o,
        "total_tokens": i + o,
        **details,
    },
    token_counts,
    token_counts,
    st.fixed_dictionaries(
        {},
        optional={
            "input_token_details": st.fixed_dictionaries(
                {}, optional={"audio": token_counts, "cache_read": token_counts}
            ),
            "output_token_details": st.fixed_dictionaries({}, optional={"reasoning": token_counts}),
        },
    ),
)
metadata_dicts = st.dictionaries(keys, json_data, max_size=3)


def common(**extra: Any) -> Any:
    optional = {
        "id": optional_ids,
        "name": st.text(min_size=1, max_size=8),
        "additional_kwargs": metadata_dicts,
        "response_metadata": metadata_dicts,
    }
    return st.fixed_dictionaries(
        {"content": contents, **extra},
        optional={key: value for key, value in optional.items() if key not in extra},
    )


def message_of(cls: type[BaseMessage], **extra: Any) -> Any:
    return common(**extra).map(lambda kwargs: cls(**kwargs))


ai_fields = {
    "tool_calls": tool_calls,
    "invalid_tool_calls": invalid_tool_calls,
    "usage_metadata": usage_metadata,
}
messages = st.one_of(
    message_of(HumanMessage),
    message_of(HumanMessageChunk),
    message_of(SystemMessage),
    message_of(SystemMessageChunk),
    message_of(ChatMessage, role=texts),
    message_of(ChatMessageChunk, role=texts),
    message_of(FunctionMessage, name=st.text(min_size=1, max_size=8)),
    message_of(FunctionMessageChunk, name=st.text(min_size=1, max_size=8)),
    message_of(ToolMessage, tool_call_id=texts, status=st.sampled_from(["success", "error"])),
    message_of(ToolMessageChunk, tool_call_id=texts),
    message_of(AIMessage, **ai_fields),
    common(usage_metadata=usage_metadata).map(lambda kwargs: AIMessageChunk(**kwargs)),
    st.text(min_size=1, max_size=8).map(lambda id_: RemoveMessage(id=id_)),
)
datetimes = st.datetimes() | st.datetimes(timezones=st.timezones())
objects = st.one_of(
    messages,
    datetimes,
    st.dates(),
    st.times(),
    st.timedeltas(),
    st.uuids(),
    st.sampled_from(list(Color)),
    st.sets(st.integers(), max_size=4),
    st.frozensets(texts, max_size=4),
    st.decimals(allow_nan=False, places=3),
    st.builds(Send, texts, plain_data),
    st.builds(Interrupt, plain_data, texts),
    st.builds(_DeltaSnapshot, plain_data),
    st.builds(
        lambda update, resume, goto: Command(update=update, resume=resume, goto=goto),
        st.none() | st.dictionaries(keys, plain_data, max_size=3),
        st.none() | plain_data,
        st.just(()) | texts | st.builds(Send, texts, plain_data).map(lambda send: [send]),
    ),
)
corpus = st.recursive(
    plain_data | objects,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(keys, children, max_size=4)
        | st.dictionaries(st.integers(), children, max_size=3)
    ),
    max_leaves=12,
)


# --- values: byte-identical encoding, identical decoding -----------------------


@CORPUS_SETTINGS
@given(corpus)
def test_corpus_round_trips_like_jsonplus(value: Any) -> None:
    check_round_trip(value)


@CORPUS_SETTINGS
@given(st.lists(messages, min_size=1, max_size=6))
def test_message_lists_round_trip_like_jsonplus(value: list[BaseMessage]) -> None:
    check_round_trip({"messages": value})


@pytest.mark.parametrize(
    "value",
    [
        None,
        b"raw",
        bytearray(b"raw"),
        2**64 - 1,
        -(2**63),
        "lone \ud800 surrogate",
        {"nested": ["lone \udfff"]},
        {1: "a", None: "b", 1.5: "c", (1, 2): "d"},
        float("nan"),
        [float("inf"), float("-inf"), -0.0],
        ValueError("boom"),
        {"deep": nested_lists(230)},
        HumanMessage("with a date inside", additional_kwargs={"when": datetime.date(2020, 1, 2)}),
        HumanMessage("nested message", additional_kwargs={"m": HumanMessage("inner")}),
        HumanMessage("extra field", custom_extra={"k": 1}),
        AIMessage(
            "",
            additional_kwargs={
                "tool_calls": [
                    {"id": "1", "function": {"name": "f", "arguments": "{}"}, "type": "function"}
                ]
            },
        ),
        AIMessageChunk(
            "", tool_call_chunks=[{"name": "f", "args": '{"a": 1}', "id": "c1", "index": 0}]
        ),
        ToolMessage("r", tool_call_id="c1", artifact={"rows": [1, 2]}),
        ToolMessage(["text", {"type": "text", "text": "x"}], tool_call_id="c1"),
        Command(goto=[Send("node", {"x": 1})], update={"k": "v"}, resume={"id": 1}),
        Interrupt(value={"question": "?"}, id="i1"),
        _DeltaSnapshot(None),
        _DeltaSnapshot([HumanMessage("a", id="1"), AIMessage("b", id="2")]),
        {"messages": _DeltaSnapshot(_DeltaSnapshot([ToolMessage("r", tool_call_id="c")]))},
        HumanMessage("snapshot inside", additional_kwargs={"s": _DeltaSnapshot([1])}),
        DeltaSnapshotSubclass([HumanMessage("a subclass goes to jsonplus")]),
        uuid.UUID(int=12345),
        decimal.Decimal("1.25"),
        datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.timezone.utc),
    ],
)
def test_edge_values_round_trip_like_jsonplus(value: Any) -> None:
    check_round_trip(value)


def _message_of(content_length: int) -> Any:
    return HumanMessage("x" * content_length, id="m")


@pytest.mark.parametrize(
    "content_length",
    # A message's ext header is ext8 up to 255 payload bytes, ext16 up to 65535,
    # then ext32: the encoder writes the payload first and fits the header after.
    [0, *range(110, 130), *range(65_390, 65_410), 200_000],
)
def test_message_headers_fit_their_payload_sizes(content_length: int) -> None:
    check_round_trip(_message_of(content_length))
    check_round_trip([_message_of(content_length), _message_of(3)])


def test_nesting_beyond_ormsgpack_limit_fails_like_jsonplus() -> None:
    with pytest.raises(TypeError, match="Recursion limit"):
        SERDE.dumps_typed(nested_lists(300))
    with pytest.raises(TypeError, match="Recursion limit"):
        native.dumps_typed(SERDE, nested_lists(300))


def test_integers_beyond_64_bits_fail_like_jsonplus() -> None:
    with pytest.raises(TypeError) as reference:
        SERDE.dumps_typed({"big": 2**64})
    with pytest.raises(TypeError) as ours:
        native.dumps_typed(SERDE, {"big": 2**64})
    assert str(ours.value) == str(reference.value)


def test_pickle_fallback_is_honoured() -> None:
    serde = JsonPlusSerializer(pickle_fallback=True)
    tag, data = native.dumps_typed(serde, {"big": 2**70})
    assert (tag, data) == serde.dumps_typed({"big": 2**70})
    assert tag == "pickle"
    assert native.loads_typed(serde, (tag, data)) == {"big": 2**70}
    with pytest.raises(NotImplementedError):
        native.loads_typed(SERDE, (tag, data))


@pytest.mark.parametrize(
    "data",
    [b"", b"\xc1", b"\x92\x01", b"\xa3ab", b"\x81\xa1a\xc3\xff", b"\x81\x92\x01\x02\xc3"],
)
def test_unusual_msgpack_decodes_or_fails_like_jsonplus(data: bytes) -> None:
    try:
        reference = SERDE.loads_typed(("msgpack", data))
    except Exception as error:
        with pytest.raises(type(error)):
            native.loads_typed(SERDE, ("msgpack", data))
    else:
        assert_same(native.loads_typed(SERDE, ("msgpack", data)), reference)


def test_json_and_unknown_tags_follow_the_serializer() -> None:
    legacy = json.dumps({"a": [1, 2]}).encode()
    assert native.loads_typed(SERDE, ("json", legacy)) == SERDE.loads_typed(("json", legacy))
    with pytest.raises(NotImplementedError):
        native.loads_typed(SERDE, ("pickle", b"whatever"))


# --- allowlists: nothing outside them is constructed ---------------------------

constructed: list[str] = []


class Tracked(BaseModel):
    """Records every construction, to prove blocked payloads are never built."""

    label: str

    def model_post_init(self, context: Any) -> None:
        constructed.append(self.label)


@dataclasses.dataclass
class TrackedPoint:
    x: int

    def __post_init__(self) -> None:
        constructed.append(f"point {self.x}")


def blob_of(value: Any) -> tuple[str, bytes]:
    # Any serializer encodes the same way; only decoding is guarded.
    return JsonPlusSerializer().dumps_typed(value)


@pytest.mark.parametrize(
    "serde",
    [
        pytest.param(JsonPlusSerializer(allowed_msgpack_modules=None), id="strict"),
        pytest.param(
            JsonPlusSerializer(allowed_msgpack_modules=[("some.module", "Other")]),
            id="custom-allowlist",
        ),
    ],
)
def test_blocked_types_decode_as_jsonplus_does_and_are_never_built(
    serde: JsonPlusSerializer,
) -> None:
    value = {
        "model": Tracked(label="blocked"),
        "point": TrackedPoint(7),
        "message": HumanMessage("safe types stay allowed"),
        "when": datetime.datetime(2024, 1, 1),
    }
    tag, data = blob_of(value)
    constructed.clear()
    reference = serde.loads_typed((tag, data))
    assert constructed == []
    ours = native.loads_typed(serde, (tag, data))
    assert constructed == []
    assert_same(ours, reference)
    assert ours["model"] == {"label": "blocked"}
    assert type(ours["message"]) is HumanMessage


def test_allowlisted_types_are_built() -> None:
    serde = JsonPlusSerializer(allowed_msgpack_modules=None).with_msgpack_allowlist(
        [Tracked, TrackedPoint]
    )
    tag, data = blob_of([Tracked(label="allowed"), TrackedPoint(3)])
    constructed.clear()
    ours = native.loads_typed(serde, (tag, data))
    assert constructed == ["allowed", "point 3"]
    assert_same(ours, serde.loads_typed((tag, data)))


def test_custom_ext_hook_sees_every_ext_value_including_messages() -> None:
    seen: list[int] = []

    def hook(code: int, data: bytes) -> Any:
        seen.append(code)
        return ("ext", code)

    serde = JsonPlusSerializer(__unpack_ext_hook__=hook)
    tag, data = blob_of([HumanMessage("hi"), uuid.UUID(int=1)])
    assert native.loads_typed(serde, (tag, data)) == [("ext", 5), ("ext", 0)]
    assert seen == [5, 0]


class OwnHookSerializer(JsonPlusSerializer):
    """Replaces the ext hook itself, without telling the constructor."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[int] = []
        default_hook = self._unpack_ext_hook

        def hook(code: int, data: bytes) -> Any:
            self.seen.append(code)
            return default_hook(code, data)

        self._unpack_ext_hook = hook


def test_a_hook_set_by_a_subclass_sees_every_ext_value_including_messages() -> None:
    serde = OwnHookSerializer()
    tag, data = blob_of([HumanMessage("hi"), uuid.UUID(int=1)])
    assert native.loads_typed(serde, (tag, data)) == serde.loads_typed((tag, data))
    assert serde.seen == [5, 0, 5, 0]


class NativeSerializer(JsonPlusSerializer):
    """As `fast_langgraph.serde.JsonPlusSerializer`: its methods call the codec."""

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        return native.dumps_typed(self, obj)

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        return native.loads_typed(self, data)


class LoudSerializer(JsonPlusSerializer):
    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        return "loud", repr(obj).encode()

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        return ("loaded", data)


SUBCLASS_VALUES = [
    {"a": [1, HumanMessage("hi")]},
    {"big": 2**70},  # the reference path: ormsgpack raises, pickle_fallback pickles
    {"lone": "\ud800"},
    {"deep": nested_lists(230)},
    b"raw",
    None,
]


@pytest.mark.parametrize("value", SUBCLASS_VALUES)
@pytest.mark.parametrize("pickle_fallback", [False, True])
def test_subclass_calling_the_codec_gets_jsonplus_bytes_without_recursion(
    value: Any, pickle_fallback: bool
) -> None:
    serde = NativeSerializer(pickle_fallback=pickle_fallback)
    reference = JsonPlusSerializer(pickle_fallback=pickle_fallback)
    try:
        expected = reference.dumps_typed(value)
    except Exception as error:
        with pytest.raises(type(error)):
            serde.dumps_typed(value)
        return
    typed = serde.dumps_typed(value)
    assert typed == expected
    assert_same(serde.loads_typed(typed), reference.loads_typed(expected))
    assert_same(Codec(serde).loads_typed(typed), reference.loads_typed(expected))
    with pytest.raises(NotImplementedError):
        serde.loads_typed(("unknown", b""))


def test_a_subclass_is_encoded_as_jsonplus_never_through_its_own_methods() -> None:
    serde = LoudSerializer()
    value = {"a": HumanMessage("hi")}
    typed = native.dumps_typed(serde, value)
    assert typed == SERDE.dumps_typed(value)
    assert native.loads_typed(serde, typed) == value
    assert Codec(serde).dumps_typed(value) == typed


class PlainSerializer:
    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        return "plain", b"x"

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        return data


def other_serializers() -> list[Any]:
    serializers: list[Any] = [PlainSerializer(), object(), None, JsonPlusSerializer]
    try:
        from langgraph.checkpoint.serde.encrypted import EncryptedSerializer

        serializers.append(EncryptedSerializer.from_pycryptodome_aes(key=b"0" * 16))
    except ImportError:  # pycryptodome is optional
        pass
    return serializers


@pytest.mark.parametrize("serde", other_serializers(), ids=lambda serde: type(serde).__name__)
def test_other_serializers_are_refused(serde: Any) -> None:
    with pytest.raises(TypeError, match="JsonPlusSerializer"):
        Codec(serde)
    with pytest.raises(TypeError, match="JsonPlusSerializer"):
        native.dumps_typed(serde, {"a": 1})
    with pytest.raises(TypeError, match="JsonPlusSerializer"):
        native.loads_typed(serde, ("msgpack", b"\x80"))


def test_codec_is_bound_to_its_serializer() -> None:
    serde = JsonPlusSerializer(pickle_fallback=True)
    codec = Codec(serde)
    assert codec.serde is serde
    with pytest.raises(AttributeError):
        codec.serde = SERDE  # type: ignore[misc]
    value = {"big": 2**70, "m": [AIMessage("x")]}
    assert codec.dumps_typed(value) == serde.dumps_typed(value)
    assert codec.loads_typed(codec.dumps_typed(value)) == value
    metadata = {"source": "loop", "step": 1, "writes": {"node": ["é"]}}
    assert codec.dumps_metadata(metadata) == reference_metadata_bytes(metadata)
    assert codec.loads_metadata(codec.dumps_metadata(metadata)) == metadata


MSGPACK_SAMPLE = SERDE.dumps_typed({"a": [1, "x", HumanMessage("hi")]})[1]


@pytest.mark.parametrize(
    "data",
    [
        (None, None),
        ("null", None),
        ("bytes", None),
        ("bytearray", None),
        ("msgpack", None),
        ("msgpack", "text"),
        (None, MSGPACK_SAMPLE),
        (b"msgpack", MSGPACK_SAMPLE),
        ("msgpack", bytearray(MSGPACK_SAMPLE)),
        ("msgpack", memoryview(MSGPACK_SAMPLE)),
        ("msgpack", memoryview(bytearray(MSGPACK_SAMPLE))),
        ("msgpack", memoryview(MSGPACK_SAMPLE)[::2]),  # not contiguous: refused
        ("msgpack", MSGPACK_SAMPLE + b"\x01"),  # trailing bytes: tolerated
        ("bytes", bytearray(b"ab")),
        ("bytes", memoryview(b"ab")),
        ("bytearray", memoryview(b"ab")),
        ("bytearray", b"ab"),
        ("null", b""),
        ["msgpack", MSGPACK_SAMPLE],
        ("msgpack",),
        ("msgpack", MSGPACK_SAMPLE, None),
        None,
        "msgpack",
    ],
    ids=repr,
)
def test_loads_typed_takes_anything_the_reference_takes(data: Any) -> None:
    try:
        reference = SERDE.loads_typed(data)
    except Exception as error:
        with pytest.raises(type(error)):
            native.loads_typed(SERDE, data)
        with pytest.raises(type(error)):
            Codec(SERDE).loads_typed(data)
    else:
        ours = native.loads_typed(SERDE, data)
        assert_same(ours, reference)
        if isinstance(reference, (bytes, bytearray, memoryview)):
            # "bytes" hands back the stored object itself, as the reference does.
            assert (ours is data[1]) == (reference is data[1])


@pytest.mark.parametrize("value", [b"raw", bytearray(b"raw"), None])
def test_raw_values_are_stored_as_the_reference_stores_them(value: Any) -> None:
    reference = SERDE.dumps_typed(value)
    ours = native.dumps_typed(SERDE, value)
    assert ours == reference
    assert type(ours[1]) is type(reference[1])
    if value is not None:
        assert ours[1] is value


# --- metadata: json.dumps / json.loads ----------------------------------------


def reference_metadata_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "ignore")


@CORPUS_SETTINGS
@given(json_data | st.dictionaries(keys, json_data, max_size=6))
# Shortest digits with a tie: Python's repr and Rust's formatting pick differently.
@example(562949953421312.2)
@example({"ratio": 562949953421312.2})
def test_metadata_encodes_exactly_like_json_dumps(value: Any) -> None:
    encoded = native.dumps_metadata(value)
    assert encoded == reference_metadata_bytes(value)
    assert_same(native.loads_metadata(encoded), json.loads(encoded))


@pytest.mark.parametrize(
    "value",
    [
        {"tuple": (1, 2), "int_key": {1: "a"}, "bool_key": {True: 1}, "none_key": {None: 2}},
        {"lone": "\ud800x"},
        {"big": 2**100, "small": -(2**63)},
        [1e16, 1e-05, 0.1, -0.0, 1e300],
        Color.BLUE,
        {"enum_str": enum.Enum("S", {"A": "a"}, type=str).A},  # type: ignore[misc]
        {"lone key \udfff": 1, "emoji": "😀", "nan": float("nan")},
        {"none": None, "bool": False, "nested": [[{}], []]},
        type("StrSubclass", (str,), {})("x"),
        type("DictSubclass", (dict,), {})(a=1),
        {"bytes": b"x"},
        {1.5: "float key", False: "bool key"},
    ],
)
def test_metadata_unusual_values_encode_like_json_dumps(value: Any) -> None:
    try:
        reference = reference_metadata_bytes(value)
    except Exception as error:
        with pytest.raises(type(error)):
            native.dumps_metadata(value)
    else:
        assert native.dumps_metadata(value) == reference


def test_metadata_cycles_fail_like_json_dumps() -> None:
    cycle: list[Any] = []
    cycle.append(cycle)
    with pytest.raises(ValueError, match="Circular reference"):
        native.dumps_metadata({"c": cycle})


@pytest.mark.parametrize(
    "data",
    [
        b'{"a": NaN, "b": Infinity, "c": -Infinity}',
        b'{"a": 1, "a": 2, "b": 3}',
        b'"\\ud800"',
        b'"\\ud83d\\ude00 \\u00e9 \\/"',
        b"123456789012345678901234567890",
        b" [1.5e3, -0, 0.0, 1E400] ",
        b"\xef\xbb\xbf{}",
        b'{"a": 1,}',
        b"[1] extra",
        b'"\xff"',
        b"",
        b'"\xed\xa0\x80"',  # an encoded surrogate: json decodes it ("surrogatepass")
        '{"a": 1}'.encode("utf-16"),
        '{"a": "é"}'.encode("utf-32-le"),
        '{"text": "not bytes"}',
        bytearray(b'{"a": [1]}'),
        memoryview(b"{}"),
        None,
        1,
    ],
)
def test_metadata_decodes_or_fails_like_json_loads(data: Any) -> None:
    try:
        reference = json.loads(data)
    except Exception as error:
        with pytest.raises(type(error)):
            native.loads_metadata(data)
    else:
        assert_same(native.loads_metadata(data), reference)
