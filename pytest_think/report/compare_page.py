"""The HTML of `think compare`: one self-contained page (plots inlined, no network).

First screen: the boards (or runs) and a headline table per model, one column per board or
run, the best value marked; then the plots; then a folding section per suite
(compare_suites.py). Tables sort by a click on a heading and filter by the box above them."""

from __future__ import annotations

import base64
from pathlib import Path

from pytest_think.report.compare_html import GAP, SCRIPT, STYLE, delta_html, esc, shown
from pytest_think.report.compare_suites import suites
from pytest_think.report.comparison import Column, Comparison
from pytest_think.report.headline import HEADLINE, Headline, best_columns

__all__ = ["page"]


def _boards(comparison: Comparison) -> str:
    def outcomes(c: Column) -> str:
        parts = [
            f"<span class='failed'>{n} {o}</span>" if o in ("failed", "error") else f"{n} {o}"
            for o, n in c.outcomes.most_common()
        ]
        return ", ".join(parts)

    rows = "".join(
        f"<tr><td class='name board'>{esc(c.name)}"
        + (" <span class='note'>(baseline)</span>" if comparison.is_baseline(c) else "")
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
                f"{delta_html(head.delta(comparison, name, figure))}</td>"
            )
        body += f"<tr><td>{esc(words)}</td>{cells}</tr>"
    return (
        f"<table class='headline'><caption title='{esc(head.model)}'>{esc(head.model)}"
        f"</caption><thead><tr><th class='name'>figure</th>{heading}</tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


def page(comparison: Comparison, heads: list[Headline], plots: dict[str, Path]) -> str:
    columns = ", ".join(c.name for c in comparison.columns)
    base = next((c for c in comparison.columns if comparison.is_baseline(c)), None)
    baseline = (
        f" Changes are against the baseline, <b>{esc(Path(base.source).name)}</b> (each board "
        "against its own run there), coloured only when beyond the threshold and both runs' "
        "noise; ≈ within noise."
        if base is not None
        else ""
    )
    images = "".join(
        f"<figure{' class=wide' if path.stem.startswith(('headline', 'key')) else ''}>"
        f"<img alt='{esc(caption)}' src='data:image/png;base64,"
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
<p><input class="filter" data-scope="#suites"
 placeholder="filter rows: test, model, column, outcome"></p>
<div id="suites">{suites(comparison)}</div>
<script>{SCRIPT}</script>
</body></html>
"""
