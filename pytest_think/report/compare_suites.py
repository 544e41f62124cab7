"""The compare page's folding section per suite (test file): its tests × columns, a test
function of more than `CASES_AT` cases (a conformance suite) as a pass rate per column with the
cases that did not pass listed, and the tables its tests recorded."""

from __future__ import annotations

from collections import Counter

from pytest_think.report.compare_html import GAP, delta_html, esc, plain, shown
from pytest_think.report.comparison import CASES_AT, Cell, Comparison
from pytest_think.report.deltas import Delta, judge

__all__ = ["FIGURE_COLUMNS", "suites"]

FIGURE_COLUMNS = [
    ("latency", "device p50, µs"),
    ("p99", "device p99, µs"),
    ("throughput", "vectors/s"),
    ("energy", "mJ per inference"),
    ("accuracy", "accuracy, %"),
    ("accuracy_delta", "Δ vs float reference, points"),
    ("load", "model load, ms"),
]


def _figure(cell: Cell, figure: str) -> float | None:
    if figure == "accuracy_delta":
        return cell.accuracy_delta_pt
    if figure == "load":
        return cell.load_ms
    measure = cell.figures.get(figure)
    return measure.value if measure else None


def _row_delta(
    comparison: Comparison, cells: dict[str, Cell], column: str, figure: str
) -> Delta | None:
    base = comparison.baseline_for(column)
    name = "accuracy" if figure == "accuracy_delta" else figure
    if base is None or base not in cells or figure in ("accuracy_delta", "load"):
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
                    f"{delta_html(_row_delta(comparison, cells, column, figure))}</td>"
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
        counts = Counter(
            comparison.rows[k][name].outcome for k in keys if name in comparison.rows[k]
        )
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
                    rows += (
                        f"<tr><td class='name'>{esc(column)}</td>"
                        + "".join(_value(values.get(c)) for c in columns)
                        + "</tr>"
                    )
            found += (
                f"<h3 title='{esc(test)}'>{esc(test)}: {esc(table_name)}</h3>"
                "<table class='sortable'><thead><tr><th class='name'>column</th>"
                f"{heading}</tr></thead><tbody>{rows}</tbody></table>"
            )
    return found


def _value(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"<td>{esc(GAP if value is None else value)}</td>"
    text = plain(value) if isinstance(value, float) else str(value)
    return f"<td data-v='{value}'>{esc(text)}</td>"


def suites(comparison: Comparison) -> str:
    by_suite: dict[str, list[str]] = {}
    for key in sorted(comparison.rows, key=lambda k: (comparison.info[k].suite, k)):
        by_suite.setdefault(comparison.info[key].suite, []).append(key)
    sections = ""
    for suite, keys in by_suite.items():
        cases = {f for s, f in comparison.case_functions() if s == suite}
        plain_keys = [k for k in keys if comparison.info[k].function not in cases]
        body = _suite_rows(comparison, plain_keys) if plain_keys else ""
        for function in sorted(cases):
            body += _cases(
                comparison, function, [k for k in keys if comparison.info[k].function == function]
            )
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
