"""The checkpoint contract through the SYNC methods (the official suite only calls async ones).

Each scenario of the conformance suite, and the details it leaves open
(WRITES_IDX_MAP, task_path ordering, filters, versions, DeltaChannel history),
is exercised here with `get_tuple`, `list`, `put`, `put_writes`... on a saver
backed by a file and by ":memory:".
"""

from __future__ import annotations

import inspect
import math
import random
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.channels.delta import DeltaChannel
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    empty_checkpoint,
    get_checkpoint_metadata,
)
from langgraph.checkpoint.base.id import uuid6
from langgraph.checkpoint.serde.types import ERROR, INTERRUPT, RESUME, SCHEDULED
from langgraph.checkpoint.sqlite import SqliteSaver as LangGraphSqliteSaver
from langgraph.graph import START, StateGraph

from conftest import writes_of
from fast_langgraph import RustSQLiteCheckpointer

# -- helpers ---------------------------------------------------------------------------


def new_id() -> str:
    return str(uuid6(clock_seq=-1))


def config(
    thread_id: str, checkpoint_ns: str | None = "", checkpoint_id: str | None = None
) -> RunnableConfig:
    configurable: dict[str, Any] = {"thread_id": thread_id}
    if checkpoint_ns is not None:
        configurable["checkpoint_ns"] = checkpoint_ns
    if checkpoint_id is not None:
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable}


def checkpoint(checkpoint_id: str | None = None, **channel_values: Any) -> Checkpoint:
    cp = empty_checkpoint()
    cp["id"] = checkpoint_id or new_id()
    cp["channel_values"] = dict(channel_values)
    cp["channel_versions"] = {name: 1 for name in channel_values}
    return cp


def put(
    saver: RustSQLiteCheckpointer,
    thread_id: str,
    *,
    ns: str = "",
    parent: RunnableConfig | None = None,
    checkpoint_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    **channel_values: Any,
) -> RunnableConfig:
    parent_id = parent["configurable"]["checkpoint_id"] if parent else None
    return saver.put(
        config(thread_id, ns, parent_id),
        checkpoint(checkpoint_id, **channel_values),
        metadata if metadata is not None else {"source": "loop", "step": 0},  # type: ignore[arg-type]
        {},
    )


def put_chain(
    saver: RustSQLiteCheckpointer, thread_id: str, n: int, *, ns: str = "", **metadata: Any
) -> list[RunnableConfig]:
    configs: list[RunnableConfig] = []
    for step in range(n):
        configs.append(
            put(
                saver,
                thread_id,
                ns=ns,
                parent=configs[-1] if configs else None,
                metadata={"source": "loop", "step": step, **metadata},
                value=step,
            )
        )
    return configs


def ids(tuples: Sequence[CheckpointTuple] | Any) -> list[str]:
    return [t.config["configurable"]["checkpoint_id"] for t in tuples]


def id_of(cfg: RunnableConfig) -> str:
    return str(cfg["configurable"]["checkpoint_id"])


# -- get_tuple ----------------------------------------------------------------------------


def test_get_tuple_of_unknown_thread_or_id_is_none(saver: RustSQLiteCheckpointer) -> None:
    assert saver.get_tuple(config("nobody")) is None
    put(saver, "t")
    assert saver.get_tuple(config("t", checkpoint_id=new_id())) is None
    assert saver.get_tuple(config("t", "other-ns")) is None


def test_get_tuple_latest_is_the_greatest_id_not_the_last_inserted(
    saver: RustSQLiteCheckpointer,
) -> None:
    older, middle, newest = sorted(new_id() for _ in range(3))
    for checkpoint_id in (newest, older, middle):  # newest is inserted first
        put(saver, "t", checkpoint_id=checkpoint_id)
    latest = saver.get_tuple(config("t"))
    assert latest is not None
    assert latest.config == config("t", "", newest)
    assert latest.checkpoint["id"] == newest


def test_get_tuple_by_id_and_namespace(saver: RustSQLiteCheckpointer) -> None:
    root = put_chain(saver, "t", 3)
    child = put_chain(saver, "t", 2, ns="child:1")
    for cfg in root + child:
        ns = cfg["configurable"]["checkpoint_ns"]
        found = saver.get_tuple(config("t", ns, id_of(cfg)))
        assert found is not None
        assert found.checkpoint["id"] == id_of(cfg)
        assert found.config["configurable"]["checkpoint_ns"] == ns
    # A checkpoint id looked up in the wrong namespace is not found.
    assert saver.get_tuple(config("t", "child:1", id_of(root[0]))) is None
    latest_child = saver.get_tuple(config("t", "child:1"))
    assert latest_child is not None and latest_child.checkpoint["id"] == id_of(child[-1])
    # No checkpoint_ns means the root namespace.
    latest_root = saver.get_tuple(config("t", None))
    assert latest_root is not None and latest_root.checkpoint["id"] == id_of(root[-1])


