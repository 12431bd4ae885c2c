"""The PNG chart of speed-ups over SqliteSaver at equal durability (matplotlib,
a bench-only dependency)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Final

from benchmarks.contenders import REFERENCE, REFERENCE_NORMAL

if TYPE_CHECKING:
    from benchmarks.report import View

CHART_OPERATIONS: Final = ("put", "put_writes", "get_tuple_latest", "list_limit_10")


def draw(view: View, path: str) -> bool:
    """Write the chart to `path`; False (with a note on stderr) without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter
    except ImportError:
        print("[bench] matplotlib is not installed: no chart drawn", file=sys.stderr)
        return False
    size = view.target_size()
    # Every saver on disk but the two references, NORMAL rows first.
    names = [
        c["name"]
        for durability in ("NORMAL", "FULL")
        for c in view.contenders
        if c["durability"] == durability and c["name"] not in (REFERENCE, REFERENCE_NORMAL)
    ]
    operations = [op for op in CHART_OPERATIONS if view.operation(op, size, REFERENCE)]
    workloads = view.workloads()
    e2e_labels = [
        name for name in names if any(view.overhead_ratio(w, name, None) for w in workloads)
    ]
    figure, (left, right) = plt.subplots(
        1, 2, figsize=(14, 7), gridspec_kw={"width_ratios": [3, 1.4]}
    )
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    colors = {name: f"C{index % 10}" for index, name in enumerate(names)}
    hatches = {name: "//" if view.reference_for(name) == REFERENCE else "" for name in names}
    width = 0.85 / max(1, len(names))
    for index, name in enumerate(names):
        offset = (index - (len(names) - 1) / 2) * width
        bars = [
            (i + offset, view.speedup(op, size, name, equal_durability=True))
            for i, op in enumerate(operations)
        ]
        shown = [(x, v) for x, v in bars if v]
        left.bar(
            [x for x, _ in shown],
            [v for _, v in shown],
            width,
            label=name,
            color=colors[name],
            hatch=hatches[name],
            edgecolor="white",
        )
    left.set_xticks(range(len(operations)), operations)
    left.set_yscale("log")
    left.yaxis.set_major_formatter(plain)
    left.yaxis.set_minor_formatter(plain)
    left.axhline(1.0, color="black", linewidth=0.8)
    left.set_ylabel("x faster than SqliteSaver at the same durability (log)")
    left.set_title(f"Single operations, {size} state (hatched: FULL, plain: NORMAL)")
    width = 0.85 / max(1, len(e2e_labels))
    for index, name in enumerate(e2e_labels):
        offset = (index - (len(e2e_labels) - 1) / 2) * width
        bars = [(i + offset, view.overhead_ratio(w, name, None)) for i, w in enumerate(workloads)]
        # Savers with no measurable overhead (ratio infinite or undefined) get no bar.
        shown = [(x, v) for x, v in bars if v and v != float("inf")]
        right.bar(
            [x for x, _ in shown],
            [v for _, v in shown],
            width,
            label=name,
            color=colors[name],
            hatch=hatches[name],
            edgecolor="white",
        )
    right.set_xticks(range(len(workloads)), workloads)
    right.set_yscale("log")
    right.yaxis.set_major_formatter(plain)
    right.yaxis.set_minor_formatter(plain)
    right.axhline(1.0, color="black", linewidth=0.8)
    right.set_title("End to end: SqliteSaver overhead ÷ saver's\n(same durability)")
    handles, labels = left.get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    figure.tight_layout(rect=(0, 0.1, 1, 1))
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return True
