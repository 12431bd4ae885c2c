"""The selector: which codec this process and each saver run, and how a missing,
mismatched or incompatible native codec is refused, always visibly.

Tests check what this process loaded, not the environment; scenarios that need a
missing or fake native module run in a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.serde.encrypted import EncryptedSerializer
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer as LanggraphJsonPlus

import fast_langgraph
import fast_langgraph.sqlite
from conftest import implementation_mismatch
from fast_langgraph import RustSQLiteCheckpointer, _selector
from fast_langgraph.serde import JsonPlusSerializer
from fast_langgraph.sqlite.aio import AsyncSqliteSaver

NATIVE = fast_langgraph.__impl__ == "rust"


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


def test_the_loaded_codec_is_named_truthfully() -> None:
    selection = _selector.current()
    assert fast_langgraph.__impl__ == selection.name
    assert selection.name in _selector.CHOICES
    if selection.name == "rust":
        assert selection.native is not None and selection.reason == ""
        assert selection.native.__name__ == "fast_langgraph_rs"
    else:
        assert selection.native is None and selection.reason


def test_every_name_impl_reports_is_accepted_by_the_environment_variable() -> None:
    assert _selector.select(fast_langgraph.__impl__).name == fast_langgraph.__impl__
    assert _selector.select(" Python ").name == "python"


def test_engine_compiled_matches_the_engine_module() -> None:
    import fast_langgraph_pure.engine

    compiled = (fast_langgraph_pure.engine.__file__ or "").endswith((".so", ".pyd"))
    assert fast_langgraph.ENGINE_COMPILED is compiled


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "checkpoints.db")


def _savers(path: str) -> Iterator[tuple[str, RustSQLiteCheckpointer]]:
    """Every way of making a saver on a JsonPlusSerializer, by name."""
    yield "path", RustSQLiteCheckpointer(path)
    yield ":memory:", RustSQLiteCheckpointer(":memory:")
    conn = sqlite3.connect(path, check_same_thread=False)
    yield "sqlite3.Connection", RustSQLiteCheckpointer(conn)
    yield "alias on a connection", fast_langgraph.sqlite.SqliteSaver(conn)
    yield "alias on a path", fast_langgraph.sqlite.SqliteSaver(path)
    yield "async alias on a path", AsyncSqliteSaver(path)
    yield "langgraph JsonPlusSerializer", RustSQLiteCheckpointer(path, serde=LanggraphJsonPlus())
    yield (
        "strict allowlist",
        RustSQLiteCheckpointer(path, serde=LanggraphJsonPlus(allowed_msgpack_modules=None)),
    )
    yield (
        "pickle_fallback",
        RustSQLiteCheckpointer(path, serde=LanggraphJsonPlus(pickle_fallback=True)),
    )
    yield "our serializer", RustSQLiteCheckpointer(path, serde=JsonPlusSerializer())
    yield (
        "encrypted",
        RustSQLiteCheckpointer(
            path, serde=EncryptedSerializer.from_pycryptodome_aes(key=b"0123456789abcdef")
        ),
    )
    strict = RustSQLiteCheckpointer(path, serde=JsonPlusSerializer(allowed_msgpack_modules=None))
    yield "with_allowlist clone", strict.with_allowlist([("a", "B")])  # type: ignore[misc]


def test_every_construction_gets_the_loaded_codec(path: str) -> None:
    for name, saver in _savers(path):
        assert saver.implementation == fast_langgraph.__impl__, name
        if NATIVE:
            assert "native codec" in saver.implementation_detail, name
        else:
            assert saver.implementation_detail.endswith(_selector.current().reason), name


def test_with_allowlist_clone_chooses_again_for_its_serializer(path: str) -> None:
    # A strict serializer: with_allowlist on a permissive one returns the saver itself.
    saver = RustSQLiteCheckpointer(path, serde=JsonPlusSerializer(allowed_msgpack_modules=None))
    clone = saver.with_allowlist([("some.module", "Thing")])
    assert clone is not saver and clone.serde is not saver.serde
    assert clone._choice().codec is not saver._choice().codec
    assert clone.implementation == saver.implementation == fast_langgraph.__impl__


class Reversing:
    """A custom serializer: stores the JSON text reversed."""

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        return "reversed", json.dumps(obj).encode()[::-1]

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        return json.loads(data[1][::-1])


class SubclassedJsonPlus(LanggraphJsonPlus):
    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        return super().dumps_typed(obj)


@pytest.mark.parametrize("serde", [Reversing(), SubclassedJsonPlus()], ids=type)
def test_other_serializers_run_as_given_and_say_so(path: str, serde: Any) -> None:
    saver = RustSQLiteCheckpointer(path, serde=serde)
    assert saver.implementation == "python"
    assert type(serde).__qualname__ in saver.implementation_detail
    assert saver._codec.serde is serde  # type: ignore[attr-defined]


def test_the_public_serializer_reports_the_loaded_codec() -> None:
    serde = JsonPlusSerializer()
    assert isinstance(serde, LanggraphJsonPlus)
    assert serde.implementation == fast_langgraph.__impl__


# -- refusals, in a fresh interpreter ---------------------------------------------------------

SCENARIOS = """
    import importlib.util, json, sys, types, warnings
    from fast_langgraph import _selector, __version__

    def attempt(requested):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                selection = _selector.select(requested)
                outcome = {"name": selection.name, "reason": selection.reason}
            except ImportError as exc:
                outcome = {"error": str(exc)}
        outcome["warnings"] = [str(w.message) for w in caught]
        return outcome

    def fake(version=__version__, probe=None, dumps=None):
        module = types.ModuleType("fast_langgraph_rs")
        module.__version__ = version
        module.probe = probe or (lambda: None)
        module.dumps_typed = dumps or (lambda serde, obj: ("msgpack", b"not the same"))
        module.loads_typed = lambda serde, data: None
        return module

    def broken_probe():
        raise RuntimeError("pydantic: BaseModel.__pydantic_decorators__ missing")

    results = {}
    sys.modules["fast_langgraph_rs"] = None  # as if it were not installed
    results["missing_rust"] = attempt("rust")
    results["missing_default"] = attempt(None)
    results["python"] = attempt("python")
    results["unknown"] = attempt("nonsense")
    # From here on the module counts as installed: refusing it must warn.
    importlib.util.find_spec = lambda name, *args: object()
    sys.modules["fast_langgraph_rs"] = fake(version="0.0.0.fake")
    results["mismatched_default"] = attempt(None)
    results["mismatched_rust"] = attempt("rust")
    sys.modules["fast_langgraph_rs"] = fake(probe=broken_probe)
    results["probe_default"] = attempt(None)
    sys.modules["fast_langgraph_rs"] = fake()
    results["self_test_default"] = attempt(None)
    print(json.dumps(results))
