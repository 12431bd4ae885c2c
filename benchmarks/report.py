"""Turn results into docs/benchmarks.md: the equal-durability comparison first,
then the at-defaults one, the targets, and every measurement in detail."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from benchmarks import chart
from benchmarks.contenders import (
    OURS,
    OURS_CONNECTION,
    OURS_FULL,
    REFERENCE,
    REFERENCE_NORMAL,
    equal_durability_reference,
)
from benchmarks.operations import FLOOR_OPERATIONS, OPERATIONS

OPERATION_TITLES: Final = {
    "put": "put (one checkpoint)",
    "put_writes": "put_writes (a task's 3 writes)",
    "get_tuple_latest": "get_tuple (latest)",
    "get_tuple_by_id": "get_tuple (by checkpoint id)",
    "list_all": "list (all 100 checkpoints of a thread)",
    "list_limit_10": "list (limit=10)",
}
FLOOR_TITLES: Final = {
    "dumps_typed": "langgraph JsonPlusSerializer.dumps_typed",
    "loads_typed": "langgraph JsonPlusSerializer.loads_typed",
    "ours_dumps_typed": "fast_langgraph.serde.JsonPlusSerializer.dumps_typed (native codec)",
    "ours_loads_typed": "fast_langgraph.serde.JsonPlusSerializer.loads_typed (native codec)",
    "insert_full": "raw INSERT + commit, WAL, synchronous=FULL",
    "insert_normal": "raw INSERT + commit, WAL, synchronous=NORMAL",
    "select": "raw SELECT of the latest row's bytes",
}
DURABILITY_NOTE: Final = {
    "FULL": "FULL (fsync per commit)",
    "NORMAL": "NORMAL (WAL; survives app crashes)",
    "memory": "none (in memory)",
}
TARGET_SIZE: Final = "35KB"
# The operations of the lead tables and of the targets.
KEY_OPERATIONS: Final = ("put", "put_writes", "get_tuple_latest", "list_limit_10")
SHORT_TITLES: Final = {
    "put": "put",
    "put_writes": "put_writes",
    "get_tuple_latest": "get_tuple",
    "get_tuple_by_id": "get_tuple(id)",
    "list_all": "list(all)",
    "list_limit_10": "list(limit=10)",
}
WORKLOAD_TITLES: Final = {
    "growing": "one growing conversation",
    "threads": "round-robin over 50 threads",
}
# "Matches" means at most this much slower (ratio of medians).
MATCH_TOLERANCE: Final = 1.10


def number(value: float) -> str:
    """A short human form: 3 significant digits, thousands separated."""
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def spread(summary: dict[str, Any], kind: str = "iqr") -> str:
    low, high = (
        (summary["q1"], summary["q3"]) if kind == "iqr" else (summary["min"], summary["max"])
    )
    return f"{number(summary['median'])} [{number(low)}-{number(high)}]"


def times(ratio: float | None) -> str:
    if ratio is None:
        return "-"
    if ratio == float("inf"):
        return "∞ (no measurable overhead)"
    return f"{ratio:.2f}x"


def ratio_of(reference: dict[str, Any] | None, other: dict[str, Any] | None) -> float | None:
    """How many times faster `other` is than `reference` (medians of durations)."""
    if not reference or not other or other["median"] <= 0:
        return None
    return float(reference["median"] / other["median"])


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


@dataclass(frozen=True)
class View:
    """Read access to one results dict, with the comparisons the report needs."""

    results: dict[str, Any]

    @property
    def contenders(self) -> list[dict[str, Any]]:
        return list(self.results.get("contenders", []))

    def contender(self, name: str) -> dict[str, Any] | None:
        return next((c for c in self.contenders if c["name"] == name), None)

    def names(self) -> list[str]:
        return [c["name"] for c in self.contenders]

    def before(self, full: bool = False) -> str | None:
        """The name of the earlier commit's row at default or full durability."""
        kind = "ours-full" if full else "ours"
        return next(
            (c["name"] for c in self.contenders if c["worker"] == "before" and c["kind"] == kind),
            None,
        )

    def reference_for(self, name: str) -> str:
        """SqliteSaver at `name`'s durability (at its defaults for in-memory savers)."""
        contender = self.contender(name)
        durability = contender["durability"] if contender else "FULL"
        return equal_durability_reference(durability) or REFERENCE

    def operation(self, op: str, size: str, name: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = (
            self.results.get("operations", {}).get(op, {}).get(size, {}).get(name)
        )
        return found

    def sizes(self) -> list[str]:
        return list(self.results["meta"]["plan"]["sizes"])

    def target_size(self) -> str:
        sizes = self.sizes()
        return TARGET_SIZE if TARGET_SIZE in sizes else sizes[0]

    def speedup(
        self, op: str, size: str, name: str, equal_durability: bool = False
    ) -> float | None:
        """How many times faster than SqliteSaver at its defaults, or at `name`'s
        durability."""
        reference = self.reference_for(name) if equal_durability else REFERENCE
        return ratio_of(self.operation(op, size, reference), self.operation(op, size, name))

    def e2e(self, workload: str, label: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = (
            self.results.get("e2e", {}).get("workloads", {}).get(workload, {}).get(label)
        )
        return found

    def workloads(self) -> list[str]:
        return list(self.results.get("e2e", {}).get("workloads", {}))

    def overhead_ratio(
        self, workload: str, label: str, reference: str | None = REFERENCE
    ) -> float | None:
        """reference's overhead per invoke divided by label's (higher: label cheaper);
        `reference=None`: SqliteSaver at label's durability."""
        reference = self.reference_for(label) if reference is None else reference
        mine, theirs = self.e2e(workload, label), self.e2e(workload, reference)
        if not mine or not theirs or not mine["overhead_ms"] or not theirs["overhead_ms"]:
            return None
        if mine["overhead_ms"]["median"] <= 0:
            return float("inf")
        return float(theirs["overhead_ms"]["median"] / mine["overhead_ms"]["median"])


# -- targets -----------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    text: str
    measured: str
    met: bool | None  # None: could not be measured in this run


def _at_least(text: str, value: float | None, goal: float) -> Target:
    if value is None:
        return Target(text, "not measured", None)
    return Target(text, times(value), value >= goal)


def _slowdown(mine: dict[str, Any] | None, theirs: dict[str, Any] | None) -> float | None:
    """mine's median time divided by theirs (above 1: mine slower)."""
    if not mine or not theirs or theirs["median"] <= 0:
        return None
    return float(mine["median"] / theirs["median"])


def _matches(text: str, pairs: list[tuple[str, float | None]]) -> Target:
    """Every ratio (time of ours ÷ time of the other) at most MATCH_TOLERANCE."""
    known = [(what, value) for what, value in pairs if value is not None]
    if not known:
        return Target(text, "not measured", None)
    measured = "; ".join(f"{what} {value:.2f}" for what, value in known)
    missing = [what for what, value in pairs if value is None]
    if missing:
        measured += "; not measured: " + ", ".join(missing)
    return Target(text, measured, all(value <= MATCH_TOLERANCE for _, value in known))


def _e2e_slowdown(view: View, workload: str, mine: str, theirs: str) -> float | None:
    a, b = view.e2e(workload, mine), view.e2e(workload, theirs)
    return _slowdown(a and a["overhead_ms"], b and b["overhead_ms"])


def _paired_ratios(view: View, saver: str) -> dict[str, float]:
    """after ÷ before per operation from the paired batches ("Default layout
    against before"), the steadier measure on a machine whose speed wanders."""
    data = view.results.get("before_after") or {}
    return {row["op"]: row["ratio"] for row in data.get("rows", []) if row["saver"] == saver}


def targets(view: View) -> list[Target]:
    found: list[Target] = []
    size = view.target_size()
    names = view.names()
    short = SHORT_TITLES
    for mine, theirs in ((OURS, view.before()), (OURS_FULL, view.before(full=True))):
        text = (
            f"`{mine}` matches `{theirs or 'before'}` within {MATCH_TOLERANCE - 1:.0%} at "
            f"{size} (time ratio ours ÷ before)"
        )
        if theirs is None or mine not in names:
            found.append(Target(text, "not measured (no before worker)", None))
            continue
        paired = _paired_ratios(view, mine)
        if paired:
            text += "; single operations from the paired batches (Default layout against before)"
        pairs = [
            (
                short[op],
                paired[op]
                if op in paired
                else _slowdown(view.operation(op, size, mine), view.operation(op, size, theirs)),
            )
            for op in KEY_OPERATIONS
        ]
        pairs += [
            (f"e2e overhead, {workload}", _e2e_slowdown(view, workload, mine, theirs))
            for workload in view.workloads()
        ]
        found.append(_matches(text, pairs))
    for mine in (OURS, OURS_FULL):
        reference = view.reference_for(mine)
        for op in ("get_tuple_latest", "list_limit_10"):
            found.append(
                _at_least(
                    f"`{mine}` {short[op]} at {size} ≥ 4x `{reference}` (equal durability)",
                    view.speedup(op, size, mine, equal_durability=True) if mine in names else None,
                    4,
                )
            )
    connection = view.contender(OURS_CONNECTION)
    twin = OURS_FULL if connection and connection["durability"] == "FULL" else OURS
    pairs = [
        (
            short[op],
            _slowdown(view.operation(op, size, OURS_CONNECTION), view.operation(op, size, twin)),
        )
        for op in KEY_OPERATIONS
    ]
    pairs += [
        (f"e2e overhead, {workload}", _e2e_slowdown(view, workload, OURS_CONNECTION, twin))
        for workload in view.workloads()
    ]
    found.append(
        _matches(
            f"`{OURS_CONNECTION}` is as fast as `{twin}`, made from a path at the same "
            f"durability (within {MATCH_TOLERANCE - 1:.0%}; time ratio connection ÷ path, {size})",
            pairs,
        )
    )
    if OURS in names:
        found.append(_scale_target(view, OURS))
    memory = view.results.get("memory", {})
    small, large = view.results["meta"]["plan"]["memory_checkpoints"]
    for name, entry in memory.items():
        found.append(
            Target(
                f"`{name}`: RSS after {large:,} puts within 50 MB of RSS after {small:,}",
                f"{entry['growth_mb']:+.1f} MB",
                entry["growth_mb"] <= 50,
            )
        )
    return found


def _scale_target(view: View, name: str) -> Target:
    reads = view.results.get("scale", {}).get("reads", {}).get("get_tuple_latest", {})
    databases = view.results.get("scale", {}).get("databases", {})
    big, small = reads.get("big", {}).get(name), reads.get("small", {}).get(name)
    count = databases.get("big", {}).get("checkpoints", 0)
    text = f"`{name}`: get_tuple on {count:,} checkpoints within 2x of an almost empty database"
    if not big or not small:
        return Target(text, "not measured", None)
    slowdown = big["median"] / small["median"]
    return Target(text, f"{slowdown:.2f}x slower", slowdown <= 2.0)


# -- sections ------------------------------------------------------------------


def _worker_line(name: str, info: dict[str, Any]) -> str:
    what = [f"Python {info['python']}", f"SQLite {info['sqlite']}"]
    if info.get("impl"):
        what.append(f"`fast_langgraph.__impl__` = {info['impl']!r}")
    if info.get("compiled") is not None:
        what.append(f"engine mypyc-compiled: {'yes' if info['compiled'] else 'no'}")
    if info.get("commit"):
        what.append(f"built from {info['commit']}")
    return f"- `{name}` worker: {info['executable']} ({', '.join(what)})"


def _header(view: View, chart_name: str | None) -> list[str]:
    meta = view.results["meta"]
    machine = meta["machine"]
    baseline = meta["workers"].get("baseline", {})
    lines = [
        "# Benchmarks",
        "",
        "Generated by `benchmarks/` — do not edit by hand. Every figure is a median with its",
        "spread in brackets (interquartile range for single operations, min-max for whole runs).",
        "Ratios say how many times faster than langgraph's `SqliteSaver` (above 1: faster),",
        "first at equal durability, then with every saver at its defaults. All contenders run",
        "in the same run, interleaved (round-robin within each repetition), langgraph's savers",
        "in one worker process and ours in others (`FAST_LANGGRAPH_IMPL` is read once per",
        "process); `before` is an earlier commit built into its own virtualenv by",
        "`benchmarks/before.sh`.",
        "",
        f"- Date: {meta['date']}; plan `{meta['plan']['name']}`, run time {meta.get('seconds', 0):.0f} s",
        f"- Command: `{meta['command']}`",
        f"- Machine: {machine['cpu']}, {machine['cores']} cores, "
        f"{machine['ram_bytes'] / 2**30:.1f} GiB RAM, {machine['system']}",
        f"- Python {baseline.get('python')}, SQLite {baseline.get('sqlite')}; "
        + ", ".join(f"{k} {v}" for k, v in baseline.get("packages", {}).items() if v),
    ]
    for name, info in meta["workers"].items():
        lines.append(_worker_line(name, info))
    for name, reason in meta.get("skipped", {}).items():
        lines.append(f"- Not measured: `{name}` worker — {reason}")
    lines += ["", "The contenders, and the settings each one's connection really had:", ""]
    savers = meta.get("savers", {})
    lines += table(
        ["contender", "durability", "what it is", "measured on its connection"],
        [
            [
                f"`{c['name']}`",
                DURABILITY_NOTE[c["durability"]],
                _describe(c, meta["workers"].get(c["worker"], {})),
                _measured(savers.get(c["name"])),
            ]
            for c in view.contenders
        ],
    )
    if view.results.get("errors"):
        lines += ["**Errors during the run:**", ""]
        lines += [
            f"- {e['where']}: `{e['error'].strip().splitlines()[-1]}`"
            for e in view.results["errors"]
        ]
        lines.append("")
    if chart_name:
        lines += [f"![speed-up over SqliteSaver at equal durability]({chart_name})", ""]
    return lines


def _measured(details: dict[str, Any] | None) -> str:
    if not details:
        return "-"
    parts = []
    if details.get("journal_mode"):
        parts.append(f"{details['journal_mode']}, synchronous={details['synchronous']}")
    codec = details.get("implementation") or details.get("serde_implementation")
    if codec:
        parts.append(f"codec {codec}")
    return "; ".join(parts) or "-"


def _describe(contender: dict[str, Any], worker: dict[str, Any]) -> str:
    engine = "engine" + (" (mypyc-compiled)" if worker.get("compiled") else "")
    serializer = "serde=fast_langgraph.serde.JsonPlusSerializer()"
    commit = worker.get("commit")
    revision = commit[:7] if commit else "an earlier commit"
    before = f"at {revision}, built by `benchmarks/before.sh`"
    ours = "`RustSQLiteCheckpointer(path)`"
    ours_full = '`RustSQLiteCheckpointer(path, durability="full")`'
    descriptions: dict[tuple[str, str], str] = {
        ("baseline", "sqlite"): "langgraph `SqliteSaver(conn)`, its defaults",
        ("baseline", "sqlite-normal"): "`SqliteSaver(conn)`, `PRAGMA synchronous=NORMAL`",
        ("baseline", "async-sqlite"): "langgraph `AsyncSqliteSaver` (aiosqlite), async API",
        ("baseline", "memory"): "langgraph `InMemorySaver()`",
        ("rust", "sqlite-serde"): f"`SqliteSaver(conn, {serializer})`, its defaults",
        ("rust", "sqlite-normal-serde"): f"`SqliteSaver(conn, {serializer})`, "
        "`PRAGMA synchronous=NORMAL`",
        ("rust", "memory-serde"): f"`InMemorySaver({serializer})`",
        ("rust", "ours"): f"{ours}: our {engine}, native codec, default durability",
        ("rust", "ours-full"): f"{ours_full}: our {engine}, native codec",
        ("rust", "ours-connection"): "`RustSQLiteCheckpointer(sqlite3.connect(path, "
        f"check_same_thread=False))`: our {engine}, native codec",
        ("python", "ours"): f"{ours} with `FAST_LANGGRAPH_IMPL=python`: our {engine}, Python codec",
        ("before", "ours"): f"{ours} {before}",
        ("before", "ours-full"): f"{ours_full} {before}",
    }
    return descriptions.get((contender["worker"], contender["kind"]), str(contender["kind"]))


def _lead_cells(view: View, name: str, size: str, equal: bool) -> list[str]:
    cells = []
    for op in KEY_OPERATIONS:
        summary = view.operation(op, size, name)
        ratio = view.speedup(op, size, name, equal_durability=equal)
        cells.append("-" if summary is None else f"{number(summary['median'])} · {times(ratio)}")
    for workload in view.workloads():
        entry = view.e2e(workload, name)
        overhead = entry and entry["overhead_ms"]
        ratio = view.overhead_ratio(workload, name, None if equal else REFERENCE)
        cells.append("-" if not overhead else f"{number(overhead['median'])} · {times(ratio)}")
    return cells


def _lead_header(view: View) -> list[str]:
    return [
        "contender",
        "durability",
        *[SHORT_TITLES[op] for op in KEY_OPERATIONS],
        *[f"e2e overhead, {w}" for w in view.workloads()],
    ]


def _equal_durability_section(view: View) -> list[str]:
    if not view.results.get("operations"):
        return []
    size = view.target_size()
    lines = [
        f"## At equal durability ({size} state)",
        "",
        "Each row against `SqliteSaver` with the same durability: NORMAL rows (WAL,",
        "synchronous=NORMAL) against `SqliteSaver (NORMAL)`, FULL rows (an fsync per commit)",
        "against `SqliteSaver` at its defaults. Cells: median milliseconds · how many times",
        "faster. End to end: LangGraph overhead per invoke of the 3-node graph (see below) and",
        "how many times less than SqliteSaver's.",
        "",
    ]
    rows = []
    for durability in ("NORMAL", "FULL"):
        for contender in view.contenders:
            if contender["durability"] == durability:
                rows.append(
                    [
                        f"`{contender['name']}`",
                        durability,
                        *_lead_cells(view, contender["name"], size, equal=True),
                    ]
                )
    lines += table(_lead_header(view), rows)
    lines += _before_table(view, size)
    return lines


def _before_table(view: View, size: str) -> list[str]:
    pairs: list[tuple[str, str]] = [
        (mine, theirs)
        for mine, theirs in ((OURS, view.before()), (OURS_FULL, view.before(full=True)))
        if theirs is not None and view.contender(mine) is not None
    ]
    if not pairs:
        return []
    lines = [
        f"### Ours against before ({size}, same durability)",
        "",
        "Median milliseconds, and ours ÷ before (below 1: ours is faster; the target is at",
        f"most {MATCH_TOLERANCE:.2f}).",
        "",
    ]
    header = ["operation"]
    for mine, theirs in pairs:
        header += [f"`{mine}`", f"`{theirs}`", "ours ÷ before"]
    rows = []
    for op in KEY_OPERATIONS:
        row = [SHORT_TITLES[op]]
        for mine, theirs in pairs:
            a, b = view.operation(op, size, mine), view.operation(op, size, theirs)
            ratio = _slowdown(a, b)
            row += [
                number(a["median"]) if a else "-",
                number(b["median"]) if b else "-",
                f"{ratio:.2f}" if ratio is not None else "-",
            ]
        rows.append(row)
    for workload in view.workloads():
        row = [f"e2e overhead per invoke, {workload}"]
        for mine, theirs in pairs:
            a, b = view.e2e(workload, mine), view.e2e(workload, theirs)
            a_over, b_over = a and a["overhead_ms"], b and b["overhead_ms"]
            ratio = _slowdown(a_over, b_over)
            row += [
                number(a_over["median"]) if a_over else "-",
                number(b_over["median"]) if b_over else "-",
                f"{ratio:.2f}" if ratio is not None else "-",
            ]
        rows.append(row)
    lines += table(header, rows)
    return lines


def _defaults_section(view: View) -> list[str]:
    if not view.results.get("operations"):
        return []
    size = view.target_size()
    lines = [
        f"## At defaults ({size} state)",
        "",
        "Each saver as constructed without durability options, against `SqliteSaver` at its",
        "defaults (synchronous=FULL). Ours defaults to synchronous=NORMAL, so part of its lead",
        "here is durability, not speed: see the table above. Cells as above.",
        "",
    ]
    rows = [
        [
            f"`{c['name']}`",
            c["durability"],
            *_lead_cells(view, c["name"], size, equal=False),
        ]
        for c in view.contenders
        if c.get("at_defaults")
    ]
    lines += table(_lead_header(view), rows)
    return lines


def _targets_section(view: View) -> list[str]:
    marks = {True: "met", False: "**not met**", None: "not measured"}
    lines = [
        "## Targets",
        "",
        f"Single-operation targets are at the {view.target_size()} state; ratios compare medians.",
        "",
    ]
    lines += table(
        ["target", "measured", "status"],
        [[t.text, t.measured, marks[t.met]] for t in targets(view)],
    )
    return lines


def _operations_section(view: View) -> list[str]:
    sizes = view.sizes()
    lines = [
        "## Single operations",
        "",
        "States are LangChain conversations (human, AI with tool_calls and usage_metadata, tool",
        "result, AI answer) plus plain channels; the size is the serialized checkpoint. Reads run",
        "on a thread of 100 checkpoints, each with a task's 3 writes. Cells: milliseconds",
        "`median [IQR]` and how many times faster than SqliteSaver at the same durability",
        "(in-memory savers: against SqliteSaver at its defaults).",
        "",
    ]
    operations = view.results.get("operations", {})
    for op in OPERATIONS:
        if op not in operations:
            continue
        lines += [f"### {OPERATION_TITLES[op]}", ""]
        rows = []
        for contender in view.contenders:
            cells = []
            for size in sizes:
                summary = view.operation(op, size, contender["name"])
                if summary is None:
                    cells.append("-")
                else:
                    ratio = view.speedup(op, size, contender["name"], equal_durability=True)
                    cells.append(f"{spread(summary)} · {times(ratio)}")
            rows.append([f"`{contender['name']}`", contender["durability"], *cells])
        lines += table(["contender", "durability", *sizes], rows)
    return lines


def _floor_section(view: View) -> list[str]:
    floor = view.results.get("floor")
    if not floor:
        return []
    sizes = view.sizes()
    lines = [
        "## The floor",
        "",
        "What no saver built on JsonPlusSerializer's bytes and sqlite3 can go below:",
        "serialization alone (langgraph's, and our public serializer with the native codec)",
        "and one raw statement on the same bytes (milliseconds, median [IQR]). Some savers'",
        "put and get_tuple are repeated for the distance.",
        "",
    ]
    rows = [
        [
            FLOOR_TITLES[op],
            *[spread(floor[op][size]) if size in floor[op] else "-" for size in sizes],
        ]
        for op in FLOOR_OPERATIONS
        if op in floor
    ]
    for op in ("put", "get_tuple_latest"):
        for name in (REFERENCE, REFERENCE_NORMAL, OURS, OURS_FULL):
            if view.contender(name) is None:
                continue
            rows.append(
                [
                    f"`{name}` {SHORT_TITLES[op]}",
                    *[
                        spread(s) if (s := view.operation(op, size, name)) else "-"
                        for size in sizes
                    ],
                ]
            )
    lines += table(["measure", *sizes], rows)
    return lines


def _e2e_section(view: View) -> list[str]:
    e2e = view.results.get("e2e")
    if not e2e:
        return []
    invokes = e2e["invokes"]
    lines = [
        "## End to end",
        "",
        "A 3-node StateGraph (`add_messages`; the nodes append a tool call, a tool result and an",
        f"answer, no LLM), {invokes} invokes. Overhead per invoke = (time with the saver - time",
        "with `checkpointer=None` in the same worker and round) / invokes, in milliseconds,",
        "median [min-max over rounds]; the ratio divides the overhead of SqliteSaver at the same",
        "durability (in-memory savers: at its defaults) by this one's. The no-op saver stores",
        "nothing: its overhead is LangGraph's own checkpoint bookkeeping, the floor for any saver.",
        "",
    ]
    for workload, rows_by_label in e2e["workloads"].items():
        lines += [f"### {WORKLOAD_TITLES.get(workload, workload)}", ""]
        rows = []
        for label, entry in rows_by_label.items():
            overhead = entry["overhead_ms"]
            contender = view.contender(label)
            rows.append(
                [
                    f"`{label}`",
                    contender["durability"] if contender else "-",
                    spread(entry["per_invoke_ms"], "range"),
                    spread(overhead, "range") if overhead else "-",
                    times(view.overhead_ratio(workload, label, None))
                    if overhead and contender
                    else "-",
                ]
            )
        lines += table(
            [
                "saver",
                "durability",
                "ms per invoke",
                "overhead ms per invoke",
                "SqliteSaver overhead ÷ this",
            ],
            rows,
        )
    return lines


def _concurrency_section(view: View) -> list[str]:
    concurrency = view.results.get("concurrency")
    if not concurrency:
        return []
    lines = [
        "## Concurrency",
        "",
        "Writers put 4 KB checkpoints on distinct threads of one database file: threads share",
        "one saver; processes each open their own. Checkpoints per second of wall time,",
        "median [min-max over rounds], the ratio to SqliteSaver at the same durability, and",
        "every error raised.",
        "",
    ]
    for mode, entry in concurrency.items():
        lines += [f"### {entry['writers']} {mode}, {entry['puts_per_writer']} puts each", ""]
        rows = []
        for name, result in entry["contenders"].items():
            rate = result["checkpoints_per_second"]
            reference = entry["contenders"].get(view.reference_for(name))
            ratio = (
                rate["median"] / reference["checkpoints_per_second"]["median"]
                if reference
                else None
            )
            errors = str(result["errors"])
            if result["error_examples"]:
                errors += ": " + "; ".join(f"`{e}`" for e in result["error_examples"])
            rows.append([f"`{name}`", spread(rate, "range"), times(ratio), errors])
        lines += table(["saver", "checkpoints/s", "x SqliteSaver", "errors"], rows)
    return lines


def _scale_section(view: View) -> list[str]:
    scale = view.results.get("scale")
    if not scale:
        return []
    databases = scale["databases"]
    big, small = databases["big"], databases["small"]
    lines = [
        "## Scale",
        "",
        f"Reads on a database of {big['checkpoints']:,} small checkpoints over {big['threads']:,}",
        f"threads (each with one write), against one of {small['checkpoints']:,} checkpoints; random",
        "threads. Milliseconds, median [IQR]. Each of our workers reads its own copy of the file",
        "(which its engine may upgrade); the WAL counts in the file sizes.",
        "",
    ]
    reads = scale["reads"]
    rows = []
    for contender in view.contenders:
        name = contender["name"]
        cells = [f"`{name}`"]
        for op in ("get_tuple_latest", "list_limit_10"):
            b, s = (
                reads.get(op, {}).get("big", {}).get(name),
                reads.get(op, {}).get("small", {}).get(name),
            )
            cells += [
                spread(b) if b else "-",
                spread(s) if s else "-",
                f"{b['median'] / s['median']:.2f}" if b and s else "-",
            ]
        if len(cells) > 1 and any(c != "-" for c in cells[1:]):
            rows.append(cells)
    lines += table(
        [
            "saver",
            "get_tuple big",
            "get_tuple small",
            "big ÷ small",
            "list(10) big",
            "list(10) small",
            "big ÷ small",
        ],
        rows,
    )
    files = sorted(
        {who for d in databases.values() for who in d["bytes_per_checkpoint"]},
        key=lambda who: (who != "original", who),
    )
    lines += table(
        [
            "database",
            "checkpoints",
            *[
                "bytes per checkpoint, SqliteSaver's file"
                if who == "original"
                else f"in the {who} worker's copy"
                for who in files
            ],
        ],
        [
            [
                label,
                f"{d['checkpoints']:,}",
                *[
                    f"{d['bytes_per_checkpoint'][who]:,.0f}"
                    if who in d["bytes_per_checkpoint"]
                    else "-"
                    for who in files
                ],
            ]
            for label, d in databases.items()
        ],
    )
    return lines


def _memory_section(view: View) -> list[str]:
    memory = view.results.get("memory")
    if not memory:
        return []
    lines = [
        "## Memory",
        "",
        "Resident memory of a worker putting small checkpoints in a loop.",
        "",
    ]
    rows = []
    for name, entry in memory.items():
        small, large = entry["checkpoints"]
        rss_small, rss_large = entry["rss_bytes"]
        rows.append(
            [
                f"`{name}`",
                f"{rss_small / 2**20:.1f} MB after {small:,}",
                f"{rss_large / 2**20:.1f} MB after {large:,}",
                f"{entry['growth_mb']:+.1f} MB",
            ]
        )
    lines += table(["saver", "RSS", "RSS", "growth"], rows)
    return lines


def _comparison_section(view: View, saved: View) -> list[str]:
    lines = [
        "## Compared with a saved run",
        "",
        f"Saved run: {saved.results['meta']['date']} (`{saved.results['meta']['command']}`).",
        "Cells: this run's median ÷ the saved median (below 1: faster now).",
        "",
    ]
    sizes = [s for s in view.sizes() if s in saved.sizes()]
    rows = []
    for contender in view.contenders:
        name = contender["name"]
        for op in OPERATIONS:
            cells = []
            for size in sizes:
                now, before = view.operation(op, size, name), saved.operation(op, size, name)
                cells.append(times(ratio_of(now, before)) if now and before else "-")
            if any(c != "-" for c in cells):
                rows.append([f"`{name}`", op, *cells])
    lines += table(["contender", "operation", *sizes], rows)
    rows = []
    for workload in view.results.get("e2e", {}).get("workloads", {}):
        for label, entry in view.results["e2e"]["workloads"][workload].items():
            before = saved.e2e(workload, label)
            now_overhead, old_overhead = entry["overhead_ms"], before and before["overhead_ms"]
            if now_overhead and old_overhead:
                rows.append(
                    [
                        workload,
                        f"`{label}`",
                        number(now_overhead["median"]),
                        number(old_overhead["median"]),
                        times(ratio_of(now_overhead, old_overhead)),
                    ]
                )
    if rows:
        lines += table(["workload", "saver", "overhead ms now", "saved", "now ÷ saved"], rows)
    return lines


def _postgres_section(view: View) -> list[str]:
    from benchmarks import postgres

    return postgres.render_section(view.results)


def _before_after_section(view: View) -> list[str]:
    from benchmarks import before_after

    return before_after.render_section(view.results.get("before_after"))


def _long_conversation_section(view: View) -> list[str]:
    from benchmarks import long_conversation

    return long_conversation.render_section(view.results)


def render(results: dict[str, Any], saved: dict[str, Any] | None, out: str | None) -> str:
    """The markdown report; with `out`, also draws the chart beside it."""
    view = View(results)
    chart_name: str | None = None
    if out:
        chart_path = os.path.splitext(out)[0] + ".png"
        if chart.draw(view, chart_path):
            chart_name = os.path.basename(chart_path)
        from benchmarks import long_conversation

        long_conversation.draw(
            results, os.path.join(os.path.dirname(out), long_conversation.CHART_NAME)
        )
    sections: list[Callable[[View], list[str]]] = [
        _equal_durability_section,
        _before_after_section,
        _defaults_section,
        _targets_section,
        _operations_section,
        _floor_section,
        _e2e_section,
        _long_conversation_section,
        _concurrency_section,
        _scale_section,
        _memory_section,
        _postgres_section,
    ]
    lines = _header(view, chart_name)
    for section in sections:
        lines += section(view)
    if saved is not None:
        lines += _comparison_section(view, View(saved))
    return "\n".join(lines).rstrip() + "\n"
