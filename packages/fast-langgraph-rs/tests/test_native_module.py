"""The built extension module: its API, that it carries no SQLite, and that
`probe()` names what the codec relies on when it is missing or changed."""

from __future__ import annotations

import gc
import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import fast_langgraph_rs
from fast_langgraph_rs import _native

NATIVE_FILE = Path(_native.__file__)
API = {"Codec", "dumps_metadata", "dumps_typed", "loads_metadata", "loads_typed", "probe"}


def tool_output(*command: str) -> str:
    if shutil.which(command[0]) is None:
        pytest.skip(f"{command[0]} is not installed")
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def test_the_api_is_exactly_the_codec() -> None:
    public = {name for name in vars(_native) if not name.startswith("_")}
    assert public == API
    assert _native.__version__ == fast_langgraph_rs.__version__
    assert set(fast_langgraph_rs.__all__) == API | {"__version__"}


def test_the_extension_links_no_sqlite_library() -> None:
    dynamic = tool_output("readelf", "-d", "--wide", str(NATIVE_FILE))
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dynamic)
    assert needed, "readelf found no NEEDED entries: not the file expected"
    assert not [library for library in needed if "sqlite" in library.lower()]


def test_the_extension_neither_uses_nor_carries_sqlite_symbols() -> None:
    for listing in (
        tool_output("readelf", "--dyn-syms", "--wide", str(NATIVE_FILE)),
        tool_output("nm", "-D", str(NATIVE_FILE)),
    ):
        assert "PyInit__native" in listing
        assert "sqlite3_" not in listing


@pytest.mark.parametrize("enabled", [True, False])
def test_decoding_leaves_the_garbage_collector_as_it_found_it(enabled: bool) -> None:
    """The decoder pauses the collector while it builds objects, and must restore it,
    also when the value comes from an ext hook that raises."""
    from langchain_core.messages import HumanMessage
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

    serde = JsonPlusSerializer()
    blob = serde.dumps_typed({"messages": [HumanMessage("hi")], "n": [1, 2]})

    def refuse(code: int, data: bytes) -> object:
        raise ValueError("refused")

    hooked = JsonPlusSerializer(__unpack_ext_hook__=refuse)
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        assert _native.loads_typed(serde, blob)["n"] == [1, 2]
        assert gc.isenabled() is enabled
        with pytest.raises(ValueError):
            _native.loads_typed(hooked, blob)
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()


def test_probe_finds_nothing_missing_here() -> None:
    assert fast_langgraph_rs.probe() is None  # type: ignore[func-returns-value]


@pytest.mark.parametrize("serde", [object(), None, "JsonPlusSerializer"])
def test_codec_refuses_what_is_not_a_jsonplus_serializer(serde: object) -> None:
    with pytest.raises(TypeError):
        fast_langgraph_rs.Codec(serde)  # type: ignore[arg-type]


# Each case breaks one name before first use, in a process of its own (the
# codec loads what it relies on once per process).
BROKEN = {
    "langgraph": (
        "import langgraph.checkpoint.serde._msgpack as m\n"
        "m.SAFE_MSGPACK_TYPES = list(m.SAFE_MSGPACK_TYPES)",
        ["langgraph: _msgpack.SAFE_MSGPACK_TYPES is list, expected a set"],
    ),
    "pydantic-base-model": (
        # After langchain-core and langgraph have imported the real one.
        "import langchain_core.messages, langgraph.checkpoint.serde.jsonplus, pydantic\n"
        "pydantic.BaseModel = type('NotPydantic', (), {})",
        [
            "pydantic: BaseModel.__pydantic_decorators__ missing",
            "pydantic: BaseModel.model_fields missing",
            "pydantic: BaseModel.__pydantic_fields_set__ missing",
        ],
    ),
    "pydantic-class": (
        "from langchain_core.messages import HumanMessage\nHumanMessage.__pydantic_post_init__ = 1",
        ["pydantic: HumanMessage.__pydantic_post_init__ is int, expected None or a str"],
    ),
    "langchain-core": (
        "import langchain_core.messages.ai as ai\ndel ai.UsageMetadata",
        ["langchain-core: messages.ai.UsageMetadata missing"],
    ),
}

CHECK = """
import json
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
import fast_langgraph_rs as native

serde = JsonPlusSerializer()
value = {
    "messages": [
        HumanMessage("hi", id="1"),
        AIMessage("yo", usage_metadata={"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}),
    ],
    "n": [1, 2.5, None, "x"],
}
typed = native.dumps_typed(serde, value)
try:
    native.probe()
    problem = None
except RuntimeError as exc:
    problem = str(exc)
print(json.dumps({
    "problem": problem,
    "same_bytes": typed == serde.dumps_typed(value),
    "same_value": native.loads_typed(serde, typed) == serde.loads_typed(typed),
}))
"""


@pytest.mark.parametrize("case", list(BROKEN))
def test_probe_names_what_is_missing_and_the_codec_still_matches(case: str) -> None:
    setup, expected = BROKEN[case]
    script = setup + "\n" + textwrap.dedent(CHECK)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["problem"] is not None
    for problem in expected:
        assert problem in outcome["problem"]
    # Nothing fails at run time: what cannot be done natively is done by langgraph.
    assert outcome["same_bytes"] and outcome["same_value"]