def test_get_tuple_returns_parent_config_metadata_and_channel_values(
    saver: RustSQLiteCheckpointer,
) -> None:
    first, second = put_chain(saver, "t", 2, user="ada")
    found = saver.get_tuple(second)
    assert found is not None
    assert found.parent_config == config("t", "", id_of(first))
    assert found.metadata == {"source": "loop", "step": 1, "user": "ada"}
    assert found.checkpoint["channel_values"] == {"value": 1}
    root = saver.get_tuple(first)
    assert root is not None and root.parent_config is None


def test_get_tuple_hands_back_a_config_that_names_its_checkpoint(
    saver: RustSQLiteCheckpointer,
) -> None:
    stored = put(saver, "t")
    asked = config("t", "", id_of(stored))
    asked["configurable"]["extra"] = "kept"
    found = saver.get_tuple(asked)
    assert found is not None
    assert found.config == asked


# -- put ----------------------------------------------------------------------------------


def test_put_returns_the_stored_config(saver: RustSQLiteCheckpointer) -> None:
    cp = checkpoint()
    returned = saver.put(config("t", "ns:1"), cp, {"source": "input", "step": -1}, {})
    assert returned == config("t", "ns:1", cp["id"])


def test_checkpoint_dict_round_trips_verbatim_with_unknown_keys(
    saver: RustSQLiteCheckpointer,
) -> None:
    cp: dict[str, Any] = dict(checkpoint(messages=["a", {"nested": [1, 2.5, None, True]}], n=3))
    cp["pending_sends"] = [("node", {"arg": 1})]
    cp["future_field"] = {"anything": "goes"}
    cp["versions_seen"] = {"node": {"messages": "00000000000000000000000000000001.5"}}
    cp["updated_channels"] = ["messages"]
    expected = {key: value for key, value in cp.items()}
    saver.put(config("t"), cp, {"source": "loop", "step": 1}, {})  # type: ignore[arg-type]
    found = saver.get_tuple(config("t"))
    assert found is not None
    stored: dict[str, Any] = dict(found.checkpoint)
    # A tuple may come back as a list through msgpack, as with SqliteSaver.
    stored["pending_sends"] = [tuple(send) for send in stored["pending_sends"]]
    assert stored == expected


def test_put_twice_with_one_id_replaces(saver: RustSQLiteCheckpointer) -> None:
    checkpoint_id = new_id()
    put(saver, "t", checkpoint_id=checkpoint_id, value="first")
    put(saver, "t", checkpoint_id=checkpoint_id, value="second", metadata={"step": 9})
    found = list(saver.list(config("t")))
    assert len(found) == 1
    assert found[0].checkpoint["channel_values"] == {"value": "second"}
    assert found[0].metadata == {"step": 9}


def test_metadata_is_merged_from_config_like_get_checkpoint_metadata(
    saver: RustSQLiteCheckpointer,
) -> None:
    cfg = config("t")
    cfg["configurable"].update(
        {"user_id": "u1", "score": 2.5, "flag": True, "__secret": "x", "obj": {"a": 1}}
    )
    cfg["metadata"] = {"run_id": "run-1", "source": "ignored: metadata wins", "tag": "a\u0000b"}
    metadata: CheckpointMetadata = {"source": "loop", "step": 3, "note": "x\u0000y"}  # type: ignore[typeddict-unknown-key]
    saver.put(cfg, checkpoint(), metadata, {})
    found = saver.get_tuple(config("t"))
    assert found is not None
    expected = get_checkpoint_metadata(cfg, metadata)
    assert found.metadata == expected
    # What that means, spelled out: scalars merged, metadata wins, "__" keys, thread_id
    # and non-scalars dropped, NUL characters removed.
    assert expected == {
        "source": "loop",
        "step": 3,
        "note": "xy",
        "run_id": "run-1",
        "tag": "ab",
        "user_id": "u1",
        "score": 2.5,
        "flag": True,
    }


