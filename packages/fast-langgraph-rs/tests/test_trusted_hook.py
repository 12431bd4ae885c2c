"""`trusted_hook`: a serializer whose ext hook is not langgraph's default one.

Without it, such a hook sees every extension value (messages included), as
ormsgpack hands them to it. With `trusted_hook=True` the caller vouches that the
hook treats the LangChain messages of `SAFE_MSGPACK_TYPES` as langgraph's default
hook does: those are rebuilt natively, the very objects langgraph builds, and only
the other extension values reach the hook.
"""

from __future__ import annotations

import copy
import datetime
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.messages import (
    AIMessage,
    HumanMessage,
    RemoveMessage,
    SystemMessage,
    ToolMessage,
)
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.serde.types import _DeltaSnapshot
from langgraph.types import Send
from test_codec_corpus import assert_same

import fast_langgraph_rs as native
from fast_langgraph_rs import Codec

SERDE = JsonPlusSerializer()

MESSAGES: list[Any] = [
    HumanMessage("hi", id="h1"),
    SystemMessage([{"type": "text", "text": "be brief"}]),
    AIMessage(
        "calling",
        tool_calls=[{"name": "search", "args": {"q": "x"}, "id": "c1", "type": "tool_call"}],
        usage_metadata={"input_tokens": 1, "output_tokens": 2, "total_tokens": 3},
    ),
    ToolMessage("42", tool_call_id="c1", artifact={"raw": [1, 2]}),
    RemoveMessage(id="h1"),
]


def hooked_copy(seen: list[int]) -> JsonPlusSerializer:
    """A copy of SERDE whose hook records each code, then decodes as langgraph does."""
    default_hook = SERDE._unpack_ext_hook
    serde = copy.copy(SERDE)

    def hook(code: int, data: bytes) -> Any:
        seen.append(code)
        return default_hook(code, data)

    serde._unpack_ext_hook = hook
    return serde


def blob() -> tuple[str, bytes]:
    value = {
        "messages": MESSAGES,
        "when": datetime.datetime(2024, 5, 1, 12, 30),
        "id": uuid.UUID(int=7),
        "send": Send("node", {"x": 1}),
    }
    return SERDE.dumps_typed(value)


def test_trusted_hook_keeps_messages_native_and_sends_the_rest_to_the_hook() -> None:
    data = blob()
    reference = SERDE.loads_typed(data)
    seen: list[int] = []
    serde = hooked_copy(seen)
    ours = native.loads_typed(serde, data, trusted_hook=True)
    assert_same(ours, reference)
    for message in ours["messages"]:
        assert type(message) in {type(m) for m in MESSAGES}
    # datetime (method call), UUID (single arg), Send (positional args): never a message.
    assert sorted(seen) == [0, 1, 3]
    seen.clear()
    assert_same(Codec(serde, trusted_hook=True).loads_typed(data), reference)
    assert sorted(seen) == [0, 1, 3]


def test_untrusted_custom_hook_sees_every_ext_value() -> None:
    data = blob()
    seen: list[int] = []
    serde = hooked_copy(seen)
    reference = serde.loads_typed(data)
    reference_seen = list(seen)
    assert reference_seen.count(5) == len(MESSAGES)
    decoders: list[Callable[[], Any]] = [
        lambda: native.loads_typed(serde, data),
        lambda: native.loads_typed(serde, data, trusted_hook=False),
        lambda: Codec(serde).loads_typed(data),
    ]
    for decode in decoders:
        seen.clear()
        assert_same(decode(), reference)
        assert seen == reference_seen


def test_trusted_hook_decides_nothing_the_hook_would_decide() -> None:
    """Everything but a safe message still reaches the hook: here it refuses them all."""
    refused: list[int] = []

    def refusing_hook(code: int, data: bytes) -> Any:
        refused.append(code)
        return "refused"

    serde = JsonPlusSerializer(__unpack_ext_hook__=refusing_hook)
    data = SERDE.dumps_typed([HumanMessage("kept"), uuid.UUID(int=1)])
    ours = native.loads_typed(serde, data, trusted_hook=True)
    assert_same(ours, [SERDE.loads_typed(data)[0], "refused"])
    assert refused == [0]


def test_trusted_hook_is_keyword_only_and_reported() -> None:
    assert Codec(SERDE).trusted_hook is False
    assert Codec(SERDE, trusted_hook=True).trusted_hook is True
    with pytest.raises(TypeError):
        Codec(SERDE, True)  # type: ignore[misc]
    with pytest.raises(TypeError):
        native.loads_typed(SERDE, ("null", b""), True)  # type: ignore[misc]


def test_trusted_hook_changes_nothing_for_the_default_hook() -> None:
    data = blob()
    reference = SERDE.loads_typed(data)
    assert_same(native.loads_typed(SERDE, data, trusted_hook=True), reference)
    assert_same(native.loads_typed(SERDE, data), reference)


def test_delta_snapshots_of_messages_are_decoded_natively_only_when_trusted() -> None:
    data = SERDE.dumps_typed({"messages": _DeltaSnapshot(MESSAGES), "id": uuid.UUID(int=7)})
    reference = SERDE.loads_typed(data)
    seen: list[int] = []
    serde = hooked_copy(seen)
    assert_same(native.loads_typed(serde, data, trusted_hook=True), reference)
    assert type(native.loads_typed(serde, data, trusted_hook=True)["messages"]) is _DeltaSnapshot
    assert seen == [0, 0]  # the UUID only: the snapshot and its messages are native
    seen.clear()
    assert_same(native.loads_typed(serde, data), reference)
    # Untrusted, the hook gets the snapshot whole (and decodes what is inside).
    assert seen == [7, 0]
