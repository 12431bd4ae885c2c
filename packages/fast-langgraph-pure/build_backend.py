"""setuptools' build backend, plus mypy as a build requirement when the build
compiles with mypyc (FAST_LANGGRAPH_MYPYC=1), so a pure build needs nothing extra."""

from __future__ import annotations

import os

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F403  (re-export the whole PEP 517 backend)

# The mypy the code is checked with; mypyc ships inside it.
MYPYC_REQUIREMENT = "mypy[mypyc]==2.4.*"


# setuptools answers these by running setup.py, which needs mypyc when compiling:
# that is the very requirement being asked about, so answer without running it.
def get_requires_for_build_wheel(config_settings=None):  # type: ignore[no-untyped-def]
    if os.environ.get("FAST_LANGGRAPH_MYPYC") == "1":
        return [MYPYC_REQUIREMENT]
    return _setuptools.get_requires_for_build_wheel(config_settings)


def get_requires_for_build_editable(config_settings=None):  # type: ignore[no-untyped-def]
    if os.environ.get("FAST_LANGGRAPH_MYPYC") == "1":
        return [MYPYC_REQUIREMENT]
    return _setuptools.get_requires_for_build_editable(config_settings)
