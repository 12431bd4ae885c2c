"""Long conversation: one thread of the 3-node graph for 200 turns, every saver side by side.

Each turn is one invoke of the `graph.py` graph (the human question as input, then
`agent`, `tools` and `answer` each add a message): 800 messages after 200 turns,
about 0.47 MB of distinct message data as jsonplus stores them. With `add_messages`
every checkpoint holds the whole list, so the file and each call grow with the
conversation; with the messages in a `DeltaChannel` a checkpoint stores only what
changed, and loading the state walks back to the last snapshot
(`get_delta_channel_history`); with compact storage (`storage="compact"`, the graph
unchanged) each distinct message is stored once per thread.

Every contender runs in this one process, at equal durability (WAL with
`synchronous=NORMAL`, read back from each connection), each on a file of its own;
turn by turn each takes its invoke in an order rotated every turn, so machine noise
hits them alike. A round is a whole conversation on fresh files; the medians pool
the rounds. After the last turn, `get_delta_channel_history` of the newest
checkpoint is timed alone, ours and SqliteSaver's calls alternating.

    python -m benchmarks.long_conversation            # 200 turns, 3 rounds: writes its
                                                      # section of docs/benchmarks.md and
                                                      # docs/long-conversation.png
    python -m benchmarks.long_conversation --quick    # 20 turns, 1 round; prints the section

`python -m benchmarks` runs it too (phase `long_conversation`, in a subprocess of
its own, `--quick` with `--smoke`). Contenders are `CONTENDERS`: add one there; one
whose `unavailable()` gives a reason is skipped with that reason in the report.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shlex
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Annotated, Any, Final, TypedDict

from langchain_core.messages import BaseMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

from benchmarks.sections import replace_section
from benchmarks.states import conversation_turn
from benchmarks.stats import Summary, summarize

if TYPE_CHECKING:
    from benchmarks.runner import Run

SECTION_TITLE: Final = "## Long conversation"
CHART_NAME: Final = "long-conversation.png"
REPO_ROOT: Final = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
THREAD: Final = "conversation"
# The tool result's length: 800 messages then hold about 0.47 MB of distinct data.
TOOL_OUTPUT_CHARS: Final = 760


@dataclass(frozen=True)
class Plan:
    turns: int
    rounds: int
    history_reps: int  # get_delta_channel_history calls per saver per round


FULL: Final = Plan(turns=200, rounds=3, history_reps=15)
QUICK: Final = Plan(turns=20, rounds=1, history_reps=3)


def buckets(turns: int) -> list[tuple[int, int]]:
    """The turns (1-based, inclusive) whose invokes are summarized: the first ten,
    the ten up to the middle and the last ten (fewer with fewer turns)."""
    width = min(10, max(1, turns // 2))
    middle = max(width, turns // 2)
    found: list[tuple[int, int]] = []
    for last in (width, middle, turns):
        span = (last - width + 1, last)
        if span not in found:
            found.append(span)
    return found


def bucket_label(span: tuple[int, int]) -> str:
    return f"{span[0]}-{span[1]}"


# -- the graph ------------------------------------------------------------------


class PlainState(TypedDict):
    messages: Annotated[list[BaseMessage], add_messages]
    turn: int


try:
    from langgraph.channels.delta import DeltaChannel
    from langgraph.graph.message import _messages_delta_reducer

    class DeltaState(TypedDict):
        messages: Annotated[list[BaseMessage], DeltaChannel(_messages_delta_reducer)]
        turn: int

    NO_DELTA_CHANNEL: str | None = None
except ImportError as missing:  # a langgraph without DeltaChannel
    NO_DELTA_CHANNEL = f"this langgraph has no DeltaChannel ({missing})"


def _node(position: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def node(state: dict[str, Any]) -> dict[str, Any]:
        return {"messages": [conversation_turn(state["turn"], TOOL_OUTPUT_CHARS)[position]]}

    return node


def build_graph(checkpointer: Any, delta: bool) -> Any:
    builder = StateGraph(DeltaState if delta else PlainState)
    builder.add_node("agent", _node(1))
    builder.add_node("tools", _node(2))
    builder.add_node("answer", _node(3))
    builder.add_edge(START, "agent")
    builder.add_edge("agent", "tools")
    builder.add_edge("tools", "answer")
    builder.add_edge("answer", END)
    return builder.compile(checkpointer=checkpointer)


def turn_input(turn: int) -> dict[str, Any]:
    return {"messages": [conversation_turn(turn, TOOL_OUTPUT_CHARS)[0]], "turn": turn}


def distinct_message_bytes(turns: int) -> int:
    """The conversation's messages as jsonplus stores each one, summed."""
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

    serde = JsonPlusSerializer()
    return sum(
        len(serde.dumps_typed(message)[1])
        for turn in range(turns)
        for message in conversation_turn(turn, TOOL_OUTPUT_CHARS)
    )


