"""The benchmark harness runs end to end in smoke mode and reports every section.

Only the harness is checked here: which rows and sections it produces. Speed is
never asserted.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SECTIONS = (
    "## At equal durability",
    "## At defaults",
    "## Targets",
    "## Single operations",
    "## The floor",
    "## End to end",
    "## Long conversation",
    "## Concurrency",
    "## Scale",
    "## PostgreSQL",
)
BASELINES = ("SqliteSaver", "SqliteSaver (NORMAL)", "AsyncSqliteSaver", "InMemorySaver")
OPERATIONS = (
    "put",
    "put_writes",
    "get_tuple_latest",
    "get_tuple_by_id",
    "list_all",
    "list_limit_10",
)


def _our_implementation() -> str | None:
    """The codec this interpreter would load ("rust" or "python"); the bench must
    measure our saver with it, and with the Python codec in any case."""
    if importlib.util.find_spec("fast_langgraph") is None:
        return None
    try:
        import fast_langgraph
    except ImportError:
        return None
    return fast_langgraph.__impl__


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out_dir = tmp_path_factory.mktemp("bench")
    report = out_dir / "benchmarks.md"
    saved = out_dir / "results.json"
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--out", str(report), "--save", str(saved)],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-5000:]
    assert "[bench" in completed.stderr  # progress goes to stderr
    return out_dir, json.loads(saved.read_text())


def test_report_has_every_section(smoke_run: tuple[Path, dict[str, Any]]) -> None:
    out_dir, _ = smoke_run
    text = (out_dir / "benchmarks.md").read_text()
    for section in SECTIONS:
        assert section in text
    assert "python -m benchmarks --smoke" in text  # the exact command is recorded
    if importlib.util.find_spec("matplotlib") is not None:
        png = (out_dir / "benchmarks.png").read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n")


def test_every_contender_measured_every_operation(
    smoke_run: tuple[Path, dict[str, Any]],
) -> None:
    _, results = smoke_run
    assert results["errors"] == []
    names = [contender["name"] for contender in results["contenders"]]
    assert names[: len(BASELINES)] == list(BASELINES)
    ours = _our_implementation()
    if ours is not None:
        assert "ours, Python codec" in names
    if ours == "rust":
        for name in (
            "ours",
            "ours (full)",
            "ours from sqlite3.Connection",
            "SqliteSaver + our serializer",
            "InMemorySaver + our serializer",
        ):
            assert name in names
    assert not any(name.startswith("before") for name in names)  # only with --python-for
    for op in OPERATIONS:
        measured = results["operations"][op]["4KB"]
        assert sorted(measured) == sorted(names)
        for summary in measured.values():
            assert summary["min"] <= summary["median"] <= summary["max"]


def test_other_workloads_report_results(smoke_run: tuple[Path, dict[str, Any]]) -> None:
    _, results = smoke_run
    for workload in ("growing", "threads"):
        rows = results["e2e"]["workloads"][workload]
        assert "checkpointer=None" in rows and "no-op saver (LangGraph's floor)" in rows
        assert rows["SqliteSaver"]["overhead_ms"] is not None
    for mode in ("threads", "processes"):
        assert results["concurrency"][mode]["contenders"]["SqliteSaver"]["errors"] == 0
    reads = results["scale"]["reads"]["get_tuple_latest"]
    assert "SqliteSaver" in reads["big"] and "SqliteSaver" in reads["small"]
    ours = _our_implementation()
    floor = {"dumps_typed", "loads_typed", "insert_full", "insert_normal", "select"}
    if ours == "rust":
        floor |= {"ours_dumps_typed", "ours_loads_typed"}
    assert set(results["floor"]) == floor
    if ours is not None:
        small, large = results["memory"]["ours, Python codec"]["rss_bytes"]
        assert small > 0 and large > 0


def test_comparison_with_a_saved_run(smoke_run: tuple[Path, dict[str, Any]]) -> None:
    _, results = smoke_run
    sys.path.insert(0, str(REPO_ROOT))
    try:
        from benchmarks import report
    finally:
        sys.path.remove(str(REPO_ROOT))
    text = report.render(results, results, None)
    assert "## Compared with a saved run" in text
    # The same run compared with itself: every ratio is exactly 1.
    comparison = text.split("## Compared with a saved run", 1)[1]
    assert "| `SqliteSaver` | put | 1.00x |" in comparison


def test_postgres_section_measures_every_contender(
    smoke_run: tuple[Path, dict[str, Any]],
) -> None:
    """PostgresSaver alone, and given our serializer where the native codec loads,
    on a real server; the migration against a replay."""
    _, results = smoke_run
    postgres = results["postgres"]
    assert "skipped" not in postgres, postgres.get("skipped")
    names = [contender["name"] for contender in postgres["contenders"]]
    assert names[0] == "PostgresSaver"
    if _our_implementation() == "rust":
        assert "PostgresSaver + our serializer" in names
        assert "PostgresSaver + our serializer + orjson JSONB" in names
    for op in OPERATIONS:
        assert sorted(postgres["operations"][op]["4KB"]) == sorted(names)
    for workload in ("growing", "threads"):
        assert postgres["e2e"]["workloads"][workload]["PostgresSaver"]["overhead_ms"] is not None
    methods = next(iter(postgres["migration"]["servers"].values()))
    replay = methods["replay: SqliteSaver → PostgresSaver, put and put_writes"]
    assert replay["checkpoints"] == postgres["migration"]["source"]["checkpoints"]
    if _our_implementation() == "rust":
        migrated = methods["fast_langgraph.migrate.migrate"]
        assert (migrated["checkpoints"], migrated["writes"]) == (
            replay["checkpoints"],
            replay["writes"],
        )
        assert (
            postgres["scale_migration"]["migrate"]["checkpoints"]
            == (postgres["scale_migration"]["checkpoints"])
        )


def test_the_postgres_section_replaces_only_itself() -> None:
    """`python -m benchmarks.postgres` rewrites its own section of the report and
    leaves every other one as it was."""
    sys.path.insert(0, str(REPO_ROOT))
    try:
        from benchmarks.postgres import splice
    finally:
        sys.path.remove(str(REPO_ROOT))
    report = "# Benchmarks\n\n## Scale\n\nrows\n\n## Memory\n\nmore rows\n\n"
    added = splice(report, "## PostgreSQL\n\nfirst\n")
    assert added == report + "## PostgreSQL\n\nfirst\n"
    replaced = splice(added, "## PostgreSQL\n\nsecond\n")
    assert replaced == report + "## PostgreSQL\n\nsecond\n"
    compared = splice(report + "## Compared with a saved run\n\nx\n", "## PostgreSQL\n\nthird\n")
    assert compared == report + "## PostgreSQL\n\nthird\n\n## Compared with a saved run\n\nx\n"
    in_the_middle = "# B\n\n## PostgreSQL\n\nold\n\n## Compared with a saved run\n\nx\n"
    assert splice(in_the_middle, "## PostgreSQL\n\nnew\n") == (
        "# B\n\n## PostgreSQL\n\nnew\n\n## Compared with a saved run\n\nx\n"
    )


def test_long_conversation_measures_every_saver(smoke_run: tuple[Path, dict[str, Any]]) -> None:
    out_dir, results = smoke_run
    data = results["long_conversation"]
    assert "error" not in data, data.get("error")
    names = [contender["name"] for contender in data["contenders"]]
    for name in ("SqliteSaver", "ours", "SqliteSaver + DeltaChannel", "ours + DeltaChannel"):
        assert name in names
        assert data["contenders"][names.index(name)]["durability"] == "WAL, synchronous=NORMAL"
        assert data["file_bytes"][name] > 0
    assert "no checkpointer" in names
    for name in names:
        assert len(data["per_turn_ms"][name]) == data["plan"]["turns"]
    assert sorted(data["history"]["ms"]) == ["SqliteSaver + DeltaChannel", "ours + DeltaChannel"]
    if importlib.util.find_spec("matplotlib") is not None:
        png = (out_dir / "long-conversation.png").read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n")


def test_the_long_conversation_section_replaces_only_itself() -> None:
    sys.path.insert(0, str(REPO_ROOT))
    try:
        from benchmarks.long_conversation import splice
    finally:
        sys.path.remove(str(REPO_ROOT))
    report = "# B\n\n## End to end\n\nrows\n\n## Scale\n\nmore\n"
    added = splice(report, "## Long conversation\n\nfirst\n")
    assert (
        added
        == "# B\n\n## End to end\n\nrows\n\n## Long conversation\n\nfirst\n\n## Scale\n\nmore\n"
    )
    assert splice(added, "## Long conversation\n\nsecond\n") == added.replace("first", "second")
    assert splice("# B\n", "## Long conversation\n\nx\n") == "# B\n\n## Long conversation\n\nx\n"


def test_before_after_compares_two_builds_in_fresh_processes(tmp_path: Path) -> None:
    """`python -m benchmarks.before_after` with this interpreter on both sides: every
    operation of both savers measured in paired batches, its section written into the
    report."""
    codec = _our_implementation()
    assert codec is not None
    report = tmp_path / "benchmarks.md"
    report.write_text("# Benchmarks\n\n## At equal durability\n\nrows\n\n## At defaults\n\nmore\n")
    saved = tmp_path / "before-after.json"
    command = [sys.executable, "-m", "benchmarks.before_after", "--before", sys.executable]
    command += ["--pairs", "1", "--rounds", "3", "--batch", "2", "--codec", codec]
    command += ["--out", str(report), "--save", str(saved)]
    subprocess.run(command, cwd=REPO_ROOT, check=True, timeout=300)
    data = json.loads(saved.read_text())
    operations = ["put", "put_writes", "get_tuple_latest", "list_limit_10"]
    assert [(row["saver"], row["op"]) for row in data["rows"]] == [
        (saver, op) for saver in ("ours", "ours (full)") for op in operations
    ]
    for row in data["rows"]:
        assert row["before_ms"] > 0 and row["after_ms"] > 0
        assert row["batches"] == 3
        low, high = row["ratio_quartiles"]
        assert low <= row["ratio"] <= high
    text = report.read_text()
    # Where the full report puts it: after the equal-durability comparison.
    assert text.index("## At equal durability") < text.index("## Default layout against")
    assert text.index("## Default layout against") < text.index("## At defaults")
    assert text.count("| get_tuple_latest |") == 2
    assert ("native codec" if codec == "rust" else "Python codec") in text
