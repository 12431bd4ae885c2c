"""The worker side of the PostgreSQL benchmark (see benchmarks/postgres.py).

A worker opens langgraph's `PostgresSaver` on a database URL the parent gives,
with langgraph's serializer (kind "pg", in the baseline worker) or with ours
("pg-serde"; "pg-serde-orjson" also parses JSONB with orjson), and runs the same
operations and graph as the SQLite benchmark, a replay of a SQLite database
through `PostgresSaver.put`/`put_writes`, `fast_langgraph.migrate.migrate`, and
the floor: PostgresSaver's own SQL on ready-made bytes, and the decoding and
encoding it does around it.

Nothing here imports fast_langgraph unless a kind of ours asks for it, so the
baseline worker runs langgraph's code alone.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import Any, Final

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from benchmarks import graph
from benchmarks.calls import time_sync
from benchmarks.contenders import our_serializer
from benchmarks.operations import OperationBench, state_of
from benchmarks.states import metadata

# What LangGraph's runtime writes (langgraph.pregel's LATEST_VERSION). Below 4,
# PostgresSaver runs a second query per read to migrate pending sends.
CHECKPOINT_VERSION: Final = 4
KINDS: Final = ("pg", "pg-lz4", "pg-serde", "pg-serde-orjson", "pg-serde-lz4")
# The columns PostgresSaver keeps serialized values in (TOASTed past ~2 KB).
BLOB_COLUMNS: Final = (("checkpoint_blobs", "blob"), ("checkpoint_writes", "blob"))
SERVER_SETTINGS: Final = ("server_version", "fsync", "synchronous_commit", "full_page_writes")


def connect(url: str) -> Any:
    """A connection as `PostgresSaver.from_conn_string` opens one."""
    import psycopg
    from psycopg.rows import dict_row

    return psycopg.connect(url, autocommit=True, prepare_threshold=0, row_factory=dict_row)


def open_postgres_saver(kind: str, url: str) -> Any:
    """PostgresSaver on a new connection to `url`, set up, for contender `kind`."""
    from langgraph.checkpoint.postgres import PostgresSaver

    if kind not in KINDS:
        raise ValueError(f"unknown PostgreSQL contender kind {kind!r}")
    conn = connect(url)
    serde = our_serializer() if kind.startswith("pg-serde") else None
    if kind == "pg-serde-orjson":
        # psycopg's documented hook: JSON/JSONB columns of this connection are
        # parsed with orjson instead of json.loads (checkpoint and metadata).
        import orjson
        from psycopg.types.json import set_json_loads

        set_json_loads(orjson.loads, conn)
    saver = PostgresSaver(conn, serde=serde)
    saver.setup()
    if kind.endswith("-lz4"):
        # PostgreSQL's documented per-column setting (14 and later): values of
        # these columns are compressed with lz4 instead of pglz, the default.
        for table, column in BLOB_COLUMNS:
            conn.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION lz4")
    return saver


def blob_compression(conn: Any) -> str:
    """How checkpoint_blobs.blob is compressed on this database."""
    row = conn.execute(
        "SELECT attcompression::text AS c FROM pg_attribute "
        "WHERE attrelid = 'checkpoint_blobs'::regclass AND attname = 'blob'"
    ).fetchone()
    setting = conn.execute("SHOW default_toast_compression").fetchone()
    return str({"l": "lz4", "p": "pglz"}.get(row["c"], setting["default_toast_compression"]))


def close_postgres_saver(saver: Any) -> None:
    saver.conn.close()


def describe(kind: str, url: str) -> dict[str, Any]:
    import psycopg

    saver = open_postgres_saver(kind, url)
    try:
        settings = {
            name: saver.conn.execute(f"SHOW {name}").fetchone()[name] for name in SERVER_SETTINGS
        }
        serde = saver.serde
        return {
            "class": f"{type(saver).__module__}.{type(saver).__qualname__}",
            "serde": f"{type(serde).__module__}.{type(serde).__qualname__}",
            "serde_implementation": getattr(serde, "implementation", None),
            "jsonb_loads": "orjson.loads" if kind == "pg-serde-orjson" else "json.loads",
            "blob_compression": blob_compression(saver.conn),
            "psycopg": f"{psycopg.__version__} ({psycopg.pq.__impl__})",
            "server": settings,
        }
    finally:
        close_postgres_saver(saver)


# -- the source databases of the migration benchmark -------------------------------------------


def build_source(path: str, threads: int, per_thread: int, size: str) -> int:
    """A SQLite database in SqliteSaver's format, written by SqliteSaver itself:
    `threads` threads of `per_thread` checkpoints of the `size` state, each with
    a task's 3 writes. Returns the number of checkpoints."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    conn = sqlite3.connect(path, check_same_thread=False)
    try:
        saver = SqliteSaver(conn)
        saver.setup()
        conn.execute("PRAGMA synchronous=OFF")
        state = state_of(size)
        step = 0
        for index in range(threads):
            config: RunnableConfig = {
                "configurable": {"thread_id": f"migrate-{index:04d}", "checkpoint_ns": ""}
            }
            for _ in range(per_thread):
                step += 1
                checkpoint = state.checkpoint(saver.get_next_version, step)
                checkpoint["v"] = CHECKPOINT_VERSION
                config = saver.put(
                    config, checkpoint, metadata(step), dict(checkpoint["channel_versions"])
                )
                saver.put_writes(config, state.task_writes(step), str(uuid.uuid4()))
        return threads * per_thread
    finally:
        conn.close()