def test_get_next_version_has_sqlite_savers_format(saver: RustSQLiteCheckpointer) -> None:
    reference = LangGraphSqliteSaver(sqlite3.connect(":memory:", check_same_thread=False))
    current_ours: str | None = None
    current_theirs: str | None = None
    for step in range(1, 5):
        current_ours = saver.get_next_version(current_ours, None)
        current_theirs = reference.get_next_version(current_theirs, None)
        # f"{n:032}.{random.random():016}": 32 digits, a dot, then the random float's text.
        counter, random_part = current_ours.split(".", 1)
        assert counter == current_theirs.split(".", 1)[0] == f"{step:032}"
        assert len(random_part) >= 16 and 0 <= float(random_part) < 1
    from_int = saver.get_next_version(7, None)  # type: ignore[arg-type]
    assert from_int.split(".", 1)[0] == reference.get_next_version(7, None).split(".", 1)[0]  # type: ignore[arg-type]
    # Versions compare correctly as strings, which is how LangGraph compares them.
    versions = [saver.get_next_version(f"{n:032}.5", None) for n in range(20)]
    assert versions == sorted(versions)


# -- list ---------------------------------------------------------------------------------


def test_list_is_newest_first_by_id_not_insertion(saver: RustSQLiteCheckpointer) -> None:
    checkpoint_ids = sorted(new_id() for _ in range(6))
    shuffled = checkpoint_ids[:]
    random.Random(4).shuffle(shuffled)
    for checkpoint_id in shuffled:
        put(saver, "t", checkpoint_id=checkpoint_id)
    assert ids(saver.list(config("t"))) == checkpoint_ids[::-1]


def test_list_none_config_covers_every_thread(saver: RustSQLiteCheckpointer) -> None:
    a = put_chain(saver, "a", 2)
    b = put_chain(saver, "b", 2, ns="sub:1")
    everything = list(saver.list(None))
    assert sorted(ids(everything)) == sorted(id_of(c) for c in a + b)
    assert ids(everything) == sorted(ids(everything), reverse=True)
    assert {t.config["configurable"]["thread_id"] for t in everything} == {"a", "b"}


def test_list_without_namespace_covers_every_namespace(saver: RustSQLiteCheckpointer) -> None:
    root = put_chain(saver, "t", 2)
    child = put_chain(saver, "t", 2, ns="child:1")
    put_chain(saver, "other", 2)
    assert sorted(ids(saver.list(config("t", None)))) == sorted(map(id_of, root + child))
    assert ids(saver.list(config("t", ""))) == [id_of(c) for c in reversed(root)]
    assert ids(saver.list(config("t", "child:1"))) == [id_of(c) for c in reversed(child)]
    assert list(saver.list(config("nobody", None))) == []


def test_list_with_checkpoint_id_in_config_returns_only_it(saver: RustSQLiteCheckpointer) -> None:
    chain = put_chain(saver, "t", 3)
    assert ids(saver.list(chain[1])) == [id_of(chain[1])]


@pytest.fixture
def filter_saver(saver: RustSQLiteCheckpointer) -> RustSQLiteCheckpointer:
    put(
        saver,
        "t",
        checkpoint_id=new_id(),
        metadata={"source": "input", "step": -1, "user": {"name": "ada", "age": 36}, "flag": True},
    )
    put(
        saver,
        "t",
        checkpoint_id=new_id(),
        metadata={"source": "loop", "step": 0, "user": {"name": "bob"}, "flag": False, "tag": None},
    )
    put(
        saver,
        "t",
        checkpoint_id=new_id(),
        metadata={"source": "loop", "step": 1, "tags": ["x", "y"], "score": 0.5},
    )
    put(
        saver,
        "u",
        checkpoint_id=new_id(),
        metadata={"source": "loop", "step": 1, "user": {"name": "ada"}},
    )
    return saver


def steps_matching(
    saver: RustSQLiteCheckpointer, cfg: RunnableConfig | None, **filter: Any
) -> list[Any]:
    return sorted(
        (t.config["configurable"]["thread_id"], t.metadata["step"])
        for t in saver.list(cfg, filter=filter)
    )


def test_list_filters_on_metadata(filter_saver: RustSQLiteCheckpointer) -> None:
    s = filter_saver
    assert steps_matching(s, config("t", None), source="loop") == [("t", 0), ("t", 1)]
    assert steps_matching(s, None, source="loop", step=1) == [("t", 1), ("u", 1)]
    assert steps_matching(s, config("t", None), source="loop", step=1) == [("t", 1)]
    assert steps_matching(s, None, source="nothing") == []
    assert steps_matching(s, None, score=0.5) == [("t", 1)]
    assert steps_matching(s, None, tags=["x", "y"]) == [("t", 1)]
    assert steps_matching(s, None, user={"name": "bob"}) == [("t", 0)]


