"""The HTML of `think compare`: one self-contained page (plots inlined, no network).

First screen: the boards (or runs) and a headline table per model, one column per board or
run, the best value marked; then the plots; then a folding section per suite (test file). A
suite's test function with more than `CASES_AT` cases (a conformance suite) is a pass rate
per column with the cases that did not pass listed, not a row per case. Tables sort by a
click on a heading and filter by the box above them (a few lines of inline script)."""

from __future__ import annotations

import base64
import html
import math
from collections import Counter
from pathlib import Path

from pytest_think.report.comparison import CASES_AT, Cell, Column, Comparison
from pytest_think.report.deltas import Delta, judge
from pytest_think.report.deltas import _number as plain
from pytest_think.report.headline import HEADLINE, Headline, Pick, best_columns

__all__ = ["FIGURE_COLUMNS", "page", "plain", "shown"]

GAP = "—"

# The suite tables' figures: deltas.FIGURES name (or a Cell field), heading with its unit.
FIGURE_COLUMNS = [
    ("latency", "device p50, µs"),
    ("p99", "device p99, µs"),
    ("throughput", "vectors/s"),
    ("energy", "mJ per inference"),
    ("accuracy", "accuracy, %"),
    ("accuracy_delta", "Δ vs float reference, points"),
]

SCRIPT = """
document.querySelectorAll("table.sortable th").forEach((th, i) => th.addEventListener("click", () => {
  const body = th.closest("table").tBodies[0], up = th.dataset.dir !== "up";
  const key = r => { const c = r.cells[i], v = parseFloat(c?.dataset.v); return isNaN(v) ? (c?.textContent ?? "") : v; };
  const cmp = (a, b) => typeof a === typeof b ? (a > b) - (a < b) : typeof a === "number" ? -1 : 1;
  th.dataset.dir = up ? "up" : "down";
  body.append(...[...body.rows].sort((a, b) => (up ? 1 : -1) * cmp(key(a), key(b))));
}));
document.querySelectorAll("input.filter").forEach(f => f.addEventListener("input", () => {
  const q = f.value.toLowerCase(), scope = document.querySelector(f.dataset.scope);
  scope.querySelectorAll("tbody tr").forEach(r => r.hidden = !r.textContent.toLowerCase().includes(q));
  scope.querySelectorAll("details").forEach(d => d.open = q !== "" || d.dataset.open === "1");
}));
"""

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.2em 2em; color: #222; font-size: 14px; }
h1 { font-size: 1.5em; margin: 0 0 .2em; } h2 { font-size: 1.15em; margin: 1.2em 0 .4em; }
p.lede { margin: 0 0 .6em; color: #555; }
table { border-collapse: collapse; margin: .4em 0; }
th, td { border: 1px solid #d5d5d5; padding: 3px 8px; text-align: right; vertical-align: top; }
th { background: #f3f3f3; font-weight: 600; cursor: pointer; max-width: 11em; }
td.name, th.name { text-align: left; max-width: 24em; overflow-wrap: anywhere; }
td.best { font-weight: 700; background: #e7f4e4; }
.d { display: block; font-size: .8em; font-weight: 400; }
.regression { color: #b00020; font-weight: 700; } .improvement { color: #1b7a1b; font-weight: 700; }
.unchanged { color: #888; }
#boards td, #boards th { white-space: nowrap; } #boards td.wrap { white-space: normal; max-width: 22em; }
#headline { display: flex; flex-wrap: wrap; gap: .1em 1em; align-items: flex-start; font-size: 13px; }
#headline th, #headline td { padding: 2px 6px; }
#headline table caption { text-align: left; font-weight: 700; padding: 2px 0; max-width: 30em; }
#headline td:first-child { text-align: left; color: #444; white-space: nowrap; }
#plots { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; flex: 0 1 auto; max-width: 660px; } figure.wide { max-width: 100%; } img { max-width: 100%; } figcaption { font-size: .85em; color: #555; }
details { margin: .3em 0; border: 1px solid #e2e2e2; border-radius: 4px; padding: .2em .6em; }
summary { cursor: pointer; font-weight: 600; padding: .2em 0; }
.failed { color: #b00020; } .note { color: #666; font-size: .9em; }
input.filter { font-size: 1em; padding: 3px 6px; width: 24em; }
"""


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def shown(pick_or_value: Pick | float | None, figure: str) -> str:
    """A figure as the page writes it: plain digits (never 3.764e+04), signed for Δ."""
    if isinstance(pick_or_value, Pick):
        if pick_or_value.note:
            return pick_or_value.note
        value: float | None = pick_or_value.value
    else:
        value = pick_or_value
    if value is None or not math.isfinite(value):
        return GAP
    if figure == "accuracy_delta":
        return f"{value:+.2f}"
    if figure == "accuracy":
        return f"{value:.2f}"
    return plain(value)


def _delta_html(delta: Delta | None) -> str:
    if delta is None or delta.change == 0:
        return ""
    words = {"regression": "slower/worse", "improvement": "better", "unchanged": "within noise"}
    text = delta.change_text if delta.verdict != "unchanged" else f"{delta.change_text} ≈"
    return (
        f"<span class='d {delta.verdict}' title='{esc(delta.line())}: "
        f"{words[delta.verdict]}'>{esc(text)}</span>"
    )


def _boards(comparison: Comparison) -> str:
    def outcomes(c: Column) -> str:
        parts = [
            f"<span class='failed'>{n} {o}</span>" if o in ("failed", "error") else f"{n} {o}"
            for o, n in c.outcomes.most_common()
        ]
        return ", ".join(parts)

    rows = "".join(
        f"<tr><td class='name board'>{esc(c.name)}"
        + (" <span class='note'>(baseline)</span>" if c.name == comparison.baseline else "")
        + f"</td><td class='name'>{esc(c.family or GAP)}</td><td class='name'>{c.target}</td>"
        f"<td class='name wrap'>{esc(', '.join(c.designs) or GAP)}</td>"
        f"<td class='name'>{esc(c.power_mode or GAP)}</td>"
        + (f"<td class='name'>{esc(c.place or GAP)}</td>" if _any_place(comparison) else "")
        + f"<td class='name'>{esc((c.created or GAP)[:16].replace('T', ' '))}</td>"
        f"<td class='name'>{outcomes(c)}</td>"
        f"<td class='name' title='{esc(c.source)}'>{esc(Path(c.source).name)}</td></tr>"
        for c in comparison.columns
    )
    place = "<th class='name'>place</th>" if _any_place(comparison) else ""
    return (
        "<table id='boards'><thead><tr><th class='name'>column</th><th class='name'>family</th>"
        "<th class='name'>target</th><th class='name'>designs flashed</th>"
        f"<th class='name'>power mode</th>{place}<th class='name'>run (UTC)</th>"
        f"<th class='name'>tests</th><th class='name'>results file</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def _any_place(comparison: Comparison) -> bool:
    return any(c.place for c in comparison.columns)


def _headline(comparison: Comparison, head: Headline) -> str:
    names = [c.name for c in comparison.columns if c.name in head.cells]
    heading = "".join(f"<th title='{esc(n)}'>{esc(n)}</th>" for n in names)
    body = ""
    for figure, words, higher in HEADLINE:
        if not any(figure in head.cells[n] for n in names):
            continue
        best = best_columns(head, figure, higher)
        cells = ""
        for name in names:
            pick = head.cells[name].get(figure)
            if pick is None:
                cells += f"<td>{GAP}</td>"
                continue
            where = f"{pick.test}" + (f" (the median of {pick.of} tests)" if pick.of > 1 else "")
            mark = " class='best'" if name in best else ""
            cells += (
                f"<td{mark} data-v='{pick.value}' title='{esc(where)}'>"
                f"{'★ ' if name in best else ''}{esc(shown(pick, figure))}"
                f"{_delta_html(head.delta(comparison, name, figure))}</td>"
            )
        body += f"<tr><td>{esc(words)}</td>{cells}</tr>"
    return (
        f"<table class='headline'><caption title='{esc(head.model)}'>{esc(head.model)}"
        f"</caption><thead><tr><th class='name'>figure</th>{heading}</tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


def _figure(cell: Cell, figure: str) -> float | None:
    if figure == "accuracy_delta":
        return cell.accuracy_delta_pt
    measure = cell.figures.get(figure)
    return measure.value if measure else None


def _row_delta(
    comparison: Comparison, cells: dict[str, Cell], column: str, figure: str
) -> Delta | None:
    base = comparison.baseline_for(column)
    name = "accuracy" if figure == "accuracy_delta" else figure
    if base is None or base not in cells or figure == "accuracy_delta":
        return None
    before, after = cells[base].figures.get(name), cells[column].figures.get(name)
    if before is None or after is None:
        return None
    return judge(name, before, after, comparison.limits.get(name))


def _suite_rows(comparison: Comparison, keys: list[str]) -> str:
    heading = "".join(f"<th>{esc(h)}</th>" for _, h in FIGURE_COLUMNS)
    rows = ""
    for key in keys:
        info, cells = comparison.info[key], comparison.rows[key]
        for column in (c.name for c in comparison.columns):
            cell = cells.get(column)
            if cell is None:
                continue
            outcome = cell.outcome
            marked = f"<span class='failed'>{esc(outcome)}</span>" if outcome in (
                "failed", "error") else esc(outcome)  # fmt: skip
            title = f" title='{esc(cell.message)}'" if cell.message else ""
            figures = ""
            for figure, _ in FIGURE_COLUMNS:
                value = _figure(cell, figure)
                if figure == "energy" and value is None and cell.energy_note:
                    figures += f"<td>{esc(cell.energy_note)}</td>"
                    continue
                v = f" data-v='{value}'" if value is not None else ""
                figures += (
                    f"<td{v}>{esc(shown(value, figure))}"
                    f"{_delta_html(_row_delta(comparison, cells, column, figure))}</td>"
                )
            rows += (
                f"<tr><td class='name' title='{esc(info.test)}'>{esc(info.test)}</td>"
                f"<td class='name'>{esc(info.model or GAP)}</td>"
                f"<td class='name'>{esc(column)}</td><td class='name'{title}>{marked}</td>"
                f"{figures}</tr>"
            )
    return (
        "<table class='sortable'><thead><tr><th class='name'>test</th><th class='name'>model"
        "</th><th class='name'>column</th><th class='name'>outcome</th>"
        f"{heading}</tr></thead><tbody>{rows}</tbody></table>"
    )


def _cases(comparison: Comparison, function: str, keys: list[str]) -> str:
    """A pass rate per column, and the cases that did not pass everywhere."""
    names = [c.name for c in comparison.columns]
    rate = ""
    for name in names:
        counts = Counter(comparison.rows[k][name].outcome for k in keys if name in comparison.rows[k])
        total = sum(counts.values())
        if not total:
            continue
        bad = counts["failed"] + counts["error"]
        rate += (
            f"<tr><td class='name'>{esc(name)}</td><td data-v='{counts['passed'] / total}'>"
            f"{100 * counts['passed'] / total:.0f} %</td><td>{counts['passed']}</td>"
            f"<td>{'<span class=failed>' + str(bad) + '</span>' if bad else 0}</td>"
            f"<td>{counts['xfailed']}</td><td>{counts['skipped']}</td><td>{total}</td></tr>"
        )
    failing = [k for k in keys if any(c.outcome != "passed" for c in comparison.rows[k].values())]
    heading = "".join(f"<th title='{esc(n)}'>{esc(n)}</th>" for n in names)
    rows = ""
    for key in failing:
        cells = comparison.rows[key]
        outcomes = "".join(
            f"<td class='name' title='{esc(cells[n].message or '')}'>"
            + (f"<span class='failed'>{esc(cells[n].outcome)}</span>"
               if cells[n].outcome in ("failed", "error") else esc(cells[n].outcome))
            + "</td>" if n in cells else f"<td>{GAP}</td>"
            for n in names
        )  # fmt: skip
        case = comparison.info[key].test
        rows += f"<tr><td class='name' title='{esc(case)}'>{esc(case)}</td>{outcomes}</tr>"
    listed = (
        f"<p class='note'>{len(failing)} of {len(keys)} cases did not pass on every column "
        "(hover an outcome for its message):</p>"
        "<table class='sortable'><thead><tr><th class='name'>case</th>"
        f"{heading}</tr></thead><tbody>{rows}</tbody></table>"
        if failing
        else f"<p class='note'>all {len(keys)} cases passed on every column.</p>"
    )
    return (
        f"<h3>{esc(function)}: {len(keys)} cases (more than {CASES_AT}: a pass rate)</h3>"
        "<table class='sortable'><thead><tr><th class='name'>column</th><th>pass rate</th>"
        "<th>passed</th><th>failed</th><th>expected to fail</th><th>skipped</th><th>cases</th>"
        f"</tr></thead><tbody>{rate}</tbody></table>{listed}"
    )


def _recorded(comparison: Comparison, tests: list[str]) -> str:
    """Each table the suite's tests recorded: a row per column and table row."""
    found = ""
    for test in tests:
        by_column = comparison.tables.get(test, {})
        names = list(dict.fromkeys(t["name"] for ts in by_column.values() for t in ts))
        for table_name in names:
            parts = [
                (column, t) for column, ts in by_column.items() for t in ts
                if t["name"] == table_name
            ]  # fmt: skip
            columns = list(dict.fromkeys(c for _, t in parts for c in t["columns"]))
            heading = "".join(f"<th>{esc(c)}</th>" for c in columns)
            rows = ""
            for column, table in parts:
                for r in table["rows"]:
                    values = dict(zip(table["columns"], r))
                    rows += f"<tr><td class='name'>{esc(column)}</td>" + "".join(
                        _value(values.get(c)) for c in columns
                    ) + "</tr>"
            found += (
                f"<h3 title='{esc(test)}'>{esc(test)}: {esc(table_name)}</h3>"
                "<table class='sortable'><thead><tr><th class='name'>column</th>"
                f"{heading}</tr></thead><tbody>{rows}</tbody></table>"
            )
    return found


def _value(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"<td>{esc(GAP if value is None else value)}</td>"
    return f"<td data-v='{value}'>{esc(plain(float(value)) if isinstance(value, float) else value)}</td>"


def _suites(comparison: Comparison) -> str:
    by_suite: dict[str, list[str]] = {}
    for key in sorted(comparison.rows, key=lambda k: (comparison.info[k].suite, k)):
        by_suite.setdefault(comparison.info[key].suite, []).append(key)
    sections = ""
    for suite, keys in by_suite.items():
        cases = {f for s, f in comparison.case_functions() if s == suite}
        plain_keys = [k for k in keys if comparison.info[k].function not in cases]
        body = _suite_rows(comparison, plain_keys) if plain_keys else ""
        for function in sorted(cases):
            body += _cases(comparison, function, [k for k in keys if comparison.info[k].function == function])
        tests = list(dict.fromkeys(comparison.info[k].test for k in keys))
        body += _recorded(comparison, tests)
        runs = {
            (comparison.info[k].test, column): cell.outcome
            for k in keys
            for column, cell in comparison.rows[k].items()
        }
        outcomes = Counter(runs.values())
        bad = outcomes["failed"] + outcomes["error"]
        summary = (
            f"{esc(suite)} — {len(tests)} test{'s' if len(tests) > 1 else ''} · "
            f"{outcomes['passed']} of {len(runs)} runs passed"
            + (f" · <span class='failed'>{bad} failed</span>" if bad else "")
        )
        sections += f"<details data-open='0'><summary>{summary}</summary>{body}</details>"
    return sections


def page(comparison: Comparison, heads: list[Headline], plots: dict[str, Path]) -> str:
    columns = ", ".join(c.name for c in comparison.columns)
    baseline = (
        f" Changes are against the baseline <b>{esc(comparison.baseline)}</b>, real (coloured) "
        "only beyond its threshold and both runs' noise; ≈ within noise."
        if comparison.baseline
        else ""
    )
    images = "".join(
        f"<figure{' class=wide' if path.stem.startswith('headline') else ''}><img alt='{esc(caption)}' src='data:image/png;base64,"
        f"{base64.b64encode(path.read_bytes()).decode()}'><figcaption>{esc(caption)}"
        "</figcaption></figure>"
        for caption, path in plots.items()
    )
    headline = "".join(_headline(comparison, h) for h in heads)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>THINK compare: {esc(columns)}</title>
<style>{STYLE}</style></head>
<body>
<h1>THINK compare: {len(comparison.columns)} columns</h1>
<div id="first">
{_boards(comparison)}
<h2>Headline per model</h2>
<p class="lede">The median of the tests that ran the model on each column (hover a figure for
its test); ★ marks the best.{baseline}</p>
<div id="headline">{headline}</div>
</div>
<h2>Plots</h2>
<div id="plots">{images}</div>
<h2>Per suite</h2>
<p><input class="filter" data-scope="#suites" placeholder="filter rows: test, model, column, outcome"></p>
<div id="suites">{_suites(comparison)}</div>
<script>{SCRIPT}</script>
</body></html>
"""
