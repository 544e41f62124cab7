"""`think compare`: boards side by side, from results JSON files.

Writes into one directory:

* ``index.html`` — self-contained (plots inlined, no network), the page a lab shows;
* ``compare.md`` — the same tables in Markdown, for a merge request or a wiki;
* ``latency_energy.png`` (one point per board and model), ``agreement.png`` (top-1 agreement
  and the accuracy delta against the float reference), ``throughput.png``, and one
  ``tradeoff_<n>.png`` per trade-off table the tests recorded (``record_table``), a line per
  board; the tables themselves are on the page.

One row per (test, model) — a test that runs one model is one row, a test that runs several
(variants, a threshold sweep) has a row per model — and one column per board; a board
without a meter, or a test that did not run on a board, is a gap ("—"), never an error.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from pytest_think.errors import InputFileError
from pytest_think.report.compare_plots import plots
from pytest_think.report.comparison import Comparison, build

GAP = "—"


def _fmt(value: float | int | None, spec: str) -> str:
    return GAP if value is None else format(value, spec)


COLUMNS = [
    ("outcome", "outcome", None),
    ("top-1 agreement", "top1_agreement", ".4f"),
    ("accuracy", "accuracy", ".4f"),
    ("accuracy Δ vs reference (pt)", "accuracy_delta_pt", "+.2f"),
    ("device p50 µs", "device_p50_us", ".1f"),
    ("device p99 µs", "device_p99_us", ".1f"),
    ("vectors/s", "throughput", ".0f"),
    ("mJ/inference", "mj_per_inference", ".4g"),
    ("µs/inference in the energy loop", "loop_us_per_inference", ".1f"),
]


def table_rows(comparison: Comparison) -> list[list[str]]:
    """Header, then one row per test and figure, one column per board."""
    names = [b["name"] for b in comparison.boards]
    rows = [["test", "figure", *names]]
    for test, cells in comparison.rows.items():
        for title, attr, spec in COLUMNS:
            values = []
            for name in names:
                cell = cells.get(name)
                if cell is None:
                    values.append(GAP)
                elif spec is None:
                    values.append(str(getattr(cell, attr)))
                elif attr == "mj_per_inference" and cell.energy_note:
                    values.append(cell.energy_note)
                else:
                    values.append(_fmt(getattr(cell, attr), spec))
            if any(v != GAP for v in values):
                rows.append([test, title, *values])
    return rows


def _cell_text(value: Any) -> str:
    if value is None:
        return GAP
    return format(value, ".4g") if isinstance(value, float) else str(value)


def _markdown(comparison: Comparison, rows: list[list[str]], images: dict[str, Path]) -> str:
    lines = ["# THINK board comparison", ""]
    lines.append("| board | family | target | results |")
    lines.append("|---|---|---|---|")
    for b in comparison.boards:
        target = "twin" if b["twin"] else "hardware"
        lines.append(f"| {b['name']} | {b['family']} | {target} | {b['source']} |")
    lines += ["", "| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    for key, by_board in comparison.tables.items():
        for board, table in by_board.items():
            lines += ["", f"## {key} — {board}", ""]
            lines.append("| " + " | ".join(table["columns"]) + " |")
            lines.append("|" + "---|" * len(table["columns"]))
            lines += ["| " + " | ".join(_cell_text(v) for v in r) + " |" for r in table["rows"]]
    lines.append("")
    lines += [f"![{key}]({path.name})" for key, path in images.items()]
    lines.append("")
    return "\n".join(lines)


def _html(comparison: Comparison, rows: list[list[str]], plots: dict[str, Path]) -> str:
    def esc(text: str) -> str:
        return html.escape(text)

    boards = "".join(
        f"<tr><td class='board'>{esc(b['name'])}</td><td>{esc(str(b['family']))}</td>"
        f"<td>{'twin' if b['twin'] else 'hardware'}</td></tr>"
        for b in comparison.boards
    )
    head = "".join(f"<th>{esc(c)}</th>" for c in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows[1:]
    )
    tradeoffs = "".join(
        f"<table class='tradeoff'><caption>{esc(key)} — {esc(board)}</caption><tr>"
        + "".join(f"<th>{esc(c)}</th>" for c in table["columns"])
        + "</tr>"
        + "".join(
            "<tr>" + "".join(f"<td>{esc(_cell_text(v))}</td>" for v in r) + "</tr>"
            for r in table["rows"]
        )
        + "</table>"
        for key, by_board in comparison.tables.items()
        for board, table in by_board.items()
    )
    images = "".join(
        f"<figure><img alt='{esc(key)}' src='data:image/png;base64,"
        f"{base64.b64encode(path.read_bytes()).decode()}'><figcaption>{esc(key)}</figcaption>"
        "</figure>"
        for key, path in plots.items()
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>THINK board comparison</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 4px 10px; text-align: right; }}
th {{ background: #f3f3f3; }}
td:first-child, td:nth-child(2), th:first-child, th:nth-child(2) {{ text-align: left; }}
figure {{ display: inline-block; margin: 1em; }} img {{ max-width: 640px; }}
table.tradeoff {{ display: inline-table; margin-right: 2em; vertical-align: top; }}
caption {{ text-align: left; font-weight: bold; padding: 4px 0; }}
</style></head>
<body>
<h1>THINK board comparison</h1>
<table id="boards"><tr><th>board</th><th>family</th><th>target</th></tr>{boards}</table>
<table id="figures"><tr>{head}</tr>{body}</table>
<div id="plots">{images}</div>
<div id="tradeoffs">{tradeoffs}</div>
</body></html>
"""


def write_comparison(paths: list[Path], out: Path) -> Path:
    """Build the comparison of `paths` into `out`; returns the index.html path."""
    comparison = build(paths)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".think-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise InputFileError(
            f"output directory {out}: cannot write there ({exc.strerror})"
        ) from None
    rows = table_rows(comparison)
    images = plots(comparison, out)
    (out / "compare.md").write_text(_markdown(comparison, rows, images), encoding="utf-8")
    index = out / "index.html"
    index.write_text(_html(comparison, rows, images), encoding="utf-8")
    return index
