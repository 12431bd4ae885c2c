"""`fast_langgraph.serde.JsonPlusSerializer`: langgraph's serializer with our codec
inside, for any saver. Same arguments, same bytes, same objects, same allowlist
rules as langgraph's `JsonPlusSerializer`; graphs run on InMemorySaver and on
langgraph's own SqliteSaver with it.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer as LanggraphJsonPlus
from langgraph.checkpoint.sqlite import SqliteSaver as LanggraphSqliteSaver
from langgraph.types import Command, Interrupt, Send
from pydantic import BaseModel

import fast_langgraph
from conftest import GraphBuilders, contents, human, thread
from fast_langgraph.serde import JsonPlusSerializer


class Invoice(BaseModel):
    number: int
    total: float


@dataclass
class Note:
    text: str


class Opaque:
    """Not msgpack-encodable: only pickle_fallback can store it."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Opaque) and other.value == self.value


STATE: dict[str, Any] = {
    "messages": [
        HumanMessage("what is 1 + 1?", id="h1"),
        AIMessage(
            "",
            id="a1",
            tool_calls=[{"name": "add", "args": {"a": 1, "b": 1}, "id": "c1", "type": "tool_call"}],
        ),
        ToolMessage("2", tool_call_id="c1", id="t1"),
        AIMessage("2", id="a2", response_metadata={"model": "m"}),
    ],
    "when": dt.datetime(2026, 12, 2, 5, 32, tzinfo=dt.timezone.utc),
    "id": uuid.UUID(int=7),
    "tags": {"a", "b"},
    "pair": (1, "x"),
    "invoice": Invoice(number=3, total=9.5),
    "note": Note("hi"),
    "send": Send("node", {"arg": 1}),
    "interrupt": Interrupt(value={"question": "ok?"}, id="i1"),
    "command": Command(resume="yes"),
    "raw": b"\x00\x01",
    "big": 2**63 + 1,
    "nested": {"list": [1, 2.5, None, True, "é"]},
}


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"pickle_fallback": True}, {"allowed_msgpack_modules": None}],
    ids=["default", "pickle_fallback", "strict"],
)
def test_same_bytes_and_objects_as_langgraphs(kwargs: dict[str, Any]) -> None:
    ours, theirs = JsonPlusSerializer(**kwargs), LanggraphJsonPlus(**kwargs)
    for value in [STATE, *STATE.values(), None, b"bytes", bytearray(b"ba")]:
        stored = ours.dumps_typed(value)
        assert stored == theirs.dumps_typed(value)
        assert repr(ours.loads_typed(stored)) == repr(theirs.loads_typed(stored))


def test_pickle_fallback_is_honoured() -> None:
    assert JsonPlusSerializer(pickle_fallback=True).dumps_typed(Opaque(1))[0] == "pickle"
    stored = LanggraphJsonPlus(pickle_fallback=True).dumps_typed(Opaque(1))
    assert JsonPlusSerializer(pickle_fallback=True).loads_typed(stored) == Opaque(1)
    with pytest.raises(NotImplementedError):  # no pickle unless asked for
        JsonPlusSerializer().loads_typed(stored)


def test_strict_allowlist_blocks_what_langgraphs_blocks() -> None:
    stored = LanggraphJsonPlus().dumps_typed(Note("hi"))
    strict_theirs = LanggraphJsonPlus(allowed_msgpack_modules=None).loads_typed(stored)
    strict_ours = JsonPlusSerializer(allowed_msgpack_modules=None).loads_typed(stored)
    assert not isinstance(strict_ours, Note)
    assert strict_ours == strict_theirs
    allowed = JsonPlusSerializer(allowed_msgpack_modules=None).with_msgpack_allowlist(
        [(Note.__module__, "Note")]
    )
    assert type(allowed) is JsonPlusSerializer
    assert allowed.loads_typed(stored) == Note("hi")


def test_it_reports_the_loaded_codec() -> None:
    assert JsonPlusSerializer().implementation == fast_langgraph.__impl__


def test_a_chat_graph_on_in_memory_saver(graphs: type[GraphBuilders]) -> None:
    saver = InMemorySaver(serde=JsonPlusSerializer())
    graph = graphs.chat(saver)
    graph.invoke({"messages": [human("one")]}, thread("t"))
    graph.invoke({"messages": [human("two")]}, thread("t"))
    state = graph.get_state(thread("t"))
    assert contents(state.values["messages"]) == ["one", "you said: one", "two", "you said: two"]
    assert len(list(graph.get_state_history(thread("t")))) == 6


def test_interrupt_and_resume_on_in_memory_saver(graphs: type[GraphBuilders]) -> None:
    graph = graphs.approval(InMemorySaver(serde=JsonPlusSerializer()))
    first = graph.invoke({"messages": [human("deploy")]}, thread("t"))
    assert first["__interrupt__"][0].value == {"question": "approve deploy?"}
    done = graph.invoke(Command(resume="yes"), thread("t"))
    assert done["approved"] is True


def test_langgraphs_sqlite_saver_with_it_writes_what_it_writes_alone(
    graphs: type[GraphBuilders], tmp_path: Path
) -> None:
    """The same graph run on langgraph's SqliteSaver with and without our serializer
    leaves identical blobs (ids and timestamps aside, which are random)."""
    blobs = []
    for serde in (JsonPlusSerializer(), LanggraphJsonPlus()):
        conn = sqlite3.connect(tmp_path / f"{type(serde).__module__}.db", check_same_thread=False)
        graph = graphs.chat(LanggraphSqliteSaver(conn, serde=serde))
        graph.invoke({"messages": [HumanMessage("hi", id="fixed")]}, thread("t"))
        rows = conn.execute("SELECT type, value FROM writes ORDER BY channel, idx").fetchall()
        blobs.append([row for row in rows if row[0] != "msgpack" or b"you said" not in row[1]])
        conn.close()
    assert blobs[0] == blobs[1] and blobs[0]
