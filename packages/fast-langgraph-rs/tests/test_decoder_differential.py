"""The native decoder equals langgraph's on any input, malformed input included.

Equal means: the same values of the very same types (for pydantic models also
the same `__dict__`, fields set, extras and private values), or an exception of
the same type with the same message. See `differential.py` for the generators;
`tests/reliability/fuzz_decoder.py` runs the same fuzzer for as long as asked.
"""

from __future__ import annotations

import array
import json
import logging
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
from differential import (
    JSON_FRAGMENTS,
    MESSAGE_CLASSES,
    Ext,
    Map,
    Str,
    Writer,
    _messages,
    difference,
    metadata_loads_mismatch,
    msgpack_mismatch,
    outcome,
    parse,
    run,
    s,
    serializers,
)
from langchain_core.messages import RemoveMessage, ToolMessage
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

import fast_langgraph_rs as native

# Extension code 4 (pydantic v1) makes langgraph's hook call the deprecated `construct`.
pytestmark = pytest.mark.filterwarnings("ignore:The `construct` method is deprecated")

SERDE = JsonPlusSerializer()
SERIALIZERS = serializers()
# Each message as jsonplus stores it: [module, name, kwargs, method].
PAYLOADS = [parse(SERDE.dumps_typed(message)[1]).payload for message in _messages()]

# Field values that validation rejects, coerces, or that __init__ replaces.
FIELD_VALUES: list[Any] = [
    None,
    True,
    0,
    1,
    -1,
    2**64 - 1,
    1.5,
    float("nan"),
    b"",
    b"x",
    s(""),
    s("x"),
    Str(b"\xff"),
    s("human"),
    s("ai"),
    s("tool"),
    s("remove"),
    s("success"),
    s("tool_call"),
    [],
    [s("")],
    [Map()],
    [1],
    [None],
    [b"x"],
    [[]],
    Map(),
    Map([(s("a"), 1)]),
    Map([(1, 2)]),
    Map([(b"k", 1)]),
    Map([(s("tool_calls"), [])]),
    Map([(s("tool_calls"), [Map([(s("id"), s("c")), (s("function"), Map())])])]),
    [Map([(s("name"), s("f")), (s("args"), Map()), (s("id"), None)])],
    [Map([(s("name"), s("f")), (s("args"), Map([(b"k", 1)])), (s("id"), None)])],
    Map([(s("input_tokens"), True), (s("output_tokens"), 1), (s("total_tokens"), 2)]),
    Map([(s("input_tokens"), 1.0), (s("output_tokens"), 1), (s("total_tokens"), 2)]),
    Map([(s("input_tokens"), 1), (s("output_tokens"), 1), (s("total_tokens"), 2)]),
    Ext(5, [s(MESSAGE_CLASSES[0][0]), s(MESSAGE_CLASSES[0][1]), Map(), s("model_validate_json")]),
]


def blob(node: Any) -> bytes:
    return Writer().write(node)


def message(payload: list[Any]) -> bytes:
    return blob(Ext(5, payload))


def assert_equal_for_every_serializer(data: bytes) -> None:
    for label, serde, trusted in SERIALIZERS:
        found = msgpack_mismatch(serde, data, trusted)
        assert found is None, f"{label}: {found}; input {data!r}"


@pytest.fixture(autouse=True)
def quiet_langgraph() -> Iterator[None]:
    # The permissive serializer logs every unregistered type it meets.
    logger = logging.getLogger("langgraph")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    yield
    logger.setLevel(level)


# --- the fuzzer, a few seconds of it ------------------------------------------


@pytest.mark.parametrize("seed", [1, 2])
def test_fuzzed_inputs_decode_as_the_reference_decodes_them(seed: int) -> None:
    figures = run(seed, inputs=4000)
    assert figures.mismatches == [], "\n".join([figures.line(), *figures.mismatches])


# --- the mismatches the fuzzer found, and their siblings ----------------------


@pytest.mark.parametrize("method", [b"\xff", b"model_validate_json\xc3", b"\xed\xa0\x80"])
def test_a_method_name_of_invalid_utf8_gives_none_as_the_hook_does(method: bytes) -> None:
    for payload in PAYLOADS:
        data = message([*payload[:3], Str(method)])
        assert SERDE.loads_typed(("msgpack", data)) is None
        assert native.loads_typed(SERDE, ("msgpack", data)) is None
        assert_equal_for_every_serializer(data)


