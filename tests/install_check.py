"""Install the built wheels as a user would, in clean virtualenvs, and run a graph.

    python tests/install_check.py build/wheels

`fast-langgraph[rust]` must run the native codec; plain `fast-langgraph` the Python one.
Our wheels come only from the given folder (an unrelated "fast-langgraph" is on PyPI).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import venv
from pathlib import Path

import tomllib

META_PYPROJECT = Path(__file__).resolve().parent.parent / "packages/fast-langgraph/pyproject.toml"
VERSION = tomllib.loads(META_PYPROJECT.read_text())["project"]["version"]

GRAPH_FROM_THE_DOCS = """
import sqlite3, sys
from typing import Annotated, TypedDict
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import START, StateGraph
from langgraph.graph.message import add_messages
import fast_langgraph
from fast_langgraph import RustSQLiteCheckpointer

class State(TypedDict):
    messages: Annotated[list, add_messages]

def reply(state: State) -> dict:
    return {"messages": [AIMessage(f"you said {state['messages'][-1].content}")]}

builder = StateGraph(State)
builder.add_node("reply", reply)
builder.add_edge(START, "reply")
with RustSQLiteCheckpointer.from_conn_string(sys.argv[1]) as saver:
    graph = builder.compile(checkpointer=saver)
    config = {"configurable": {"thread_id": "1"}}
    graph.invoke({"messages": [HumanMessage("hi")]}, config)
    graph.invoke({"messages": [HumanMessage("again")]}, config)
    assert len(graph.get_state(config).values["messages"]) == 4
print(fast_langgraph.__impl__)
"""

# Our wheels install with --no-index: their other dependencies come first.
THIRD_PARTY = ["langgraph==1.2.22", "langgraph-checkpoint==4.3.2", "rich==15.0.0"]


def check(wheels: Path, requirement: str, expected_impl: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env_dir = Path(tmp) / "venv"
        venv.create(env_dir, with_pip=True)
        python = str(env_dir / "bin" / "python")
        pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, *THIRD_PARTY], check=True)
        subprocess.run([*pip, "--no-index", "--find-links", str(wheels), requirement], check=True)
        script = Path(tmp) / "graph.py"
        script.write_text(GRAPH_FROM_THE_DOCS)
        result = subprocess.run(
            [python, str(script), str(Path(tmp) / "checkpoints.db")],
            check=True,
            capture_output=True,
            text=True,
            cwd=tmp,
        )
        impl = result.stdout.strip().splitlines()[-1]
        if impl != expected_impl:
            sys.exit(f"{requirement}: expected implementation {expected_impl!r}, got {impl!r}")
        print(f"{requirement}: ran the graph with the {impl} codec")


def main() -> None:
    wheels = Path(sys.argv[1]).resolve()
    check(wheels, f"fast-langgraph[rust]=={VERSION}", "rust")
    check(wheels, f"fast-langgraph=={VERSION}", "python")


if __name__ == "__main__":
    main()
