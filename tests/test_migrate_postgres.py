"""`fast-langgraph migrate` and `fast_langgraph.migrate.migrate`: SQLite files (ours
and langgraph's SqliteSaver's) to PostgreSQL in PostgresSaver's schema, and back,
against a real server (tests/pg_server.py). An unmodified PostgresSaver (or
SqliteSaver) must then serve every conversation exactly as the source did, and
carry it on the same way."""

from __future__ import annotations

import itertools
import json
import math
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from langchain_core.messages import AIMessage
from langgraph.checkpoint.base import BaseCheckpointSaver, empty_checkpoint
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.sqlite import SqliteSaver
from pg_server import PostgresServer
from psycopg.rows import dict_row

from conftest import (
    GraphBuilders,
    carry_on,
    delta_log,
    dump_tables,
    histories,
    human,
    populate,
    scenarios,
    snapshot_view,
    thread,
    turn,
)
from fast_langgraph import RustSQLiteCheckpointer
from fast_langgraph.cli import ERROR_KINDS, main
from fast_langgraph.migrate import (
    MigrationError,
    MigrationInterrupted,
    MigrationReport,
    migrate,
)
from fast_langgraph.serde import JsonPlusSerializer

CLI = [
    sys.executable,
    "-c",
    "import sys; from fast_langgraph.cli import main; sys.argv[0] = 'fast-langgraph'; "
    "sys.exit(main())",
]
_names = itertools.count()


# -- databases --------------------------------------------------------------------


