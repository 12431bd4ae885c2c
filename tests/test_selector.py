"""The engine selector: what was loaded, and how a bad request or a broken engine is refused.

These tests check what this process loaded, not the environment; the scenarios
that need a missing or fake engine run in a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest

import fast_langgraph
from conftest import implementation_mismatch
from fast_langgraph import RustSQLiteCheckpointer, _selector

IMPLEMENTATIONS = {"rust", "pure", "pure-compiled"}


def run_python(script: str, env_overrides: dict[str, str | None]) -> dict[str, Any]:
    env = dict(os.environ)
    for name, value in env_overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


# -- what this process loaded -------------------------------------------------------------


def test_the_loaded_implementation_is_one_of_the_known_ones() -> None:
    assert fast_langgraph.__impl__ in IMPLEMENTATIONS
    assert _selector.current().name == fast_langgraph.__impl__
    assert _selector.current().version == fast_langgraph.__version__


def test_a_saver_uses_the_loaded_implementation() -> None:
    with RustSQLiteCheckpointer.from_conn_string(":memory:") as saver:
        assert saver.implementation == fast_langgraph.__impl__


def test_the_loaded_engine_module_matches_the_name() -> None:
    engine_module = sys.modules[_selector.current().engine_class.__module__]
    engine_file = engine_module.__file__ or ""
    if fast_langgraph.__impl__ == "rust":
        assert engine_module.__name__.startswith("fast_langgraph_rs")
        assert engine_file.endswith((".so", ".pyd"))
    else:
        import fast_langgraph_pure

        assert engine_module.__name__.startswith("fast_langgraph_pure")
        compiled = fast_langgraph.__impl__ == "pure-compiled"
        assert fast_langgraph_pure.COMPILED is compiled
        assert engine_file.endswith((".so", ".pyd")) is compiled


def test_user_connections_are_served_by_the_pure_engine() -> None:
    import sqlite3

    import fast_langgraph.sqlite

    conn = sqlite3.connect(":memory:", check_same_thread=False)
    try:
        saver = fast_langgraph.sqlite.SqliteSaver(conn)
        assert saver.implementation in ("pure", "pure-compiled")
    finally:
        conn.close()


# -- requests -------------------------------------------------------------------------------


def test_an_unknown_name_is_refused_with_the_choices() -> None:
    with pytest.raises(ImportError) as caught:
        _selector.select("nonsense")
    message = str(caught.value)
    assert "nonsense" in message and "rust" in message and "pure" in message


def test_the_environment_variable_is_read_at_select_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAST_LANGGRAPH_IMPL", "nonsense")
    with pytest.raises(ImportError, match="FAST_LANGGRAPH_IMPL"):
        _selector.select()
    monkeypatch.setenv("FAST_LANGGRAPH_IMPL", " Pure ")
    assert _selector.select().name in ("pure", "pure-compiled")


def test_select_pure_gives_the_pure_engine() -> None:
    assert _selector.select("pure").name in ("pure", "pure-compiled")


SCENARIOS = """
    import json, sys, types
    from fast_langgraph import _selector

    def attempt(requested):
        try:
            return {"name": _selector.select(requested).name}
        except ImportError as exc:
            return {"error": str(exc)}

    results = {}
    sys.modules["fast_langgraph_rs"] = None  # as if the Rust wheel were not installed
    results["missing_rust"] = attempt("rust")
    results["missing_rust_default"] = attempt(None)

    fake = types.ModuleType("fast_langgraph_rs")
    fake.__version__ = "0.0.0.fake"
    fake.Engine = object
    sys.modules["fast_langgraph_rs"] = fake
    results["mismatched_rust"] = attempt("rust")
    results["mismatched_rust_default"] = attempt(None)

    import fast_langgraph_pure
    fake_pure = types.ModuleType("fast_langgraph_pure")
    fake_pure.__version__ = "0.0.0.fake"
    fake_pure.Engine = object
    fake_pure.COMPILED = False
    sys.modules["fast_langgraph_pure"] = fake_pure
    results["mismatched_pure"] = attempt("pure")
    results["nothing_loads"] = attempt(None)
    print(json.dumps(results))
"""


def test_missing_or_mismatched_engines_are_refused() -> None:
    results = run_python(SCENARIOS, {"FAST_LANGGRAPH_IMPL": None})
    missing = results["missing_rust"]["error"]
    assert "rust" in missing and "fast_langgraph_rs" in missing
    assert results["missing_rust_default"]["name"] in ("pure", "pure-compiled")
    mismatched = results["mismatched_rust"]["error"]
    assert "0.0.0.fake" in mismatched and fast_langgraph.__version__ in mismatched
    assert results["mismatched_rust_default"]["name"] in ("pure", "pure-compiled")
    assert "0.0.0.fake" in results["mismatched_pure"]["error"]
    # When nothing loads, the error lists every attempt.
    nothing = results["nothing_loads"]["error"]
    assert "rust:" in nothing and "pure:" in nothing


IMPORT_WITHOUT_RUST = """
    import json, sys
    sys.modules["fast_langgraph_rs"] = None
    try:
        import fast_langgraph
        print(json.dumps({"impl": fast_langgraph.__impl__}))
    except ImportError as exc:
        print(json.dumps({"error": str(exc)}))
"""


def test_insisting_on_rust_without_it_fails_the_import() -> None:
    result = run_python(IMPORT_WITHOUT_RUST, {"FAST_LANGGRAPH_IMPL": "rust"})
    assert "rust" in result["error"] and "fast_langgraph_rs" in result["error"]


# -- the suite's own guard (conftest) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("requested", "expect_compiled", "loaded", "accepted"),
    [
        ("", "", "rust", True),
        ("rust", "", "rust", True),
        ("rust", "", "pure", False),
        ("pure", "", "pure", True),
        ("pure", "", "pure-compiled", True),
        ("pure", "", "rust", False),
        ("pure", "1", "pure-compiled", True),
        ("pure", "1", "pure", False),
        ("pure", "0", "pure", True),
        ("pure", "0", "pure-compiled", False),
        ("rust", "1", "rust", False),
        ("", "maybe", "pure", False),
        ("cobol", "", "pure", False),
    ],
)
def test_the_session_guard(
    requested: str, expect_compiled: str, loaded: str, accepted: bool
) -> None:
    assert (implementation_mismatch(requested, expect_compiled, loaded) is None) is accepted
