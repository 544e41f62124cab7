"""The pieces of the compare page's HTML: escaping, figures as the page writes them, a
change against the baseline, and the page's style and script (a few lines: tables sort by a
click on a heading and filter by the box above them)."""

from __future__ import annotations

import html
import math

from pytest_think.report.deltas import Delta
from pytest_think.report.deltas import plain_number as plain
from pytest_think.report.headline import Pick

__all__ = ["GAP", "SCRIPT", "STYLE", "delta_html", "esc", "plain", "shown"]

GAP = "—"

SCRIPT = """
document.querySelectorAll("table.sortable th").forEach((th, i) =>
 th.addEventListener("click", () => {
  const body = th.closest("table").tBodies[0], up = th.dataset.dir !== "up";
  const key = r => {
    const c = r.cells[i], v = parseFloat(c?.dataset.v);
    return isNaN(v) ? (c?.textContent ?? "") : v;
  };
  const cmp = (a, b) =>
    typeof a === typeof b ? (a > b) - (a < b) : typeof a === "number" ? -1 : 1;
  th.dataset.dir = up ? "up" : "down";
  body.append(...[...body.rows].sort((a, b) => (up ? 1 : -1) * cmp(key(a), key(b))));
}));
document.querySelectorAll("input.filter").forEach(f => f.addEventListener("input", () => {
  const q = f.value.toLowerCase(), scope = document.querySelector(f.dataset.scope);
  scope.querySelectorAll("tbody tr").forEach(
    r => r.hidden = !r.textContent.toLowerCase().includes(q));
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
.regression { color: #b00020; font-weight: 700; }
.improvement { color: #1b7a1b; font-weight: 700; }
.unchanged { color: #888; }
#boards td, #boards th { white-space: nowrap; }
#boards td.wrap { white-space: normal; max-width: 22em; }
#headline { display: flex; flex-wrap: wrap; gap: .1em 1em; align-items: flex-start; }
#headline { font-size: 13px; }
#headline th, #headline td { padding: 2px 6px; }
#headline table caption { text-align: left; font-weight: 700; padding: 2px 0; max-width: 30em; }
#headline td:first-child { text-align: left; color: #444; white-space: nowrap; }
#plots { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; flex: 0 1 auto; max-width: 660px; } figure.wide { max-width: 100%; }
img { max-width: 100%; } figcaption { font-size: .85em; color: #555; }
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


def delta_html(delta: Delta | None) -> str:
    if delta is None or delta.change == 0:
        return ""
    words = {"regression": "slower/worse", "improvement": "better", "unchanged": "within noise"}
    text = delta.change_text if delta.verdict != "unchanged" else f"{delta.change_text} ≈"
    return (
        f"<span class='d {delta.verdict}' title='{esc(delta.line())}: "
        f"{words[delta.verdict]}'>{esc(text)}</span>"
    )