@pytest.fixture
def pg_url(postgres: PostgresServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """A new, empty database on the session's server."""
    name = re.sub(r"\W+", "_", request.node.name).lower()[:40] + f"_{next(_names)}"
    yield postgres.create_database(name)
    postgres.drop_database(name)


def another_database(server: PostgresServer, label: str) -> str:
    return server.create_database(f"{label}_{next(_names)}")


@contextmanager
def postgres_saver(url: str, serde: Any = None) -> Iterator[PostgresSaver]:
    """An unmodified PostgresSaver, on a connection made as its docs say."""
    with psycopg.connect(url, autocommit=True, prepare_threshold=0, row_factory=dict_row) as conn:
        yield PostgresSaver(conn, serde=serde)


@contextmanager
def sqlite_saver(path: Path | str) -> Iterator[SqliteSaver]:
    conn = sqlite3.connect(str(path), check_same_thread=False)
    try:
        yield SqliteSaver(conn)
    finally:
        conn.close()


def pg_contents(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row PostgresSaver keeps, in a stable order (blobs by digest)."""
    queries = {
        "checkpoints": "SELECT thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, "
        "type, checkpoint::text, metadata::text FROM checkpoints ORDER BY 1, 2, 3",
        "checkpoint_blobs": "SELECT thread_id, checkpoint_ns, channel, version, type, md5(blob) "
        "FROM checkpoint_blobs ORDER BY 1, 2, 3, 4",
        "checkpoint_writes": "SELECT thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, "
        "idx, channel, type, md5(blob) FROM checkpoint_writes ORDER BY 1, 2, 3, 4, 6",
        "checkpoint_migrations": "SELECT v FROM checkpoint_migrations ORDER BY v",
    }
    with psycopg.connect(url) as conn:
        return {table: conn.execute(sql).fetchall() for table, sql in queries.items()}


def pg_count(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        try:
            row = conn.execute("SELECT count(*) FROM checkpoints").fetchone()
        except psycopg.errors.UndefinedTable:
            return 0
        return int(row[0]) if row else 0


def pg_has_tables(url: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT to_regclass('checkpoints') IS NOT NULL").fetchone()
        return bool(row and row[0])


def file_bytes(path: Path) -> dict[str, bytes]:
    """The database file and whatever lies beside it (-wal, -shm, -journal)."""
    return {
        p.name: p.read_bytes()
        for p in sorted(path.parent.iterdir())
        if p.name == path.name or p.name.startswith(path.name + "-")
    }


def assert_same_conversations(
    one: BaseCheckpointSaver[Any], other: BaseCheckpointSaver[Any], graphs: type[GraphBuilders]
) -> None:
    """Same histories now (ids and all); then both carry every conversation on,
    and still agree, with the moved past kept as it was."""
    before = histories(one, graphs, exact=True)
    assert before == histories(other, graphs, exact=True)
    carry_on(one, graphs)
    carry_on(other, graphs)
    assert histories(one, graphs, exact=False) == histories(other, graphs, exact=False)
    for saver in (one, other):
        after = histories(saver, graphs, exact=True)
        for name in scenarios(graphs):
            old = [view["ids"][:3] for view in before[name]]
            assert [view["ids"][:3] for view in after[name]][-len(old) :] == old
    # What the conversations say now, spelled out once.
    for saver in (one, other):
        state = graphs.approval(saver).get_state(thread("approval"))
        assert state.values["approved"] is True and state.next == ()
        log = graphs.delta(saver).get_state(thread("delta")).values["log"]
        assert log == delta_log(["one", "two", "three", "four", "five"])
        topics = graphs.fan_out(saver).get_state(thread("fan-out")).values["results"]
        assert sorted(topics) == [f"notes on {t}" for t in "abcde"]


# -- SQLite -> PostgreSQL -> the same conversations --------------------------------------


@pytest.mark.parametrize("writer", ["ours", "sqlite_saver"])
def test_a_sqlite_file_carries_on_under_an_unmodified_postgres_saver(
    writer: str, tmp_path: Path, pg_url: str, graphs: type[GraphBuilders]
) -> None:
    path = tmp_path / "source.db"
    if writer == "ours":
        with RustSQLiteCheckpointer(path) as saver:
            populate(saver, graphs)
    else:
        with sqlite_saver(path) as saver:
            populate(saver, graphs)
    before = file_bytes(path)

    report = migrate(path, pg_url)

    assert report.ok and report.verified and not report.mismatches and not report.warnings
    assert report.direction == "sqlite-to-postgres"
    assert report.threads == len(scenarios(graphs))
    assert report.copied_checkpoints == report.checkpoints > 0
    assert report.copied_writes == report.writes > 0
    assert report.sampled > 0
    assert file_bytes(path) == before  # read only
    lite: BaseCheckpointSaver[Any]
    if writer == "ours":
        with RustSQLiteCheckpointer(path) as lite, postgres_saver(pg_url) as pg:
            assert_same_conversations(lite, pg, graphs)
    else:
        with sqlite_saver(path) as lite, postgres_saver(pg_url) as pg:
            assert_same_conversations(lite, pg, graphs)


def test_postgres_migrated_back_carries_on_under_sqlite_saver(
    tmp_path: Path, pg_url: str, graphs: type[GraphBuilders]
) -> None:
    """A database PostgresSaver itself wrote (blobs per version, snapshots with a
    `true` marker) becomes a file that SqliteSaver and ours serve the same."""
    with postgres_saver(pg_url) as pg:
        pg.setup()
        populate(pg, graphs)
    path = tmp_path / "back.db"

    report = migrate(pg_url, path)

    assert report.ok and report.direction == "postgres-to-sqlite"
    assert report.copied_checkpoints == report.checkpoints > 0
    with RustSQLiteCheckpointer(path, read_only=True) as ours, postgres_saver(pg_url) as pg:
        assert histories(ours, graphs, exact=True) == histories(pg, graphs, exact=True)
    with sqlite_saver(path) as lite, postgres_saver(pg_url) as pg:
        assert_same_conversations(lite, pg, graphs)


def test_a_round_trip_keeps_every_conversation(
    tmp_path: Path, postgres: PostgresServer, graphs: type[GraphBuilders]
) -> None:
    first, back = tmp_path / "first.db", tmp_path / "back.db"
    with RustSQLiteCheckpointer(first) as saver:
        populate(saver, graphs)
    url = another_database(postgres, "round_trip")
    assert migrate(first, url).ok
    assert migrate(url, back).ok
    with RustSQLiteCheckpointer(first) as one, RustSQLiteCheckpointer(back) as other:
        assert_same_conversations(one, other, graphs)


def _replay(path: Path, url: str) -> None:
    """The slow way: every checkpoint and write through PostgresSaver.put and
    put_writes, one by one, as a run would have saved them."""
    with RustSQLiteCheckpointer(path, read_only=True) as lite, postgres_saver(url) as pg:
        pg.setup()
        tuples = sorted(lite.list(None), key=lambda t: t.checkpoint["id"])
        conn = sqlite3.connect(path)
        # One put_writes per task, as a run makes them; a special write (an
        # interrupt, an error) is a call of its own.
        writes: dict[tuple[str, str, str], dict[tuple[Any, ...], list[Any]]] = defaultdict(dict)
        for tid, ns, cid, task, task_path, idx, channel, type_, value in conn.execute(
            "SELECT thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, "
            "type, value FROM writes ORDER BY idx"
        ):
            decoded = lite.serde.loads_typed((type_, value))
            call = (task, task_path, idx if idx < 0 else None)
            writes[(tid, ns, cid)].setdefault(call, []).append((channel, decoded))
        conn.close()
        versions: dict[tuple[str, str], dict[str, Any]] = {}
        for found in tuples:
            c = found.config["configurable"]
            key = (c["thread_id"], c["checkpoint_ns"])
            parent = found.parent_config or {
                "configurable": {"thread_id": key[0], "checkpoint_ns": key[1]}
            }
            seen = versions.get(key, {})
            new = {
                k: v for k, v in found.checkpoint["channel_versions"].items() if seen.get(k) != v
            }
            versions[key] = found.checkpoint["channel_versions"]
            config = pg.put(parent, found.checkpoint, found.metadata, new)
            for (task, task_path, _), pending in writes[(*key, c["checkpoint_id"])].items():
                pg.put_writes(config, pending, task, task_path)


def test_the_rows_are_those_postgres_saver_writes_itself(
    tmp_path: Path, postgres: PostgresServer, graphs: type[GraphBuilders]
) -> None:
    """Checkpoint JSONB, blobs (bytes, one per channel and version, snapshots with
    their marker) and writes: exactly what PostgresSaver.put and put_writes store."""
    path = tmp_path / "source.db"
    with RustSQLiteCheckpointer(path) as saver:
        populate(saver, graphs)
    migrated, replayed = (another_database(postgres, label) for label in ("moved", "replayed"))
    assert migrate(path, migrated).ok
    _replay(path, replayed)
    assert pg_contents(migrated) == pg_contents(replayed)


def test_long_threads_go_page_by_page_and_small_ones_in_groups(
    tmp_path: Path, postgres: PostgresServer, graphs: type[GraphBuilders]
) -> None:
    """Threads longer than a page (DeltaChannel snapshots on every page) and many
    one-exchange threads, both ways; then a copy missing the end of a long thread
    is finished, both ways."""
    path = tmp_path / "long.db"
    with RustSQLiteCheckpointer(path) as saver:
        chat, delta = graphs.chat(saver), graphs.delta(saver)
        for n in range(60):
            chat.invoke({"messages": [human(f"turn {n}")]}, thread("long"))
        for n in range(40):
            delta.invoke(turn(f"d{n}"), thread("long-delta"))
        for n in range(150):
            chat.invoke({"messages": [human(f"hello {n}")]}, thread(f"user-{n}"))
    url = another_database(postgres, "long")
    assert migrate(path, url, sample=60).ok
    back = tmp_path / "back.db"
    assert migrate(url, back, sample=60).ok
    with (
        RustSQLiteCheckpointer(path, read_only=True) as first,
        postgres_saver(url) as pg,
        sqlite_saver(back) as last,
    ):
        for name, builder in (("long", graphs.chat), ("long-delta", graphs.delta)):
            seen = [
                [snapshot_view(s, True) for s in builder(saver).get_state_history(thread(name))]
                for saver in (first, pg, last)
            ]
            assert len(seen[0]) >= 100 and seen[0] == seen[1] == seen[2]
        for n in (0, 77, 149):
            views = [
                snapshot_view(graphs.chat(saver).get_state(thread(f"user-{n}")), True)
                for saver in (first, pg, last)
            ]
            assert views[0] == views[1] == views[2]

    whole_pg, whole_back = pg_contents(url), dump_tables(back)
    cut = (
        "DELETE FROM checkpoints WHERE thread_id = 'long' AND checkpoint_id > ("
        "SELECT checkpoint_id FROM checkpoints WHERE thread_id = 'long' "
        "ORDER BY checkpoint_id LIMIT 1 OFFSET 70)"
    )
    with psycopg.connect(url, autocommit=True) as conn:
        deleted = conn.execute(cut).rowcount
    conn = sqlite3.connect(back)
    with conn:
        assert conn.execute(cut).rowcount == deleted > 0
    conn.close()
    again = migrate(path, url)
    assert again.ok and again.copied_checkpoints == deleted
    assert pg_contents(url) == whole_pg
    again = migrate(url, back)
    assert again.ok and again.copied_checkpoints == deleted
    assert dump_tables(back) == whole_back


# -- values PostgreSQL's JSONB cannot hold, other serializers ------------------------


class Opaque:
    """No msgpack encoding: JsonPlusSerializer(pickle_fallback=True) pickles it."""

    def __init__(self, payload: str) -> None:
        self.payload = payload

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Opaque) and other.payload == self.payload

    __hash__ = None  # type: ignore[assignment]


def _put(saver: BaseCheckpointSaver[Any], thread_id: str, values: dict[str, Any]) -> None:
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = values
    checkpoint["channel_versions"] = {k: saver.get_next_version(None, None) for k in values}
    saver.put(
        {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}},
        checkpoint,
        {"source": "input", "step": -1},
        checkpoint["channel_versions"],
    )


def test_values_jsonb_refuses_go_to_blobs_and_read_back_the_same(
    tmp_path: Path, pg_url: str
) -> None:
    """PostgresSaver keeps plain values in the checkpoint's JSONB; NaN, infinity
    and NUL characters cannot be there, so they become blobs (which it reads)."""
    path = tmp_path / "odd.db"
    values = {"nan": math.nan, "inf": -math.inf, "nul": "a\x00b", "text": "plain", "n": 3}
    with RustSQLiteCheckpointer(path) as saver:
        _put(saver, "odd", values)
    assert migrate(path, pg_url).ok
    with postgres_saver(pg_url) as pg:
        found = pg.get_tuple(thread("odd"))
    assert found is not None
    got = found.checkpoint["channel_values"]
    assert math.isnan(got["nan"]) and got["inf"] == -math.inf
    assert (got["nul"], got["text"], got["n"]) == ("a\x00b", "plain", 3)


def test_pickled_checkpoints_need_the_serializer_that_wrote_them(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    path = tmp_path / "pickled.db"
    serde = JsonPlusSerializer(pickle_fallback=True)
    with RustSQLiteCheckpointer(path, serde=serde) as saver:
        _put(saver, "pickled", {"thing": Opaque("kept"), "messages": [AIMessage("hi")]})
    url = another_database(postgres, "pickled")
    with pytest.raises(MigrationError, match="pickle") as refused:
        migrate(path, url)
    assert refused.value.kind == "cannot_convert"
    assert migrate(path, url, serde=serde).ok
    with postgres_saver(url, serde=serde) as pg:
        found = pg.get_tuple(thread("pickled"))
    assert found is not None
    assert found.checkpoint["channel_values"]["thing"] == Opaque("kept")
    assert found.checkpoint["channel_values"]["messages"][0].content == "hi"


# -- interruptions: kill -9, Ctrl-C, a progress callback --------------------------------


@pytest.fixture(scope="module")
def big_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Some thousands of checkpoints: real conversations of every kind, cloned
    under more thread ids, so that a migration takes a moment."""
    path = tmp_path_factory.mktemp("big") / "big.db"
    with RustSQLiteCheckpointer(path) as saver:
        populate(saver, GraphBuilders)
        chat = GraphBuilders.chat(saver)
        for n in range(10):
            for text in ("hello " * 50, "tell me more " * 50, "thanks " * 50):
                chat.invoke({"messages": [human(text)]}, thread(f"talk-{n}"))
        originals = sorted(_threads(saver))
        for copy in range(1, 40):
            for tid in originals:
                saver.copy_thread(tid, f"{tid}-copy-{copy}")
    return path


def _threads(saver: RustSQLiteCheckpointer) -> set[str]:
    return {t.config["configurable"]["thread_id"] for t in saver.list(None)}


def _source_count(path: Path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM checkpoints").fetchone()[0])
    finally:
        conn.close()


def _start_cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _wait_until(done: Callable[[], bool], process: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + 120
    while not done():
        if process.poll() is not None:
            pytest.fail(f"the migration ended before {what}: {process.communicate()}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_kill_9_at_random_points_then_a_rerun_completes_without_duplicates(
    big_db: Path, postgres: PostgresServer
) -> None:
    total = _source_count(big_db)
    clean = another_database(postgres, "clean")
    assert migrate(big_db, clean, verify=False).ok
    target = another_database(postgres, "killed")
    before = file_bytes(big_db)
    rng = random.Random()
    partial: list[int] = []
    for iteration in range(4):
        process = _start_cli("migrate", str(big_db), target, "--batch-size", "50")
        if iteration == 0:
            # While it starts: reading the source, planning, PostgresSaver.setup().
            time.sleep(rng.uniform(0.0, 0.5))
        else:
            # Somewhere in the middle of the copy, a different point each time.
            threshold = rng.uniform(0.1, 0.9) * total
            _wait_until(lambda t=threshold: pg_count(target) >= t, process, "the kill")
        process.send_signal(signal.SIGKILL)
        process.wait()
        partial.append(pg_count(target))
    assert any(0 < count < total for count in partial), partial

    finished = subprocess.run(
        [*CLI, "migrate", str(big_db), target, "--json"], capture_output=True, text=True
    )

    assert finished.returncode == 0, finished.stderr
    report = json.loads(finished.stdout)
    assert report["ok"] and report["verification"]["ok"]
    assert report["already_there"]["checkpoints"] + report["copied"]["checkpoints"] == total
    assert pg_contents(target) == pg_contents(clean)
    assert file_bytes(big_db) == before


def test_kill_9_of_a_migration_back_to_sqlite_then_a_rerun_completes(
    big_db: Path, postgres: PostgresServer, tmp_path: Path
) -> None:
    url = another_database(postgres, "source")
    assert migrate(big_db, url, verify=False).ok
    clean, killed = tmp_path / "clean.db", tmp_path / "killed.db"
    assert migrate(url, clean, verify=False).ok
    total = _source_count(clean)
    for _ in range(2):
        process = _start_cli("migrate", url, str(killed), "--batch-size", "50")
        threshold = random.uniform(0.1, 0.9) * total
        _wait_until(
            lambda t=threshold: killed.exists() and _count_or_zero(killed) >= t,
            process,
            "the kill",
        )
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert 0 < _count_or_zero(killed) < total
    finished = subprocess.run([*CLI, "migrate", url, str(killed)], capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    assert dump_tables(killed) == dump_tables(clean)


def _count_or_zero(path: Path) -> int:
    try:
        return _source_count(path)
    except sqlite3.Error:
        return 0


def test_ctrl_c_stops_after_the_batch_exits_130_and_a_rerun_finishes(
    big_db: Path, postgres: PostgresServer
) -> None:
    total = _source_count(big_db)
    clean = another_database(postgres, "clean")
    assert migrate(big_db, clean, verify=False).ok
    target = another_database(postgres, "interrupted")
    process = _start_cli("migrate", str(big_db), target, "--batch-size", "50")
    _wait_until(lambda: pg_count(target) > 0, process, "Ctrl-C")
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)

    assert process.returncode == 130, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert "stopping after the current batch" in lines[0]
    assert "interrupted: copied" in lines[-1] and "run the same command again" in lines[-1]
    assert "Traceback" not in err
    stopped_at = pg_count(target)
    assert 0 < stopped_at < total
    assert out == ""

    finished = subprocess.run(
        [*CLI, "migrate", str(big_db), target], capture_output=True, text=True
    )
    assert finished.returncode == 0, finished.stderr
    assert f"; {stopped_at:,} checkpoints and" in finished.stdout  # already there
    assert pg_contents(target) == pg_contents(clean)


def test_a_progress_callback_raising_keyboard_interrupt_stops_the_function(
    big_db: Path, postgres: PostgresServer
) -> None:
    url = another_database(postgres, "stopped")
    calls: list[int] = []

    def stop_after_two(report: MigrationReport) -> None:
        calls.append(report.copied_checkpoints)
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(MigrationInterrupted) as stopped:
        migrate(big_db, url, batch_size=100, progress=stop_after_two)
    report = stopped.value.report
    assert isinstance(stopped.value, KeyboardInterrupt)
    assert report.interrupted and not report.ok
    # What the report counts is what is there: the committed batches, whole.
    assert report.copied_checkpoints == pg_count(url) >= 200
    assert report.copied_checkpoints < report.checkpoints
    again = migrate(big_db, url)
    assert again.ok and again.already_there_checkpoints == report.copied_checkpoints
    assert again.copied_checkpoints + report.copied_checkpoints == report.checkpoints


# -- the command line: --thread, --dry-run, --json, reruns -------------------------------


@pytest.fixture
def source_db(tmp_path: Path, graphs: type[GraphBuilders]) -> Path:
    path = tmp_path / "source.db"
    with RustSQLiteCheckpointer(path) as saver:
        populate(saver, graphs)
    return path


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_rerun_copies_nothing_and_changes_nothing(
    capsys: pytest.CaptureFixture[str], source_db: Path, pg_url: str
) -> None:
    code, out, _ = run_cli(capsys, "migrate", str(source_db), pg_url)
    assert code == 0 and out.startswith("copied ") and "verified" in out
    first = pg_contents(pg_url)
    code, out, err = run_cli(capsys, "migrate", str(source_db), pg_url, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["copied"] == {"checkpoints": 0, "writes": 0, "blobs": 0}
    assert report["already_there"]["checkpoints"] == report["checkpoints"] > 0
    assert report["ok"] is True
    assert pg_contents(pg_url) == first


def test_only_the_threads_asked_for(
    capsys: pytest.CaptureFixture[str], source_db: Path, pg_url: str, graphs: type[GraphBuilders]
) -> None:
    code, out, err = run_cli(
        capsys, "migrate", str(source_db), pg_url, "--thread", "chat", "--thread", "delta", "--json"
    )
    assert code == 0, err
    report = json.loads(out)
    assert [t["thread_id"] for t in report["per_thread"]] == ["chat", "delta"]
    with psycopg.connect(pg_url) as conn:
        threads = {r[0] for r in conn.execute("SELECT DISTINCT thread_id FROM checkpoints")}
    assert threads == {"chat", "delta"}
    with RustSQLiteCheckpointer(source_db, read_only=True) as lite, postgres_saver(pg_url) as pg:
        for name in ("chat", "delta"):
            builder = scenarios(graphs)[name][0]
            ours = [snapshot_view(s, True) for s in builder(lite).get_state_history(thread(name))]
            theirs = [snapshot_view(s, True) for s in builder(pg).get_state_history(thread(name))]
            assert ours == theirs
    # The rest can follow later; the two already there are left alone.
    code, out, err = run_cli(capsys, "migrate", str(source_db), pg_url, "--json")
    assert code == 0, err
    later = json.loads(out)
    assert later["other_target_threads"] == 0
    assert later["already_there"]["checkpoints"] == sum(
        t["checkpoints"] for t in report["per_thread"]
    )


def test_a_dry_run_counts_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], source_db: Path, pg_url: str, tmp_path: Path
) -> None:
    expected = _source_count(source_db)
    before = file_bytes(source_db)
    code, out, err = run_cli(capsys, "migrate", str(source_db), pg_url, "--dry-run", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["dry_run"] is True and report["copied"]["checkpoints"] == 0
    assert report["checkpoints"] == expected > 0
    assert report["threads"] == 5 and report["verification"]["ran"] is False
    assert not pg_has_tables(pg_url)  # not even PostgresSaver's tables
    code, out, _ = run_cli(capsys, "migrate", str(source_db), pg_url, "--dry-run")
    assert code == 0 and out.startswith("dry run: would copy") and "nothing written" in out
    # Back to a file: none is created.
    assert migrate(source_db, pg_url).ok
    back = tmp_path / "never.db"
    code, out, err = run_cli(capsys, "migrate", pg_url, str(back), "--dry-run")
    assert code == 0, err
    assert not back.exists()
    assert file_bytes(source_db) == before


def test_json_report(capsys: pytest.CaptureFixture[str], source_db: Path, pg_url: str) -> None:
    code, out, err = run_cli(capsys, "migrate", str(source_db), pg_url, "--json", "--sample", "5")
    assert code == 0, err
    report = json.loads(out)
    assert report["source"] == str(source_db) and report["target"] == pg_url
    assert report["direction"] == "sqlite-to-postgres"
    assert report["copied"]["checkpoints"] == report["checkpoints"]
    assert report["copied"]["writes"] == report["writes"]
    assert report["copied"]["blobs"] > 0 and report["batches"] >= 1
    assert report["verification"]["ok"] is True and report["verification"]["mismatches"] == []
    assert 5 <= report["verification"]["sampled_checkpoints"] <= 10
    for per in report["per_thread"]:
        assert per["target_checkpoints"] == per["checkpoints"]
        assert per["target_writes"] == per["writes"]
    assert report["summary"].startswith("copied ")
    assert err == ""


def test_a_copy_that_does_not_read_back_the_same_fails_verification(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, pg_url: str, graphs: type[GraphBuilders]
) -> None:
    path = tmp_path / "small.db"
    with RustSQLiteCheckpointer(path) as saver:
        graphs.chat(saver).invoke({"messages": [human("hi")]}, thread("chat"))
    assert migrate(path, pg_url).ok
    with psycopg.connect(pg_url, autocommit=True) as conn:  # someone changes the copy
        conn.execute(
            "UPDATE checkpoint_blobs SET blob = %s WHERE channel = 'messages'",
            (JsonPlusSerializer().dumps_typed([AIMessage("forged")])[1],),
        )
    code, out, err = run_cli(capsys, "migrate", str(path), pg_url, "--sample", "50", "--json")
    assert code == 1
    report = json.loads(out)
    assert report["ok"] is False and report["verification"]["ok"] is False
    assert any("'messages' differs" in m for m in report["verification"]["mismatches"])
    error = json.loads(err.strip())
    assert error["kind"] == "verification_failed" and error["kind"] in ERROR_KINDS


# -- bad input: one line, exit 1, nothing touched ----------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_bad_input_is_one_line_exit_1_and_the_source_untouched(
    capsys: pytest.CaptureFixture[str],
    source_db: Path,
    tmp_path: Path,
    postgres: PostgresServer,
    pg_url: str,
) -> None:
    not_sqlite = tmp_path / "notes.txt"
    not_sqlite.write_text("these are not checkpoints\n" * 100)
    other_app = tmp_path / "other.db"
    conn = sqlite3.connect(other_app)
    conn.execute("CREATE TABLE users (name TEXT)")
    conn.commit()
    conn.close()
    foreign = tmp_path / "foreign.db"  # a table called checkpoints, but not ours
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE checkpoints (id INTEGER PRIMARY KEY, body TEXT)")
    conn.commit()
    conn.close()
    nobody = pg_url.replace("postgres@", "nosuchuser:secret@")
    populated = another_database(postgres, "populated").replace("postgresql:", "postgres:")
    assert migrate(source_db, populated).ok
    cases = [
        (
            [str(source_db), f"postgresql://postgres@127.0.0.1:{_free_port()}/x"],
            "cannot_connect",
            "cannot connect",
        ),
        ([str(source_db), nobody], "cannot_connect", "user name and password"),
        (
            [str(source_db), postgres.url("no_such_database")],
            "cannot_connect",
            "create the database",
        ),
        ([str(not_sqlite), pg_url], "not_a_database", "not a SQLite database"),
        ([str(other_app), pg_url], "not_a_checkpoint_database", "not a checkpoint database"),
        ([str(foreign), pg_url], "not_a_checkpoint_database", "another application's"),
        ([str(tmp_path / "missing.db"), pg_url], "not_found", "no such file"),
        ([str(source_db), pg_url, "--thread", "nobody"], "unknown_thread", "no thread 'nobody'"),
        (
            [str(source_db), str(tmp_path / "copy.db")],
            "bad_argument",
            "one side must be PostgreSQL",
        ),
        ([pg_url, pg_url], "bad_argument", "pg_dump"),
        (
            [pg_url, str(tmp_path / "from-empty.db")],
            "not_a_checkpoint_database",
            "not a PostgresSaver database",
        ),
        ([populated, str(other_app)], "not_a_checkpoint_database", "pass a new file name"),
    ]
    sources = [source_db, not_sqlite, other_app, foreign]
    before = {p: file_bytes(p) for p in sources}
    for argv, kind, words in cases:
        code, out, err = run_cli(capsys, "migrate", *argv)
        lines = err.strip().splitlines()
        assert code == 1 and out == "", (argv, err)
        assert len(lines) == 1 and lines[0].startswith("fast-langgraph: error: "), (argv, err)
        assert words in lines[0], (argv, lines[0])
        assert "secret" not in lines[0]
        code, _, err = run_cli(capsys, "migrate", *argv, "--json")
        assert code == 1 and json.loads(err)["kind"] == kind, (argv, err)
        assert kind in ERROR_KINDS
    assert {p: file_bytes(p) for p in sources} == before
    assert not pg_has_tables(pg_url)
    assert not (tmp_path / "copy.db").exists() and not (tmp_path / "from-empty.db").exists()


def test_a_target_holding_other_rows_of_a_thread_is_refused_and_left_as_it_was(
    capsys: pytest.CaptureFixture[str], source_db: Path, pg_url: str, graphs: type[GraphBuilders]
) -> None:
    with postgres_saver(pg_url) as pg:
        pg.setup()
        # The application already ran on PostgreSQL: same thread id, other history.
        graphs.chat(pg).invoke({"messages": [human("elsewhere")]}, thread("chat"))
        graphs.chat(pg).invoke({"messages": [human("unrelated")]}, thread("someone-else"))
    before = pg_contents(pg_url)
    code, out, err = run_cli(capsys, "migrate", str(source_db), pg_url)
    assert code == 1 and out == ""
    line = err.strip()
    assert "'chat'" in line and "Nothing was written" in line and "--thread" in line
    assert pg_contents(pg_url) == before
    # The threads that are not in its way can go, beside the ones already there.
    threads = ["approval", "delta"]
    report = migrate(source_db, pg_url, threads=threads)
    assert report.ok and report.other_target_threads == 2
    with pytest.raises(MigrationError) as refused:
        migrate(source_db, pg_url)
    assert refused.value.kind == "target_differs"


def test_a_migration_partly_done_by_hand_is_resumed(source_db: Path, pg_url: str) -> None:
    """Rows the target has that the source has too (an earlier run) are fine."""
    assert migrate(source_db, pg_url, threads=["chat"]).ok
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "DELETE FROM checkpoints WHERE thread_id = 'chat' AND checkpoint_id = "
            "(SELECT max(checkpoint_id) FROM checkpoints WHERE thread_id = 'chat')"
        )
    report = migrate(source_db, pg_url)
    assert (
        report.ok
        and report.copied_checkpoints == report.checkpoints - report.already_there_checkpoints
    )


def test_threads_must_be_a_list_not_a_string(source_db: Path, pg_url: str) -> None:
    with pytest.raises(TypeError, match=r"\['chat'\]"):
        migrate(source_db, pg_url, threads="chat")
