"""The parent process: starts one worker per implementation and interleaves them.

Every measurement is repeated in rounds; within a round each contender takes its
turn (round-robin), so machine noise hits all contenders alike. Only one worker
works at a time.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Final

from benchmarks import scale
from benchmarks.contenders import (
    BASELINE_WORKER,
    BEFORE_WORKER,
    OURS,
    REFERENCE,
    WORKER_IMPL,
    Contender,
    contenders_of,
)
from benchmarks.graph import WORKLOADS
from benchmarks.operations import FLOOR_OPERATIONS, OPERATIONS
from benchmarks.stats import milliseconds, summarize

REPO_ROOT: Final = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE_DIR: Final = os.path.join(REPO_ROOT, "benchmarks", ".cache")


@dataclass(frozen=True)
class Plan:
    """How much to measure; `FULL` and `SMOKE` are the two used."""

    name: str
    sizes: tuple[str, ...]
    rounds: int
    reps: dict[str, int]  # calls per contender per round, by state size
    list_thread_length: int
    list_all_sizes: tuple[str, ...]  # list(all) is skipped on bigger states (time)
    e2e_invokes: int
    e2e_rounds: int
    concurrency_rounds: int
    writer_threads: int
    writer_processes: int
    puts_per_writer: int
    processes_for_all: bool  # False: only SqliteSaver and our defaults (spawning is slow)
    scale_threads: int
    scale_per_thread: int
    scale_small_threads: int
    scale_reps: int
    scale_cached: bool
    memory_checkpoints: tuple[int, int]
    before_after_pairs: int  # pairs of fresh processes (benchmarks/before_after.py)
    before_after_rounds: int

    def describe(self) -> dict[str, Any]:
        return asdict(self)


FULL: Final = Plan(
    name="full",
    sizes=("4KB", "35KB", "235KB", "2MB"),
    rounds=5,
    reps={"4KB": 20, "35KB": 10, "235KB": 3, "2MB": 1},
    list_thread_length=100,
    list_all_sizes=("4KB", "35KB", "235KB"),
    e2e_invokes=200,
    e2e_rounds=2,
    concurrency_rounds=2,
    writer_threads=8,
    writer_processes=4,
    puts_per_writer=40,
    processes_for_all=True,
    scale_threads=2_000,
    scale_per_thread=100,
    scale_small_threads=10,
    scale_reps=20,
    scale_cached=True,
    memory_checkpoints=(1_000, 100_000),
    before_after_pairs=2,
    before_after_rounds=25,
)

SMOKE: Final = Plan(
    name="smoke",
    sizes=("4KB",),
    rounds=1,
    reps={"4KB": 2},
    list_thread_length=5,
    list_all_sizes=("4KB",),
    e2e_invokes=3,
    e2e_rounds=1,
    concurrency_rounds=1,
    writer_threads=2,
    writer_processes=2,
    puts_per_writer=2,
    processes_for_all=False,
    scale_threads=20,
    scale_per_thread=5,
    scale_small_threads=2,
    scale_reps=2,
    scale_cached=False,
    memory_checkpoints=(10, 100),
    before_after_pairs=1,
    before_after_rounds=2,
)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class WorkerError(RuntimeError):
    pass


class WorkerProcess:
    """A `benchmarks.worker` child, spoken to over its stdin/stdout."""

    def __init__(self, name: str, python: str, impl_env: str | None, workdir: str) -> None:
        env = dict(os.environ)
        env.pop("FAST_LANGGRAPH_IMPL", None)
        if impl_env is not None:
            env["FAST_LANGGRAPH_IMPL"] = impl_env
        self.name = name
        self.process = subprocess.Popen(
            [python, "-m", "benchmarks.worker", workdir],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=REPO_ROOT,
            env=env,
            text=True,
        )

    def request(self, action: str, **arguments: Any) -> Any:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"do": action, **arguments}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise WorkerError(f"worker {self.name} exited (code {self.process.wait()})")
        answer = json.loads(line)
        if "error" in answer:
            raise WorkerError(f"worker {self.name}: {action} failed:\n{answer['error']}")
        return answer["ok"]

    def stop(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            try:
                self.process.stdin.write(json.dumps({"do": "quit"}) + "\n")
                self.process.stdin.close()
            except BrokenPipeError:
                pass
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    ram = 0
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    ram = int(line.split()[1]) * 1024
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_bytes": ram,
        "system": f"{platform.system()} {platform.release()}",
    }


@dataclass
class Run:
    """One benchmark run: the workers, the contenders, and what they measured."""

    plan: Plan
    workdir: str
    results: dict[str, Any] = field(default_factory=dict)
    workers: dict[str, WorkerProcess] = field(default_factory=dict)
    contenders: list[Contender] = field(default_factory=list)
    python_for: dict[str, str] = field(default_factory=dict)

    def error(self, where: str, exc: Exception) -> None:
        log(f"ERROR in {where}: {exc}")
        self.results["errors"].append({"where": where, "error": str(exc)})

    def start_workers(self, names: list[str], python_for: dict[str, str]) -> None:
        """The baseline worker, then each of `names` that loads what it should."""
        self.python_for = python_for
        hello: dict[str, Any] = {}
        skipped: dict[str, str] = {}
        for name in [BASELINE_WORKER, *names]:
            python = python_for.get(name, sys.executable)
            worker = WorkerProcess(name, python, WORKER_IMPL[name], self.workdir)
            info = worker.request("hello")
            expected = WORKER_IMPL[name]
            reason = None
            if expected is not None and info["impl"] is None:
                reason = f"not installed: {info['error']}"
            elif expected is not None and info["impl"] != expected:
                reason = f"{python} provides {info['impl']}, not {expected}"
            if reason is not None:
                if name == BASELINE_WORKER:
                    raise WorkerError(f"baseline worker: {reason}")
                log(f"skipping worker {name}: {reason}")
                skipped[name] = reason
                worker.stop()
                continue
            log(f"worker {name}: {python}")
            self.workers[name] = worker
            hello[name] = info
            self.contenders.extend(contenders_of(name, info.get("commit")))
        self.results["meta"]["workers"] = hello
        self.results["meta"]["skipped"] = skipped
        self.results["contenders"] = [asdict(c) for c in self.contenders]
        details: dict[str, Any] = {}
        for name, worker in self.workers.items():
            mine = [c for c in self.contenders if c.worker == name]
            try:
                found = worker.request("describe", kinds=[c.kind for c in mine])
            except WorkerError as exc:
                self.error(f"describe {name}", exc)
                continue
            for contender in mine:
                details[contender.name] = found[contender.kind]
        self.results["meta"]["savers"] = details
        for index, contender in enumerate(self.contenders):
            measured = details.get(contender.name, {}).get("synchronous")
            if measured not in ("NORMAL", "FULL") or measured == contender.durability:
                continue
            if contender.durability_measured:
                log(f"{contender.name}: its connection runs synchronous={measured}")
                self.contenders[index] = replace(contender, durability=measured)
            else:
                self.error(
                    f"describe {contender.name}",
                    WorkerError(f"meant to run {contender.durability}, runs {measured}"),
                )
        self.results["contenders"] = [asdict(c) for c in self.contenders]

    def stop_workers(self) -> None:
        for worker in self.workers.values():
            worker.stop()

    # -- the workloads ---------------------------------------------------------

    def operations(self) -> None:
        plan = self.plan
        table: dict[str, dict[str, dict[str, Any]]] = defaultdict(lambda: defaultdict(dict))
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
                log(f"operations: {op} at {size} ({plan.rounds} rounds x {reps})")
                samples: dict[str, list[int]] = defaultdict(list)
                for _ in range(plan.rounds):
                    for contender in self.contenders:
                        if contender.name in broken:
                            continue
                        try:
                            samples[contender.name] += self.workers[contender.worker].request(
                                "operation",
                                kind=contender.kind,
                                is_async=contender.is_async,
                                op=op,
                                size=size,
                                reps=reps,
                                list_thread_length=plan.list_thread_length,
                            )
                        except WorkerError as exc:
                            broken.add(contender.name)
                            self.error(f"operations {contender.name} {op} {size}", exc)
                for name, values in samples.items():
                    if name not in broken:
                        table[op][size][name] = summarize(milliseconds(values))
        self.results["operations"] = table

    def floor(self) -> None:
        """Serialization alone and raw SQL on the same bytes, interleaved like the rest."""
        plan = self.plan
        table: dict[str, dict[str, Any]] = defaultdict(dict)
        # (operation, worker): our serializer with the native codec runs in the rust worker.
        rows = [
            (op, "rust" if op.startswith("ours_") else BASELINE_WORKER) for op in FLOOR_OPERATIONS
        ]
        rows = [(op, worker) for op, worker in rows if worker in self.workers]
        for size in plan.sizes:
            log(f"floor at {size}")
            samples: dict[str, list[int]] = defaultdict(list)
            for _ in range(plan.rounds):
                for op, worker in rows:
                    try:
                        samples[op] += self.workers[worker].request(
                            "floor", op=op, size=size, reps=plan.reps[size]
                        )
                    except WorkerError as exc:
                        self.error(f"floor {op} {size}", exc)
            for op, values in samples.items():
                if values:
                    table[op][size] = summarize(milliseconds(values))
        self.results["floor"] = table

    def end_to_end(self) -> None:
        """Per-invoke overhead of each saver over the same worker's checkpointer=None."""
        plan = self.plan
        # (label, worker, kind, is_async); kind None is checkpointer=None.
        entries: list[tuple[str, str, str | None, bool]] = [
            ("no-op saver (LangGraph's floor)", BASELINE_WORKER, "noop", False)
        ]
        entries += [(c.name, c.worker, c.kind, c.is_async) for c in self.contenders if c.e2e]
        table: dict[str, dict[str, Any]] = {}
        for workload in WORKLOADS:
            per_invoke: dict[str, list[float]] = defaultdict(list)
            overhead: dict[str, list[float]] = defaultdict(list)
            for round_index in range(plan.e2e_rounds):
                bare: dict[str, float] = {}
                for worker_name, worker in self.workers.items():
                    log(
                        f"e2e {workload} round {round_index + 1}: checkpointer=None in {worker_name}"
                    )
                    bare[worker_name] = (
                        worker.request(
                            "e2e",
                            kind=None,
                            is_async=False,
                            workload=workload,
                            invokes=plan.e2e_invokes,
                        )
                        / plan.e2e_invokes
                    )
                per_invoke["checkpointer=None"].append(bare[BASELINE_WORKER] * 1e3)
                for label, worker_name, kind, is_async in entries:
                    log(f"e2e {workload} round {round_index + 1}: {label}")
                    try:
                        seconds = self.workers[worker_name].request(
                            "e2e",
                            kind=kind,
                            is_async=is_async,
                            workload=workload,
                            invokes=plan.e2e_invokes,
                        )
                    except WorkerError as exc:
                        self.error(f"e2e {workload} {label}", exc)
                        continue
                    invoke = seconds / plan.e2e_invokes
                    per_invoke[label].append(invoke * 1e3)
                    overhead[label].append((invoke - bare[worker_name]) * 1e3)
            table[workload] = {
                label: {
                    "per_invoke_ms": summarize(values),
                    "overhead_ms": summarize(overhead[label]) if label in overhead else None,
                }
                for label, values in per_invoke.items()
            }
        self.results["e2e"] = {"invokes": plan.e2e_invokes, "workloads": table}

    def concurrency(self) -> None:
        plan = self.plan
        table: dict[str, dict[str, Any]] = {}
        for mode, writers in (
            ("threads", plan.writer_threads),
            ("processes", plan.writer_processes),
        ):
            rates: dict[str, list[float]] = defaultdict(list)
            errors: dict[str, list[str]] = defaultdict(list)
            for round_index in range(plan.concurrency_rounds):
                for contender in self.contenders:
                    if contender.is_async or (mode == "processes" and contender.kind == "memory"):
                        continue  # async: no threads to share; memory: nothing to share
                    if mode == "processes" and not (
                        contender.processes
                        if plan.processes_for_all
                        else contender.name in (REFERENCE, OURS)
                    ):
                        continue
                    log(f"concurrency {writers} {mode} round {round_index + 1}: {contender.name}")
                    try:
                        outcome = self.workers[contender.worker].request(
                            "concurrency",
                            kind=contender.kind,
                            mode=mode,
                            writers=writers,
                            puts=plan.puts_per_writer,
                        )
                    except WorkerError as exc:
                        self.error(f"concurrency {mode} {contender.name}", exc)
                        continue
                    rates[contender.name].append(outcome["checkpoints"] / outcome["seconds"])
                    errors[contender.name] += outcome["errors"]
            table[mode] = {
                "writers": writers,
                "puts_per_writer": plan.puts_per_writer,
                "contenders": {
                    name: {
                        "checkpoints_per_second": summarize(values),
                        "errors": len(errors[name]),
                        "error_examples": sorted(set(errors[name]))[:3],
                    }
                    for name, values in rates.items()
                },
            }
        self.results["concurrency"] = table

    def _scale_databases(self) -> dict[str, dict[str, Any]]:
        """The big and the small database in SqliteSaver's format, and a fresh copy
        of each for every worker whose engine upgrades the file it opens."""
        plan = self.plan
        directory = CACHE_DIR if plan.scale_cached else self.workdir
        upgrading = sorted({c.worker for c in self.contenders if c.ours and c.scale})
        databases: dict[str, dict[str, Any]] = {}
        for label, threads in (("big", plan.scale_threads), ("small", plan.scale_small_threads)):
            count = threads * plan.scale_per_thread
            where = directory if label == "big" else self.workdir
            original = os.path.join(where, f"scale-{threads}x{plan.scale_per_thread}.db")
            started = time.perf_counter()
            if scale.ensure(original, threads, plan.scale_per_thread):
                log(f"scale: built {count} checkpoints in {time.perf_counter() - started:.0f} s")
            copies = {}
            for worker in upgrading:
                copies[worker] = os.path.join(self.workdir, f"scale-{label}-{worker}.db")
                scale.copy(original, copies[worker])
            for path in (original, *copies.values()):
                scale.warm(path)
            databases[label] = {
                "threads": threads,
                "checkpoints": count,
                "original": original,
                "copies": copies,
            }
        return databases

    def scale(self) -> None:
        plan = self.plan
        log("scale: preparing databases")
        databases = self._scale_databases()
        reads: dict[str, dict[str, dict[str, Any]]] = defaultdict(lambda: defaultdict(dict))
        contenders = [c for c in self.contenders if c.scale and c.durability != "memory"]
        for op in ("get_tuple_latest", "list_limit_10"):
            for label, database in databases.items():
                log(f"scale: {op} on the {label} database")
                samples: dict[str, list[int]] = defaultdict(list)
                broken: set[str] = set()
                for _ in range(plan.rounds):
                    for contender in contenders:
                        if contender.name in broken:
                            continue
                        path = (
                            database["copies"][contender.worker]
                            if contender.ours
                            else database["original"]
                        )
                        try:
                            samples[contender.name] += self.workers[contender.worker].request(
                                "scale",
                                kind=contender.kind,
                                is_async=contender.is_async,
                                path=path,
                                threads=database["threads"],
                                op=op,
                                reps=plan.scale_reps,
                            )
                        except WorkerError as exc:
                            broken.add(contender.name)
                            self.error(f"scale {op} {label} {contender.name}", exc)
                for name, values in samples.items():
                    if name not in broken:
                        reads[op][label][name] = summarize(milliseconds(values))
        sizes = {
            label: {
                "threads": database["threads"],
                "checkpoints": database["checkpoints"],
                "bytes_per_checkpoint": {
                    "original": scale.file_bytes(database["original"]) / database["checkpoints"],
                    **{
                        worker: scale.file_bytes(path) / database["checkpoints"]
                        for worker, path in database["copies"].items()
                    },
                },
            }
            for label, database in databases.items()
        }
        self.results["scale"] = {"databases": sizes, "reads": reads}

    def memory(self) -> None:
        """RSS growth of our saver at defaults, in each worker of the current tree."""
        small, large = self.plan.memory_checkpoints
        table: dict[str, Any] = {}
        for contender in self.contenders:
            if contender.kind != "ours" or contender.worker == BEFORE_WORKER:
                continue
            log(f"memory: {large} puts with {contender.name}")
            try:
                readings = self.workers[contender.worker].request(
                    "memory", kind=contender.kind, checkpoints=[small, large]
                )
            except WorkerError as exc:
                self.error(f"memory {contender.name}", exc)
                continue
            table[contender.name] = {
                "checkpoints": [small, large],
                "rss_bytes": [readings[str(small)], readings[str(large)]],
                "growth_mb": (readings[str(large)] - readings[str(small)]) / 2**20,
            }
        self.results["memory"] = table

    def postgres(self) -> None:
        """langgraph's PostgresSaver with and without our serializer, and the
        migration from SQLite, on servers of its own (benchmarks/postgres.py)."""
        from benchmarks import postgres

        self.results["postgres"] = postgres.run_phase(self, self.plan.name)

    def before_after(self) -> None:
        """Our saver against the before worker's build, in paired short batches
        (benchmarks/before_after.py); nothing without a before worker."""
        if BEFORE_WORKER not in self.workers:
            return
        from benchmarks import before_after

        plan = self.plan
        started = time.perf_counter()
        try:
            data = before_after.measure(
                self.python_for[BEFORE_WORKER],
                sys.executable,
                plan.before_after_pairs,
                plan.before_after_rounds,
            )
        except WorkerError as exc:
            self.error("before_after", exc)
            self.results["before_after"] = {"error": str(exc)}
            return
        data["seconds"] = round(time.perf_counter() - started, 1)
        data["command"] = self.results["meta"]["command"]
        self.results["before_after"] = data

    def long_conversation(self) -> None:
        """One 200-turn conversation with every saver, in one process of its own
        (benchmarks/long_conversation.py)."""
        from benchmarks import long_conversation

        self.results["long_conversation"] = long_conversation.run_phase(self, self.plan.name)


