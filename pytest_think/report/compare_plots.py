"""The plots of `think compare`: latency against energy per column and model, the headline
latency and throughput per model, and each sweep the tests recorded (record_table) with one
line per column.

Columns are told apart by colour, marker and line style at once, markers shrinking from the
first column to the last, so that lines that coincide still show every column; a line that
coincides with an earlier one says so. Past `KEY_AT` columns the plots share one key (a
legend drawn once) instead of a legend each. No axis holds more than `MAX_CATEGORIES` names:
more models are split over several plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_think.report.comparison import Comparison
from pytest_think.report.headline import Headline

__all__ = ["KEY_AT", "MAX_CATEGORIES", "Sweep", "plots", "sweeps"]

MAX_CATEGORIES = 20
KEY_AT = 6  # more columns than this: one key for every plot
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">"]
LINESTYLES = ["-", "--", ":", "-."]


class Sweep:
    """One recorded sweep of a test: `y` against `x`, a line per column that recorded both."""

    def __init__(self, test: str, title: str, x: str, y: str) -> None:
        self.test, self.title, self.x, self.y = test, title, x, y
        self.lines: dict[str, list[tuple[float, float]]] = {}
        self.missing: list[str] = []  # columns with the test's tables but not these columns


def sweeps(comparison: Comparison) -> list[Sweep]:
    """Every (x, y) a test asked to plot on any column, drawn from each column's tables that
    have both columns: tables recorded with different columns (a board with a meter adds
    energy) still overlay on the columns they share."""
    found = []
    for test, by_column in comparison.tables.items():
        specs: dict[tuple[str, str], str] = {}
        for tables in by_column.values():
            for table in tables:
                plot = table.get("plot")
                if plot:
                    specs.setdefault((plot["x"], plot["y"][0]), table["name"])
        for (x, y), title in specs.items():
            sweep = Sweep(test, title, x, y)
            for column in (c.name for c in comparison.columns):
                recorded = by_column.get(column)
                if recorded is None:
                    continue
                points = _points(recorded, x, y, title)
                if points:
                    sweep.lines[column] = points
                else:
                    sweep.missing.append(column)
            if sweep.lines:
                found.append(sweep)
    return found


def _points(tables: list[dict[str, Any]], x: str, y: str, title: str) -> list[tuple[float, float]]:
    """The table that asked for this plot, else the longest other table with both columns."""
    found: list[list[tuple[float, float]]] = []
    for table in tables:
        columns = table["columns"]
        if x in columns and y in columns:
            xi, yi = columns.index(x), columns.index(y)
            # In the order the test recorded (variants, thresholds), not sorted by x.
            points = [
                (float(r[xi]), float(r[yi]))
                for r in table["rows"]
                if r[xi] is not None and r[yi] is not None
            ]
            if points and table["name"] == title:
                return points
            found.append(points)
    return max(found, key=len, default=[])


def style(n: int, count: int) -> dict[str, Any]:
    """Column `n` of `count`: colour, marker, line style, markers shrinking column by column."""
    import matplotlib.pyplot as plt

    size = 11 - 6 * n / max(1, count - 1)
    return {
        "color": plt.get_cmap("tab10")(n % 10),
        "marker": MARKERS[n % len(MARKERS)],
        "linestyle": LINESTYLES[n % len(LINESTYLES)],
        "markersize": size,
        "linewidth": 3.0 - 1.8 * n / max(1, count - 1),
    }


def plots(comparison: Comparison, heads: list[Headline], out: Path) -> dict[str, Path]:
    """Write the plots into `out`; their captions and paths, in the page's order."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [c.name for c in comparison.columns]
    styles = {name: style(n, len(names)) for n, name in enumerate(names)}
    files: dict[str, Path] = {}

    def save(key: str, figure: Any, caption: str) -> None:
        path = files[caption] = out / f"{key}.png"
        figure.savefig(path, dpi=90)  # fixed margins: drawn once (a layout engine draws twice)
        plt.close(figure)

    legend = len(names) <= KEY_AT
    if not legend:
        save("key", _key(plt, names, styles), "key: the marker, colour and line of each column")
    figure = _latency_energy(plt, heads, names, styles, legend)
    if figure is not None:
        save("latency_energy", figure, "latency against energy, per board and model")

    timed = [h for h in heads if any("latency" in p for p in h.cells.values())]
    for part in range(0, len(timed), MAX_CATEGORIES):
        chunk = timed[part : part + MAX_CATEGORIES]
        figure = _bars(plt, chunk, names, styles, legend)
        n = part // MAX_CATEGORIES
        suffix = (
            f" ({n + 1} of {-(-len(timed) // MAX_CATEGORIES)})" if len(timed) > len(chunk) else ""
        )
        save(f"headline_{n}", figure, f"device latency and throughput per model{suffix}")

    for n, sweep in enumerate(sweeps(comparison)):
        said = sweep.x in sweep.title and sweep.y in sweep.title
        what = sweep.title if said else f"{sweep.title}: {sweep.y} against {sweep.x}"
        figure = _sweep(plt, sweep, names, styles, legend)
        save(f"sweep_{n}", figure, f"{what} ({sweep.test})")
    return files


