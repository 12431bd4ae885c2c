"""Compact storage (`storage="compact"`): the same checkpoints in a fraction of
the space, chunk references kept right by every deleting operation, a file
SqliteSaver refuses without damage, and `fast-langgraph convert` both ways.

The whole suite also runs with compact files (FAST_LANGGRAPH_STORAGE=compact,
the nox session "tests(rust, compiled, compact)"); these tests pin down what
is particular to the layout. See fast_langgraph_pure/compact.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import select
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import ormsgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.serde.encrypted import EncryptedSerializer
from langgraph.checkpoint.sqlite import SqliteSaver

from conftest import GraphBuilders, carry_on, contents, histories, human, populate, thread
from fast_langgraph import RustSQLiteCheckpointer
from fast_langgraph.cli import main as cli_main
from fast_langgraph.sqlite.aio import AsyncSqliteSaver
from fast_langgraph_pure import PythonCodec, compact, storage
from fast_langgraph_pure.compact import StorageModeError
from fast_langgraph_pure.engine import StoredRow

AES_KEY = b"0123456789abcdef0123456789abcdef"


# -- helpers ---------------------------------------------------------------------------


def chat(saver: Any, thread_id: str, turns: int, start: int = 0) -> Any:
    graph = GraphBuilders.chat(saver)
    for turn in range(start, start + turns):
        graph.invoke({"messages": [human(f"message {turn} " + "words " * 40)]}, thread(thread_id))
    return graph


def chunk_accounting(path: Path | str) -> tuple[set[tuple[str, int]], set[tuple[str, int]]]:
    """(chunks some checkpoint refers to, chunks stored), as (thread_id, seq)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        referenced = {
            (thread_id, seq)
            for thread_id, blob in conn.execute(
                "SELECT thread_id, checkpoint FROM checkpoints WHERE type = ?",
                (compact.COMPACT_TYPE,),
            )
            for seq in compact.referenced(blob)
        }
        stored = set(conn.execute(f"SELECT thread_id, seq FROM {storage.CHUNKS_TABLE}"))
        return referenced, stored
    finally:
        conn.close()


def assert_chunks_exact(path: Path | str) -> None:
    """Every referenced chunk is stored and nothing else is."""
    referenced, stored = chunk_accounting(path)
    assert referenced <= stored, f"missing chunks: {sorted(referenced - stored)[:5]}"
    assert stored == referenced, f"unreferenced chunks: {sorted(stored - referenced)[:5]}"


def states(saver: Any, thread_id: str) -> list[tuple[str, Any, Any]]:
    """Every checkpoint of a thread, newest first: (id, channel values, metadata)."""
    return [
        (t.config["configurable"]["checkpoint_id"], t.checkpoint["channel_values"], t.metadata)
        for t in saver.list(thread(thread_id))
    ]


