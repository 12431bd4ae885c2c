"""Realistic, deterministic checkpoint states built from LangChain messages.

A state is a conversation of tool-using turns (human question, AI tool call with
usage metadata, tool result, AI answer) plus a few plain channels, shaped like
the checkpoints LangGraph writes. Sizes are named by the approximate size of
their serialized checkpoint ("4KB", "35KB", "235KB", "2MB").
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Final

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langgraph.checkpoint.base import LATEST_VERSION, Checkpoint, CheckpointMetadata
from langgraph.checkpoint.base.id import uuid6
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

# Target serialized sizes in bytes, and the length of each tool result at that
# size (bigger conversations tend to carry bigger tool outputs).
SIZE_TARGETS: Final[dict[str, int]] = {
    "4KB": 4_000,
    "35KB": 35_000,
    "235KB": 235_000,
    "2MB": 2_000_000,
}
TOOL_OUTPUT_CHARS: Final[dict[str, int]] = {
    "4KB": 300,
    "35KB": 1_200,
    "235KB": 2_500,
    "2MB": 5_000,
}
ALL_SIZES: Final = tuple(SIZE_TARGETS)

VersionMaker = Callable[[Any, None], Any]

_WORDS: Final = (
    "checkpoint",
    "graph",
    "thread",
    "state",
    "message",
    "tool",
    "agent",
    "search",
    "result",
    "answer",
    "latency",
    "database",
    "row",
    "index",
    "query",
    "user",
    "weather",
    "invoice",
    "order",
    "shipment",
    "summary",
    "context",
    "memory",
    "token",
    "model",
    "prompt",
    "retrieval",
    "document",
    "section",
)


def _text(rng: random.Random, chars: int) -> str:
    words: list[str] = []
    length = 0
    while length < chars:
        word = rng.choice(_WORDS)
        words.append(word)
        length += len(word) + 1
    return " ".join(words)[:chars]


@functools.lru_cache(maxsize=4096)
def conversation_turn(index: int, tool_chars: int) -> tuple[BaseMessage, ...]:
    """One tool-using turn; the same index always gives the same messages
    (cached: savers and LangGraph never mutate them)."""
    rng = random.Random(index)
    call_id = f"call_{index:06d}"
    usage = {
        "input_tokens": 900 + index,
        "output_tokens": 40 + index % 50,
        "total_tokens": 940 + index + index % 50,
    }
    return (
        HumanMessage(content=_text(rng, 160), id=f"human-{index}"),
        AIMessage(
            content="",
            id=f"ai-call-{index}",
            tool_calls=[
                {
                    "name": "search_documents",
                    "args": {"query": _text(rng, 40), "top_k": 5},
                    "id": call_id,
                    "type": "tool_call",
                }
            ],
            usage_metadata=usage,  # type: ignore[arg-type]
            response_metadata={"model_name": "bench-model", "finish_reason": "tool_calls"},
        ),
        ToolMessage(
            content=_text(rng, tool_chars),
            tool_call_id=call_id,
            name="search_documents",
            id=f"tool-{index}",
        ),
        AIMessage(
            content=_text(rng, 400),
            id=f"ai-answer-{index}",
            usage_metadata=usage,  # type: ignore[arg-type]
            response_metadata={"model_name": "bench-model", "finish_reason": "stop"},
        ),
    )


def _turns_for(size: str) -> int:
    """How many turns bring the serialized checkpoint to about the target size."""
    serde = JsonPlusSerializer()
    tool_chars = TOOL_OUTPUT_CHARS[size]
    per_turn = len(serde.dumps_typed(list(conversation_turn(0, tool_chars)))[1])
    # The plain channels and bookkeeping weigh about 1 KB.
    return max(1, round((SIZE_TARGETS[size] - 1_000) / per_turn))


@dataclass(frozen=True)
class State:
    """A checkpoint template of one size, and the writes of one task on it."""

    size: str
    messages: list[BaseMessage]
    channel_values: dict[str, Any]

    def checkpoint(self, make_version: VersionMaker, step: int) -> Checkpoint:
        """A fresh checkpoint (new uuid6 id, now as ts), shaped as LangGraph makes it."""
        versions: dict[str, Any] = {}
        for channel in ("__start__", "messages", "summary", "context", "step"):
            versions[channel] = make_version(None, None)
        versions["messages"] = make_version(versions["messages"], None)
        return Checkpoint(
            v=LATEST_VERSION,
            id=str(uuid6(clock_seq=step)),
            ts=datetime.now(timezone.utc).isoformat(),
            channel_values=self.channel_values,
            channel_versions=versions,
            versions_seen={
                "__input__": {},
                "__start__": {"__start__": versions["__start__"]},
                "agent": {"messages": versions["messages"], "step": versions["step"]},
                "tools": {"messages": versions["messages"]},
            },
            updated_channels=["messages", "step"],
        )

    def task_writes(self, step: int) -> list[tuple[str, Any]]:
        """A task's three writes: its new messages, a counter and a branch trigger."""
        return [
            ("messages", self.messages[-2:]),
            ("step", step),
            ("branch:to:agent", None),
        ]


def metadata(step: int) -> CheckpointMetadata:
    return {"source": "loop", "step": step, "parents": {}}


def build_state(size: str) -> State:
    tool_chars = TOOL_OUTPUT_CHARS[size]
    messages: list[BaseMessage] = []
    for index in range(_turns_for(size)):
        messages.extend(conversation_turn(index, tool_chars))
    rng = random.Random(size)
    channel_values: dict[str, Any] = {
        "messages": messages,
        "summary": _text(rng, 300),
        "context": {
            "user_id": "user-42",
            "locale": "en-US",
            "plan": "enterprise",
            "features": ["search", "billing", "support"],
        },
        "step": len(messages),
    }
    return State(size, messages, channel_values)


def serialized_size(state: State) -> int:
    checkpoint = state.checkpoint(lambda current, _: 1 if current is None else current + 1, 0)
    return len(JsonPlusSerializer().dumps_typed(checkpoint)[1])