def remove_message(content: Any) -> bytes:
    module, name, kwargs, method = parse(SERDE.dumps_typed(RemoveMessage(id="r"))[1]).payload
    items = [(key, value) for key, value in kwargs.items if key != s("content")]
    if content is not ...:
        items.insert(0, (s("content"), content))
    return message([module, name, Map(items), method])


@pytest.mark.parametrize("content", [[], ..., s(""), [s("")], s("x"), None, 0], ids=repr)
def test_remove_message_content_is_what_its_init_makes_of_it(content: Any) -> None:
    data = remove_message(content)
    assert_equal_for_every_serializer(data)
    if content in ([], ...):
        # RemoveMessage.__init__ passes "" for a falsy or missing content.
        decoded = native.loads_typed(SERDE, ("msgpack", data))
        assert decoded.content == ""
        assert "content" in decoded.__pydantic_fields_set__


def test_tool_message_without_content_gets_the_str_of_none() -> None:
    module, name, kwargs, method = parse(
        SERDE.dumps_typed(ToolMessage("x", tool_call_id="c"))[1]
    ).payload
    items = [(key, value) for key, value in kwargs.items if key != s("content")]
    data = message([module, name, Map(items), method])
    assert_equal_for_every_serializer(data)
    assert native.loads_typed(SERDE, ("msgpack", data)).content == "None"


@pytest.mark.parametrize("index", range(len(PAYLOADS)))
def test_every_field_of_every_message_with_odd_values(index: int) -> None:
    """Each stored field replaced by each of FIELD_VALUES, or left out."""
    module, name, kwargs, method = PAYLOADS[index]
    for at, (key, _) in enumerate(kwargs.items):
        before, after = kwargs.items[:at], kwargs.items[at + 1 :]
        assert_equal_for_every_serializer(message([module, name, Map(before + after), method]))
        for value in FIELD_VALUES:
            stored = Map([*before, (key, value), *after])
            found = msgpack_mismatch(SERDE, message([module, name, stored, method]))
            assert found is None, f"{name}.{key.raw.decode()} = {value!r}: {found}"


@pytest.mark.parametrize("module, name", MESSAGE_CLASSES)
def test_every_message_class_with_the_fields_of_every_other(module: str, name: str) -> None:
    for _, _, kwargs, method in PAYLOADS:
        assert_equal_for_every_serializer(message([s(module), s(name), kwargs, method]))


def tuple_variants(payload: list[Any]) -> Iterator[list[Any]]:
    """The stored tuple with the wrong arity, or a position of the wrong type."""
    module, name, kwargs, method = payload
    yield payload[:3]
    yield payload[:2]
    yield [*payload, s("extra")]
    yield [*payload, None]
    yield []
    odd_values = [None, 1, b"x", Str(module.raw + b"\xff"), [module], Map(), Ext(0, b"")]
    for at in range(4):
        for value in odd_values:
            yield [*payload[:at], value, *payload[at + 1 :]]
    yield [module, name, [kwargs], method]
    yield [name, module, kwargs, method]
    # Keys that are not str, keys of invalid UTF-8, a key stored twice.
    first_key, first_value = kwargs.items[0]
    for key in [1, None, b"content", Str(first_key.raw + b"\xff"), 1.5, True]:
        yield [module, name, Map([(key, first_value), *kwargs.items[1:]]), method]
    yield [module, name, Map([*kwargs.items, kwargs.items[0]]), method]
    yield [module, name, Map([*kwargs.items, (s("self"), 1)]), method]
    yield [module, name, Map([*kwargs.items, (s("_fields_set"), [])]), method]
    yield [module, name, Map([*kwargs.items, (s("content_blocks"), [])]), method]


@pytest.mark.parametrize("index", range(len(PAYLOADS)))
def test_malformed_message_tuples(index: int) -> None:
    for variant in tuple_variants(PAYLOADS[index]):
        assert_equal_for_every_serializer(message(variant))
        # The same, under other extension codes: other hooks read it.
        for code in (0, 1, 2, 3, 4, 7, 99):
            data = blob(Ext(code, variant))
            found = msgpack_mismatch(SERDE, data)
            assert found is None, f"code {code}: {found}; input {data!r}"


