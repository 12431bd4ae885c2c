"""A worker process: runs the measurements the parent asks for, one at a time.

Started as `python -m benchmarks.worker WORKDIR` with FAST_LANGGRAPH_IMPL set
(or not, for the baseline worker). Reads one JSON request per line on stdin and
answers one JSON line on stdout; anything else printed goes to stderr.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import random
import sqlite3
import sys
import traceback
from collections.abc import Callable
from importlib import metadata as package_metadata
from typing import Any, TextIO

from langgraph.checkpoint.base import BaseCheckpointSaver

from benchmarks import concurrency, graph, memory, scale
from benchmarks.calls import SaverCalls
from benchmarks.contenders import close_saver, describe_open_saver, open_saver
from benchmarks.operations import FloorBench, OperationBench

# Written into a virtualenv by benchmarks/before.sh: the commit it was built from.
COMMIT_FILE = "FAST_LANGGRAPH_COMMIT"


def _version(distribution: str) -> str | None:
    try:
        return package_metadata.version(distribution)
    except package_metadata.PackageNotFoundError:
        return None


class Worker:
    def __init__(self, workdir: str) -> None:
        self.workdir = workdir
        self.loop = asyncio.new_event_loop()
        self.operation_benches: dict[str, OperationBench] = {}
        self.scale_savers: dict[tuple[str, str], SaverCalls] = {}
        self.floor: FloorBench | None = None
        self.rng = random.Random(11)
        self.runs = 0
        self._postgres: Any = None

    def _path(self, label: str) -> str:
        self.runs += 1
        return os.path.join(self.workdir, f"{label}-{os.getpid()}-{self.runs}.db")

    def hello(self) -> dict[str, Any]:
        impl: str | None = None
        compiled: bool | None = None
        error: str | None = None
        if os.environ.get("FAST_LANGGRAPH_IMPL"):
            try:
                import fast_langgraph

                impl = fast_langgraph.__impl__
            except ImportError as exc:
                error = str(exc)
            try:
                import fast_langgraph_pure

                compiled = getattr(fast_langgraph_pure, "COMPILED", None)
            except ImportError:
                pass
        commit: str | None = None
        commit_file = os.path.join(sys.prefix, COMMIT_FILE)
        if os.path.exists(commit_file):
            with open(commit_file) as source:
                commit = source.read().strip() or None
        return {
            "impl": impl,
            "compiled": compiled,
            "commit": commit,
            "error": error,
            "python": platform.python_version(),
            "executable": sys.executable,
            "sqlite": sqlite3.sqlite_version,
            "packages": {
                name: _version(name)
                for name in (
                    "langgraph",
                    "langgraph-checkpoint",
                    "langgraph-checkpoint-sqlite",
                    "langchain-core",
                    "fast-langgraph",
                    "fast-langgraph-pure",
                    "fast-langgraph-rs",
                )
            },
        }

    def describe(self, kinds: list[str]) -> dict[str, Any]:
        """How each kind of saver really opens here (pragmas, implementation)."""
        found: dict[str, Any] = {}
        for kind in kinds:
            path = self._path(f"describe-{kind}")
            saver = open_saver(kind, path, self.loop)
            try:
                found[kind] = describe_open_saver(saver, self.loop)
            finally:
                close_saver(saver, self.loop)
                _remove_database(path)
        return found

    def operation(
        self, kind: str, is_async: bool, op: str, size: str, reps: int, list_thread_length: int
    ) -> list[int]:
        bench = self.operation_benches.get(kind)
        if bench is None:
            saver = open_saver(kind, self._path(kind), self.loop)
            bench = OperationBench(saver, self.loop, is_async, list_thread_length)
            self.operation_benches[kind] = bench
        return bench.run(op, size, reps)

    def floor_operation(self, op: str, size: str, reps: int) -> list[int]:
        if self.floor is None:
            self.floor = FloorBench(self.workdir)
        return self.floor.run(op, size, reps)

    def e2e(self, kind: str | None, is_async: bool, workload: str, invokes: int) -> float:
        saver: BaseCheckpointSaver[Any] | None = None
        path = self._path(f"e2e-{kind}")
        if kind is not None:
            saver = open_saver(kind, path, self.loop)
        try:
            return graph.run(saver, workload, invokes, self.loop, is_async)
        finally:
            if saver is not None:
                close_saver(saver, self.loop)
            _remove_database(path)

    def concurrent(self, kind: str, mode: str, writers: int, puts: int) -> dict[str, Any]:
        path = self._path(f"concurrency-{kind}")
        try:
            if mode == "threads":
                return concurrency.with_threads(kind, path, self.loop, writers, puts)
            # The file exists with its schema before the writers race to open it.
            close_saver(open_saver(kind, path, self.loop), self.loop)
            return concurrency.with_processes(kind, path, writers, puts)
        finally:
            _remove_database(path)

    def scale_read(
        self, kind: str, is_async: bool, path: str, threads: int, op: str, reps: int
    ) -> list[int]:
        calls = self.scale_savers.get((kind, path))
        if calls is None:
            saver = open_saver(kind, path, self.loop)
            calls = SaverCalls(saver, self.loop, is_async)
            self.scale_savers[(kind, path)] = calls
        configs = [
            {
                "configurable": {
                    "thread_id": scale.thread_name(self.rng.randrange(threads)),
                    "checkpoint_ns": "",
                }
            }
            for _ in range(reps)
        ]
        if op == "get_tuple_latest":
            thunks = [calls.get_tuple(config) for config in configs]  # type: ignore[arg-type]
        elif op == "list_limit_10":
            thunks = [calls.list(config, 10) for config in configs]  # type: ignore[arg-type]
        else:
            raise ValueError(f"unknown scale operation {op!r}")
        return calls.time(thunks)

    def memory(self, kind: str, checkpoints: list[int]) -> dict[str, int]:
        path = self._path(f"memory-{kind}")
        try:
            return memory.rss_after_puts(kind, path, self.loop, checkpoints)
        finally:
            _remove_database(path)

    def postgres(self, what: str, **arguments: Any) -> Any:
        """The PostgreSQL benchmark's requests (benchmarks/postgres_worker.py)."""
        if self._postgres is None:
            from benchmarks.postgres_worker import PostgresPart

            self._postgres = PostgresPart(self.loop)
        return self._postgres.handle(what, **arguments)

    def close(self) -> None:
        if self._postgres is not None:
            self._postgres.release()
        for bench in self.operation_benches.values():
            close_saver(bench.saver, self.loop)
        for calls in self.scale_savers.values():
            close_saver(calls.saver, self.loop)
        if self.floor is not None:
            self.floor.close()

    def handle(self, request: dict[str, Any]) -> Any:
        action = request.pop("do")
        handlers: dict[str, Callable[..., Any]] = {
            "hello": self.hello,
            "describe": self.describe,
            "operation": self.operation,
            "floor": self.floor_operation,
            "e2e": self.e2e,
            "concurrency": self.concurrent,
            "scale": self.scale_read,
            "memory": self.memory,
            "postgres": self.postgres,
        }
        return handlers[action](**request)


def _remove_database(path: str) -> None:
    for name in (path, path + "-wal", path + "-shm"):
        if os.path.exists(name):
            os.remove(name)


def serve(requests: TextIO, answers: TextIO, workdir: str) -> None:
    worker = Worker(workdir)
    try:
        for line in requests:
            request = json.loads(line)
            if request.get("do") == "quit":
                break
            try:
                answer = {"ok": worker.handle(request)}
            except Exception:  # the parent reports it and goes on
                answer = {"error": traceback.format_exc()}
            answers.write(json.dumps(answer) + "\n")
            answers.flush()
    finally:
        worker.close()


def main() -> None:
    # Keep the real stdout for answers; stray prints (LangGraph warnings, engines)
    # go to stderr so they cannot corrupt the protocol.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    serve(sys.stdin, answers, sys.argv[1])


if __name__ == "__main__":
    main()