PHASES: Final = (
    "operations",
    "before_after",
    "floor",
    "e2e",
    "long_conversation",
    "concurrency",
    "scale",
    "memory",
    "postgres",
)


def run(
    plan: Plan,
    workers: list[str],
    python_for: dict[str, str],
    command: str,
    phases: tuple[str, ...] = PHASES,
) -> dict[str, Any]:
    """Run every phase of `plan` and return the results (JSON-ready)."""
    os.makedirs(CACHE_DIR, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="run-", dir=CACHE_DIR)
    bench = Run(plan, workdir)
    bench.results = {
        "meta": {
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "command": command,
            "plan": plan.describe(),
            "machine": machine(),
        },
        "errors": [],
    }
    started = time.perf_counter()
    try:
        bench.start_workers(workers, python_for)
        steps = {
            "operations": bench.operations,
            "before_after": bench.before_after,
            "floor": bench.floor,
            "e2e": bench.end_to_end,
            "concurrency": bench.concurrency,
            "scale": bench.scale,
            "memory": bench.memory,
            "postgres": bench.postgres,
            "long_conversation": bench.long_conversation,
        }
        for phase in phases:
            phase_started = time.perf_counter()
            steps[phase]()
            log(f"{phase} done in {time.perf_counter() - phase_started:.0f} s")
    finally:
        bench.stop_workers()
        shutil.rmtree(workdir, ignore_errors=True)
    bench.results["meta"]["seconds"] = round(time.perf_counter() - started, 1)
    log(f"finished in {bench.results['meta']['seconds']:.0f} s")
    return bench.results