@pytest.mark.parametrize("index", range(len(PAYLOADS)))
def test_message_payloads_cut_short_or_with_trailing_bytes(index: int) -> None:
    encoded = blob(PAYLOADS[index])
    for cut in range(0, len(encoded), max(1, len(encoded) // 40)):
        assert_equal_for_every_serializer(blob(Ext(5, encoded[:cut])))
    for extra in (b"\x00", b"\xc0", b"\xc1", b"\xa1x"):
        assert_equal_for_every_serializer(blob(Ext(5, encoded + extra)))


@pytest.mark.parametrize("data", JSON_FRAGMENTS, ids=repr)
def test_metadata_fragments_decode_or_fail_as_json_loads(data: bytes) -> None:
    assert metadata_loads_mismatch(data) is None
    for wrapped in (b"[" + data + b"]", b'{"k": ' + data + b"}"):
        assert metadata_loads_mismatch(wrapped) is None


@pytest.mark.parametrize(
    "data",
    [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000],
    ids=["arrays", "objects"],
)
def test_metadata_nested_far_beyond_any_limit(data: bytes) -> None:
    assert metadata_loads_mismatch(data) is None


def test_msgpack_nested_far_beyond_any_limit() -> None:
    assert_equal_for_every_serializer(b"\x91" * 100_000 + b"\x01")
    assert_equal_for_every_serializer(b"\x81\xa1k" * 100_000 + b"\x01")


def test_buffers_of_every_kind() -> None:
    data = SERDE.dumps_typed({"a": [1, 2.5, "x"], "m": _messages()[0]})[1]
    blobs: list[Any] = [
        bytearray(data),
        memoryview(data),
        memoryview(data)[1:],
        memoryview(data)[::2],
        memoryview(bytearray(data)),
        memoryview(array.array("b", data)),
    ]
    for blob in blobs:
        pair = ("msgpack", blob)
        reference = outcome(partial(SERDE.loads_typed, pair))
        ours = outcome(partial(native.loads_typed, SERDE, pair))
        assert difference(ours, reference) is None, repr(blob)


def test_metadata_round_trips_on_the_fuzz_seeds() -> None:
    value = {"a": [1, 2.5, None, True, "é"], "b": {"c": -0.0}}
    assert native.dumps_metadata(value) == json.dumps(value, ensure_ascii=False).encode()
    assert metadata_loads_mismatch(native.dumps_metadata(value)) is None


# --- `_DeltaSnapshot` (extension code 7), decoded natively since issue 12 ---------


def snapshot(payload: Any) -> bytes:
    return blob(Ext(7, payload))


@pytest.mark.parametrize(
    "data",
    [
        snapshot([Ext(5, payload) for payload in PAYLOADS]),
        snapshot(None),
        snapshot(Map([(s("k"), [1, s("x")]), (1, 2)])),
        snapshot(Ext(7, [Ext(5, PAYLOADS[0])])),
        blob(Map([(s("channel_values"), Map([(s("messages"), Ext(7, [Ext(5, PAYLOADS[0])]))]))])),
        snapshot(b""),  # an empty payload: nothing to decode
        snapshot(Writer().write(1) + Writer().write(2)),  # trailing bytes
        snapshot(Writer().write([1, 2])[:-1]),  # truncated
        snapshot([Ext(5, [*PAYLOADS[0][:3]])]),  # a message the hook gives up on
        snapshot([Ext(0, [s("uuid"), s("UUID"), s("0" * 32)])]),  # other ext values inside
        snapshot([Str(b"\xff")]),  # invalid UTF-8 inside
        snapshot(b"\xc1"),  # a byte MessagePack reserves
        blob(Map([(Ext(7, [1]), 1)])),  # a snapshot as a map key
    ],
)
def test_delta_snapshots_decode_as_the_hook_decodes_them(data: bytes) -> None:
    assert_equal_for_every_serializer(data)


def test_nested_delta_snapshots_beyond_the_native_depth_decode_as_the_reference() -> None:
    node: Any = [1]
    for _ in range(150):
        node = Ext(7, [node])
    assert_equal_for_every_serializer(blob(node))