def file_digest(path: Path | str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def all_rows(saver: RustSQLiteCheckpointer) -> list[StoredRow]:
    return saver._engine.stored_rows(None, 1_000_000)


# -- the layout ---------------------------------------------------------------------------


def test_rows_read_back_byte_for_byte_as_the_default_layout_stores_them(tmp_path: Path) -> None:
    """The same checkpoints put through both layouts: what compact storage hands
    the serializer is exactly what the default layout stores."""
    with RustSQLiteCheckpointer(tmp_path / "default.db", storage="default") as plain:
        chat(plain, "t", 12)
        tuples = list(reversed(list(plain.list(None))))
        expected = all_rows(plain)
    with RustSQLiteCheckpointer(tmp_path / "compact.db", storage="compact") as packed:
        for t in tuples:
            parent = t.parent_config or {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
            packed.put(parent, t.checkpoint, t.metadata, t.checkpoint["channel_versions"])
        got = all_rows(packed)
        raw = sqlite3.connect(tmp_path / "compact.db").execute("SELECT type FROM checkpoints")
        types = [row[0] for row in raw]
        # Only the first checkpoints, with too little to cut, are stored whole.
        assert set(types) == {compact.COMPACT_TYPE, "msgpack"}
        assert types.count(compact.COMPACT_TYPE) > len(types) - 3
    assert [row[:7] for row in got] == [row[:7] for row in expected]


def test_each_message_is_stored_once_per_thread(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    with RustSQLiteCheckpointer(path, storage="compact") as saver:
        graph = chat(saver, "t", 30)
        messages = graph.get_state(thread("t")).values["messages"]
        assert len(messages) == 60
        assert saver.storage == "compact"
        # Every piece any checkpoint was cut into, as the serializer wrote it.
        pieces = [
            piece
            for row in all_rows(saver)
            for _offset, cut in (compact.split(row[5]) or (b"", []))[1]
            for piece in cut
        ]
    conn = sqlite3.connect(path)
    chunks = conn.execute(f"SELECT COUNT(*) FROM {storage.CHUNKS_TABLE}").fetchone()[0]
    assert conn.execute("SELECT COUNT(*) FROM checkpoints").fetchone()[0] == 90
    assert len(pieces) > 60 * 30  # the messages, in nearly every checkpoint
    # Each distinct piece once: the 60 messages (each turn's input, under 1 KB,
    # stays in its checkpoint).
    assert chunks == len(set(pieces)) == 60
    assert_chunks_exact(path)


def test_a_long_conversation_takes_a_fraction_of_the_space(tmp_path: Path) -> None:
    sizes = {}
    for mode in ("default", "compact"):
        path = tmp_path / f"{mode}.db"
        with RustSQLiteCheckpointer(path, storage=mode) as saver:  # type: ignore[arg-type]
            chat(saver, "t", 60)
            saver.vacuum()
        sizes[mode] = os.path.getsize(path)
    assert sizes["compact"] * 10 < sizes["default"], sizes


def test_every_graph_feature_reads_back_as_in_the_default_layout(tmp_path: Path) -> None:
    """Chat, interrupt and resume, a subgraph's interrupt, Send fan-out and a
    DeltaChannel: the same histories (subgraph states, tasks, interrupts and
    metadata included) from both layouts, before and after carrying on."""
    seen = {}
    for mode in ("default", "compact"):
        with RustSQLiteCheckpointer(tmp_path / f"{mode}.db", storage=mode) as saver:  # type: ignore[arg-type]
            populate(saver, GraphBuilders)
            before = histories(saver, GraphBuilders, exact=False)
            carry_on(saver, GraphBuilders)
            history = saver.get_delta_channel_history(config=thread("delta"), channels=["log"])
            seen[mode] = (
                before,
                histories(saver, GraphBuilders, exact=False),
                [(w[1], w[2]) for w in history["log"]["writes"]],
            )
            assert saver.storage == mode
    assert seen["compact"] == seen["default"]


def test_the_async_saver_writes_compact_files(tmp_path: Path) -> None:
    async def run() -> list[str]:
        async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "a.db")) as probe:
            assert probe.storage in ("default", "compact")
        saver = AsyncSqliteSaver(str(tmp_path / "b.db"), storage="compact")
        try:
            graph = GraphBuilders.chat(saver, use_async=True)
            for text in ("a", "b", "c"):
                await graph.ainvoke({"messages": [human(text)]}, thread("t"))
            assert saver.storage == "compact"
            return contents((await graph.aget_state(thread("t"))).values["messages"])
        finally:
            await saver.__aexit__(None, None, None)

    assert asyncio.run(run()) == ["a", "you said: a", "b", "you said: b", "c", "you said: c"]
    assert_chunks_exact(tmp_path / "b.db")


def test_an_encrypting_serializer_keeps_the_data_encrypted_at_rest(tmp_path: Path) -> None:
    path = tmp_path / "secret.db"
    serde = EncryptedSerializer.from_pycryptodome_aes(key=AES_KEY)
    with RustSQLiteCheckpointer(path, serde=serde, storage="compact") as saver:
        graph = GraphBuilders.chat(saver)
        graph.invoke({"messages": [human("the launch code is swordfish")]}, thread("t"))
        assert "swordfish" in contents(graph.get_state(thread("t")).values["messages"])[0]
    assert b"swordfish" not in Path(path).read_bytes()
    conn = sqlite3.connect(path)
    types = {row[0] for row in conn.execute("SELECT type FROM checkpoints")}
    assert types == {"msgpack+aes"}  # ciphertext is stored whole: nothing to deduplicate
    assert conn.execute(f"SELECT COUNT(*) FROM {storage.CHUNKS_TABLE}").fetchone()[0] == 0


# -- the file's mode -------------------------------------------------------------------------


def test_sqlitesaver_refuses_a_compact_file_and_leaves_it_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    with RustSQLiteCheckpointer(path, storage="compact") as saver:
        chat(saver, "t", 3)
    before = file_digest(path)
    conn = sqlite3.connect(path, check_same_thread=False)
    theirs = SqliteSaver(conn)
    theirs.setup()
    with pytest.raises(NotImplementedError, match="fast-langgraph convert"):
        theirs.get_tuple(thread("t"))
    with pytest.raises(NotImplementedError, match="compact storage"):
        list(theirs.list(None))
    with pytest.raises(NotImplementedError, match="SqliteSaver cannot read this file"):
        GraphBuilders.chat(theirs).invoke({"messages": [human("more")]}, thread("t"))
    conn.close()
    assert file_digest(path) == before
    with RustSQLiteCheckpointer(path) as again:
        assert again.storage == "compact"
        assert len(again.get_tuple(thread("t")).checkpoint["channel_values"]["messages"]) == 6  # type: ignore[union-attr]


def test_a_file_keeps_its_layout_and_a_wrong_one_is_refused_unchanged(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs.db"
    with SqliteSaver.from_conn_string(str(theirs)) as saver:
        chat(saver, "t", 2)
    before = file_digest(theirs)
    with pytest.raises(StorageModeError, match="convert FILE OUT --to compact") as refused:
        RustSQLiteCheckpointer(theirs, storage="compact")
    assert isinstance(refused.value, sqlite3.DatabaseError)
    assert str(theirs) in str(refused.value)
    assert file_digest(theirs) == before
    with RustSQLiteCheckpointer(theirs) as saver:
        assert saver.storage == "default"

    packed = tmp_path / "packed.db"
    RustSQLiteCheckpointer(packed, storage="compact").close()  # an empty file, marked compact
    with RustSQLiteCheckpointer(packed) as saver:
        assert saver.storage == "compact"
    with pytest.raises(StorageModeError, match="storage='compact'"):
        RustSQLiteCheckpointer(packed, storage="default")
    with RustSQLiteCheckpointer(packed, read_only=True) as reader:
        assert reader.storage == "compact"
    with pytest.raises(ValueError, match="storage must be one of"):
        RustSQLiteCheckpointer(tmp_path / "x.db", storage="tiny")  # type: ignore[arg-type]


def test_a_callers_connection_and_memory_can_be_compact(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "c.db", check_same_thread=False)
    with RustSQLiteCheckpointer(conn, storage="compact") as saver:
        chat(saver, "t", 5)
        assert len(states(saver, "t")) == 15
    assert_chunks_exact(tmp_path / "c.db")
    conn.close()
    with RustSQLiteCheckpointer(":memory:", storage="compact") as saver:
        graph = chat(saver, "t", 5)
        assert len(graph.get_state(thread("t")).values["messages"]) == 10


# -- reference counts ---------------------------------------------------------------------------


def _two_threads(path: Path) -> RustSQLiteCheckpointer:
    saver = RustSQLiteCheckpointer(path, storage="compact")
    chat(saver, "keep", 6)
    chat(saver, "doomed", 6)
    return saver


def test_delete_thread_removes_its_chunks_only(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    with _two_threads(path) as saver:
        kept = states(saver, "keep")
        saver.delete_thread("doomed")
        assert states(saver, "doomed") == []
        assert states(saver, "keep") == kept
    _referenced, stored = chunk_accounting(path)
    assert {t for t, _seq in stored} == {"keep"}
    assert_chunks_exact(path)


@pytest.mark.parametrize("strategy", ["keep_latest", "delete"])
def test_prune_sweeps_the_chunks_no_checkpoint_needs(tmp_path: Path, strategy: str) -> None:
    path = tmp_path / "c.db"
    with _two_threads(path) as saver:
        kept = states(saver, "keep")
        latest = saver.get_tuple(thread("doomed"))
        assert latest is not None
        saver.prune(["doomed"], strategy=strategy)
        assert states(saver, "keep") == kept
        survivors = states(saver, "doomed")
        if strategy == "delete":
            assert survivors == []
        else:
            assert survivors[0][1] == latest.checkpoint["channel_values"]
    assert_chunks_exact(path)


def test_delete_for_runs_and_cleanup_and_ttl_keep_the_chunks_exact(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    with RustSQLiteCheckpointer(path, storage="compact") as saver:
        graph = GraphBuilders.chat(saver)
        for turn in range(4):
            config = {**thread("t"), "metadata": {"run_id": f"run-{turn}"}}
            graph.invoke({"messages": [human(f"turn {turn} " + "x" * 200)]}, config)
        saver.delete_for_runs(["run-3"])
        assert_chunks_exact(path)
        latest = saver.get_tuple(thread("t"))
        assert latest is not None and len(latest.checkpoint["channel_values"]["messages"]) == 6
        chat(saver, "u", 4)
        # A checkpoint re-put under the same id leaves its old chunks unreferenced...
        again = saver.get_tuple(thread("u"))
        assert again is not None
        changed = dict(again.checkpoint)
        changed["channel_values"] = {"messages": [AIMessage("replaced " + "y" * 300)] * 2}
        saver.put(again.config, changed, again.metadata, {"messages": "x"})
        # ...until a cleanup, which takes them.
        saver.cleanup(timedelta(days=3650))
        assert_chunks_exact(path)
        time.sleep(0.05)
        counts = saver.sweep_expired({"strategy": "keep_latest", "default_ttl": 0.0001})
        assert counts["checkpoints"] > 0
        assert_chunks_exact(path)
        counts = saver.sweep_expired({"strategy": "delete", "default_ttl": 0.0001})
        assert states(saver, "t") == states(saver, "u") == []
    assert chunk_accounting(path) == (set(), set())


def test_copy_thread_gives_the_copy_its_own_chunks(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    with _two_threads(path) as saver:
        source = states(saver, "doomed")
        saver.copy_thread("doomed", "fresh")  # a new thread: the numbers carry over
        saver.copy_thread("doomed", "keep")  # a thread with chunks of its own: renumbered
        saver.delete_thread("doomed")
        assert [s[1] for s in states(saver, "fresh")] == [s[1] for s in source]
        merged = {s[0]: s[1] for s in states(saver, "keep")}
        for checkpoint_id, values, _metadata in source:
            assert merged[checkpoint_id] == values
    referenced, stored = chunk_accounting(path)
    assert referenced <= stored
    assert_chunks_exact(path)


def test_a_writer_never_refers_to_chunks_another_saver_swept(tmp_path: Path) -> None:
    """Saver A remembers which messages are stored; B deletes the thread and
    writes other messages under the same chunk numbers; A must notice."""
    path = tmp_path / "c.db"
    a = RustSQLiteCheckpointer(path, storage="compact")
    b = RustSQLiteCheckpointer(path)
    try:
        chat(a, "t", 3)
        b.delete_thread("t")
        chat(b, "t", 2, start=100)
        chat(a, "t", 1, start=0)  # message 0 again: A's memory says chunk 1, which is now B's
        for saver in (a, b):
            messages = saver.get_tuple(thread("t")).checkpoint["channel_values"]["messages"]  # type: ignore[union-attr]
            assert [m.content.split()[1] for m in messages] == [
                "100",
                "said:",
                "101",
                "said:",
                "0",
                "said:",
            ]
    finally:
        a.close()
        b.close()
    assert_chunks_exact(path)


# -- the cut itself ---------------------------------------------------------------------------

_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=300),
    st.binary(max_size=300),
)
_values = st.recursive(
    _leaves,
    lambda inner: (
        st.lists(inner, max_size=20) | st.dictionaries(st.text(max_size=8), inner, max_size=8)
    ),
    max_leaves=60,
)


@settings(max_examples=300, deadline=None)
@given(
    channel_values=st.dictionaries(st.text(max_size=12), _values, max_size=6),
    extra=st.dictionaries(st.text(max_size=8), _values, max_size=3),
)
def test_the_cut_gives_the_bytes_back_and_both_cutters_agree(
    channel_values: dict[str, Any], extra: dict[str, Any]
) -> None:
    data = ormsgpack.packb({**extra, "channel_values": channel_values, "v": 4})
    python_cut = PythonCodec(None).split_checkpoint(data)  # type: ignore[arg-type]
    if python_cut is not None:
        skeleton, cuts = python_cut
        assert compact.splice(skeleton, cuts) == data
        assert all(pieces for _offset, pieces in cuts)
    try:
        import fast_langgraph_rs
    except ImportError:
        return
    native = fast_langgraph_rs.Codec(__import__("fast_langgraph.serde").serde.JsonPlusSerializer())
    assert native.split_checkpoint(data) == python_cut


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_any_bytes_are_cut_exactly_or_left_whole(data: bytes) -> None:
    cut = compact.split(data)
    if cut is not None:
        assert compact.splice(*cut) == data


# -- fast-langgraph convert -------------------------------------------------------------------


def _cli(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli_main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_convert_both_ways_and_sqlitesaver_reads_the_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    packed = tmp_path / "packed.db"
    with RustSQLiteCheckpointer(packed, storage="compact") as saver:
        chat(saver, "a", 8)
        chat(saver, "b", 3)
        GraphBuilders.approval(saver).invoke({"messages": [human("deploy")]}, thread("c"))
        history = {t: states(saver, t) for t in ("a", "b", "c")}
    before = file_digest(packed)

    plain = tmp_path / "plain.db"
    code, out, err = _cli(
        "convert", str(packed), str(plain), "--to", "sqlitesaver", "--json", capsys=capsys
    )
    assert (code, err) == (0, "")
    report = json.loads(out)
    assert report["threads"] == 3 and report["checkpoints"] == sum(len(h) for h in history.values())
    assert report["target_bytes"] > report["source_bytes"]
    assert file_digest(packed) == before  # the source is only read
    with SqliteSaver.from_conn_string(str(plain)) as theirs:
        for thread_id, expected in history.items():
            assert states(theirs, thread_id) == expected
        assert GraphBuilders.approval(theirs).get_state(thread("c")).next == ("ask",)

    again = tmp_path / "again.db"
    code, out, _err = _cli("convert", str(plain), str(again), "--to", "compact", capsys=capsys)
    assert code == 0 and "verified" in out
    with RustSQLiteCheckpointer(again) as saver:
        assert saver.storage == "compact"
        assert {t: states(saver, t) for t in history} == history
    assert_chunks_exact(again)


def test_convert_refuses_what_it_must_not_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "s.db"
    with RustSQLiteCheckpointer(source) as saver:
        chat(saver, "t", 2)
    taken = tmp_path / "taken.db"
    taken.write_bytes(b"mine")
    code, _out, err = _cli(
        "convert", str(source), str(taken), "--to", "compact", "--json", capsys=capsys
    )
    assert code == 1 and json.loads(err)["kind"] == "target_exists"
    assert taken.read_bytes() == b"mine"
    code, _out, err = _cli(
        "convert", str(source), str(source), "--to", "compact", "--force", capsys=capsys
    )
    assert code == 1 and "the source itself" in err
    code, _out, err = _cli(
        "convert",
        str(tmp_path / "none.db"),
        str(tmp_path / "n.db"),
        "--to",
        "compact",
        capsys=capsys,
    )
    assert code == 1 and "no such database file" in err
    code, _out, err = _cli(
        "convert", str(source), str(tmp_path / "x.db"), "--to", "zip", capsys=capsys
    )
    assert code == 2
    code, _out, _err = _cli(
        "convert", str(source), str(taken), "--to", "compact", "--force", capsys=capsys
    )
    assert code == 0
    with RustSQLiteCheckpointer(taken) as saver:
        assert saver.storage == "compact" and len(states(saver, "t")) == 6
    assert not list(tmp_path.glob("*.partial*"))


# -- kill -9 ----------------------------------------------------------------------------------

_WRITER = textwrap.dedent(
    """
    import sys
    from langchain_core.messages import HumanMessage
    from conftest import GraphBuilders, thread
    from fast_langgraph import RustSQLiteCheckpointer

    saver = RustSQLiteCheckpointer(sys.argv[1], storage="compact")
    graph = GraphBuilders.chat(saver)
    for turn in range(100000):
        thread_id = f"t{turn % 3}"
        graph.invoke({"messages": [HumanMessage(f"turn {turn} " + "w" * 300)]}, thread(thread_id))
        latest = saver.get_tuple(thread(thread_id))
        print(thread_id, latest.config["configurable"]["checkpoint_id"], flush=True)
        if turn % 7 == 6:
            saver.prune([thread_id], strategy="keep_latest")
    """
)


@pytest.mark.parametrize("delay", [0.2, 0.7, 1.5])
def test_kill_9_leaves_every_acknowledged_checkpoint_whole(tmp_path: Path, delay: float) -> None:
    path = tmp_path / "c.db"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]
        ),
    }
    child = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert child.stdout is not None
    # The kill lands `delay` after the first acknowledgment, however long the
    # child's imports take on a loaded machine.
    ready, _, _ = select.select([child.stdout], [], [], 120)
    assert ready, "the writer acknowledged nothing in 120 s"
    first = child.stdout.readline()
    time.sleep(delay)
    os.kill(child.pid, signal.SIGKILL)
    rest, _ = child.communicate()
    out = first + rest
    acknowledged = [line.split() for line in out.splitlines() if line.strip()]
    assert acknowledged, "the writer acknowledged nothing before the kill"
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    latest: dict[str, str] = {}
    for thread_id, checkpoint_id in acknowledged:
        latest[thread_id] = checkpoint_id
    with RustSQLiteCheckpointer(path) as saver:
        for thread_id, checkpoint_id in latest.items():
            found = saver.get_tuple(
                {"configurable": {"thread_id": thread_id, "checkpoint_id": checkpoint_id}}
            )
            assert found is not None, (thread_id, checkpoint_id)
            messages = found.checkpoint["channel_values"]["messages"]
            assert isinstance(messages[-1], AIMessage) and isinstance(messages[0], HumanMessage)
    referenced, stored = chunk_accounting(path)
    assert referenced <= stored
