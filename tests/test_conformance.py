"""LangGraph's official checkpointer conformance suite, run against our saver.

`langgraph-checkpoint-conformance` drives the async methods only (the sync twins
are covered by test_sync_contract.py). Every capability must be detected and
pass: nothing may be skipped. Our public serializer also goes through the suite
inside langgraph's own InMemorySaver.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.report import CapabilityReport
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.encrypted import EncryptedSerializer
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

import fast_langgraph.serde
from fast_langgraph import RustSQLiteCheckpointer

CAPABILITIES = (
    "put",
    "put_writes",
    "get_tuple",
    "list",
    "delete_thread",
    "delete_for_runs",
    "copy_thread",
    "prune",
)
AES_KEY = b"0123456789abcdef0123456789abcdef"

SaverFactory = Callable[[], Any]


def assert_full_conformance(
    report: CapabilityReport, capabilities: tuple[str, ...] = CAPABILITIES
) -> None:
    report.print_report()
    for capability in capabilities:
        result = report.results.get(capability)
        assert result is not None, f"{capability}: not run"
        assert result.detected, f"{capability}: not detected"
        assert result.tests_skipped == 0, f"{capability}: {result.tests_skipped} skipped"
        assert result.tests_failed == 0, f"{capability}: {result.failures}"
        assert result.tests_passed > 0, f"{capability}: no test ran"
        assert result.passed is True, capability
    assert report.passed_all()
    if capabilities == CAPABILITIES:
        assert report.conformance_level() == "FULL"


async def run_suite(name: str, make_saver: SaverFactory) -> CapabilityReport:
    @checkpointer_test(name=name)
    async def fresh_saver() -> AsyncIterator[Any]:
        saver = make_saver()
        try:
            yield saver
        finally:
            if isinstance(saver, RustSQLiteCheckpointer):
                saver.close()

    return await validate(fresh_saver)


def fresh_files(tmp_path: Path) -> Callable[[], str]:
    """A new database path on every call: each capability suite gets an empty file."""
    counter = itertools.count()
    return lambda: str(tmp_path / f"conformance-{next(counter)}.db")


async def test_file_saver_passes_every_capability(tmp_path: Path) -> None:
    next_path = fresh_files(tmp_path)
    report = await run_suite("file", lambda: RustSQLiteCheckpointer(next_path()))
    assert_full_conformance(report)


async def test_memory_saver_passes_every_capability() -> None:
    report = await run_suite("memory", lambda: RustSQLiteCheckpointer(":memory:"))
    assert_full_conformance(report)


async def test_saver_on_a_users_connection_passes_every_capability(tmp_path: Path) -> None:
    next_path = fresh_files(tmp_path)
    connections: list[sqlite3.Connection] = []

    def on_connection() -> RustSQLiteCheckpointer:
        connections.append(sqlite3.connect(next_path(), check_same_thread=False))
        return RustSQLiteCheckpointer(connections[-1])

    report = await run_suite("connection", on_connection)
    for conn in connections:
        conn.close()
    assert_full_conformance(report)


async def test_our_serializer_in_langgraphs_in_memory_saver() -> None:
    """`InMemorySaver(serde=fast_langgraph.serde.JsonPlusSerializer())`: every
    capability InMemorySaver has passes, with our codec doing its serialization."""

    def in_memory() -> InMemorySaver:
        serde = fast_langgraph.serde.JsonPlusSerializer()
        assert serde.implementation == fast_langgraph.__impl__
        return InMemorySaver(serde=serde)

    report = await run_suite("in-memory+ours", in_memory)
    detected = tuple(name for name in CAPABILITIES if report.results[name].detected)
    assert {"put", "put_writes", "get_tuple", "list", "delete_thread"} <= set(detected)
    assert_full_conformance(report, detected)


async def test_encrypted_serde_saver_passes_every_capability(tmp_path: Path) -> None:
    next_path = fresh_files(tmp_path)

    def encrypted() -> RustSQLiteCheckpointer:
        serde = EncryptedSerializer.from_pycryptodome_aes(key=AES_KEY)
        return RustSQLiteCheckpointer(next_path(), serde=serde)

    report = await run_suite("encrypted", encrypted)
    assert_full_conformance(report)


@pytest.fixture
def strict_clone_factory(tmp_path: Path) -> SaverFactory:
    """Savers as `compile()` makes them under LANGGRAPH_STRICT_MSGPACK: a `with_allowlist` clone."""
    next_path = fresh_files(tmp_path)

    def strict_clone() -> RustSQLiteCheckpointer:
        strict = JsonPlusSerializer(allowed_msgpack_modules=None)
        original = RustSQLiteCheckpointer(next_path(), serde=strict)
        clone = original.with_allowlist([("tests.made_up_module", "MadeUpType")])
        assert clone is not original
        assert clone.serde is not original.serde
        assert isinstance(clone, RustSQLiteCheckpointer)
        return clone

    return strict_clone


async def test_strict_msgpack_clone_passes_every_capability(
    strict_clone_factory: SaverFactory,
) -> None:
    report = await run_suite("strict-msgpack", strict_clone_factory)
    assert_full_conformance(report)