def _key(plt: Any, names: list[str], styles: dict[str, Any]) -> Any:
    from matplotlib.lines import Line2D

    columns = min(4, len(names))
    figure = plt.figure(figsize=(11, 0.3 + 0.3 * -(-len(names) // columns)))
    handles = [Line2D([], [], **styles[name]) for name in names]
    figure.legend(handles, names, loc="center", ncol=columns, frameon=False, fontsize="small")
    return figure


def _latency_energy(
    plt: Any, heads: list[Headline], names: list[str], styles: dict[str, Any], legend: bool
) -> Any | None:
    """A point per column and model that measured energy (None: no model did)."""
    energetic = [h for h in heads if any(p.get("energy") for p in h.cells.values())]
    if not energetic:
        return None
    figure, axes = plt.subplots(figsize=(7.5, 4.8))
    count = sum(len(h.cells) for h in energetic)
    named: set[str] = set()  # past 40 points, each model named once (its first column)
    for name in names:
        points = [
            (h.model, p["energy"].loop_us, p["energy"].value)
            for h in energetic
            if (p := h.cells.get(name)) and "energy" in p and p["energy"].loop_us is not None
        ]
        if not points:
            continue
        s = styles[name]
        axes.plot(
            [x for _, x, _ in points], [y for _, _, y in points], linestyle="none",
            marker=s["marker"], markersize=s["markersize"], color=s["color"], label=name,
            alpha=0.85,
        )  # fmt: skip
        for model, x, y in points:
            if model in named and count > 40:
                continue
            named.add(model)
            label = _short(model.split(" (")[0], 22)
            axes.annotate(
                label, (x, y), textcoords="offset points", xytext=(6, 2), fontsize=7,
                color=s["color"],
            )  # fmt: skip
    axes.margins(x=0.15, y=0.08)
    axes.set_xlabel("device time per inference in the energy loop (µs)")
    axes.set_ylabel("energy per inference (mJ)")
    axes.set_title("latency against energy, per board and model")
    axes.grid(alpha=0.3)
    if legend:
        axes.legend(loc="best", fontsize="small")
    figure.subplots_adjust(left=0.11, right=0.97, top=0.92, bottom=0.12)
    return figure


def _sweep(plt: Any, sweep: Sweep, names: list[str], styles: dict[str, Any], legend: bool) -> Any:
    """A line per column; one that coincides with an earlier column's says so."""
    figure, axes = plt.subplots(figsize=(6.5, 4.2))
    drawn: dict[str, list[tuple[float, float]]] = {}
    same_as: dict[str, str] = {}
    for name in names:
        points = sweep.lines.get(name)
        if points is None:
            continue
        same = next((other for other, p in drawn.items() if p == points), None)
        if same:
            same_as[name] = same
        label = f"{name} (same as {same})" if same else name
        s = styles[name]
        axes.plot([x for x, _ in points], [y for _, y in points], label=label, **s)
        drawn[name] = points
    axes.set_xlabel(sweep.x)
    axes.set_ylabel(sweep.y)
    axes.set_title(f"{sweep.title}\n{_short(sweep.test, 60)}", fontsize=10)
    axes.grid(alpha=0.3)
    notes = ["not recorded on " + ", ".join(sweep.missing)] if sweep.missing else []
    if not legend and same_as:
        notes.append("lines that coincide: " + ", ".join(f"{a} = {b}" for a, b in same_as.items()))
    if notes:
        axes.text(
            0.0, -0.2, _short("; ".join(notes), 110), transform=axes.transAxes, fontsize=7,
            color="#666",
        )  # fmt: skip
    if legend:
        axes.legend(loc="best", fontsize="small")
    figure.subplots_adjust(left=0.13, right=0.97, top=0.86, bottom=0.16)
    return figure


def _bars(
    plt: Any, heads: list[Headline], names: list[str], styles: dict[str, Any], legend: bool
) -> Any:
    """Horizontal bars, a group per model (names read on the axis, never rotated)."""
    height = 0.8 / max(1, len(names))
    figure, (left, right) = plt.subplots(
        1, 2, figsize=(11, 1.2 + 0.22 * len(heads) * max(2, len(names))), sharey=True
    )
    figure.subplots_adjust(
        left=0.22,
        right=0.98,
        wspace=0.05,
        top=1 - 0.45 / figure.get_figheight(),
        bottom=0.45 / figure.get_figheight(),
    )
    for axes, figure_name, title in (
        (left, "latency", "device latency p50 (µs), shorter is better"),
        (right, "throughput", "throughput (vectors/s), longer is better"),
    ):
        for i, name in enumerate(names):
            rows = [
                (j, h.cells[name][figure_name].value)
                for j, h in enumerate(heads)
                if name in h.cells and figure_name in h.cells[name]
            ]
            axes.barh(
                [j + i * height for j, _ in rows], [v for _, v in rows], height=height,
                color=styles[name]["color"], label=name,
            )  # fmt: skip
        axes.set_title(title, fontsize=10)
        axes.grid(axis="x", alpha=0.3)
    left.set_yticks([j + 0.4 - height / 2 for j in range(len(heads))])
    left.set_yticklabels([_short(h.model, 34) for h in heads], fontsize=8)
    left.invert_yaxis()
    if legend:
        right.legend(loc="lower right", fontsize="small")
    return figure


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
