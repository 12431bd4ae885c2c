"""Every example in README.md and docs/*.md runs, so the user guide cannot rot.

What is collected, one pytest case each (id = `file:line` of the opening fence):
- ```python blocks: written to a script named after the block and run as
  `python <script>` in a new process, so relative paths such as "quickstart.db"
  land in the folder it runs in. Any exception (or a non-zero exit) fails. A block
  fenced ```python no-run is skipped: reserved for code that cannot run here.
- ```console blocks containing lines that start with `$ fast-langgraph`: they show
  the command line tool working on the database an example just made, so the
  nearest ```python block above them in the same file must have run first, in the
  same folder (it is run then if it has not); then each `$ fast-langgraph ...`
  line runs in turn and must exit 0. Other lines (output, comments) are ignored.

Every example runs in ONE shared folder, in the order of the pages: a reader who
runs them all in one folder must not see one example trip over another's file
or thread. So each example uses its own file names and thread ids, which
`test_examples_use_their_own_files_and_threads` also checks by reading them.

The examples run with this interpreter and the environment of the test run
(`FAST_LANGGRAPH_IMPL` included), relative PYTHONPATH entries made absolute.
An example that mentions `DATABASE_URL` (docs/postgres.md) also gets that variable:
the URL of a database of the test server (the `postgres` fixture), one for the
whole run; `$DATABASE_URL` in a console line is replaced by it.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest

from fast_langgraph.saver import STORAGE_ENV

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
DOC_FILES: Final = [*sorted((REPO_ROOT / "docs").glob("*.md")), REPO_ROOT / "README.md"]
EXAMPLE_TIMEOUT_SECONDS: Final = 120
CLI_PREFIX: Final = "$ fast-langgraph"
# Runs the console script's entry point without needing it installed on PATH.
CLI_RUNNER: Final = (
    "import sys; from fast_langgraph.cli import main; "
    "sys.argv[0] = 'fast-langgraph'; sys.exit(main())"
)
# An opening fence, possibly indented (inside a list item): its language and options.
FENCE_OPEN: Final = re.compile(r"^(?P<indent>[ \t]*)```(?P<info>[^`]*)$")
# File names and thread ids as examples spell them out.
DB_FILE_NAME: Final = re.compile(r"""["']([\w.-]+\.(?:db|sqlite))["']""")
THREAD_ID: Final = re.compile(r"""["']thread_id["']\s*:\s*f?["']([^"'{}]+)["']""")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    language: str  # "python" or "console"
    options: tuple[str, ...]  # words after the language, e.g. ("no-run",)
    code: str

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(REPO_ROOT)}:{self.line}"

    @property
    def script_name(self) -> str:
        return f"{self.path.stem}_{self.line}.py"


