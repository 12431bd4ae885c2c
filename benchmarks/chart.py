"""The PNG chart of speed-ups over SqliteSaver (matplotlib, a bench-only dependency)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Final

from benchmarks.contenders import REFERENCE
from benchmarks.operations import OPERATIONS

if TYPE_CHECKING:
    from benchmarks.report import View

CHART_SIZE: Final = "35KB"


def draw(view: View, path: str) -> bool:
    """Write the chart to `path`; False (with a note on stderr) without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import ScalarFormatter
    except ImportError:
        print("[bench] matplotlib is not installed: no chart drawn", file=sys.stderr)
        return False
    size = CHART_SIZE if CHART_SIZE in view.sizes() else view.sizes()[0]
    names = [c["name"] for c in view.contenders if c["name"] != REFERENCE]
    operations = [op for op in OPERATIONS if view.operation(op, size, REFERENCE)]
    workloads = list(view.results.get("e2e", {}).get("workloads", {}))
    e2e_labels = [name for name in names if any(view.overhead_ratio(w, name) for w in workloads)]
    figure, (left, right) = plt.subplots(
        1, 2, figsize=(13, 5.5), gridspec_kw={"width_ratios": [3, 1.3]}
    )
    colors = {name: f"C{index}" for index, name in enumerate(names)}
    width = 0.8 / max(1, len(names))
    for index, name in enumerate(names):
        offset = (index - (len(names) - 1) / 2) * width
        bars = [(i + offset, view.speedup(op, size, name)) for i, op in enumerate(operations)]
        shown = [(x, v) for x, v in bars if v]
        left.bar(
            [x for x, _ in shown], [v for _, v in shown], width, label=name, color=colors[name]
        )
    left.set_xticks(range(len(operations)), operations, rotation=20, ha="right")
    left.set_yscale("log")
    left.yaxis.set_major_formatter(ScalarFormatter())
    left.axhline(1.0, color="black", linewidth=0.8)
    left.set_ylabel("x faster than SqliteSaver (log)")
    left.set_title(f"Single operations, {size} state")
    left.legend(fontsize=8)
    width = 0.8 / max(1, len(e2e_labels))
    for index, name in enumerate(e2e_labels):
        offset = (index - (len(e2e_labels) - 1) / 2) * width
        bars = [(i + offset, view.overhead_ratio(w, name)) for i, w in enumerate(workloads)]
        # Savers with no measurable overhead (ratio infinite or undefined) get no bar.
        shown = [(x, v) for x, v in bars if v and v != float("inf")]
        right.bar(
            [x for x, _ in shown], [v for _, v in shown], width, label=name, color=colors[name]
        )
    right.set_xticks(range(len(workloads)), workloads)
    right.set_yscale("log")
    right.yaxis.set_major_formatter(ScalarFormatter())
    right.yaxis.set_minor_formatter(ScalarFormatter())
    right.axhline(1.0, color="black", linewidth=0.8)
    right.set_title("End to end: SqliteSaver overhead ÷ saver's")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return True
