"""The version is written once per distribution, in its build metadata, and the
three move in lockstep: the meta package pins the other two to its own version."""

from __future__ import annotations

import importlib.metadata
import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib


import fast_langgraph
import fast_langgraph_pure

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ROOT / "packages"


def _toml(path: Path) -> dict:  # type: ignore[type-arg]
    return tomllib.loads(path.read_text())


def test_the_distributions_declare_one_version_and_pin_each_other_to_it() -> None:
    meta = _toml(PACKAGES / "fast-langgraph" / "pyproject.toml")["project"]
    pure = _toml(PACKAGES / "fast-langgraph-pure" / "pyproject.toml")["project"]
    native = _toml(PACKAGES / "fast-langgraph-rs" / "pyproject.toml")["project"]
    crate = _toml(PACKAGES / "fast-langgraph-rs" / "Cargo.toml")["package"]
    version = meta["version"]
    assert pure["version"] == version
    assert "version" not in native and "version" in native["dynamic"]  # Cargo.toml's
    assert crate["version"] == version
    assert f"fast-langgraph-pure=={version}" in meta["dependencies"]
    assert meta["optional-dependencies"]["rust"] == [f"fast-langgraph-rs=={version}"]


def test_code_reads_the_version_instead_of_writing_it() -> None:
    assert fast_langgraph.__version__ == importlib.metadata.version("fast-langgraph")
    assert fast_langgraph_pure.__version__ == importlib.metadata.version("fast-langgraph-pure")
    written = re.compile(r"__version__[^=\n]*=\s*[\"']")
    sources = [p for p in PACKAGES.rglob("*.py") if "build" not in p.parts]
    assert sources
    assert [str(p) for p in sources if written.search(p.read_text())] == []


def test_the_supported_ranges_tested_are_the_ranges_declared() -> None:
    meta = _toml(PACKAGES / "fast-langgraph" / "pyproject.toml")["project"]
    tested = {
        line.split(">=")[0]: line
        for line in (ROOT / "tests" / "supported-versions.txt").read_text().splitlines()
        if line and not line.startswith("#")
    }
    for requirement in meta["dependencies"]:
        name = re.split(r"[<>=]", requirement)[0]
        if name in ("langgraph-checkpoint", "langchain-core", "pydantic"):
            assert tested[name] == requirement
    for requirement in meta["optional-dependencies"]["postgres"]:
        assert tested[re.split(r"[<>=]", requirement)[0]] == requirement
