"""Safe by default: stored bytes build only what a legitimate write could have made.

LangGraph's default (permissive) `JsonPlusSerializer` calls whatever a msgpack
extension value names (CVE-2025-64439 and CVE-2026-28277 are this class of bug).
fast-langgraph decodes with a guarded hook instead: a name outside
`SAFE_MSGPACK_TYPES` is built only when it is a class of the kind its extension
code declares. These tests store hand-built payloads in a real SQLite file, the
way an attacker with write access would, and read them back through every
public path: nothing named may run, the result is strict mode's, and the same
warning is logged. Everything JsonPlusSerializer writes still reads back as
langgraph's permissive serializer reads it. Strict mode, explicit allowlists and
custom hooks are langgraph's, unchanged.
"""

from __future__ import annotations

import collections
import datetime as dt
import decimal
import enum
import ipaddress
import logging
import re
import sqlite3
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, TypedDict
from zoneinfo import ZoneInfo

import ormsgpack
import pytest
from langchain_core.documents import Document
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    HumanMessage,
    RemoveMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import CheckpointMetadata, empty_checkpoint
from langgraph.checkpoint.serde import _msgpack as lg_msgpack
from langgraph.checkpoint.serde import jsonplus
from langgraph.checkpoint.serde.encrypted import EncryptedSerializer
from langgraph.checkpoint.serde.event_hooks import SerdeEvent, register_serde_event_listener
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer as LanggraphJsonPlus
from langgraph.graph import START, StateGraph
from langgraph.store.base import Item
from langgraph.types import Command, Interrupt, Send
from pydantic import BaseModel, SecretStr

import fast_langgraph
from fast_langgraph import RustSQLiteCheckpointer, _safe_msgpack
from fast_langgraph.serde import JsonPlusSerializer

NATIVE = fast_langgraph.__impl__ == "rust"
JSONPLUS_LOGGER = jsonplus.__name__
HERE = __name__

# -- sentinels: what an attack would call --------------------------------------------------

CALLS: list[Any] = []


def record_call(*args: Any, **kwargs: Any) -> str:
    """A function an attacker's payload names: it must never run."""
    CALLS.append((args, kwargs))
    return "called"


