"""What `nox -s dist` put into dist/, checked the way users will meet it.

    python tests/install_check.py dist

1. dist/ holds exactly: an sdist of each package; the codec as one abi3 wheel for
   manylinux2014 x86_64 and one for aarch64; the engine compiled for this Python
   (manylinux) and pure (py3-none-any); the meta package. Each wheel's WHEEL file
   says the tags its name says, and `auditwheel show` finds no library outside the
   manylinux policy in any platform wheel. The aarch64 wheel cannot run here: its
   tags and libraries are what is checked.
2. The third-party dependencies are pip-downloaded into a wheelhouse (at the versions
   the suite runs on, tests/requirements.txt), then clean virtualenvs install with
   --no-index, the very command README gives:
     "fast-langgraph[rust]" langgraph     native codec, compiled engine
     fast-langgraph langgraph             Python codec, compiled engine (pip prefers the
                                          wheel built for this Python over the pure one)
     <pure engine wheel> fast-langgraph langgraph
                                          Python codec, interpreted engine: what a Python
                                          without a compiled engine wheel gets
   Each then runs README's first example unchanged, in an empty directory.

An unrelated "fast-langgraph" is on PyPI: our packages never come from an index here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import venv
import zipfile
from collections.abc import Callable
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib
from typing import NoReturn

ROOT = Path(__file__).resolve().parent.parent
META_PYPROJECT = ROOT / "packages/fast-langgraph/pyproject.toml"
VERSION = tomllib.loads(META_PYPROJECT.read_text())["project"]["version"]
README = ROOT / "README.md"
SUITE_PINS = ROOT / "tests/requirements.txt"
WHEELHOUSE = ROOT / "build/wheelhouse"
OURS = ("fast-langgraph", "fast-langgraph-pure", "fast-langgraph-rs")
CODEC_ARCHS = ("x86_64", "aarch64")
# Both spellings of glibc 2.17, and the CPython 3.10 stable ABI.
CODEC_TAGS = "cp310-abi3-manylinux_2_17_{arch}", "cp310-abi3-manylinux2014_{arch}"
PYTHON_TAG = f"cp{sys.version_info.major}{sys.version_info.minor}"
HOST_ARCH = os.uname().machine

# Run inside each virtualenv: what got installed, from which wheel, and what loaded.
PROBE = """
import json
from importlib import metadata
import sys
import fast_langgraph

def wheel_tags(name):
    try:
        wheel = metadata.distribution(name).read_text("WHEEL") or ""
    except metadata.PackageNotFoundError:
        return None
    return sorted(line.split(":", 1)[1].strip() for line in wheel.splitlines() if line.startswith("Tag:"))

print(json.dumps({
    "impl": fast_langgraph.__impl__,
    "engine_compiled": fast_langgraph.ENGINE_COMPILED,
    "module": fast_langgraph.__file__,
    "versions": {name: metadata.version(name) if wheel_tags(name) is not None else None
                 for name in sys.argv[1:]},
    "tags": {name: wheel_tags(name) for name in sys.argv[1:]},
}))
"""


def fail(message: str) -> NoReturn:
    sys.exit(f"install check: {message}")


def step(message: str) -> None:
    print(f"\n== {message}", flush=True)


def wheel_filename_tags(wheel: Path | str) -> set[str]:
    """The tags a wheel's file name claims (compressed sets expanded); none for an sdist."""
    name = wheel.name if isinstance(wheel, Path) else wheel
    if not name.endswith(".whl"):
        return set()
    _name, _version, *_build, pythons, abis, platforms = name[: -len(".whl")].split("-")
    return {
        f"{py}-{abi}-{plat}"
        for py in pythons.split(".")
        for abi in abis.split(".")
        for plat in platforms.split(".")
    }