def test_list_filter_on_nested_dotted_keys(filter_saver: RustSQLiteCheckpointer) -> None:
    assert steps_matching(filter_saver, None, **{"user.name": "ada"}) == [("t", -1), ("u", 1)]
    assert steps_matching(filter_saver, None, **{"user.age": 36}) == [("t", -1)]
    assert steps_matching(filter_saver, None, **{"user.name": "nobody"}) == []


def test_list_filter_none_matches_missing_and_null(filter_saver: RustSQLiteCheckpointer) -> None:
    # "tag" is null on step 0 and missing on the others: all match.
    assert steps_matching(filter_saver, None, tag=None) == [("t", -1), ("t", 0), ("t", 1), ("u", 1)]
    assert steps_matching(filter_saver, None, score=None) == [("t", -1), ("t", 0), ("u", 1)]
    assert steps_matching(filter_saver, None, **{"user.age": None}) == [
        ("t", 0),
        ("t", 1),
        ("u", 1),
    ]


def test_list_filter_on_booleans(filter_saver: RustSQLiteCheckpointer) -> None:
    assert steps_matching(filter_saver, None, flag=True) == [("t", -1)]
    assert steps_matching(filter_saver, None, flag=False) == [("t", 0)]


def test_list_before_and_limit(saver: RustSQLiteCheckpointer) -> None:
    chain = put_chain(saver, "t", 5)
    newest_first = [id_of(c) for c in reversed(chain)]
    assert ids(saver.list(config("t"), before=chain[3])) == newest_first[2:]
    assert ids(saver.list(config("t"), limit=2)) == newest_first[:2]
    assert ids(saver.list(config("t"), before=chain[3], limit=2)) == newest_first[2:4]
    assert ids(saver.list(config("t"), before=chain[0])) == []
    assert ids(saver.list(config("t"), limit=0)) == []
    assert ids(saver.list(config("t"), filter={"step": 4}, before=chain[4])) == []


def test_list_before_without_checkpoint_id_ignores_before(saver: RustSQLiteCheckpointer) -> None:
    """SqliteSaver returns nothing here (a defect); InMemorySaver ignores such a `before`."""
    chain = put_chain(saver, "t", 3)
    found = ids(saver.list(config("t"), before=config("t")))
    assert found == [id_of(c) for c in reversed(chain)]


def test_list_pages_through_many_checkpoints(saver: RustSQLiteCheckpointer) -> None:
    chain = put_chain(saver, "t", 230)
    put_chain(saver, "t", 30, ns="child:1")
    every_root = [id_of(c) for c in reversed(chain)]
    assert ids(saver.list(config("t"))) == every_root
    assert ids(saver.list(config("t"), limit=150)) == every_root[:150]
    assert ids(saver.list(config("t"), limit=100)) == every_root[:100]
    assert len(list(saver.list(config("t", None)))) == 260
    assert len(list(saver.list(None, filter={"source": "loop"}))) == 260


def test_list_includes_pending_writes(saver: RustSQLiteCheckpointer) -> None:
    first, second = put_chain(saver, "t", 2)
    saver.put_writes(first, [("a", 1)], "task-1")
    saver.put_writes(second, [("b", 2), ("c", 3)], "task-2")
    by_id = {t.checkpoint["id"]: t.pending_writes for t in saver.list(config("t"))}
    assert by_id == {
        id_of(first): [("task-1", "a", 1)],
        id_of(second): [("task-2", "b", 2), ("task-2", "c", 3)],
    }


def test_nan_in_metadata_does_not_break_filtered_list(saver: RustSQLiteCheckpointer) -> None:
    put(saver, "t", metadata={"source": "loop", "step": 0, "score": float("nan")})
    good = put(saver, "t", metadata={"source": "input", "step": 1})
    assert ids(saver.list(config("t"), filter={"source": "input"})) == [id_of(good)]
    assert ids(saver.list(None, filter={"step": 1})) == [id_of(good)]
    everything = list(saver.list(config("t")))
    assert len(everything) == 2
    assert math.isnan(everything[1].metadata["score"])  # type: ignore[typeddict-item]


# -- put_writes ---------------------------------------------------------------------------


def test_put_writes_signature_shows_task_path() -> None:
    # LangGraph passes task_path only to a put_writes whose signature names it.
    for method in (RustSQLiteCheckpointer.put_writes, RustSQLiteCheckpointer.aput_writes):
        assert "task_path" in inspect.signature(method).parameters