def _blocks(path: Path) -> list[Block]:
    """Fenced code blocks of a Markdown file, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        opening = FENCE_OPEN.match(lines[i])
        if opening is None:
            i += 1
            continue
        words = opening["info"].split()
        indent = opening["indent"]
        body: list[str] = []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i])
            i += 1
        if words:
            code = textwrap.dedent("\n".join(body)) + "\n"
            start = i - len(body)  # 1-based line of the opening fence
            blocks.append(Block(path, start, words[0], tuple(words[1:]), code))
        i += 1  # past the closing fence
    return blocks


def _cli_commands(block: Block) -> list[list[str]]:
    return [
        shlex.split(line.strip()[2:])[1:]
        for line in block.code.splitlines()
        if line.strip().startswith(CLI_PREFIX + " ") or line.strip() == CLI_PREFIX
    ]


def _collect() -> list[tuple[Block, Block | None]]:
    """(block to run, python block to run before it) for every runnable block."""
    cases: list[tuple[Block, Block | None]] = []
    for path in DOC_FILES:
        if not path.exists():
            continue
        last_python: Block | None = None
        for block in _blocks(path):
            if block.language == "python":
                cases.append((block, None))
                if "no-run" not in block.options:
                    last_python = block
            elif block.language == "console" and _cli_commands(block):
                cases.append((block, last_python))
    return cases


CASES: Final = _collect()


# Variables some examples need (DATABASE_URL), set by the fixture that provides them.
EXTRA_ENVIRONMENT: dict[str, str] = {}
POSTGRES_VARIABLE: Final = "DATABASE_URL"


def _environment() -> dict[str, str]:
    env = {**os.environ, **EXTRA_ENVIRONMENT}
    # What a reader gets: new files in the default layout, whatever the session's
    # (docs/compact.md asks for compact storage itself).
    env.pop(STORAGE_ENV, None)
    entries = [e for e in env.get("PYTHONPATH", "").split(os.pathsep) if e]
    env["PYTHONPATH"] = os.pathsep.join(str(Path(e).resolve()) for e in entries)
    return env


def _run(command: list[str], cwd: Path, what: str) -> None:
    result = subprocess.run(
        command,
        cwd=cwd,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=EXAMPLE_TIMEOUT_SECONDS,
    )
    if result.returncode != 0:
        pytest.fail(
            f"{what} exited with {result.returncode}\n"
            f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}",
            pytrace=False,
        )


def _run_python(block: Block, cwd: Path) -> None:
    script = cwd / block.script_name
    script.write_text(block.code, encoding="utf-8")
    _run([sys.executable, str(script)], cwd, f"example {block.id}")


class SharedFolder:
    """The one folder every example runs in, and which python blocks ran there."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.ran: set[str] = set()

    def run_python(self, block: Block) -> None:
        self.ran.add(block.id)  # also when it fails: running it twice would hide why
        _run_python(block, self.path)


@pytest.fixture(scope="module")
def shared_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedFolder]:
    yield SharedFolder(tmp_path_factory.mktemp("docs-examples"))


def test_docs_have_examples() -> None:
    # Guards the collector itself: a parsing bug must not silently run nothing.
    assert sum(1 for block, _ in CASES if block.language == "python") >= 10


def test_examples_use_their_own_files_and_threads() -> None:
    """No two examples name the same database file or thread id, so they can all
    run in one folder (a console block works on its python block's file)."""
    files: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    for block, _setup in CASES:
        if block.language == "python" and "no-run" not in block.options:
            files.update(set(DB_FILE_NAME.findall(block.code)))
            threads.update(set(THREAD_ID.findall(block.code)))
    assert len(files) >= 10 and len(threads) >= 10  # the patterns still find them
    assert [name for name, count in files.items() if count > 1] == []
    assert [name for name, count in threads.items() if count > 1] == []


@pytest.fixture(scope="module")
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """DATABASE_URL for the examples that use PostgreSQL: a fresh database."""
    server = request.getfixturevalue("postgres")
    url = str(server.create_database("docs_examples"))
    EXTRA_ENVIRONMENT[POSTGRES_VARIABLE] = url
    yield url
    EXTRA_ENVIRONMENT.pop(POSTGRES_VARIABLE, None)
    server.drop_database("docs_examples")


@pytest.mark.parametrize(("block", "setup"), CASES, ids=[block.id for block, _ in CASES])
def test_example_runs(
    block: Block, setup: Block | None, shared_folder: SharedFolder, request: pytest.FixtureRequest
) -> None:
    if "no-run" in block.options:
        pytest.skip("fenced as no-run: cannot run in a test")
    if any(POSTGRES_VARIABLE in b.code for b in (block, setup) if b is not None):
        request.getfixturevalue("database_url")
    if block.language == "python":
        shared_folder.run_python(block)
        return
    if setup is not None and setup.id not in shared_folder.ran:
        shared_folder.run_python(setup)  # this case was selected on its own (-k)
    for args in _cli_commands(block):
        args = [
            arg.replace(f"${POSTGRES_VARIABLE}", _environment().get(POSTGRES_VARIABLE, ""))
            for arg in args
        ]
        _run(
            [sys.executable, "-c", CLI_RUNNER, *args],
            shared_folder.path,
            f"`fast-langgraph {shlex.join(args)}` of {block.id}",
        )