# -- the contenders ---------------------------------------------------------------


def _sqlite_saver(path: str) -> Any:
    from langgraph.checkpoint.sqlite import SqliteSaver

    # As SqliteSaver.from_conn_string opens it, at synchronous=NORMAL; setup()
    # switches the file to WAL.
    conn = sqlite3.connect(path, check_same_thread=False)
    conn.execute("PRAGMA synchronous=NORMAL")
    saver = SqliteSaver(conn)
    saver.setup()
    return saver


def _ours(path: str) -> Any:
    from fast_langgraph import RustSQLiteCheckpointer

    return RustSQLiteCheckpointer(path)  # WAL, synchronous=NORMAL: the defaults


def _ours_compact(path: str) -> Any:
    from fast_langgraph import RustSQLiteCheckpointer

    return RustSQLiteCheckpointer(path, storage="compact")


def _delta_unavailable() -> str | None:
    return NO_DELTA_CHANNEL


@dataclass(frozen=True)
class Contender:
    name: str
    delta: bool  # the messages in a DeltaChannel, else add_messages
    open: Callable[[str], Any] | None  # a saver on this path; None: no checkpointer
    # Why this process cannot run it (None: it can); the report says so.
    unavailable: Callable[[], str | None] = lambda: None
    # Its part in the single-operation row: "reference", "ours" or "".
    history: str = ""


SQLITESAVER: Final = "SqliteSaver"
COMPACT: Final = "ours, compact storage"
# What compact storage is measured against at the last turns (issue 12's targets):
# (contender, how the ratio is read).
COMPACT_REFERENCES: Final = (
    (SQLITESAVER, "of SqliteSaver's"),
    ("ours", "of our default layout's"),
    ("SqliteSaver + DeltaChannel", "of SqliteSaver with DeltaChannel's"),
)
CONTENDERS: Final = (
    Contender(SQLITESAVER, False, _sqlite_saver),
    Contender("ours", False, _ours),
    Contender(COMPACT, False, _ours_compact),
    Contender(
        "SqliteSaver + DeltaChannel", True, _sqlite_saver, _delta_unavailable, history="reference"
    ),
    Contender("ours + DeltaChannel", True, _ours, _delta_unavailable, history="ours"),
    Contender("no checkpointer", False, None),
)


def reference_of(contender: Contender) -> str | None:
    """The SqliteSaver row a contender is compared with: same channel type."""
    if contender.open is None or contender.open is _sqlite_saver:
        return None
    return next(
        c.name for c in CONTENDERS if c.open is _sqlite_saver and c.delta == contender.delta
    )


def _close(saver: Any) -> None:
    close = getattr(saver, "close", None)
    if close is not None:
        close()
    else:
        saver.conn.close()


def durability_of(saver: Any) -> str:
    """What the saver's connection runs: "WAL, synchronous=NORMAL" and the like."""
    conn = saver.conn
    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    level = conn.execute("PRAGMA synchronous").fetchone()[0]
    names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
    return f"{str(mode).upper()}, synchronous={names.get(level, level)}"