def _source_threads(conn: sqlite3.Connection, limit: int | None) -> list[str]:
    rows = conn.execute("SELECT DISTINCT thread_id FROM checkpoints ORDER BY thread_id").fetchall()
    threads = [str(row[0]) for row in rows]
    return threads if limit is None else threads[:limit]


def replay(kind: str, source: str, url: str, threads: int | None = None) -> dict[str, Any]:
    """Copy a SQLite database into PostgreSQL the way one can by hand: read every
    checkpoint with SqliteSaver (with the same serializer as the PostgresSaver),
    oldest first, and `put` it with the channel versions that changed since its
    parent, then `put_writes` its pending writes task by task. Timed whole, from
    opening the saver and its `setup()` on the empty database."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    started = time.perf_counter()  # from an empty database, as migrate starts
    saver = open_postgres_saver(kind, url)
    conn = sqlite3.connect(f"file:{source}?mode=ro", uri=True, check_same_thread=False)
    try:
        reader = SqliteSaver(conn, serde=saver.serde)
        checkpoints = writes = 0
        for thread_id in _source_threads(conn, threads):
            tuples = list(reader.list({"configurable": {"thread_id": thread_id}}))
            versions: dict[tuple[str, str], dict[str, Any]] = {}
            for found in sorted(tuples, key=lambda t: t.config["configurable"]["checkpoint_id"]):
                configurable = found.config["configurable"]
                ns = configurable["checkpoint_ns"]
                parent = (
                    found.parent_config["configurable"]["checkpoint_id"]
                    if found.parent_config
                    else None
                )
                checkpoint = found.checkpoint
                before = versions.get((ns, parent or ""), {})
                changed = {
                    channel: version
                    for channel, version in checkpoint["channel_versions"].items()
                    if before.get(channel) != version
                }
                target: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ns}
                if parent:
                    target["checkpoint_id"] = parent
                stored = saver.put({"configurable": target}, checkpoint, found.metadata, changed)
                versions[(ns, checkpoint["id"])] = checkpoint["channel_versions"]
                by_task: dict[str, list[tuple[str, Any]]] = defaultdict(list)
                for task_id, channel, value in found.pending_writes or ():
                    by_task[task_id].append((channel, value))
                for task_id, task_writes in by_task.items():
                    saver.put_writes(stored, task_writes, task_id)
                    writes += len(task_writes)
                checkpoints += 1
        seconds = time.perf_counter() - started
        return {"seconds": seconds, "checkpoints": checkpoints, "writes": writes}
    finally:
        conn.close()
        close_postgres_saver(saver)


def migrate(source: str, url: str) -> dict[str, Any]:
    """`fast_langgraph.migrate.migrate(source, url)` at its defaults (its
    verification included), timed whole; it must report success."""
    from fast_langgraph.migrate import migrate as run_migration

    started = time.perf_counter()
    report = run_migration(source, url)
    seconds = time.perf_counter() - started
    if not report.ok:
        raise RuntimeError(f"migrate did not succeed: {report.summary()}")
    conn = connect(url)
    try:
        checkpoints = conn.execute("SELECT count(*) AS n FROM checkpoints").fetchone()["n"]
        writes = conn.execute("SELECT count(*) AS n FROM checkpoint_writes").fetchone()["n"]
    finally:
        conn.close()
    return {
        "seconds": seconds,
        "checkpoints": checkpoints,
        "writes": writes,
        "summary": report.summary(),
    }


# -- the floor: where a PostgresSaver call's time goes -------------------------------------------

FLOOR_OPERATIONS: Final = (
    "select_row",
    "load_row_langgraph",
    "load_row_ours",
    "jsonb_json_loads",
    "jsonb_orjson_loads",
    "put_sql",
    "dump_blobs_langgraph",
    "dump_blobs_ours",
)
# The latest checkpoint of a thread, as PostgresSaver.get_tuple asks for it.
_LATEST: Final = "WHERE thread_id = %s AND checkpoint_ns = %s ORDER BY checkpoint_id DESC LIMIT 1"


class PostgresFloor:
    """PostgresSaver's own statements on bytes serialized beforehand, and the
    decoding and encoding around them, on one database (our serializer, in the
    worker that has the native codec; langgraph's, in the same process)."""

    def __init__(self, url: str, loop: asyncio.AbstractEventLoop, list_thread_length: int):
        from langgraph.checkpoint.postgres import PostgresSaver

        self.saver = open_postgres_saver("pg-serde", url)
        self.langgraph = PostgresSaver(self.saver.conn, serde=JsonPlusSerializer())
        self.bench = OperationBench(
            self.saver, loop, False, list_thread_length, checkpoint_version=CHECKPOINT_VERSION
        )
        self.prepared: set[str] = set()
        self.counter = 0

    def _row(self, size: str) -> dict[str, Any]:
        if size not in self.prepared:
            self.bench.prepare(size)
            self.saver.conn.execute("ANALYZE")
            self.prepared.add(size)
        with self.saver._cursor() as cur:
            cur.execute(self.saver.SELECT_SQL + _LATEST, (f"list-{size}", ""))
            row: dict[str, Any] = cur.fetchone()
        return row

    def _blob_values(self, size: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The channel values PostgresSaver.put keeps in blobs, and their versions."""
        checkpoint = state_of(size).checkpoint(self.saver.get_next_version, 0)
        values = {
            channel: value
            for channel, value in checkpoint["channel_values"].items()
            if not (value is None or isinstance(value, (str, int, float, bool)))
        }
        return values, {channel: checkpoint["channel_versions"][channel] for channel in values}

    def run(self, op: str, size: str, reps: int) -> list[int]:
        saver = self.saver
        if op == "select_row":
            self._row(size)

            def select() -> None:
                with saver._cursor() as cur:
                    cur.execute(saver.SELECT_SQL + _LATEST, (f"list-{size}", ""))
                    cur.fetchone()

            return time_sync([select] * reps)
        if op in ("load_row_langgraph", "load_row_ours"):
            row = self._row(size)
            loader = self.langgraph if op == "load_row_langgraph" else saver
            return time_sync([lambda: loader._load_checkpoint_tuple(row)] * reps)
        if op in ("jsonb_json_loads", "jsonb_orjson_loads"):
            self._row(size)
            texts = saver.conn.execute(
                "SELECT checkpoint::text AS c, metadata::text AS m FROM checkpoints "
                + _LATEST.replace("%s", "'list-" + size + "'", 1).replace("%s", "''", 1)
            ).fetchone()
            loads: Callable[[str], Any]
            if op == "jsonb_json_loads":
                loads = json.loads
            else:
                import orjson

                loads = orjson.loads
            checkpoint_text, metadata_text = texts["c"], texts["m"]
            return time_sync([lambda: (loads(checkpoint_text), loads(metadata_text))] * reps)
        if op in ("dump_blobs_langgraph", "dump_blobs_ours"):
            values, versions = self._blob_values(size)
            dumper = self.langgraph if op == "dump_blobs_langgraph" else saver
            return time_sync([lambda: dumper._dump_blobs("floor", "", values, versions)] * reps)
        if op == "put_sql":
            return time_sync([self._put_sql(size) for _ in range(reps)])
        raise ValueError(f"unknown PostgreSQL floor operation {op!r}")

    def _put_sql(self, size: str) -> Any:
        """PostgresSaver.put's statements (blobs, then the checkpoint row) in its
        pipeline, with every value serialized beforehand."""
        from psycopg.types.json import Jsonb

        saver = self.saver
        values, versions = self._blob_values(size)
        self.counter += 1
        thread_id = f"floor-{size}"
        blobs = saver._dump_blobs(thread_id, "", values, versions)
        checkpoint = state_of(size).checkpoint(saver.get_next_version, self.counter)
        checkpoint["v"] = CHECKPOINT_VERSION
        inline = dict(checkpoint)
        inline["channel_values"] = {
            channel: value
            for channel, value in checkpoint["channel_values"].items()
            if channel not in values
        }
        row = (
            thread_id,
            "",
            checkpoint["id"],
            None,
            Jsonb(inline),
            Jsonb({**metadata(self.counter), "thread_id": thread_id}),
        )

        def put_sql() -> None:
            with saver._cursor(pipeline=True) as cur:
                cur.executemany(saver.UPSERT_CHECKPOINT_BLOBS_SQL, blobs)
                cur.execute(saver.UPSERT_CHECKPOINTS_SQL, row)

        return put_sql

    def close(self) -> None:
        close_postgres_saver(self.saver)


class PostgresPart:
    """The PostgreSQL requests of one worker process (`benchmarks.worker`)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.benches: dict[tuple[str, str], OperationBench] = {}
        self.prepared: set[tuple[str, str, str]] = set()
        self.floors: dict[str, PostgresFloor] = {}

    def handle(self, action: str, **arguments: Any) -> Any:
        handlers: dict[str, Callable[..., Any]] = {
            "describe": describe,
            "operation": self.operation,
            "floor": self.floor,
            "e2e": self.e2e,
            "build_source": build_source,
            "replay": replay,
            "migrate": migrate,
            "release": self.release,
        }
        return handlers[action](**arguments)

    def operation(
        self, kind: str, url: str, op: str, size: str, reps: int, list_thread_length: int
    ) -> list[int]:
        bench = self.benches.get((kind, url))
        if bench is None:
            saver = open_postgres_saver(kind, url)
            bench = OperationBench(
                saver, self.loop, False, list_thread_length, checkpoint_version=CHECKPOINT_VERSION
            )
            self.benches[(kind, url)] = bench
        if (kind, url, size) not in self.prepared:
            # The thread the reads run against, then fresh planner statistics, as
            # autovacuum keeps them on a live database (without, PostgreSQL plans
            # PostgresSaver's read for empty tables and takes twice as long).
            bench.prepare(size)
            bench.saver.conn.execute("ANALYZE")  # type: ignore[attr-defined]
            self.prepared.add((kind, url, size))
        return bench.run(op, size, reps)

    def floor(self, url: str, op: str, size: str, reps: int, list_thread_length: int) -> list[int]:
        floor = self.floors.get(url)
        if floor is None:
            floor = PostgresFloor(url, self.loop, list_thread_length)
            self.floors[url] = floor
        return floor.run(op, size, reps)

    def e2e(self, kind: str | None, url: str | None, workload: str, invokes: int) -> float:
        saver = open_postgres_saver(kind, url) if kind is not None and url is not None else None
        try:
            return graph.run(saver, workload, invokes, self.loop, False)
        finally:
            if saver is not None:
                close_postgres_saver(saver)

    def release(self) -> None:
        """Close every connection (before the parent drops the databases)."""
        for bench in self.benches.values():
            close_postgres_saver(bench.saver)
        for floor in self.floors.values():
            floor.close()
        self.benches.clear()
        self.floors.clear()
        self.prepared.clear()