class Recorder:
    """A class of no kind jsonplus writes: building it records the call."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        CALLS.append((args, kwargs))


@dataclass
class RecordingDataclass:
    """A legitimate dataclass (code 2); named under any other code, refused."""

    value: Any = None

    def __post_init__(self) -> None:
        CALLS.append(("RecordingDataclass", self.value))


# -- a corpus of what JsonPlusSerializer writes -----------------------------------------------


class Invoice(BaseModel):
    number: int
    total: float
    lines: list[str] = []


class Customer(BaseModel):
    name: str
    invoices: list[Invoice]
    token: SecretStr


with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    try:
        from pydantic import v1 as pydantic_v1

        class LegacyModel(pydantic_v1.BaseModel):
            name: str
            size: int = 0

        HAS_PYDANTIC_V1 = True
    except Exception:  # pydantic.v1 does not run on every Python
        HAS_PYDANTIC_V1 = False


@dataclass
class Note:
    text: Any
    tags: list[str] = field(default_factory=list)


@dataclass
class Hop:
    """Send-like (it has `node` and `arg`): jsonplus writes it as Send, code 1."""

    node: str
    arg: Any


class Point(NamedTuple):
    x: int
    y: int


LegacyPair = collections.namedtuple("LegacyPair", ["left", "right"])


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Day(dt.date):
    """A date subclass: code 1, rebuilt as Day(year, month, day)."""


class Tags(set[str]):
    """A set subclass: code 0."""


def corpus() -> dict[str, Any]:
    value = {
        "messages": [
            SystemMessage("be brief"),
            HumanMessage("hi", id="h1"),
            AIMessage(
                "",
                id="a1",
                tool_calls=[{"name": "add", "args": {"a": 1}, "id": "c1", "type": "tool_call"}],
            ),
            ToolMessage("2", tool_call_id="c1", id="t1"),
            AIMessageChunk(content="par", id="a2"),
            RemoveMessage(id="h1"),
        ],
        "document": Document("text", metadata={"source": "s"}),
        "invoice": Invoice(number=1, total=2.5, lines=["a"]),
        "customer": Customer(
            name="c", invoices=[Invoice(number=2, total=1.0)], token=SecretStr("s3cret")
        ),
        "note": Note(Note("inner", ["t"]), ["outer"]),
        "hop": Hop("next", {"k": 1}),
        "point": Point(1, 2),
        "legacy_pair": LegacyPair("l", "r"),
        "color": Color.BLUE,
        "level": Level.HIGH,
        "uuid": uuid.UUID(int=42),
        "decimal": decimal.Decimal("1.25"),
        "set": {1, 2},
        "frozenset": frozenset({"a"}),
        "tags": Tags({"x"}),
        "deque": collections.deque([1, 2], maxlen=5),
        "ips": [
            ipaddress.IPv4Address("10.0.0.1"),
            ipaddress.IPv4Network("10.0.0.0/8"),
            ipaddress.IPv4Interface("10.0.0.1/8"),
            ipaddress.IPv6Address("::1"),
            ipaddress.IPv6Network("fe80::/10"),
            ipaddress.IPv6Interface("::1/128"),
        ],
        "path": Path("/tmp/some/file.txt"),
        "pattern": re.compile(r"a+b", re.IGNORECASE),
        "datetime": dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.timezone.utc),
        "naive": dt.datetime(2026, 1, 2, 3, 4, 5),
        "zoned": dt.datetime(2026, 6, 1, 12, tzinfo=ZoneInfo("Europe/Paris")),
        "date": dt.date(2026, 1, 2),
        "day": Day(2026, 3, 4),
        "time": dt.time(1, 2, 3, 4, tzinfo=dt.timezone(dt.timedelta(hours=2), "X")),
        "timedelta": dt.timedelta(days=1, seconds=2, microseconds=3),
        "timezone": dt.timezone(dt.timedelta(hours=-5), "EST"),
        "zoneinfo": ZoneInfo("America/New_York"),
        "send": Send("node", {"arg": Note("in a send")}),
        "item": Item(
            value={"v": 1},
            key="k",
            namespace=("a", "b"),
            created_at=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
            updated_at=dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc),
        ),
        "secret": SecretStr("hunter2"),
        "interrupt": Interrupt(value={"q": "ok?"}, id="i1"),
        "command": Command(resume="yes"),
        "plain": {"list": [1, 2.5, None, True, "é"], "bytes": b"\x00", "big": 2**63 + 1},
    }
    if HAS_PYDANTIC_V1:
        value["legacy"] = LegacyModel(name="old", size=3)
    return value


def same(got: Any, want: Any, where: str = "value") -> None:
    """Equal, and of the same type all the way down (a NamedTuple equals a tuple)."""
    assert type(got) is type(want), f"{where}: {type(got)} is not {type(want)}"
    if isinstance(want, dict):
        assert got.keys() == want.keys(), where
        for key in want:
            same(got[key], want[key], f"{where}[{key!r}]")
    elif isinstance(want, (list, tuple)):
        assert len(got) == len(want), where
        for index, (a, b) in enumerate(zip(got, want, strict=True)):
            same(a, b, f"{where}[{index}]")
    elif isinstance(want, Note):
        same(got.text, want.text, f"{where}.text")
        same(got.tags, want.tags, f"{where}.tags")
    else:
        assert got == want, where


# -- hand-built attacker payloads ---------------------------------------------------------


def ext(code: int, module: str, name: str, arg: Any, *extra: Any) -> ormsgpack.Ext:
    """An extension value as jsonplus lays one out: (module, name, argument, ...)."""
    return ormsgpack.Ext(code, jsonplus._msgpack_enc((module, name, arg, *extra)))


def pack(value: Any) -> tuple[str, bytes]:
    return "msgpack", jsonplus._msgpack_enc(value)


STRICT = LanggraphJsonPlus(allowed_msgpack_modules=None)


def payloads(marker: Path) -> dict[str, ormsgpack.Ext]:
    """Each names something that must not run; `marker` is a file it would create."""
    touch = f"touch {marker}"
    python = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    return {
        "os.system": ext(0, "os", "system", touch),
        "posix.system": ext(0, "posix", "system", touch),
        "subprocess.Popen args": ext(1, "subprocess", "Popen", (["touch", str(marker)],)),
        "subprocess.Popen kwargs": ext(2, "subprocess", "Popen", {"args": ["touch", str(marker)]}),
        "subprocess.Popen as pydantic v2": ext(
            5, "subprocess", "Popen", {"args": ["touch", str(marker)]}, "model_validate_json"
        ),
        "subprocess.run as pydantic v1": ext(
            4, "subprocess", "run", {"args": ["touch", str(marker)]}
        ),
        "builtins.eval": ext(0, "builtins", "eval", python),
        "builtins.exec": ext(0, "builtins", "exec", python),
        "getattr chain": ext(
            1, "builtins", "getattr", (ext(0, "importlib", "import_module", "os"), "system")
        ),
        "dotted name": ext(0, "os", "path.join", "x"),
        "functools.partial": ext(1, "functools", "partial", (ext(0, "os", "system", touch),)),
        "method call": ext(3, "os", "system", touch, "__call__"),
        "safe class, unsafe method": ext(3, "datetime", "datetime", touch, "__call__"),
        "test function": ext(0, HERE, "record_call", "x"),
        "test class of no kind": ext(2, HERE, "Recorder", {"a": 1}),
        "dataclass under code 0": ext(0, HERE, "RecordingDataclass", "x"),
        "dataclass under code 1": ext(1, HERE, "RecordingDataclass", ("x",)),
        "dataclass under pydantic v2": ext(5, HERE, "RecordingDataclass", {"value": "x"}, "m"),
        "module object": ext(0, "os", "path", "x"),
    }


def strict_result(payload: ormsgpack.Ext) -> Any:
    return STRICT.loads_typed(pack(payload))


@pytest.fixture
def marker(tmp_path: Path) -> Iterator[Path]:
    CALLS.clear()
    path = tmp_path / "pwned"
    yield path
    assert not path.exists(), "a payload ran a command"
    assert CALLS == [], "a payload called a test sentinel"


@pytest.fixture
def events() -> Iterator[list[SerdeEvent]]:
    seen: list[SerdeEvent] = []
    unregister = register_serde_event_listener(seen.append)
    # Warnings come once per name and process (the sets are langgraph's): forget earlier ones.
    _safe_msgpack._WARNED_BLOCKED.clear()
    _safe_msgpack._WARNED_UNREGISTERED.clear()
    yield seen
    unregister()


def blocked(events: list[SerdeEvent]) -> set[tuple[str, str]]:
    return {(e["module"], e["name"]) for e in events if e["kind"].endswith("blocked")}


# -- the serializer ---------------------------------------------------------------------


def test_our_serializer_and_codec_copies_are_guarded_by_default() -> None:
    assert _safe_msgpack.is_guarded(JsonPlusSerializer())
    assert _safe_msgpack.is_guarded(JsonPlusSerializer(pickle_fallback=True))
    langgraphs = LanggraphJsonPlus()
    secured = _safe_msgpack.secure(langgraphs)
    assert secured is not langgraphs and _safe_msgpack.is_guarded(secured)
    assert not _safe_msgpack.is_guarded(langgraphs), "the caller's object must not change"
    ours = JsonPlusSerializer()
    assert _safe_msgpack.secure(ours) is ours


@pytest.mark.parametrize("name", sorted(payloads(Path("x"))))
def test_payloads_are_refused_as_strict_mode_refuses_them(
    name: str, marker: Path, events: list[SerdeEvent], caplog: pytest.LogCaptureFixture
) -> None:
    payload = payloads(marker)[name]
    want = strict_result(payload)
    serializers = [JsonPlusSerializer(), _safe_msgpack.secure(LanggraphJsonPlus())]
    with caplog.at_level(logging.WARNING, logger=JSONPLUS_LOGGER):
        for serde in serializers:
            for wrapped in (payload, {"state": [payload]}):
                got = serde.loads_typed(pack(wrapped))
                if wrapped is payload:
                    assert got == want
                else:
                    assert got == {"state": [want]}
    assert blocked(events), "no blocked event was emitted"
    assert "Blocked deserialization of" in caplog.text


def test_the_warning_names_the_blocked_callable(
    marker: Path, events: list[SerdeEvent], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger=JSONPLUS_LOGGER):
        got = JsonPlusSerializer().loads_typed(pack(ext(0, "os", "system", f"touch {marker}")))
    assert got == f"touch {marker}"
    assert "Blocked deserialization of os.system" in caplog.text
    assert {"kind": "msgpack_blocked", "module": "os", "name": "system"} in events


def test_langgraphs_permissive_hook_would_run_them(marker: Path) -> None:
    # The bug being guarded against, shown on the harmless sentinel.
    got = LanggraphJsonPlus().loads_typed(pack(ext(0, HERE, "record_call", "x")))
    assert got == "called" and CALLS == [(("x",), {})]
    CALLS.clear()


def test_payloads_nested_in_legitimate_values_are_refused(
    marker: Path, events: list[SerdeEvent]
) -> None:
    attack = ext(0, "os", "system", f"touch {marker}")
    in_dataclass = ext(2, HERE, "Note", {"text": attack, "tags": ["t"]})
    in_model = ext(5, HERE, "Invoice", {"number": 1, "total": 2.0, "lines": [attack]}, "m")
    in_message = ext(
        5,
        "langchain_core.messages.human",
        "HumanMessage",
        {"content": "hi", "additional_kwargs": {"x": attack}, "id": "h"},
        "model_validate_json",
    )
    in_send = ext(1, "langgraph.types", "Send", ("node", attack))
    in_safe_set = ext(0, "builtins", "set", (attack,))
    # Strict mode with exactly the legitimate outer classes allowed is the reference.
    reference = LanggraphJsonPlus(allowed_msgpack_modules=[Note, Invoice])
    for serde in (JsonPlusSerializer(), _safe_msgpack.secure(LanggraphJsonPlus())):
        for payload in (in_dataclass, in_model, in_message, in_send, in_safe_set):
            got = serde.loads_typed(pack(payload))
            same(got, reference.loads_typed(pack(payload)))
    note = JsonPlusSerializer().loads_typed(pack(in_dataclass))
    assert note == Note(f"touch {marker}", ["t"])
    assert ("os", "system") in blocked(events)


def test_wrong_kind_for_the_code_is_refused_but_the_right_one_is_built(marker: Path) -> None:
    serde = JsonPlusSerializer()
    assert serde.loads_typed(pack(ext(0, HERE, "RecordingDataclass", "x"))) == "x"
    assert CALLS == []
    built = serde.loads_typed(pack(ext(2, HERE, "RecordingDataclass", {"value": "x"})))
    assert type(built) is RecordingDataclass and built.value == "x"
    assert CALLS == [("RecordingDataclass", "x")]
    CALLS.clear()


# -- a real database, tampered with ------------------------------------------------------


def tamper_checkpoint(path: Path, channel: str, payload: Any) -> None:
    """Overwrite the newest checkpoint blob, as someone with write access to the file could."""
    with sqlite3.connect(path) as conn:
        rowid, kind, blob = conn.execute(
            "SELECT rowid, type, checkpoint FROM checkpoints ORDER BY checkpoint_id DESC LIMIT 1"
        ).fetchone()
        checkpoint = STRICT.loads_typed((kind, blob))
        checkpoint["channel_values"][channel] = payload
        conn.execute(
            "UPDATE checkpoints SET type = ?, checkpoint = ? WHERE rowid = ?",
            (*pack(checkpoint), rowid),
        )
    conn.close()


def tamper_writes(path: Path, payload: Any) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE writes SET type = ?, value = ?", pack(payload))
    conn.close()


def savers(path: Path) -> Iterator[tuple[str, Callable[[], RustSQLiteCheckpointer]]]:
    yield "default", lambda: RustSQLiteCheckpointer(path)
    yield "ours", lambda: RustSQLiteCheckpointer(path, serde=JsonPlusSerializer())
    yield "langgraph's", lambda: RustSQLiteCheckpointer(path, serde=LanggraphJsonPlus())
    yield (
        "on a connection",
        lambda: RustSQLiteCheckpointer(sqlite3.connect(path, check_same_thread=False)),
    )


def write_checkpoint(path: Path, thread_id: str) -> RunnableConfig:
    config: RunnableConfig = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = {"state": Note("legit"), "count": 1}
    with RustSQLiteCheckpointer(path) as saver:
        stored = saver.put(config, checkpoint, {"step": 1}, {})
        saver.put_writes(stored, [("state", Note("pending"))], task_id="t1")
    return stored


@pytest.mark.parametrize("name", sorted(payloads(Path("x"))))
def test_tampered_checkpoints_are_read_as_strict_mode_reads_them(
    name: str, tmp_path: Path, marker: Path, events: list[SerdeEvent]
) -> None:
    path = tmp_path / "tampered.db"
    config = write_checkpoint(path, "t")
    payload = payloads(marker)[name]
    tamper_checkpoint(path, "state", {"nested": [payload]})
    tamper_writes(path, payload)
    want = strict_result(payload)
    for label, make in savers(path):
        saver = make()
        try:
            found = saver.get_tuple(config)
            assert found is not None, label
            assert found.checkpoint["channel_values"]["state"] == {"nested": [want]}, label
            assert found.checkpoint["channel_values"]["count"] == 1, label
            assert [w[2] for w in found.pending_writes or []] == [want], label
            listed = next(iter(saver.list(config)))
            assert listed.checkpoint["channel_values"]["state"] == {"nested": [want]}, label
        finally:
            saver.close()
    assert blocked(events)


class GraphState(TypedDict):
    payload: Any
    steps: int


def test_graph_get_state_on_a_tampered_file_runs_nothing(
    tmp_path: Path, marker: Path, events: list[SerdeEvent], caplog: pytest.LogCaptureFixture
) -> None:
    def step(state: GraphState) -> dict[str, Any]:
        return {"steps": state["steps"] + 1}

    builder = StateGraph(GraphState)
    builder.add_node("step", step)
    builder.add_edge(START, "step")
    path = tmp_path / "graph.db"
    config: RunnableConfig = {"configurable": {"thread_id": "g"}}
    with RustSQLiteCheckpointer(path) as saver:
        graph = builder.compile(checkpointer=saver)
        graph.invoke(GraphState(payload=Note("ok"), steps=0), config)
    tamper_checkpoint(path, "payload", ext(0, "os", "system", f"touch {marker}"))
    with (
        caplog.at_level(logging.WARNING, logger=JSONPLUS_LOGGER),
        RustSQLiteCheckpointer(path) as saver,
    ):
        values = builder.compile(checkpointer=saver).get_state(config).values
    assert values == {"payload": f"touch {marker}", "steps": 1}
    assert "Blocked deserialization of os.system" in caplog.text


def test_the_saver_keeps_the_callers_serializer(tmp_path: Path) -> None:
    serde = LanggraphJsonPlus()
    hook = serde._unpack_ext_hook
    with RustSQLiteCheckpointer(tmp_path / "keep.db", serde=serde) as saver:
        assert saver.serde is serde
        codec_serde = saver._codec.serde  # type: ignore[attr-defined]
        assert codec_serde is not serde and _safe_msgpack.is_guarded(codec_serde)
        if NATIVE:
            assert saver._codec.trusted_hook is True  # type: ignore[attr-defined]
    assert serde._unpack_ext_hook is hook


def test_an_encrypted_serializers_inner_one_is_guarded(tmp_path: Path, marker: Path) -> None:
    serde = EncryptedSerializer.from_pycryptodome_aes(key=b"0123456789abcdef")
    with RustSQLiteCheckpointer(tmp_path / "enc.db", serde=serde) as saver:
        codec_serde = saver._codec.serde  # type: ignore[attr-defined]
        inner = codec_serde.serde
        if NATIVE:  # the native codec inside, holding the guarded copy
            assert inner.trusted_hook is True
            inner = inner.serde
        assert _safe_msgpack.is_guarded(inner)
        assert not _safe_msgpack.is_guarded(serde.serde)
        encrypted = codec_serde.dumps_typed(ext(0, "os", "system", f"touch {marker}"))
        assert codec_serde.loads_typed(encrypted) == f"touch {marker}"


# -- everything JsonPlusSerializer writes still reads back ---------------------------------


def test_the_corpus_reads_back_as_langgraphs_permissive_serializer_reads_it(
    events: list[SerdeEvent],
) -> None:
    reference = LanggraphJsonPlus()
    value = corpus()
    stored = reference.dumps_typed(value)
    want = reference.loads_typed(stored)
    for key in value:
        if key not in ("plain",):
            assert type(want[key]) is type(value[key]), f"langgraph itself changes {key}"
    for serde in (JsonPlusSerializer(), _safe_msgpack.secure(LanggraphJsonPlus())):
        assert serde.dumps_typed(value) == stored
        same(serde.loads_typed(stored), want)
    assert not blocked(events), "a legitimate value was refused"


def test_the_corpus_round_trips_through_a_saver(tmp_path: Path, events: list[SerdeEvent]) -> None:
    want = LanggraphJsonPlus().loads_typed(LanggraphJsonPlus().dumps_typed(corpus()))
    config: RunnableConfig = {"configurable": {"thread_id": "corpus", "checkpoint_ns": ""}}
    for label, make in savers(tmp_path / "corpus.db"):
        saver = make()
        try:
            checkpoint = empty_checkpoint()
            checkpoint["channel_values"] = corpus()
            metadata: CheckpointMetadata = {"source": "update", "step": 0}
            stored = saver.put(config, checkpoint, metadata, {})
            saver.put_writes(stored, [("value", corpus())], task_id="t")
            found = saver.get_tuple(stored)
            assert found is not None
            same(found.checkpoint["channel_values"], want, label)
            same(found.pending_writes[0][2], want, label)  # type: ignore[index]
        finally:
            saver.close()
    assert not blocked(events), "a legitimate value was refused"


def test_numpy_arrays_read_back() -> None:
    numpy = pytest.importorskip("numpy")
    value = {"a": numpy.arange(6, dtype="int32").reshape(2, 3), "f": numpy.ones((2, 2)).T}
    stored = LanggraphJsonPlus().dumps_typed(value)
    got = JsonPlusSerializer().loads_typed(stored)
    for key in value:
        assert (got[key] == value[key]).all() and got[key].dtype == value[key].dtype


def test_delta_snapshots_read_back() -> None:
    snapshot_type = getattr(jsonplus, "_DeltaSnapshot", None)
    if snapshot_type is None:
        pytest.skip("this langgraph-checkpoint has no DeltaChannel snapshots")
    value = {"s": snapshot_type([HumanMessage("x", id="1"), Note("n")])}
    stored = LanggraphJsonPlus().dumps_typed(value)
    got = JsonPlusSerializer().loads_typed(stored)
    assert type(got["s"]) is snapshot_type
    same(got, LanggraphJsonPlus().loads_typed(stored))


# -- strict mode, allowlists and custom hooks are langgraph's -------------------------------


def default_hook_code() -> Any:
    return jsonplus._create_msgpack_ext_hook(True).__code__


def test_strict_mode_is_langgraphs(monkeypatch: pytest.MonkeyPatch, marker: Path) -> None:
    monkeypatch.setattr(lg_msgpack, "STRICT_MSGPACK_ENABLED", True)
    for serde in (JsonPlusSerializer(), JsonPlusSerializer(allowed_msgpack_modules=None)):
        assert serde._allowed_msgpack_modules is None
        assert not _safe_msgpack.is_guarded(serde)
        assert serde._unpack_ext_hook.__code__ is default_hook_code()
        assert _safe_msgpack.secure(serde) is serde
        # Strict mode refuses even legitimate user classes, as langgraph's does.
        stored = LanggraphJsonPlus().dumps_typed(Note("x"))
        assert serde.loads_typed(stored) == {"text": "x", "tags": []}
    langgraphs = LanggraphJsonPlus(allowed_msgpack_modules=None)
    assert _safe_msgpack.secure(langgraphs) is langgraphs


def test_explicit_allowlists_are_langgraphs(marker: Path) -> None:
    # An explicit allowlist is the user's decision, even for a function.
    serde = JsonPlusSerializer(allowed_msgpack_modules=[(HERE, "record_call")])
    assert not _safe_msgpack.is_guarded(serde)
    assert _safe_msgpack.secure(serde) is serde
    assert serde.loads_typed(pack(ext(0, HERE, "record_call", "x"))) == "called"
    assert CALLS == [(("x",), {})]
    CALLS.clear()
    clone = serde.with_msgpack_allowlist([Note])
    assert clone is not serde and not _safe_msgpack.is_guarded(clone)
    assert clone._unpack_ext_hook.__code__ is default_hook_code()
    # On a permissive serializer, with_msgpack_allowlist returns it, still guarded.
    permissive = JsonPlusSerializer()
    assert permissive.with_msgpack_allowlist([Note]) is permissive
    assert _safe_msgpack.is_guarded(permissive)


def test_a_hook_of_the_users_own_is_left_alone(marker: Path) -> None:
    def hook(code: int, data: bytes) -> Any:
        return ("mine", code)

    for serde in (
        JsonPlusSerializer(__unpack_ext_hook__=hook),
        LanggraphJsonPlus(__unpack_ext_hook__=hook),
    ):
        assert serde._unpack_ext_hook is hook
        assert _safe_msgpack.secure(serde) is serde
        assert serde.loads_typed(pack(ext(0, "os", "system", "x"))) == ("mine", 0)


def test_subclasses_of_langgraphs_serializer_run_as_given() -> None:
    class Custom(LanggraphJsonPlus):
        pass

    serde = Custom()
    assert _safe_msgpack.secure(serde) is serde


def test_subclasses_of_ours_are_guarded_too(marker: Path) -> None:
    class Custom(JsonPlusSerializer):
        pass

    serde = Custom()
    assert _safe_msgpack.is_guarded(serde)
    assert serde.loads_typed(pack(ext(0, HERE, "record_call", "x"))) == "x"