def file_bytes(path: str) -> int:
    """The database file alone, after its WAL is folded in."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return os.path.getsize(path)


# -- measuring -------------------------------------------------------------------


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in name).strip("-")


def _log(message: str) -> None:
    print(f"[long-conversation {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _history_values(history: Any) -> tuple[list[Any], Any]:
    entry = history["messages"]
    seed = entry.get("seed")
    return [write[2] for write in entry["writes"]], getattr(seed, "value", seed)


def measure(plan: Plan, workdir: str) -> dict[str, Any]:
    """Every available contender through `plan.turns` turns, `plan.rounds` times."""
    import fast_langgraph

    skipped: dict[str, str] = {}
    contenders: list[Contender] = []
    for contender in CONTENDERS:
        reason = contender.unavailable()
        if reason:
            skipped[contender.name] = reason
            _log(f"skipping {contender.name}: {reason}")
        else:
            contenders.append(contender)
    inputs = [turn_input(turn) for turn in range(plan.turns)]
    config = {"configurable": {"thread_id": THREAD}}
    load_before = os.getloadavg()[0]
    invoke_ms: dict[str, list[list[float]]] = {c.name: [] for c in contenders}  # [round][turn]
    sizes: dict[str, list[int]] = {c.name: [] for c in contenders if c.open is not None}
    durability: dict[str, str] = {}
    history_ms: dict[str, list[float]] = {}
    history_shape: dict[str, int] = {}
    for round_index in range(plan.rounds):
        _log(f"round {round_index + 1} of {plan.rounds}: {plan.turns} turns")
        opened: list[tuple[Contender, Any, Any, str]] = []
        for contender in contenders:
            path = os.path.join(workdir, f"{round_index}-{_slug(contender.name)}.db")
            saver = contender.open(path) if contender.open is not None else None
            if saver is not None:
                durability[contender.name] = durability_of(saver)
            opened.append((contender, saver, build_graph(saver, contender.delta), path))
            invoke_ms[contender.name].append([])
        gc.collect()
        for turn, payload in enumerate(inputs):
            shift = (turn + round_index) % len(opened)
            for contender, saver, graph, _ in opened[shift:] + opened[:shift]:
                started = time.perf_counter()
                graph.invoke(payload, config if saver is not None else None)
                invoke_ms[contender.name][-1].append((time.perf_counter() - started) * 1e3)
            if (turn + 1) % 50 == 0:
                _log(f"turn {turn + 1}")
        _check_states(opened, plan.turns, config)
        _time_history(opened, plan.history_reps, config, history_ms, history_shape)
        for contender, saver, _, path in opened:
            if saver is None:
                continue
            _close(saver)
            sizes[contender.name].append(file_bytes(path))
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(path + suffix):
                    os.remove(path + suffix)
    per_turn = {
        name: [statistics.median(values) for values in zip(*rounds, strict=True)]
        for name, rounds in invoke_ms.items()
    }
    by_bucket = {
        name: {
            bucket_label(span): summarize(
                [ms for one in rounds for ms in one[span[0] - 1 : span[1]]]
            )
            for span in buckets(plan.turns)
        }
        for name, rounds in invoke_ms.items()
    }
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "plan": {
            "turns": plan.turns,
            "rounds": plan.rounds,
            "history_reps": plan.history_reps,
            "tool_output_chars": TOOL_OUTPUT_CHARS,
            "messages": 4 * plan.turns,
            "distinct_message_bytes": distinct_message_bytes(plan.turns),
        },
        "machine": {"cpus": os.cpu_count(), "load": [load_before, os.getloadavg()[0]]},
        "python": sys.executable,
        "codec": fast_langgraph.__impl__,
        "engine": "compiled" if fast_langgraph.ENGINE_COMPILED else "interpreted",
        "contenders": [
            {
                "name": c.name,
                "delta": c.delta,
                "checkpointer": c.open is not None,
                "reference": reference_of(c),
                "durability": durability.get(c.name, "none (no checkpointer)"),
            }
            for c in contenders
        ],
        "skipped": skipped,
        "file_bytes": {name: statistics.median(values) for name, values in sizes.items()},
        "per_turn_ms": per_turn,
        "buckets": by_bucket,
        "history": {
            "ms": {name: summarize(values) for name, values in history_ms.items()},
            **history_shape,
        },
    }


def _check_states(opened: list[tuple[Contender, Any, Any, str]], turns: int, config: Any) -> None:
    """Every saver gives back the whole conversation (DeltaChannel included)."""
    expected = [m.id for turn in range(turns) for m in conversation_turn(turn, TOOL_OUTPUT_CHARS)]
    for contender, saver, graph, _ in opened:
        if saver is None:
            continue
        found = [m.id for m in graph.get_state(config).values["messages"]]
        if found != expected:
            raise AssertionError(f"{contender.name} lost messages: {len(found)} of {len(expected)}")


def _time_history(
    opened: list[tuple[Contender, Any, Any, str]],
    reps: int,
    config: Any,
    history_ms: dict[str, list[float]],
    shape: dict[str, int],
) -> None:
    """get_delta_channel_history of the newest checkpoint, the savers alternating;
    both must give the same messages."""
    savers = [(c.name, saver) for c, saver, _, _ in opened if c.history and saver is not None]
    if not savers:
        return
    targets = {name: saver.get_tuple(config).config for name, saver in savers}
    answers = {
        name: _history_values(
            saver.get_delta_channel_history(config=targets[name], channels=["messages"])
        )
        for name, saver in savers
    }
    first = next(iter(answers.values()))
    for name, answer in answers.items():
        if answer != first:
            raise AssertionError(f"{name}: get_delta_channel_history differs")
    shape["writes"] = len(first[0])
    shape["seed_messages"] = len(first[1]) if first[1] is not None else 0
    for rep in range(reps):
        order = savers if rep % 2 == 0 else savers[::-1]
        for name, saver in order:
            started = time.perf_counter()
            saver.get_delta_channel_history(config=targets[name], channels=["messages"])
            history_ms.setdefault(name, []).append((time.perf_counter() - started) * 1e3)


# -- the report --------------------------------------------------------------------


def _number(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return [*lines, *("| " + " | ".join(row) + " |" for row in rows), ""]


def _ms(summary: Summary | dict[str, Any] | None) -> str:
    if not summary:
        return "-"
    return f"{_number(summary['median'])} ({_number(summary['q1'])}-{_number(summary['q3'])})"


def _machine(data: dict[str, Any]) -> str:
    machine = data.get("machine")
    if not machine:
        return ""
    start, end = machine["load"]
    return (
        f" ({data.get('seconds', 0):.0f} s on {machine['cpus']} cores, 1-minute load average "
        f"{start:.1f} at the start and {end:.1f} at the end)"
    )


def render_section(results: dict[str, Any]) -> list[str]:
    """The `## Long conversation` section of the report (nothing when not measured)."""
    data = results.get("long_conversation")
    if not data:
        return []
    if data.get("error"):
        return [SECTION_TITLE, "", f"Not measured: {data['error']}", ""]
    plan = data["plan"]
    spans = list(data["buckets"][data["contenders"][0]["name"]])
    last = spans[-1]
    lines = [
        SECTION_TITLE,
        "",
        f"One thread of the end-to-end graph for {plan['turns']} turns: "
        f"{plan['messages']} messages holding "
        f"{plan['distinct_message_bytes'] / 1e6:.2f} MB of distinct message data (jsonplus "
        "bytes). With `add_messages` every checkpoint stores the whole list; with the messages "
        "in a `DeltaChannel` (langgraph's `_messages_delta_reducer`, a snapshot every 100 "
        "updates) a checkpoint stores what changed and loading the state walks back to the "
        "last snapshot (`get_delta_channel_history`); with compact storage "
        '(`storage="compact"`, the graph unchanged) each distinct message is stored once '
        "and a checkpoint refers to it. Every saver at equal durability, "
        "WAL with `synchronous=NORMAL` (read back from each connection); all in one process "
        f"(codec: {data['codec']}, engine {data['engine']}), each invoke of a turn in an "
        f"order rotated every turn; {plan['rounds']} round(s) on fresh files{_machine(data)}. "
        "Medians (quartiles) of ms per invoke over the turns named and the rounds; file "
        "size after the last turn, its WAL folded in. "
        "`python -m benchmarks.long_conversation` reruns this section alone.",
        "",
    ]
    if data.get("command"):
        python = f" with {data['python']}" if data.get("python") else ""
        lines += [f"Measured {data['date']}{python}: `{data['command']}`.", ""]
    header = [
        "saver",
        "durability",
        f"file after {plan['turns']} turns",
        *(f"ms/invoke, turns {span}" for span in spans),
        f"SqliteSaver ÷ this, turns {last}",
    ]
    rows: list[list[str]] = []
    for contender in data["contenders"]:
        name = contender["name"]
        reference = contender["reference"]
        size = data["file_bytes"].get(name)
        ratio = "-"
        if reference and reference in data["buckets"]:
            ratio = (
                f"{data['buckets'][reference][last]['median'] / data['buckets'][name][last]['median']:.2f}x"
                f" (vs {reference})"
            )
        rows.append(
            [
                name,
                contender["durability"],
                f"{size / 1e6:.1f} MB" if size is not None else "-",
                *(_ms(data["buckets"][name][span]) for span in spans),
                ratio,
            ]
        )
    lines += _table(header, rows)
    lines += _compact_ratios(data, last)
    for name, reason in data.get("skipped", {}).items():
        lines += [f"Not measured: {name}: {reason}", ""]
    history = data.get("history", {})
    timings = history.get("ms", {})
    reference = next(
        (c["name"] for c in data["contenders"] if c["name"] in timings and c["reference"] is None),
        None,
    )
    ours = next((name for name in timings if name != reference), None)
    if reference and ours:
        ratio = timings[reference]["median"] / timings[ours]["median"]
        lines += [
            f"A single operation on that thread after turn {plan['turns']}: "
            "`get_delta_channel_history(channels=['messages'])` of the newest checkpoint "
            f"({history.get('writes', 0)} writes back to a snapshot of "
            f"{history.get('seed_messages', 0)} messages, identical from both), "
            f"{plan['history_reps']} calls per saver per round, alternating. Medians (quartiles).",
            "",
        ]
        lines += _table(
            ["operation", f"{reference}, ms", f"{ours}, ms", f"{reference} ÷ {ours}"],
            [
                [
                    "get_delta_channel_history",
                    _ms(timings[reference]),
                    _ms(timings[ours]),
                    f"{ratio:.2f}x",
                ]
            ],
        )
    if data.get("chart"):
        lines += [f"![ms per invoke against turn]({data['chart']})", ""]
    return lines


def _compact_ratios(data: dict[str, Any], last: str) -> list[str]:
    """Compact storage's ms per invoke at the last turns as a fraction of the
    others' (it changes the file, not the graph, so it is compared with all)."""
    buckets = data["buckets"]
    if COMPACT not in buckets:
        return []
    mine = buckets[COMPACT][last]["median"]
    parts = [
        f"{mine / buckets[name][last]['median']:.2f}x {reading}"
        for name, reading in COMPACT_REFERENCES
        if name in buckets
    ]
    size = data["file_bytes"].get(COMPACT)
    smaller = data["file_bytes"].get(SQLITESAVER)
    lines = [f"Compact storage at turns {last}: " + ", ".join(parts) + " ms per invoke."]
    if size and smaller:
        lines[0] += f" Its file is {smaller / size:.0f}x smaller than SqliteSaver's."
    return [*lines, ""]


