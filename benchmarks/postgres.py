"""PostgreSQL: langgraph's `PostgresSaver`, alone and given our serializer.

    python -m benchmarks.postgres            # this section only; updates its part of
                                             # docs/benchmarks.md, leaves the rest as is
    python -m benchmarks.postgres --smoke    # seconds; prints the section
    python -m benchmarks                     # the whole benchmark, this section included

The parent starts real PostgreSQL servers (tests/pg_server.py), one database per
contender, and interleaves the contenders round-robin as the SQLite benchmark
does: `PostgresSaver` (langgraph's serializer) in the baseline worker,
`PostgresSaver(serde=fast_langgraph.serde.JsonPlusSerializer())` in the rust
worker, also with orjson parsing JSONB. Same states, operations and graph as
the SQLite benchmark; checkpoints carry `"v": 4`, as LangGraph's runtime writes
them. Then the migration: `fast_langgraph.migrate.migrate` against replaying the
same SQLite database through `PostgresSaver.put`/`put_writes`, and the
200,000-checkpoint database of the scale benchmark migrated whole.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shlex
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from itertools import count
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final

from benchmarks import scale
from benchmarks.contenders import BASELINE_WORKER, RUST_WORKER
from benchmarks.graph import WORKLOADS
from benchmarks.operations import OPERATIONS
from benchmarks.postgres_worker import FLOOR_OPERATIONS
from benchmarks.report import KEY_OPERATIONS, SHORT_TITLES
from benchmarks.sections import replace_section
from benchmarks.stats import milliseconds, summarize

if TYPE_CHECKING:
    from benchmarks.runner import Run

SECTION_TITLE: Final = "## PostgreSQL"
REFERENCE: Final = "PostgresSaver"
OURS: Final = "PostgresSaver + our serializer"
OURS_ORJSON: Final = "PostgresSaver + our serializer + orjson JSONB"
REFERENCE_LZ4: Final = "PostgresSaver + lz4 blobs"
OURS_LZ4: Final = "PostgresSaver + our serializer + lz4 blobs"
LZ4_WHAT: Final = (
    "and `ALTER TABLE checkpoint_blobs ALTER COLUMN blob SET COMPRESSION lz4` (the same "
    "for checkpoint_writes) after `setup()`: the server compresses blobs past ~2 KB with "
    "lz4 instead of pglz"
)
TARGET_SIZE: Final = "35KB"
# (name, kind, worker, what it is)
CONTENDERS: Final = (
    (REFERENCE, "pg", BASELINE_WORKER, "langgraph `PostgresSaver(conn)`, its own serializer"),
    (
        OURS,
        "pg-serde",
        RUST_WORKER,
        "`PostgresSaver(conn, serde=fast_langgraph.serde.JsonPlusSerializer())`",
    ),
    (
        OURS_ORJSON,
        "pg-serde-orjson",
        RUST_WORKER,
        "the same, and `psycopg.types.json.set_json_loads(orjson.loads, conn)`: "
        "JSONB (checkpoint, metadata) parsed by orjson",
    ),
    (REFERENCE_LZ4, "pg-lz4", BASELINE_WORKER, f"langgraph `PostgresSaver(conn)`, {LZ4_WHAT}"),
    (OURS_LZ4, "pg-serde-lz4", RUST_WORKER, f"our serializer, {LZ4_WHAT}"),
)
# The servers: PostgreSQL's defaults (a WAL flush per commit, as SqliteSaver's
# synchronous=FULL), and the test server's settings (nothing flushed).
SERVERS: Final = {
    "durable": (
        True,
        "PostgreSQL's defaults: fsync=on, synchronous_commit=on, full_page_writes=on "
        "(the WAL is flushed at every commit, like SqliteSaver's synchronous=FULL)",
    ),
    "fsync off": (
        False,
        "fsync=off, synchronous_commit=off, full_page_writes=off (the test suite's "
        "server; nothing is flushed, so only CPU and round trips remain)",
    ),
}
MIGRATION_METHODS: Final = (
    # (label, worker, action, kind)
    ("replay: SqliteSaver → PostgresSaver, put and put_writes", BASELINE_WORKER, "replay", "pg"),
    ("replay with our serializer on both sides", RUST_WORKER, "replay", "pg-serde"),
    ("fast_langgraph.migrate.migrate", RUST_WORKER, "migrate", None),
)
REPLAY: Final = MIGRATION_METHODS[0][0]
MIGRATE: Final = MIGRATION_METHODS[2][0]
FLOOR_TITLES: Final = {
    "select_row": "PostgresSaver.get_tuple's SELECT, executed and fetched (server + psycopg)",
    "load_row_langgraph": "building the CheckpointTuple from that row, langgraph's serializer",
    "load_row_ours": "building the CheckpointTuple from that row, our serializer",
    "jsonb_json_loads": "json.loads of the row's checkpoint and metadata JSON",
    "jsonb_orjson_loads": "orjson.loads of the same",
    "put_sql": "PostgresSaver.put's statements in its pipeline, values serialized beforehand",
    "dump_blobs_langgraph": "serializing put's blobs, langgraph's serializer",
    "dump_blobs_ours": "serializing put's blobs, our serializer",
}
OPERATION_TITLES: Final = {
    "put": "put (one checkpoint)",
    "put_writes": "put_writes (a task's 3 writes)",
    "get_tuple_latest": "get_tuple (latest)",
    "get_tuple_by_id": "get_tuple (by checkpoint id)",
    "list_all": "list (all 100 checkpoints of a thread)",
    "list_limit_10": "list (limit=10)",
}


@dataclass(frozen=True)
class Plan:
    name: str
    servers: tuple[str, ...]
    sizes: tuple[str, ...]
    rounds: int
    reps: dict[str, int]
    list_thread_length: int
    list_all_sizes: tuple[str, ...]
    e2e_invokes: int
    e2e_rounds: int
    migration_size: str
    migration_threads: int
    migration_per_thread: int
    migration_rounds: int
    scale_threads: int  # the scale benchmark's database, migrated whole
    scale_per_thread: int
    scale_cached: bool
    scale_replay_threads: int  # replayed for the rate to compare with


FULL: Final = Plan(
    name="full",
    servers=("durable", "fsync off"),
    sizes=("4KB", "35KB", "235KB", "2MB"),
    rounds=5,
    reps={"4KB": 20, "35KB": 10, "235KB": 3, "2MB": 1},
    list_thread_length=100,
    list_all_sizes=("4KB", "35KB", "235KB"),
    e2e_invokes=200,
    e2e_rounds=2,
    migration_size="35KB",
    migration_threads=50,
    migration_per_thread=10,
    migration_rounds=3,
    scale_threads=2_000,
    scale_per_thread=100,
    scale_cached=True,
    scale_replay_threads=20,
)

SMOKE: Final = Plan(
    name="smoke",
    servers=("durable",),
    sizes=("4KB",),
    rounds=1,
    reps={"4KB": 2},
    list_thread_length=5,
    list_all_sizes=("4KB",),
    e2e_invokes=3,
    e2e_rounds=1,
    migration_size="4KB",
    migration_threads=2,
    migration_per_thread=3,
    migration_rounds=1,
    scale_threads=10,
    scale_per_thread=5,
    scale_cached=False,
    scale_replay_threads=2,
)


def _log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] postgres: {message}", file=sys.stderr, flush=True)


def load_pg_server(repo_root: str) -> ModuleType:
    """tests/pg_server.py, the one starter of throwaway servers (tests and
    benchmarks alike), imported by path."""
    existing = sys.modules.get("pg_server")
    if existing is not None:
        return existing
    path = os.path.join(repo_root, "tests", "pg_server.py")
    spec = importlib.util.spec_from_file_location("pg_server", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["pg_server"] = module
    spec.loader.exec_module(module)
    return module


def migrate_available() -> str | None:
    """None when fast_langgraph.migrate can be benchmarked, else why not."""
    try:
        found = importlib.util.find_spec("fast_langgraph.migrate")
    except ImportError as exc:
        return str(exc)
    return None if found is not None else "fast_langgraph.migrate is not there yet"


def _name(base: str, server: str) -> str:
    return base if server == "durable" else f"{base} ({server})"


class Phase:
    """One PostgreSQL phase: servers, databases and the interleaved measurements."""

    def __init__(self, run: Run, plan: Plan) -> None:
        self.run = run
        self.plan = plan
        self.workers = run.workers
        self.servers: dict[str, Any] = {}
        self.names = count()
        self.results: dict[str, Any] = {
            "plan": asdict(plan),
            "servers": {},
            "contenders": [],
            "savers": {},
            "operations": {},
            "floor": {},
            "e2e": {"invokes": plan.e2e_invokes, "workloads": {}},
            "migration": {},
            "scale_migration": {},
            "notes": [],
        }
        self.contenders: list[dict[str, Any]] = []

    def database(self, server: str, label: str) -> str:
        return str(self.servers[server].create_database(f"{label}_{next(self.names)}"))

    def drop(self, server: str, url: str) -> None:
        self.servers[server].drop_database(url.rsplit("/", 1)[1])

    def request(self, worker: str, action: str, **arguments: Any) -> Any:
        return self.workers[worker].request("postgres", what=action, **arguments)

    def start(self) -> None:
        pg_server = load_pg_server(self.run_root())
        for server in self.plan.servers:
            durable, description = SERVERS[server]
            self.servers[server] = pg_server.PostgresServer(durable=durable).start()
            self.results["servers"][server] = {"durable": durable, "description": description}
            _log(f"server {server!r} on port {self.servers[server].port}")
        for server in self.plan.servers:
            for name, kind, worker, what in CONTENDERS:
                if worker not in self.workers:
                    continue
                self.contenders.append(
                    {
                        "name": _name(name, server),
                        "base": name,
                        "kind": kind,
                        "worker": worker,
                        "server": server,
                        "what": what,
                        "url": self.database(server, kind.replace("-", "_")),
                    }
                )
        self.results["contenders"] = [
            {k: v for k, v in c.items() if k != "url"} for c in self.contenders
        ]
        for contender in self.contenders:
            try:
                found = self.request(
                    contender["worker"], "describe", kind=contender["kind"], url=contender["url"]
                )
            except Exception as exc:
                self.run.error(f"postgres describe {contender['name']}", exc)
                continue
            self.results["savers"][contender["name"]] = found
            self.results["servers"][contender["server"]]["settings"] = found["server"]

    def run_root(self) -> str:
        from benchmarks.runner import REPO_ROOT

        return REPO_ROOT

    def stop(self) -> None:
        for worker in (BASELINE_WORKER, RUST_WORKER):
            if worker in self.workers:
                try:
                    self.request(worker, "release")
                except Exception as exc:
                    self.run.error(f"postgres release {worker}", exc)
        for server in self.servers.values():
            server.stop()

    # -- measurements ---------------------------------------------------------------

    def operations(self) -> None:
        plan = self.plan
        table: dict[str, Any] = defaultdict(lambda: defaultdict(dict))
        broken: set[str] = set()
        for size in plan.sizes:
            for op in OPERATIONS:
                if op == "list_all" and size not in plan.list_all_sizes:
                    continue
                reps = plan.reps[size]
                if op == "list_limit_10":
                    reps = max(1, reps // 5)
                elif op == "list_all":
                    reps = 1
                _log(f"{op} at {size} ({plan.rounds} rounds x {reps})")
                samples: dict[str, list[int]] = defaultdict(list)
                for _ in range(plan.rounds):
                    for contender in self.contenders:
                        if contender["name"] in broken:
                            continue
                        try:
                            samples[contender["name"]] += self.request(
                                contender["worker"],
                                "operation",
                                kind=contender["kind"],
                                url=contender["url"],
                                op=op,
                                size=size,
                                reps=reps,
                                list_thread_length=plan.list_thread_length,
                            )
                        except Exception as exc:
                            broken.add(contender["name"])
                            self.run.error(f"postgres {contender['name']} {op} {size}", exc)
                for name, values in samples.items():
                    if name not in broken:
                        table[op][size][name] = summarize(milliseconds(values))
        self.results["operations"] = json.loads(json.dumps(table))

    def floor(self) -> None:
        if RUST_WORKER not in self.workers:
            return
        plan = self.plan
        table: dict[str, Any] = defaultdict(lambda: defaultdict(dict))
        for server in plan.servers:
            url = self.database(server, "floor")
            for size in plan.sizes:
                _log(f"floor at {size} on the {server} server")
                samples: dict[str, list[int]] = defaultdict(list)
                for _ in range(plan.rounds):
                    for op in FLOOR_OPERATIONS:
                        try:
                            samples[op] += self.request(
                                RUST_WORKER,
                                "floor",
                                url=url,
                                op=op,
                                size=size,
                                reps=plan.reps[size],
                                list_thread_length=plan.list_thread_length,
                            )
                        except Exception as exc:
                            self.run.error(f"postgres floor {op} {size} {server}", exc)
                for op, values in samples.items():
                    if values:
                        table[server][op][size] = summarize(milliseconds(values))
        self.results["floor"] = json.loads(json.dumps(table))

    def end_to_end(self) -> None:
        plan = self.plan
        table: dict[str, Any] = {}
        workers = [w for w in (BASELINE_WORKER, RUST_WORKER) if w in self.workers]
        for workload in WORKLOADS:
            per_invoke: dict[str, list[float]] = defaultdict(list)
            overhead: dict[str, list[float]] = defaultdict(list)
            for round_index in range(plan.e2e_rounds):
                bare: dict[str, float] = {}
                for worker in workers:
                    seconds = self.request(
                        worker,
                        "e2e",
                        kind=None,
                        url=None,
                        workload=workload,
                        invokes=plan.e2e_invokes,
                    )
                    bare[worker] = seconds / plan.e2e_invokes
                per_invoke["checkpointer=None"].append(bare[BASELINE_WORKER] * 1e3)
                for contender in self.contenders:
                    _log(f"e2e {workload} round {round_index + 1}: {contender['name']}")
                    url = self.database(contender["server"], "e2e")
                    try:
                        seconds = self.request(
                            contender["worker"],
                            "e2e",
                            kind=contender["kind"],
                            url=url,
                            workload=workload,
                            invokes=plan.e2e_invokes,
                        )
                    except Exception as exc:
                        self.run.error(f"postgres e2e {workload} {contender['name']}", exc)
                        continue
                    finally:
                        self.drop(contender["server"], url)
                    invoke = seconds / plan.e2e_invokes
                    per_invoke[contender["name"]].append(invoke * 1e3)
                    overhead[contender["name"]].append((invoke - bare[contender["worker"]]) * 1e3)
            table[workload] = {
                label: {
                    "per_invoke_ms": summarize(values),
                    "overhead_ms": summarize(overhead[label]) if label in overhead else None,
                }
                for label, values in per_invoke.items()
            }
        self.results["e2e"]["workloads"] = table

    def _methods(self) -> list[tuple[str, str, str, str | None]]:
        missing = migrate_available()
        note = f"fast_langgraph.migrate not measured: {missing}"
        if missing is not None and note not in self.results["notes"]:
            self.results["notes"].append(note)
        return [
            method
            for method in MIGRATION_METHODS
            if method[1] in self.workers and (method[2] != "migrate" or missing is None)
        ]

    def _migrate_once(
        self, server: str, method: tuple[str, str, str, str | None], source: str, **extra: Any
    ) -> dict[str, Any] | None:
        label, worker, action, kind = method
        url = self.database(server, "migration")
        copy = source + f".{next(self.names)}.copy"
        try:
            # migrate gets a private copy each time: our engine may upgrade a file it opens.
            scale.copy(source, copy)
            arguments: dict[str, Any] = {"source": copy, "url": url, **extra}
            if kind is not None:
                arguments["kind"] = kind
            outcome: dict[str, Any] = self.request(worker, action, **arguments)
            return outcome
        except Exception as exc:
            self.run.error(f"postgres migration {label} on {server}", exc)
            return None
        finally:
            self.drop(server, url)
            for leftover in (copy, copy + "-wal", copy + "-shm"):
                if os.path.exists(leftover):
                    os.remove(leftover)

    def migration(self) -> None:
        plan = self.plan
        methods = self._methods()
        source = os.path.join(self.run.workdir, f"pg-migration-{plan.migration_size}.db")
        checkpoints = self.request(
            BASELINE_WORKER,
            "build_source",
            path=source,
            threads=plan.migration_threads,
            per_thread=plan.migration_per_thread,
            size=plan.migration_size,
        )
        table: dict[str, Any] = {}
        for server in plan.servers:
            seconds: dict[str, list[float]] = defaultdict(list)
            counts: dict[str, dict[str, int]] = {}
            for round_index in range(plan.migration_rounds):
                for method in methods:
                    _log(f"migration round {round_index + 1} on {server}: {method[0]}")
                    outcome = self._migrate_once(server, method, source)
                    if outcome is not None:
                        seconds[method[0]].append(outcome["seconds"])
                        counts[method[0]] = {
                            "checkpoints": outcome["checkpoints"],
                            "writes": outcome["writes"],
                        }
            table[server] = {
                label: {"seconds": summarize(values), **counts[label]}
                for label, values in seconds.items()
            }
        self.results["migration"] = {
            "source": {
                "size": plan.migration_size,
                "threads": plan.migration_threads,
                "per_thread": plan.migration_per_thread,
                "checkpoints": checkpoints,
                "bytes": scale.file_bytes(source),
            },
            "servers": table,
        }

    def scale_migration(self) -> None:
        """The scale benchmark's database migrated whole (once); a replay of its
        first threads for the rate to compare with."""
        from benchmarks.runner import CACHE_DIR

        plan = self.plan
        server = plan.servers[0]
        directory = CACHE_DIR if plan.scale_cached else self.run.workdir
        source = os.path.join(directory, f"scale-{plan.scale_threads}x{plan.scale_per_thread}.db")
        if scale.ensure(source, plan.scale_threads, plan.scale_per_thread):
            _log(f"built {source}")
        methods = {label: method for method in self._methods() for label in (method[0],)}
        found: dict[str, Any] = {
            "server": server,
            "checkpoints": plan.scale_threads * plan.scale_per_thread,
            "threads": plan.scale_threads,
            "bytes": scale.file_bytes(source),
        }
        if MIGRATE in methods:
            _log(f"migrating the {plan.scale_threads * plan.scale_per_thread} checkpoints")
            found["migrate"] = self._migrate_once(server, methods[MIGRATE], source)
        _log(f"replaying {plan.scale_replay_threads} threads of it")
        found["replay_threads"] = plan.scale_replay_threads
        found["replay"] = self._migrate_once(
            server, methods[REPLAY], source, threads=plan.scale_replay_threads
        )
        self.results["scale_migration"] = found


def run_phase(run: Run, plan_name: str) -> dict[str, Any]:
    """The PostgreSQL phase of `run` (its baseline and rust workers); its results."""
    plan = SMOKE if plan_name == "smoke" else FULL
    if BASELINE_WORKER not in run.workers:
        return {"skipped": "no baseline worker"}
    try:
        load_pg_server(run_root()).server_bin_dir()
    except Exception as exc:
        _log(f"skipped: {exc}")
        return {"skipped": str(exc)}
    phase = Phase(run, plan)
    phase.results["load_average"] = {"start": list(os.getloadavg())}
    started = time.perf_counter()
    try:
        phase.start()
        for step in (
            phase.operations,
            phase.floor,
            phase.end_to_end,
            phase.migration,
            phase.scale_migration,
        ):
            step_started = time.perf_counter()
            step()
            _log(f"{step.__name__} done in {time.perf_counter() - step_started:.0f} s")
    finally:
        phase.stop()
    phase.results["seconds"] = round(time.perf_counter() - started, 1)
    phase.results["load_average"]["end"] = list(os.getloadavg())
    return phase.results


def run_root() -> str:
    from benchmarks.runner import REPO_ROOT

    return REPO_ROOT


# -- the report section ----------------------------------------------------------------


def _number(value: float) -> str:
    from benchmarks.report import number

    return number(value)


def _cell(summary: dict[str, Any] | None, reference: dict[str, Any] | None) -> str:
    from benchmarks.report import ratio_of, times

    if not summary:
        return "-"
    return f"{_number(summary['median'])} · {times(ratio_of(reference, summary))}"


def _spread_cell(summary: dict[str, Any] | None, reference: dict[str, Any] | None) -> str:
    from benchmarks.report import ratio_of, spread, times

    if not summary:
        return "-"
    return f"{spread(summary)} · {times(ratio_of(reference, summary))}"


def _verdict(found: float | None, goal: float) -> str:
    if found is None:
        return "-"
    return "met" if found >= goal else "NOT met"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    from benchmarks.report import table

    return table(header, rows)


class Section:
    def __init__(self, results: dict[str, Any]) -> None:
        self.results = results
        self.pg = results["postgres"]
        self.contenders = self.pg["contenders"]
        self.plan = self.pg["plan"]

    def servers(self) -> list[str]:
        return list(self.plan["servers"])

    def on(self, server: str) -> list[dict[str, Any]]:
        return [c for c in self.contenders if c["server"] == server]

    def op(self, op: str, size: str, name: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.pg["operations"].get(op, {}).get(size, {}).get(name)
        return found

    def e2e(self, workload: str, name: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = (
            self.pg["e2e"]["workloads"].get(workload, {}).get(name, {}).get("overhead_ms")
        )
        return found

    def target_size(self) -> str:
        sizes = self.plan["sizes"]
        return TARGET_SIZE if TARGET_SIZE in sizes else sizes[0]

    def ratio(
        self, op: str, size: str, server: str, base: str = OURS, reference: str = REFERENCE
    ) -> float | None:
        from benchmarks.report import ratio_of

        return ratio_of(
            self.op(op, size, _name(reference, server)), self.op(op, size, _name(base, server))
        )

    def header(self) -> list[str]:
        meta = self.results.get("meta", {})
        lines = [
            SECTION_TITLE,
            "",
            "langgraph's `PostgresSaver` as it comes, against the same saver given our",
            "serializer (`serde=fast_langgraph.serde.JsonPlusSerializer()`), on real",
            "PostgreSQL servers started by the benchmark on this machine (tests/pg_server.py;",
            "client and server share its cores, over TCP on 127.0.0.1). Every contender has a",
            "database of its own, runs the same states, operations and graph as the SQLite",
            "benchmark above, in the same round-robin, and reports medians in milliseconds;",
            "ratios say how many times faster than `PostgresSaver` on the same server (above",
            '1: faster). The checkpoints carry `"v": 4`, as LangGraph\'s runtime writes them',
            "(below 4, PostgresSaver spends a second query on every read). After a thread for",
            "the reads is written, each database is `ANALYZE`d, as autovacuum keeps a live",
            "one; without statistics PostgreSQL plans get_tuple's query for empty tables and",
            "takes about twice as long.",
            "",
        ]
        if meta:
            lines.append(
                f"- Date: {meta.get('date')}; plan `{self.plan['name']}`, "
                f"this section's run time {self.pg.get('seconds', 0):.0f} s"
            )
            lines.append(f"- Command: `{meta.get('command')}`")
        load = self.pg.get("load_average")
        if load:
            shown = "; ".join(
                f"{when} {', '.join(f'{v:.1f}' for v in values)}" for when, values in load.items()
            )
            lines.append(
                f"- Load average (1, 5, 15 min) of the machine: {shown} "
                "(other work on the machine shows up as spread)"
            )
        for server in self.servers():
            info = self.pg["servers"].get(server, {})
            settings = info.get("settings", {})
            shown = ", ".join(f"{k}={v}" for k, v in settings.items() if k != "server_version")
            version = settings.get("server_version", "?")
            lines.append(
                f"- Server `{server}`: PostgreSQL {version}, {info.get('description', '')}; "
                f"measured: {shown}"
            )
        saver: dict[str, Any] = next(iter(self.pg["savers"].values()), {})
        if saver:
            lines.append(f"- psycopg {saver.get('psycopg')}")
        lines += ["", "The contenders (on each server):", ""]
        seen: set[str] = set()
        rows = []
        for contender in self.contenders:
            if contender["base"] in seen:
                continue
            seen.add(contender["base"])
            details = self.pg["savers"].get(contender["name"], {})
            codec = details.get("serde_implementation")
            rows.append(
                [
                    f"`{contender['base']}`",
                    contender["what"],
                    f"{contender['worker']} worker"
                    + (f"; codec {codec}" if codec else "")
                    + f"; JSONB by {details.get('jsonb_loads', '?')}"
                    + f"; blobs compressed with {details.get('blob_compression', '?')}",
                ]
            )
        lines += _table(["contender", "what it is", "runs in"], rows)
        for note in self.pg.get("notes", []):
            lines += [f"- Note: {note}"]
        if self.pg.get("notes"):
            lines.append("")
        return lines

    def lead(self) -> list[str]:
        size = self.target_size()
        lines = [
            f"### At a glance ({size} state)",
            "",
            "Median milliseconds · how many times faster than `PostgresSaver` on the same",
            "server. End to end: LangGraph overhead per invoke of the 3-node graph (time",
            "with the saver minus time with `checkpointer=None`), and how many times less",
            "than PostgresSaver's.",
            "",
        ]
        header = ["contender", "server"] + [SHORT_TITLES[op] for op in KEY_OPERATIONS]
        header += ["e2e overhead, growing", "e2e overhead, threads"]
        rows = []
        for contender in self.contenders:
            reference = _name(REFERENCE, contender["server"])
            cells = [
                _cell(self.op(op, size, contender["name"]), self.op(op, size, reference))
                for op in KEY_OPERATIONS
            ]
            cells += [
                _cell(self.e2e(w, contender["name"]), self.e2e(w, reference)) for w in WORKLOADS
            ]
            rows.append([f"`{contender['base']}`", contender["server"], *cells])
        lines += _table(header, rows)
        return lines

    def targets(self) -> list[str]:
        size = self.target_size()
        lines = [
            "### Targets",
            "",
            "Our serializer in PostgresSaver against PostgresSaver as it comes; the lz4 rows",
            "also against PostgresSaver with the same lz4 setting (the serializer's own share).",
            "",
        ]
        rows = []
        pairs = (
            (OURS, REFERENCE),
            (OURS_ORJSON, REFERENCE),
            (OURS_LZ4, REFERENCE),
            (OURS_LZ4, REFERENCE_LZ4),
        )
        for server in self.servers():
            for op, goal in (("get_tuple_latest", 3.0), ("put", 1.5)):
                for mine, theirs in pairs:
                    found = self.ratio(op, size, server, mine, theirs)
                    rows.append(
                        [
                            f"{SHORT_TITLES[op]} at {size}, {server} server: `{mine}` ÷ `{theirs}`",
                            f"at least {goal:g}x",
                            "-" if found is None else f"{found:.2f}x",
                            _verdict(found, goal),
                        ]
                    )
        migration = self.migration_ratio()
        rows.append(
            [
                f"migration of the {self.pg.get('migration', {}).get('source', {}).get('size', '')} "
                f"database, {self.servers()[0] if self.servers() else ''} server: "
                "`fast_langgraph.migrate` against the replay through PostgresSaver",
                "at least 10x",
                "-" if migration is None else f"{migration:.1f}x",
                _verdict(migration, 10),
            ]
        )
        scale_ratio = self.scale_ratio()
        rows.append(
            [
                "migration of the 200,000-checkpoint scale database: checkpoints/s of "
                "`fast_langgraph.migrate` against the replay's",
                "at least 10x",
                "-" if scale_ratio is None else f"{scale_ratio:.1f}x",
                _verdict(scale_ratio, 10),
            ]
        )
        lines += _table(["target", "goal", "measured", ""], rows)
        return lines

    def scale_ratio(self) -> float | None:
        found = self.pg.get("scale_migration", {})
        migrate, replay = found.get("migrate"), found.get("replay")
        if not migrate or not replay or not migrate["seconds"] or not replay["checkpoints"]:
            return None
        return float(
            (migrate["checkpoints"] / migrate["seconds"])
            / (replay["checkpoints"] / replay["seconds"])
        )

    def migration_ratio(self) -> float | None:
        servers = self.pg.get("migration", {}).get("servers", {})
        first = servers.get(self.servers()[0], {}) if self.servers() else {}
        replay, migrate = first.get(REPLAY), first.get(MIGRATE)
        if not replay or not migrate:
            return None
        return float(replay["seconds"]["median"] / migrate["seconds"]["median"])

    def floor(self) -> list[str]:
        floor = self.pg.get("floor", {})
        if not floor:
            return []
        sizes = self.plan["sizes"]
        lines = [
            "### Where the time goes",
            "",
            "The parts of a call, measured alone on the same server and states (rust",
            "worker; langgraph's serializer in the same process), milliseconds, median",
            "[IQR]. A get_tuple is the first row plus one of the two after it; a put the",
            "`put_sql` row plus one of the two `serializing` rows. What the serializer",
            "cannot touch is the query and its round trip, and on a put the server's own",
            "work: the WAL flush on the durable server, and compressing each blob past ~2 KB",
            "(pglz by default; see the lz4 rows above).",
            "",
        ]
        for server in self.servers():
            if server not in floor:
                continue
            lines += [f"On the `{server}` server:", ""]
            rows = []
            for op in FLOOR_OPERATIONS:
                rows.append(
                    [FLOOR_TITLES[op]]
                    + [
                        _spread_cell(floor[server].get(op, {}).get(size), None).replace(" · -", "")
                        for size in sizes
                    ]
                )
            lines += _table(["part", *sizes], rows)
        return lines

    def details(self) -> list[str]:
        lines = [
            "### Single operations",
            "",
            "Milliseconds, median [IQR] · how many times faster than `PostgresSaver` on",
            "the same server.",
            "",
        ]
        sizes = self.plan["sizes"]
        for op in OPERATIONS:
            if op not in self.pg["operations"]:
                continue
            lines += [f"#### {OPERATION_TITLES[op]}", ""]
            rows = []
            for contender in self.contenders:
                reference = _name(REFERENCE, contender["server"])
                rows.append(
                    [f"`{contender['base']}`", contender["server"]]
                    + [
                        _spread_cell(
                            self.op(op, size, contender["name"]), self.op(op, size, reference)
                        )
                        for size in sizes
                    ]
                )
            lines += _table(["contender", "server", *sizes], rows)
        return lines

    def end_to_end(self) -> list[str]:
        from benchmarks.report import WORKLOAD_TITLES, spread, times

        workloads = self.pg["e2e"]["workloads"]
        if not workloads:
            return []
        lines = [
            "### End to end",
            "",
            f"The SQLite section's 3-node graph, {self.pg['e2e']['invokes']} invokes: ms per invoke and",
            "overhead per invoke over `checkpointer=None` in the same worker and round,",
            "median [min-max over rounds]; each saver on a fresh database.",
            "",
        ]
        for workload, entries in workloads.items():
            lines += [f"#### {WORKLOAD_TITLES.get(workload, workload)}", ""]
            rows = []
            for label, entry in entries.items():
                contender = next((c for c in self.contenders if c["name"] == label), None)
                server = contender["server"] if contender else "-"
                reference = entries.get(_name(REFERENCE, server), {}).get("overhead_ms")
                mine = entry.get("overhead_ms")
                ratio = (
                    reference["median"] / mine["median"]
                    if reference and mine and mine["median"] > 0
                    else None
                )
                rows.append(
                    [
                        f"`{contender['base'] if contender else label}`",
                        server,
                        spread(entry["per_invoke_ms"], "range"),
                        spread(mine, "range") if mine else "-",
                        times(ratio) if mine else "-",
                    ]
                )
            lines += _table(
                [
                    "saver",
                    "server",
                    "ms per invoke",
                    "overhead ms per invoke",
                    "PostgresSaver ÷ this",
                ],
                rows,
            )
        return lines

    def migration(self) -> list[str]:
        migration = self.pg.get("migration", {})
        if not migration:
            return []
        source = migration["source"]
        lines = [
            "### Migration from SQLite",
            "",
            f"A SQLite database written by SqliteSaver: {source['threads']} threads of "
            f"{source['per_thread']} checkpoints of the {source['size']} state, each with a",
            f"task's 3 writes ({source['checkpoints']} checkpoints, "
            f"{source['bytes'] / 2**20:.1f} MiB), copied into an empty PostgreSQL",
            "database by `fast_langgraph.migrate.migrate(path, url)`, and by a replay: every",
            "checkpoint read back with SqliteSaver, oldest first, and written with",
            "`PostgresSaver.put` (the channel versions changed since its parent) and",
            "`put_writes` (task by task), as one would by hand. Both start from an empty",
            "database: the replay's time includes PostgresSaver's `setup()`, migrate's its own",
            "and its verification (it runs at its defaults: per-thread counts, and sampled",
            "checkpoints read back through both savers). Seconds for the whole copy, median",
            "[min-max over rounds], checkpoints per second, and how many times faster than the",
            "replay with langgraph's savers.",
            "",
        ]
        rows = []
        for server, methods in migration["servers"].items():
            replay = methods.get(REPLAY)
            for label, entry in methods.items():
                seconds = entry["seconds"]
                rate = entry["checkpoints"] / seconds["median"] if seconds["median"] else 0
                ratio = replay["seconds"]["median"] / seconds["median"] if replay else None
                rows.append(
                    [
                        label,
                        server,
                        f"{entry['checkpoints']:,} / {entry['writes']:,}",
                        f"{_number(seconds['median'])} [{_number(seconds['min'])}-{_number(seconds['max'])}]",
                        f"{rate:,.0f}",
                        "-" if ratio is None else f"{ratio:.1f}x",
                    ]
                )
        lines += _table(
            ["method", "server", "checkpoints / writes", "seconds", "checkpoints/s", "x replay"],
            rows,
        )
        lines += self.scale_migration()
        return lines

    def scale_migration(self) -> list[str]:
        found = self.pg.get("scale_migration", {})
        if not found:
            return []
        lines = [
            f"The scale benchmark's database ({found['checkpoints']:,} small checkpoints over "
            f"{found['threads']:,} threads, each with one write, "
            f"{found['bytes'] / 2**20:.0f} MiB), on the `{found['server']}` server: migrated",
            f"whole once, and its first {found['replay_threads']} threads replayed for the rate",
            "to compare with.",
            "",
        ]
        rows = []
        for label, key in ((MIGRATE, "migrate"), (REPLAY, "replay")):
            entry = found.get(key)
            if not entry:
                rows.append([label, "-", "-", "-"])
                continue
            rate = entry["checkpoints"] / entry["seconds"] if entry["seconds"] else 0
            rows.append(
                [
                    label,
                    f"{entry['checkpoints']:,} / {entry['writes']:,}",
                    _number(entry["seconds"]),
                    f"{rate:,.0f}",
                ]
            )
        lines += _table(["method", "checkpoints / writes", "seconds", "checkpoints/s"], rows)
        return lines

    def render(self) -> list[str]:
        return [
            *self.header(),
            *self.lead(),
            *self.targets(),
            *self.floor(),
            *self.details(),
            *self.end_to_end(),
            *self.migration(),
        ]


def render_section(results: dict[str, Any]) -> list[str]:
    """The `## PostgreSQL` section of the report (nothing when not measured)."""
    pg = results.get("postgres")
    if not pg:
        return []
    if pg.get("skipped"):
        return [SECTION_TITLE, "", f"Not measured: {pg['skipped']}", ""]
    return Section(results).render()


def splice(document: str, section: str) -> str:
    """`document` with its `## PostgreSQL` section replaced by `section` (or added
    before a comparison section, else at the end); the rest left as it is."""
    return replace_section(document, SECTION_TITLE, section)


# -- `python -m benchmarks.postgres` ------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    from benchmarks import runner
    from benchmarks.contenders import contenders_of

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.postgres",
        description="PostgresSaver with and without our serializer; migration from SQLite.",
    )
    parser.add_argument("--smoke", action="store_true", help="tiny sizes and counts (CI)")
    parser.add_argument(
        "--out",
        default=None,
        help="the report whose PostgreSQL section to replace (default: docs/benchmarks.md "
        "for a full run; smoke runs print the section)",
    )
    parser.add_argument("--save", default=None, help="save the results as JSON")
    parser.add_argument("--render", default=None, help="measure nothing: render a saved run")
    args = parser.parse_args(argv)
    command = "python -m benchmarks.postgres " + " ".join(
        shlex.quote(arg) for arg in (sys.argv[1:] if argv is None else argv)
    )
    out = args.out or (
        None if args.smoke else os.path.join(runner.REPO_ROOT, "docs", "benchmarks.md")
    )
    if args.render:
        with open(args.render) as saved:
            results = json.load(saved)
    else:
        plan = runner.SMOKE if args.smoke else runner.FULL
        os.makedirs(runner.CACHE_DIR, exist_ok=True)
        workdir = tempfile.mkdtemp(prefix="run-pg-", dir=runner.CACHE_DIR)
        bench = runner.Run(plan, workdir)
        bench.results = {
            "meta": {
                "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                "command": command.strip(),
                "plan": plan.describe(),
                "machine": runner.machine(),
            },
            "errors": [],
        }
        started = time.perf_counter()
        try:
            for name in (BASELINE_WORKER, RUST_WORKER):
                worker = runner.WorkerProcess(
                    name, sys.executable, "rust" if name == RUST_WORKER else None, workdir
                )
                info = worker.request("hello")
                if name == RUST_WORKER and info["impl"] != "rust":
                    worker.stop()
                    raise SystemExit(f"the rust worker does not load the native codec: {info}")
                bench.workers[name] = worker
                bench.contenders.extend(contenders_of(name))
            bench.results["postgres"] = run_phase(bench, plan.name)
        finally:
            bench.stop_workers()
            shutil.rmtree(workdir, ignore_errors=True)
        bench.results["meta"]["seconds"] = round(time.perf_counter() - started, 1)
        results = bench.results
    if args.save:
        with open(args.save, "w") as target:
            json.dump(results, target, indent=1)
    section = "\n".join(render_section(results))
    for error in results.get("errors", []):
        _log(f"ERROR {error['where']}: {error['error'].strip().splitlines()[-1]}")
    if out:
        existing = ""
        if os.path.exists(out):
            with open(out) as current:
                existing = current.read()
        with open(out, "w") as target:
            target.write(splice(existing, section))
        _log(f"section written into {out}")
    else:
        print(section)
    return 1 if results.get("errors") else 0


if __name__ == "__main__":
    sys.exit(main())
