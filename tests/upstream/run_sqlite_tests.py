"""Run langgraph-checkpoint-sqlite's own checkpointer tests against our aliases.

    python tests/upstream/run_sqlite_tests.py [pytest arguments]

1. Downloads the sdist of the installed langgraph-checkpoint-sqlite from PyPI
   with pip (cached in build/upstream-sqlite-tests/, which git ignores).
2. Extracts its checkpointer tests: every tests/test_*.py that imports
   `langgraph.checkpoint.sqlite` or `.aio`. The store tests (test_store.py,
   test_async_store.py, test_ttl.py) are not run: they test SqliteStore, which
   fast-langgraph does not ship.
3. Rewrites only their import lines: `from langgraph.checkpoint.sqlite import`
   becomes `from fast_langgraph.sqlite import`, and `.aio` likewise. Imports of
   SqliteSaver's private modules (`.utils`, `._delta`) are left alone.
4. Runs pytest on them, deselecting what left_out.py lists (with its reasons),
   and exits with pytest's exit code.

Nothing of theirs is copied into this repository. Needs pip (to download) and
access to PyPI the first time for each version; pytest, pytest-asyncio,
aiosqlite and langgraph-checkpoint-conformance installed.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from left_out import left_out

DISTRIBUTION = "langgraph-checkpoint-sqlite"
ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "build" / "upstream-sqlite-tests"
# `from langgraph.checkpoint.sqlite import ...` and `... .aio import ...`, nothing else.
PUBLIC_IMPORT = re.compile(
    r"^(?P<indent>\s*)from langgraph\.checkpoint\.sqlite(?P<aio>\.aio)? import ", re.MULTILINE
)
# Any other way of importing the public modules, which the rewrite would miss.
UNHANDLED_IMPORT = re.compile(
    r"^\s*import langgraph\.checkpoint\.sqlite(\.aio)?\b(?![._])"
    r"|^\s*from langgraph\.checkpoint import sqlite\b",
    re.MULTILINE,
)
PYTEST_INI = """\
# Written by tests/upstream/run_sqlite_tests.py: the options of the sdist's
# pyproject.toml that its tests need.
[pytest]
testpaths = tests
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
"""


class RunnerError(Exception):
    """Something the runner cannot do; the message says what to do."""


def installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        raise RunnerError(
            f"{DISTRIBUTION} is not installed; its tests need it (pip install {DISTRIBUTION})"
        ) from None


def sdist(version: str) -> Path:
    """The sdist of `version`, downloaded with pip unless cached."""
    downloads = CACHE / "sdist"
    found = sorted(downloads.glob(f"*-{version}.tar.gz"))
    if found:
        return found[0]
    if importlib.util.find_spec("pip") is None:
        raise RunnerError(
            f"pip is needed to download the {DISTRIBUTION} {version} sdist: install it "
            "in this environment (python -m ensurepip, or session.install('pip') in nox)"
        )
    downloads.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--disable-pip-version-check",
        "--no-deps",
        "--no-binary",
        ":all:",
        f"{DISTRIBUTION}=={version}",
        "--dest",
        str(downloads),
    ]
    print(f"downloading the {DISTRIBUTION} {version} sdist: {' '.join(command[2:])}", flush=True)
    if subprocess.run(command).returncode != 0:
        raise RunnerError(f"pip could not download the {DISTRIBUTION} {version} sdist")
    found = sorted(downloads.glob(f"*-{version}.tar.gz"))
    if not found:
        raise RunnerError(f"pip downloaded no *-{version}.tar.gz into {downloads}")
    return found[0]


def extract_tests(archive: Path, version: str) -> tuple[Path, list[str], list[str]]:
    """A fresh copy of the sdist's tests/ with the imports swapped: (its root,
    the test files kept, the files not ours to run with why)."""
    target = CACHE / f"tests-{version}"
    shutil.rmtree(target, ignore_errors=True)
    tests = target / "tests"
    tests.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            parts = Path(member.name).parts
            # <name>-<version>/tests/<file>.py: the top level of the tests folder.
            if len(parts) != 3 or parts[1] != "tests" or not member.isfile():
                continue
            if not parts[2].endswith(".py"):
                continue
            source = tar.extractfile(member)
            assert source is not None
            (tests / parts[2]).write_bytes(source.read())
    kept: list[str] = []
    skipped: list[str] = []
    for path in sorted(tests.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        if not path.name.startswith("test_"):
            path.write_text(swap_imports(text, path.name)[0], encoding="utf-8")
            continue
        rewritten, swapped = swap_imports(text, path.name)
        if swapped:
            path.write_text(rewritten, encoding="utf-8")
            kept.append(path.name)
            continue
        path.unlink()
        store = "langgraph.store" in text
        skipped.append(
            f"{path.name} ({'tests SqliteStore, which we do not ship' if store else 'uses no saver'})"
        )
    if not kept:
        raise RunnerError(f"no checkpointer tests found in {archive.name}")
    (target / "pytest.ini").write_text(PYTEST_INI, encoding="utf-8")
    return target, kept, skipped


def swap_imports(text: str, name: str) -> tuple[str, int]:
    """Point the public imports at fast_langgraph.sqlite; (new text, how many)."""
    if UNHANDLED_IMPORT.search(text):
        raise RunnerError(
            f"{name} imports langgraph.checkpoint.sqlite in a form this runner does not "
            "rewrite; extend PUBLIC_IMPORT rather than test langgraph's saver by mistake"
        )
    return PUBLIC_IMPORT.subn(
        lambda m: f"{m['indent']}from fast_langgraph.sqlite{m['aio'] or ''} import ", text
    )


def implementation_check() -> str:
    """The header line naming what runs; exits like the suite's conftest when
    FAST_LANGGRAPH_IMPL / FAST_LANGGRAPH_EXPECT_COMPILED ask for something else."""
    import fast_langgraph

    spec = importlib.util.spec_from_file_location(
        "fast_langgraph_suite_conftest", ROOT / "tests" / "conftest.py"
    )
    assert spec is not None and spec.loader is not None
    suite = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(suite)
    reason = suite.implementation_mismatch(
        os.environ.get("FAST_LANGGRAPH_IMPL", ""),
        os.environ.get("FAST_LANGGRAPH_EXPECT_COMPILED", ""),
        fast_langgraph.__impl__,
        fast_langgraph.ENGINE_COMPILED,
    )
    if reason is not None:
        print(f"wrong implementation loaded: {reason}", file=sys.stderr)
        sys.exit(3)
    engine = "compiled" if fast_langgraph.ENGINE_COMPILED else "interpreted"
    return f"fast-langgraph codec: {fast_langgraph.__impl__}, engine: {engine}"


def main(pytest_args: list[str]) -> int:
    header = implementation_check()
    try:
        version = installed_version()
        root, kept, skipped = extract_tests(sdist(version), version)
    except RunnerError as error:
        print(f"run_sqlite_tests: {error}", file=sys.stderr)
        return 4  # pytest's "usage error"
    deselected = left_out()
    print(f"{DISTRIBUTION} {version}'s tests against fast_langgraph.sqlite ({header})")
    print(f"  running:  {', '.join(kept)}")
    print(f"  not run:  {', '.join(skipped) or '-'}")
    print("  left out (tests/upstream/left_out.py):")
    for node, reason in deselected.items():
        print(f"    {node}: {reason}")
    sys.stdout.flush()
    command = [sys.executable, "-m", "pytest", "-c", str(root / "pytest.ini")]
    command += ["--rootdir", str(root), "-p", "no:cacheprovider"]
    for node in deselected:
        command += ["--deselect", node]
    return subprocess.run([*command, *pytest_args], cwd=root).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