def draw(results: dict[str, Any], path: str) -> bool:
    """ms per invoke against turn, one line per saver; False without matplotlib."""
    data = results.get("long_conversation")
    if not data or data.get("error"):
        return False
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter
    except ImportError:
        _log("matplotlib is not installed: no chart drawn")
        return False
    figure, axes = plt.subplots(figsize=(11, 6))
    plan = data["plan"]
    # A centered median over 5 turns once there are enough: single invokes are noisy.
    window = 5 if plan["turns"] >= 50 else 1
    for index, contender in enumerate(data["contenders"]):
        values = data["per_turn_ms"][contender["name"]]
        smooth = [
            statistics.median(values[max(0, at - window // 2) : at + window // 2 + 1])
            for at in range(len(values))
        ]
        axes.plot(
            range(1, len(values) + 1),
            smooth,
            label=contender["name"],
            color=f"C{index % 10}",
            linestyle="--" if contender["delta"] else "-",
            linewidth=1.2,
        )
    axes.set_xlabel("turn")
    axes.set_ylabel(
        "ms per invoke (median of rounds" + (f", of {window} turns)" if window > 1 else ")")
    )
    axes.set_yscale("log")
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    axes.yaxis.set_major_formatter(plain)
    axes.yaxis.set_minor_formatter(plain)
    axes.set_title(
        f"Long conversation: 3-node graph, {plan['turns']} turns, "
        f"{plan['distinct_message_bytes'] / 1e6:.2f} MB of messages, synchronous=NORMAL"
    )
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    data["chart"] = os.path.basename(path)
    return True


def splice(document: str, section: str) -> str:
    """`document` with its `## Long conversation` section replaced by `section`; a
    document without one gets it after `## End to end` (else before a comparison
    section, else at the end). Every other line is left as it is."""
    return replace_section(document, SECTION_TITLE, section, after="## End to end")


# -- inside `python -m benchmarks` ----------------------------------------------------


def run_phase(run: Run, plan_name: str) -> dict[str, Any]:
    """Measure in a subprocess of this interpreter (the default codec, nothing of the
    parent's imports), `--quick` for a smoke run."""
    from benchmarks.runner import log

    with tempfile.TemporaryDirectory(dir=run.workdir) as folder:
        saved = os.path.join(folder, "long-conversation.json")
        command = [sys.executable, "-m", "benchmarks.long_conversation", "--save", saved]
        command += ["--quick", "--out", ""] if plan_name == "smoke" else ["--out", ""]
        env = {key: value for key, value in os.environ.items() if key != "FAST_LANGGRAPH_IMPL"}
        log(f"long conversation: {' '.join(command[1:])}")
        done = subprocess.run(command, cwd=REPO_ROOT, env=env, check=False)
        if done.returncode != 0 or not os.path.exists(saved):
            error = f"exited with {done.returncode}"
            run.error("long_conversation", RuntimeError(error))
            return {"error": error}
        with open(saved) as source:
            found: dict[str, Any] = json.load(source)["long_conversation"]
            return found


# -- `python -m benchmarks.long_conversation` -------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.long_conversation",
        description="One long conversation with every saver, side by side.",
    )
    parser.add_argument("--quick", action="store_true", help="20 turns, 1 round (seconds)")
    parser.add_argument(
        "--out",
        default=None,
        help="the report whose section to replace, the chart drawn beside it (default: "
        "docs/benchmarks.md for a full run; --quick prints the section; '' for neither)",
    )
    parser.add_argument("--save", default=None, help="save the results as JSON")
    parser.add_argument("--render", default=None, help="measure nothing: render a saved run")
    args = parser.parse_args(argv)
    command = "python -m benchmarks.long_conversation " + " ".join(
        shlex.quote(arg) for arg in (sys.argv[1:] if argv is None else argv)
    )
    if args.out is None:
        args.out = None if args.quick else os.path.join(REPO_ROOT, "docs", "benchmarks.md")
    if args.render:
        with open(args.render) as saved:
            results = json.load(saved)
    else:
        with tempfile.TemporaryDirectory(prefix="long-conversation-") as workdir:
            started = time.perf_counter()
            data = measure(QUICK if args.quick else FULL, workdir)
            data["command"] = command.strip()
            data["seconds"] = round(time.perf_counter() - started, 1)
        results = {"long_conversation": data}
        _log(f"measured in {data['seconds']:.0f} s")
    if args.out:
        draw(results, os.path.join(os.path.dirname(os.path.abspath(args.out)), CHART_NAME))
    if args.save:
        with open(args.save, "w") as target:
            json.dump(results, target, indent=1)
    section = "\n".join(render_section(results))
    if args.out:
        existing = ""
        if os.path.exists(args.out):
            with open(args.out) as current:
                existing = current.read()
        with open(args.out, "w") as target:
            target.write(splice(existing, section))
        _log(f"section written into {args.out}")
    elif args.out is None:
        print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
