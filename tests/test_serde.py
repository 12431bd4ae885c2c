"""What goes into the file and what comes back: every value as the saver's serializer has it.

Whatever an engine does inside (the Rust one may encode natively), the stored
blobs must decode with `serde.loads_typed`, values must come back as the serde's
own round trip gives them, metadata is SqliteSaver's JSON, and the serializer a
user passes (custom, encrypted, strict allowlist, pickle fallback) is obeyed.
"""

from __future__ import annotations

import datetime as dt
import enum
import ipaddress
import json
import re
import sqlite3
import uuid
from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.messages import (
    AIMessage,
    HumanMessage,
    RemoveMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import Checkpoint, empty_checkpoint, get_checkpoint_metadata
from langgraph.checkpoint.base.id import uuid6
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.serde.encrypted import EncryptedSerializer
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver as LangGraphSqliteSaver
from langgraph.types import Command, Interrupt, Send
from pydantic import BaseModel

from conftest import writes_of
from fast_langgraph import RustSQLiteCheckpointer


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Profile(BaseModel):
    name: str
    tags: list[str]
    joined: dt.datetime


@dataclass
class Note:
    text: str
    weight: float


NOW = dt.datetime(2024, 5, 4, 6, 32, 42, 235444, tzinfo=dt.timezone.utc)

# Values a graph's state can hold, each with a name for the failure message.
VALUE_ZOO: dict[str, Any] = {
    "none": None,
    "bool": True,
    "int": -(2**53),
    "big_int": 2**63 - 1,
    "float": 1.25e-300,
    "inf": float("inf"),
    "text": "héllo ✓ \U0001f600 \u0000 end",
    "bytes": b"\x00\x01\xff",
    "bytearray": bytearray(b"ba"),
    "list": [1, "two", [3.0, None]],
    "tuple": (1, ("nested", 2)),
    "dict": {"a": {"b": [1, {"c": None}]}, "": "empty key"},
    "set": {1, 2, 3},
    "frozenset": frozenset({"x"}),
    "deque": deque([1, 2]),
    "datetime": NOW,
    "naive_datetime": dt.datetime(2020, 1, 2, 3, 4, 5),
    "date": dt.date(2024, 2, 29),
    "time": dt.time(23, 59, 1),
    "timedelta": dt.timedelta(days=2, microseconds=5),
    "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "decimal": Decimal("3.14159265358979323846"),
    "enum": Colour.BLUE,
    "ip": ipaddress.IPv4Address("10.0.0.1"),
    "path": Path("/tmp/x"),
    "regex": re.compile(r"a+b", re.IGNORECASE),
    "pydantic": Profile(name="ada", tags=["x"], joined=NOW),
    "dataclass": Note("remember", 0.5),
    "human": HumanMessage("hi", id="h1"),
    "ai_with_tools": AIMessage(
        "",
        id="a1",
        tool_calls=[
            {"name": "search", "args": {"q": "sqlite"}, "id": "call-1", "type": "tool_call"}
        ],
        usage_metadata={"input_tokens": 3, "output_tokens": 4, "total_tokens": 7},
    ),
    "tool": ToolMessage("result", tool_call_id="call-1", id="t1"),
    "system": SystemMessage("be brief", id="s1"),
    "remove": RemoveMessage(id="h1"),
    "document": Document(page_content="text", metadata={"source": "a"}),
    "send": Send("node", {"arg": 1}),
    "interrupt": Interrupt(value={"question": "ok?"}, id="i1"),
    "command": Command(resume="yes", update={"k": "v"}),
}


def config(thread_id: str = "t", checkpoint_id: str | None = None) -> RunnableConfig:
    configurable: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ""}
    if checkpoint_id:
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable}


def checkpoint(**channel_values: Any) -> Checkpoint:
    cp = empty_checkpoint()
    cp["id"] = str(uuid6(clock_seq=-1))
    cp["channel_values"] = channel_values
    return cp


def serde_round_trip(serde: SerializerProtocol, value: Any) -> Any:
    return serde.loads_typed(serde.dumps_typed(value))


def raw_rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def assert_same_values(actual: Any, expected: Any) -> None:
    assert type(actual) is type(expected)
    if isinstance(expected, re.Pattern):
        assert (actual.pattern, actual.flags) == (expected.pattern, expected.flags)
    else:
        assert actual == expected


@pytest.mark.parametrize("name", list(VALUE_ZOO))
def test_channel_values_and_writes_come_back_as_the_serde_gives_them(
    file_saver: RustSQLiteCheckpointer, name: str
) -> None:
    value = VALUE_ZOO[name]
    expected = serde_round_trip(file_saver.serde, {name: value})[name]
    stored = file_saver.put(config(), checkpoint(**{name: value}), {"step": 0}, {})  # type: ignore[typeddict-item]
    file_saver.put_writes(stored, [(name, value)], "task")
    found = file_saver.get_tuple(config())
    assert found is not None
    assert_same_values(found.checkpoint["channel_values"][name], expected)
    assert_same_values(writes_of(found)[0][2], serde_round_trip(file_saver.serde, value))
    listed = next(iter(file_saver.list(config())))
    assert_same_values(listed.checkpoint["channel_values"][name], expected)