def raw_writes(path: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT task_id, task_path, idx, channel FROM writes ORDER BY task_id, idx"
        ).fetchall()
    finally:
        conn.close()


def test_put_writes_idx_is_the_batch_position_or_the_special_index(
    file_saver: RustSQLiteCheckpointer, db_path: Path
) -> None:
    cfg = put(file_saver, "t")
    file_saver.put_writes(cfg, [("a", 1), ("b", 2), ("c", 3)], "task-1", "~0")
    file_saver.put_writes(
        cfg,
        [(ERROR, "boom"), (INTERRUPT, "why"), (RESUME, "yes"), (SCHEDULED, None)],
        "task-2",
        "~1",
    )
    assert raw_writes(db_path) == [
        ("task-1", "~0", 0, "a"),
        ("task-1", "~0", 1, "b"),
        ("task-1", "~0", 2, "c"),
        ("task-2", "~1", WRITES_IDX_MAP[RESUME], RESUME),
        ("task-2", "~1", WRITES_IDX_MAP[INTERRUPT], INTERRUPT),
        ("task-2", "~1", WRITES_IDX_MAP[SCHEDULED], SCHEDULED),
        ("task-2", "~1", WRITES_IDX_MAP[ERROR], ERROR),
    ]


def test_put_writes_ordinary_writes_keep_the_first_writer(saver: RustSQLiteCheckpointer) -> None:
    cfg = put(saver, "t")
    saver.put_writes(cfg, [("a", "first"), ("b", "first")], "task")
    saver.put_writes(cfg, [("a", "second")], "task")  # same (task, idx 0): ignored
    saver.put_writes(cfg, [("a", "x"), ("b", "y"), ("c", "third")], "task")  # idx 2 is new
    found = saver.get_tuple(cfg)
    assert found is not None
    assert found.pending_writes == [
        ("task", "a", "first"),
        ("task", "b", "first"),
        ("task", "c", "third"),
    ]


@pytest.mark.parametrize("size", [1, 32, 33, 100])
def test_put_writes_batches_of_every_size_keep_order_and_the_first_writer(
    saver: RustSQLiteCheckpointer, size: int
) -> None:
    """Small batches go in as one multi-row statement, large ones row by row:
    both store every write at its position and keep the first writer's value."""
    cfg = put(saver, "t")
    saver.put_writes(cfg, [("c", f"first {i}") for i in range(size)], "task")
    saver.put_writes(cfg, [("c", f"second {i}") for i in range(size + 1)], "task")
    found = saver.get_tuple(cfg)
    assert found is not None
    expected = [("task", "c", f"first {i}") for i in range(size)]
    assert found.pending_writes == [*expected, ("task", "c", f"second {size}")]


def test_put_writes_special_only_batch_replaces(saver: RustSQLiteCheckpointer) -> None:
    cfg = put(saver, "t")
    saver.put_writes(cfg, [(INTERRUPT, "first question")], "task")
    saver.put_writes(cfg, [(INTERRUPT, "second question")], "task")
    saver.put_writes(cfg, [(ERROR, "first error")], "task")
    saver.put_writes(cfg, [(ERROR, "second error")], "task")
    found = saver.get_tuple(cfg)
    assert found is not None
    assert found.pending_writes == [
        ("task", INTERRUPT, "second question"),
        ("task", ERROR, "second error"),
    ]


def test_put_writes_mixed_batch_does_not_replace(saver: RustSQLiteCheckpointer) -> None:
    cfg = put(saver, "t")
    saver.put_writes(cfg, [(ERROR, "first error")], "task")
    saver.put_writes(cfg, [("a", 1), (ERROR, "second error")], "task")
    found = saver.get_tuple(cfg)
    assert found is not None
    assert found.pending_writes == [("task", ERROR, "first error"), ("task", "a", 1)]


def test_pending_writes_are_ordered_by_task_path_then_task_id_then_idx(
    saver: RustSQLiteCheckpointer,
) -> None:
    cfg = put(saver, "t")
    saver.put_writes(cfg, [("x", "z-late")], "z-task", "~2")
    saver.put_writes(cfg, [("x", "b0"), ("y", "b1")], "b-task", "~1")
    saver.put_writes(cfg, [("x", "a0")], "a-task", "~1")
    saver.put_writes(cfg, [("x", "y-early")], "y-task", "~0")
    found = saver.get_tuple(cfg)
    assert found is not None
    assert [value for _, _, value in writes_of(found)] == [
        "y-early",
        "a0",
        "b0",
        "b1",
        "z-late",
    ]
    listed = next(iter(saver.list(cfg)))
    assert listed.pending_writes == found.pending_writes


