"""The matrix driver: every check a contributor or CI runs is a session here.

    nox -s lint                    ruff, mypy --strict, stubtest, cargo fmt/clippy/test
    nox -s tests                   the suite once per implementation (rust, pure-compiled, pure)
    nox -s "tests(impl='rust')"    one implementation
    nox -s install_check           built wheels in clean venvs: [rust] gives rust, plain gives pure
    nox -s bench                   the side-by-side benchmark, writes docs/benchmarks.md
    nox -s demo                    the demo

The implementation is a nox axis (what gets installed plus FAST_LANGGRAPH_IMPL), not a
pytest parameter. Our packages are always installed from this tree with --no-deps:
an unrelated "fast-langgraph" exists on PyPI and must never be picked up.
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "tests", "install_check", "bench_smoke"]
nox.options.reuse_existing_virtualenvs = True

ROOT = Path(__file__).parent
META = "./packages/fast-langgraph"
PURE = "./packages/fast-langgraph-pure"
RUST = "./packages/fast-langgraph-rs"
TEST_REQUIREMENTS = "tests/requirements.txt"
IMPLEMENTATIONS = ["rust", "pure-compiled", "pure"]


def _install_ours(session: nox.Session, impl: str) -> None:
    """Install the engine for `impl` and the public package, from this tree."""
    session.install("-r", TEST_REQUIREMENTS)
    if impl == "rust":
        session.install("maturin>=1.7,<2")
        session.install("--no-deps", "--reinstall", PURE)
        session.install("--no-deps", "--reinstall", RUST)
    else:
        compiled = "1" if impl == "pure-compiled" else "0"
        session.install("--no-deps", "--reinstall", PURE, env={"FAST_LANGGRAPH_MYPYC": compiled})
    session.install("--no-deps", "--reinstall", META)


def _impl_env(impl: str) -> dict[str, str]:
    env = {"FAST_LANGGRAPH_IMPL": "rust" if impl == "rust" else "pure"}
    if impl != "rust":
        env["FAST_LANGGRAPH_EXPECT_COMPILED"] = "1" if impl == "pure-compiled" else "0"
    return env


@nox.session
@nox.parametrize("impl", IMPLEMENTATIONS)
def tests(session: nox.Session, impl: str) -> None:
    """The whole suite, official conformance included, against one implementation."""
    _install_ours(session, impl)
    paths = ["tests"]
    if impl == "rust":
        paths.append(f"{RUST}/tests")  # the native codec's corpus test
    session.run("python", "-m", "pytest", *paths, *session.posargs, env=_impl_env(impl))


@nox.session
def lint(session: nox.Session) -> None:
    """Style and types for Python and Rust; Rust unit tests of the storage layer."""
    _install_ours(session, "rust")
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


@nox.session
def install_check(session: nox.Session) -> None:
    """Wheels as users get them: [rust] selects rust, without the extra pure."""
    dist = ROOT / "build" / "wheels"
    session.install("maturin>=1.7,<2", "build")
    for old in dist.glob("*.whl"):
        old.unlink()
    session.run("python", "-m", "build", "--wheel", "--outdir", str(dist), PURE)
    session.run("python", "-m", "build", "--wheel", "--outdir", str(dist), META)
    session.run("maturin", "build", "--release", "--out", str(dist), "-m", f"{RUST}/Cargo.toml")
    session.run("python", "tests/install_check.py", str(dist))


@nox.session
def bench(session: nox.Session) -> None:
    """The full side-by-side benchmark; writes docs/benchmarks.md and the chart."""
    _install_ours(session, "rust")
    session.install("-r", "benchmarks/requirements.txt")
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session
def bench_smoke(session: nox.Session) -> None:
    """Seconds-long run that proves the harness works; asserts no speed."""
    _install_ours(session, "rust")
    session.install("-r", "benchmarks/requirements.txt")
    session.run("python", "-m", "benchmarks", "--smoke")


@nox.session
def demo(session: nox.Session) -> None:
    """The demo: persistence, users, time travel, cleanup, and a timing."""
    _install_ours(session, "rust")
    session.run("python", "demo/demo.py", env={"FAST_LANGGRAPH_IMPL": "rust"})
