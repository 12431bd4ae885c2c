"""Turn results into docs/benchmarks.md: tables, ratios, targets, comparison."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from benchmarks import chart
from benchmarks.contenders import REFERENCE, REFERENCE_NORMAL
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
    "dumps_typed": "JsonPlusSerializer.dumps_typed",
    "loads_typed": "JsonPlusSerializer.loads_typed",
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

    def ours(self) -> list[str]:
        """Our implementations measured, in run order."""
        return [c["name"] for c in self.contenders if c["kind"] == "ours"]

    def operation(self, op: str, size: str, name: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = (
            self.results.get("operations", {}).get(op, {}).get(size, {}).get(name)
        )
        return found

    def sizes(self) -> list[str]:
        return list(self.results["meta"]["plan"]["sizes"])

    def speedup(
        self, op: str, size: str, name: str, equal_durability: bool = False
    ) -> float | None:
        reference = REFERENCE
        contender = self.contender(name)
        if equal_durability and contender is not None and contender["durability"] == "NORMAL":
            reference = REFERENCE_NORMAL
        return ratio_of(self.operation(op, size, reference), self.operation(op, size, name))

    def e2e(self, workload: str, label: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = (
            self.results.get("e2e", {}).get("workloads", {}).get(workload, {}).get(label)
        )
        return found

    def overhead_ratio(self, workload: str, label: str, reference: str = REFERENCE) -> float | None:
        """reference's overhead per invoke divided by label's (higher: label cheaper)."""
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


def targets(view: View) -> list[Target]:
    found: list[Target] = []
    measured = view.ours()
    rust = "rust" if "rust" in measured else None
    # The pure-compiled targets are checked on the interpreted build when the
    # compiled one was not run, and say so.
    pure = next((name for name in ("pure-compiled", "pure") if name in measured), None)
    size = TARGET_SIZE

    def ratio(op: str, name: str | None, equal: bool = False) -> float | None:
        return None if name is None else view.speedup(op, size, name, equal)

    found.append(
        _at_least(f"rust put at {size} ≥ 4x SqliteSaver (defaults)", ratio("put", rust), 4)
    )
    found.append(
        _at_least(f"rust get_tuple at {size} ≥ 3x SqliteSaver", ratio("get_tuple_latest", rust), 3)
    )
    found.append(
        _at_least(
            f"rust list(limit=10) at {size} ≥ 3x SqliteSaver", ratio("list_limit_10", rust), 3
        )
    )
    found.append(
        _at_least(
            f"rust put at {size} ≥ 1.3x SqliteSaver at equal durability (both FULL)",
            ratio("put", rust and f"{rust} (full)"),
            1.3,
        )
    )
    for workload, goal, words in (
        ("growing", 5.0, "growing conversation"),
        ("threads", 2.5, "50 threads"),
    ):
        value = view.overhead_ratio(workload, rust) if rust else None
        found.append(
            _at_least(
                f"rust end-to-end overhead per invoke ≤ 1/{goal:g} of SqliteSaver's ({words})",
                value,
                goal,
            )
        )
    label = pure if pure else "pure-compiled"
    note = (
        "" if label == "pure-compiled" else " (measured on interpreted pure: pure-compiled not run)"
    )
    for op in ("put", "list_limit_10"):
        found.append(
            _at_least(
                f"pure-compiled {op} at {size} ≥ 1.5x SqliteSaver{note}", ratio(op, pure), 1.5
            )
        )
    worst = _worst_equal_durability(view, pure) if pure else None
    found.append(
        Target(
            f"pure-compiled never slower than SqliteSaver at equal durability{note}",
            "not measured" if worst is None else f"slowest: {times(worst[0])} ({worst[1]})",
            None if worst is None else worst[0] >= 1.0,
        )
    )
    for name in measured:
        found.append(_scale_target(view, name))
    if rust:
        ratios = [
            view.overhead_ratio(workload, rust, "InMemorySaver")
            for workload in ("growing", "threads")
        ]
        known = [r for r in ratios if r is not None]
        found.append(
            Target(
                "stretch: rust end-to-end overhead below InMemorySaver's (both workloads)",
                " / ".join(times(r) for r in known) + " of InMemorySaver's speed"
                if known
                else "not measured",
                None if not known else all(r > 1.0 for r in known),
            )
        )
    else:
        found.append(
            Target("stretch: rust end-to-end overhead below InMemorySaver's", "not measured", None)
        )
    memory = view.results.get("memory", {})
    small, large = view.results["meta"]["plan"]["memory_checkpoints"]
    for name in measured or ["rust"]:
        entry = memory.get(name)
        found.append(
            Target(
                f"{name}: RSS after {large:,} puts within 50 MB of RSS after {small:,}",
                "not measured" if not entry else f"+{entry['growth_mb']:.1f} MB",
                None if not entry else entry["growth_mb"] <= 50,
            )
        )
    return found


def _worst_equal_durability(view: View, name: str) -> tuple[float, str] | None:
    worst: tuple[float, str] | None = None
    for contender in (name, f"{name} (full)"):
        for op in OPERATIONS:
            for size in view.sizes():
                value = view.speedup(op, size, contender, equal_durability=True)
                if value is not None and (worst is None or value < worst[0]):
                    worst = (value, f"{contender} {op} {size}")
    return worst


def _scale_target(view: View, name: str) -> Target:
    reads = view.results.get("scale", {}).get("reads", {}).get("get_tuple_latest", {})
    databases = view.results.get("scale", {}).get("databases", {})
    big, small = reads.get("big", {}).get(name), reads.get("small", {}).get(name)
    count = databases.get("big", {}).get("checkpoints", 0)
    text = f"{name}: get_tuple on {count:,} checkpoints within 2x of an almost empty database"
    if not big or not small:
        return Target(text, "not measured", None)
    slowdown = big["median"] / small["median"]
    return Target(text, f"{slowdown:.2f}x slower", slowdown <= 2.0)


# -- sections ------------------------------------------------------------------


def _header(view: View, chart_name: str | None) -> list[str]:
    meta = view.results["meta"]
    machine = meta["machine"]
    baseline = meta["workers"].get("baseline", {})
    lines = [
        "# Benchmarks",
        "",
        "Generated by `benchmarks/` — do not edit by hand. Every figure is a median with its",
        "spread in brackets (interquartile range for single operations, min-max for whole runs);",
        "every ratio is how many times faster than langgraph's `SqliteSaver` (above 1: faster).",
        "Contenders run interleaved (round-robin within each repetition), each of our",
        "implementations in its own worker process.",
        "",
        f"- Date: {meta['date']}; plan `{meta['plan']['name']}`, run time {meta.get('seconds', 0):.0f} s",
        f"- Command: `{meta['command']}`",
        f"- Machine: {machine['cpu']}, {machine['cores']} cores, "
        f"{machine['ram_bytes'] / 2**30:.1f} GiB RAM, {machine['system']}",
        f"- Python {baseline.get('python')}, SQLite {baseline.get('sqlite')}; "
        + ", ".join(f"{k} {v}" for k, v in baseline.get("packages", {}).items() if v),
    ]
    for name, info in meta["workers"].items():
        if name != "baseline":
            lines.append(
                f"- `{name}` worker: {info['executable']} (Python {info['python']}, SQLite {info['sqlite']})"
            )
    for name, reason in meta.get("skipped", {}).items():
        lines.append(f"- Not measured: `{name}` — {reason}")
    lines += ["", "Durability of each row:", ""]
    lines += table(
        ["contender", "durability", "what it is"],
        [
            [f"`{c['name']}`", DURABILITY_NOTE[c["durability"]], _describe(c)]
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
        lines += [f"![speed-up over SqliteSaver]({chart_name})", ""]
    return lines


def _describe(contender: dict[str, Any]) -> str:
    return {
        "sqlite": "langgraph SqliteSaver, its defaults (WAL, synchronous=FULL)",
        "sqlite-normal": "SqliteSaver with `PRAGMA synchronous=NORMAL` on its connection",
        "async-sqlite": "langgraph AsyncSqliteSaver (aiosqlite), async API",
        "memory": "langgraph InMemorySaver",
        "ours": f"RustSQLiteCheckpointer(path), engine `{contender['worker']}`, default durability",
        "ours-full": f'RustSQLiteCheckpointer(path, durability="full"), engine `{contender["worker"]}`',
    }[contender["kind"]]


def _targets_section(view: View) -> list[str]:
    marks = {True: "met", False: "**not met**", None: "not measured"}
    lines = [
        "## Targets",
        "",
        f"Single-operation targets are at the {TARGET_SIZE} state; ratios compare medians.",
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
        "`median [IQR]` and the speed-up over SqliteSaver at its defaults.",
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
                    ratio = view.speedup(op, size, contender["name"])
                    cells.append(f"{spread(summary)} · {times(ratio)}")
            rows.append([f"`{contender['name']}`", contender["durability"], *cells])
        lines += table(["contender", "durability", *sizes], rows)
    lines += [
        "### At equal durability",
        "",
        "Each row against the SqliteSaver row of the same durability (FULL against",
        "SqliteSaver's default, NORMAL against SqliteSaver with `synchronous=NORMAL`).",
        "",
    ]
    rows = []
    for contender in view.contenders:
        if contender["durability"] == "memory" or contender["name"] in (
            REFERENCE,
            REFERENCE_NORMAL,
        ):
            continue
        for op in OPERATIONS:
            if op in operations:
                ratios = [
                    times(view.speedup(op, size, contender["name"], equal_durability=True))
                    for size in sizes
                ]
                rows.append([f"`{contender['name']}`", contender["durability"], op, *ratios])
    header = ["contender", "durability", "operation", *sizes]
    lines += table(header, rows)
    return lines


def _floor_section(view: View) -> list[str]:
    floor = view.results.get("floor")
    if not floor:
        return []
    sizes = view.sizes()
    lines = [
        "## The floor",
        "",
        "What no saver built on JsonPlusSerializer and sqlite3 can go below: serialization",
        "alone and one raw statement on the same bytes (milliseconds, median [IQR]).",
        "SqliteSaver's put and get_tuple are repeated for the distance.",
        "",
    ]
    rows = [
        [FLOOR_TITLES[op], *[spread(floor[op][size]) for size in sizes]]
        for op in FLOOR_OPERATIONS
        if op in floor
    ]
    for op in ("put", "get_tuple_latest"):
        for name in (REFERENCE, REFERENCE_NORMAL):
            rows.append(
                [
                    f"{name} {op}",
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
        "median [min-max over rounds]. The no-op saver stores nothing: its overhead is",
        "LangGraph's own checkpoint bookkeeping, the floor for any saver.",
        "",
    ]
    titles = {"growing": "one growing conversation", "threads": "round-robin over 50 threads"}
    for workload, rows_by_label in e2e["workloads"].items():
        lines += [f"### {titles.get(workload, workload)}", ""]
        rows = []
        for label, entry in rows_by_label.items():
            overhead = entry["overhead_ms"]
            rows.append(
                [
                    f"`{label}`",
                    spread(entry["per_invoke_ms"], "range"),
                    spread(overhead, "range") if overhead else "-",
                    times(view.overhead_ratio(workload, label)) if overhead else "-",
                ]
            )
        lines += table(
            ["saver", "ms per invoke", "overhead ms per invoke", "SqliteSaver overhead ÷ this"],
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
        "median [min-max over rounds], and every error raised.",
        "",
    ]
    for mode, entry in concurrency.items():
        lines += [f"### {entry['writers']} {mode}, {entry['puts_per_writer']} puts each", ""]
        reference = entry["contenders"].get(REFERENCE)
        rows = []
        for name, result in entry["contenders"].items():
            rate = result["checkpoints_per_second"]
            ratio = (
                rate["median"] / reference["checkpoints_per_second"]["median"]
                if reference
                else None
            )
            errors = str(result["errors"])
            if result["error_examples"]:
                errors += ": " + "; ".join(f"`{e}`" for e in result["error_examples"])
            rows.append([f"`{name}`", spread(rate, "range"), times(ratio), errors])
        lines += table(["saver", "checkpoints/s", "vs SqliteSaver", "errors"], rows)
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
        "threads. Milliseconds, median [IQR]. Our savers read their own upgraded copy of the file.",
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
    lines += table(
        [
            "database",
            "checkpoints",
            "bytes per checkpoint, SqliteSaver file",
            "after our upgrade (main file, WAL excluded)",
        ],
        [
            [
                label,
                f"{d['checkpoints']:,}",
                f"{d['bytes_per_checkpoint_sqlitesaver']:,.0f}",
                f"{d['bytes_per_checkpoint_ours']:,.0f}",
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
    lines += table(["engine", "RSS", "RSS", "growth"], rows)
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


def render(results: dict[str, Any], saved: dict[str, Any] | None, out: str | None) -> str:
    """The markdown report; with `out`, also draws the chart beside it."""
    view = View(results)
    chart_name: str | None = None
    if out:
        chart_path = os.path.splitext(out)[0] + ".png"
        if chart.draw(view, chart_path):
            chart_name = os.path.basename(chart_path)
    sections: list[Callable[[View], list[str]]] = [
        _targets_section,
        _operations_section,
        _floor_section,
        _e2e_section,
        _concurrency_section,
        _scale_section,
        _memory_section,
    ]
    lines = _header(view, chart_name)
    for section in sections:
        lines += section(view)
    if saved is not None:
        lines += _comparison_section(view, View(saved))
    return "\n".join(lines).rstrip() + "\n"