def test_put_writes_belong_to_their_checkpoint_and_namespace(saver: RustSQLiteCheckpointer) -> None:
    first, second = put_chain(saver, "t", 2)
    child = put(saver, "t", ns="child:1", checkpoint_id=id_of(first))
    saver.put_writes(first, [("root", 1)], "task")
    saver.put_writes(child, [("child", 2)], "task")
    root_first = saver.get_tuple(first)
    root_second = saver.get_tuple(second)
    child_tuple = saver.get_tuple(child)
    assert root_first is not None and root_second is not None and child_tuple is not None
    assert root_first.pending_writes == [("task", "root", 1)]
    assert root_second.pending_writes == []
    assert child_tuple.pending_writes == [("task", "child", 2)]


def test_put_writes_values_keep_their_types(saver: RustSQLiteCheckpointer) -> None:
    cfg = put(saver, "t")
    values: list[Any] = [
        None,
        b"\x00\xffbytes",
        bytearray(b"ba"),
        {"k": [1, 2]},
        "text",
        1.5,
        ("a", 1),
    ]
    saver.put_writes(cfg, [(f"ch{i}", v) for i, v in enumerate(values)], "task")
    found = saver.get_tuple(cfg)
    assert found is not None
    # Exactly what the serializer's own round trip gives (a top-level tuple becomes a list).
    expected = [saver.serde.loads_typed(saver.serde.dumps_typed(v)) for v in values]
    assert [value for _, _, value in writes_of(found)] == expected
    assert [type(value) for _, _, value in writes_of(found)] == [type(v) for v in expected]


# -- delete, copy, prune ------------------------------------------------------------------


def test_delete_thread_removes_every_namespace_and_write(saver: RustSQLiteCheckpointer) -> None:
    root = put_chain(saver, "t", 3)
    put_chain(saver, "t", 2, ns="child:1")
    saver.put_writes(root[-1], [("a", 1)], "task")
    kept = put_chain(saver, "other", 2)
    saver.put_writes(kept[-1], [("b", 2)], "task")
    saver.delete_thread("t")
    assert list(saver.list(config("t", None))) == []
    assert saver.get_tuple(config("t")) is None
    assert ids(saver.list(None)) == [id_of(c) for c in reversed(kept)]
    other = saver.get_tuple(config("other"))
    assert other is not None and other.pending_writes == [("task", "b", 2)]
    saver.delete_thread("never-existed")


def test_delete_thread_leaves_no_writes_behind(
    file_saver: RustSQLiteCheckpointer, db_path: Path
) -> None:
    cfg = put(file_saver, "t")
    file_saver.put_writes(cfg, [("a", 1)], "task")
    file_saver.delete_thread("t")
    assert raw_writes(db_path) == []


def test_delete_for_runs(saver: RustSQLiteCheckpointer) -> None:
    run1 = put_chain(saver, "t", 2, run_id="run-1")
    run2 = put_chain(saver, "u", 2, run_id="run-2")
    child = put_chain(saver, "t", 1, ns="child:1", run_id="run-1")
    run3 = put_chain(saver, "t", 1, run_id="run-3")
    saver.put_writes(run1[-1], [("a", 1)], "task")
    saver.delete_for_runs([])
    saver.delete_for_runs(["no-such-run"])
    assert len(list(saver.list(None))) == 6
    saver.delete_for_runs(["run-1"])
    remaining = ids(saver.list(None))
    assert sorted(remaining) == sorted(map(id_of, run2 + run3))
    assert saver.get_tuple(child[0]) is None
    saver.delete_for_runs(["run-2", "run-3"])
    assert list(saver.list(None)) == []


def test_copy_thread_copies_everything_and_leaves_the_source(saver: RustSQLiteCheckpointer) -> None:
    root = put_chain(saver, "src", 3, user="ada")
    child = put_chain(saver, "src", 2, ns="child:1")
    saver.put_writes(root[1], [("a", 1), ("b", 2)], "task", "~0")
    saver.put_writes(child[0], [(INTERRUPT, "why")], "task-c")
    before = list(saver.list(config("src", None)))
    saver.copy_thread("src", "dst")
    copied = list(saver.list(config("dst", None)))
    assert ids(copied) == ids(before)
    for original, copy in zip(before, copied, strict=True):
        assert copy.config["configurable"]["thread_id"] == "dst"
        assert (
            copy.config["configurable"]["checkpoint_ns"]
            == original.config["configurable"]["checkpoint_ns"]
        )
        assert copy.checkpoint == original.checkpoint
        assert copy.metadata == original.metadata
        assert copy.pending_writes == original.pending_writes
        if original.parent_config is None:
            assert copy.parent_config is None
        else:
            assert copy.parent_config is not None
            assert copy.parent_config["configurable"]["thread_id"] == "dst"
            assert id_of(copy.parent_config) == id_of(original.parent_config)
    assert ids(saver.list(config("src", None))) == ids(before)
    saver.copy_thread("nothing-here", "dst2")
    assert list(saver.list(config("dst2", None))) == []


