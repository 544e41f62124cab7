"""`think compare`: boards and runs side by side, from results JSON files.

Writes into one directory:

* ``index.html`` — self-contained (plots inlined, no network), the page a lab shows
  (compare_page.py): the boards, a headline table per model, the plots, a section per suite;
* ``compare.md`` — the boards and the headline tables in Markdown, for a merge request;
* the plots as PNG (compare_plots.py): ``latency_energy.png``, ``headline_<n>.png`` (latency
  and throughput per model) and ``sweep_<n>.png`` per sweep the tests recorded.

A column is a board of a results file, or a run (several runs of one board are columns named
by board and date, or by ``--label``). With a baseline its changes are shown against it, real
only beyond the threshold and the noise of both runs (deltas.judge). A board without a meter,
or a test that did not run on a column, is a gap ("—"), never an error.
"""

from __future__ import annotations

from pathlib import Path

from pytest_think.errors import InputFileError
from pytest_think.report.compare_html import GAP, shown
from pytest_think.report.compare_page import page
from pytest_think.report.compare_plots import plots
from pytest_think.report.comparison import Comparison, build
from pytest_think.report.deltas import parse_fail_on
from pytest_think.report.headline import HEADLINE, Headline, best_columns, headlines

__all__ = ["markdown", "write_comparison"]


def markdown(comparison: Comparison, heads: list[Headline], images: dict[str, Path]) -> str:
    lines = ["# THINK compare", ""]
    lines += ["| column | family | target | designs | power mode | results |", "|---" * 6 + "|"]
    for c in comparison.columns:
        designs = ", ".join(c.designs) or GAP
        lines.append(
            f"| {c.name} | {c.family} | {c.target} | {designs} | {c.power_mode or GAP} "
            f"| {c.source} |"
        )
    for head in heads:
        names = [c.name for c in comparison.columns if c.name in head.cells]
        lines += ["", f"## {head.model}", "", "| figure | " + " | ".join(names) + " |"]
        lines.append("|---" * (len(names) + 1) + "|")
        for figure, words, higher in HEADLINE:
            best = best_columns(head, figure, higher)
            values = []
            for name in names:
                pick = head.cells[name].get(figure)
                text = shown(pick, figure) if pick else GAP
                delta = head.delta(comparison, name, figure)
                if delta is not None and delta.verdict != "unchanged":
                    text += f" ({delta.change_text}, {delta.verdict})"
                values.append(f"**{text}**" if name in best else text)
            if any(v != GAP for v in values):
                lines.append(f"| {words} | " + " | ".join(values) + " |")
    lines += ["", *(f"![{caption}]({path.name})" for caption, path in images.items()), ""]
    return "\n".join(lines)


def write_comparison(
    paths: list[Path],
    out: Path,
    labels: list[str] | None = None,
    baseline: Path | None = None,
    threshold: str | None = None,
) -> Path:
    """Build the comparison of `paths` (and `baseline`) into `out`; returns index.html."""
    comparison = build(paths, labels, baseline)
    if threshold is not None:
        comparison.limits = parse_fail_on(threshold, "--threshold")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".think-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise InputFileError(
            f"output directory {out}: cannot write there ({exc.strerror})"
        ) from None
    heads = headlines(comparison)
    images = plots(comparison, heads, out)
    (out / "compare.md").write_text(markdown(comparison, heads, images), encoding="utf-8")
    index = out / "index.html"
    index.write_text(page(comparison, heads, images), encoding="utf-8")
    return index