@pytest.mark.usefixtures("default_layout")
def test_stored_blobs_decode_with_the_serde(
    file_saver: RustSQLiteCheckpointer, db_path: Path
) -> None:
    stored = file_saver.put(config(), checkpoint(**VALUE_ZOO), {"step": 0}, {})  # type: ignore[typeddict-item]
    file_saver.put_writes(stored, list(VALUE_ZOO.items()), "task")
    found = file_saver.get_tuple(config())
    assert found is not None
    serde = JsonPlusSerializer()
    [(type_, blob)] = raw_rows(db_path, "SELECT type, checkpoint FROM checkpoints")
    assert type_ == "msgpack"
    from_file = serde.loads_typed((type_, blob))
    assert from_file.keys() == found.checkpoint.keys()
    for name in VALUE_ZOO:
        assert_same_values(
            found.checkpoint["channel_values"][name], from_file["channel_values"][name]
        )
    writes = raw_rows(db_path, "SELECT channel, type, value FROM writes ORDER BY idx")
    assert [channel for channel, _, _ in writes] == list(VALUE_ZOO)
    for (channel, type_, blob), (_, found_channel, found_value) in zip(
        writes, writes_of(found), strict=True
    ):
        assert channel == found_channel
        assert_same_values(found_value, serde.loads_typed((type_, blob)))


def test_write_tags_are_the_serdes(file_saver: RustSQLiteCheckpointer, db_path: Path) -> None:
    stored = file_saver.put(config(), checkpoint(), {"step": 0}, {})  # type: ignore[typeddict-item]
    values = [None, b"raw", bytearray(b"ba"), {"k": 1}]
    file_saver.put_writes(stored, [(f"ch{i}", v) for i, v in enumerate(values)], "task")
    tags = [row[0] for row in raw_rows(db_path, "SELECT type FROM writes ORDER BY idx")]
    assert tags == [file_saver.serde.dumps_typed(v)[0] for v in values]


def test_metadata_is_sqlitesavers_json(file_saver: RustSQLiteCheckpointer, db_path: Path) -> None:
    cfg = config()
    cfg["configurable"]["user"] = "zoë"
    metadata = {
        "source": "loop",
        "step": 3,
        "text": "héllo ✓ \U0001f600",
        "nested": {"a": [1, None, True]},
    }
    file_saver.put(cfg, checkpoint(), metadata, {})  # type: ignore[arg-type]
    expected = json.dumps(get_checkpoint_metadata(cfg, metadata), ensure_ascii=False).encode()  # type: ignore[arg-type]
    [(blob,)] = raw_rows(db_path, "SELECT metadata FROM checkpoints")
    assert bytes(blob) == expected
    found = file_saver.get_tuple(config())
    assert found is not None and found.metadata == json.loads(expected)


@pytest.mark.usefixtures("default_layout")
def test_sqlitesaver_and_we_store_the_same_blobs(
    file_saver: RustSQLiteCheckpointer, db_path: Path, tmp_path: Path
) -> None:
    """Blobs may differ byte for byte only if they decode identically."""
    theirs_path = tmp_path / "theirs.db"
    cp = checkpoint(**VALUE_ZOO)
    with LangGraphSqliteSaver.from_conn_string(str(theirs_path)) as theirs:
        theirs.put(config(), cp, {"step": 0}, {})  # type: ignore[typeddict-item]
    file_saver.put(config(), cp, {"step": 0}, {})  # type: ignore[typeddict-item]
    serde = JsonPlusSerializer()
    query = "SELECT type, checkpoint, metadata FROM checkpoints"
    [(their_type, their_blob, their_metadata)] = raw_rows(theirs_path, query)
    [(our_type, our_blob, our_metadata)] = raw_rows(db_path, query)
    assert our_type == their_type
    assert bytes(our_metadata) == bytes(their_metadata)
    ours = serde.loads_typed((our_type, our_blob))
    theirs_decoded = serde.loads_typed((their_type, their_blob))
    for name in VALUE_ZOO:
        assert_same_values(ours["channel_values"][name], theirs_decoded["channel_values"][name])


# -- user-supplied serializers ------------------------------------------------------------


class PrefixingSerializer:
    """A serializer that is not JsonPlusSerializer at all: JSON with its own tag."""

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        return "my-json", json.dumps(obj, default=repr).encode()

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        tag, payload = data
        assert tag == "my-json", tag
        return json.loads(payload)