def test_prune_keep_latest_keeps_the_newest_per_namespace(saver: RustSQLiteCheckpointer) -> None:
    root = put_chain(saver, "t", 4)
    child = put_chain(saver, "t", 3, ns="child:1")
    saver.put_writes(root[-1], [("a", 1)], "task")
    saver.put_writes(root[0], [("old", 1)], "task")
    other = put_chain(saver, "other", 3)
    saver.prune(["t"], strategy="keep_latest")
    assert sorted(ids(saver.list(config("t", None)))) == sorted([id_of(root[-1]), id_of(child[-1])])
    latest = saver.get_tuple(config("t"))
    assert latest is not None and latest.pending_writes == [("task", "a", 1)]
    assert ids(saver.list(config("other"))) == [id_of(c) for c in reversed(other)]


def test_prune_delete_removes_the_threads(saver: RustSQLiteCheckpointer) -> None:
    put_chain(saver, "t", 3)
    put_chain(saver, "u", 2, ns="child:1")
    other = put_chain(saver, "other", 2)
    saver.prune([], strategy="delete")
    saver.prune(["missing"], strategy="delete")
    assert len(list(saver.list(None))) == 7
    saver.prune(["t", "u"], strategy="delete")
    assert ids(saver.list(None)) == [id_of(c) for c in reversed(other)]
    with pytest.raises(ValueError, match="strategy"):
        saver.prune(["other"], strategy="everything")
    assert len(list(saver.list(None))) == 2


# -- the SqliteSaver defects ----------------------------------------------------------------


async def test_adelete_thread_on_a_fresh_database(db_path: Path) -> None:
    saver = RustSQLiteCheckpointer(str(db_path))
    try:
        await saver.adelete_thread("never-written")
        saver.delete_thread("never-written")
        assert await saver.aget_tuple(config("never-written")) is None
    finally:
        saver.close()


