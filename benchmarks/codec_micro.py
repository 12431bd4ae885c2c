"""Microbenchmark: the native codec against langgraph's JsonPlusSerializer.

Encodes and decodes a checkpoint whose state is a conversation of LangChain
messages (Human, AI with tool calls, Tool) of about the requested size, through
langgraph's `JsonPlusSerializer.dumps_typed/loads_typed` and through
`fast_langgraph.serde.JsonPlusSerializer` (same bytes, native codec inside).

    python benchmarks/codec_micro.py [--kb 35] [--repeat 200]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from fast_langgraph.serde import JsonPlusSerializer as FastJsonPlusSerializer


def conversation_turn(index: int) -> list[BaseMessage]:
    """One user question, one tool-calling answer, one tool result, one reply."""
    call_id = f"call_{index:06d}"
    return [
        HumanMessage(
            f"Question {index}: what is the weather like in Paris today, and tomorrow?",
            id=f"human-{index}",
        ),
        AIMessage(
            "",
            id=f"ai-{index}-call",
            tool_calls=[
                {"name": "get_weather", "args": {"city": "Paris", "days": 2}, "id": call_id}
            ],
            usage_metadata={
                "input_tokens": 120 + index,
                "output_tokens": 18,
                "total_tokens": 138 + index,
            },
            response_metadata={"model_name": "gpt-4o-mini", "finish_reason": "tool_calls"},
        ),
        ToolMessage(
            '{"today": {"sky": "cloudy", "high": 14}, "tomorrow": {"sky": "rain", "high": 11}}',
            tool_call_id=call_id,
            name="get_weather",
            id=f"tool-{index}",
        ),
        AIMessage(
            "Today in Paris it is cloudy with a high of 14 C; tomorrow brings rain and 11 C. "
            "Take an umbrella if you go out tomorrow afternoon.",
            id=f"ai-{index}-answer",
            usage_metadata={
                "input_tokens": 180 + index,
                "output_tokens": 40,
                "total_tokens": 220 + index,
            },
            response_metadata={"model_name": "gpt-4o-mini", "finish_reason": "stop"},
        ),
    ]


def checkpoint_of_size(serde: JsonPlusSerializer, kilobytes: int) -> dict[str, Any]:
    messages: list[BaseMessage] = []
    checkpoint: dict[str, Any] = {
        "v": 4,
        "ts": "2025-01-01T00:00:00.000000+00:00",
        "id": "1efb8f6e-0000-6000-8000-000000000000",
        "channel_values": {"messages": messages, "__start__": {"messages": []}},
        "channel_versions": {"messages": "00000000000000000000000000000002.0.5", "__start__": "1"},
        "versions_seen": {"agent": {"messages": "00000000000000000000000000000001.0.1"}},
        "updated_channels": ["messages"],
    }
    index = 0
    while len(serde.dumps_typed(checkpoint)[1]) < kilobytes * 1024:
        messages.extend(conversation_turn(index))
        index += 1
    return checkpoint


def median_seconds(function: Callable[[], object], repeat: int) -> float:
    for _ in range(5):
        function()
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kb", type=int, default=35, help="approximate serialized size")
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()

    serde = JsonPlusSerializer()
    ours = FastJsonPlusSerializer()
    if ours.implementation != "rust":
        raise SystemExit("the native codec is not loaded (see fast_langgraph.__impl__)")
    checkpoint = checkpoint_of_size(serde, args.kb)
    tag, blob = serde.dumps_typed(checkpoint)
    assert ours.dumps_typed(checkpoint) == (tag, blob), "native bytes differ from langgraph's"
    assert ours.loads_typed((tag, blob)) == serde.loads_typed((tag, blob))

    print(f"state: {len(checkpoint['channel_values']['messages'])} messages, {len(blob)} bytes")
    rows = [
        (
            "dumps",
            lambda: serde.dumps_typed(checkpoint),
            lambda: ours.dumps_typed(checkpoint),
        ),
        (
            "loads",
            lambda: serde.loads_typed((tag, blob)),
            lambda: ours.loads_typed((tag, blob)),
        ),
    ]
    for name, reference, native in rows:
        reference_time = median_seconds(reference, args.repeat)
        native_time = median_seconds(native, args.repeat)
        print(
            f"{name}: JsonPlusSerializer {reference_time * 1e3:7.3f} ms   "
            f"native {native_time * 1e3:7.3f} ms   speedup {reference_time / native_time:5.2f}x"
        )


if __name__ == "__main__":
    main()
