"""The plots of `think compare`: latency against energy, agreement, throughput, and each
trade-off table the tests recorded, one line per board."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_think.report.comparison import Comparison


def plots(comparison: Comparison, out: Path) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [b["name"] for b in comparison.boards]
    colors = {n: plt.get_cmap("tab10")(i % 10) for i, n in enumerate(names)}
    files: dict[str, Path] = {}

    def values(attr: str) -> dict[tuple[str, str], float]:
        return {
            (row, name): getattr(cell, attr)
            for row, cells in comparison.rows.items()
            for name, cell in cells.items()
            if getattr(cell, attr) is not None
        }

    def save(key: str, figure: Any, caption: str | None = None) -> None:
        """Write `key`.png; the page shows it under `caption` (default: the key)."""
        path = files[caption or key] = out / f"{key}.png"
        figure.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(figure)

    # Energy goes with the time per inference of the same loop; files that predate that
    # figure fall back on the stream's device p50.
    latency = {**values("device_p50_us"), **values("loop_us_per_inference")}
    energy = values("mj_per_inference")
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for name in names:
        rows = [row for (row, n) in latency if n == name and (row, n) in energy]
        if rows:
            xs = [latency[row, name] for row in rows]
            ys = [energy[row, name] for row in rows]
            axes.scatter(xs, ys, s=60, color=colors[name], label=name)
            for row, x, y in zip(rows, xs, ys):
                axes.annotate(
                    _point_label(row),
                    (x, y),
                    textcoords="offset points",
                    xytext=(5, 3),
                    fontsize=7,
                )
    axes.set_xlabel("device time per inference (µs), in the energy loop")
    axes.set_ylabel("energy per inference (mJ)")
    axes.set_title("latency vs energy, per board and model (boards with a meter)")
    if energy:
        axes.legend(loc="best", fontsize="small")
    save("latency_energy", figure)

    figure, (top, delta) = plt.subplots(2, 1, figsize=(7.5, 6), sharex=True)
    rows = _grouped_bars(top, comparison, names, colors, values("top1_agreement"))
    top.set_ylabel("top-1 agreement")
    top.set_title("agreement with the float reference, and accuracy delta")
    _grouped_bars(delta, comparison, names, colors, values("accuracy_delta_pt"), rows)
    delta.axhline(0, color="black", linewidth=0.8)
    delta.set_ylabel("accuracy Δ (points)")
    save("agreement", figure)

    figure, axes = plt.subplots(figsize=(7.5, 3.5))
    _grouped_bars(axes, comparison, names, colors, values("throughput"))
    axes.set_ylabel("vectors/s")
    axes.set_title("throughput")
    save("throughput", figure)

    for n, (key, by_board) in enumerate(comparison.tables.items()):
        spec = next((t["plot"] for t in by_board.values() if t.get("plot")), None)
        if spec is None:
            continue
        figure, axes = plt.subplots(figsize=(6.5, 4))
        for name in names:
            table = by_board.get(name)
            if table is None or spec["x"] not in table["columns"]:
                continue
            xi, yi = table["columns"].index(spec["x"]), table["columns"].index(spec["y"][0])
            # In the order the test recorded (variants, thresholds), not sorted by x.
            points = [
                (r[xi], r[yi]) for r in table["rows"] if r[xi] is not None and r[yi] is not None
            ]
            if points:
                axes.plot(
                    [x for x, _ in points],
                    [y for _, y in points],
                    marker="o",
                    color=colors[name],
                    label=name,
                )
        axes.set_xlabel(spec["x"])
        axes.set_ylabel(spec["y"][0])
        test, _, table_name = key.partition(": ")
        axes.set_title(f"{table_name}\n({test})", fontsize=10)
        axes.legend(loc="best", fontsize="small")
        save(f"tradeoff_{n}", figure, key)
    return files


def _point_label(row: str) -> str:
    """What tells a point apart: the model's label when the test ran several, else the test."""
    if row.endswith("]") and " [" in row:
        return row[row.rindex(" [") + 2 : -1]
    return _short(row.removeprefix("test_"), 24)


def _short(row: str, width: int = 28) -> str:
    return row if len(row) <= width else row[: width - 1] + "…"


def _grouped_bars(
    axes: Any,
    comparison: Comparison,
    names: list[str],
    colors: dict[str, Any],
    values: dict[tuple[str, str], float],
    rows: list[str] | None = None,
) -> list[str]:
    """Bars grouped by row (test and model), one colour per board; gaps stay empty."""
    rows = rows or [r for r in comparison.rows if any((r, n) in values for n in names)]
    width = 0.8 / max(1, len(names))
    for i, name in enumerate(names):
        xs = [j + i * width for j, row in enumerate(rows) if (row, name) in values]
        ys = [values[row, name] for row in rows if (row, name) in values]
        axes.bar(xs, ys, width=width, color=colors[name], label=name)
    axes.set_xticks([j + 0.4 - width / 2 for j in range(len(rows))])
    axes.set_xticklabels([_short(r) for r in rows], rotation=20, ha="right")
    if values:
        axes.legend(loc="best", fontsize="small")
    return rows