"""


def test_missing_mismatched_or_incompatible_native_codecs_are_refused_visibly() -> None:
    results = run_python(SCENARIOS, {"FAST_LANGGRAPH_IMPL": None})
    assert "fast_langgraph_rs" in results["missing_rust"]["error"]
    missing = results["missing_default"]
    assert missing["name"] == "python" and missing["warnings"] == []
    assert "not installed" in missing["reason"]
    assert "FAST_LANGGRAPH_IMPL=rust" in results["missing_rust"]["error"]
    assert results["python"] == {
        "name": "python",
        "reason": "FAST_LANGGRAPH_IMPL=python",
        "warnings": [],
    }
    assert "rust, python" in results["unknown"]["error"]
    mismatched = results["mismatched_default"]
    assert mismatched["name"] == "python"
    assert len(mismatched["warnings"]) == 1
    assert "0.0.0.fake" in mismatched["warnings"][0]
    assert fast_langgraph.__version__ in mismatched["warnings"][0]
    assert "0.0.0.fake" in results["mismatched_rust"]["error"]
    probe = results["probe_default"]
    assert probe["name"] == "python" and len(probe["warnings"]) == 1
    for what in (
        "__pydantic_decorators__",
        "pydantic ",
        "langgraph-checkpoint ",
        "langchain-core ",
    ):
        assert what in probe["warnings"][0], what
    self_test = results["self_test_default"]
    assert self_test["name"] == "python" and len(self_test["warnings"]) == 1
    assert "self-test" in self_test["warnings"][0] and "bytes differ" in self_test["warnings"][0]


def test_a_codec_that_is_not_installed_is_no_warning() -> None:
    script = """
        import json, sys, warnings
        sys.modules["fast_langgraph_rs"] = None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            import fast_langgraph
        print(json.dumps({"impl": fast_langgraph.__impl__, "warnings": len(caught)}))
    """
    assert run_python(script, {"FAST_LANGGRAPH_IMPL": None}) == {"impl": "python", "warnings": 0}


def test_insisting_on_rust_without_it_fails_the_import() -> None:
    script = """
        import json, sys
        sys.modules["fast_langgraph_rs"] = None
        try:
            import fast_langgraph
            print(json.dumps({"impl": fast_langgraph.__impl__}))
        except ImportError as exc:
            print(json.dumps({"error": str(exc)}))
    """
    result = run_python(script, {"FAST_LANGGRAPH_IMPL": "rust"})
    assert "fast_langgraph_rs" in result["error"]


# -- the suite's own guard (conftest) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("requested", "expect_compiled", "loaded", "compiled", "accepted"),
    [
        ("", "", "rust", True, True),
        ("rust", "", "rust", False, True),
        ("rust", "", "python", True, False),
        ("python", "", "python", False, True),
        ("python", "", "rust", False, False),
        ("python", "1", "python", True, True),
        ("python", "1", "python", False, False),
        ("python", "0", "python", False, True),
        ("rust", "0", "rust", True, False),
        ("", "maybe", "python", False, False),
        ("pure", "", "python", False, False),
    ],
)
def test_the_session_guard(
    requested: str, expect_compiled: str, loaded: str, compiled: bool, accepted: bool
) -> None:
    reason = implementation_mismatch(requested, expect_compiled, loaded, compiled)
    assert (reason is None) is accepted
