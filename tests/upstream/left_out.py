"""The tests of langgraph-checkpoint-sqlite that run_sqlite_tests.py leaves out,
each with its reason. Everything else must pass against our aliases.

What may be left out: tests of SqliteSaver's private helpers (they call
langgraph's own functions, so they would pass or fail whatever our saver does).
Two more are listed under their own headings, with why they cannot apply.
Keys are pytest node ids relative to the extracted sdist.
"""

from __future__ import annotations

from typing import Final

PRIVATE_HELPERS: Final[dict[str, str]] = {
    "tests/test_sqlite.py::TestSqliteSaver::test_search_where": (
        "calls langgraph.checkpoint.sqlite.utils.search_where, SqliteSaver's private "
        "WHERE builder; ours is fast_langgraph._filters.compile_filter"
    ),
    "tests/test_sqlite.py::TestSqliteSaver::test_metadata_predicate": (
        "calls langgraph.checkpoint.sqlite.utils._metadata_predicate, a private helper"
    ),
    "tests/test_sqlite.py::TestSqliteSaver::test_metadata_predicate_sql_injection_prevention": (
        "calls the private _metadata_predicate directly; the same keys through the public "
        "list() are checked by test_checkpoint_search_sql_injection_prevention, which runs"
    ),
}

# A limitation of SqliteSaver that ours lifts on purpose.
LIFTED_LIMITATIONS: Final[dict[str, str]] = {
    "tests/test_sqlite.py::TestSqliteSaver::test_informative_async_errors": (
        "asserts SqliteSaver's async methods raise NotImplementedError; ours implement "
        "them (one saver serves sync and async graphs), so there is no error to inform of"
    ),
}

LEFT_OUT: Final[dict[str, str]] = {**PRIVATE_HELPERS, **LIFTED_LIMITATIONS}

CONFORMANCE_DELTA_TEST: Final = "tests/test_conformance_delta.py::test_delta_channel_conformance"


def left_out() -> dict[str, str]:
    """LEFT_OUT, plus the delta conformance test when the installed
    langgraph-checkpoint-conformance cannot run it."""
    result = dict(LEFT_OUT)
    missing = _missing_conformance_capability("delta_channel_history")
    if missing is not None:
        result[CONFORMANCE_DELTA_TEST] = missing
    return result


def _missing_conformance_capability(name: str) -> str | None:
    try:
        from importlib.metadata import version

        from langgraph.checkpoint.conformance.capabilities import Capability
    except ImportError:
        return "langgraph-checkpoint-conformance is not installed"
    if name in {capability.value for capability in Capability}:
        return None
    return (
        f"langgraph-checkpoint-conformance {version('langgraph-checkpoint-conformance')} "
        f"has no {name!r} capability (langgraph's repository runs this test against its "
        "unreleased source); it fails the same way against langgraph's own AsyncSqliteSaver"
    )