def test_a_custom_serializer_writes_and_reads_every_blob(db_path: Path) -> None:
    with RustSQLiteCheckpointer.from_conn_string(
        str(db_path), serde=PrefixingSerializer()
    ) as saver:  # type: ignore[arg-type]
        stored = saver.put(config(), checkpoint(items=[1, 2], name="x"), {"step": 0}, {})  # type: ignore[typeddict-item]
        saver.put_writes(stored, [("items", [3])], "task")
        found = saver.get_tuple(config())
        assert found is not None
        assert found.checkpoint["channel_values"] == {"items": [1, 2], "name": "x"}
        assert found.pending_writes == [("task", "items", [3])]
    types = raw_rows(db_path, "SELECT type FROM checkpoints UNION ALL SELECT type FROM writes")
    assert types == [("my-json",), ("my-json",)]
    [(blob,)] = raw_rows(db_path, "SELECT checkpoint FROM checkpoints")
    assert json.loads(blob)["channel_values"] == {"items": [1, 2], "name": "x"}


def test_encrypted_serializer_blobs(db_path: Path) -> None:
    key = b"k" * 32
    with RustSQLiteCheckpointer.from_conn_string(
        str(db_path), serde=EncryptedSerializer.from_pycryptodome_aes(key=key)
    ) as saver:
        stored = saver.put(config(), checkpoint(secret="plain words"), {"step": 0}, {})  # type: ignore[typeddict-item]
        saver.put_writes(stored, [("secret", "more plain words")], "task")
    types = raw_rows(db_path, "SELECT type FROM checkpoints UNION ALL SELECT type FROM writes")
    assert types == [("msgpack+aes",), ("msgpack+aes",)]
    for path in db_path.parent.iterdir():
        assert b"plain words" not in path.read_bytes()
    with RustSQLiteCheckpointer.from_conn_string(
        str(db_path), serde=EncryptedSerializer.from_pycryptodome_aes(key=key)
    ) as reopened:
        found = reopened.get_tuple(config())
        assert found is not None
        assert found.checkpoint["channel_values"] == {"secret": "plain words"}
        assert found.pending_writes == [("task", "secret", "more plain words")]
    with (
        RustSQLiteCheckpointer.from_conn_string(
            str(db_path), serde=EncryptedSerializer.from_pycryptodome_aes(key=b"w" * 32)
        ) as wrong_key,
        pytest.raises(ValueError),
    ):
        wrong_key.get_tuple(config())


def test_pickle_fallback_serializer(db_path: Path) -> None:
    serde = JsonPlusSerializer(pickle_fallback=True)
    value = Decimal("1.5"), complex(1, 2)
    with RustSQLiteCheckpointer.from_conn_string(str(db_path), serde=serde) as saver:
        stored = saver.put(config(), checkpoint(), {"step": 0}, {})  # type: ignore[typeddict-item]
        saver.put_writes(stored, [("odd", complex(1, 2)), ("fine", value[0])], "task")
        found = saver.get_tuple(config())
        assert found is not None
        assert found.pending_writes == [
            ("task", "odd", complex(1, 2)),
            ("task", "fine", Decimal("1.5")),
        ]
    tags = [row[0] for row in raw_rows(db_path, "SELECT type FROM writes ORDER BY idx")]
    assert tags == ["pickle", "msgpack"]


@pytest.mark.usefixtures("default_layout")
def test_strict_serializer_does_not_construct_unlisted_types(db_path: Path) -> None:
    values = {
        "note": Note("n", 1.0),
        "profile": Profile(name="p", tags=[], joined=NOW),
        "msg": HumanMessage("hi", id="m"),
    }
    with RustSQLiteCheckpointer.from_conn_string(str(db_path)) as permissive:
        permissive.put(config(), checkpoint(**values), {"step": 0}, {})  # type: ignore[typeddict-item]
    strict_serde = JsonPlusSerializer(allowed_msgpack_modules=None)
    with RustSQLiteCheckpointer.from_conn_string(str(db_path), serde=strict_serde) as strict:
        found = strict.get_tuple(config())
        assert found is not None
        channel_values = found.checkpoint["channel_values"]
        # Messages are on the safe list; the test's own classes are not.
        assert channel_values["msg"] == HumanMessage("hi", id="m")
        assert not isinstance(channel_values["note"], Note)
        assert not isinstance(channel_values["profile"], Profile)
        [(type_, blob)] = raw_rows(db_path, "SELECT type, checkpoint FROM checkpoints")
        assert channel_values == strict_serde.loads_typed((type_, blob))["channel_values"]

        allowed = strict.with_allowlist(
            [(Note.__module__, "Note"), (Profile.__module__, "Profile")]
        )
        assert allowed is not strict
        found = allowed.get_tuple(config())
        assert found is not None
        assert found.checkpoint["channel_values"] == values
        # The clone shares the database: what it writes, the original sees.
        allowed.put(config(), checkpoint(note=Note("from clone", 2.0)), {"step": 1}, {})  # type: ignore[typeddict-item]
        latest = strict.get_tuple(config())
        assert latest is not None and latest.metadata["step"] == 1
        assert not isinstance(latest.checkpoint["channel_values"]["note"], Note)