def wheel_file_tags(wheel: Path) -> set[str]:
    """The tags the wheel's own WHEEL file declares."""
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/WHEEL")]
        text = archive.read(name).decode()
    return {line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Tag:")}


def requires_dist(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        text = archive.read(name).decode()
    return [
        line.split(":", 1)[1].strip()
        for line in text.splitlines()
        if line.startswith("Requires-Dist:")
    ]


def distribution_name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match is not None, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def sdist_name(dist: str) -> str:
    return f"{dist.replace('-', '_')}-{VERSION}.tar.gz"


class Dist:
    """dist/'s files, each one identified, nothing unaccounted for."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._files = {path.name: path for path in folder.iterdir()}
        self.named: dict[str, Path] = {}
        self.sdists = {
            dist: self._take_exact(f"the sdist of {dist}", sdist_name(dist)) for dist in OURS
        }
        self.meta = self._take_exact(
            "the meta package's wheel", f"fast_langgraph-{VERSION}-py3-none-any.whl"
        )
        self.engine_pure = self._take_exact(
            "the pure engine wheel", f"fast_langgraph_pure-{VERSION}-py3-none-any.whl"
        )
        compiled = re.compile(rf"{PYTHON_TAG}-{PYTHON_TAG}-manylinux_\d+_\d+_{HOST_ARCH}")
        self.engine_compiled = self._take(
            f"the compiled engine wheel ({PYTHON_TAG}, manylinux {HOST_ARCH})",
            lambda name: (
                name.startswith(f"fast_langgraph_pure-{VERSION}-")
                and any(compiled.fullmatch(tag) for tag in wheel_filename_tags(name))
            ),
        )
        self.codec = {arch: self._take_codec(arch) for arch in CODEC_ARCHS}
        if self._files:
            fail(f"dist/ holds files nothing accounts for: {sorted(self._files)}")

    def _take(self, what: str, matches: Callable[[str], bool]) -> Path:
        for name in sorted(self._files):
            if matches(name):
                self.named[what] = self._files[name]
                return self._files.pop(name)
        fail(f"dist/ lacks {what}; it holds {sorted(p.name for p in self.folder.iterdir())}")

    def _take_exact(self, what: str, filename: str) -> Path:
        return self._take(what, lambda name: name == filename)

    def _take_codec(self, arch: str) -> Path:
        tags = {tag.format(arch=arch) for tag in CODEC_TAGS}
        return self._take(
            f"the codec wheel ({' and '.join(sorted(tags))})",
            lambda name: (
                name.startswith(f"fast_langgraph_rs-{VERSION}-")
                and tags <= wheel_filename_tags(name)
            ),
        )

    def platform_wheels(self) -> list[Path]:
        return [self.engine_compiled, *self.codec.values()]

    def wheels(self) -> list[Path]:
        return [self.meta, self.engine_pure, *self.platform_wheels()]


def check_files(dist: Dist) -> None:
    step(f"dist/ (version {VERSION})")
    width = max(len(path.name) for path in dist.named.values())
    for path in dist.named.values():
        if path.suffix == ".whl":
            tags = wheel_filename_tags(path)
            declared = wheel_file_tags(path)
            if declared != tags:
                fail(f"{path.name}: its WHEEL file declares {sorted(declared)}")
            described = ", ".join(sorted(tags))
        else:
            described = "sdist"
        print(f"{path.name:<{width}}  {path.stat().st_size:>9,} bytes  {described}")


def check_auditwheel(dist: Dist) -> None:
    """No library outside the policy, and the tag the file claims is one auditwheel allows."""
    auditwheel = [sys.executable, "-m", "auditwheel"]
    for wheel in dist.platform_wheels():
        step(f"auditwheel show {wheel.name}")
        subprocess.run([*auditwheel, "show", str(wheel)], check=True)
        report = json.loads(
            subprocess.run(
                [*auditwheel, "show", "--json", str(wheel)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        if report["external_libs"]:
            fail(f"{wheel.name} needs libraries outside the policy: {report['external_libs']}")
        platforms = {tag.split("-")[2] for tag in wheel_filename_tags(wheel)}
        if report["overall_tag"] not in platforms:
            fail(
                f"{wheel.name}: auditwheel allows {report['overall_tag']}, the file claims {platforms}"
            )


def suite_pins() -> list[str]:
    """`name==version` lines of the suite's requirements: the versions installed here."""
    pins = []
    for line in SUITE_PINS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line and not line.startswith("-"):
            # pip takes no extras in a constraint: psycopg[binary]==X constrains psycopg.
            pins.append(re.sub(r"\[[^\]]*\]", "", line))
    return pins


def download_wheelhouse(dist: Dist) -> Path:
    """The third-party wheels our wheels need, plus langgraph (README's install line)."""
    requirements = ["langgraph"]
    for wheel in dist.wheels():
        for requirement in requires_dist(wheel):
            if distribution_name(requirement) not in OURS:
                # The extras' requirements too ([postgres]), without their marker.
                requirements.append(re.sub(r";\s*extra\s*==.*$", "", requirement))
    requirements = sorted(set(requirements))
    step(f"pip download into {WHEELHOUSE.relative_to(ROOT)}: {', '.join(requirements)}")
    shutil.rmtree(WHEELHOUSE, ignore_errors=True)
    WHEELHOUSE.mkdir(parents=True)
    constraints = WHEELHOUSE / "constraints.txt"
    constraints.write_text("\n".join(suite_pins()) + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--only-binary=:all:",
            "--dest",
            str(WHEELHOUSE),
            "-c",
            str(constraints),
            *requirements,
        ],
        check=True,
    )
    constraints.unlink()
    ours = [p.name for p in WHEELHOUSE.iterdir() if distribution_name(p.name) in OURS]
    if ours:
        fail(f"the wheelhouse must hold no package of ours: {ours}")
    print(f"{len(list(WHEELHOUSE.iterdir()))} wheels")
    return WHEELHOUSE


def readme_example() -> tuple[str, list[str]]:
    """README's first python block, and what it prints (its `print(...)  # output` comments)."""
    match = re.search(r"^```python\n(.*?)^```", README.read_text(), re.DOTALL | re.MULTILINE)
    if match is None:
        fail("README.md has no python code block")
    code = match.group(1)
    expected = re.findall(r"^\s*print\(.*\)\s+#\s*(.+)$", code, re.MULTILINE)
    return code, [line.strip() for line in expected]


def clean_env() -> dict[str, str]:
    """This process's environment without what would steer the import or the selector."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FAST_LANGGRAPH_", "PYTHON", "PIP_")) and key != "VIRTUAL_ENV"
    }
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def check_install(
    dist: Dist,
    wheelhouse: Path,
    label: str,
    requirements: list[str],
    expect: dict[str, object],
) -> None:
    step(f"clean virtualenv: pip install --no-index {' '.join(requirements)}")
    started = time.monotonic()
    env = clean_env()
    with tempfile.TemporaryDirectory(prefix="fast-langgraph-install-") as tmp:
        env_dir = Path(tmp) / "venv"
        venv.create(env_dir, with_pip=True)
        python = str(env_dir / "bin" / "python")
        subprocess.run(
            [
                python,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-index",
                "--find-links",
                str(dist.folder),
                "--find-links",
                str(wheelhouse),
                *requirements,
            ],
            check=True,
            env=env,
            cwd=tmp,
        )
        work = Path(tmp) / "work"
        work.mkdir()
        probe = subprocess.run(
            [python, "-c", PROBE, *OURS],
            check=True,
            capture_output=True,
            text=True,
            env=env,
            cwd=work,
        )
        found = json.loads(probe.stdout)
        if not Path(found["module"]).is_relative_to(env_dir):
            fail(f"{label}: fast_langgraph imported from {found['module']}, not the virtualenv")
        for name, tags in found["tags"].items():
            if tags is not None:
                print(f"  {name} {found['versions'][name]} from the {' '.join(tags)} wheel")
        print(
            f"  fast_langgraph.__impl__ = {found['impl']!r}, ENGINE_COMPILED = {found['engine_compiled']}"
        )
        problems = [
            f"{key} is {found[key]!r}, expected {value!r}"
            for key, value in expect.items()
            if key != "tags" and found[key] != value
        ]
        expected_tags = expect["tags"]
        assert isinstance(expected_tags, dict)
        for name in OURS:
            want = expected_tags.get(name)
            got = found["tags"][name]
            if (None if want is None else sorted(want)) != got:
                problems.append(f"{name} installed from the wheel tagged {got}, expected {want}")
        if any(version not in (None, VERSION) for version in found["versions"].values()):
            problems.append(f"versions {found['versions']}, expected {VERSION}")
        if problems:
            fail(f"{label}: " + "; ".join(problems))

        code, expected_output = readme_example()
        (work / "example.py").write_text(code)
        run = subprocess.run(
            [python, "example.py"], capture_output=True, text=True, env=env, cwd=work
        )
        if run.returncode != 0:
            fail(f"{label}: README's example failed:\n{run.stdout}{run.stderr}")
        output = run.stdout.splitlines()
        if output[-len(expected_output) :] != expected_output or not expected_output:
            fail(f"{label}: README's example printed {output}, its comments say {expected_output}")
        print(f"  README's example printed {output}, as its comments say")
    print(f"  {label}: ok ({time.monotonic() - started:.0f} s)")


def main() -> None:
    started = time.monotonic()
    dist = Dist(Path(sys.argv[1]).resolve())
    check_files(dist)
    check_auditwheel(dist)
    wheelhouse = download_wheelhouse(dist)
    compiled = wheel_filename_tags(dist.engine_compiled)
    codec = wheel_filename_tags(dist.codec[HOST_ARCH])
    pure = wheel_filename_tags(dist.engine_pure)
    meta = {"py3-none-any"}
    check_install(
        dist,
        wheelhouse,
        "fast-langgraph[rust]",
        ["fast-langgraph[rust]", "langgraph"],
        {
            "impl": "rust",
            "engine_compiled": True,
            "tags": {
                "fast-langgraph": meta,
                "fast-langgraph-pure": compiled,
                "fast-langgraph-rs": codec,
            },
        },
    )
    check_install(
        dist,
        wheelhouse,
        "fast-langgraph",
        ["fast-langgraph", "langgraph"],
        {
            "impl": "python",
            "engine_compiled": True,
            "tags": {"fast-langgraph": meta, "fast-langgraph-pure": compiled},
        },
    )
    check_install(
        dist,
        wheelhouse,
        "fast-langgraph with the pure engine wheel",
        [str(dist.engine_pure), "fast-langgraph", "langgraph"],
        {
            "impl": "python",
            "engine_compiled": False,
            "tags": {"fast-langgraph": meta, "fast-langgraph-pure": pure},
        },
    )
    print(f"\ninstall check passed in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