def run_with_timeout(work: Callable[[], None], seconds: float = 30) -> None:
    """Run `work` in a daemon thread; fail (instead of hanging) when it deadlocks."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            work()
        except BaseException as exc:  # reported in the test's thread
            errors.append(exc)

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), "deadlock: the saver did not answer inside a list() loop"
    if errors:
        raise errors[0]


def test_calling_the_saver_inside_a_list_loop_does_not_deadlock(
    saver: RustSQLiteCheckpointer,
) -> None:
    # More than a page of rows, so list() is still reading when the loop body runs.
    put_chain(saver, "t", 120)
    seen: list[str] = []

    def loop() -> None:
        for found in saver.list(config("t")):
            seen.append(found.checkpoint["id"])
            assert saver.get_tuple(found.config) is not None
            saver.put_writes(found.config, [("seen", True)], "visitor")
            if len(seen) % 40 == 1:
                put(saver, "elsewhere", metadata={"step": len(seen)})
                assert next(iter(saver.list(config("elsewhere")))).metadata["step"] == len(seen)

    run_with_timeout(loop)
    assert len(seen) == 120
    assert all(t.pending_writes == [("visitor", "seen", True)] for t in saver.list(config("t")))


async def test_calling_the_async_saver_inside_an_alist_loop(saver: RustSQLiteCheckpointer) -> None:
    put_chain(saver, "t", 110)
    count = 0
    async for found in saver.alist(config("t")):
        count += 1
        assert await saver.aget_tuple(found.config) is not None
        await saver.aput_writes(found.config, [("seen", count)], "visitor")
    assert count == 110
    assert [writes_of(t)[0][2] for t in saver.list(config("t"))] == list(range(1, 111))


# -- DeltaChannel history and pruning ---------------------------------------------------


def concatenate(state: list[str], batches: Sequence[list[str]]) -> list[str]:
    merged = list(state)
    for batch in batches:
        merged.extend(batch)
    return merged


class DeltaState(TypedDict, total=False):
    items: Annotated[list[str], DeltaChannel(concatenate, snapshot_frequency=3)]
    count: int


def delta_graph(saver: BaseCheckpointSaver[Any]) -> Any:
    def worker(state: DeltaState) -> DeltaState:
        count = state.get("count", 0)
        return {"items": [f"out{count}"], "count": count + 1}

    def reviewer(state: DeltaState) -> DeltaState:
        return {"items": [f"checked{state.get('count', 0)}"]}

    builder = StateGraph(DeltaState)
    builder.add_node("worker", worker)
    builder.add_node("reviewer", reviewer)
    builder.add_edge(START, "worker")
    builder.add_edge("worker", "reviewer")
    return builder.compile(checkpointer=saver)


def run_delta_thread(saver: RustSQLiteCheckpointer, thread_id: str, turns: int) -> Any:
    graph = delta_graph(saver)
    cfg = config(thread_id, None)
    for turn in range(turns):
        graph.invoke({"items": [f"in{turn}"]}, cfg)
    return graph


def expected_items(turns: int) -> list[str]:
    return [item for t in range(turns) for item in (f"in{t}", f"out{t}", f"checked{t + 1}")]


def test_delta_channel_history_matches_the_reference_walk(saver: RustSQLiteCheckpointer) -> None:
    graph = run_delta_thread(saver, "t", 7)
    assert graph.get_state(config("t", None)).values["items"] == expected_items(7)
    every = list(saver.list(config("t")))
    assert any("counters_since_delta_snapshot" in t.metadata for t in every)
    channels = ["items", "count", "not-a-channel"]
    for found in every:
        ours = saver.get_delta_channel_history(config=found.config, channels=channels)
        reference = BaseCheckpointSaver.get_delta_channel_history(
            saver, config=found.config, channels=channels
        )
        assert ours == reference, found.checkpoint["id"]
    assert saver.get_delta_channel_history(config=every[0].config, channels=[]) == {}
    # The latest config without an id walks from the latest checkpoint.
    assert saver.get_delta_channel_history(config=config("t"), channels=["items"]) == (
        BaseCheckpointSaver.get_delta_channel_history(
            saver, config=every[0].config, channels=["items"]
        )
    )


async def test_async_delta_channel_history_matches_the_reference_walk(
    saver: RustSQLiteCheckpointer,
) -> None:
    graph = delta_graph(saver)
    cfg = config("t", None)
    for turn in range(5):
        await graph.ainvoke({"items": [f"in{turn}"]}, cfg)
    assert (await graph.aget_state(cfg)).values["items"] == expected_items(5)
    async for found in saver.alist(config("t")):
        ours = await saver.aget_delta_channel_history(config=found.config, channels=["items"])
        reference = await BaseCheckpointSaver.aget_delta_channel_history(
            saver, config=found.config, channels=["items"]
        )
        assert ours == reference


def test_delta_channel_history_follows_the_parent_chain_of_a_fork(
    saver: RustSQLiteCheckpointer,
) -> None:
    graph = run_delta_thread(saver, "t", 4)
    history = list(saver.list(config("t")))
    past = history[len(history) // 2]
    graph.invoke({"items": ["forked"]}, past.config)
    for found in saver.list(config("t")):
        ours = saver.get_delta_channel_history(config=found.config, channels=["items"])
        reference = BaseCheckpointSaver.get_delta_channel_history(
            saver, config=found.config, channels=["items"]
        )
        assert ours == reference


def test_prune_keep_latest_keeps_a_delta_thread_reconstructable(
    saver: RustSQLiteCheckpointer,
) -> None:
    graph = run_delta_thread(saver, "t", 5)
    cfg = config("t", None)
    state_before = graph.get_state(cfg)
    latest_before = saver.get_tuple(config("t"))
    assert latest_before is not None
    count_before = len(list(saver.list(cfg)))
    saver.prune(["t"], strategy="keep_latest")
    count_after = len(list(saver.list(cfg)))
    assert count_after < count_before
    state_after = graph.get_state(cfg)
    assert state_after.values == state_before.values
    assert state_after.values["items"] == expected_items(5)
    assert state_after.config == state_before.config
    latest_after = saver.get_tuple(config("t"))
    assert latest_after is not None
    assert latest_after.checkpoint == latest_before.checkpoint
    # The thread goes on from the pruned state.
    graph.invoke({"items": ["in5"]}, cfg)
    assert graph.get_state(cfg).values["items"] == [*expected_items(5), "in5", "out5", "checked6"]
