"""End to end: a 3-node StateGraph invoked many times, with deterministic nodes.

Each invoke is one tool-using turn: the input is the human question, then
`agent` answers with a tool call, `tools` with the tool result and `answer` with
the final message (the messages of `states.conversation_turn`).
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any, Final, TypedDict

from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

from benchmarks.states import conversation_turn

WORKLOADS: Final = ("growing", "threads")
THREAD_COUNT: Final = 50  # threads of the round-robin workload
TOOL_OUTPUT_CHARS: Final = 300


class ChatState(TypedDict):
    messages: Annotated[list[BaseMessage], add_messages]
    turn: int


def _node(position: int) -> Any:
    def node(state: ChatState) -> dict[str, Any]:
        return {"messages": [conversation_turn(state["turn"], TOOL_OUTPUT_CHARS)[position]]}

    return node


def build_graph(checkpointer: BaseCheckpointSaver[Any] | None) -> Any:
    builder = StateGraph(ChatState)
    builder.add_node("agent", _node(1))
    builder.add_node("tools", _node(2))
    builder.add_node("answer", _node(3))
    builder.add_edge(START, "agent")
    builder.add_edge("agent", "tools")
    builder.add_edge("tools", "answer")
    builder.add_edge("answer", END)
    return builder.compile(checkpointer=checkpointer)


def _inputs(workload: str, invokes: int) -> list[tuple[dict[str, Any], RunnableConfig]]:
    if workload not in WORKLOADS:
        raise ValueError(f"unknown workload {workload!r}")
    prepared: list[tuple[dict[str, Any], RunnableConfig]] = []
    for turn in range(invokes):
        thread = "conversation" if workload == "growing" else f"thread-{turn % THREAD_COUNT}"
        question = conversation_turn(turn, TOOL_OUTPUT_CHARS)[0]
        prepared.append(
            ({"messages": [question], "turn": turn}, {"configurable": {"thread_id": thread}})
        )
    return prepared


def run(
    checkpointer: BaseCheckpointSaver[Any] | None,
    workload: str,
    invokes: int,
    loop: asyncio.AbstractEventLoop,
    is_async: bool,
) -> float:
    """Seconds taken by `invokes` invokes (ainvoke for an async-only saver)."""
    graph = build_graph(checkpointer)
    prepared = _inputs(workload, invokes)
    if is_async:

        async def invoke_all() -> float:
            start = time.perf_counter()
            for payload, config in prepared:
                await graph.ainvoke(payload, config)
            return time.perf_counter() - start

        return loop.run_until_complete(invoke_all())
    start = time.perf_counter()
    for payload, config in prepared:
        graph.invoke(payload, config)
    return time.perf_counter() - start
