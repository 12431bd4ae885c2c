"""The release, as far as it can be checked without running it: the workflow
(.github/workflows/release.yml) passes actionlint and builds, tests and publishes for
every platform README promises, and README's supported-versions table says the ranges
the packages declare and `nox -s versions` tests."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github/workflows/release.yml"
# Wheel platform tags, without their version part: one codec wheel for each, the suite on each.
PLATFORMS = {
    "manylinux_x86_64",
    "manylinux_aarch64",
    "musllinux_x86_64",
    "musllinux_aarch64",
    "macosx_x86_64",
    "macosx_arm64",
    "win_amd64",
}
# The installed package's metadata is its pyproject.toml's (and tomllib is not in 3.10).
REQUIRES_PYTHON = metadata.metadata("fast-langgraph")["Requires-Python"]
OLDEST_PYTHON = REQUIRES_PYTHON.removeprefix(">=")


@pytest.fixture(scope="module")
def jobs() -> dict[str, Any]:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    jobs: dict[str, Any] = workflow["jobs"]
    return jobs


def entries(job: dict[str, Any]) -> list[dict[str, Any]]:
    """The matrix's combinations as GitHub expands them: the product of the axes, each
    include entry extending the combinations whose axis values it matches, or added
    as a combination of its own when it matches none."""
    matrix = dict(job["strategy"]["matrix"])
    includes = matrix.pop("include", [])
    combos: list[dict[str, Any]] = [{}] if matrix else []
    for axis, values in matrix.items():
        combos = [{**combo, axis: value} for combo in combos for value in values]
    originals = list(combos)
    for extra in includes:
        on_axes = {key: value for key, value in extra.items() if key in matrix}
        matching = [c for c in originals if all(c[k] == v for k, v in on_axes.items())]
        for combo in matching:
            combo.update(extra)
        if not matching:
            combos.append(dict(extra))
    return combos


def runner_os(runner: str) -> str:
    for prefix, name in (("ubuntu-", "linux"), ("macos-", "macos"), ("windows-", "windows")):
        if runner.startswith(prefix):
            return name
    raise AssertionError(f"unknown runner {runner}")


def runner_arch(runner: str) -> str:
    if runner.endswith("-arm") or (runner.startswith("macos-") and not runner.endswith("-intel")):
        return "arm64"
    return "x86_64"


def platform_os_arch(platform: str) -> tuple[str, str]:
    arch = "arm64" if platform.endswith(("_aarch64", "_arm64")) else "x86_64"
    name = platform.split("_", 1)[0]
    return {"manylinux": "linux", "musllinux": "linux", "macosx": "macos", "win": "windows"}[
        name
    ], arch


def steps_text(job: dict[str, Any]) -> str:
    return "\n".join(str(step.get("run", "")) + str(step.get("uses", "")) for step in job["steps"])


def test_actionlint_finds_nothing() -> None:
    # The venv's scripts folder first: pytest may run without the venv activated.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    actionlint = shutil.which("actionlint", path=path)
    assert actionlint, "actionlint is missing: pip install -r tests/requirements-tools.txt"
    result = subprocess.run(
        [actionlint, "-no-color", str(WORKFLOW)], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_codec_is_built_for_every_platform_on_its_own_kind_of_machine(
    jobs: dict[str, Any],
) -> None:
    codec = entries(jobs["codec"])
    assert {entry["platform"] for entry in codec} == PLATFORMS
    for entry in codec:
        platform = entry["platform"]
        assert (runner_os(entry["runner"]), runner_arch(entry["runner"])) == platform_os_arch(
            platform
        ), entry
        arch = "x86_64" if platform_os_arch(platform)[1] == "x86_64" else "aarch64"
        assert entry["target"] == ("x64" if platform == "win_amd64" else arch), entry
        expected_policy = {"manylinux": "2014", "musllinux": "musllinux_1_2"}.get(
            platform.split("_", 1)[0]
        )
        assert entry.get("manylinux") == expected_policy, entry
    maturin = next(s for s in jobs["codec"]["steps"] if "maturin-action" in s.get("uses", ""))
    assert "--release" in maturin["with"]["args"] and "--locked" in maturin["with"]["args"]


def test_engine_is_compiled_for_every_supported_python_on_every_os_and_arch(
    jobs: dict[str, Any],
) -> None:
    engine = entries(jobs["engine"])
    built_on = {(runner_os(e["runner"]), runner_arch(e["runner"])) for e in engine}
    assert built_on == {platform_os_arch(platform) for platform in PLATFORMS}
    (step,) = [s for s in jobs["engine"]["steps"] if "cibuildwheel" in s.get("uses", "")]
    assert step["env"]["CIBW_ENVIRONMENT"] == "FAST_LANGGRAPH_MYPYC=1"
    oldest = "cp" + OLDEST_PYTHON.replace(".", "")
    assert f"{oldest}-*" in step["env"]["CIBW_BUILD"].split()
    assert "COMPILED" in step["env"]["CIBW_TEST_COMMAND"]


def test_suite_runs_on_every_platform_on_the_oldest_and_newest_python(
    jobs: dict[str, Any],
) -> None:
    covered: set[str] = set()
    for name in ("suite", "suite-musllinux"):
        job = jobs[name]
        combos = entries(job)
        covered |= {combo["platform"] for combo in combos}
        pythons = {combo["python"] for combo in combos}
        assert OLDEST_PYTHON in pythons and len(pythons) >= 2, (name, pythons)
        for combo in combos:
            assert (runner_os(combo["runner"]), runner_arch(combo["runner"])) == platform_os_arch(
                combo["platform"]
            ), combo
        assert {"portable", "codec", "engine"} <= set(job["needs"])
        text = steps_text(job)
        assert "pytest tests" in text and "run_sqlite_tests.py" in text, name
        # Our packages from the built wheels only, never from an index.
        assert '--no-index --find-links dist "fast-langgraph[rust]"' in text, name
    assert covered == PLATFORMS


def test_publishes_with_trusted_publishing_after_the_suite(jobs: dict[str, Any]) -> None:
    publish = jobs["publish"]
    assert publish["permissions"] == {"id-token": "write"}
    assert set(publish["needs"]) == {"suite", "suite-musllinux"}
    assert "refs/tags/v" in publish["if"]
    (step,) = [s for s in publish["steps"] if "gh-action-pypi-publish" in s.get("uses", "")]
    assert step["uses"].startswith("pypa/gh-action-pypi-publish@")
    # Trusted publishing: no token, no password.
    assert not {"password", "user"} & set(step.get("with", {}))
    # Nothing else in the workflow may mint tokens.
    for name, job in jobs.items():
        if name != "publish":
            assert "id-token" not in job.get("permissions", {}), name


REQUIREMENT = re.compile(r"^([A-Za-z][\w.-]*)\s*\(?([^;()]*)\)?\s*$")


def specifiers(text: str) -> frozenset[str]:
    """`>=4.3,<5` and `<5, >=4.3` alike."""
    return frozenset(part.replace(" ", "") for part in text.split(",") if part.strip())


def readme_supported_versions() -> dict[str, frozenset[str]]:
    readme = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| *`?([A-Za-z][\w.-]*)`? *\| *`([^`]+)` *\|", readme, re.MULTILINE)
    return {name: specifiers(spec) for name, spec in rows}


def test_readme_supported_versions_are_the_declared_and_tested_ranges() -> None:
    tested = {}
    for line in (ROOT / "tests/supported-versions.txt").read_text().splitlines():
        match = REQUIREMENT.match(line.split("#", 1)[0].strip())
        if match and match.group(2).startswith(">="):
            tested[match.group(1)] = specifiers(match.group(2))
    declared = {}
    for requirement in metadata.requires("fast-langgraph") or []:
        match = REQUIREMENT.match(requirement)
        if match:
            declared[match.group(1)] = specifiers(match.group(2))
    expected = {"Python": specifiers(REQUIRES_PYTHON), "langgraph": tested["langgraph"]}
    for name in ("langgraph-checkpoint", "langchain-core", "pydantic"):
        assert declared[name] == tested[name], name
        expected[name] = declared[name]
    table = readme_supported_versions()
    assert {name: table.get(name) for name in expected} == expected
