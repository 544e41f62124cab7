"""The compare page's headline: per model, one figure per column and figure.

A model often runs in several tests on one board (the accuracy test, the design's test, a
variant sweep …). Its headline figure is the median of those tests' figures — the lower
median, so that it is a figure one test measured, named where the page shows it — and the
device latency p99 is that of the run whose p50 is the headline."""

from __future__ import annotations

from dataclasses import dataclass, field

from pytest_think.report.comparison import Cell, Comparison
from pytest_think.report.deltas import Delta, Measure, judge

__all__ = ["HEADLINE", "Headline", "Pick", "best_columns", "headlines"]

# The headline's rows: deltas.FIGURES names, and the accuracy against the float reference.
HEADLINE: list[tuple[str, str, bool]] = [  # name, in words with its unit, higher is better
    ("latency", "latency p50, µs", False),
    ("p99", "latency p99, µs", False),
    ("throughput", "vectors/s", True),
    ("energy", "mJ per inference", False),
    ("accuracy_delta", "accuracy Δ, points", True),
]


@dataclass(frozen=True)
class Pick:
    """A headline figure: its value, the test it came from, how many tests measured it."""

    value: float
    test: str
    of: int
    measure: Measure | None = None  # with its noise, for the change against the baseline
    loop_us: float | None = None  # energy: the loop's device time per inference
    note: str | None = None  # energy: why there is no valid figure


@dataclass
class Headline:
    model: str
    cells: dict[str, dict[str, Pick]] = field(default_factory=dict)  # column -> figure -> pick

    def delta(self, comparison: Comparison, column: str, figure: str) -> Delta | None:
        """The change of `figure` in `column` against its baseline column, judged."""
        base = comparison.baseline_for(column)
        if base is None:
            return None
        figure = "accuracy" if figure == "accuracy_delta" else figure
        before = self.cells.get(base, {}).get(figure)
        after = self.cells.get(column, {}).get(figure)
        if before is None or after is None or before.measure is None or after.measure is None:
            return None
        return judge(figure, before.measure, after.measure, comparison.limits.get(figure))


def _lower_median(cells: list[Cell], key: str) -> tuple[Cell, int] | None:
    having = sorted((c for c in cells if key in c.figures), key=lambda c: c.figures[key].value)
    if not having:
        return None
    return having[(len(having) - 1) // 2], len(having)


def _picks(cells: list[Cell]) -> dict[str, Pick]:
    picks: dict[str, Pick] = {}
    for name in ("latency", "throughput", "energy", "accuracy"):
        found = _lower_median(cells, name)
        if found is None:
            continue
        cell, of = found
        measure = cell.figures[name]
        loop = cell.loop_us_per_inference if name == "energy" else None
        picks[name] = Pick(measure.value, cell.test, of, measure, loop)
        if name == "latency" and "p99" in cell.figures:
            picks["p99"] = Pick(cell.figures["p99"].value, cell.test, of, cell.figures["p99"])
        if name == "accuracy" and cell.accuracy_delta_pt is not None:
            picks["accuracy_delta"] = Pick(cell.accuracy_delta_pt, cell.test, of)
    if "energy" not in picks:
        invalid = next((c for c in cells if c.energy_note), None)
        if invalid is not None and invalid.energy_note:
            picks["energy"] = Pick(float("nan"), invalid.test, 1, note=invalid.energy_note)
    return picks


def headlines(comparison: Comparison) -> list[Headline]:
    """One headline per model, the models measured on the most columns first."""
    grouped: dict[str, dict[str, list[Cell]]] = {}
    cases = comparison.case_functions()
    for key, cells in comparison.rows.items():
        info = comparison.info[key]
        model = info.headline
        if model and (info.suite, info.function) not in cases:
            for column, cell in cells.items():
                grouped.setdefault(model, {}).setdefault(column, []).append(cell)
    found = []
    for model, by_column in grouped.items():
        headline = Headline(model)
        for column in (c.name for c in comparison.columns):
            picks = _picks(by_column.get(column, []))
            if picks:
                headline.cells[column] = picks
        if headline.cells:
            found.append(headline)
    order = {h.model: n for n, h in enumerate(found)}
    return sorted(found, key=lambda h: (-len(h.cells), order[h.model]))


def best_columns(headline: Headline, figure: str, higher_is_better: bool) -> set[str]:
    """The columns with the best value of `figure` (none when fewer than two columns have
    it, or when all are equal: nothing to mark)."""
    values = {
        column: picks[figure].value
        for column, picks in headline.cells.items()
        if figure in picks and picks[figure].note is None
    }
    if len(values) < 2 or len(set(values.values())) == 1:
        return set()
    best = max(values.values()) if higher_is_better else min(values.values())
    return {column for column, value in values.items() if value == best}
